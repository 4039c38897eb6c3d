//! `plugin test` as a library: map a records file (or records in memory) with a
//! loaded plugin, chunk by chunk, and report every outcome, what it cost, how
//! it compares with golden outcomes, and which records were the most expensive.
//!
//! The CLI (`dialsync plugin test`) and the admin console both call
//! [`test_file`] / [`test_records`] and get a [`TestReport`] (serde). Records
//! are streamed: a reader thread parses the file one record at a time into a
//! bounded channel, and the plugin maps [`TestOptions::chunk`] records per
//! guest call, so memory stays bounded whatever the file size and one call's
//! output never grows with the file.
//!
//! Every outcome is turned into one or more *outcome lines* (see
//! [`outcome_lines`]); these are what `plugin test` prints and what a golden
//! file (`--expect`) holds.

mod golden;
mod input;

use std::collections::BinaryHeap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use dialsync_plugin_host::{LoadedPlugin, LogLine, MapReport, RecordOutcome};
use serde::Serialize;
use serde_json::{Value, json};

pub use golden::{ExpectReport, MAX_DIFFS, RecordDiff};
pub use input::parse_records;

/// Records per guest call when not told otherwise.
pub const DEFAULT_CHUNK: usize = 256;

/// Why a test could not run (the plugin's own failures are outcomes, not errors).
#[derive(Debug, thiserror::Error)]
pub enum PluginTestError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The records file is not records.
    #[error("{path}: {at}: {message}")]
    Records {
        /// The file.
        path: String,
        /// `line N column M`.
        at: String,
        /// What is wrong.
        message: String,
    },
    /// The golden file is not outcome lines.
    #[error("{path}: line {line}: {message}")]
    Golden {
        /// The golden file.
        path: String,
        /// 1-based line.
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// Bad options (e.g. `--update` without `--expect`).
    #[error("{0}")]
    Options(String),
}

/// What to do besides mapping.
#[derive(Debug, Clone)]
pub struct TestOptions {
    /// Records per guest call (at least 1).
    pub chunk: usize,
    /// Golden outcome lines to compare with.
    pub expect: Option<PathBuf>,
    /// Rewrite the `expect` file with this run's outcome lines.
    pub update: bool,
    /// Profile mode: map each record in its own call and keep the `n` most
    /// expensive (by fuel, with their wall time).
    pub profile: Option<usize>,
}

impl Default for TestOptions {
    fn default() -> Self {
        TestOptions {
            chunk: DEFAULT_CHUNK,
            expect: None,
            update: false,
            profile: None,
        }
    }
}

/// Outcome counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutcomeCounts {
    /// Records mapped to one or more changes.
    pub change: u64,
    /// Records skipped with a reason.
    pub skip: u64,
    /// Records rejected with field errors (by the input schema or the plugin).
    pub reject: u64,
    /// Records whose mapping failed (trap, limit, invalid output).
    pub failed: u64,
}

/// One of the most expensive records (profile mode).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SlowRecord {
    /// Position in the input, from 0.
    pub index: u64,
    /// Fuel (≈ wasm instructions) its call used, instantiation included.
    pub fuel: u64,
    /// Wall time of its call, in microseconds.
    pub micros: u64,
    /// `change`, `skip`, `reject` or `failed`.
    pub outcome: String,
}

impl Ord for SlowRecord {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // Reversed, so the BinaryHeap keeps the cheapest on top for eviction.
        (other.fuel, other.micros, self.index).cmp(&(self.fuel, self.micros, other.index))
    }
}

impl PartialOrd for SlowRecord {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// The summary of one `plugin test` run.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TestReport {
    /// `name@version`.
    pub plugin: String,
    /// sha256 of the component.
    pub sha256: String,
    /// Records read.
    pub records: u64,
    /// Outcome counts.
    pub outcomes: OutcomeCounts,
    /// Guest calls made (chunks, plus re-runs isolating failures).
    pub guest_calls: u64,
    /// Records re-run alone after their chunk failed.
    pub isolated_reruns: u64,
    /// Fuel used by all guest calls.
    pub fuel_used: u64,
    /// Time spent instantiating the guest (once per call), in ms.
    pub instantiate_ms: f64,
    /// Largest guest linear memory of any call, in bytes.
    pub peak_guest_memory_bytes: usize,
    /// The host process's peak resident set (Linux `VmHWM`), in bytes.
    pub peak_host_rss_bytes: Option<u64>,
    /// Wall time of the whole run (reading, mapping, comparing), in ms.
    pub elapsed_ms: f64,
    /// Mean wall time per record, in microseconds.
    pub micros_per_record: f64,
    /// Plugin log lines dropped beyond the per-call bound.
    pub logs_dropped: usize,
    /// Profile mode: the most expensive records, most expensive first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slowest: Option<Vec<SlowRecord>>,
    /// The comparison with the golden file, when one was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expect: Option<ExpectReport>,
    /// The golden file rewritten by `update`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated: Option<PathBuf>,
}

