//! `dialsync actions`: dialsync's data actions in a Genesys Cloud org.
//!
//! - `install --org NAME` creates or updates them through the API (finding or creating the
//!   Web Services Data Actions integration; drafts, then publish; idempotent; `--dry-run`).
//! - `export --integration-id ID` writes, per action, the `PostActionInput` JSON an admin
//!   posts by hand (`POST /api/v2/integrations/actions`), ready to import as it is.
//!
//! Both take the built-in actions and, with `--config`, the actions the sources' plugins
//! declare and the credential style from `[server.actions_auth]`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use crate::config::{Config, WebhookScheme};
use crate::plugin_registry::Registry;
use crate::server::contracts::{self, Contract};
use crate::server::export::{self, CredentialStyle};
use crate::server::install::{self, InstallOptions, InstallReport, Outcome};

/// `dialsync actions` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(Debug, clap::Subcommand)]
enum Sub {
    /// Create or update dialsync's data actions in an org through the API (idempotent).
    Install(InstallArgs),
    /// Write one importable custom-action JSON file per data action.
    Export(ExportArgs),
}

/// Options both subcommands share.
#[derive(Debug, clap::Args)]
struct Common {
    /// Where Genesys Cloud reaches dialsync (public https URL in production).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    base_url: String,
    /// Config whose sources' plugin actions and `[server.actions_auth]` are used (for
    /// `install`, also the org's credentials).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Plugin registry directory (with --config).
    #[arg(long)]
    home: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct InstallArgs {
    /// The org (a key of `[orgs]` in the config).
    #[arg(long)]
    org: String,
    /// Name of the Web Services Data Actions integration to use or create.
    #[arg(long, default_value = "dialsync")]
    integration_name: String,
    /// Compare and report only; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, clap::Args)]
struct ExportArgs {
    /// Id of the Web Services Data Actions integration the actions belong to (Admin >
    /// Integrations, or the `integration.id` that `dialsync actions install --dry-run
    /// --json` prints).
    #[arg(long)]
    integration_id: String,
    /// Output folder (created if missing).
    #[arg(long, default_value = "data-actions")]
    out: PathBuf,
    #[command(flatten)]
    common: Common,
}

/// Runs `dialsync actions ...`.
pub fn run(args: Args) -> ExitCode {
    let result = match args.command {
        Sub::Export(args) => export_all(args),
        Sub::Install(args) => install_all(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The contracts to install or export, the credential style, and the config if given.
fn contracts_and_style(
    common: &Common,
) -> anyhow::Result<(Vec<Contract>, CredentialStyle, Option<Config>)> {
    url::Url::parse(&common.base_url)
        .with_context(|| format!("--base-url {:?}", common.base_url))?;
    let mut all = contracts::builtins();
    let mut style = CredentialStyle::Bearer;
    let config = match &common.config {
        Some(path) => Some(Config::load(path)?),
        None => None,
    };
    if let Some(config) = &config {
        if let Some(auth) = &config.server.actions_auth
            && auth.scheme == WebhookScheme::Basic
        {
            style = CredentialStyle::Basic;
        }
        all.extend(plugin_contracts(config, common.home.clone())?);
    }
    Ok((all, style, config))
}

fn export_all(args: ExportArgs) -> anyhow::Result<()> {
    if args.integration_id.trim().is_empty() {
        anyhow::bail!("--integration-id must not be empty");
    }
    let (all, style, _) = contracts_and_style(&args.common)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    for contract in &all {
        let problems = contracts::genesys_rule_violations(contract);
        if !problems.is_empty() {
            anyhow::bail!(
                "action {} cannot be imported into Genesys Cloud: {}",
                contract.name,
                problems.join("; ")
            );
        }
        let file = args.out.join(format!("{}.json", contract.name));
        let json =
            export::post_action_input(contract, &args.common.base_url, style, &args.integration_id);
        std::fs::write(&file, serde_json::to_string_pretty(&json)? + "\n")
            .with_context(|| format!("cannot write {}", file.display()))?;
        println!("{}", file.display());
    }
    Ok(())
}

fn install_all(args: InstallArgs) -> anyhow::Result<()> {
    let (all, style, config) = contracts_and_style(&args.common)?;
    let config = match config {
        Some(c) => c,
        None => Config::load(std::path::Path::new("dialsync.toml"))
            .context("--config is required (no dialsync.toml here) to find the org")?,
    };
    let settings = config.org_settings(&args.org)?;
    let options = InstallOptions {
        integration_name: args.integration_name.clone(),
        base_url: args.common.base_url.clone(),
        style,
        dry_run: args.dry_run,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let report = runtime.block_on(async {
        let client = dialsync_genesys::GenesysClient::new(settings)?;
        anyhow::Ok(install::install(&client, &all, &options).await?)
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    Ok(())
}

fn outcome_text(o: Outcome, dry_run: bool) -> &'static str {
    match (o, dry_run) {
        (Outcome::Created, false) => "created",
        (Outcome::Created, true) => "would create",
        (Outcome::Updated, false) => "updated",
        (Outcome::Updated, true) => "would update",
        (Outcome::Unchanged, _) => "unchanged",
    }
}

fn print_report(r: &InstallReport) {
    let i = &r.integration;
    println!(
        "integration {:?} ({}): {}",
        i.name,
        i.id.as_deref().unwrap_or("not created yet"),
        match i.outcome {
            Outcome::Unchanged => "found",
            o => outcome_text(o, r.dry_run),
        }
    );
    for a in &r.actions {
        let changed = if a.changed.is_empty() {
            String::new()
        } else {
            format!(" ({} changed)", a.changed.join(", "))
        };
        println!(
            "  {:<28} {}{changed}{}",
            a.name,
            outcome_text(a.outcome, r.dry_run),
            a.version
                .map(|v| format!(", version {v}"))
                .unwrap_or_default()
        );
    }
    println!("{} requests", r.requests);
}

fn plugin_contracts(config: &Config, home: Option<PathBuf>) -> anyhow::Result<Vec<Contract>> {
    let home = match home {
        Some(h) => h,
        None => Registry::default_home()?,
    };
    let registry = Registry::new(&home);
    let rt = tokio::runtime::Runtime::new()?;
    let runtime = dialsync_plugin_host::Runtime::new(dialsync_plugin_host::Limits::default())?;
    let mut out = Vec::new();
    for (name, source) in &config.sources {
        let slot = rt
            .block_on(crate::server::state::load_plugin(
                &runtime,
                &registry,
                &source.plugin,
                source.config.clone(),
            ))
            .map_err(|e| anyhow::anyhow!("sources.{name}.plugin: {e}"))?;
        for a in &slot.plugin.info().actions {
            out.push(Contract {
                name: format!("{name}.{}", a.name),
                description: a.description.clone(),
                input: a.input_schema.clone(),
                output: a.output_schema.clone(),
            });
        }
    }
    Ok(out)
}
