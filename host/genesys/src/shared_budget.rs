//! A rate budget shared beyond this process: the hook that lets several dialsync workers
//! (processes, machines) draw one org's requests from one budget.
//!
//! The client's own [`Budget`](crate::budget) paces the requests of one process. With a
//! [`SharedRateBudget`] in [`OrgSettings::shared_budget`](crate::OrgSettings), every
//! request slot is taken from the shared budget instead (dialsync's PostgreSQL store keeps
//! it as a token bucket row per org), and a 429's `Retry-After` seen by one worker holds
//! the whole org back for every worker. Concurrency stays bounded per process.

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// A boxed future, so the trait stays object-safe without a macro crate.
pub type BudgetFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One org's request budget, shared by every worker that talks to the org.
pub trait SharedRateBudget: Send + Sync + Debug {
    /// Takes one request slot now, or says how long to wait before asking again. An
    /// implementation that cannot reach its store answers with a wait, never with a slot:
    /// no request is sent that the budget has not granted.
    fn take(&self) -> BudgetFuture<'_, Result<(), Duration>>;

    /// Holds every worker's requests for the org back for `wait` (a 429's `Retry-After`),
    /// and lets no saved-up burst through right after it.
    fn pause(&self, wait: Duration) -> BudgetFuture<'_, ()>;
}