impl TestReport {
    /// False when a golden comparison found differences (and was not an update).
    pub fn passed(&self) -> bool {
        self.updated.is_some() || self.expect.as_ref().is_none_or(ExpectReport::passed)
    }
}

/// What a run reports as it goes.
pub enum Event<'a> {
    /// The outcome lines of record `index`.
    Outcome {
        /// Position in the input, from 0.
        index: u64,
        /// Its outcome lines.
        lines: &'a [Value],
    },
    /// A line the plugin logged.
    Log(&'a LogLine),
}

/// Maps the records file at `path` (JSON array, JSON Lines, one object, or a
/// ServiceNow/Salesforce envelope) chunk by chunk, calling `on_event` for each
/// record's outcome lines and each plugin log line.
pub async fn test_file(
    plugin: &LoadedPlugin,
    path: &Path,
    options: &TestOptions,
    on_event: impl FnMut(Event<'_>),
) -> Result<TestReport, PluginTestError> {
    let chunk = options.chunk.max(1);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Value>(chunk * 2);
    let owned = path.to_path_buf();
    let reader = std::thread::spawn(move || {
        input::read_records(&owned, |_, value| tx.blocking_send(value).is_ok())
    });
    let mut run = Run::new(plugin, options, on_event)?;
    let mut buffer = Vec::with_capacity(chunk);
    loop {
        // Full chunks (the last may be short): wait for records until the
        // chunk fills or the reader is done.
        buffer.clear();
        while buffer.len() < chunk {
            let wanted = chunk - buffer.len();
            if rx.recv_many(&mut buffer, wanted).await == 0 {
                break;
            }
        }
        if buffer.is_empty() {
            break;
        }
        run.chunk(&buffer).await?;
    }
    match reader.join() {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(e),
        Err(_) => {
            return Err(PluginTestError::Options(format!(
                "{}: the reader thread panicked",
                path.display()
            )));
        }
    }
    run.finish()
}

/// Like [`test_file`], for records already in memory (e.g. an upload).
pub async fn test_records(
    plugin: &LoadedPlugin,
    records: &[Value],
    options: &TestOptions,
    on_event: impl FnMut(Event<'_>),
) -> Result<TestReport, PluginTestError> {
    let mut run = Run::new(plugin, options, on_event)?;
    for chunk in records.chunks(options.chunk.max(1)) {
        run.chunk(chunk).await?;
    }
    run.finish()
}

/// The state of one run.
struct Run<'p, F> {
    /// Every call fuel-metered, so the fuel figures cover every record.
    plugin: LoadedPlugin,
    options: &'p TestOptions,
    on_event: F,
    started: Instant,
    next_index: u64,
    counts: OutcomeCounts,
    guest_calls: u64,
    isolated_reruns: u64,
    fuel_used: u64,
    instantiate: Duration,
    peak_memory: usize,
    logs_dropped: usize,
    slowest: BinaryHeap<SlowRecord>,
    expect: Option<golden::Expectations>,
    update: Option<golden::GoldenWriter>,
}

impl<'p, F: FnMut(Event<'_>)> Run<'p, F> {
    fn new(
        plugin: &'p LoadedPlugin,
        options: &'p TestOptions,
        on_event: F,
    ) -> Result<Self, PluginTestError> {
        let (expect, update) = match (&options.expect, options.update) {
            (None, true) => {
                return Err(PluginTestError::Options(
                    "--update rewrites the --expect file; give --expect FILE".into(),
                ));
            }
            (None, false) => (None, None),
            (Some(path), false) => (Some(golden::Expectations::open(path)?), None),
            (Some(path), true) => {
                let old = if path.exists() {
                    Some(golden::Expectations::open(path)?)
                } else {
                    None
                };
                (old, Some(golden::GoldenWriter::create(path)?))
            }
        };
        Ok(Run {
            plugin: plugin.metered(),
            options,
            on_event,
            started: Instant::now(),
            next_index: 0,
            counts: OutcomeCounts::default(),
            guest_calls: 0,
            isolated_reruns: 0,
            fuel_used: 0,
            instantiate: Duration::ZERO,
            peak_memory: 0,
            logs_dropped: 0,
            slowest: BinaryHeap::new(),
            expect,
            update,
        })
    }

    async fn chunk(&mut self, records: &[Value]) -> Result<(), PluginTestError> {
        match self.options.profile {
            None => {
                let report = self.plugin.map_with_report(records, None).await;
                self.account(&report);
                for outcome in &report.outcomes {
                    self.outcome(outcome)?;
                }
            }
            Some(keep) => {
                for record in records {
                    let report = self
                        .plugin
                        .map_with_report(std::slice::from_ref(record), None)
                        .await;
                    self.account(&report);
                    let Some(outcome) = report.outcomes.first() else {
                        continue;
                    };
                    self.slowest.push(SlowRecord {
                        index: self.next_index,
                        fuel: report.stats.fuel_used,
                        micros: duration_micros(report.stats.elapsed),
                        outcome: kind(outcome).into(),
                    });
                    if self.slowest.len() > keep {
                        self.slowest.pop();
                    }
                    self.outcome(outcome)?;
                }
            }
        }
        Ok(())
    }

    fn account(&mut self, report: &MapReport) {
        self.guest_calls += u64::from(report.stats.guest_calls);
        self.isolated_reruns += u64::from(report.stats.isolated_reruns);
        self.fuel_used += report.stats.fuel_used;
        self.instantiate += report.stats.instantiate;
        self.peak_memory = self.peak_memory.max(report.stats.peak_memory_bytes);
        self.logs_dropped += report.logs_dropped;
        for line in &report.logs {
            (self.on_event)(Event::Log(line));
        }
    }

    fn outcome(&mut self, outcome: &RecordOutcome) -> Result<(), PluginTestError> {
        let index = self.next_index;
        self.next_index += 1;
        match outcome {
            RecordOutcome::Change { .. } => self.counts.change += 1,
            RecordOutcome::Skip { .. } => self.counts.skip += 1,
            RecordOutcome::Reject { .. } => self.counts.reject += 1,
            RecordOutcome::Failed(_) => self.counts.failed += 1,
        }
        let lines = outcome_lines(index, outcome);
        if let Some(expect) = &mut self.expect {
            expect.check(index, &lines)?;
        }
        if let Some(update) = &mut self.update {
            update.write(&lines)?;
        }
        (self.on_event)(Event::Outcome {
            index,
            lines: &lines,
        });
        Ok(())
    }

    fn finish(self) -> Result<TestReport, PluginTestError> {
        let elapsed = self.started.elapsed();
        let expect = self.expect.map(golden::Expectations::finish).transpose()?;
        let updated = match self.update {
            Some(writer) => {
                writer.finish()?;
                self.options.expect.clone()
            }
            None => None,
        };
        let slowest = self.options.profile.map(|_| {
            let mut slowest = self.slowest.into_vec();
            slowest.sort();
            slowest
        });
        Ok(TestReport {
            plugin: self.plugin.info().id(),
            sha256: self.plugin.sha256().to_string(),
            records: self.next_index,
            outcomes: self.counts,
            guest_calls: self.guest_calls,
            isolated_reruns: self.isolated_reruns,
            fuel_used: self.fuel_used,
            instantiate_ms: self.instantiate.as_secs_f64() * 1000.0,
            peak_guest_memory_bytes: self.peak_memory,
            peak_host_rss_bytes: peak_rss_bytes(),
            elapsed_ms: elapsed.as_secs_f64() * 1000.0,
            micros_per_record: if self.next_index == 0 {
                0.0
            } else {
                elapsed.as_secs_f64() * 1e6 / self.next_index as f64
            },
            logs_dropped: self.logs_dropped,
            slowest,
            expect,
            updated,
        })
    }
}

