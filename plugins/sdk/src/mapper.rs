//! The trait a plugin implements, and the batch driver around it.
//!
//! The WIT `map` export takes a batch of JSON texts; plugins only ever see one
//! parsed record at a time. [`map_batch`] does the parsing and rejects text that
//! is not a JSON object with a field error at `""` (the whole record), so every
//! plugin treats garbage the same way.

use serde_json::Value;

use crate::{ActionError, FieldError, Host, MapOutcome, PluginInfo};

/// A CRM mapping: what the plugin is, and how one record becomes a change.
pub trait Mapper {
    /// Name, version, schemas, columns and actions. Called once at load.
    fn describe(host: &dyn Host) -> PluginInfo;

    /// Map one input record (always a JSON object) to an outcome. Must not panic:
    /// every problem with the record becomes a [`MapOutcome::Reject`] naming the
    /// field, or a [`MapOutcome::Skip`] with a reason.
    fn map_record(host: &dyn Host, record: &Value) -> MapOutcome;

    /// Map the records of one batch (one host `map` call), one outcome per
    /// record, in order. The default maps each with [`Mapper::map_record`];
    /// override it to do per-batch work once — e.g. read and parse the plugin
    /// configuration once per batch instead of once per record.
    fn map_records(host: &dyn Host, records: &[Value]) -> Vec<MapOutcome> {
        records
            .iter()
            .map(|record| Self::map_record(host, record))
            .collect()
    }

    /// Run one of the plugin's own data actions. The default knows none.
    fn action(host: &dyn Host, name: &str, input: &Value) -> Result<Value, ActionError> {
        let _ = (host, input);
        Err(ActionError {
            code: "unknown-action".into(),
            message: format!("this plugin offers no data action named {name:?}"),
        })
    }
}

/// Records parsed and handed to [`Mapper::map_records`] at a time: per-batch
/// work is shared by this many records, while a very large host call (a big
/// `--chunk`) does not hold every parsed record in guest memory at once.
const RECORDS_PER_PASS: usize = 256;

/// Map a batch of JSON texts: one outcome per record, in order. Texts that
/// are not JSON objects are rejected here; the objects go to
/// [`Mapper::map_records`] together, up to [`RECORDS_PER_PASS`] at a time.
pub fn map_batch<M: Mapper + ?Sized, S: AsRef<str>>(
    host: &dyn Host,
    records: &[S],
) -> Vec<MapOutcome> {
    let mut outcomes = Vec::with_capacity(records.len());
    for pass in records.chunks(RECORDS_PER_PASS) {
        map_pass::<M, S>(host, pass, &mut outcomes);
    }
    outcomes
}

fn map_pass<M: Mapper + ?Sized, S: AsRef<str>>(
    host: &dyn Host,
    records: &[S],
    outcomes: &mut Vec<MapOutcome>,
) {
    let mut objects = Vec::with_capacity(records.len());
    // For each record: parsed (its outcome comes from `map_records`) or its rejection.
    let mut rejected: Vec<Option<MapOutcome>> = Vec::with_capacity(records.len());
    for text in records {
        match serde_json::from_str::<Value>(text.as_ref()) {
            Ok(record @ Value::Object(_)) => {
                objects.push(record);
                rejected.push(None);
            }
            Ok(other) => rejected.push(Some(MapOutcome::Reject(vec![FieldError::new(
                "",
                "invalid-type",
                format!(
                    "a record must be a JSON object, got {}",
                    crate::json::type_name(&other)
                ),
            )]))),
            Err(e) => rejected.push(Some(MapOutcome::Reject(vec![FieldError::new(
                "",
                "invalid-type",
                format!("the record is not valid JSON: {e}"),
            )]))),
        }
    }
    let mut mapped = M::map_records(host, &objects).into_iter();
    drop(objects);
    outcomes.extend(
        rejected
            .into_iter()
            .filter_map(|rejection| rejection.or_else(|| mapped.next())),
    );
    // A `map_records` that returned too many outcomes keeps them, so the host
    // sees (and reports) the wrong count rather than a silently trimmed batch.
    outcomes.extend(mapped);
}

/// Run a data action on JSON input text, returning JSON output text.
pub fn run_action<M: Mapper + ?Sized>(
    host: &dyn Host,
    name: &str,
    input: &str,
) -> Result<String, ActionError> {
    let input: Value = serde_json::from_str(input).map_err(|e| ActionError {
        code: "bad-input".into(),
        message: format!("action {name:?}: input is not valid JSON: {e}"),
    })?;
    M::action(host, name, &input).map(|out| out.to_string())
}

#[cfg(all(test, feature = "native"))]
mod tests {
    use super::*;
    use crate::NativeHost;

    /// Counts its batches and skips every record with its `n`.
    struct Counting;

    thread_local! {
        static BATCHES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    impl Mapper for Counting {
        fn describe(_: &dyn Host) -> PluginInfo {
            unreachable!("not described in this test")
        }
        fn map_record(_: &dyn Host, record: &Value) -> MapOutcome {
            MapOutcome::Skip(record["n"].to_string())
        }
        fn map_records(host: &dyn Host, records: &[Value]) -> Vec<MapOutcome> {
            BATCHES.with(|b| b.set(b.get() + 1));
            records.iter().map(|r| Self::map_record(host, r)).collect()
        }
    }

    #[test]
    fn a_batch_maps_its_objects_together_and_keeps_every_record_in_its_place() {
        let texts = [r#"{"n":1}"#, "[2]", r#"{"n":3}"#, "not json", r#"{"n":5}"#];
        let outcomes = map_batch::<Counting, _>(&NativeHost::default(), &texts);
        assert_eq!(BATCHES.with(std::cell::Cell::get), 1);
        let many: Vec<String> = (0..600).map(|n| format!(r#"{{"n":{n}}}"#)).collect();
        let outcomes_many = map_batch::<Counting, _>(&NativeHost::default(), &many);
        assert_eq!(
            BATCHES.with(std::cell::Cell::get),
            1 + 3,
            "600 records in passes of 256"
        );
        assert!(
            outcomes_many
                .iter()
                .enumerate()
                .all(|(i, o)| *o == MapOutcome::Skip(i.to_string()))
        );
        let kinds: Vec<String> = outcomes
            .iter()
            .map(|o| match o {
                MapOutcome::Skip(n) => n.clone(),
                MapOutcome::Reject(e) => format!("reject {}", e[0].code),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(
            kinds,
            ["1", "reject invalid-type", "3", "reject invalid-type", "5"]
        );
    }
}
