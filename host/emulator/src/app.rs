//! The shared emulator state and the two middlewares every request passes:
//! `outer` (correlation id, `ErrorBody` on every non-2xx, stats) and `gate` (bearer auth,
//! per-token rate limit, fault injection, dialer tick) on the `/api/v2` routes.
//!
//! Fault order per API request (one seeded draw each, in this fixed order, so a seed
//! reproduces a run): auth → rate limit → injected 429 burst → latency → dropped connection
//! (not applied; hangs `drop_hang`, then the connection is cut without an answer) → injected
//! 503 (decided before the write, nothing applied) → handler → "applied-then-500" (the write
//! was applied, the answer is a 500: tests idempotency).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;

use crate::config::EmulatorConfig;
use crate::error::{ApiError, ErrorBody, default_for};
use crate::stats::{Recorder, UNMATCHED};
use crate::store::Store;

/// An issued access token.
pub(crate) struct Token {
    pub client_id: String,
    pub expires: Instant,
}

/// A fixed 60-second rate window.
struct Window {
    start: Instant,
    count: u32,
}

/// Tokens and rate windows.
#[derive(Default)]
pub(crate) struct AuthState {
    pub tokens: HashMap<String, Token>,
    windows: HashMap<String, Window>,
}

const WINDOW: Duration = Duration::from_secs(60);

impl AuthState {
    /// Counts one request against `key`'s window; `Err(retry_after_secs)` when over `limit`.
    /// `Ok((count, reset_secs))` otherwise.
    fn take(&mut self, key: &str, limit: u32, now: Instant) -> Result<(u32, u64), u64> {
        let w = self.windows.entry(key.to_string()).or_insert(Window {
            start: now,
            count: 0,
        });
        if now.duration_since(w.start) >= WINDOW {
            *w = Window {
                start: now,
                count: 0,
            };
        }
        let reset = (WINDOW - now.duration_since(w.start))
            .as_secs_f64()
            .ceil()
            .max(1.0) as u64;
        if w.count >= limit {
            return Err(reset);
        }
        w.count += 1;
        Ok((w.count, reset))
    }

    /// Forgets all rate windows.
    pub fn clear_windows(&mut self) {
        self.windows.clear();
    }

    /// Invalidates every issued token (later use answers 401 `bad.credentials`, as an
    /// expired token does) and drops their per-token rate windows, which no request can
    /// reach any more. Per-client windows stay: the client's budget is not reset by losing
    /// its tokens. Returns how many tokens were invalidated.
    pub fn expire_tokens(&mut self) -> usize {
        let n = self.tokens.len();
        self.tokens.clear();
        self.windows.retain(|key, _| !key.starts_with("token:"));
        n
    }
}

/// Everything the handlers share.
pub(crate) struct Shared {
    pub config: RwLock<EmulatorConfig>,
    pub store: Mutex<Store>,
    pub auth: Mutex<AuthState>,
    pub stats: Mutex<Recorder>,
    pub faults: Mutex<StdRng>,
}

/// Handle passed to axum handlers.
pub(crate) type AppState = Arc<Shared>;

impl Shared {
    pub fn new(config: EmulatorConfig, store: Store) -> Self {
        let seed = config.seed;
        Self {
            config: RwLock::new(config),
            store: Mutex::new(store),
            auth: Mutex::new(AuthState::default()),
            stats: Mutex::new(Recorder::default()),
            faults: Mutex::new(StdRng::seed_from_u64(seed ^ 0xFA17_5EED)),
        }
    }
    /// A copy of the current configuration.
    pub fn config(&self) -> EmulatorConfig {
        self.config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
    /// Locks the store (a poisoned lock is recovered: handlers never leave half-done state
    /// behind a panic because they validate before they mutate).
    pub fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }
    pub fn auth(&self) -> std::sync::MutexGuard<'_, AuthState> {
        self.auth.lock().unwrap_or_else(|e| e.into_inner())
    }
    pub fn recorder(&self) -> std::sync::MutexGuard<'_, Recorder> {
        self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Marks a response with the route template it matched (for stats).
