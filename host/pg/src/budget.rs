//! One Genesys rate budget per org for every worker: a token bucket row in PostgreSQL.
//!
//! Genesys limits requests per OAuth client-credentials token (300/min by default;
//! shared/genesys-api.md §6). Each worker fetches and caches its **own** token — tokens are
//! never stored in the database, where a live bearer credential would sit at rest for anyone
//! who can read a table or a backup — but all workers of an org draw their requests from
//! **one** budget row keyed by API base + client id. So N workers together send no more
//! than one token's limit whether Genesys counts per token or per client (that a second
//! token gets a bucket of its own is unverified, and dialsync does not rely on it), and a
//! `Retry-After` seen by one worker shuts the row for all of them.
//!
//! The bucket is the GCRA of `host/genesys/src/bucket.rs` (same interval, same burst:
//! no 60 s window holds more than `requests_per_minute`), evaluated by the server in one
//! statement under the row's lock, on the server's clock.

use std::time::Duration;

use dialsync_genesys::{BudgetFuture, SharedRateBudget};
use serde::Serialize;

use crate::{PgError, Pool};

/// How long a worker waits before asking again when the store cannot be reached: no request
/// goes out that the shared budget has not granted.
const UNREACHABLE_RETRY: Duration = Duration::from_secs(1);

/// Burst allowed after idleness: as the in-process budget (host/genesys/src/budget.rs).
fn burst_for(per_minute: u32) -> u32 {
    (per_minute / 60).clamp(1, 100)
}

/// One org's shared budget, as one worker sees it.
#[derive(Clone)]
pub struct PgRateBudget {
    pool: Pool,
    key: String,
    org: String,
    worker: String,
}

impl std::fmt::Debug for PgRateBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgRateBudget")
            .field("key", &self.key)
            .field("worker", &self.worker)
            .finish_non_exhaustive()
    }
}

impl PgRateBudget {
    /// Registers (or updates) the budget of `org` — `key` is its API base + client id — at
    /// `per_minute` requests, for this `worker` (its id, for metric labels). The last worker
    /// to start sets the rate: give every worker the same `requests_per_minute`.
    pub async fn register(
        pool: Pool,
        org: &str,
        key: &str,
        per_minute: u32,
        worker: &str,
    ) -> Result<Self, PgError> {
        let per_minute = per_minute.max(1);
        let burst = burst_for(per_minute);
        let steady = i64::from(per_minute - (burst - 1));
        // Rounded up so the steady pace never exceeds the rate (as bucket.rs).
        let interval_us = (60_000_000i64 + steady - 1) / steady;
        let tolerance_us = interval_us * i64::from(burst - 1);
        pool.get()
            .await?
            .execute(
                "INSERT INTO rate_budgets (budget_key, org, interval_us, tolerance_us)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (budget_key) DO UPDATE SET org = excluded.org,
                    interval_us = excluded.interval_us, tolerance_us = excluded.tolerance_us",
                &[&key, &org, &interval_us, &tolerance_us],
            )
            .await?;
        Ok(PgRateBudget {
            pool,
            key: key.to_owned(),
            org: org.to_owned(),
            worker: worker.to_owned(),
        })
    }

    /// Takes one slot: `Ok(0)` when granted, else the microseconds to wait.
    async fn try_take(&self) -> Result<i64, PgError> {
        let row = self
            .pool
            .get()
            .await?
            .query_one("SELECT dialsync_take_slot($1)", &[&self.key])
            .await?;
        Ok(row.get(0))
    }

    async fn try_pause(&self, wait: Duration) -> Result<(), PgError> {
        let wait_us = i64::try_from(wait.as_micros()).unwrap_or(i64::MAX / 2);
        self.pool
            .get()
            .await?
            .execute("SELECT dialsync_pause($1, $2)", &[&self.key, &wait_us])
            .await?;
        Ok(())
    }
}

impl SharedRateBudget for PgRateBudget {
    fn take(&self) -> BudgetFuture<'_, Result<(), Duration>> {
        Box::pin(async move {
            match self.try_take().await {
                Ok(0) => {
                    metrics::counter!("dialsync_budget_slots_total",
                        "org" => self.org.clone(), "worker" => self.worker.clone())
                    .increment(1);
                    Ok(())
                }
                Ok(wait_us) => Err(Duration::from_micros(wait_us.max(1) as u64)),
                Err(e) => {
                    tracing::warn!(org = %self.org, error = %e,
                        "shared rate budget unreachable; holding requests back");
                    Err(UNREACHABLE_RETRY)
                }
            }
        })
    }

    fn pause(&self, wait: Duration) -> BudgetFuture<'_, ()> {
        Box::pin(async move {
            metrics::counter!("dialsync_budget_pauses_total",
                "org" => self.org.clone(), "worker" => self.worker.clone())
            .increment(1);
            if let Err(e) = self.try_pause(wait).await {
                // The worker that saw the 429 still waits (the client sleeps `wait`); the
                // others find out from their own 429s.
                tracing::warn!(org = %self.org, error = %e,
                    "could not pause the shared rate budget");
            }
        })
    }
}

/// One org's budget as every worker together used it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct BudgetUse {
    /// The org's name in the config.
    pub org: String,
    /// Slots granted to all workers since the budget was created.
    pub taken: i64,
    /// 429 pauses, all workers.
    pub pauses: i64,
    /// Requests per minute the budget allows at its steady pace.
    pub steady_per_minute: i64,
}

/// Every org's budget use, for `/metrics` and `/readyz`.
pub async fn budget_use(pool: &Pool) -> Result<Vec<BudgetUse>, PgError> {
    let rows = pool
        .get()
        .await?
        .query(
            "SELECT org, taken, pauses, interval_us FROM rate_budgets ORDER BY org",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| BudgetUse {
            org: r.get(0),
            taken: r.get(1),
            pauses: r.get(2),
            steady_per_minute: 60_000_000 / r.get::<_, i64>(3).max(1),
        })
        .collect())
}
