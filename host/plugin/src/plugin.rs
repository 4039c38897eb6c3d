//! A loaded plugin: its description, compiled schemas and the per-call
//! machinery for `map` and `action` (fresh store per call, limits, failure
//! classification, isolating the culprit records of a failed batch).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonschema::Validator;
use serde_json::Value;
use wasmtime::Store;

use crate::bindings::dialsync::plugin::types as wit;
use crate::bindings::{Mapper, MapperPre};
use crate::error::{ActionError, PluginError};
use crate::model::{
    ActionInfo, ContactChange, FailureKind, FieldError, LogLine, Operation, Phone, PluginFailure,
    PluginInfo, RecordOutcome,
};
use crate::port::GenesysPort;
use crate::runtime::{Metering, Runtime};
use crate::state::CallState;
use crate::{utc_time, validate};

/// Extra wall-clock grace on top of the epoch deadline before the host drops a
/// call outright (covers a guest blocked inside a host call).
const DEADLINE_GRACE: Duration = Duration::from_secs(1);
/// Fuel for `describe` and `action` calls, in records' worth.
const FIXED_CALL_RECORDS: u64 = 4;
/// Batches of more records than this run on the unmetered variant of the
/// plugin (see [`Metering`]); smaller calls and isolation re-runs are metered.
pub const MAX_METERED_BATCH: usize = 64;

/// A plugin ready to map records. Cheap to clone.
#[derive(Clone)]
pub struct LoadedPlugin {
    inner: Arc<Inner>,
    /// Meter every call, big batches too (see [`LoadedPlugin::metered`]).
    always_metered: bool,
}

struct Inner {
    runtime: Runtime,
    pre: MapperPre<CallState>,
    /// The component bytes, kept to compile the unmetered variant the first
    /// time a big batch needs it (`None` when fuel is off: `pre` is unmetered).
    wasm: Option<Arc<[u8]>>,
    sha256: String,
    info: PluginInfo,
    id: String,
    input: Validator,
    actions: BTreeMap<String, Validator>,
    declared: validate::DeclaredColumns,
    config: Arc<serde_json::Map<String, Value>>,
}

/// Measurements of one `map` (all guest calls it took, including isolation re-runs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallStats {
    /// Guest invocations (1, plus one per isolated re-run).
    pub guest_calls: u32,
    /// Of those, the big batches run without fuel metering (their fuel is not
    /// in `fuel_used`; the wall-clock deadline bounds them).
    pub unmetered_calls: u32,
    /// Records re-run one by one after their batch failed.
    pub isolated_reruns: u32,
    /// Fuel consumed across all invocations.
    pub fuel_used: u64,
    /// Largest linear-memory footprint of any invocation, in bytes.
    pub peak_memory_bytes: usize,
    /// Time spent instantiating the guest (a fresh instance per invocation).
    pub instantiate: Duration,
    /// Wall-clock time of the whole `map`.
    pub elapsed: Duration,
}

/// The outcomes of a `map` plus what it cost and what the plugin logged.
#[derive(Debug, Clone)]
pub struct MapReport {
    /// One outcome per input record, in order.
    pub outcomes: Vec<RecordOutcome>,
    /// Fuel, memory, time.
    pub stats: CallStats,
    /// The plugin's log lines (host.log, stdout, stderr), bounded.
    pub logs: Vec<LogLine>,
    /// Log lines beyond the bound that were dropped.
    pub logs_dropped: usize,
}

/// Why one guest invocation produced nothing usable.
struct CallFailure {
    kind: FailureKind,
    message: String,
}

