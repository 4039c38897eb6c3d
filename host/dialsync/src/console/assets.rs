//! The console's pages and files, compiled into the binary with `include_str!`, and the
//! login and logout handlers.

use std::sync::{Arc, LazyLock};

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::Console;
use super::session::{self, Refusal};

const LOGIN_HTML: &str = include_str!("assets/login.html");
const APP_HTML: &str = include_str!("assets/app.html");
const CSS: &str = include_str!("assets/console.css");
const JS: &str = include_str!("assets/console.js");
const ICON: &str = include_str!("assets/icon.svg");

/// The static files: (name, content type, body).
const FILES: [(&str, &str, &str); 3] = [
    ("console.css", "text/css; charset=utf-8", CSS),
    ("console.js", "text/javascript; charset=utf-8", JS),
    ("icon.svg", "image/svg+xml", ICON),
];

/// One ETag for all static files: they change only with the binary.
static ETAG: LazyLock<String> = LazyLock::new(|| {
    let mut h = Sha256::new();
    for (_, _, body) in FILES {
        h.update(body.as_bytes());
    }
    format!("\"{}\"", &hex::encode(h.finalize())[..16])
});

/// Total bytes of the pages and files the console ships (for the page-weight report).
pub fn shipped_bytes() -> usize {
    APP_HTML.len() + FILES.iter().map(|(_, _, b)| b.len()).sum::<usize>()
}

/// `GET /console/assets/{file}`.
pub async fn static_file(Path(file): Path<String>, headers: HeaderMap) -> Response {
    let Some((_, content_type, body)) = FILES.iter().find(|(n, _, _)| *n == file) else {
        return (StatusCode::NOT_FOUND, "no such console file").into_response();
    };
    let etag = ETAG.as_str();
    let cache = [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (header::ETAG, HeaderValue::from_str(etag).expect("hex etag")),
    ];
    if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes())
    {
        return (StatusCode::NOT_MODIFIED, cache).into_response();
    }
    (
        cache,
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        *body,
    )
        .into_response()
}

fn login_page(status: StatusCode, message: &str) -> Response {
    let alert = if message.is_empty() {
        String::new()
    } else {
        format!(r#"<p class="alert" role="alert" id="login-error">{message}</p>"#)
    };
    (status, Html(LOGIN_HTML.replace("{{ALERT}}", &alert))).into_response()
}

/// `GET /console/login`.
pub async fn login_page_get(State(console): State<Arc<Console>>) -> Response {
    if console.app.admin_token.is_none() {
        return super::disabled().into_response();
    }
    login_page(StatusCode::OK, "")
}

/// Body of `POST /console/login`.
#[derive(Deserialize)]
pub struct LoginForm {
    token: String,
}

/// `POST /console/login`: a right token starts a session (cookie) and goes to the app;
/// a wrong one answers 401 with the form again. Cross-site posts are refused.
pub async fn login(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let Some(expected) = &console.app.admin_token else {
        return super::disabled().into_response();
    };
    if session::same_origin(&headers).is_err() {
        tracing::warn!("console login refused: cross-site request");
        return login_page(StatusCode::FORBIDDEN, "Cross-site login refused.");
    }
    if !console.sessions.login_allowed() {
        return login_page(
            StatusCode::TOO_MANY_REQUESTS,
            &Refusal::Throttled.to_string(),
        );
    }
    // The admin API's own bearer check, so the console accepts exactly its token.
    let mut probe = HeaderMap::new();
    let ok = HeaderValue::from_str(&format!("Bearer {}", form.token))
        .ok()
        .map(|v| {
            probe.insert(header::AUTHORIZATION, v);
            let auth = crate::server::signatures::WebhookAuth::Bearer {
                token: expected.clone(),
            };
            crate::server::signatures::verify(&auth, &probe, b"", 0, 0).is_ok()
        })
        .unwrap_or(false);
    if !ok {
        console.sessions.login_failed();
        tracing::warn!("console login refused: wrong admin token");
        return login_page(StatusCode::UNAUTHORIZED, "Wrong admin token.");
    }
    let (id, _) = console.sessions.create();
    tracing::info!("console login");
    (
        [(
            header::SET_COOKIE,
            HeaderValue::from_str(&session::set_cookie(&id)).expect("hex cookie"),
        )],
        Redirect::to("/console"),
    )
        .into_response()
}

/// Body of `POST /console/logout`.
#[derive(Deserialize)]
pub struct LogoutForm {
    csrf: String,
}

/// `POST /console/logout`: ends the session (CSRF-checked) and clears the cookie.
pub async fn logout(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Form(form): Form<LogoutForm>,
) -> Response {
    match console.sessions.check_write_with(&headers, &form.csrf) {
        Ok((id, _)) => {
            console.sessions.remove(&id);
            (
                [(
                    header::SET_COOKIE,
                    HeaderValue::from_str(&session::clear_cookie()).expect("static cookie"),
                )],
                Redirect::to("/console/login"),
            )
                .into_response()
        }
        Err(r) => (StatusCode::FORBIDDEN, r.to_string()).into_response(),
    }
}

/// `GET /console`: the app for a logged-in browser, else the login form.
pub async fn app(State(console): State<Arc<Console>>, headers: HeaderMap) -> Response {
    if console.app.admin_token.is_none() {
        return super::disabled().into_response();
    }
    match console.sessions.lookup(&headers) {
        Some((_, s)) => Html(APP_HTML.replace("{{CSRF}}", &s.csrf)).into_response(),
        None => Redirect::to("/console/login").into_response(),
    }
}
