//! `dialsync emulator`: serves the local Genesys Cloud emulator (OAuth, API and the
//! `/_emulator/` control API on one address) until Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use dialsync_emulator::{EmulatorConfig, Fixtures};

/// Serve a local Genesys Cloud emulator.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:9000")]
    addr: SocketAddr,
    /// OAuth client id accepted at /oauth/token.
    #[arg(long, default_value = "dialsync")]
    client_id: String,
    /// OAuth client secret.
    #[arg(long, env = "DIALSYNC_EMULATOR_CLIENT_SECRET", hide_env_values = true)]
    client_secret: String,
    /// Requests per minute per token.
    #[arg(long, default_value_t = 300)]
    rate_limit_per_minute: u32,
    /// Access-token lifetime in seconds.
    #[arg(long, default_value_t = 86_400)]
    token_ttl_secs: u64,
    /// Maximum contacts in one add-contacts call.
    #[arg(long, default_value_t = 1000)]
    max_contacts_per_call: usize,
    /// Added latency per API request, `MIN..MAX` milliseconds (e.g. `20..150`).
    #[arg(long, value_parser = parse_latency)]
    latency_ms: Option<(u64, u64)>,
    /// Opt-in eventual consistency, `MIN..MAX` milliseconds: after a contact write, reads of
    /// that contact keep seeing the state before it for a delay drawn from this range (a
    /// fresh contact 404s, a deleted one lingers), as Genesys Cloud can.
    #[arg(long, value_parser = parse_latency)]
    consistency_delay_ms: Option<(u64, u64)>,
    /// Contacts a bulk remove/update job processes per second.
    #[arg(long, default_value_t = 20_000.0)]
    bulk_job_records_per_sec: f64,
    /// Probability (0–1) an API request answers 503 before doing anything.
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    error_rate: f64,
    /// Probability (0–1) a successful write is applied but answered 500.
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    applied_then_error_rate: f64,
    /// Probability (0–1) an API request's connection is dropped (not applied).
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    drop_rate: f64,
    /// Probability (0–1) a write to a contact the simulated dialer holds answers 409.
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    dialer_lock_rate: f64,
    /// Background user-version bumps per second.
    #[arg(long, default_value_t = 0.0)]
    version_churn_per_sec: f64,
    /// Answer 429 without a Retry-After header.
    #[arg(long)]
    no_retry_after: bool,
    /// Seed for all random behaviour.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Fixtures JSON file to load (see host/emulator/fixtures/example.json).
    #[arg(long)]
    fixtures: Option<PathBuf>,
    /// Load the built-in sample org (150 agents, skills, a contact list, a running campaign).
    #[arg(long)]
    sample_org: bool,
}

fn parse_rate(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("'{s}' is not a number"))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{v} is not between 0 and 1"))
    }
}

fn parse_latency(s: &str) -> Result<(u64, u64), String> {
    let (lo, hi) = s
        .split_once("..")
        .ok_or_else(|| format!("'{s}' is not MIN..MAX"))?;
    let lo: u64 = lo
        .trim()
        .parse()
        .map_err(|_| format!("'{lo}' is not a number of milliseconds"))?;
    let hi: u64 = hi
        .trim()
        .parse()
        .map_err(|_| format!("'{hi}' is not a number of milliseconds"))?;
    if lo > hi {
        return Err(format!("min {lo} is above max {hi}"));
    }
    Ok((lo, hi))
}

/// Runs the emulator until Ctrl-C.
pub fn run(args: Args) -> ExitCode {
    match serve(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn serve(args: Args) -> anyhow::Result<()> {
    if !(args.version_churn_per_sec >= 0.0 && args.version_churn_per_sec.is_finite()) {
        anyhow::bail!("--version-churn-per-sec must be >= 0");
    }
    if !(args.bulk_job_records_per_sec > 0.0 && args.bulk_job_records_per_sec.is_finite()) {
        anyhow::bail!("--bulk-job-records-per-sec must be > 0");
    }
    let fixtures = match &args.fixtures {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading fixtures {}", path.display()))?;
            Some(
                serde_json::from_str::<Fixtures>(&text)
                    .with_context(|| format!("fixtures {}", path.display()))?,
            )
        }
        None => None,
    };
    let (lo, hi) = args.latency_ms.unwrap_or((0, 0));
    let (clo, chi) = args.consistency_delay_ms.unwrap_or((0, 0));
    let config = EmulatorConfig {
        client_id: args.client_id,
        client_secret: args.client_secret,
        rate_limit_per_minute: args.rate_limit_per_minute,
        token_ttl: Duration::from_secs(args.token_ttl_secs),
        max_contacts_per_call: args.max_contacts_per_call,
        latency: Duration::from_millis(lo)..=Duration::from_millis(hi),
        error_rate: args.error_rate,
        applied_then_error_rate: args.applied_then_error_rate,
        drop_rate: args.drop_rate,
        dialer_lock_rate: args.dialer_lock_rate,
        version_churn_per_sec: args.version_churn_per_sec,
        retry_after_header: !args.no_retry_after,
        consistency_delay: Duration::from_millis(clo)..=Duration::from_millis(chi),
        bulk_job_records_per_sec: args.bulk_job_records_per_sec,
        seed: args.seed,
        fixtures,
        sample_org: args.sample_org,
        ..Default::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let emu = dialsync_emulator::start(config, args.addr).await?;
        println!("Genesys Cloud emulator listening on {}", emu.base_url());
        println!(
            "  token: POST {}/oauth/token   control: {}/_emulator/stats|state",
            emu.base_url(),
            emu.base_url()
        );
        tokio::signal::ctrl_c()
            .await
            .context("waiting for Ctrl-C")?;
        eprintln!("stopping");
        emu.shutdown().await;
        Ok::<(), anyhow::Error>(())
    })
}
