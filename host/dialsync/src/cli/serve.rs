//! `dialsync serve`: runs the HTTP server (webhooks, data actions, admin API, health,
//! metrics) with the sync workers, until SIGINT or SIGTERM; then drains in-flight
//! requests and stops the workers after their current round, leaving the journal
//! consistent.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::ValueEnum;

use crate::config::Config;
use crate::plugin_registry::Registry;
use crate::server::{self, AppState};

/// Log output format.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `dialsync serve` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The config file.
    #[arg(long, default_value = "dialsync.toml")]
    config: PathBuf,
    /// Listen address (overrides `[server] addr`; port 0 picks a free port).
    #[arg(long)]
    addr: Option<SocketAddr>,
    /// Log format.
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
    /// Plugin registry directory (default `$DIALSYNC_HOME`, else `$HOME/.local/share/dialsync`).
    #[arg(long)]
    home: Option<PathBuf>,
}

/// Runs `dialsync serve`.
pub fn run(args: Args) -> ExitCode {
    init_logging(args.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second init (tests running `run` twice) keeps the first subscriber.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

async fn serve(args: Args) -> anyhow::Result<()> {
    let mut config = Config::load(&args.config)?;
    // On a PostgreSQL store every org's rate budget is shared with the other workers.
    if let Some(pool) = crate::pg_store::open(&config).await? {
        let worker = crate::pg_store::worker_id();
        crate::pg_store::share_budgets(&pool, &mut config, &worker).await?;
        tracing::info!(%worker, "PostgreSQL store: rate budgets shared by every worker");
    }
    let home = match args.home {
        Some(h) => h,
        None => Registry::default_home()?,
    };
    let state = AppState::build(&config, Registry::new(&home)).await?;
    let addr: SocketAddr =
        match args.addr {
            Some(a) => a,
            None => config.server.addr.parse().with_context(|| {
                format!("server.addr: {:?} is not an address", config.server.addr)
            })?,
        };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    tracing::info!(addr = %local, sources = state.sources.len(), "dialsync serve listening");
    // Machine-readable line for scripts and tests that asked for port 0.
    println!("listening on http://{local}");
    server::serve(state, listener, shutdown_signal()).await?;
    tracing::info!("dialsync serve stopped");
    Ok(())
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("SIGINT: draining"),
        _ = term => tracing::info!("SIGTERM: draining"),
    }
}
