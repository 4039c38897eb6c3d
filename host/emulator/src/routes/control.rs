//! The control API under `/_emulator/` (no auth, not counted in stats): `GET stats`,
//! `GET state`, `POST reset`, `POST fixtures`, `PUT config`, `POST tokens/expire`
//! (invalidates every issued token, to test a client's re-auth on 401).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::json;

use super::json;
use crate::app::AppState;
use crate::config::ConfigPatch;
use crate::error::{ApiError, ApiResult};
use crate::fixtures::Fixtures;
use crate::stats::Stats;
use crate::store::StateDump;

/// `GET /_emulator/stats`.
pub(crate) async fn stats(State(sh): State<AppState>) -> Json<Stats> {
    Json(sh.recorder().snapshot())
}

/// `GET /_emulator/state`.
pub(crate) async fn state(State(sh): State<AppState>) -> Json<StateDump> {
    Json(sh.store().dump())
}

/// `POST /_emulator/reset`: back to the start data (sample org/fixtures), reseeded; stats
/// and rate windows cleared; issued tokens stay valid.
pub(crate) async fn reset(State(sh): State<AppState>) -> ApiResult<Response> {
    crate::reset(&sh).map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /_emulator/fixtures`: loads fixtures (upsert by id) into the running org.
pub(crate) async fn fixtures(State(sh): State<AppState>, body: Bytes) -> ApiResult<Response> {
    let f: Fixtures = json(&body, "fixtures")?;
    f.load_into(&mut sh.store())
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `PUT /_emulator/config`: a partial [`ConfigPatch`]; answers the effective settings.
pub(crate) async fn config(
    State(sh): State<AppState>,
    body: Bytes,
) -> ApiResult<Json<serde_json::Value>> {
    let patch: ConfigPatch = json(&body, "config")?;
    patch.validate().map_err(ApiError::bad_request)?;
    let mut cfg = sh.config.write().unwrap_or_else(|e| e.into_inner());
    patch.apply(&mut cfg);
    Ok(Json(json!({
        "rate_limit_per_minute": cfg.rate_limit_per_minute,
        "rate_limit_per_client_per_minute": cfg.rate_limit_per_client_per_minute,
        "token_ttl_secs": cfg.token_ttl.as_secs(),
        "max_contacts_per_call": cfg.max_contacts_per_call,
        "latency_ms": [cfg.latency.start().as_millis() as u64, cfg.latency.end().as_millis() as u64],
        "error_rate": cfg.error_rate,
        "applied_then_error_rate": cfg.applied_then_error_rate,
        "drop_rate": cfg.drop_rate,
        "drop_hang_ms": cfg.drop_hang.as_millis() as u64,
        "burst_429_rate": cfg.burst_429_rate,
        "dialer_lock_rate": cfg.dialer_lock_rate,
        "version_churn_per_sec": cfg.version_churn_per_sec,
        "rate_headers": cfg.rate_headers,
        "retry_after_header": cfg.retry_after_header,
    })))
}

/// `POST /_emulator/tokens/expire`: invalidates every issued token now (their next use
/// answers 401 `bad.credentials`); answers `{"expired": N}`, the number invalidated.
pub(crate) async fn expire_tokens(State(sh): State<AppState>) -> Json<serde_json::Value> {
    Json(json!({ "expired": sh.auth().expire_tokens() }))
}
