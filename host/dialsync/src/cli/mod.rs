//! Command-line interface: one module per subcommand, each with its own clap
//! `Args` and `run`. This file only lists them and dispatches.

mod actions;
mod agents;
mod deadletters;
mod demo;
mod emulator;
mod import;
mod migrate;
mod plugin;
mod pull;
mod serve;
mod status;

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
enum Command {
    /// Genesys Cloud data actions: export importable custom-action definitions.
    Actions(actions::Args),
    /// Bulk agent updates: user fields, routing skills, languages, utilization.
    Agents(agents::Args),
    /// List and replay changes that failed persistently.
    Deadletters(deadletters::Args),
    /// Run the whole sync against a local emulated Genesys org with sample CRM data.
    Demo(demo::Args),
    /// Serve a local Genesys Cloud emulator (for tests and demos).
    Emulator(emulator::Args),
    /// Bulk-load a records file through a source's plugin into Genesys.
    Import(import::Args),
    /// Bring the store's schema (PostgreSQL or SQLite) up to date; idempotent.
    Migrate(migrate::Args),
    /// Try plugins on records files and manage installed plugins.
    Plugin(plugin::Args),
    /// Sweep a source's CRM for changed and deleted records (`[sources.X.pull]`).
    Pull(pull::Args),
    /// Serve CRM webhooks, Genesys data actions, the admin API, health and metrics.
    Serve(serve::Args),
    /// What happened to one CRM record (by externalId).
    Status(status::Args),
}

/// Runs the parsed command line and returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Actions(args) => actions::run(args),
        Command::Agents(args) => agents::run(args),
        Command::Deadletters(args) => deadletters::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Emulator(args) => emulator::run(args),
        Command::Import(args) => import::run(args),
        Command::Migrate(args) => migrate::run(args),
        Command::Plugin(args) => plugin::run(args),
        Command::Pull(args) => pull::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Status(args) => status::run(args),
    }
}
