//! One rate budget per org (per API base + client id), shared by every client, clone and task
//! in the process: a [`TokenBucket`] paces requests and a semaphore bounds how many are in
//! flight. A 429 holds the whole bucket shut until Genesys' Retry-After has passed, so every
//! task waits — not just the one that was refused. With a [`SharedRateBudget`] the pacing
//! and the pause are the shared budget's (every worker's), and only concurrency is local.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, sleep};

use crate::bucket::TokenBucket;
use crate::shared_budget::SharedRateBudget;

/// Burst allowed after idleness: one second's worth of requests, at least 1, at most 100.
fn burst_for(per_minute: u32) -> u32 {
    (per_minute / 60).clamp(1, 100)
}

/// The shared pacing and concurrency limit of one org.
#[derive(Debug)]
pub(crate) struct Budget {
    bucket: Mutex<TokenBucket>,
    permits: Arc<Semaphore>,
    /// When set, request slots and pauses are the shared budget's.
    shared: Option<Arc<dyn SharedRateBudget>>,
}

impl Budget {
    /// A budget of `per_minute` requests and `max_concurrency` in flight.
    pub(crate) fn new(per_minute: u32, max_concurrency: usize) -> Self {
        Self {
            bucket: Mutex::new(TokenBucket::new(per_minute, burst_for(per_minute))),
            permits: Arc::new(Semaphore::new(max_concurrency.max(1))),
            shared: None,
        }
    }

    /// A budget whose pacing and pauses come from `shared`; `max_concurrency` stays local.
    pub(crate) fn with_shared(
        per_minute: u32,
        max_concurrency: usize,
        shared: Arc<dyn SharedRateBudget>,
    ) -> Self {
        Self {
            shared: Some(shared),
            ..Self::new(per_minute, max_concurrency)
        }
    }

    /// The process-wide budget for `key` (API base + client id), created on first use.
    /// Later callers with the same key share the first caller's limits. A client with a
    /// shared budget gets its own `Budget` around it (the pacing is the shared store's, so
    /// nothing is gained by the registry, and tests can run several workers in one process).
    pub(crate) fn shared(
        key: &str,
        per_minute: u32,
        max_concurrency: usize,
        shared: Option<Arc<dyn SharedRateBudget>>,
    ) -> Arc<Self> {
        if let Some(shared) = shared {
            return Arc::new(Self::with_shared(per_minute, max_concurrency, shared));
        }
        static REGISTRY: LazyLock<Mutex<HashMap<String, Weak<Budget>>>> =
            LazyLock::new(Default::default);
        let mut registry = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
        registry.retain(|_, weak| weak.strong_count() > 0);
        if let Some(existing) = registry.get(key).and_then(Weak::upgrade) {
            return existing;
        }
        let budget = Arc::new(Self::new(per_minute, max_concurrency));
        registry.insert(key.to_owned(), Arc::downgrade(&budget));
        budget
    }

    /// Waits for a concurrency slot and then for the pace (and any 429 pause) to allow one
    /// request. Hold the permit until the response has been read.
    pub(crate) async fn acquire(&self) -> OwnedSemaphorePermit {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .expect("the budget's semaphore is never closed");
        loop {
            let wait = if let Some(shared) = &self.shared {
                shared.take().await.err()
            } else {
                let mut bucket = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
                bucket.try_acquire(Instant::now()).err()
            };
            match wait {
                None => return permit,
                Some(wait) => sleep(wait).await,
            }
        }
    }

    /// Holds every request of this org back for `wait` (a 429's Retry-After). Returns when
    /// the pause ends. With a shared budget the pause holds back every worker.
    pub(crate) async fn pause_for(&self, wait: Duration) -> Instant {
        let until = Instant::now() + wait;
        if let Some(shared) = &self.shared {
            shared.pause(wait).await;
        } else {
            let mut bucket = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
            bucket.hold_until(until);
        }
        until
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_back_every_task_for_exactly_retry_after() {
        let budget = Arc::new(Budget::new(60, 8)); // one per second, burst 1
        let t0 = Instant::now();
        // One task got a 429 with Retry-After: 3.
        budget.pause_for(Duration::from_secs(3)).await;
        let mut tasks = Vec::new();
        for _ in 0..3 {
            let b = Arc::clone(&budget);
            tasks.push(tokio::spawn(async move {
                let _p = b.acquire().await;
                Instant::now() - t0
            }));
        }
        let mut waits = Vec::new();
        for t in tasks {
            waits.push(t.await.unwrap().as_secs_f64());
        }
        waits.sort_by(f64::total_cmp);
        // Every task waited for the pause; then the steady pace resumed.
        assert_eq!(waits, vec![3.0, 4.0, 5.0]);
    }

    #[tokio::test(start_paused = true)]
    async fn paces_requests_at_the_rate() {
        let budget = Budget::new(60, 8); // burst 1, one per second
        let t0 = Instant::now();
        let mut at = Vec::new();
        for _ in 0..4 {
            drop(budget.acquire().await);
            at.push((Instant::now() - t0).as_secs());
        }
        assert_eq!(at, vec![0, 1, 2, 3]);
    }

    #[tokio::test(start_paused = true)]
    async fn concurrency_is_bounded() {
        let budget = Arc::new(Budget::new(60_000, 2));
        let p1 = budget.acquire().await;
        let _p2 = budget.acquire().await;
        let b = Arc::clone(&budget);
        let third = tokio::spawn(async move {
            let _p = b.acquire().await;
        });
        sleep(Duration::from_secs(10)).await;
        assert!(!third.is_finished(), "a third request waits for a slot");
        drop(p1);
        third.await.unwrap();
    }

    #[test]
    fn same_key_shares_one_budget() {
        let a = Budget::shared("http://127.0.0.1:1/#id-a", 300, 8, None);
        let b = Budget::shared("http://127.0.0.1:1/#id-a", 300, 8, None);
        let c = Budget::shared("http://127.0.0.1:1/#id-c", 300, 8, None);
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
    }
}
