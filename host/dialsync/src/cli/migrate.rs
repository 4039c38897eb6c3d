//! `dialsync migrate [--config dialsync.toml] [--json]`: brings the store's schema up to
//! date — the PostgreSQL store of `[store] url` or the SQLite journal at `[store] path`.
//! Idempotent (a second run applies nothing) and safe while workers run: PostgreSQL
//! migrations take an advisory lock, SQLite ones the file's write lock. Workers migrate on
//! start too; run this first when rolling out a new version to many workers.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use serde::Serialize;

use crate::config::Config;

/// Arguments of `dialsync migrate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Config file (for `[store]`).
    #[arg(long, default_value = "dialsync.toml")]
    config: PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// What a run did, as printed.
#[derive(Debug, Serialize)]
struct Report {
    /// `postgres` or `sqlite`.
    store: &'static str,
    /// Where (the URL without password, or the file).
    location: String,
    /// Schema version before the run.
    from_version: i64,
    /// Schema version after it.
    version: i64,
    /// Migrations applied by this run.
    applied: Vec<String>,
}

/// Runs `dialsync migrate`.
pub fn run(args: Args) -> ExitCode {
    match migrate(&args) {
        Ok(report) => {
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).expect("report serialises")
                );
            } else if report.applied.is_empty() {
                println!(
                    "{} store {} is up to date (schema version {})",
                    report.store, report.location, report.version
                );
            } else {
                println!(
                    "{} store {}: schema version {} → {} ({})",
                    report.store,
                    report.location,
                    report.from_version,
                    report.version,
                    report.applied.join(", ")
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn migrate(args: &Args) -> anyhow::Result<Report> {
    let config = Config::load(&args.config)?;
    if let Some(settings) = crate::pg_store::pg_settings(&config)? {
        let runtime = tokio::runtime::Runtime::new().context("starting tokio")?;
        let report = runtime.block_on(async {
            let pool = dialsync_pg::connect(&settings)?;
            dialsync_pg::migrate(&pool).await
        })?;
        let applied: Vec<String> = report
            .applied
            .iter()
            .map(|(v, name)| format!("{v} {name}"))
            .collect();
        return Ok(Report {
            store: "postgres",
            location: settings.url.clone(),
            from_version: report.version - applied.len() as i64,
            version: report.version,
            applied,
        });
    }
    let path = &config.store.path;
    let from_version: i64 = if path.exists() {
        rusqlite::Connection::open(path)
            .and_then(|c| c.pragma_query_value(None, "user_version", |r| r.get(0)))
            .with_context(|| format!("reading {}", path.display()))?
    } else {
        0
    };
    crate::sync::Journal::open(path).with_context(|| format!("opening {}", path.display()))?;
    let version = crate::sync::MIGRATIONS.len() as i64;
    Ok(Report {
        store: "sqlite",
        location: path.display().to_string(),
        from_version,
        version,
        applied: ((from_version + 1)..=version)
            .map(|v| v.to_string())
            .collect(),
    })
}
