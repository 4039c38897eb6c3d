//! The client core: one HTTP attempt loop that every endpoint goes through. It takes a slot
//! from the org's shared budget, attaches the cached token, sends, and applies the design's
//! retry classes: 429 → pause the whole org for Retry-After and retry; 5xx / timeout /
//! connection failure → full-jitter exponential backoff, bounded by `max_attempts` and
//! `max_elapsed`; 401 → drop the token, fetch a new one and retry once; 409 → `Conflict`;
//! other 4xx → `Rejected`, never retried.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::time::{Instant, sleep};
use tracing::debug;
use url::Url;

use crate::backoff::{self, FullJitter, Jitter};
use crate::budget::Budget;
use crate::consistency::{RecentWrites, Wrote};
use crate::endpoint::ResolvedEndpoint;
use crate::error::{ApiFailure, GenesysError};
use crate::model::ErrorBody;
use crate::secret::Secret;
use crate::settings::OrgSettings;
use crate::stats::{ClientStats, Counters, bump};
use crate::token::{FetchedToken, TokenCache};

/// Header carrying Genesys' correlation id on every answer.
const CORRELATION_HEADER: &str = "inin-correlation-id";
/// Seconds until the rate window resets (historical Genesys header).
const RATELIMIT_RESET_HEADER: &str = "inin-ratelimit-reset";

/// A Genesys Cloud API client for one org.
///
/// Cheap to clone: clones share one token, one stats block and the org's rate budget. The
/// rate budget is also shared with every other client built in this process for the same
/// API base and client id.
#[derive(Clone)]
pub struct GenesysClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for GenesysClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GenesysClient")
            .field("org", &self.inner.settings.name)
            .field("api_base", &self.inner.endpoint.api_base.as_str())
            .finish_non_exhaustive()
    }
}

struct Inner {
    settings: OrgSettings,
    endpoint: ResolvedEndpoint,
    http: reqwest::Client,
    token: TokenCache,
    budget: Arc<Budget>,
    counters: Counters,
    jitter: Mutex<Box<dyn Jitter>>,
    recent: RecentWrites,
}

/// One API call to make.
pub(crate) struct Call {
    /// HTTP method.
    pub method: Method,
    /// Route template for logs and metrics, e.g. `/api/v2/users/{userId}`.
    pub route: &'static str,
    /// Full URL (path segments already escaped, query set).
    pub url: Url,
    /// Serialised JSON body.
    pub body: Option<Vec<u8>>,
}

/// A successful (2xx) answer.
pub(crate) struct Answer {
    /// Raw response body.
    pub body: Vec<u8>,
    /// `ININ-Correlation-Id` of the answer.
    pub correlation_id: Option<String>,
    /// `METHOD /route` of the call.
    pub route: String,
}

/// What went wrong in one attempt, before the retry decision.
enum Outcome {
    Done(Answer),
    Fail(GenesysError),
    RateLimited {
        failure: ApiFailure,
        wait: Option<Duration>,
    },
    Unauthorized(ApiFailure),
    ServerError {
        failure: ApiFailure,
        retry_after: Option<Duration>,
    },
    Transport {
        kind: &'static str,
        message: String,
    },
}

impl GenesysClient {
    /// A client for one org. Fails only on invalid settings (unknown region, zero rate).
    pub fn new(settings: OrgSettings) -> Result<Self, GenesysError> {
        Self::build(settings, Box::new(FullJitter::from_os()))
    }

    /// Like [`GenesysClient::new`] with a seeded backoff jitter, for reproducible runs.
    pub fn with_jitter_seed(settings: OrgSettings, seed: u64) -> Result<Self, GenesysError> {
        Self::build(settings, Box::new(FullJitter::seeded(seed)))
    }

