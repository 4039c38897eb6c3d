//! What the ServiceNow and Salesforce emulators share around their APIs: the gate every
//! API request passes (request count, injected faults, the bearer tokens the emulator
//! issued), reading form bodies, query strings and `Authorization` headers, and the
//! offset window of a result page.

use std::collections::{BTreeMap, HashSet};
use std::ops::Range;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::{HeaderMap, StatusCode, header};

use crate::faults::{FaultState, Faults};

/// Request count, faults and issued tokens of one emulated system.
pub(crate) struct Gate {
    faults: FaultState,
    requests: AtomicU64,
    tokens: Mutex<HashSet<String>>,
}

impl Gate {
    /// A gate with no faults and no tokens; `seed` seeds the fault draws.
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            faults: FaultState::new(seed),
            requests: AtomicU64::new(0),
            tokens: Mutex::new(HashSet::new()),
        }
    }

    /// Replaces the fault settings.
    pub(crate) fn set_faults(&self, faults: Faults) -> Result<(), String> {
        self.faults.set(faults)
    }

    /// API requests counted so far.
    pub(crate) fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Counts one API request and draws a fault: `Some(status)` when it is to fail.
    pub(crate) fn fault(&self) -> Option<StatusCode> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.faults
            .draw()
            .map(|s| StatusCode::from_u16(s).unwrap_or(StatusCode::SERVICE_UNAVAILABLE))
    }

    /// Remembers an access token the emulator handed out.
    pub(crate) fn issue(&self, token: &str) {
        self.tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(token.to_owned());
    }

    /// Whether `token` was issued.
    pub(crate) fn valid(&self, token: &str) -> bool {
        self.tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(token)
    }
}

/// The `Authorization` header's value (empty when absent).
pub(crate) fn authorization(headers: &HeaderMap) -> &str {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// The token of an `Authorization: Bearer` header.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    authorization(headers)
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// An `application/x-www-form-urlencoded` body or query string as a map.
pub(crate) fn form(text: &str) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(text.as_bytes())
        .into_owned()
        .collect()
}

/// The rows of a page of `size` starting at `offset` out of `total`, and whether it
/// is the last page.
pub(crate) fn window(total: usize, offset: usize, size: usize) -> (Range<usize>, bool) {
    let start = offset.min(total);
    let end = offset.saturating_add(size).min(total);
    (start..end, end >= total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_the_result_once() {
        assert_eq!(window(5, 0, 2), (0..2, false));
        assert_eq!(window(5, 4, 2), (4..5, true));
        assert_eq!(window(5, 9, 2), (5..5, true));
        assert_eq!(window(0, 0, 2), (0..0, true));
    }

    #[test]
    fn tokens_are_valid_once_issued_and_requests_are_counted() {
        let gate = Gate::new(1);
        assert!(!gate.valid("t"));
        gate.issue("t");
        assert!(gate.valid("t"));
        assert_eq!(gate.fault(), None);
        assert_eq!(gate.requests(), 1);
    }
}
