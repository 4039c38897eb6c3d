//! Per-org client settings: where the org is, its OAuth client, its rate budget and the
//! retry policy. Defaults follow Genesys' published limits (300 requests/minute per
//! client-credentials token).

use std::sync::Arc;
use std::time::Duration;

use crate::endpoint::Endpoint;
use crate::secret::Secret;
use crate::shared_budget::SharedRateBudget;

/// How transient failures (5xx, timeouts, connection resets) are retried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total for one call on transient failures (first try included). Default 5.
    pub max_attempts: u32,
    /// Backoff ceiling of the first retry; doubled per retry. Default 500 ms.
    pub base_delay: Duration,
    /// Largest backoff ceiling. Default 30 s.
    pub max_delay: Duration,
    /// Total time one call may spend, retries and 429 waits included. Default 5 min.
    pub max_elapsed: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_elapsed: Duration::from_secs(300),
        }
    }
}

/// Everything the client needs to talk to one Genesys Cloud org.
#[derive(Clone, Debug)]
pub struct OrgSettings {
    /// The org's name in dialsync's config (used in logs and metric labels).
    pub name: String,
    /// Region or explicit base URL.
    pub endpoint: Endpoint,
    /// OAuth client-credentials client id.
    pub client_id: String,
    /// OAuth client secret (never printed).
    pub client_secret: Secret,
    /// The org's API budget in requests per minute, shared by every client for this
    /// client id in the process. Default 300.
    pub requests_per_minute: u32,
    /// Requests in flight at once for this org. Default 8.
    pub max_concurrency: usize,
    /// Retry policy for transient failures and 429s.
    pub retry: RetryPolicy,
    /// Timeout of one HTTP attempt. Default 30 s.
    pub request_timeout: Duration,
    /// How long after this client wrote (or deleted) a contact a contradicting read (404, or
    /// still there) is re-read, since Genesys is eventually consistent. Default 10 s; zero
    /// turns re-reading off. See the `consistency` module.
    pub read_after_write: Duration,
    /// A budget shared with other workers (processes, machines) for this org, e.g. the
    /// PostgreSQL store's; `None` (the default) paces within this process only.
    pub shared_budget: Option<Arc<dyn SharedRateBudget>>,
}

impl OrgSettings {
    /// What identifies the org's rate budget: the API base and the OAuth client id (every
    /// client, worker and process with the same key shares one budget).
    pub fn budget_key(&self) -> Result<String, crate::GenesysError> {
        Ok(format!(
            "{}#{}",
            self.endpoint.resolve()?.api_base,
            self.client_id
        ))
    }

    /// Settings with the default budget, concurrency, retry policy and timeout.
    pub fn new(
        name: impl Into<String>,
        endpoint: Endpoint,
        client_id: impl Into<String>,
        client_secret: Secret,
    ) -> Self {
        Self {
            name: name.into(),
            endpoint,
            client_id: client_id.into(),
            client_secret,
            requests_per_minute: 300,
            max_concurrency: 8,
            retry: RetryPolicy::default(),
            request_timeout: Duration::from_secs(30),
            read_after_write: Duration::from_secs(10),
            shared_budget: None,
        }
    }
}
