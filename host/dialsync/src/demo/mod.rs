//! `dialsync demo`: the whole product in one command, on a fresh machine with no setup.
//!
//! It starts a Genesys Cloud emulator in-process on `127.0.0.1:0` (a contact list per
//! bundled plugin, built from the plugin's declared columns; a DNC list; running
//! campaigns; seeded faults), loads the three bundled plugins, opens the sync engine on a
//! SQLite journal, and imports the embedded sample data of all three CRMs page by page
//! (see [`samples`]). Then it reports, per CRM, every change's outcome with examples of
//! why records were not applied, the Genesys traffic the emulator saw (batches, 429s,
//! 5xx, token refreshes, 409s), and checks the end state: no duplicates, nothing lost,
//! and every contact the journal says it wrote reads back the same through the API.
//!
//! Outcome counts depend only on the sample data (faults change timing and traffic, not
//! outcomes), so they are the same for every seed.

mod org;
mod report;
mod samples;
mod verify;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use dialsync_emulator::EmulatorError;
use dialsync_genesys::{Endpoint, GenesysClient, GenesysError, OrgSettings, RetryPolicy, Secret};
use dialsync_plugin_host::{Limits, LoadedPlugin, PluginError, Runtime};
use serde_json::{Value, json};

use crate::config::DeleteMode;
use crate::sync::{
    Engine, EngineError, EngineOptions, FieldError, GenesysSink, Inbound, Ingest, Mapper,
    Operation, Outcome, RecordResult, RetryRules, SourceBinding, SourceRules,
};

pub use org::Faults;
pub use report::{DemoReport, Example, FinalState, ListState, SourceReport, Traffic};
pub use samples::PAGE_SIZE;