impl LoadedPlugin {
    pub(crate) async fn new(
        runtime: Runtime,
        pre: MapperPre<CallState>,
        wasm: &[u8],
        sha256: String,
        config: Value,
    ) -> Result<Self, PluginError> {
        let Described {
            info,
            input,
            actions,
        } = describe(&runtime, &pre, &sha256, Arc::default()).await?;
        let id = info.id();
        let config_validator = validate::compile(&info.config_schema).map_err(|message| {
            PluginError::InvalidSchema {
                plugin: id.clone(),
                which: "config schema".into(),
                message,
            }
        })?;
        let config = match config {
            Value::Null => Value::Object(Default::default()),
            other => other,
        };
        let errors = validate::errors(&config_validator, &config);
        if !errors.is_empty() {
            return Err(PluginError::InvalidConfig { plugin: id, errors });
        }
        let Value::Object(config) = config else {
            return Err(PluginError::InvalidConfig {
                plugin: id,
                errors: vec![FieldError {
                    field: String::new(),
                    code: "invalid-type".into(),
                    message: "the plugin configuration must be a JSON object".into(),
                }],
            });
        };
        // A configurable plugin describes its columns from its configuration
        // (custom-crm's `columns`/`phone_fields`): describe again with it. The
        // first description (without one) only supplied the config schema.
        let config = Arc::new(config);
        let Described {
            info,
            input,
            actions,
        } = if config.is_empty() {
            Described {
                info,
                input,
                actions,
            }
        } else {
            describe(&runtime, &pre, &sha256, Arc::clone(&config)).await?
        };
        let id = info.id();
        let declared = validate::DeclaredColumns::new(&info);
        let wasm = runtime.has_unmetered_lane().then(|| Arc::from(wasm));
        Ok(LoadedPlugin {
            always_metered: false,
            inner: Arc::new(Inner {
                runtime,
                pre,
                wasm,
                sha256,
                id,
                info,
                input,
                actions,
                declared,
                config,
            }),
        })
    }

    /// What the plugin said about itself.
    pub fn info(&self) -> &PluginInfo {
        &self.inner.info
    }

    /// Lowercase hex sha256 of the component bytes.
    pub fn sha256(&self) -> &str {
        &self.inner.sha256
    }

    /// This plugin with every call fuel-metered, big batches included: for
    /// reports that give fuel per record (`plugin test`, the console). Mapping
    /// for delivery runs batches of more than [`MAX_METERED_BATCH`] records
    /// unmetered, which is about 12 % faster.
    pub fn metered(&self) -> LoadedPlugin {
        LoadedPlugin {
            inner: Arc::clone(&self.inner),
            always_metered: true,
        }
    }

    /// Maps records; one outcome per record, in order.
    pub async fn map(
        &self,
        records: &[Value],
        genesys: Option<Arc<dyn GenesysPort>>,
    ) -> Vec<RecordOutcome> {
        self.map_with_report(records, genesys).await.outcomes
    }

    /// Like [`LoadedPlugin::map`], plus fuel, memory, time and the plugin's logs.
    ///
    /// Records failing the input schema are rejected without reaching the
    /// guest. If the guest call fails as a whole (trap, limit, wrong outcome
    /// count, oversized output), its records are re-run one by one (within
    /// `Limits::max_isolation_reruns`) so only the culprits fail.
    pub async fn map_with_report(
        &self,
        records: &[Value],
        genesys: Option<Arc<dyn GenesysPort>>,
    ) -> MapReport {
        let started = Instant::now();
        let mut report = MapReport {
            outcomes: Vec::new(),
            stats: CallStats::default(),
            logs: Vec::new(),
            logs_dropped: 0,
        };
        let mut outcomes: Vec<Option<RecordOutcome>> = vec![None; records.len()];
        // The records that pass the input schema: their indices, and their JSON
        // text as the guest receives it.
        let mut indices: Vec<usize> = Vec::with_capacity(records.len());
        let mut texts: Vec<String> = Vec::with_capacity(records.len());
        for (index, record) in records.iter().enumerate() {
            let errors = validate::errors(&self.inner.input, record);
            if errors.is_empty() {
                indices.push(index);
                texts.push(record.to_string());
            } else {
                outcomes[index] = Some(RecordOutcome::Reject { errors });
            }
        }

        if !texts.is_empty() {
            let (metering, pre) = self.batch_variant(texts.len()).await;
            match self
                .invoke_map(metering, &pre, &texts, &genesys, &mut report)
                .await
            {
                Ok(mapped) => {
                    for (index, outcome) in indices.iter().zip(mapped) {
                        outcomes[*index] = Some(outcome);
                    }
                }
                Err(failure) if texts.len() == 1 => {
                    outcomes[indices[0]] = Some(self.failed(failure.kind, failure.message));
                }
                Err(failure) => {
                    self.isolate(
                        &indices,
                        &texts,
                        failure,
                        &genesys,
                        &mut report,
                        &mut outcomes,
                    )
                    .await
                }
            }
        }

        report.outcomes = outcomes
            .into_iter()
            .map(|o| {
                o.unwrap_or_else(|| {
                    self.failed(FailureKind::WrongOutcomeCount, "no outcome".into())
                })
            })
            .collect();
        report.stats.elapsed = started.elapsed();
        report
    }

