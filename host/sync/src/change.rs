//! What flows through the engine: a mapped contact change as accepted from a plugin,
//! what it folds into (the contact as it should be in Genesys), and the terminal outcomes.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use dialsync_plugin_host::{EXTERNAL_ID_COLUMN, FieldError, Operation, Phone};

/// One mapped change for one CRM record (the plugin contract's `contact-change`).
///
/// The same fields as [`dialsync_plugin_host::ContactChange`], kept as the engine's own
/// type because its JSON (snake_case, optional fields defaulted) is the journal's stored
/// payload format, which `status`, the console and older journal files read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// Stable, safe id of the CRM record; also written to the `externalId` column.
    pub external_id: String,
    /// The CRM's own id of the record.
    pub source_id: String,
    /// When the CRM last changed the record; newest wins.
    pub source_updated_at: DateTime<Utc>,
    /// What to do.
    pub operation: Operation,
    /// Only the changed columns are present (Salesforce CDC updates).
    #[serde(default)]
    pub partial: bool,
    /// Column values (not the phone columns, not `externalId`).
    #[serde(default)]
    pub columns: BTreeMap<String, String>,
    /// Phone column values.
    #[serde(default)]
    pub phones: Vec<Phone>,
    /// Explicit callable flag, if the source sets one.
    #[serde(default)]
    pub callable: Option<bool>,
}

/// The contact as it should be in Genesys after a run of changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    /// All data columns, including `externalId` and the phone columns.
    pub data: BTreeMap<String, String>,
    /// Contact-level callable flag (false also marks each phone column uncallable).
    pub callable: bool,
}

/// What a key's changes fold into.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Target {
    /// The contact exists with this content.
    Present(Row),
    /// The CRM deleted it; the last known row is kept for a soft delete.
    Removed {
        /// The last known content, if any.
        last: Option<Row>,
    },
}

/// A key's folded changes could not be built without the contact's current content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeedsBase;

/// A contact's compliance state: do-not-call is a one-way door.
///
/// It closes on a do-not-call change from any side (a CRM field, the `set-do-not-call`
/// data action) and on any change whose `callable` is `Some(false)`. It reopens only on a
/// change newer than the do-not-call whose `callable` is `Some(true)` while the source's
/// previous statement for this contact was `Some(false)`: the source's own consent field
/// went from "do not call" back to "callable". `callable: None` says nothing about consent,
/// and an ordinary edit that repeats `Some(true)` never reopens it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compliance {
    /// The contact must not be called.
    pub do_not_call: bool,
    /// Source time of the newest do-not-call seen.
    pub do_not_call_at: Option<DateTime<Utc>>,
    /// The source's newest explicit consent statement (`callable`) for this contact.
    pub statement: Option<bool>,
    /// Source time of the newest consent restore (reopening).
    pub restored_at: Option<DateTime<Utc>>,
}

impl Compliance {
    /// Applies one change's compliance meaning (changes in source order).
    pub fn observe(&mut self, change: &Change) {
        let at = change.source_updated_at;
        let closes = change.operation == Operation::DoNotCall || change.callable == Some(false);
        if closes {
            self.do_not_call = true;
            self.do_not_call_at = Some(self.do_not_call_at.map_or(at, |t| t.max(at)));
        } else if change.callable == Some(true)
            && self.statement == Some(false)
            && self.do_not_call_at.is_none_or(|t| at > t)
        {
            self.do_not_call = false;
            self.restored_at = Some(at);
        }
        if let Some(statement) = change.callable {
            self.statement = Some(statement);
        }
    }
}

/// Whether a change is do-not-call work (it goes on the do-not-call lane).
pub fn is_do_not_call(change: &Change) -> bool {
    change.operation == Operation::DoNotCall || change.callable == Some(false)
}

