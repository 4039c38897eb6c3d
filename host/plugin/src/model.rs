//! The host's view of what a plugin is and what it returns: typed, validated
//! versions of the WIT records, shared with the sync engine and the CLI.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The reserved contact-list column the host writes `external_id` into.
pub const EXTERNAL_ID_COLUMN: &str = "externalId";

/// What the change asks Genesys Cloud to do with the contact.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum Operation {
    /// Create the contact or update its columns.
    Upsert,
    /// Keep the contact but never dial it.
    DoNotCall,
    /// The record was deleted in the CRM.
    Remove,
}

impl Operation {
    /// The WIT / JSON spelling: `upsert`, `do-not-call` or `remove`.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Upsert => "upsert",
            Operation::DoNotCall => "do-not-call",
            Operation::Remove => "remove",
        }
    }
}

/// One phone column's value, E.164.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Phone {
    /// Contact-list column name.
    pub column: String,
    /// E.164 number, e.g. `+14155550100`.
    pub number: String,
}

/// A mapped, validated change to one Genesys contact.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ContactChange {
    /// Stable key, `[A-Za-z0-9_]{1,64}`.
    pub external_id: String,
    /// The record's primary key in the source CRM.
    pub source_id: String,
    /// When the source last changed the record.
    pub source_updated_at: DateTime<Utc>,
    /// What to do with the contact.
    pub operation: Operation,
    /// True when `columns` holds only the changed columns.
    pub partial: bool,
    /// Data columns (not phones, not `externalId`).
    pub columns: BTreeMap<String, String>,
    /// Phone columns, E.164.
    pub phones: Vec<Phone>,
    /// Whether the contact may be dialled; `None` leaves it to the operation.
    pub callable: Option<bool>,
}

impl ContactChange {
    /// The contact row exactly as it is sent to Genesys Cloud: the data
    /// columns, the phone columns and the reserved `externalId` column.
    pub fn row(&self) -> BTreeMap<String, String> {
        let mut row = self.columns.clone();
        for phone in &self.phones {
            row.insert(phone.column.clone(), phone.number.clone());
        }
        row.insert(EXTERNAL_ID_COLUMN.to_string(), self.external_id.clone());
        row
    }
}

/// One problem with one field of an input record (or of a plugin's output).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// JSON pointer (RFC 6901) into the record, e.g. `/sys_id`; empty for the whole record.
    pub field: String,
    /// Machine-readable code (`missing`, `invalid-phone`, `schema`, ...).
    pub code: String,
    /// Human-readable reason.
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let field = if self.field.is_empty() {
            "/"
        } else {
            &self.field
        };
        write!(f, "{field}: {} ({})", self.message, self.code)
    }
}

/// Which limit or contract rule a failed plugin call broke.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum FailureKind {
    /// The guest trapped (panic, `unreachable`, bad memory access, ...).
    Trap,
    /// The guest used up its fuel budget (e.g. an infinite loop).
    OutOfFuel,
    /// The guest tried to grow its memory past the cap.
    MemoryLimit,
    /// The call ran past its wall-clock deadline.
    Deadline,
    /// The call returned more bytes than allowed.
    OutputTooLarge,
    /// The call returned a different number of outcomes than records.
    WrongOutcomeCount,
    /// A returned change broke the contact-change contract.
    InvalidOutput,
    /// The record was in a failed batch and the isolation budget ran out
    /// before it could be re-run alone.
    NotIsolated,
    /// Every plugin instance slot was in use (too many concurrent calls).
    PoolExhausted,
}

impl FailureKind {
    /// Short kebab-case name, as serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Trap => "trap",
            FailureKind::OutOfFuel => "out-of-fuel",
            FailureKind::MemoryLimit => "memory-limit",
            FailureKind::Deadline => "deadline",
            FailureKind::OutputTooLarge => "output-too-large",
            FailureKind::WrongOutcomeCount => "wrong-outcome-count",
            FailureKind::InvalidOutput => "invalid-output",
            FailureKind::NotIsolated => "not-isolated",
            FailureKind::PoolExhausted => "pool-exhausted",
        }
    }

    /// Whether the same record may well map on a later try: the call ran out of time,
    /// found no free instance slot, or was never re-run alone. The record itself is not
    /// known to be at fault, so a sender must be asked to retry rather than told it was
    /// handled.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            FailureKind::Deadline | FailureKind::PoolExhausted | FailureKind::NotIsolated
        )
    }
}

/// A plugin failure for one record: which plugin, which limit, what happened.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct PluginFailure {
    /// `name@version` of the plugin.
    pub plugin: String,
    /// The limit or rule broken.
    pub kind: FailureKind,
    /// Details, e.g. the trap message or the schema errors.
    pub message: String,
}

impl fmt::Display for PluginFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "plugin {} failed ({}): {}",
            self.plugin,
            self.kind.as_str(),
            self.message
        )
    }
}

/// What became of one input record.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "kebab-case", tag = "outcome")]
pub enum RecordOutcome {
    /// The record maps to these changes (one for an ordinary record; several
    /// for one source event that touches several records). Never empty.
    Change {
        /// The changes, in the plugin's order.
        changes: Vec<ContactChange>,
    },
    /// Well-formed, nothing to sync.
    Skip {
        /// Why.
        reason: String,
    },
    /// The record failed the plugin's input schema or the plugin rejected it.
    Reject {
        /// Every problem found.
        errors: Vec<FieldError>,
    },
    /// The plugin failed on this record (trap, limit, garbage output).
    Failed(PluginFailure),
}

/// A data action the plugin offers.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ActionInfo {
    /// Action name.
    pub name: String,
    /// What it does.
    pub description: String,
    /// JSON Schema (draft-04) of the input object.
    pub input_schema: serde_json::Value,
    /// JSON Schema (draft-04) of the output object.
    pub output_schema: serde_json::Value,
}

/// What a plugin is and what it needs, from its `describe` export.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PluginInfo {
    /// Short lowercase name, e.g. `servicenow`.
    pub name: String,
    /// Semantic version.
    pub version: String,
    /// `servicenow`, `salesforce` or `custom`.
    pub source_kind: String,
    /// JSON Schema of one input record.
    pub input_schema: serde_json::Value,
    /// JSON Schema of the plugin's configuration object.
    pub config_schema: serde_json::Value,
    /// Every contact-list column the plugin may write, including `externalId`.
    pub columns: Vec<String>,
    /// The subset of `columns` holding phone numbers.
    pub phone_columns: Vec<String>,
    /// Data actions offered.
    pub actions: Vec<ActionInfo>,
}

impl PluginInfo {
    /// `name@version`, as used in logs and failures.
    pub fn id(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }
}

/// One line a plugin logged (through `host.log` or its stdout/stderr).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// `trace`, `debug`, `info`, `warn`, `error`, or `stdout` / `stderr`.
    pub level: String,
    /// The message (truncated to 4 KiB).
    pub message: String,
}
