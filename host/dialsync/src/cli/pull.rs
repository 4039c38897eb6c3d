//! `dialsync pull --source X`: sweeps one source's CRM from its stored position
//! (`[sources.X.pull]`), journals what changed, applies it to Genesys Cloud, and prints
//! what was read and what became of it. The position is stored only after each page's
//! changes are durable, so an interrupted pull resumes without losing a record.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::plugin_registry::Registry;
use crate::server::AppState;

/// `dialsync pull` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The source to sweep (it needs a `[sources.NAME.pull]` table).
    #[arg(long)]
    source: String,
    /// The config file.
    #[arg(long, default_value = "dialsync.toml")]
    config: PathBuf,
    /// Plugin registry directory (default `$DIALSYNC_HOME`, else `$HOME/.local/share/dialsync`).
    #[arg(long)]
    home: Option<PathBuf>,
    /// How long to keep applying journalled changes to Genesys after the sweep before
    /// leaving the rest to `dialsync serve` (0: journal only).
    #[arg(long, default_value_t = 300)]
    apply_secs: u64,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `dialsync pull`.
pub fn run(args: Args) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(pull(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn pull(args: Args) -> anyhow::Result<()> {
    let config = Config::load(&args.config)?;
    config.source(&args.source)?;
    let home = match args.home {
        Some(h) => h,
        None => Registry::default_home()?,
    };
    let state = AppState::build(&config, Registry::new(&home)).await?;
    let report = crate::pull::pull_source(&state, &args.source).await?;
    let deadline = Instant::now() + Duration::from_secs(args.apply_secs);
    let mut left = state.engine.store().unfinished().await?;
    while left > 0 && Instant::now() < deadline {
        if state.engine.run_once().await? == 0 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        left = state.engine.store().unfinished().await?;
    }
    if args.json {
        let mut v = serde_json::to_value(&report)?;
        v["unapplied"] = serde_json::json!(left);
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        for (stream, n) in &report.read {
            println!("{:<20} {n:>8} rows read", stream);
        }
        let c = report.counts;
        println!(
            "accepted {}  skipped {}  rejected {}  failed {}  not yet applied {left}",
            c.accepted, c.skipped, c.rejected, c.failed
        );
    }
    Ok(())
}
