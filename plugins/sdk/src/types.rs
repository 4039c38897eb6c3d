//! Rust-native mirrors of the WIT `types` interface.
//!
//! Mapping code works with these plain types on every target; the wasm glue
//! converts them to the generated binding types at the component boundary, so a
//! plugin's logic is unit-testable natively without any wasm machinery.

/// What a change asks Genesys Cloud to do with the contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Create the contact or update its columns.
    Upsert,
    /// Keep the contact but never dial it (CRM opt-out, inactive record).
    DoNotCall,
    /// The record was deleted in the CRM.
    Remove,
}

impl Operation {
    /// The WIT spelling: `upsert`, `do-not-call`, `remove`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Upsert => "upsert",
            Self::DoNotCall => "do-not-call",
            Self::Remove => "remove",
        }
    }
}

/// One phone column's value, normalised to E.164.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone {
    /// Contact-list column name.
    pub column: String,
    /// E.164, e.g. `+14155550100`.
    pub number: String,
}

/// A mapped change to one Genesys contact (see the WIT `contact-change`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactChange {
    /// Stable key from stable source attributes: `[A-Za-z0-9_]`, 1..=64 chars.
    pub external_id: String,
    /// The record's primary key in the source.
    pub source_id: String,
    /// When the source last changed the record, RFC 3339 UTC (`...Z`).
    pub source_updated_at: String,
    /// What to do with the contact.
    pub operation: Operation,
    /// True when `columns`/`phones` hold only what changed (merge, never blank).
    pub partial: bool,
    /// Data columns, name → value (phone columns go in `phones`).
    pub columns: Vec<(String, String)>,
    /// Phone columns with E.164 numbers.
    pub phones: Vec<Phone>,
    /// Whether the contact may be dialled; `None` leaves it to the operation.
    pub callable: Option<bool>,
}

impl ContactChange {
    /// The value of data column `name`, if the change carries it.
    pub fn column(&self, name: &str) -> Option<&str> {
        self.columns
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The E.164 number of phone column `name`, if the change carries it.
    pub fn phone(&self, name: &str) -> Option<&str> {
        self.phones
            .iter()
            .find(|p| p.column == name)
            .map(|p| p.number.as_str())
    }
}

/// One problem with one field of an input record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// JSON pointer into the input record (RFC 6901), e.g. `/sys_id`.
    pub field: String,
    /// `missing`, `invalid-phone`, `invalid-date`, `invalid-value`, `invalid-type`,
    /// `invalid-id`, `too-long`.
    pub code: String,
    /// Human-readable reason naming what was expected.
    pub message: String,
}

impl FieldError {
    /// A field error with any code.
    pub fn new(field: impl Into<String>, code: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            code: code.to_owned(),
            message: message.into(),
        }
    }

    /// `missing`: a required field is absent, null or empty.
    pub fn missing(field: impl Into<String>, what: &str) -> Self {
        let field = field.into();
        let message = format!("{field} is required: {what}");
        Self::new(field, "missing", message)
    }
}

/// What became of one input record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MapOutcome {
    /// The record maps to this change.
    Change(ContactChange),
    /// One source event touching several records: one change per record, in order.
    Changes(Vec<ContactChange>),
    /// Well-formed but nothing to sync (reason given).
    Skip(String),
    /// Malformed: every problem found, one per field.
    Reject(Vec<FieldError>),
}

impl MapOutcome {
    /// The outcome kind as the WIT names it: `change`, `changes`, `skip`, `reject`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Change(_) => "change",
            Self::Changes(_) => "changes",
            Self::Skip(_) => "skip",
            Self::Reject(_) => "reject",
        }
    }

    /// The changes this outcome carries (none for skip/reject).
    pub fn changes(&self) -> &[ContactChange] {
        match self {
            Self::Change(c) => std::slice::from_ref(c),
            Self::Changes(cs) => cs,
            Self::Skip(_) | Self::Reject(_) => &[],
        }
    }
}

/// A data action the plugin offers to Genesys Cloud Data Actions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionInfo {
    /// Action name, unique within the plugin.
    pub name: String,
    /// What the action does.
    pub description: String,
    /// JSON Schema (draft-04) of the flat input object.
    pub input_schema: String,
    /// JSON Schema (draft-04) of the success output object.
    pub output_schema: String,
}

/// What the plugin is and what it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginInfo {
    /// Short lowercase name, e.g. `servicenow`.
    pub name: String,
    /// Semantic version of the plugin.
    pub version: String,
    /// `servicenow`, `salesforce` or `custom`.
    pub source_kind: String,
    /// JSON Schema of one input record.
    pub input_schema: String,
    /// JSON Schema of the configuration object.
    pub config_schema: String,
    /// Every contact-list column written, including `externalId` and phone columns.
    pub columns: Vec<String>,
    /// The subset of `columns` that hold phone numbers.
    pub phone_columns: Vec<String>,
    /// Data actions offered in addition to the host's built-in ones.
    pub actions: Vec<ActionInfo>,
}

/// A failed plugin data action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionError {
    /// `bad-input`, `not-found`, `unavailable` or a plugin-specific code.
    pub code: String,
    /// Human-readable reason.
    pub message: String,
}