    fn build(settings: OrgSettings, jitter: Box<dyn Jitter>) -> Result<Self, GenesysError> {
        if settings.requests_per_minute == 0 {
            return Err(GenesysError::Config(format!(
                "org {}: requests_per_minute must be at least 1",
                settings.name
            )));
        }
        if settings.max_concurrency == 0 {
            return Err(GenesysError::Config(format!(
                "org {}: max_concurrency must be at least 1",
                settings.name
            )));
        }
        if settings.retry.max_attempts == 0 {
            return Err(GenesysError::Config(format!(
                "org {}: retry.max_attempts must be at least 1",
                settings.name
            )));
        }
        let endpoint = settings.endpoint.resolve()?;
        let http = reqwest::Client::builder()
            .timeout(settings.request_timeout)
            .connect_timeout(settings.request_timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("dialsync-genesys/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| GenesysError::Config(format!("HTTP client: {e}")))?;
        let budget = Budget::shared(
            &settings.budget_key()?,
            settings.requests_per_minute,
            settings.max_concurrency,
            settings.shared_budget.clone(),
        );
        Ok(Self {
            inner: Arc::new(Inner {
                settings,
                endpoint,
                http,
                token: TokenCache::default(),
                budget,
                counters: Counters::default(),
                jitter: Mutex::new(jitter),
                recent: RecentWrites::default(),
            }),
        })
    }

    /// The org's name from the settings.
    pub fn org(&self) -> &str {
        &self.inner.settings.name
    }

    /// A snapshot of this client's counters (shared by its clones).
    pub fn stats(&self) -> ClientStats {
        self.inner.counters.snapshot()
    }

    /// The settings the client was built with (the secret inside never prints).
    pub fn settings(&self) -> &OrgSettings {
        &self.inner.settings
    }

    /// The cached token's state, without fetching one.
    pub fn token_state(&self) -> crate::token::TokenState {
        self.inner.token.state()
    }

    /// Makes sure a valid token is cached (fetching one if needed): a cheap way to check the
    /// credentials at startup.
    pub async fn ensure_token(&self) -> Result<(), GenesysError> {
        self.lease().await.map(|_| ())
    }

    /// Remembers contact writes for the read-after-write window.
    pub(crate) fn note_writes<'a>(
        &self,
        list_id: &str,
        ids: impl IntoIterator<Item = &'a str>,
        wrote: Wrote,
    ) {
        let window = self.inner.settings.read_after_write;
        self.inner.recent.note(list_id, ids, wrote, window);
    }

    /// What this client did to a contact within the read-after-write window, and when the
    /// window ends.
    pub(crate) fn expected_write(&self, list_id: &str, id: &str) -> Option<(Wrote, Instant)> {
        let window = self.inner.settings.read_after_write;
        self.inner.recent.expected(list_id, id, window)
    }

    /// The API URL for path segments under the base (each segment percent-escaped).
    pub(crate) fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.inner.endpoint.api_base.clone();
        {
            let mut path = url
                .path_segments_mut()
                .expect("http(s) base URLs always have a path");
            path.pop_if_empty();
            path.extend(segments);
        }
        url
    }

    /// Serialises a request body.
    pub(crate) fn json_body<T: Serialize + ?Sized>(
        route: &str,
        body: &T,
    ) -> Result<Option<Vec<u8>>, GenesysError> {
        serde_json::to_vec(body)
            .map(Some)
            .map_err(|e| GenesysError::Decode {
                route: route.to_owned(),
                message: format!("cannot serialise request body: {e}"),
                correlation_id: None,
            })
    }

    /// Sends a call and parses the 2xx body as `T`.
    pub(crate) async fn call_json<T: DeserializeOwned>(
        &self,
        call: Call,
    ) -> Result<T, GenesysError> {
        let answer = self.send(call).await?;
        serde_json::from_slice(&answer.body).map_err(|e| GenesysError::Decode {
            route: answer.route,
            message: e.to_string(),
            correlation_id: answer.correlation_id,
        })
    }

    /// GETs a presigned download URL (an export file): no bearer token, not counted against
    /// the org's API budget. One attempt; a non-2xx answer is `Rejected`.
    pub(crate) async fn download_text(&self, url: &str) -> Result<String, GenesysError> {
        let route = "GET <export download>".to_owned();
        let transport = |e: reqwest::Error| GenesysError::Transport {
            route: route.clone(),
            kind: if e.is_timeout() {
                "timeout"
            } else {
                "connection"
            },
            message: error_chain(&e),
            attempts: 1,
        };
        let response = self.inner.http.get(url).send().await.map_err(transport)?;
        let status = response.status();
        let body = response.text().await.map_err(transport)?;
        if !status.is_success() {
            let failure = ApiFailure::new(route.clone(), status.as_u16(), None, &body, None);
            return Err(GenesysError::Rejected(Box::new(failure)));
        }
        Ok(body)
    }

    /// Sends a call whose 2xx body is ignored.
    pub(crate) async fn call_empty(&self, call: Call) -> Result<(), GenesysError> {
        self.send(call).await.map(|_| ())
    }

    async fn lease(&self) -> Result<crate::token::Lease, GenesysError> {
        self.inner.token.get(|| self.fetch_token()).await
    }

