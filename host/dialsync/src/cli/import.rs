//! `dialsync import --source NAME FILE`: bulk-loads a records file through the source's
//! plugin into the journal and runs the engine to completion, then prints a summary and
//! (with `--report`) writes a JSON report: counts per outcome, Genesys request counts, and
//! every rejected or dead-lettered record with its reason. `--dry-run` maps and validates
//! against the list's columns without writing anything to Genesys or the journal.
//!
//! The file is streamed (a reader thread feeds records through a bounded channel), so
//! memory stays bounded whatever its size; mapped changes are journaled chunk by chunk
//! while workers already send earlier chunks.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use dialsync_plugin_host::{GenesysPort, Limits, RecordOutcome, Runtime};
use serde::Serialize;
use serde_json::Value;

use crate::config::Config;
use crate::genesys_port::SourceGenesysPort;
use crate::plugin_registry::Registry;
use crate::sync::records::{Format, Position, RecordsError, read_records};
use crate::sync::{
    Change, Compliance, ComplianceAlert, ContactSink, Engine, EngineOptions, FieldError,
    GenesysSink, Inbound, Ingest, Mapper, Outcome, RecordResult, Target, bindings_from_config,
    fold, validate,
};

/// Arguments of `dialsync import`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The source (a `[sources.NAME]` table in the config).
    #[arg(long)]
    source: String,
    /// Records file: .jsonl/.ndjson, .csv, or .json (array, ServiceNow {"result": [...]},
    /// Salesforce {"records": [...]}).
    file: PathBuf,
    /// Config file.
    #[arg(long, default_value = "dialsync.toml")]
    config: PathBuf,
    /// Map and validate only; write nothing to Genesys or the journal.
    #[arg(long)]
    dry_run: bool,
    /// Write the JSON report here.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Records per plugin call.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    chunk: u64,
}

/// A record the plugin or the engine refused, with why.
#[derive(Debug, Serialize)]
struct RecordProblem {
    /// Position in the file (plugin-level problems) .
    #[serde(skip_serializing_if = "Option::is_none")]
    at: Option<String>,
    /// externalId, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    external_id: Option<String>,
    /// Journal seq, when journaled.
    #[serde(skip_serializing_if = "Option::is_none")]
    seq: Option<i64>,
    /// Field errors or the last error.
    reason: Value,
}

/// The JSON report.
#[derive(Debug, Serialize)]
struct Report {
    source: String,
    file: String,
    dry_run: bool,
    run_id: Option<i64>,
    records_read: u64,
    changes_accepted: u64,
    outcomes: BTreeMap<&'static str, u64>,
    genesys_requests: Value,
    elapsed_seconds: f64,
    rejected: Vec<RecordProblem>,
    dead_lettered: Vec<RecordProblem>,
    /// Do-not-call changes Genesys keeps refusing (still queued; exit code 2).
    compliance_alerts: Vec<ComplianceAlert>,
    #[serde(skip_serializing_if = "Option::is_none")]
    input_error: Option<String>,
}