/// Why the demo could not run (a record's problem is an outcome, never this).
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// An embedded sample file is malformed.
    #[error("{file}: {message}")]
    Samples {
        /// The sample file.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// The plugin runtime could not start.
    #[error("starting the plugin runtime: {0}")]
    Runtime(#[source] PluginError),
    /// A bundled plugin could not be loaded.
    #[error("loading bundled plugin {name}: {source}")]
    Plugin {
        /// The plugin.
        name: String,
        /// Why.
        #[source]
        source: PluginError,
    },
    /// A sample file names a plugin this binary does not bundle.
    #[error("plugin {0} is not bundled in this binary")]
    NotBundled(String),
    /// The emulator could not start.
    #[error("starting the Genesys emulator: {0}")]
    Emulator(#[from] EmulatorError),
    /// The emulator's address is not a usable base URL.
    #[error("emulator base URL {url}: {message}")]
    BaseUrl {
        /// The URL.
        url: String,
        /// Why.
        message: String,
    },
    /// A Genesys call failed for good.
    #[error("Genesys: {0}")]
    Genesys(#[from] GenesysError),
    /// The sync engine failed.
    #[error("sync engine: {0}")]
    Engine(#[from] EngineError),
    /// `--db` names an existing file.
    #[error(
        "{path}: already exists; the demo needs a fresh journal (remove it or pick another path)"
    )]
    DbExists {
        /// The path.
        path: String,
    },
    /// The temporary directory could not be created.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// How to run the demo.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Seed of every random decision in the emulator.
    pub seed: u64,
    /// Inject faults (5xx, latency, 429 bursts, short tokens, dialer 409s).
    pub faults: bool,
    /// Journal file (a new file); a temporary one when `None`.
    pub db: Option<PathBuf>,
}

/// Where an accepted change came from.
struct Origin {
    external_id: String,
    record: usize,
    page: usize,
    operation: Operation,
    updated_at: DateTime<Utc>,
}

/// One CRM during the run.
struct SourceRun {
    file: samples::SampleFile,
    plugin: LoadedPlugin,
    run_id: i64,
    /// Journal seq → origin.
    origins: BTreeMap<i64, Origin>,
    /// Plugin-level skips and rejects (never journaled: there is no change).
    plugin_outcomes: Vec<Example>,
}

/// A temporary directory removed on drop. (Written by hand: `tempfile` is only a
/// dev-dependency of this crate.)
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<TempDir, DemoError> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let path =
            std::env::temp_dir().join(format!("dialsync-demo-{}-{nanos}", std::process::id()));
        std::fs::create_dir(&path).map_err(|source| DemoError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Plugin configuration for every bundled plugin: numbers without a country code are US.
fn plugin_config() -> Value {
    json!({"default_region": "US"})
}

/// Runs the demo; `progress` gets one line per step (for stderr).
pub async fn run(
    options: &DemoOptions,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<DemoReport, DemoError> {
    let started = Instant::now();
    let files = samples::load()?;
    let (_tmp, db) = match &options.db {
        Some(path) if path.exists() => {
            return Err(DemoError::DbExists {
                path: path.display().to_string(),
            });
        }
        Some(path) => (None, path.clone()),
        None => {
            let tmp = TempDir::new()?;
            let db = tmp.0.join("dialsync-demo.db");
            (Some(tmp), db)
        }
    };

    progress("loading the bundled plugins");
    let runtime = Runtime::new(Limits::default()).map_err(DemoError::Runtime)?;
    let mut plugins = Vec::new();
    for file in &files {
        let bytes = dialsync_bundled_plugins::by_name(file.source)
            .ok_or_else(|| DemoError::NotBundled(file.source.to_string()))?;
        let plugin = runtime
            .load(bytes, plugin_config())
            .await
            .map_err(|source| DemoError::Plugin {
                name: file.source.to_string(),
                source,
            })?;
        plugins.push(plugin);
    }

    let faults = Faults::new(options.faults);
    let fixtures = org::fixtures(
        files
            .iter()
            .map(|f| f.source)
            .zip(plugins.iter().map(|p| p.info())),
    );
    let secret = uuid::Uuid::new_v4().simple().to_string();
    let emulator = dialsync_emulator::start(
        org::emulator_config(options.seed, &faults, fixtures, &secret),
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
    )
    .await?;
    progress(&format!(
        "Genesys emulator on {} (seed {}, faults {})",
        emulator.base_url(),
        options.seed,
        if faults.enabled { "on" } else { "off" }
    ));

    let setup = Setup {
        options,
        faults: &faults,
        files: &files,
        emulator: &emulator,
        secret: &secret,
        db: &db,
    };
    let result = sync_and_report(&setup, plugins, progress).await;
    emulator.shutdown().await;
    let mut report = result?;
    report.elapsed_seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// What the sync phase runs on.
struct Setup<'a> {
    options: &'a DemoOptions,
    faults: &'a Faults,
    files: &'a [samples::SampleFile],
    emulator: &'a dialsync_emulator::RunningEmulator,
    secret: &'a str,
    db: &'a Path,
}

/// Syncs every page of every source into the emulator and builds the report.
async fn sync_and_report(
    setup: &Setup<'_>,
    plugins: Vec<LoadedPlugin>,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<DemoReport, DemoError> {
    let Setup {
        options,
        faults,
        files,
        emulator,
        secret,
        db,
    } = *setup;
    let base = emulator.base_url();
    let url = url::Url::parse(&base).map_err(|e| DemoError::BaseUrl {
        url: base.clone(),
        message: e.to_string(),
    })?;
    let mut settings = OrgSettings::new(
        "demo",
        Endpoint::BaseUrl(url),
        "dialsync-demo",
        Secret::new(secret),
    );
    settings.requests_per_minute = faults.rate_limit_per_minute;
    settings.max_concurrency = 8;
    settings.retry = RetryPolicy {
        max_attempts: 6,
        base_delay: Duration::from_millis(100),
        max_delay: Duration::from_secs(2),
        max_elapsed: Duration::from_secs(60),
    };
    settings.request_timeout = Duration::from_secs(10);
    let client = GenesysClient::new(settings)?;
    let sink = Arc::new(GenesysSink::new(client.clone()));

    let bindings = files
        .iter()
        .map(|f| SourceBinding {
            name: f.source.to_string(),
            list_id: org::list_id(f.source),
            sink: sink.clone(),
            rules: SourceRules {
                dnc_list_id: Some(org::DNC_LIST_ID.to_string()),
                delete_mode: DeleteMode::Soft,
            },
        })
        .collect();
    let options_engine = EngineOptions {
        retry: RetryRules {
            max_attempts: 8,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(3),
            per_call: 1000,
            concurrent_batches: 4,
        },
        keys_per_round: 4000,
        ..EngineOptions::default()
    };
    let engine = Engine::open(db, bindings, options_engine)?;

    let mut runs = Vec::new();
    for (file, plugin) in files.iter().zip(plugins) {
        let (source, path) = (file.source.to_string(), file.path.to_string());
        let now = engine.now_ms();
        let run_id = engine
            .store()
            .start_run(&source, &path, now)
            .await
            .map_err(EngineError::from)?;
        runs.push(SourceRun {
            file: file.clone(),
            plugin,
            run_id,
            origins: BTreeMap::new(),
            plugin_outcomes: Vec::new(),
        });
    }

    let pages = files
        .iter()
        .map(|f| f.records.len().div_ceil(PAGE_SIZE))
        .max()
        .unwrap_or(0);
    for page in 1..=pages {
        for run in &mut runs {
            deliver_page(&engine, run, page).await?;
        }
        progress(&format!(
            "page {page}/{pages} delivered; syncing to Genesys"
        ));
        engine.run_until_idle().await?;
    }

    progress("checking the result");
    let mut sources = Vec::new();
    let mut keys = Vec::new();
    for run in &runs {
        let list_id = org::list_id(run.file.source);
        let ids: BTreeSet<&str> = run
            .origins
            .values()
            .map(|o| o.external_id.as_str())
            .collect();
        keys.extend(
            ids.into_iter()
                .map(|id| (run.file.source.to_string(), list_id.clone(), id.to_string())),
        );
        sources.push(source_report(&engine, run).await?);
    }
    let (read_back, read_back_mismatches) = verify::read_back(&engine, &client, keys).await?;
    let dead_letters = engine.dead_letters().await?.len() as u64;
    let unfinished = engine
        .store()
        .unfinished()
        .await
        .map_err(EngineError::from)?;
    let lost = sources
        .iter()
        .map(|s| s.changes_accepted.saturating_sub(s.changes_finished))
        .sum::<u64>()
        .max(unfinished);

    let dump = emulator.state();
    let state = FinalState {
        lists: files
            .iter()
            .map(|f| verify::list_state(&dump, f.source, &org::list_id(f.source)))
            .collect(),
        dnc_numbers: dump
            .dnc_list(org::DNC_LIST_ID)
            .map(|d| d.phone_numbers.len() as u64)
            .unwrap_or(0),
        read_back,
        read_back_mismatches,
        lost,
        dead_letters,
    };
    Ok(DemoReport {
        seed: options.seed,
        faults: faults.clone(),
        db: db.display().to_string(),
        page_size: PAGE_SIZE,
        elapsed_seconds: 0.0,
        sources,
        traffic: traffic(&emulator.stats(), &client),
        state,
        try_next: try_next(),
    })
}

/// Maps one page of a source's records and journals the changes.
async fn deliver_page(engine: &Engine, run: &mut SourceRun, page: usize) -> Result<(), DemoError> {
    let Some((_, first, records)) = run.file.pages().nth(page - 1) else {
        return Ok(());
    };
    let ingest = Ingest {
        records: records.iter().cloned().map(Inbound::new).collect(),
        run_id: Some(run.run_id),
        ..Ingest::default()
    };
    let mapper = Mapper {
        plugin: run.plugin.clone(),
        port: None,
    };
    let ingested = engine.ingest(run.file.source, &mapper, ingest).await?;
    for (i, result) in ingested.results.into_iter().enumerate() {
        let record = first + i;
        let example = |outcome: Outcome, field: Option<String>, reason: String| Example {
            outcome: outcome.as_str().to_string(),
            record,
            page,
            external_id: None,
            field,
            reason,
        };
        match result {
            RecordResult::Accepted { .. } | RecordResult::Duplicate { .. } => {}
            RecordResult::Skipped { reason } => {
                run.plugin_outcomes
                    .push(example(Outcome::Skipped, None, reason))
            }
            RecordResult::Rejected { errors } => run.plugin_outcomes.push(example(
                Outcome::Rejected,
                Some(
                    errors
                        .iter()
                        .map(|e| e.field.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
                errors
                    .iter()
                    .map(|e| without_field_prefix(&e.field, &e.message))
                    .collect::<Vec<_>>()
                    .join("; "),
            )),
            RecordResult::Failed { error, .. } => {
                run.plugin_outcomes
                    .push(example(Outcome::Rejected, None, error))
            }
        }
    }
    for c in ingested.changes {
        run.origins.insert(
            c.seq,
            Origin {
                external_id: c.external_id,
                record: first + c.record,
                page,
                operation: c.operation,
                updated_at: c.source_updated_at,
            },
        );
    }
    Ok(())
}

/// A plugin's message without a leading `"{field}: "` (the report prints the field).
fn without_field_prefix<'a>(field: &str, message: &'a str) -> &'a str {
    message
        .strip_prefix(field)
        .and_then(|rest| rest.strip_prefix(": "))
        .unwrap_or(message)
}

/// Counts and examples for one source.
async fn source_report(engine: &Engine, run: &SourceRun) -> Result<SourceReport, DemoError> {
    let run_id = run.run_id;
    let store = engine.store();
    let counts = store
        .outcome_counts(Some(run_id))
        .await
        .map_err(EngineError::from)?;
    let mut failures = Vec::new();
    for outcome in Outcome::ALL {
        if outcome != Outcome::Applied {
            let found = store
                .run_failures(run_id, outcome)
                .await
                .map_err(EngineError::from)?;
            failures.push((outcome, found));
        }
    }
    let mut outcomes: BTreeMap<String, u64> = Outcome::ALL
        .iter()
        .map(|o| (o.as_str().to_string(), 0))
        .collect();
    let mut finished = 0;
    for (outcome, n) in counts {
        *outcomes.entry(outcome.as_str().to_string()).or_default() += n;
        finished += n;
    }
    for e in &run.plugin_outcomes {
        *outcomes.entry(e.outcome.clone()).or_default() += 1;
    }

    let mut examples = run.plugin_outcomes.clone();
    for (outcome, rows) in failures {
        for (seq, external_id, error) in rows {
            let Some(origin) = run.origins.get(&seq) else {
                continue;
            };
            let (field, reason) = reason(engine, run.file.source, outcome, origin, error).await?;
            examples.push(Example {
                outcome: outcome.as_str().to_string(),
                record: origin.record,
                page: origin.page,
                external_id: Some(external_id),
                field,
                reason,
            });
        }
    }
    examples.sort_by_key(|e| (e.outcome.clone(), e.record));
    Ok(SourceReport {
        name: run.file.source.to_string(),
        plugin_version: run.plugin.info().version.clone(),
        file: run.file.path.to_string(),
        list_id: org::list_id(run.file.source),
        records: run.file.records.len() as u64,
        changes_accepted: run.origins.len() as u64,
        changes_finished: finished,
        outcomes,
        examples,
    })
}

/// Why a journaled change ended in `outcome`: (field, sentence).
async fn reason(
    engine: &Engine,
    source: &str,
    outcome: Outcome,
    origin: &Origin,
    error: Option<String>,
) -> Result<(Option<String>, String), DemoError> {
    Ok(match outcome {
        Outcome::Unchanged if origin.operation == Operation::Remove => (
            None,
            "deleted in the CRM but never synced: nothing in Genesys to remove".to_string(),
        ),
        Outcome::Unchanged => (
            None,
            "Genesys already holds exactly this content; nothing sent".to_string(),
        ),
        Outcome::Stale => {
            let applied = engine
                .status(&origin.external_id, Some(source))
                .await?
                .into_iter()
                .find_map(|s| s.applied_updated_at)
                .unwrap_or_else(|| "a newer version".to_string());
            (
                None,
                format!(
                    "updated {}, older than the version already applied ({applied}); skipped",
                    origin.updated_at.to_rfc3339()
                ),
            )
        }
        Outcome::Superseded => (
            None,
            "a newer change of the same record arrived in the same page and was written in its place"
                .to_string(),
        ),
        Outcome::Rejected => match error
            .as_deref()
            .and_then(|e| serde_json::from_str::<Vec<FieldError>>(e).ok())
        {
            Some(errors) => (
                Some(
                    errors
                        .iter()
                        .map(|e| e.field.as_str())
                        .filter(|f| !f.is_empty())
                        .collect::<Vec<_>>()
                        .join(", "),
                )
                .filter(|f| !f.is_empty()),
                errors
                    .iter()
                    .map(|e| format!("{} ({})", without_field_prefix(&e.field, &e.message), e.code))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            None => (None, error.unwrap_or_default()),
        },
        Outcome::DeadLettered => (
            None,
            format!(
                "{} (replayable with `dialsync deadletters`)",
                error.unwrap_or_default()
            ),
        ),
        // The engine skips a never-synced record with no phone (`no_phone`).
        Outcome::Skipped => (
            None,
            error
                .as_deref()
                .and_then(|e| serde_json::from_str::<Vec<FieldError>>(e).ok())
                .and_then(|errors| errors.into_iter().next())
                .map(|e| e.message)
                .unwrap_or_default(),
        ),
        Outcome::Applied => (None, String::new()),
    })
}

/// The Genesys traffic the emulator saw and the client's retries.
fn traffic(stats: &dialsync_emulator::Stats, client: &GenesysClient) -> Traffic {
    let mut by_route: BTreeMap<String, BTreeMap<u16, u64>> = BTreeMap::new();
    for r in &stats.routes {
        *by_route
            .entry(format!("{} {}", r.method, r.route))
            .or_default()
            .entry(r.status)
            .or_default() += r.count;
    }
    let client_stats = client.stats();
    Traffic {
        requests: stats.total,
        by_route,
        contact_batches: stats.count(
            "POST",
            "/api/v2/outbound/contactlists/{contactListId}/contacts",
            200,
        ),
        dnc_updates: stats
            .routes
            .iter()
            .filter(|r| r.route.starts_with("/api/v2/outbound/dnclists/") && r.status < 300)
            .map(|r| r.count)
            .sum(),
        rate_limited_429: stats.status_total(429),
        server_errors_5xx: stats
            .by_status
            .iter()
            .filter(|(s, _)| (500..600).contains(*s))
            .map(|(_, n)| n)
            .sum(),
        applied_then_500: stats.applied_then_error,
        tokens_issued: stats.count("POST", "/oauth/token", 200),
        conflicts_409: stats.status_total(409),
        client_retries: client_stats.retries,
    }
}

/// Real commands to try after the demo.
fn try_next() -> Vec<String> {
    vec![
        "dialsync plugin test servicenow samples/servicenow.json --config default_region=US   # see each record's mapping".to_string(),
        "dialsync plugin info salesforce                                                     # columns, schemas, version".to_string(),
        "DIALSYNC_EMULATOR_CLIENT_SECRET=s3cret dialsync emulator --sample-org --error-rate 0.05   # a local Genesys to point dialsync.toml at".to_string(),
        "dialsync import --source servicenow samples/servicenow.json --config dialsync.toml --report report.json   # with [orgs] and [sources.servicenow] set up".to_string(),
        "dialsync demo --seed 42 --db demo.db --json                                         # keep the journal, machine-readable summary".to_string(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_prefixes_are_not_repeated() {
        assert_eq!(
            without_field_prefix("/phone", "/phone: not a valid number"),
            "not a valid number"
        );
        assert_eq!(
            without_field_prefix("/phone", "12125550100 is not of type \"string\""),
            "12125550100 is not of type \"string\""
        );
        assert_eq!(without_field_prefix("", "no field"), "no field");
    }
}