    /// The attempt loop (see the module doc). A 429 pauses the org for `Retry-After`, else
    /// `inin-ratelimit-reset`, else the backoff ceiling of this attempt; 429 retries are
    /// bounded by `max_elapsed` only, transient ones also by `max_attempts`. No wait is
    /// started that would end past `max_elapsed`: the last error is returned instead.
    ///
    /// POSTs are retried too: that is safe for the add-contacts upsert only because dialsync
    /// supplies every contact's `id`, so a repeat updates the same contacts instead of
    /// creating duplicates.
    pub(crate) async fn send(&self, call: Call) -> Result<Answer, GenesysError> {
        let inner = &*self.inner;
        let policy = &inner.settings.retry;
        let route = format!("{} {}", call.method, call.route);
        let started = Instant::now();
        let deadline = started + policy.max_elapsed;
        let mut attempt: u32 = 0;
        let mut transient_failures: u32 = 0;
        let mut refreshed = false;
        loop {
            attempt += 1;
            if attempt > 1 {
                bump(&inner.counters.retries);
                metrics::counter!("genesys_retries_total", "org" => inner.settings.name.clone())
                    .increment(1);
            }
            let outcome = self.attempt(&call, &route, attempt).await;
            let (error, wait) = match outcome {
                Outcome::Done(answer) => return Ok(answer),
                Outcome::Fail(error) => return Err(error),
                Outcome::Unauthorized(failure) => {
                    if refreshed {
                        return Err(GenesysError::Unauthorized(Box::new(failure)));
                    }
                    refreshed = true;
                    continue;
                }
                Outcome::RateLimited { failure, wait } => {
                    let wait = wait.unwrap_or_else(|| backoff::ceiling(policy, attempt));
                    inner.budget.pause_for(wait).await;
                    let error = GenesysError::RateLimited {
                        failure: Box::new(failure),
                        attempts: attempt,
                        retry_after: Some(wait),
                    };
                    (error, wait)
                }
                Outcome::ServerError {
                    failure,
                    retry_after,
                } => {
                    transient_failures += 1;
                    let error = GenesysError::Server {
                        failure: Box::new(failure),
                        attempts: attempt,
                    };
                    (error, self.backoff(transient_failures, retry_after))
                }
                Outcome::Transport { kind, message } => {
                    transient_failures += 1;
                    let error = GenesysError::Transport {
                        route: route.clone(),
                        kind,
                        message,
                        attempts: attempt,
                    };
                    (error, self.backoff(transient_failures, None))
                }
            };
            if transient_failures >= policy.max_attempts || Instant::now() + wait > deadline {
                return Err(error);
            }
            debug!(org = %inner.settings.name, route = %route, attempt, wait_ms = wait.as_millis() as u64, "retrying");
            sleep(wait).await;
        }
    }

    /// The wait before retry number `n` of a transient failure.
    fn backoff(&self, n: u32, retry_after: Option<Duration>) -> Duration {
        let ceiling = backoff::ceiling(&self.inner.settings.retry, n);
        let picked = self
            .inner
            .jitter
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pick(ceiling);
        retry_after.map_or(picked, |r| r.max(picked))
    }

