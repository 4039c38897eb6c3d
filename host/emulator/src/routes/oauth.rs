//! `POST /oauth/token`: the client-credentials grant, served on the API address (the real
//! login host is `login.{region}`; the SDKs derive it from the API host, and a base-URL
//! client such as dialsync's uses one address for both).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::json;
use tokio::time::Instant;

use crate::app::{AppState, RouteName, Token};

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({"error": error, "description": description, "error_description": description})),
    )
        .into_response()
}

/// Issues a token for valid Basic credentials and `grant_type=client_credentials`.
pub(crate) async fn token(
    State(sh): State<AppState>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let mut resp = issue(&sh, &headers, &body);
    resp.extensions_mut()
        .insert(RouteName("/oauth/token".into()));
    resp
}

fn issue(sh: &AppState, headers: &HeaderMap, body: &str) -> Response {
    let creds = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
        })
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok());
    let Some((id, secret)) = creds.as_deref().and_then(|c| c.split_once(':')) else {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication required (HTTP Basic)",
        );
    };
    let grant = url::form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == "grant_type")
        .map(|(_, v)| v.into_owned());
    match grant.as_deref() {
        Some("client_credentials") => {}
        Some(other) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                &format!("grant_type '{other}' is not supported"),
            );
        }
        None => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "grant_type is required",
            );
        }
    }
    let cfg = sh.config();
    if !cfg
        .clients()
        .iter()
        .any(|c| c.client_id == id && c.client_secret == secret)
    {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "invalid client credentials",
        );
    }
    let access_token = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let ttl = cfg.token_ttl;
    sh.auth().tokens.insert(
        access_token.clone(),
        Token {
            client_id: id.to_string(),
            expires: Instant::now() + ttl,
        },
    );
    Json(json!({"access_token": access_token, "token_type": "bearer", "expires_in": ttl.as_secs()}))
        .into_response()
}
