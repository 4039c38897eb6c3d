//! `dialsync agents apply PLAN`: bring agents' user fields, routing skills, languages and
//! utilization to a plan (JSON, YAML or CSV), writing only what differs.
//!
//! Exit codes: 0 all agents applied or unchanged; 1 some agents failed; 2 the plan has
//! problems (all listed, nothing written) or the config/org could not be used.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args as ClapArgs, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use crate::agents::{self, ApplyOptions, Plan, PlanError, RunError, RunReport, Summary, report};
use crate::config::Config;

/// `dialsync agents …`.
#[derive(Debug, ClapArgs)]
pub struct Args {
    #[command(subcommand)]
    command: AgentsCommand,
}

#[derive(Debug, Subcommand)]
enum AgentsCommand {
    /// Bring agents to the desired state in PLAN (idempotent; absorbs version conflicts).
    Apply(ApplyArgs),
}

#[derive(Debug, ClapArgs)]
struct ApplyArgs {
    /// The plan: .json, .yaml/.yml (checked against schemas/agents-plan.schema.json) or
    /// .csv (columns user, department, title, preferred_name, manager, acd_auto_answer,
    /// skills "Sales:4;Billing:2", skills_mode, languages "English:5", languages_mode,
    /// utilization "call:1;email:3"). Listed skills and languages are the agent's exact set
    /// unless their mode is `add`.
    plan: PathBuf,
    /// dialsync config file.
    #[arg(long, default_value = "dialsync.toml")]
    config: PathBuf,
    /// Org to apply to (may be left out when the config has exactly one).
    #[arg(long)]
    org: Option<String>,
    /// Show the per-agent differences without writing anything.
    #[arg(long)]
    dry_run: bool,
    /// Agents worked on at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    concurrency: u16,
    /// Write a JSON report (per agent: status, changes, errors, attempts, 409s absorbed,
    /// requests) here.
    #[arg(long)]
    report: Option<PathBuf>,
}

/// Runs `dialsync agents …`.
pub fn run(args: Args) -> ExitCode {
    let AgentsCommand::Apply(apply) = args.command;
    match run_apply(apply) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run_apply(args: ApplyArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.config)?;
    let org = match &args.org {
        Some(name) => name.clone(),
        None => {
            let mut names = config.orgs.keys();
            match (names.next(), names.next()) {
                (Some(only), None) => only.clone(),
                _ => anyhow::bail!(
                    "--org is required: {} defines {} orgs",
                    args.config.display(),
                    config.orgs.len()
                ),
            }
        }
    };
    let settings = config.org_settings(&org)?;
    let parsed = Plan::load(&args.plan)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let options = ApplyOptions {
        concurrency: usize::from(args.concurrency),
        dry_run: args.dry_run,
        ..ApplyOptions::default()
    };
    let progress = Progress::new();
    let result = runtime.block_on(async {
        let client = dialsync_genesys::GenesysClient::new(settings)?;
        anyhow::Ok(
            agents::run(
                &client,
                parsed,
                &options,
                |n| progress.start(n),
                |o| progress.done(o),
            )
            .await,
        )
    })?;
    progress.finish();
    match result {
        Ok(run) => {
            if args.dry_run {
                for o in run
                    .agents
                    .iter()
                    .filter(|o| !o.changes.is_empty() || !o.errors.is_empty())
                {
                    println!("{}", report::outcome_line(o));
                }
            }
            println!(
                "{}",
                if args.dry_run {
                    "dry run (nothing written):"
                } else {
                    "summary:"
                }
            );
            print!("{}", run.summary.table());
            write_report(args.report.as_ref(), &run)?;
            Ok(if run.summary.failed > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Err(RunError::Plan(PlanError::Invalid(issues))) => {
            eprintln!(
                "plan {} has {} problem(s); nothing was written:",
                args.plan.display(),
                issues.len()
            );
            for issue in &issues {
                eprintln!("  {issue}");
            }
            let run = RunReport {
                dry_run: args.dry_run,
                plan_issues: issues,
                summary: Summary::default(),
                agents: Vec::new(),
            };
            write_report(args.report.as_ref(), &run)?;
            Ok(ExitCode::from(2))
        }
        Err(e) => Err(e.into()),
    }
}

fn write_report(path: Option<&PathBuf>, run: &RunReport) -> anyhow::Result<()> {
    if let Some(path) = path {
        let json = serde_json::to_string_pretty(run).context("encoding the report")?;
        std::fs::write(path, json + "\n")
            .with_context(|| format!("writing report {}", path.display()))?;
    }
    Ok(())
}

/// A progress bar on a terminal; one plain line per finished agent otherwise (logs, CI).
struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    fn new() -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{bar:40}] {pos}/{len} agents {msg} ({elapsed})",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar
        });
        Self { bar }
    }

    fn start(&self, agents: usize) {
        match &self.bar {
            Some(bar) => bar.set_length(agents as u64),
            None => eprintln!("applying to {agents} agent(s)"),
        }
    }

    fn done(&self, outcome: &agents::AgentOutcome) {
        match &self.bar {
            Some(bar) => {
                bar.inc(1);
                if outcome.status == agents::Status::Failed {
                    bar.println(report::outcome_line(outcome));
                }
            }
            None if outcome.status == agents::Status::Failed => {
                eprintln!("{}", report::outcome_line(outcome));
            }
            None => {
                let status = format!("{:?}", outcome.status).to_lowercase();
                eprintln!("{} {}: {status}", outcome.location, outcome.user);
            }
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
