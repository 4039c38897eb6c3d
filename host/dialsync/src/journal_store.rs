//! Opening the journal `[store]` names, whichever backend holds it: the SQLite file
//! (`path`, the default) or the shared PostgreSQL database (`url`). Every command that
//! reads or works the journal (`import`, `status`, `deadletters`, `serve`) goes through
//! here and then only through the [`JournalStore`] boundary, so each works the same on
//! both backends.

use std::sync::Arc;

use anyhow::Context as _;

use crate::config::Config;
use crate::sync::{Journal, JournalStore, SqliteStore};

/// Opens the journal to work it (an engine claims and applies changes through it).
///
/// On PostgreSQL this also registers every org's shared rate budget in `config` (so the
/// Genesys clients built from it afterwards draw from the one budget every worker shares)
/// and starts the LISTEN connection that wakes this process when any worker queues work.
/// Build the source bindings from `config` only after this call.
pub async fn open_for_work(config: &mut Config) -> anyhow::Result<Arc<dyn JournalStore>> {
    let lease = crate::sync::EngineConfig::lease(&*config);
    match crate::pg_store::open(config).await? {
        Some(pool) => {
            let worker = crate::pg_store::worker_id();
            crate::pg_store::share_budgets(&pool, config, &worker).await?;
            Ok(crate::pg_store::journal(config, pool, lease)?)
        }
        None => {
            let options = crate::sync::EngineOptions::for_config(&*config);
            let path = &config.store.path;
            let journal = Journal::open_with(path, &options.journal)
                .with_context(|| format!("opening journal {}", path.display()))?;
            Ok(Arc::new(SqliteStore::new(journal)))
        }
    }
}

/// Opens the journal to read it or to put dead letters back (no engine, no wake-ups):
/// safe while `serve` workers run on it.
pub async fn open_for_reading(config: &Config) -> anyhow::Result<Arc<dyn JournalStore>> {
    match crate::pg_store::open(config).await? {
        Some(pool) => {
            let lease = crate::sync::EngineConfig::lease(config);
            Ok(Arc::new(dialsync_pg::PgJournal::new(pool, lease)))
        }
        None => {
            let path = &config.store.path;
            let journal = Journal::inspect(path)
                .with_context(|| format!("opening journal {}", path.display()))?;
            Ok(Arc::new(SqliteStore::new(journal)))
        }
    }
}

/// Where the journal is, for messages: the SQLite path or the PostgreSQL URL (which never
/// holds a password: `[store] url` with one is refused).
pub fn location(config: &Config) -> String {
    match &config.store.url {
        Some(url) => url.clone(),
        None => config.store.path.display().to_string(),
    }
}