/// Folds changes (already in source order) onto the last known content.
///
/// A full change replaces the data; a partial one merges into what is there; a remove
/// ends present (a tombstone); a later upsert re-creates. `compliance` is updated by each
/// change and decides the callable flag: a do-not-call contact stays uncallable through
/// edits, removes and re-creates until consent is restored (see [`Compliance`]). A
/// do-not-call change without content only changes compliance. A partial change with no
/// known content returns `NeedsBase` — sending only its columns would wipe the others —
/// unless a later full change or remove in the same fold supersedes it (a hard-deleted
/// contact re-created in full after an older partial edit is simply the full row).
pub fn fold<'a>(
    external_id: &str,
    base: Option<&Row>,
    compliance: &mut Compliance,
    changes: impl IntoIterator<Item = &'a Change>,
) -> Result<Target, NeedsBase> {
    let mut current: Option<Row> = base.cloned();
    let mut removed = false;
    // A partial change seen with nothing to merge into; cleared by a later full change or
    // remove, which make its columns irrelevant.
    let mut needs_base = false;
    for change in changes {
        compliance.observe(change);
        if change.operation == Operation::Remove {
            removed = true;
            needs_base = false;
            continue;
        }
        // A do-not-call change with no columns only flips the flags: it merges like a
        // partial one, and with nothing to merge into it only changes compliance.
        let flags_only = change.operation == Operation::DoNotCall
            && change.columns.is_empty()
            && change.phones.is_empty();
        let merges = change.partial || flags_only;
        let mut data = match (&current, merges) {
            (_, false) => BTreeMap::new(),
            (Some(row), true) if !removed => row.data.clone(),
            (_, true) if flags_only => continue,
            (_, true) => {
                needs_base = true;
                continue;
            }
        };
        data.extend(change.columns.iter().map(|(k, v)| (k.clone(), v.clone())));
        data.extend(
            change
                .phones
                .iter()
                .map(|p| (p.column.clone(), p.number.clone())),
        );
        data.insert(EXTERNAL_ID_COLUMN.to_string(), external_id.to_string());
        removed = false;
        if !merges {
            needs_base = false;
        }
        current = Some(Row {
            data,
            callable: true,
        });
    }
    if needs_base {
        return Err(NeedsBase);
    }
    if let Some(row) = current.as_mut() {
        row.callable = !compliance.do_not_call;
    }
    Ok(if removed {
        Target::Removed { last: current }
    } else {
        match current {
            Some(row) => Target::Present(row),
            // Nothing but compliance: there is no content to write.
            None => Target::Removed { last: None },
        }
    })
}

/// Completes a full row's phone columns: a phone column the row does not carry is written
/// empty (the source cleared it), and a contact with no number left is uncallable.
pub fn complete_phones<'a>(row: &mut Row, phone_columns: impl IntoIterator<Item = &'a String>) {
    let mut has_phone = false;
    for column in phone_columns {
        let value = row.data.entry(column.clone()).or_default();
        has_phone |= !value.trim().is_empty();
    }
    if !has_phone {
        row.callable = false;
    }
}

/// Every accepted change ends in exactly one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Written to Genesys (or, for a delete, deleted / made uncallable).
    Applied,
    /// The contact already had this content; nothing sent.
    Unchanged,
    /// Older than what was already applied; skipped.
    Stale,
    /// Folded into a newer change for the same record, which carried it.
    Superseded,
    /// The plugin chose not to sync the record.
    Skipped,
    /// Invalid (locally or by the API); carries field errors; never retried.
    Rejected,
    /// Failed persistently; carries the last error; replayable.
    DeadLettered,
}

impl Outcome {
    /// All outcomes, in report order.
    pub const ALL: [Outcome; 7] = [
        Outcome::Applied,
        Outcome::Unchanged,
        Outcome::Stale,
        Outcome::Superseded,
        Outcome::Skipped,
        Outcome::Rejected,
        Outcome::DeadLettered,
    ];

