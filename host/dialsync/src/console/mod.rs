//! `/console`: the admin console — a small web app for the CRM admin, served by
//! `dialsync serve` and shipped inside the binary (plain HTML, CSS and JS; no build step,
//! no external fonts or CDNs).
//!
//! - `GET /console/login`, `POST /console/login`: exchange the admin token for a session
//!   cookie ([`session`]); `POST /console/logout`.
//! - `GET /console`: the app (overview, plugins, records, dead letters, data actions).
//! - `/console/api/...`: the JSON the app reads and writes; every write needs the session's
//!   CSRF token and a same-origin request.
//!
//! The console reuses the engine, the plugin runtime and registry, and the admin API's
//! functions; journal reads it needs beyond those are in [`data`] (SQLite) and
//! [`pg_data`] (PostgreSQL). What it keeps itself —
//! the plugin swaps ([`swaps`]) and the last data-actions installs ([`install`]) — lives
//! in files under the dialsync home ([`disk`]), not in the journal.

pub mod api;
pub mod assets;
pub mod data;
pub mod disk;
pub mod install;
pub mod overview;
pub mod pg_data;
pub mod plugins;
pub mod session;
pub mod swaps;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::server::AppState;
use crate::server::error::ApiError;

/// Everything the console's handlers share.
pub struct Console {
    /// The server's state (engine, plugins, clients).
    pub app: Arc<AppState>,
    /// Logged-in sessions.
    pub sessions: session::Sessions,
    /// Journal reads.
    pub data: data::ConsoleData,
    /// Data-actions installs run from the console (the last ones persisted).
    pub installs: install::InstallLog,
    /// Request-rate samples per org (for rate-budget use).
    pub rates: overview::RateSampler,
}

/// The console's routes, to merge into the server's router.
pub fn router(app: Arc<AppState>) -> Router<Arc<AppState>> {
    let console = Arc::new(Console {
        data: data::ConsoleData::for_app(&app),
        installs: install::InstallLog::open(app.registry.home()),
        app,
        sessions: session::Sessions::default(),
        rates: overview::RateSampler::default(),
    });
    let api = Router::new()
        .route("/console/api/overview", get(overview::overview))
        .route(
            "/console/api/plugins",
            get(plugins::list)
                .post(plugins::upload)
                .layer(DefaultBodyLimit::max(crate::server::MAX_PLUGIN_BYTES)),
        )
        .route("/console/api/plugins/test", post(plugins::test))
        .route("/console/api/sources/{source}/plugin", post(plugins::swap))
        .route(
            "/console/api/sources/{source}/rollback",
            post(plugins::rollback),
        )
        .route("/console/api/records", get(api::records))
        .route("/console/api/changes", get(api::changes))
        .route("/console/api/deadletters", get(api::dead_letters))
        .route("/console/api/deadletters/replay", post(api::replay))
        .route("/console/api/actions", get(api::actions))
        .route(
            "/console/api/actions/install",
            get(install::last).post(install::run),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            console.clone(),
            require_session,
        ));
    Router::new()
        .route("/console", get(assets::app))
        .route("/console/", get(assets::app))
        .route(
            "/console/login",
            get(assets::login_page_get).post(assets::login),
        )
        .route("/console/logout", post(assets::logout))
        .route("/console/assets/{file}", get(assets::static_file))
        .merge(api)
        .layer(axum::middleware::from_fn(security_headers))
        .with_state(console)
}

/// API guard: reads need a live session; writes also a same-origin request and the
/// session's CSRF token.
async fn require_session(
    State(console): State<Arc<Console>>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if console.app.admin_token.is_none() {
        return Err(disabled());
    }
    let write = !matches!(
        *request.method(),
        axum::http::Method::GET | axum::http::Method::HEAD
    );
    let checked = if write {
        console.sessions.check_write(request.headers()).map(|_| ())
    } else {
        console
            .sessions
            .lookup(request.headers())
            .map(|_| ())
            .ok_or(session::Refusal::NoSession)
    };
    match checked {
        Ok(()) => Ok(next.run(request).await),
        Err(refusal) => {
            tracing::warn!(path = %request.uri().path(), reason = %refusal, "console request refused");
            let (status, code) = match refusal {
                session::Refusal::NoSession => (StatusCode::UNAUTHORIZED, "no-session"),
                session::Refusal::Throttled => (StatusCode::TOO_MANY_REQUESTS, "throttled"),
                session::Refusal::CrossSite => (StatusCode::FORBIDDEN, "cross-site"),
                session::Refusal::BadCsrf => (StatusCode::FORBIDDEN, "bad-csrf"),
            };
            Err(ApiError::new(status, code, refusal.to_string()))
        }
    }
}

/// 404 when the admin token is not configured: the console is as off as the admin API.
fn disabled() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "admin-disabled",
        "the console is off: set [server] admin_token_env",
    )
}

/// Headers on every console answer: a strict CSP (only our own scripts and styles), no
/// framing, no sniffing, no referrer to other sites (a `no-referrer` policy would make
/// browsers send `Origin: null` on our own form posts), no caching of pages that show data.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
