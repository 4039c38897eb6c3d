//! Typed errors, one variant per retry class of the design ("Retry classes"), each carrying
//! the HTTP status, the Genesys `code`, the message and the correlation id so an operator can
//! quote it to Genesys support.

use std::fmt;
use std::time::Duration;

use crate::model::ErrorBody;

/// What a caller should do about an error (design.md, "Retry classes").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RetryClass {
    /// 429: the client already waited and retried until its time budget ran out; try later.
    RateLimited,
    /// 5xx, timeout, connection reset: the client already backed off and retried; dead-letter
    /// or try much later.
    Transient,
    /// 401 that a fresh token did not cure, or the token endpoint refused the credentials.
    Unauthorized,
    /// 409: the caller decides (park the contact, re-read the version).
    Conflict,
    /// Any other 4xx, or a response the client could not understand: never retried.
    Rejected,
}

/// What Genesys said about a failed call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiFailure {
    /// `METHOD /path` of the call.
    pub route: String,
    /// HTTP status.
    pub status: u16,
    /// Genesys machine code (`bad.request`, `not.found`, …) when the body had one.
    pub code: Option<String>,
    /// Human-readable message (the body's `message`, or the status text).
    pub message: String,
    /// `ININ-Correlation-Id` header or the body's `contextId`.
    pub correlation_id: Option<String>,
    /// Per-field details from the error body (`details[]`, nested `errors[]`), rendered.
    pub details: Vec<String>,
}

impl ApiFailure {
    /// Builds a failure from a status, an optional parsed body and the correlation header.
    pub(crate) fn new(
        route: String,
        status: u16,
        body: Option<ErrorBody>,
        raw_body: &str,
        correlation_header: Option<String>,
    ) -> Self {
        let body = body.unwrap_or_default();
        let message = body.message.clone().unwrap_or_else(|| {
            let trimmed: String = raw_body.chars().take(200).collect();
            if trimmed.trim().is_empty() {
                format!("HTTP {status}")
            } else {
                trimmed
            }
        });
        let mut details = Vec::new();
        for d in &body.details {
            let mut parts = Vec::new();
            if let Some(f) = &d.field_name {
                parts.push(format!("field {f}"));
            }
            if let Some(c) = &d.error_code {
                parts.push(c.clone());
            }
            if let Some(e) = &d.entity_id {
                parts.push(format!("entity {e}"));
            }
            if !parts.is_empty() {
                details.push(parts.join(": "));
            }
        }
        for e in &body.errors {
            let code = e.code.as_deref().unwrap_or("error");
            let msg = e.message.as_deref().unwrap_or("");
            details.push(format!("{code}: {msg}"));
        }
        Self {
            route,
            status,
            code: body.code,
            message,
            correlation_id: correlation_header.or(body.context_id),
            details,
        }
    }
}

impl fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {}", self.route, self.status)?;
        if let Some(code) = &self.code {
            write!(f, " {code}")?;
        }
        write!(f, ": {}", self.message)?;
        if !self.details.is_empty() {
            write!(f, " [{}]", self.details.join("; "))?;
        }
        if let Some(id) = &self.correlation_id {
            write!(f, " (correlation id {id})")?;
        }
        Ok(())
    }
}

/// An error from the Genesys client.
#[derive(Debug, thiserror::Error)]
pub enum GenesysError {
    /// 429 and the call's time budget (`max_elapsed`) ran out while waiting.
    #[error("rate limited, gave up after {attempts} attempts: {failure}")]
    RateLimited {
        /// The last 429.
        failure: Box<ApiFailure>,
        /// Attempts made.
        attempts: u32,
        /// The wait Genesys asked for last.
        retry_after: Option<Duration>,
    },
    /// 5xx answers kept coming until attempts or time ran out.
    #[error("server error, gave up after {attempts} attempts: {failure}")]
    Server {
        /// The last 5xx.
        failure: Box<ApiFailure>,
        /// Attempts made.
        attempts: u32,
    },
    /// The request never got an HTTP answer (timeout, connection refused/reset) until
    /// attempts or time ran out.
    #[error("{route}: {kind} after {attempts} attempts: {message}")]
    Transport {
        /// `METHOD /path` of the call.
        route: String,
        /// `timeout` or `connection`.
        kind: &'static str,
        /// The transport's message (never contains the token).
        message: String,
        /// Attempts made.
        attempts: u32,
    },
    /// 401 after one token refresh, or the token endpoint refused the client credentials.
    #[error("unauthorized: {0}")]
    Unauthorized(Box<ApiFailure>),
    /// 409: stale version, or a contact held by the dialer. Returned at once.
    #[error("conflict: {0}")]
    Conflict(Box<ApiFailure>),
    /// Any other 4xx. Never retried.
    #[error("rejected: {0}")]
    Rejected(Box<ApiFailure>),
    /// A 2xx whose body did not match the expected model.
    #[error("{route}: unexpected response body: {message}")]
    Decode {
        /// `METHOD /path` of the call.
        route: String,
        /// What failed to parse.
        message: String,
        /// `ININ-Correlation-Id` of the response.
        correlation_id: Option<String>,
    },
    /// Invalid settings (unknown region, bad URL, zero rate).
    #[error("invalid Genesys settings: {0}")]
    Config(String),
    /// An asynchronous Genesys job (bulk contact job, contact-list export) failed, or did not
    /// finish within the caller's time limit.
    #[error("{what} {id}: {message}")]
    Job {
        /// What kind of job, e.g. `bulk remove job`.
        what: &'static str,
        /// The job (or list) id.
        id: String,
        /// Its failure reason, or how long it was waited for.
        message: String,
        /// True when it was still running at the time limit (it may yet finish).
        timed_out: bool,
    },
}

