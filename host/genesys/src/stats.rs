//! Request counters of one client (and its clones): lock-free atomics read by `stats()`,
//! mirrored to the `metrics` crate for Prometheus.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of a client's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// HTTP answers by status (every attempt, retries included).
    pub requests_by_status: BTreeMap<u16, u64>,
    /// Attempts that got no HTTP answer (timeout, connection refused/reset).
    pub transport_errors: u64,
    /// Attempts that were retries of an earlier attempt (429, 5xx, transport, 401).
    pub retries: u64,
    /// 429 answers.
    pub rate_limited: u64,
    /// Successful token fetches.
    pub token_fetches: u64,
    /// Tokens dropped because the API answered 401.
    pub unauthorized_refreshes: u64,
    /// 409 answers returned to the caller.
    pub conflicts: u64,
}

impl ClientStats {
    /// HTTP answers of every status.
    pub fn total_responses(&self) -> u64 {
        self.requests_by_status.values().sum()
    }
}

/// Highest status tracked individually; anything above is counted as 599.
const MAX_STATUS: usize = 599;

/// The live counters.
#[derive(Debug)]
pub(crate) struct Counters {
    by_status: Box<[AtomicU64]>,
    pub transport_errors: AtomicU64,
    pub retries: AtomicU64,
    pub rate_limited: AtomicU64,
    pub token_fetches: AtomicU64,
    pub unauthorized_refreshes: AtomicU64,
    pub conflicts: AtomicU64,
}

impl Default for Counters {
    fn default() -> Self {
        Self {
            by_status: (0..=MAX_STATUS).map(|_| AtomicU64::new(0)).collect(),
            transport_errors: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            rate_limited: AtomicU64::new(0),
            token_fetches: AtomicU64::new(0),
            unauthorized_refreshes: AtomicU64::new(0),
            conflicts: AtomicU64::new(0),
        }
    }
}

/// Adds one to a counter.
pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    /// Counts one HTTP answer.
    pub(crate) fn record_status(&self, status: u16) {
        let i = usize::from(status).min(MAX_STATUS);
        bump(&self.by_status[i]);
    }

    /// A consistent-enough snapshot (each counter read once).
    pub(crate) fn snapshot(&self) -> ClientStats {
        let requests_by_status = self
            .by_status
            .iter()
            .enumerate()
            .filter_map(|(status, n)| {
                let n = n.load(Ordering::Relaxed);
                (n > 0).then(|| (u16::try_from(status).unwrap_or(u16::MAX), n))
            })
            .collect();
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ClientStats {
            requests_by_status,
            transport_errors: get(&self.transport_errors),
            retries: get(&self.retries),
            rate_limited: get(&self.rate_limited),
            token_fetches: get(&self.token_fetches),
            unauthorized_refreshes: get(&self.unauthorized_refreshes),
            conflicts: get(&self.conflicts),
        }
    }
}
