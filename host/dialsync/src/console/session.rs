//! Console sessions and CSRF protection.
//!
//! Logging in exchanges the admin token for a random 256-bit session id, kept server-side
//! with an idle and an absolute expiry, and sent back as an `HttpOnly; SameSite=Strict`
//! cookie scoped to `/console` — the token itself is never stored in the browser. Every
//! write must carry the session's synchronizer token in `X-CSRF-Token` (the page reads it
//! from a `<meta>` tag) and must not come from another site: `Sec-Fetch-Site` other than
//! `same-origin`, or an `Origin` whose host is not the request's `Host`, is refused.
//! Sessions live in memory: restarting `serve` logs everyone out.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use axum::http::header::{COOKIE, HOST, ORIGIN};
use rand::RngCore;
use subtle::ConstantTimeEq;

/// Name of the session cookie.
pub const COOKIE_NAME: &str = "dialsync_console";
/// Path the cookie is scoped to.
pub const COOKIE_PATH: &str = "/console";
/// Header carrying the CSRF token on writes.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// A session ends after this long without a request.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// A session ends this long after login, however busy.
pub const ABSOLUTE_TIMEOUT: Duration = Duration::from_secs(8 * 60 * 60);
/// Most sessions kept at once; the oldest is dropped beyond it.
const MAX_SESSIONS: usize = 256;
/// Failed logins allowed per window before logins are refused for the rest of it.
const MAX_FAILED_LOGINS: u32 = 10;
/// The window failed logins are counted in.
const FAILED_LOGIN_WINDOW: Duration = Duration::from_secs(60);

/// One logged-in browser.
#[derive(Clone, Debug)]
pub struct Session {
    /// The synchronizer token its writes must carry.
    pub csrf: String,
    created: Instant,
    last_seen: Instant,
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No cookie, an unknown id, or an expired session.
    #[error("not logged in, or the session expired: log in again")]
    NoSession,
    /// The request comes from another site (`Sec-Fetch-Site` or `Origin`).
    #[error("cross-site request refused")]
    CrossSite,
    /// The CSRF header is missing or does not match the session's token.
    #[error("missing or wrong CSRF token")]
    BadCsrf,
    /// Too many failed logins in the last minute.
    #[error("too many failed logins: wait a minute")]
    Throttled,
}

/// The session store.
#[derive(Default)]
pub struct Sessions {
    by_id: Mutex<HashMap<String, Session>>,
    failures: Mutex<(u32, Option<Instant>)>,
}

/// 32 random bytes from the OS-seeded thread RNG, hex-encoded.
fn random_id() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn alive(s: &Session, now: Instant) -> bool {
    now.duration_since(s.last_seen) < IDLE_TIMEOUT
        && now.duration_since(s.created) < ABSOLUTE_TIMEOUT
}

impl Sessions {
    /// Starts a session; returns its id (for the cookie) and the session.
    pub fn create(&self) -> (String, Session) {
        let now = Instant::now();
        let mut map = self.by_id.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, s| alive(s, now));
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| s.created)
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        let session = Session {
            csrf: random_id(),
            created: now,
            last_seen: now,
        };
        let id = random_id();
        map.insert(id.clone(), session.clone());
        (id, session)
    }

    /// The live session named by the request's cookie (refreshing its idle timer).
    pub fn lookup(&self, headers: &HeaderMap) -> Option<(String, Session)> {
        let id = cookie_value(headers, COOKIE_NAME)?;
        let now = Instant::now();
        let mut map = self.by_id.lock().unwrap_or_else(|p| p.into_inner());
        match map.get_mut(&id) {
            Some(s) if alive(s, now) => {
                s.last_seen = now;
                Some((id, s.clone()))
            }
            Some(_) => {
                map.remove(&id);
                None
            }
            None => None,
        }
    }

    /// Ends a session.
    pub fn remove(&self, id: &str) {
        self.by_id
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }

    /// Whether a login may be tried now (fewer than the allowed failures this minute).
    pub fn login_allowed(&self) -> bool {
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if f.1.is_some_and(|t| t.elapsed() >= FAILED_LOGIN_WINDOW) {
            *f = (0, None);
        }
        f.0 < MAX_FAILED_LOGINS
    }

    /// Counts a failed login.
    pub fn login_failed(&self) {
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        f.0 += 1;
        f.1.get_or_insert_with(Instant::now);
    }

    /// Checks a write: a live session, same-site origin, and the matching CSRF header.
    pub fn check_write(&self, headers: &HeaderMap) -> Result<(String, Session), Refusal> {
        let sent = headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        self.check_write_with(headers, sent)
    }

    /// Like [`Sessions::check_write`], with the CSRF token taken from a form field.
    pub fn check_write_with(
        &self,
        headers: &HeaderMap,
        sent: &str,
    ) -> Result<(String, Session), Refusal> {
        same_origin(headers)?;
        let (id, session) = self.lookup(headers).ok_or(Refusal::NoSession)?;
        if !bool::from(sent.as_bytes().ct_eq(session.csrf.as_bytes())) {
            return Err(Refusal::BadCsrf);
        }
        Ok((id, session))
    }
}