/// Runs `dialsync import`.
pub fn run(args: Args) -> ExitCode {
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting tokio: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(import(args)) {
        Ok(report) => {
            if report.input_error.is_some() {
                ExitCode::FAILURE
            } else if report.rejected.is_empty()
                && report.dead_lettered.is_empty()
                && report.compliance_alerts.is_empty()
            {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            }
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Progress on a terminal (a spinner), or a plain line every few seconds otherwise.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    last: Instant,
}

impl Progress {
    fn new() -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress {
            bar,
            last: Instant::now(),
        }
    }

    fn update(&mut self, message: String) {
        match &self.bar {
            Some(bar) => bar.set_message(message),
            None if self.last.elapsed() >= Duration::from_secs(5) => {
                self.last = Instant::now();
                eprintln!("{message}");
            }
            None => {}
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

async fn import(args: Args) -> anyhow::Result<Report> {
    let started = Instant::now();
    let mut config = Config::load(&args.config)?;
    let source = config.source(&args.source)?.clone();
    let org = config.org(&source.org)?.clone();
    let format = Format::for_path(&args.file).with_context(|| {
        format!(
            "{}: unknown file type (use .jsonl, .ndjson, .csv or .json)",
            args.file.display()
        )
    })?;

    let registry = Registry::new(&Registry::default_home()?);
    let resolved = registry
        .resolve(&source.plugin)
        .with_context(|| format!("sources.{}.plugin", args.source))?;
    let runtime = Runtime::new(Limits::default())?;
    let plugin = runtime
        .load(&resolved.bytes, source.config.clone())
        .await
        .with_context(|| {
            format!(
                "loading plugin {:?} for source {}",
                source.plugin, args.source
            )
        })?;

    // The journal first: on PostgreSQL it puts every org's shared rate budget in the
    // config, so the clients below draw from the budget all workers share.
    let store = if args.dry_run {
        None
    } else {
        Some(crate::journal_store::open_for_work(&mut config).await?)
    };
    // Bindings for every configured source (one shared client per org): this process may
    // take over work other processes (serve, another import) left on the same journal.
    let (bindings, clients) = bindings_from_config(&config)?;
    let client = clients
        .get(&source.org)
        .cloned()
        .with_context(|| format!("orgs.{}", source.org))?;
    let sink = GenesysSink::new(client.clone());
    let port: Arc<dyn GenesysPort> = Arc::new(SourceGenesysPort::new(
        client.clone(),
        [source.contact_list_id.clone()],
    ));
    let mapper = Mapper {
        plugin,
        port: Some(port),
    };

    // Dry run: the list's shape is read once (a GET); nothing is written anywhere.
    let shape = if args.dry_run {
        Some(
            sink.list_shape(&source.contact_list_id)
                .await
                .with_context(|| format!("reading contact list {}", source.contact_list_id))?,
        )
    } else {
        None
    };
    let engine = store.map(|store| {
        let mut options = EngineOptions::for_config(&config);
        options.retry.per_call = org.max_contacts_per_call;
        options.keys_per_round = org.max_contacts_per_call * options.retry.concurrent_batches;
        Engine::with_store(store, bindings, options)
    });
    let run_id = match &engine {
        Some(engine) => {
            let file = args.file.display().to_string();
            let now = engine.now_ms();
            Some(engine.store().start_run(&args.source, &file, now).await?)
        }
        None => None,
    };
    let workers = engine.as_ref().map(Engine::spawn_workers);

    // The reader thread streams records into a bounded channel.
    let chunk = args.chunk as usize;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(Position, Value)>(chunk * 2);
    let path = args.file.clone();
    let reader = std::thread::spawn(move || {
        read_records(&path, format, |at, value| {
            tx.blocking_send((at, value))
                .map_err(|_| RecordsError::Stopped)
        })
    });

    let mut progress = Progress::new();
    let mut records_read = 0u64;
    let mut accepted = 0u64;
    let mut skipped = 0u64;
    let mut would_apply = 0u64;
    let mut rejected: Vec<RecordProblem> = Vec::new();
    let mut buffer: Vec<(Position, Value)> = Vec::with_capacity(chunk);
    loop {
        buffer.clear();
        match rx.recv().await {
            Some(item) => buffer.push(item),
            None => break,
        }
        while buffer.len() < chunk {
            match rx.try_recv() {
                Ok(item) => buffer.push(item),
                Err(_) => break,
            }
        }
        records_read += buffer.len() as u64;
        let values: Vec<Value> = buffer.iter().map(|(_, v)| v.clone()).collect();
        match (&engine, &shape) {
            // The engine's one ingest path: mapped, journalled durably with the run id.
            (Some(engine), _) => {
                let ingest = Ingest {
                    records: values.into_iter().map(Inbound::new).collect(),
                    run_id,
                    ..Ingest::default()
                };
                let ingested = engine.ingest(&args.source, &mapper, ingest).await?;
                for ((at, _), result) in buffer.iter().zip(ingested.results) {
                    match result {
                        RecordResult::Accepted { seqs, .. } => accepted += seqs.len() as u64,
                        // No record ids in a file: nothing is a duplicate.
                        RecordResult::Skipped { .. } | RecordResult::Duplicate { .. } => {
                            skipped += 1
                        }
                        RecordResult::Rejected { errors } => rejected.push(RecordProblem {
                            at: Some(at.to_string()),
                            external_id: None,
                            seq: None,
                            reason: serde_json::to_value(errors)?,
                        }),
                        RecordResult::Failed { error, .. } => rejected.push(RecordProblem {
                            at: Some(at.to_string()),
                            external_id: None,
                            seq: None,
                            reason: Value::String(error),
                        }),
                    }
                }
            }
            // Dry run: map and validate against the list's columns; nothing is stored.
            (None, Some(shape)) => {
                let outcomes = mapper.plugin.map(&values, mapper.port.clone()).await;
                for ((at, _), outcome) in buffer.iter().zip(outcomes) {
                    let changes: Vec<Change> = match outcome {
                        RecordOutcome::Change { changes: mapped } => {
                            mapped.into_iter().map(Change::from).collect()
                        }
                        RecordOutcome::Skip { .. } => {
                            skipped += 1;
                            continue;
                        }
                        RecordOutcome::Reject { errors } => {
                            rejected.push(RecordProblem {
                                at: Some(at.to_string()),
                                external_id: None,
                                seq: None,
                                reason: serde_json::to_value(errors)?,
                            });
                            continue;
                        }
                        RecordOutcome::Failed(failure) => {
                            rejected.push(RecordProblem {
                                at: Some(at.to_string()),
                                external_id: None,
                                seq: None,
                                reason: Value::String(failure.to_string()),
                            });
                            continue;
                        }
                    };
                    for change in changes {
                        let mut compliance = Compliance::default();
                        let errors =
                            match fold(&change.external_id, None, &mut compliance, [&change]) {
                                Ok(Target::Present(row)) => validate(&row, shape),
                                // Removes and partial changes depend on what is already there.
                                Ok(Target::Removed { .. }) | Err(_) => vec![],
                            };
                        if errors.is_empty() {
                            would_apply += 1;
                        } else {
                            rejected.push(problem(None, &change.external_id, &errors)?);
                        }
                    }
                }
            }
            (None, None) => unreachable!("a dry run always has the list shape"),
        }
        progress.update(format!(
            "{} records read, {} changes journaled, {} rejected by the plugin",
            records_read,
            accepted,
            rejected.len()
        ));
    }
    let input_error = match reader.join() {
        Ok(Ok(_)) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(_) => Some("the file reader panicked".to_string()),
    };

    let mut outcomes: BTreeMap<&'static str, u64> =
        Outcome::ALL.iter().map(|o| (o.as_str(), 0)).collect();
    let mut dead_lettered = Vec::new();
    let mut compliance_alerts = Vec::new();
    if let (Some(engine), Some(run_id), Some(workers)) = (&engine, run_id, workers) {
        progress.update(format!("{accepted} changes journaled; sending to Genesys"));
        engine.run_until_idle().await?;
        workers.shutdown().await?;
        compliance_alerts = engine.compliance_alerts().await?;
        let store = engine.store();
        let counts = store.outcome_counts(Some(run_id)).await?;
        let rejects = store.run_failures(run_id, Outcome::Rejected).await?;
        let letters = store.run_failures(run_id, Outcome::DeadLettered).await?;
        for (outcome, n) in counts {
            *outcomes.entry(outcome.as_str()).or_default() += n;
        }
        for (seq, external_id, error) in rejects {
            rejected.push(RecordProblem {
                at: None,
                external_id: Some(external_id),
                seq: Some(seq),
                reason: parse_reason(error),
            });
        }
        for (seq, external_id, error) in letters {
            dead_lettered.push(RecordProblem {
                at: None,
                external_id: Some(external_id),
                seq: Some(seq),
                reason: parse_reason(error),
            });
        }
    } else {
        *outcomes.entry(Outcome::Applied.as_str()).or_default() += would_apply;
    }
    progress.finish();
    // Plugin-level outcomes (never journaled: they have no change to journal).
    *outcomes.entry(Outcome::Skipped.as_str()).or_default() += skipped;
    let plugin_rejects = rejected.iter().filter(|r| r.seq.is_none()).count() as u64;
    if engine.is_some() {
        *outcomes.entry(Outcome::Rejected.as_str()).or_default() += plugin_rejects;
    } else {
        *outcomes.entry(Outcome::Rejected.as_str()).or_default() += rejected.len() as u64;
    }

    let stats = client.stats();
    let report = Report {
        source: args.source.clone(),
        file: args.file.display().to_string(),
        dry_run: args.dry_run,
        run_id,
        records_read,
        changes_accepted: accepted,
        outcomes,
        genesys_requests: serde_json::json!({
            "total": stats.total_responses(),
            "by_status": stats.requests_by_status,
            "retries": stats.retries,
            "rate_limited": stats.rate_limited,
            "conflicts": stats.conflicts,
            "token_fetches": stats.token_fetches,
            "transport_errors": stats.transport_errors,
        }),
        elapsed_seconds: started.elapsed().as_secs_f64(),
        rejected,
        dead_lettered,
        compliance_alerts,
        input_error,
    };
    if let (Some(engine), Some(run_id)) = (&engine, run_id) {
        // The run's report beside the run (the admin API's `/v1/admin/runs`).
        let json = serde_json::to_string(&report)?;
        engine
            .store()
            .finish_run(run_id, &json, engine.now_ms())
            .await?;
    }
    print_summary(&report);
    if let Some(path) = &args.report {
        let json = serde_json::to_vec_pretty(&report)?;
        std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(e) = &report.input_error {
        eprintln!("error: {e}");
    }
    Ok(report)
}

fn problem(
    seq: Option<i64>,
    external_id: &str,
    errors: &[FieldError],
) -> anyhow::Result<RecordProblem> {
    Ok(RecordProblem {
        at: None,
        external_id: Some(external_id.to_string()),
        seq,
        reason: serde_json::to_value(errors)?,
    })
}

fn parse_reason(error: Option<String>) -> Value {
    match error {
        Some(e) => serde_json::from_str(&e).unwrap_or(Value::String(e)),
        None => Value::Null,
    }
}

fn print_summary(report: &Report) {
    let title = if report.dry_run {
        "dry run (nothing written)"
    } else {
        "import"
    };
    println!(
        "{title}: {} records from {} via source {} in {:.1}s",
        report.records_read, report.file, report.source, report.elapsed_seconds
    );
    println!("{:<16} {:>10}", "outcome", "changes");
    for (outcome, n) in &report.outcomes {
        let label = if report.dry_run && *outcome == "applied" {
            "would apply"
        } else {
            outcome
        };
        println!("{label:<16} {n:>10}");
    }
    println!(
        "{:<16} {:>10}",
        "genesys requests", report.genesys_requests["total"]
    );
    for problem in report.rejected.iter().take(20) {
        let at = problem
            .at
            .clone()
            .or_else(|| problem.external_id.clone())
            .unwrap_or_default();
        println!("rejected {at}: {}", problem.reason);
    }
    if report.rejected.len() > 20 {
        println!(
            "… {} more rejected (see --report)",
            report.rejected.len() - 20
        );
    }
    for alert in &report.compliance_alerts {
        println!(
            "ALERT do-not-call not applied after {} attempts: {} in list {} (still retrying): {}",
            alert.attempts,
            alert.external_id,
            alert.list_id,
            alert.error.as_deref().unwrap_or_default()
        );
    }
    for problem in &report.dead_lettered {
        println!(
            "dead-lettered {}: {}",
            problem.external_id.as_deref().unwrap_or_default(),
            problem.reason
        );
    }
}
