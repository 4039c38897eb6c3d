//! HTTP plumbing shared by the CRM clients: typed errors that name the URL and never a
//! credential, and retries of transient failures (connect/timeout errors, 429, 5xx)
//! with exponential backoff that honours `Retry-After` (as the Airbyte CDK's default
//! retry policy does: 5 tries, 429 or 5xx).

use std::time::Duration;

/// Tries per request before a transient failure is reported.
pub const MAX_TRIES: u32 = 5;

/// A CRM call or pull step that failed.
#[derive(Debug, thiserror::Error)]
pub enum CrmError {
    /// A setting is missing or unusable; names the config key.
    #[error("{key}: {message}")]
    Config {
        /// Dotted config key.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// The CRM answered an error status.
    #[error("{method} {url} answered {status}: {body}")]
    Status {
        /// HTTP method.
        method: &'static str,
        /// The URL (no credentials in it).
        url: String,
        /// The status code.
        status: u16,
        /// The start of the answer body.
        body: String,
    },
    /// The request did not complete.
    #[error("{method} {url} failed: {message}")]
    Transport {
        /// HTTP method.
        method: &'static str,
        /// The URL.
        url: String,
        /// The transport error.
        message: String,
    },
    /// The answer is not what the API documents.
    #[error("{url}: unexpected answer: {message}")]
    Decode {
        /// The URL.
        url: String,
        /// What was wrong.
        message: String,
    },
    /// The journal refused the records (nothing was acknowledged; the position was not
    /// moved).
    #[error("journal: {0}")]
    Journal(String),
    /// The position could not be stored.
    #[error(transparent)]
    Cursor(#[from] super::cursors::CursorError),
}

impl CrmError {
    /// The HTTP status, when the CRM answered one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

fn transient(status: reqwest::StatusCode) -> bool {
    status == reqwest::StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
}

fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    resp.headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(|s| Duration::from_secs(s.min(60)))
}

/// Sends the request `build` makes, retrying transient failures; a non-2xx final answer
/// becomes [`CrmError::Status`] with the start of its body.
pub async fn send(
    method: &'static str,
    url: &str,
    build: impl Fn() -> reqwest::RequestBuilder,
) -> Result<reqwest::Response, CrmError> {
    let mut delay = Duration::from_millis(200);
    for attempt in 1..=MAX_TRIES {
        let last = attempt == MAX_TRIES;
        match build().send().await {
            Ok(resp) if resp.status().is_success() => return Ok(resp),
            Ok(resp) if transient(resp.status()) && !last => {
                let wait = retry_after(&resp).unwrap_or(delay);
                tracing::warn!(
                    method,
                    url,
                    status = resp.status().as_u16(),
                    attempt,
                    "CRM call failed; retrying"
                );
                tokio::time::sleep(wait).await;
            }
            Ok(resp) => {
                let status = resp.status().as_u16();
                let mut body = resp.text().await.unwrap_or_default();
                body.truncate(500);
                return Err(CrmError::Status {
                    method,
                    url: url.to_owned(),
                    status,
                    body,
                });
            }
            Err(e) if !last => {
                tracing::warn!(method, url, error = %e, attempt, "CRM call failed; retrying");
                tokio::time::sleep(delay).await;
            }
            Err(e) => {
                return Err(CrmError::Transport {
                    method,
                    url: url.to_owned(),
                    message: e.to_string(),
                });
            }
        }
        delay = (delay * 2).min(Duration::from_secs(8));
    }
    unreachable!("the last attempt always returns")
}

/// Reads a JSON answer.
pub async fn json(url: &str, resp: reqwest::Response) -> Result<serde_json::Value, CrmError> {
    resp.json().await.map_err(|e| CrmError::Decode {
        url: url.to_owned(),
        message: format!("not JSON: {e}"),
    })
}

/// Reads a secret from the environment variable named at config `key`.
pub fn secret_env(key: &str, var: Option<&str>) -> Result<String, CrmError> {
    let var = var.ok_or_else(|| CrmError::Config {
        key: key.to_owned(),
        message: "is required for this auth scheme".into(),
    })?;
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Ok(v),
        _ => Err(CrmError::Config {
            key: key.to_owned(),
            message: format!("environment variable {var} is not set or empty"),
        }),
    }
}