    /// The compiled variant a batch of `records` runs on: the unmetered one for
    /// a big batch (compiled the first time), else the metered one. A failed
    /// unmetered compile is logged and the batch runs metered.
    async fn batch_variant(&self, records: usize) -> (Metering, MapperPre<CallState>) {
        let metered = (Metering::Fuel, self.inner.pre.clone());
        let Some(wasm) = &self.inner.wasm else {
            return metered;
        };
        if self.always_metered || records <= MAX_METERED_BATCH {
            return metered;
        }
        match (self.inner.runtime)
            .unmetered_pre(&self.inner.sha256, Arc::clone(wasm))
            .await
        {
            Ok(pre) => (Metering::DeadlineOnly, pre),
            Err(e) => {
                tracing::warn!(
                    plugin = %self.inner.id,
                    error = %e,
                    "could not compile the unmetered variant; big batches run fuel-metered"
                );
                metered
            }
        }
    }

    /// Re-runs a failed batch's records one at a time. Stops after
    /// `max_isolation_reruns` records, after two deadline failures, or after
    /// twice the call deadline; records not re-run fail as `not-isolated`.
    async fn isolate(
        &self,
        indices: &[usize],
        texts: &[String],
        batch_failure: CallFailure,
        genesys: &Option<Arc<dyn GenesysPort>>,
        report: &mut MapReport,
        outcomes: &mut [Option<RecordOutcome>],
    ) {
        let limits = self.inner.runtime.limits();
        let budget_until = Instant::now() + limits.deadline * 2;
        let mut deadline_failures = 0;
        for (n, (index, text)) in indices.iter().zip(texts).enumerate() {
            if n >= limits.max_isolation_reruns
                || deadline_failures >= 2
                || Instant::now() >= budget_until
            {
                outcomes[*index] = Some(self.failed(
                    FailureKind::NotIsolated,
                    format!(
                        "its batch of {} records failed ({}: {}) and the re-run budget ran out before this record",
                        texts.len(),
                        batch_failure.kind.as_str(),
                        batch_failure.message
                    ),
                ));
                continue;
            }
            report.stats.isolated_reruns += 1;
            let outcome = match self
                .invoke_map(
                    Metering::Fuel,
                    &self.inner.pre,
                    std::slice::from_ref(text),
                    genesys,
                    report,
                )
                .await
            {
                Ok(mut one) => one.pop().unwrap_or_else(|| {
                    self.failed(FailureKind::WrongOutcomeCount, "no outcome".into())
                }),
                Err(failure) => {
                    if failure.kind == FailureKind::Deadline {
                        deadline_failures += 1;
                    }
                    self.failed(failure.kind, failure.message)
                }
            };
            outcomes[*index] = Some(outcome);
        }
    }

    /// One guest `map` call in a fresh store of the given variant.
    async fn invoke_map(
        &self,
        metering: Metering,
        pre: &MapperPre<CallState>,
        texts: &[String],
        genesys: &Option<Arc<dyn GenesysPort>>,
        report: &mut MapReport,
    ) -> Result<Vec<RecordOutcome>, CallFailure> {
        let limits = self.inner.runtime.limits();
        let fuel = limits
            .fuel_per_record
            .saturating_mul(texts.len() as u64 + 1);
        let mut store = self.inner.runtime.store(
            metering,
            self.inner.id.clone(),
            fuel,
            Arc::clone(&self.inner.config),
            genesys.clone(),
        );
        let mut instantiate = Duration::ZERO;
        let result = tokio::time::timeout(limits.deadline + DEADLINE_GRACE, async {
            let started = Instant::now();
            let mapper: Mapper = pre.instantiate_async(&mut store).await?;
            instantiate = started.elapsed();
            mapper.call_map(&mut store, texts).await
        })
        .await;
        report.stats.guest_calls += 1;
        report.stats.instantiate += instantiate;
        if metering == Metering::DeadlineOnly {
            report.stats.unmetered_calls += 1;
        } else {
            report.stats.fuel_used += fuel.saturating_sub(store.get_fuel().unwrap_or(0));
        }
        self.collect(&mut store, report);
        let raw = match result {
            Ok(Ok(raw)) => raw,
            Ok(Err(e)) => return Err(classify(&store, &e, limits.max_memory_bytes)),
            Err(_) => {
                return Err(CallFailure {
                    kind: FailureKind::Deadline,
                    message: format!("no answer within {:?}", limits.deadline + DEADLINE_GRACE),
                });
            }
        };
        if raw.len() != texts.len() {
            return Err(CallFailure {
                kind: FailureKind::WrongOutcomeCount,
                message: format!(
                    "returned {} outcomes for {} records",
                    raw.len(),
                    texts.len()
                ),
            });
        }
        let bytes: usize = raw.iter().map(outcome_bytes).sum();
        if bytes > limits.max_output_bytes {
            return Err(CallFailure {
                kind: FailureKind::OutputTooLarge,
                message: format!(
                    "returned {bytes} bytes, more than the {} byte limit",
                    limits.max_output_bytes
                ),
            });
        }
        Ok(raw.into_iter().map(|o| self.convert_outcome(o)).collect())
    }

