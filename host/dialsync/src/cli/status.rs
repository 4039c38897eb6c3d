//! `dialsync status EXTERNAL_ID [--source NAME]`: what happened to one CRM record — its
//! contact id, the content last applied, and every change with its outcome and reason.
//! Reads the journal only (the SQLite file or the PostgreSQL store; safe while `serve`
//! runs); `--json` prints it machine-readably.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::config::Config;
use crate::sync::{ChangeState, Operation, Outcome};

/// Arguments of `dialsync status`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The record's externalId.
    external_id: String,
    /// Only this source's changes.
    #[arg(long)]
    source: Option<String>,
    /// Config file (for the journal path).
    #[arg(long, default_value = "dialsync.toml")]
    config: PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `dialsync status`; exits 1 when the journal knows nothing of the record.
pub fn run(args: Args) -> ExitCode {
    match status(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!(
                "no changes for externalId {:?}{} in the journal",
                args.external_id,
                args.source
                    .as_deref()
                    .map(|s| format!(" from source {s}"))
                    .unwrap_or_default()
            );
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn status(args: &Args) -> anyhow::Result<bool> {
    let config = Config::load(&args.config)?;
    if let Some(source) = &args.source {
        config.source(source)?;
    }
    let runtime = tokio::runtime::Runtime::new().context("starting tokio")?;
    let found = runtime.block_on(async {
        let store = crate::journal_store::open_for_reading(&config).await?;
        let found = store
            .status(args.external_id.clone(), args.source.clone())
            .await
            .with_context(|| {
                format!(
                    "reading journal {}",
                    crate::journal_store::location(&config)
                )
            })?;
        anyhow::Ok(found)
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&found)?);
        return Ok(!found.is_empty());
    }
    for s in &found {
        println!("externalId   {}", s.external_id);
        println!("contact list {}", s.list_id);
        println!("contact id   {}", s.contact_id);
        println!(
            "state        {}{}",
            s.last_outcome.map_or("pending", Outcome::as_str),
            if s.removed {
                " (deleted in the CRM)"
            } else {
                ""
            }
        );
        if let Some(at) = &s.applied_updated_at {
            println!("applied as of {at}");
        }
        if let Some(at) = &s.seen_updated_at {
            println!("newest seen  {at} (older changes are stale)");
        }
        if s.do_not_call {
            println!("do-not-call  yes (sticky until the source restores consent)");
        }
        for c in &s.changes {
            if c.op == Operation::DoNotCall && c.state != ChangeState::Done && c.attempts > 0 {
                println!(
                    "ALERT        do-not-call change {} not yet applied after {} attempt(s); still retrying",
                    c.seq, c.attempts
                );
            }
        }
        if let Some(row) = &s.row {
            println!("callable     {}", row.callable);
            for (k, v) in &row.data {
                println!("  {k} = {v}");
            }
        }
        println!(
            "{:>8}  {:<12} {:<26} {:<8} {:<14} {:>8}  reason",
            "seq", "op", "source updated", "state", "outcome", "attempts"
        );
        for c in &s.changes {
            println!(
                "{:>8}  {:<12} {:<26} {:<8} {:<14} {:>8}  {}",
                c.seq,
                c.op.as_str(),
                c.source_updated_at,
                c.state.as_str(),
                c.outcome.map_or("-", Outcome::as_str),
                c.attempts,
                c.error.as_ref().map(|e| e.to_string()).unwrap_or_default()
            );
        }
    }
    Ok(!found.is_empty())
}