    /// One HTTP attempt, classified.
    async fn attempt(&self, call: &Call, route: &str, attempt: u32) -> Outcome {
        let inner = &*self.inner;
        let _permit = inner.budget.acquire().await;
        // Leased after the budget wait so a token never goes stale in the queue.
        let lease = match self.lease().await {
            Ok(lease) => lease,
            Err(e) => return Outcome::Fail(e),
        };
        let mut request = inner
            .http
            .request(call.method.clone(), call.url.clone())
            .bearer_auth(lease.value.expose())
            .header(ACCEPT, "application/json");
        if let Some(body) = &call.body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        let sent_at = Instant::now();
        let result = async {
            let response = request.send().await?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = response.bytes().await?;
            Ok::<_, reqwest::Error>((status, headers, body))
        }
        .await;
        let org = inner.settings.name.clone();
        let (status, headers, body) = match result {
            Ok(parts) => parts,
            Err(e) => {
                bump(&inner.counters.transport_errors);
                metrics::counter!("genesys_requests_total", "org" => org, "status" => "transport")
                    .increment(1);
                let kind = if e.is_timeout() {
                    "timeout"
                } else {
                    "connection"
                };
                let message = error_chain(&e);
                debug!(org = %inner.settings.name, method = %call.method, route = %call.route, attempt, error = %message, "genesys request failed");
                return Outcome::Transport { kind, message };
            }
        };
        let correlation_id = header_str(&headers, CORRELATION_HEADER);
        inner.counters.record_status(status.as_u16());
        metrics::counter!("genesys_requests_total", "org" => org.clone(), "status" => status.as_u16().to_string())
            .increment(1);
        debug!(
            org = %inner.settings.name,
            method = %call.method,
            route = %call.route,
            status = status.as_u16(),
            attempt,
            correlation_id = correlation_id.as_deref().unwrap_or(""),
            elapsed_ms = sent_at.elapsed().as_millis() as u64,
            "genesys request"
        );
        if status.is_success() {
            return Outcome::Done(Answer {
                body: body.to_vec(),
                correlation_id,
                route: route.to_owned(),
            });
        }
        let raw = String::from_utf8_lossy(&body);
        let parsed = serde_json::from_slice::<ErrorBody>(&body).ok();
        let failure = ApiFailure::new(
            route.to_owned(),
            status.as_u16(),
            parsed,
            &raw,
            correlation_id,
        );
        match status {
            StatusCode::TOO_MANY_REQUESTS => {
                bump(&inner.counters.rate_limited);
                metrics::counter!("genesys_rate_limited_total", "org" => org).increment(1);
                let wait = seconds_header(&headers, RETRY_AFTER.as_str())
                    .or_else(|| seconds_header(&headers, RATELIMIT_RESET_HEADER));
                Outcome::RateLimited { failure, wait }
            }
            StatusCode::UNAUTHORIZED => {
                bump(&inner.counters.unauthorized_refreshes);
                inner.token.invalidate(lease.generation).await;
                Outcome::Unauthorized(failure)
            }
            StatusCode::CONFLICT => {
                bump(&inner.counters.conflicts);
                Outcome::Fail(GenesysError::Conflict(Box::new(failure)))
            }
            StatusCode::REQUEST_TIMEOUT => Outcome::ServerError {
                failure,
                retry_after: None,
            },
            s if s.is_server_error() => {
                let retry_after = seconds_header(&headers, RETRY_AFTER.as_str());
                Outcome::ServerError {
                    failure,
                    retry_after,
                }
            }
            _ => Outcome::Fail(GenesysError::Rejected(Box::new(failure))),
        }
    }

    /// Fetches a token: `POST {login}/oauth/token`, HTTP Basic client id/secret, form body
    /// `grant_type=client_credentials` (as the official SDKs do). Transient failures are
    /// retried with the same backoff policy; refused credentials are `Unauthorized`.
    async fn fetch_token(&self) -> Result<FetchedToken, GenesysError> {
        #[derive(serde::Deserialize)]
        struct TokenAnswer {
            access_token: String,
            #[serde(default)]
            expires_in: Option<u64>,
        }
        let inner = &*self.inner;
        let route = "POST /oauth/token".to_owned();
        let policy = &inner.settings.retry;
        let deadline = Instant::now() + policy.max_elapsed;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = async {
                let response = inner
                    .http
                    .post(inner.endpoint.token_url.clone())
                    .basic_auth(
                        &inner.settings.client_id,
                        Some(inner.settings.client_secret.expose()),
                    )
                    .header(ACCEPT, "application/json")
                    .form(&[("grant_type", "client_credentials")])
                    .send()
                    .await?;
                let status = response.status();
                let headers = response.headers().clone();
                let body = response.bytes().await?;
                Ok::<_, reqwest::Error>((status, headers, body))
            }
            .await;
            let (error, retry_after) = match result {
                Ok((status, headers, body)) => {
                    let correlation_id = header_str(&headers, CORRELATION_HEADER);
                    debug!(org = %inner.settings.name, route = %route, status = status.as_u16(), attempt, correlation_id = correlation_id.as_deref().unwrap_or(""), "genesys token request");
                    if status.is_success() {
                        let answer: TokenAnswer =
                            serde_json::from_slice(&body).map_err(|e| GenesysError::Decode {
                                route: route.clone(),
                                message: format!("token answer: {e}"),
                                correlation_id: correlation_id.clone(),
                            })?;
                        bump(&inner.counters.token_fetches);
                        return Ok(FetchedToken {
                            value: Secret::new(answer.access_token),
                            // Genesys' documented default lifetime is 24 h.
                            expires_in: Duration::from_secs(answer.expires_in.unwrap_or(86_400)),
                        });
                    }
                    let failure = oauth_failure(&route, status, &body, correlation_id);
                    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
                        let retry_after = seconds_header(&headers, RETRY_AFTER.as_str());
                        (
                            GenesysError::Server {
                                failure: Box::new(failure),
                                attempts: attempt,
                            },
                            retry_after,
                        )
                    } else if status == StatusCode::CONFLICT {
                        return Err(GenesysError::Conflict(Box::new(failure)));
                    } else if status == StatusCode::BAD_REQUEST
                        || status == StatusCode::UNAUTHORIZED
                        || status == StatusCode::FORBIDDEN
                    {
                        return Err(GenesysError::Unauthorized(Box::new(failure)));
                    } else {
                        return Err(GenesysError::Rejected(Box::new(failure)));
                    }
                }
                Err(e) => {
                    let kind = if e.is_timeout() {
                        "timeout"
                    } else {
                        "connection"
                    };
                    let error = GenesysError::Transport {
                        route: route.clone(),
                        kind,
                        message: error_chain(&e),
                        attempts: attempt,
                    };
                    (error, None)
                }
            };
            let wait = self.backoff(attempt, retry_after);
            if attempt >= policy.max_attempts || Instant::now() + wait > deadline {
                return Err(error);
            }
            sleep(wait).await;
        }
    }
}