#[derive(Clone)]
pub(crate) struct RouteName(pub String);

/// Marks a response whose connection is dropped (not counted as a status).
#[derive(Clone)]
struct Dropped;

/// Outer middleware: correlation id, ErrorBody, stats.
pub(crate) async fn outer(State(sh): State<AppState>, req: Request, next: Next) -> Response {
    let method = req.method().to_string();
    let control = req.uri().path().starts_with("/_emulator");
    let context_id = uuid::Uuid::new_v4().to_string();
    let mut resp = next.run(req).await;
    let status = resp.status();
    if !status.is_success() && !status.is_redirection() {
        if let Some(e) = resp.extensions_mut().remove::<ApiError>() {
            let body = ErrorBody::from_api(&e, &context_id);
            let mut new = (e.status, axum::Json(body)).into_response();
            for (k, v) in e.headers {
                if let Ok(v) = HeaderValue::from_str(&v) {
                    new.headers_mut().insert(k, v);
                }
            }
            for (k, v) in resp.headers() {
                if k.as_str().starts_with("inin-") {
                    new.headers_mut().insert(k.clone(), v.clone());
                }
            }
            *new.extensions_mut() = std::mem::take(resp.extensions_mut());
            resp = new;
        } else if resp.extensions().get::<Dropped>().is_none()
            && !resp
                .headers()
                .get(header::CONTENT_TYPE)
                .is_some_and(|v| v.as_bytes().starts_with(b"application/json"))
        {
            let (code, message) = default_for(status);
            let body = ErrorBody::from_api(&ApiError::new(status, code, message), &context_id);
            let ext = std::mem::take(resp.extensions_mut());
            resp = (status, axum::Json(body)).into_response();
            *resp.extensions_mut() = ext;
        }
    }
    if let Ok(v) = HeaderValue::from_str(&context_id) {
        resp.headers_mut().insert("inin-correlation-id", v);
    }
    if !control {
        let mut rec = sh.recorder();
        if resp.extensions().get::<Dropped>().is_some() {
            rec.dropped += 1;
        } else {
            let route = resp
                .extensions()
                .get::<RouteName>()
                .map(|r| r.0.clone())
                .unwrap_or_else(|| UNMATCHED.into());
            rec.record(&method, &route, resp.status().as_u16());
        }
    }
    resp
}

/// Per-request random draws, taken together so every request consumes the same amount of
/// randomness whatever the outcome (keeps seeded runs reproducible).
struct Draws {
    burst: f64,
    latency: f64,
    drop: f64,
    error: f64,
    applied_error: f64,
}

/// The `/api/v2` gate: auth, rate limit, faults, dialer tick.
pub(crate) async fn gate(
    State(sh): State<AppState>,
    matched: MatchedPath,
    req: Request,
    next: Next,
) -> Response {
    let route = matched.as_str().to_string();
    let mut resp = gate_inner(&sh, req, next).await;
    resp.extensions_mut().insert(RouteName(route));
    resp
}