/// Refuses requests a browser marks as coming from another site: `Sec-Fetch-Site` must be
/// `same-origin` when present, and `Origin`, when present, must name the `Host` served.
/// (Clients that send neither — curl, scripts — still need the session and CSRF token.)
pub fn same_origin(headers: &HeaderMap) -> Result<(), Refusal> {
    if let Some(site) = headers.get("sec-fetch-site")
        && site.as_bytes() != b"same-origin"
    {
        return Err(Refusal::CrossSite);
    }
    if let Some(origin) = headers.get(ORIGIN) {
        let origin = origin.to_str().map_err(|_| Refusal::CrossSite)?;
        let host = headers
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .ok_or(Refusal::CrossSite)?;
        let origin_host = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
            .ok_or(Refusal::CrossSite)?;
        if !origin_host.eq_ignore_ascii_case(host) {
            return Err(Refusal::CrossSite);
        }
    }
    Ok(())
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// `Set-Cookie` for a new session.
pub fn set_cookie(id: &str) -> String {
    format!(
        "{COOKIE_NAME}={id}; Path={COOKIE_PATH}; HttpOnly; SameSite=Strict; Max-Age={}",
        ABSOLUTE_TIMEOUT.as_secs()
    )
}

/// `Set-Cookie` that deletes the session cookie.
pub fn clear_cookie() -> String {
    format!("{COOKIE_NAME}=; Path={COOKIE_PATH}; HttpOnly; SameSite=Strict; Max-Age=0")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn writes_need_session_csrf_and_same_origin() {
        let sessions = Sessions::default();
        let (id, s) = sessions.create();
        let cookie = format!("other=1; {COOKIE_NAME}={id}");
        let ok = headers(&[
            ("cookie", &cookie),
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080"),
            ("sec-fetch-site", "same-origin"),
            (CSRF_HEADER, &s.csrf),
        ]);
        assert!(sessions.check_write(&ok).is_ok());
        let mut cross = ok.clone();
        cross.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert_eq!(
            sessions.check_write(&cross).unwrap_err(),
            Refusal::CrossSite
        );
        let mut evil = ok.clone();
        evil.insert("origin", HeaderValue::from_static("http://evil.example"));
        evil.remove("sec-fetch-site");
        assert_eq!(sessions.check_write(&evil).unwrap_err(), Refusal::CrossSite);
        let mut no_csrf = ok.clone();
        no_csrf.remove(CSRF_HEADER);
        assert_eq!(
            sessions.check_write(&no_csrf).unwrap_err(),
            Refusal::BadCsrf
        );
        let mut wrong = ok.clone();
        wrong.insert(CSRF_HEADER, HeaderValue::from_static("00"));
        assert_eq!(sessions.check_write(&wrong).unwrap_err(), Refusal::BadCsrf);
        sessions.remove(&id);
        assert_eq!(sessions.check_write(&ok).unwrap_err(), Refusal::NoSession);
    }

    #[test]
    fn ids_are_random_and_cookies_are_strict() {
        let sessions = Sessions::default();
        let (a, sa) = sessions.create();
        let (b, _) = sessions.create();
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert_ne!(a, sa.csrf);
        let c = set_cookie(&a);
        for part in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
            assert!(c.contains(part), "{c}");
        }
    }

    #[test]
    fn failed_logins_are_throttled() {
        let sessions = Sessions::default();
        for _ in 0..MAX_FAILED_LOGINS {
            assert!(sessions.login_allowed());
            sessions.login_failed();
        }
        assert!(!sessions.login_allowed());
    }
}