    fn collect(&self, store: &mut Store<CallState>, report: &mut MapReport) {
        let state = store.data_mut();
        state.collect_stdio();
        report.stats.peak_memory_bytes = report.stats.peak_memory_bytes.max(state.limiter.peak);
        report.logs_dropped += state.logs_dropped;
        for line in state.logs.drain(..) {
            if report.logs.len() < crate::state::MAX_LOG_LINES {
                report.logs.push(line);
            } else {
                report.logs_dropped += 1;
            }
        }
    }

    fn failed(&self, kind: FailureKind, message: String) -> RecordOutcome {
        RecordOutcome::Failed(PluginFailure {
            plugin: self.inner.id.clone(),
            kind,
            message,
        })
    }

    fn convert_outcome(&self, outcome: wit::MapOutcome) -> RecordOutcome {
        let changes = match outcome {
            wit::MapOutcome::Skip(reason) => return RecordOutcome::Skip { reason },
            wit::MapOutcome::Reject(errors) if errors.is_empty() => {
                return RecordOutcome::Reject {
                    errors: vec![FieldError {
                        field: String::new(),
                        code: "rejected".into(),
                        message: format!(
                            "plugin {} rejected the record without saying why",
                            self.inner.id
                        ),
                    }],
                };
            }
            wit::MapOutcome::Reject(errors) => {
                return RecordOutcome::Reject {
                    errors: errors
                        .into_iter()
                        .map(|e| FieldError {
                            field: e.field,
                            code: e.code,
                            message: e.message,
                        })
                        .collect(),
                };
            }
            wit::MapOutcome::Change(c) => vec![c],
            wit::MapOutcome::Changes(cs) if cs.is_empty() => {
                return self.failed(
                    FailureKind::InvalidOutput,
                    "returned an empty list of changes".into(),
                );
            }
            wit::MapOutcome::Changes(cs) => cs,
        };
        let mut converted = Vec::with_capacity(changes.len());
        let mut problems = Vec::new();
        for (i, raw) in changes.into_iter().enumerate() {
            let prefix = if converted.len() + problems.len() == 0 && i == 0 {
                String::new()
            } else {
                format!("change {i}: ")
            };
            match convert_change(raw) {
                Ok(change) => {
                    let found = validate::check_change(&self.inner.declared, &change);
                    if found.is_empty() {
                        converted.push(change);
                    } else {
                        problems.extend(found.into_iter().map(|p| format!("{prefix}{p}")));
                    }
                }
                Err(found) => problems.extend(found.into_iter().map(|p| format!("{prefix}{p}"))),
            }
        }
        if problems.is_empty() {
            RecordOutcome::Change { changes: converted }
        } else {
            self.failed(
                FailureKind::InvalidOutput,
                format!("invalid contact change: {}", problems.join("; ")),
            )
        }
    }