fn bearer(req: &Request) -> Option<String> {
    let v = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

async fn gate_inner(sh: &AppState, req: Request, next: Next) -> Response {
    let cfg = sh.config();
    let now = Instant::now();
    let Some(token) = bearer(&req) else {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "authentication.required",
            "No authentication bearer token specified in authorization header.",
        )
        .into_response();
    };
    // Auth and rate limit.
    let rate = {
        let mut auth = sh.auth();
        let client_id = match auth.tokens.get(&token) {
            Some(t) if t.expires > now => t.client_id.clone(),
            _ => {
                return ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "bad.credentials",
                    "Invalid login credentials.",
                )
                .into_response();
            }
        };
        let limit = cfg.rate_limit_per_minute;
        let per_token = auth.take(&format!("token:{token}"), limit, now);
        let per_client = match (cfg.rate_limit_per_client_per_minute, &per_token) {
            (Some(cl), Ok(_)) => auth
                .take(&format!("client:{client_id}"), cl, now)
                .map(|_| ()),
            _ => Ok(()),
        };
        match (per_token, per_client) {
            (Ok((count, reset)), Ok(())) => (count, limit, reset),
            (Err(retry), _) | (_, Err(retry)) => {
                drop(auth);
                sh.recorder().over_limit += 1;
                return too_many(&cfg, retry, limit, limit, retry);
            }
        }
    };
    let draws = {
        let mut rng = sh.faults.lock().unwrap_or_else(|e| e.into_inner());
        Draws {
            burst: rng.random(),
            latency: rng.random(),
            drop: rng.random(),
            error: rng.random(),
            applied_error: rng.random(),
        }
    };
    if draws.burst < cfg.burst_429_rate {
        return with_rate_headers(too_many(&cfg, 1, rate.0, rate.1, rate.2), &cfg, rate);
    }
    let (lo, hi) = (*cfg.latency.start(), *cfg.latency.end());
    if hi > Duration::ZERO {
        tokio::time::sleep(lo + (hi.saturating_sub(lo)).mul_f64(draws.latency)).await;
    }
    if draws.drop < cfg.drop_rate {
        tokio::time::sleep(cfg.drop_hang).await;
        let body = Body::from_stream(futures::stream::once(async {
            Err::<bytes::Bytes, std::io::Error>(std::io::Error::other(
                "connection dropped by fault injection",
            ))
        }));
        let mut resp = Response::new(body);
        resp.extensions_mut().insert(Dropped);
        return resp;
    }
    if draws.error < cfg.error_rate {
        let e = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service.unavailable",
            default_for(StatusCode::SERVICE_UNAVAILABLE).1,
        );
        return with_rate_headers(e.into_response(), &cfg, rate);
    }
    let write = matches!(
        *req.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    let mut resp = next.run(req).await;
    if write && resp.status().is_success() && draws.applied_error < cfg.applied_then_error_rate {
        sh.recorder().applied_then_error += 1;
        resp = ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal.server.error",
            default_for(StatusCode::INTERNAL_SERVER_ERROR).1,
        )
        .into_response();
    }
    {
        let mut store = sh.store();
        store.dialer_tick();
        store.advance_jobs(cfg.bulk_job_records_per_sec);
    }
    with_rate_headers(resp, &cfg, rate)
}

fn too_many(cfg: &EmulatorConfig, retry: u64, count: u32, limit: u32, reset: u64) -> Response {
    // Message as in Genesys' "Normalized Platform API 429 responses" announcement; the
    // limit key/namespace as on the org limits page (developer.genesys.cloud/organization/
    // organization/limits#platform-api).
    let mut e = ApiError::with_params(
        StatusCode::TOO_MANY_REQUESTS,
        "too.many.requests.retry.after",
        "Rate limit exceeded the maximum. Retry the request in [{retryAfter}] seconds",
        &[("retryAfter", retry.to_string())],
    )
    .limit(
        "client.credentials.token.rate.per.minute",
        "platform.api",
        i64::from(cfg.rate_limit_per_minute),
    );
    if cfg.retry_after_header {
        e.headers.push(("retry-after", retry.to_string()));
    }
    with_rate_headers(e.into_response(), cfg, (count, limit, reset))
}

fn with_rate_headers(
    mut resp: Response,
    cfg: &EmulatorConfig,
    (count, limit, reset): (u32, u32, u64),
) -> Response {
    if cfg.rate_headers {
        let h = resp.headers_mut();
        h.insert("inin-ratelimit-count", HeaderValue::from(count));
        h.insert("inin-ratelimit-allowed", HeaderValue::from(limit));
        h.insert("inin-ratelimit-reset", HeaderValue::from(reset));
    }
    resp
}
