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
        let password = std::env::var(var).map_err(|_| ConfigError::Invalid {
            key: "store.password_env".into(),
            message: format!(
                "environment variable {var:?} is not set (it must hold the PostgreSQL password)"
            ),
        })?;
        settings.password = Some(password);
    }
    settings.config().map_err(|e| ConfigError::Invalid {
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
        let budget = PgRateBudget::register(
            pool.clone(),
            &name,
            &key,
            settings.requests_per_minute,
            worker,
        )
        .await?;
        config.shared_budgets.insert(name, Arc::new(budget));
    }
    Ok(())
}

/// The PostgreSQL journal of this worker on `pool`: its own lease owner id and a LISTEN
/// connection that wakes it when any worker queues work.
pub fn journal(
    config: &Config,
    pool: Pool,
    lease: std::time::Duration,
) -> Result<Arc<dyn dialsync_sync::JournalStore>, crate::server::state::StartError> {
    let settings = pg_settings(config)
        .map_err(|e| crate::server::state::StartError(e.to_string()))?
        .expect("called only with a PostgreSQL store");
    let pg_config = settings
        .config()
        .map_err(|e| crate::server::state::StartError(format!("store.url: {e}")))?;
    Ok(Arc::new(
        dialsync_pg::PgJournal::new(pool, lease).with_listener(pg_config),
    ))
}

/// Sets the scale-out gauges from the shared store: unfinished changes per contact list,
/// keys claimed per worker, lease takeovers per worker, every org's budget use (all
/// workers together). Store errors leave the gauges as they were (the scrape still works).
pub async fn record_metrics(pool: &Pool, owner: &str) {
    let journal = dialsync_pg::PgJournal::new(pool.clone(), std::time::Duration::ZERO);
    if let Ok(depths) = journal.queue_depths().await {
        for (list, n) in depths {
            metrics::gauge!("dialsync_queue_depth", "list" => list).set(n as f64);
        }
    }
    if let Ok(claims) = journal.claims_by_worker().await {
        for (worker, n) in claims {
            let me = if worker == owner { "true" } else { "false" };
            metrics::gauge!("dialsync_claimed_keys", "worker" => worker, "self" => me)
                .set(n as f64);
        }
    }
    if let Ok(takeovers) = journal.takeovers().await {
        for (worker, n) in takeovers {
            metrics::gauge!("dialsync_lease_takeovers", "worker" => worker).set(n as f64);
        }
    }
    if let Ok(budgets) = dialsync_pg::budget_use(pool).await {
        for b in budgets {
            metrics::gauge!("dialsync_org_budget_slots", "org" => b.org.clone())
                .set(b.taken as f64);
            metrics::gauge!("dialsync_org_budget_pauses", "org" => b.org.clone())
                .set(b.pauses as f64);
            metrics::gauge!("dialsync_org_budget_per_minute", "org" => b.org)
                .set(b.steady_per_minute as f64);
        }
    }
}