    /// Runs one of the plugin's data actions on a JSON object.
    pub async fn action(
        &self,
        name: &str,
        input: Value,
        genesys: Option<Arc<dyn GenesysPort>>,
    ) -> Result<Value, ActionError> {
        let Some(validator) = self.inner.actions.get(name) else {
            return Err(ActionError {
                code: "not-found".into(),
                message: format!("plugin {} has no action `{name}`", self.inner.id),
            });
        };
        let errors = validate::errors(validator, &input);
        if !errors.is_empty() {
            return Err(ActionError {
                code: "bad-input".into(),
                message: errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            });
        }
        let limits = self.inner.runtime.limits();
        let fuel = limits.fuel_per_record.saturating_mul(FIXED_CALL_RECORDS);
        let mut store = self.inner.runtime.store(
            Metering::Fuel,
            self.inner.id.clone(),
            fuel,
            Arc::clone(&self.inner.config),
            genesys,
        );
        let input = input.to_string();
        let result = tokio::time::timeout(limits.deadline + DEADLINE_GRACE, async {
            let mapper = self.inner.pre.instantiate_async(&mut store).await?;
            mapper.call_action(&mut store, name, &input).await
        })
        .await;
        store.data_mut().collect_stdio();
        let plugin_failed = |f: CallFailure| ActionError {
            code: "plugin-failed".into(),
            message: PluginFailure {
                plugin: self.inner.id.clone(),
                kind: f.kind,
                message: f.message,
            }
            .to_string(),
        };
        let output = match result {
            Ok(Ok(Ok(output))) => output,
            Ok(Ok(Err(e))) => {
                return Err(ActionError {
                    code: e.code,
                    message: e.message,
                });
            }
            Ok(Err(e)) => return Err(plugin_failed(classify(&store, &e, limits.max_memory_bytes))),
            Err(_) => {
                return Err(plugin_failed(CallFailure {
                    kind: FailureKind::Deadline,
                    message: "the action did not return in time".into(),
                }));
            }
        };
        if output.len() > limits.max_output_bytes {
            return Err(plugin_failed(CallFailure {
                kind: FailureKind::OutputTooLarge,
                message: format!(
                    "returned {} bytes, more than the {} byte limit",
                    output.len(),
                    limits.max_output_bytes
                ),
            }));
        }
        match serde_json::from_str::<Value>(&output) {
            Ok(v @ Value::Object(_)) => Ok(v),
            Ok(_) | Err(_) => Err(plugin_failed(CallFailure {
                kind: FailureKind::InvalidOutput,
                message: "the action output is not a JSON object".into(),
            })),
        }
    }
}

/// A plugin's validated self-description with its compiled schemas.
pub(crate) struct Described {
    pub(crate) info: PluginInfo,
    input: Validator,
    actions: BTreeMap<String, Validator>,
}

/// Calls `describe` in a fresh store and checks everything it returned: the
/// JSON of each schema, that each is a valid JSON Schema, and the columns.
pub(crate) async fn describe(
    runtime: &Runtime,
    pre: &MapperPre<CallState>,
    sha256: &str,
    config: Arc<serde_json::Map<String, Value>>,
) -> Result<Described, PluginError> {
    let fuel = runtime
        .limits()
        .fuel_per_record
        .saturating_mul(FIXED_CALL_RECORDS);
    let mut store = runtime.store(
        Metering::Fuel,
        format!("sha256:{}", &sha256[..12]),
        fuel,
        config,
        None,
    );
    let raw = match tokio::time::timeout(runtime.limits().deadline + DEADLINE_GRACE, async {
        let mapper = pre.instantiate_async(&mut store).await?;
        mapper.call_describe(&mut store).await
    })
    .await
    {
        Ok(Ok(raw)) => raw,
        Ok(Err(e)) => {
            let f = classify(&store, &e, runtime.limits().max_memory_bytes);
            return Err(PluginError::Describe(format!(
                "{}: {}",
                f.kind.as_str(),
                f.message
            )));
        }
        Err(_) => {
            return Err(PluginError::Describe(
                "deadline: describe did not return in time".into(),
            ));
        }
    };
    let info = convert_info(raw)?;
    let id = info.id();
    validate::check_info(&info).map_err(|message| PluginError::InvalidInfo {
        plugin: id.clone(),
        message,
    })?;
    let input =
        validate::compile(&info.input_schema).map_err(|message| PluginError::InvalidSchema {
            plugin: id.clone(),
            which: "input schema".into(),
            message,
        })?;
    validate::compile(&info.config_schema).map_err(|message| PluginError::InvalidSchema {
        plugin: id.clone(),
        which: "config schema".into(),
        message,
    })?;
    let mut actions = BTreeMap::new();
    for action in &info.actions {
        let v = validate::compile(&action.input_schema).map_err(|message| {
            PluginError::InvalidSchema {
                plugin: id.clone(),
                which: format!("action `{}` input schema", action.name),
                message,
            }
        })?;
        validate::compile(&action.output_schema).map_err(|message| PluginError::InvalidSchema {
            plugin: id.clone(),
            which: format!("action `{}` output schema", action.name),
            message,
        })?;
        actions.insert(action.name.clone(), v);
    }
    Ok(Described {
        info,
        input,
        actions,
    })
}