impl GenesysError {
    /// What the caller should do about this error.
    pub fn retry_class(&self) -> RetryClass {
        match self {
            GenesysError::RateLimited { .. } => RetryClass::RateLimited,
            GenesysError::Server { .. } | GenesysError::Transport { .. } => RetryClass::Transient,
            GenesysError::Unauthorized(_) => RetryClass::Unauthorized,
            GenesysError::Conflict(_) => RetryClass::Conflict,
            GenesysError::Rejected(_) | GenesysError::Decode { .. } | GenesysError::Config(_) => {
                RetryClass::Rejected
            }
            GenesysError::Job { timed_out, .. } => {
                if *timed_out {
                    RetryClass::Transient
                } else {
                    RetryClass::Rejected
                }
            }
        }
    }

    /// The HTTP status, when there was an answer.
    pub fn status(&self) -> Option<u16> {
        self.failure().map(|f| f.status)
    }

    /// The Genesys error `code`, when the body had one.
    pub fn code(&self) -> Option<&str> {
        self.failure().and_then(|f| f.code.as_deref())
    }

    /// The correlation id (`ININ-Correlation-Id` / `contextId`), when known.
    pub fn correlation_id(&self) -> Option<&str> {
        match self {
            GenesysError::Decode { correlation_id, .. } => correlation_id.as_deref(),
            _ => self.failure().and_then(|f| f.correlation_id.as_deref()),
        }
    }

    /// The Genesys answer behind this error, when there was one.
    pub fn failure(&self) -> Option<&ApiFailure> {
        match self {
            GenesysError::RateLimited { failure, .. } | GenesysError::Server { failure, .. } => {
                Some(failure)
            }
            GenesysError::Unauthorized(f)
            | GenesysError::Conflict(f)
            | GenesysError::Rejected(f) => Some(f),
            GenesysError::Transport { .. }
            | GenesysError::Decode { .. }
            | GenesysError::Config(_)
            | GenesysError::Job { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_renders_status_code_message_details_and_correlation() {
        let body: ErrorBody = serde_json::from_str(
            r#"{"message":"bad column","code":"invalid.property","status":400,"contextId":"ctx-1",
                "details":[{"fieldName":"data.foo","errorCode":"unknown.column"}],"errors":[],"extra":1}"#,
        )
        .unwrap();
        let f = ApiFailure::new("POST /api/v2/x".into(), 400, Some(body), "", None);
        let err = GenesysError::Rejected(Box::new(f));
        let text = err.to_string();
        assert!(text.contains("400 invalid.property: bad column"), "{text}");
        assert!(text.contains("field data.foo: unknown.column"), "{text}");
        assert!(text.contains("correlation id ctx-1"), "{text}");
        assert_eq!(err.retry_class(), RetryClass::Rejected);
        assert_eq!(err.status(), Some(400));
        assert_eq!(err.code(), Some("invalid.property"));
    }

    #[test]
    fn header_correlation_id_wins_and_raw_body_is_the_fallback_message() {
        let f = ApiFailure::new(
            "GET /x".into(),
            502,
            None,
            "upstream down",
            Some("hdr".into()),
        );
        assert_eq!(f.message, "upstream down");
        assert_eq!(f.correlation_id.as_deref(), Some("hdr"));
        let err = GenesysError::Server {
            failure: Box::new(f),
            attempts: 5,
        };
        assert_eq!(err.retry_class(), RetryClass::Transient);
    }
}