/// An OAuth error answer (`{"error":"invalid_client","error_description":…}`) or an ErrorBody.
fn oauth_failure(
    route: &str,
    status: StatusCode,
    body: &[u8],
    correlation_id: Option<String>,
) -> ApiFailure {
    #[derive(serde::Deserialize)]
    struct OAuthError {
        error: Option<String>,
        error_description: Option<String>,
        description: Option<String>,
    }
    let raw = String::from_utf8_lossy(body);
    if let Ok(oauth) = serde_json::from_slice::<OAuthError>(body)
        && oauth.error.is_some()
    {
        let body = ErrorBody {
            code: oauth.error,
            message: oauth.error_description.or(oauth.description),
            ..ErrorBody::default()
        };
        return ApiFailure::new(
            route.to_owned(),
            status.as_u16(),
            Some(body),
            &raw,
            correlation_id,
        );
    }
    let parsed = serde_json::from_slice::<ErrorBody>(body).ok();
    ApiFailure::new(
        route.to_owned(),
        status.as_u16(),
        parsed,
        &raw,
        correlation_id,
    )
}

/// A header's value as text.
fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// A header holding a number of seconds (`Retry-After: 42`, `inin-ratelimit-reset: 61`).
/// HTTP-date forms of Retry-After are not used by Genesys and are ignored.
fn seconds_header(headers: &HeaderMap, name: &str) -> Option<Duration> {
    let text = header_str(headers, name)?;
    let secs: f64 = text.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(6.0 * 3600.0)))
}

/// A reqwest error with its sources, for messages (reqwest's own text stops at the top).
fn error_chain(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn seconds_headers_parse_integers_and_fractions_and_ignore_junk() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("42"));
        h.insert(RATELIMIT_RESET_HEADER, HeaderValue::from_static("1.5"));
        assert_eq!(
            seconds_header(&h, "retry-after"),
            Some(Duration::from_secs(42))
        );
        assert_eq!(
            seconds_header(&h, RATELIMIT_RESET_HEADER),
            Some(Duration::from_millis(1500))
        );
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(seconds_header(&h, "retry-after"), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static("-3"));
        assert_eq!(seconds_header(&h, "retry-after"), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static("99999999"));
        assert_eq!(
            seconds_header(&h, "retry-after"),
            Some(Duration::from_secs(6 * 3600))
        );
    }

    #[test]
    fn oauth_errors_keep_their_code_and_description() {
        let body =
            br#"{"error":"invalid_client","error_description":"invalid client credentials"}"#;
        let f = oauth_failure("POST /oauth/token", StatusCode::UNAUTHORIZED, body, None);
        assert_eq!(f.code.as_deref(), Some("invalid_client"));
        assert_eq!(f.message, "invalid client credentials");
        let f = oauth_failure(
            "POST /oauth/token",
            StatusCode::BAD_GATEWAY,
            b"",
            Some("c1".into()),
        );
        assert_eq!(f.message, "HTTP 502");
        assert_eq!(f.correlation_id.as_deref(), Some("c1"));
    }

    #[test]
    fn zero_rate_or_concurrency_is_a_config_error() {
        let base = OrgSettings::new(
            "acme",
            crate::Endpoint::Region("mypurecloud.ie".into()),
            "id",
            Secret::new("s3cret"),
        );
        let zero_rate = OrgSettings {
            requests_per_minute: 0,
            ..base.clone()
        };
        let err = GenesysClient::new(zero_rate).unwrap_err();
        assert!(err.to_string().contains("requests_per_minute"), "{err}");
        let zero_conc = OrgSettings {
            max_concurrency: 0,
            ..base.clone()
        };
        assert!(GenesysClient::new(zero_conc).is_err());
        let client = GenesysClient::new(base).unwrap();
        let debug = format!("{client:?}");
        assert!(debug.contains("https://api.mypurecloud.ie/"), "{debug}");
        assert!(!debug.contains("s3cret"));
    }
}