/// Names the limit a failed call hit, from the store's flags and the trap code.
fn classify(store: &Store<CallState>, error: &wasmtime::Error, max_memory: usize) -> CallFailure {
    let state = store.data();
    if state.limiter.denied {
        return CallFailure {
            kind: FailureKind::MemoryLimit,
            message: format!("tried to grow memory past the {} MiB cap", max_memory >> 20),
        };
    }
    if error
        .downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
        .is_some()
    {
        return CallFailure {
            kind: FailureKind::PoolExhausted,
            message: format!("{error}"),
        };
    }
    let trap = error.downcast_ref::<wasmtime::Trap>().copied();
    if state.deadline_hit || trap == Some(wasmtime::Trap::Interrupt) {
        return CallFailure {
            kind: FailureKind::Deadline,
            message: "ran past its wall-clock deadline".into(),
        };
    }
    if trap == Some(wasmtime::Trap::OutOfFuel) {
        return CallFailure {
            kind: FailureKind::OutOfFuel,
            message: "used up its fuel budget".into(),
        };
    }
    let mut message = format!("{error:#}");
    if message.len() > 2000 {
        let mut end = 2000;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
    }
    CallFailure {
        kind: FailureKind::Trap,
        message,
    }
}

fn outcome_bytes(outcome: &wit::MapOutcome) -> usize {
    fn change(c: &wit::ContactChange) -> usize {
        c.external_id.len()
            + c.source_id.len()
            + c.source_updated_at.len()
            + c.columns
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>()
            + c.phones
                .iter()
                .map(|p| p.column.len() + p.number.len())
                .sum::<usize>()
    }
    match outcome {
        wit::MapOutcome::Change(c) => change(c),
        wit::MapOutcome::Changes(cs) => cs.iter().map(change).sum(),
        wit::MapOutcome::Skip(reason) => reason.len(),
        wit::MapOutcome::Reject(errors) => errors
            .iter()
            .map(|e| e.field.len() + e.code.len() + e.message.len())
            .sum(),
    }
}

fn convert_change(raw: wit::ContactChange) -> Result<ContactChange, Vec<String>> {
    let mut problems = Vec::new();
    let source_updated_at = match utc_time::parse_utc(&raw.source_updated_at) {
        Ok(at) => Some(at),
        Err(why) => {
            problems.push(format!("/sourceUpdatedAt: {why}"));
            None
        }
    };
    // Sorted first, the map is built in bulk rather than by one search per
    // column; a name given twice sits next to its twin.
    let mut pairs = raw.columns;
    pairs.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    for twins in pairs.windows(2).filter(|w| w[0].0 == w[1].0) {
        problems.push(format!("/columns/{}: column given twice", twins[0].0));
    }
    let columns: BTreeMap<String, String> = pairs.into_iter().collect();
    let operation = match raw.operation {
        wit::Operation::Upsert => Operation::Upsert,
        wit::Operation::DoNotCall => Operation::DoNotCall,
        wit::Operation::Remove => Operation::Remove,
    };
    match source_updated_at {
        Some(source_updated_at) if problems.is_empty() => Ok(ContactChange {
            external_id: raw.external_id,
            source_id: raw.source_id,
            source_updated_at,
            operation,
            partial: raw.partial,
            columns,
            phones: raw
                .phones
                .into_iter()
                .map(|p| Phone {
                    column: p.column,
                    number: p.number,
                })
                .collect(),
            callable: raw.callable,
        }),
        _ => Err(problems),
    }
}

fn convert_info(raw: wit::PluginInfo) -> Result<PluginInfo, PluginError> {
    let plugin = format!("{}@{}", raw.name, raw.version);
    let parse = |which: &str, text: &str| {
        serde_json::from_str::<Value>(text).map_err(|e| PluginError::InvalidInfo {
            plugin: plugin.clone(),
            message: format!("its {which} is not JSON: {e}"),
        })
    };
    let mut actions = Vec::new();
    for a in raw.actions {
        actions.push(ActionInfo {
            input_schema: parse(
                &format!("action `{}` input schema", a.name),
                &a.input_schema,
            )?,
            output_schema: parse(
                &format!("action `{}` output schema", a.name),
                &a.output_schema,
            )?,
            name: a.name,
            description: a.description,
        });
    }
    Ok(PluginInfo {
        input_schema: parse("input schema", &raw.input_schema)?,
        config_schema: parse("config schema", &raw.config_schema)?,
        name: raw.name,
        version: raw.version,
        source_kind: raw.source_kind,
        columns: raw.columns,
        phone_columns: raw.phone_columns,
        actions,
    })
}
