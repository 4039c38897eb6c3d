//! Errors of the PostgreSQL store. The connection URL's password never appears in them.

use thiserror::Error;

/// A PostgreSQL store failure.
#[derive(Debug, Error)]
pub enum PgError {
    /// The `[store]` settings are unusable.
    #[error("store: {0}")]
    Config(String),
    /// A connection could not be taken from the pool.
    #[error("PostgreSQL connection: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    /// A statement failed.
    #[error("PostgreSQL: {}", db_message(.0))]
    Db(#[from] tokio_postgres::Error),
    /// A stored JSON value did not parse (the table was edited or corrupted).
    #[error("PostgreSQL store holds unreadable data in {what}: {source}")]
    Corrupt {
        /// Which value.
        what: &'static str,
        /// The parse error.
        source: serde_json::Error,
    },
    /// A stored value names no known variant.
    #[error("PostgreSQL store holds an unknown {what} {value:?}")]
    Unknown {
        /// Which column.
        what: &'static str,
        /// The value.
        value: String,
    },
    /// The database was migrated by a newer dialsync.
    #[error("PostgreSQL schema version {found} is newer than this dialsync supports ({supported})")]
    TooNew {
        /// Version in the database.
        found: i64,
        /// Newest version known here.
        supported: i64,
    },
}

/// The server's own message (and SQLSTATE) when there is one: tokio-postgres' `Display`
/// says only "db error".
fn db_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}
