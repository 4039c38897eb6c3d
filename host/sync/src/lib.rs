//! The sync engine: durable journal, coalescing, idempotent batched upserts, conflicts,
//! per-record outcomes, dead letters and replay.
//!
//! Data flows one way: mapped [`Change`]s → [`Engine::accept`] (one SQLite transaction,
//! durable when it returns) → workers claim every pending change of a key (contact list,
//! externalId) at once, so there is at most one write in flight per contact → the key's
//! changes are coalesced (stale ones end `stale`, earlier ones are folded into the newest
//! and end `superseded`, partial changes merge into the last known full row) → each row is
//! validated against the list's columns → rows are upserted by a contact id derived from
//! the externalId, in batches of up to the per-call maximum, do-not-call work first → every
//! change ends in exactly one [`Outcome`].
//!
//! Library use (what `dialsync import`, `serve` and `demo` build on):
//! ```ignore
//! let engine = Engine::open(&db_path, bindings, EngineOptions::default())?;
//! let accepted = engine.accept("servicenow", changes).await?;   // durable on return
//! engine.run_until_idle().await?;                               // or engine.spawn_workers()
//! let status = engine.status("SN_abc", Some("servicenow")).await?;
//! let letters = engine.dead_letters().await?;
//! engine.replay(Some(vec![letters[0].id])).await?;
//! ```
//! The `dialsync` crate builds the source bindings from `dialsync.toml`
//! (`dialsync::sync::bindings_from_config`).

mod apply;
mod change;
mod committer;
mod engine;
mod genesys_sink;
mod identity;
mod ingest;
mod journal;
mod kinds;
mod owner;
pub mod records;
mod sink;
mod store;
mod validate;
mod wal_sync;

pub use apply::{DeleteMode, RetryRules, SourceRules};
pub use change::{Change, EXTERNAL_ID_COLUMN, FieldError, Operation, Outcome, Phone, Row, Target};
pub use change::{Compliance, NeedsBase, complete_phones, fold, is_do_not_call};
pub use committer::CommitStats;
pub use engine::{
    Accepted, Engine, EngineConfig, EngineError, EngineOptions, SourceBinding, Workers,
};
pub use genesys_sink::GenesysSink;
pub use identity::contact_id;
pub use ingest::{Inbound, Ingest, Ingested, Mapper, RecordResult, SummaryFn};
pub use journal::{
    BatchSummary, ChangeRecord, ClaimedKey, ComplianceAlert, ContactState, ContactStatus,
    DeadLetter, Journal, JournalError, JournalOptions, KeyResult, MIGRATIONS, NewBatch, NewState,
    Seen, StoredChange,
};
pub use kinds::{ChangeState, Lane, parse_operation};
pub use owner::{lease_owner_id, owner_pid};
pub use sink::{ContactSink, ContactWrite, ListShape, SinkError, SinkErrorKind};
pub use store::{Durable, JournalStore, SqliteStore};
pub use validate::{MAX_CELL_CHARS, validate};