fn duration_micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn kind(outcome: &RecordOutcome) -> &'static str {
    match outcome {
        RecordOutcome::Change { .. } => "change",
        RecordOutcome::Skip { .. } => "skip",
        RecordOutcome::Reject { .. } => "reject",
        RecordOutcome::Failed(_) => "failed",
    }
}

/// The outcome lines of one record. Each has `index` (the record's position,
/// from 0) and `outcome`:
/// - `change`: `externalId`, `operation` (`upsert`|`do-not-call`|`remove`),
///   `partial`, `callable`, `sourceUpdatedAt`, and `data` — the contact row
///   exactly as sent to Genesys (data columns, phone columns, `externalId`).
///   A source event touching several records gives one line per change, all
///   with the same `index` and a `change` ordinal (0, 1, ...).
/// - `skip`: `reason`.
/// - `reject`: `errors`, each `{field, code, message}` with `field` a JSON pointer.
/// - `failed`: `plugin`, `limit` (the limit or rule broken) and `message`.
pub fn outcome_lines(index: u64, outcome: &RecordOutcome) -> Vec<Value> {
    match outcome {
        RecordOutcome::Change { changes } => changes
            .iter()
            .enumerate()
            .map(|(k, c)| {
                let mut line = json!({
                    "index": index,
                    "outcome": "change",
                    "externalId": c.external_id,
                    "operation": c.operation.as_str(),
                    "partial": c.partial,
                    "callable": c.callable,
                    "sourceUpdatedAt": c.source_updated_at,
                    "data": c.row(),
                });
                if changes.len() > 1 {
                    line["change"] = json!(k);
                }
                line
            })
            .collect(),
        RecordOutcome::Skip { reason } => {
            vec![json!({"index": index, "outcome": "skip", "reason": reason})]
        }
        RecordOutcome::Reject { errors } => {
            vec![json!({"index": index, "outcome": "reject", "errors": errors})]
        }
        RecordOutcome::Failed(f) => vec![json!({
            "index": index,
            "outcome": "failed",
            "plugin": f.plugin,
            "limit": f.kind.as_str(),
            "message": f.message,
        })],
    }
}

/// The process's peak resident set from `/proc/self/status` (`VmHWM`), Linux only.
/// Hand-written: one line of a procfs file, not worth a dependency.
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}
