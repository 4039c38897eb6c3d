//! `dialsync deadletters list | replay [ID...] [--all] [--run]`: changes that failed
//! persistently (with their last error), and putting them back in the queue once the
//! cause is fixed — on the SQLite journal or the PostgreSQL store. `replay --run` also works the queue to completion here; without it a
//! running `dialsync serve` picks them up.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::config::Config;
use crate::sync::{Engine, EngineOptions, bindings_from_config};

/// Arguments of `dialsync deadletters`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
    /// Config file.
    #[arg(long, global = true, default_value = "dialsync.toml")]
    config: PathBuf,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// List dead letters not yet replayed.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Put dead letters back in the queue.
    Replay {
        /// Dead-letter ids (from `list`).
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        ids: Vec<i64>,
        /// Replay every dead letter.
        #[arg(long)]
        all: bool,
        /// Also send them now and wait for their outcomes (safe while `serve` or an
        /// `import` runs on the same journal: work is claimed under leases).
        #[arg(long)]
        run: bool,
    },
}

/// Runs `dialsync deadletters`.
pub fn run(args: Args) -> ExitCode {
    match deadletters(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn deadletters(args: Args) -> anyhow::Result<ExitCode> {
    let mut config = Config::load(&args.config)?;
    let runtime = tokio::runtime::Runtime::new().context("starting tokio")?;
    match args.command {
        Command::List { json } => {
            let letters = runtime.block_on(async {
                let store = crate::journal_store::open_for_reading(&config).await?;
                anyhow::Ok(store.dead_letters().await?)
            })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&letters)?);
            } else if letters.is_empty() {
                println!("no dead letters");
            } else {
                println!(
                    "{:>6}  {:<14} {:<28} {:>8}  {:<25}  last error",
                    "id", "source", "externalId", "attempts", "dead-lettered at"
                );
                for d in letters {
                    println!(
                        "{:>6}  {:<14} {:<28} {:>8}  {:<25}  {}",
                        d.id, d.source, d.external_id, d.attempts, d.created_at, d.error
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Replay { ids, all, run } => {
            let wanted = (!all).then_some(ids);
            let unknown = runtime.block_on(async move {
                if !run {
                    let store = crate::journal_store::open_for_reading(&config).await?;
                    let now = chrono::Utc::now().timestamp_millis();
                    let (replayed, unknown) = store.replay(wanted, now).await?;
                    report(&replayed, &unknown);
                    return anyhow::Ok(unknown);
                }
                // The store first: on PostgreSQL the org clients share the workers' budget.
                let store = crate::journal_store::open_for_work(&mut config).await?;
                let (bindings, _clients) = bindings_from_config(&config)?;
                let engine =
                    Engine::with_store(store, bindings, EngineOptions::for_config(&config));
                let (replayed, unknown) = engine.replay(wanted).await?;
                report(&replayed, &unknown);
                engine.run_until_idle().await?;
                println!(
                    "{} dead letter(s) remain",
                    engine.dead_letters().await?.len()
                );
                anyhow::Ok(unknown)
            })?;
            Ok(if unknown.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

fn report(replayed: &[i64], unknown: &[i64]) {
    println!("replayed {} dead letter(s)", replayed.len());
    for id in unknown {
        eprintln!("no open dead letter with id {id}");
    }
}
