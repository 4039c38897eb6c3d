//! The cached OAuth access token of one client: fetched on first use, refreshed at 90% of its
//! lifetime, dropped when Genesys answers 401. Refreshes are single-flight: the cache's lock
//! is held while fetching, so concurrent callers wait for the one fetch and share its token.

use std::future::Future;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::error::GenesysError;
use crate::secret::Secret;

/// A token as the token endpoint returned it.
#[derive(Debug)]
pub(crate) struct FetchedToken {
    /// The bearer token.
    pub value: Secret,
    /// Its lifetime (`expires_in`).
    pub expires_in: Duration,
}

/// A token handed to a request: the value and which fetch produced it.
#[derive(Clone, Debug)]
pub(crate) struct Lease {
    /// The bearer token.
    pub value: Secret,
    /// Fetch number; a 401 invalidates only this generation.
    pub generation: u64,
}

#[derive(Debug)]
struct Cached {
    lease: Lease,
    refresh_at: Instant,
}

/// Single-flight token cache.
#[derive(Debug, Default)]
pub(crate) struct TokenCache {
    slot: Mutex<Option<Cached>>,
    generations: std::sync::atomic::AtomicU64,
}

/// What a client's token cache holds right now, read without fetching (for status pages).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenState {
    /// No token yet, or the last one was dropped after a 401.
    Missing,
    /// A token is cached and is refreshed after `refresh_in`.
    Valid {
        /// Time left before the token is refreshed (90% of its lifetime).
        refresh_in: Duration,
    },
    /// The cached token is due for refresh; the next request fetches a new one.
    Due,
    /// A token fetch is in progress.
    Fetching,
}

/// Share of a token's lifetime after which it is refreshed.
const REFRESH_AT_PERCENT: u32 = 90;

impl TokenCache {
    /// The cached token, or a fresh one from `fetch` when there is none or it is due for
    /// refresh.
    pub(crate) async fn get<F, Fut>(&self, fetch: F) -> Result<Lease, GenesysError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<FetchedToken, GenesysError>>,
    {
        let mut slot = self.slot.lock().await;
        if let Some(cached) = slot.as_ref()
            && Instant::now() < cached.refresh_at
        {
            return Ok(cached.lease.clone());
        }
        let fetched = fetch().await?;
        let generation = self
            .generations
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        let lease = Lease {
            value: fetched.value,
            generation,
        };
        *slot = Some(Cached {
            lease: lease.clone(),
            refresh_at: Instant::now() + fetched.expires_in * REFRESH_AT_PERCENT / 100,
        });
        Ok(lease)
    }

    /// The cache's state without waiting: a held lock means a fetch is in progress.
    pub(crate) fn state(&self) -> TokenState {
        let Ok(slot) = self.slot.try_lock() else {
            return TokenState::Fetching;
        };
        match slot.as_ref() {
            None => TokenState::Missing,
            Some(cached) => {
                let now = Instant::now();
                if now < cached.refresh_at {
                    TokenState::Valid {
                        refresh_in: cached.refresh_at - now,
                    }
                } else {
                    TokenState::Due
                }
            }
        }
    }

    /// Drops the token of `generation` (answered 401). A newer token is kept, so concurrent
    /// 401s on one old token cause one refetch, not many.
    pub(crate) async fn invalidate(&self, generation: u64) {
        let mut slot = self.slot.lock().await;
        if slot
            .as_ref()
            .is_some_and(|c| c.lease.generation == generation)
        {
            *slot = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};
    use tokio::time::sleep;

    fn fetcher(
        count: Arc<AtomicU32>,
        ttl: Duration,
    ) -> impl FnOnce() -> std::pin::Pin<
        Box<dyn Future<Output = Result<FetchedToken, GenesysError>> + Send>,
    > {
        move || {
            Box::pin(async move {
                let n = count.fetch_add(1, Ordering::SeqCst) + 1;
                sleep(Duration::from_millis(250)).await; // the token endpoint's latency
                Ok(FetchedToken {
                    value: Secret::new(format!("tok{n}")),
                    expires_in: ttl,
                })
            })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn state_reads_the_cache_without_fetching() {
        let cache = TokenCache::default();
        assert_eq!(cache.state(), TokenState::Missing);
        let count = Arc::new(AtomicU32::new(0));
        let lease = cache
            .get(fetcher(count.clone(), Duration::from_secs(100)))
            .await
            .unwrap();
        assert_eq!(
            cache.state(),
            TokenState::Valid {
                refresh_in: Duration::from_secs(90)
            }
        );
        sleep(Duration::from_secs(90)).await;
        assert_eq!(cache.state(), TokenState::Due);
        cache.invalidate(lease.generation).await;
        assert_eq!(cache.state(), TokenState::Missing);
        assert_eq!(count.load(Ordering::SeqCst), 1, "state never fetches");
    }

    #[tokio::test(start_paused = true)]
    async fn refreshes_at_ninety_percent_of_lifetime() {
        let cache = TokenCache::default();
        let count = Arc::new(AtomicU32::new(0));
        let ttl = Duration::from_secs(100);
        let t0 = Instant::now();
        let first = cache.get(fetcher(count.clone(), ttl)).await.unwrap();
        assert_eq!(first.value.expose(), "tok1");
        let fetched_at = t0 + Duration::from_millis(250);
        // Just before 90 s after the fetch: still the cached token.
        tokio::time::sleep_until(fetched_at + Duration::from_secs(90) - Duration::from_millis(1))
            .await;
        assert_eq!(
            cache
                .get(fetcher(count.clone(), ttl))
                .await
                .unwrap()
                .value
                .expose(),
            "tok1"
        );
        assert_eq!(count.load(Ordering::SeqCst), 1);
        // At exactly 90 s: refreshed.
        tokio::time::sleep_until(fetched_at + Duration::from_secs(90)).await;
        assert_eq!(
            cache
                .get(fetcher(count.clone(), ttl))
                .await
                .unwrap()
                .value
                .expose(),
            "tok2"
        );
        assert_eq!(count.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_share_one_fetch() {
        let cache = Arc::new(TokenCache::default());
        let count = Arc::new(AtomicU32::new(0));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let cache = Arc::clone(&cache);
            let count = Arc::clone(&count);
            tasks.push(tokio::spawn(async move {
                cache
                    .get(fetcher(count, Duration::from_secs(3600)))
                    .await
                    .unwrap()
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap().generation, 1);
        }
        assert_eq!(count.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn invalidate_drops_only_the_named_generation() {
        let cache = TokenCache::default();
        let count = Arc::new(AtomicU32::new(0));
        let ttl = Duration::from_secs(3600);
        let first = cache.get(fetcher(count.clone(), ttl)).await.unwrap();
        cache.invalidate(first.generation).await;
        let second = cache.get(fetcher(count.clone(), ttl)).await.unwrap();
        assert_eq!(second.generation, 2);
        // A late 401 from a request that used the first token must not drop the second.
        cache.invalidate(first.generation).await;
        let again = cache.get(fetcher(count.clone(), ttl)).await.unwrap();
        assert_eq!(again.generation, 2);
        assert_eq!(count.load(Ordering::SeqCst), 2);
    }
}
