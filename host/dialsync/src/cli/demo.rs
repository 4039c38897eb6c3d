//! `dialsync demo`: runs the whole pipeline against an in-process Genesys emulator with
//! the bundled plugins and sample data, and prints what happened (see [`crate::demo`]).

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::demo::{DemoOptions, run as run_demo};

/// Arguments of `dialsync demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Seed of every random decision in the emulator (faults, dialer, ids).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Run against a healthy org: no 5xx, 429s, latency, 409s or short tokens.
    #[arg(long)]
    no_faults: bool,
    /// Keep the SQLite journal at this (new) path instead of a temporary file.
    #[arg(long)]
    db: Option<PathBuf>,
    /// Print a machine-readable JSON summary on stdout instead of the text report.
    #[arg(long)]
    json: bool,
}

/// Runs `dialsync demo`: exit 0 when every check passed, 1 on an error, 2 when a check
/// (duplicates, lost changes, read-back) failed.
pub fn run(args: Args) -> ExitCode {
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting tokio: {e}");
            return ExitCode::FAILURE;
        }
    };
    let options = DemoOptions {
        seed: args.seed,
        faults: !args.no_faults,
        db: args.db,
    };
    let started = std::time::Instant::now();
    let progress =
        |line: &str| eprintln!("demo [{:>5.1}s] {line}", started.elapsed().as_secs_f64());
    let report = match rt.block_on(run_demo(&options, &progress)) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let text = if args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(json) => json + "\n",
            Err(e) => {
                eprintln!("error: writing the JSON summary: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        report.render()
    };
    if let Err(e) = std::io::stdout().write_all(text.as_bytes()) {
        eprintln!("error: writing to stdout: {e}");
        return ExitCode::FAILURE;
    }
    if report.healthy() {
        ExitCode::SUCCESS
    } else {
        eprintln!("error: the final state check failed (see the report)");
        ExitCode::from(2)
    }
}
