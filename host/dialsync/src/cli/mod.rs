//! Command-line interface: one module per subcommand, each with its own clap
//! `Args` and `run`. This file only lists them and dispatches.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Keeps Genesys Cloud Outbound contact lists in step with CRMs.
#[derive(Debug, Parser)]
#[command(name = "dialsync", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {}

/// Runs the parsed command line and returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {}
}
