//! Scale-out on PostgreSQL: `[store] url` → the shared store's connection pool, and one
//! shared Genesys rate budget per org for every worker on that store.
//!
//! SQLite stays the default: without `url` nothing here is used. The password comes from
//! the environment variable `[store] password_env` names, like every other secret.

use std::sync::Arc;

use dialsync_pg::{PgRateBudget, PgSettings, Pool};

use crate::config::{Config, ConfigError};

/// This worker's id for metric labels and leases: host name and process id.
pub fn worker_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned());
    format!("{host}-{}", std::process::id())
}

/// The PostgreSQL settings of `[store]`, or `None` when the store is the SQLite file.
pub fn pg_settings(config: &Config) -> Result<Option<PgSettings>, ConfigError> {
    let Some(url) = &config.store.url else {
        return Ok(None);
    };
    let mut settings = PgSettings::new(url.clone());
    if let Some(var) = &config.store.password_env {
        let password = std::env::var(var).map_err(|_| {
            ConfigError::Invalid {
                key: "store.password_env".into(),
                message: format!(
                    "environment variable {var:?} is not set (it must hold the PostgreSQL password)"
                ),
            }
        })?;
        settings.password = Some(password);
    }
    settings
        .config()
        .map_err(|e| ConfigError::Invalid {
            key: "store.url".into(),
            message: e.to_string(),
        })?;
    Ok(Some(settings))
}

/// Opens the PostgreSQL store of `config` (migrating it), or `None` for SQLite.
pub async fn open(config: &Config) -> anyhow::Result<Option<Pool>> {
    let Some(settings) = pg_settings(config)? else {
        return Ok(None);
    };
    let pool = dialsync_pg::connect(&settings)?;
    dialsync_pg::migrate(&pool).await?;
    Ok(Some(pool))
}

/// Registers every org's shared budget on `pool` and puts it in `config`, so every Genesys
/// client built from this config (engine, console, agents) draws from the org's one budget.
pub async fn share_budgets(pool: &Pool, config: &mut Config, worker: &str) -> anyhow::Result<()> {
    for name in config.orgs.keys().cloned().collect::<Vec<_>>() {
        let settings = config.org_settings(&name)?;
        let key = settings.budget_key()?;
        let budget =
            PgRateBudget::register(pool.clone(), &name, &key, settings.requests_per_minute, worker)
                .await?;
        config.shared_budgets.insert(name, Arc::new(budget));
    }
    Ok(())
}
