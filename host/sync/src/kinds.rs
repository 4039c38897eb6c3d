//! The journal's typed column values — a change's state, its lane, its outcome and its
//! operation — and how each is stored. The stored spellings never change (`pending`,
//! `do-not-call`, `dead-lettered`, lane `0`/`1`): raw SQL readers such as the console and
//! journal files written by older versions rely on them.

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use serde::Serialize;

use crate::change::{Change, Operation, Outcome, is_do_not_call};

/// Where a change is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeState {
    /// Waiting to be claimed (possibly until a retry time).
    Pending,
    /// Claimed by a process under a lease.
    Claimed,
    /// Finished with an [`Outcome`].
    Done,
}

impl ChangeState {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeState::Pending => "pending",
            ChangeState::Claimed => "claimed",
            ChangeState::Done => "done",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<ChangeState> {
        [
            ChangeState::Pending,
            ChangeState::Claimed,
            ChangeState::Done,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// The queue a change waits in: do-not-call work has its own lane (claimed first, with
/// its own retry times, never dead-lettered).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Lane {
    /// Do-not-call work (stored as priority 0).
    DoNotCall,
    /// Everything else (stored as priority 1).
    Ordinary,
}

impl Lane {
    /// The lane a change goes on.
    pub fn of(change: &Change) -> Lane {
        if is_do_not_call(change) {
            Lane::DoNotCall
        } else {
            Lane::Ordinary
        }
    }

    /// The stored priority (lower is claimed first).
    pub fn priority(self) -> i64 {
        match self {
            Lane::DoNotCall => 0,
            Lane::Ordinary => 1,
        }
    }
}

/// Parses an operation's stored spelling (the plugin contract's `upsert`, `do-not-call`,
/// `remove`).
pub fn parse_operation(s: &str) -> Option<Operation> {
    [Operation::Upsert, Operation::DoNotCall, Operation::Remove]
        .into_iter()
        .find(|o| o.as_str() == s)
}

/// A stored text value that names no known variant.
#[derive(Debug, thiserror::Error)]
#[error("unknown {what} {value:?} in the journal")]
struct UnknownValue {
    what: &'static str,
    value: String,
}

fn text_column<T>(
    value: ValueRef<'_>,
    what: &'static str,
    parse: impl FnOnce(&str) -> Option<T>,
) -> FromSqlResult<T> {
    let s = value.as_str()?;
    parse(s).ok_or_else(|| {
        FromSqlError::Other(Box::new(UnknownValue {
            what,
            value: s.to_string(),
        }))
    })
}

impl ToSql for ChangeState {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for ChangeState {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        text_column(value, "change state", ChangeState::parse)
    }
}

impl ToSql for Outcome {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for Outcome {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        text_column(value, "outcome", Outcome::parse)
    }
}

impl ToSql for Lane {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.priority()))
    }
}

impl FromSql for Lane {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        match value.as_i64()? {
            0 => Ok(Lane::DoNotCall),
            1 => Ok(Lane::Ordinary),
            n => Err(FromSqlError::OutOfRange(n)),
        }
    }
}

/// Reads an operation column (a foreign type, so an explicit conversion, not `FromSql`).
pub(crate) fn operation_at(row: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<Operation> {
    let s: String = row.get(idx)?;
    parse_operation(&s).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            idx,
            rusqlite::types::Type::Text,
            Box::new(UnknownValue {
                what: "operation",
                value: s,
            }),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_spellings_round_trip() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        for state in [
            ChangeState::Pending,
            ChangeState::Claimed,
            ChangeState::Done,
        ] {
            let back: ChangeState = conn.query_row("SELECT ?1", [state], |r| r.get(0)).unwrap();
            assert_eq!(back, state);
        }
        for outcome in Outcome::ALL {
            let back: Outcome = conn
                .query_row("SELECT ?1", [outcome], |r| r.get(0))
                .unwrap();
            assert_eq!(back, outcome);
        }
        let lane: i64 = conn
            .query_row("SELECT ?1", [Lane::DoNotCall], |r| r.get(0))
            .unwrap();
        assert_eq!(lane, 0);
        for op in [Operation::Upsert, Operation::DoNotCall, Operation::Remove] {
            assert_eq!(parse_operation(op.as_str()), Some(op));
        }
        let bad = conn.query_row("SELECT 'finished'", [], |r| r.get::<_, ChangeState>(0));
        assert!(
            bad.unwrap_err()
                .to_string()
                .contains("unknown change state \"finished\"")
        );
    }
}
