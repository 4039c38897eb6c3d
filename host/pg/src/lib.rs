//! dialsync's PostgreSQL store: what several `dialsync serve` workers on several machines
//! share through one PostgreSQL database.
//!
//! - [`connect`]: `[store] url = "postgres://…"` with the password from an environment
//!   variable (never from the file, never logged), as a connection pool;
//! - [`migrate`]: versioned, idempotent schema migrations (`dialsync migrate`), safe to run
//!   from many workers at once;
//! - [`PgRateBudget`]: one Genesys rate budget per org for all workers (a token bucket row
//!   taken with one statement), plugged into the Genesys client as its shared budget;
//! - [`PgJournal`]: the engine's journal (the `JournalStore` boundary of `dialsync-sync`)
//!   with `FOR UPDATE SKIP LOCKED` claims under leases and LISTEN/NOTIFY wake-ups.
#![deny(missing_docs)]

mod budget;
mod connect;
mod error;
mod journal;
mod migrate;
mod store;

pub use budget::{BudgetUse, PgRateBudget, budget_use};
pub use connect::{PgSettings, connect};
pub use error::PgError;
pub use journal::{PgJournal, WORK_CHANNEL, listen};
pub use migrate::{MIGRATIONS, Migration, MigrationReport, migrate};

/// The connection pool every part of the store uses.
pub type Pool = deadpool_postgres::Pool;
/// A connection taken from the [`Pool`] (back in the pool when dropped).
pub type PooledConnection = deadpool_postgres::Object;