    /// The journal's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Unchanged => "unchanged",
            Outcome::Stale => "stale",
            Outcome::Superseded => "superseded",
            Outcome::Skipped => "skipped",
            Outcome::Rejected => "rejected",
            Outcome::DeadLettered => "dead-lettered",
        }
    }

    /// Parses the journal's name.
    pub fn parse(s: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

impl From<dialsync_plugin_host::ContactChange> for Change {
    fn from(c: dialsync_plugin_host::ContactChange) -> Change {
        Change {
            external_id: c.external_id,
            source_id: c.source_id,
            source_updated_at: c.source_updated_at,
            operation: c.operation,
            partial: c.partial,
            columns: c.columns,
            phones: c.phones,
            callable: c.callable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(op: Operation, partial: bool, cols: &[(&str, &str)]) -> Change {
        Change {
            external_id: "E1".into(),
            source_id: "s1".into(),
            source_updated_at: Utc::now(),
            operation: op,
            partial,
            columns: cols
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            phones: vec![],
            callable: None,
        }
    }

    fn present(t: Target) -> Row {
        match t {
            Target::Present(r) => r,
            other => panic!("expected present, got {other:?}"),
        }
    }

    #[test]
    fn full_then_partial_merges() {
        let a = change(Operation::Upsert, false, &[("first", "A"), ("last", "B")]);
        let b = change(Operation::Upsert, true, &[("last", "C")]);
        let row = present(fold("E1", None, &mut Compliance::default(), [&a, &b]).unwrap());
        assert_eq!(row.data["first"], "A");
        assert_eq!(row.data["last"], "C");
        assert_eq!(row.data[EXTERNAL_ID_COLUMN], "E1");
        assert!(row.callable);
    }

    #[test]
    fn partial_without_base_needs_base() {
        let b = change(Operation::Upsert, true, &[("last", "C")]);
        assert_eq!(
            fold("E1", None, &mut Compliance::default(), [&b]),
            Err(NeedsBase)
        );
        let base = Row {
            data: [("first".to_string(), "A".to_string())].into(),
            callable: true,
        };
        let row = present(fold("E1", Some(&base), &mut Compliance::default(), [&b]).unwrap());
        assert_eq!(row.data["first"], "A");
        assert_eq!(row.data["last"], "C");
    }

    #[test]
    fn a_later_full_change_or_remove_supersedes_a_partial_without_base() {
        let partial = change(Operation::Upsert, true, &[("last", "Old")]);
        let full = change(Operation::Upsert, false, &[("first", "A"), ("last", "B")]);
        let row = present(fold("E1", None, &mut Compliance::default(), [&partial, &full]).unwrap());
        assert_eq!(row.data["first"], "A");
        assert_eq!(row.data["last"], "B");
        let remove = change(Operation::Remove, false, &[]);
        assert!(matches!(
            fold("E1", None, &mut Compliance::default(), [&partial, &remove]).unwrap(),
            Target::Removed { last: None }
        ));
        // A partial after the full change still merges; one after a remove needs a base.
        let later = change(Operation::Upsert, true, &[("last", "C")]);
        let row = present(
            fold(
                "E1",
                None,
                &mut Compliance::default(),
                [&partial, &full, &later],
            )
            .unwrap(),
        );
        assert_eq!(row.data["last"], "C");
        assert_eq!(
            fold(
                "E1",
                None,
                &mut Compliance::default(),
                [&full, &remove, &later]
            ),
            Err(NeedsBase)
        );
    }

    #[test]
    fn dnc_is_sticky_through_edits_removes_and_recreates() {
        let mut a = change(Operation::Upsert, false, &[("first", "A")]);
        a.callable = Some(true);
        let d = change(Operation::DoNotCall, false, &[]);
        let p = change(Operation::Upsert, true, &[("first", "Z")]);
        let mut c = Compliance::default();
        let row = present(fold("E1", None, &mut c, [&a, &d, &p]).unwrap());
        assert!(!row.callable);
        assert_eq!(row.data["first"], "Z");
        // An ordinary edit repeating callable: true does not reopen (the data action's
        // do-not-call made no consent statement).
        assert!(!present(fold("E1", Some(&row), &mut c, [&a]).unwrap()).callable);
        let r = change(Operation::Remove, false, &[]);
        assert!(matches!(
            fold("E1", None, &mut Compliance::default(), [&a, &r]).unwrap(),
            Target::Removed { last: Some(_) }
        ));
        // Remove then re-create: still do-not-call.
        let row = present(fold("E1", Some(&row), &mut c, [&r, &a]).unwrap());
        assert!(!row.callable);
        // A remove and re-create without do-not-call is callable again.
        let row = present(fold("E1", None, &mut Compliance::default(), [&a, &r, &a]).unwrap());
        assert!(row.callable);
    }

    #[test]
    fn consent_restored_only_by_a_newer_flip_of_the_source_field() {
        let t0 = Utc::now();
        let at = |secs: i64| t0 + chrono::Duration::seconds(secs);
        let mut off = change(Operation::DoNotCall, false, &[("first", "A")]);
        off.callable = Some(false);
        off.source_updated_at = at(10);
        let mut on = change(Operation::Upsert, false, &[("first", "A")]);
        on.callable = Some(true);
        on.source_updated_at = at(20);
        let mut c = Compliance::default();
        let row = present(fold("E1", None, &mut c, [&off]).unwrap());
        assert!(!row.callable);
        let row = present(fold("E1", Some(&row), &mut c, [&on]).unwrap());
        assert!(
            row.callable,
            "the source's consent field went false -> true"
        );
        assert_eq!(c.restored_at, Some(at(20)));
        // A restore older than the do-not-call does not reopen it.
        let mut c = Compliance::default();
        let mut late_on = on.clone();
        late_on.source_updated_at = at(5);
        c.observe(&off);
        c.observe(&late_on);
        assert!(c.do_not_call);
    }

    #[test]
    fn cleared_phones_are_written_empty_and_make_the_contact_uncallable() {
        let phones = ["home".to_string(), "cell".to_string()];
        let mut row = Row {
            data: [("first".to_string(), "A".to_string())].into(),
            callable: true,
        };
        complete_phones(&mut row, &phones);
        assert_eq!(row.data["home"], "");
        assert_eq!(row.data["cell"], "");
        assert!(!row.callable);
        let mut row = Row {
            data: [("cell".to_string(), "+14155550100".to_string())].into(),
            callable: true,
        };
        complete_phones(&mut row, &phones);
        assert!(row.callable);
        assert_eq!(row.data["home"], "");
    }

    #[test]
    fn outcome_names_round_trip() {
        for o in Outcome::ALL {
            assert_eq!(Outcome::parse(o.as_str()), Some(o));
        }
    }
}
