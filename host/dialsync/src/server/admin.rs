//! `/v1/admin/...`: for CRM admins, behind a bearer token named in `[server]
//! admin_token_env` (the whole API answers 404 without one).
//!
//! Plugins: upload a component (raw wasm body; installed in the local registry only
//! after it compiles and describes itself), list, inspect, remove. Sources: set a
//! source's plugin and config — hot swap: the new plugin is fully loaded first; a plugin
//! that fails to load, describe or validate its config is refused with the reason and
//! the old one stays; requests already mapping finish on the old one. Records: status
//! by externalId. Dead letters: list and replay. Import runs: list with their reports.
//! Swaps live in memory; `dialsync.toml` stays the source of truth at the next start.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::ApiError;
use super::state::{AppState, load_plugin};

/// Admin auth: `Authorization: Bearer <token>`; 404 when the admin API is off.
pub async fn require_admin(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let Some(token) = &state.admin_token else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "admin-disabled",
            "the admin API is off: set [server] admin_token_env",
        ));
    };
    let auth = super::signatures::WebhookAuth::Bearer {
        token: token.clone(),
    };
    if super::signatures::verify(&auth, request.headers(), b"", 0, 0).is_err() {
        // Same answer for a missing and a wrong token.
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "bad-credentials",
            "admin API: missing or wrong bearer token",
        ));
    }
    Ok(next.run(request).await)
}

fn registry_err(e: crate::plugin_registry::RegistryError) -> ApiError {
    use crate::plugin_registry::RegistryError as E;
    match e {
        E::NotFound { .. } => ApiError::new(StatusCode::NOT_FOUND, "unknown-plugin", e.to_string()),
        E::Bundled(_) => ApiError::new(StatusCode::CONFLICT, "bundled-plugin", e.to_string()),
        other => ApiError::unavailable("registry-error", other.to_string()),
    }
}

/// `GET /v1/admin/plugins`: bundled and installed plugins, and what each source uses.
pub async fn list_plugins(State(state): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    let installed = state.registry.list().map_err(registry_err)?;
    let bundled: Vec<&str> = dialsync_bundled_plugins::bundled()
        .iter()
        .map(|(n, _)| *n)
        .collect();
    let sources: serde_json::Map<String, Value> = state
        .sources
        .iter()
        .map(|(name, s)| {
            let slot = s.plugin();
            (
                name.clone(),
                json!({"plugin": slot.reference, "id": slot.plugin.info().id(), "sha256": slot.plugin.sha256(), "config": slot.config}),
            )
        })
        .collect();
    Ok(Json(
        json!({"bundled": bundled, "installed": installed, "sources": sources}),
    ))
}

/// `POST /v1/admin/plugins`: installs an uploaded component (raw wasm body) after it
/// compiles and describes itself; refused with the reason otherwise.
pub async fn upload_plugin(
    State(state): State<Arc<AppState>>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (info, sha256) = state.runtime.inspect(&body).await.map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "plugin-refused",
            format!("the upload is not a usable plugin: {e}"),
        )
    })?;
    let registry = state.registry.clone();
    let (name, version) = (info.name.clone(), info.version.clone());
    let installed = tokio::task::spawn_blocking(move || registry.install(&name, &version, &body))
        .await
        .map_err(|e| ApiError::unavailable("registry-error", e.to_string()))?
        .map_err(registry_err)?;
    tracing::info!(plugin = %info.id(), sha256 = %sha256, "plugin installed through the admin API");
    Ok((
        StatusCode::CREATED,
        Json(json!({"installed": installed, "info": info})),
    ))
}

/// `GET /v1/admin/plugins/{name}`: an installed or bundled plugin's description.
pub async fn inspect_plugin(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let resolved = state.registry.resolve(&name).map_err(registry_err)?;
    let (info, sha256) = state.runtime.inspect(&resolved.bytes).await.map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "plugin-broken",
            e.to_string(),
        )
    })?;
    Ok(Json(json!({"name": name, "sha256": sha256, "info": info})))
}

/// `DELETE /v1/admin/plugins/{name}`: removes an installed plugin no source uses.
pub async fn remove_plugin(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    if let Some((source, _)) = state
        .sources
        .iter()
        .find(|(_, s)| s.plugin().reference == name)
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "plugin-in-use",
            format!("source {source:?} uses plugin {name:?}; switch it to another plugin first"),
        ));
    }
    let removed = state.registry.remove(&name).map_err(registry_err)?;
    Ok(Json(json!({"removed": removed})))
}

/// Body of `PUT /v1/admin/sources/{source}/plugin`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetPlugin {
    /// Bundled name, installed name or `.wasm` path; default: the current one.
    pub plugin: Option<String>,
    /// The plugin's config object; default: the current one.
    pub config: Option<Value>,
}

/// `PUT /v1/admin/sources/{source}/plugin`: hot-swaps the source's plugin and/or config.
pub async fn set_source_plugin(
    State(state): State<Arc<AppState>>,
    Path(source): Path<String>,
    Json(body): Json<SetPlugin>,
) -> Result<Json<Value>, ApiError> {
    let src = state.sources.get(&source).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown-source",
            format!("no source named {source:?}"),
        )
    })?;
    let current = src.plugin();
    let reference = body.plugin.unwrap_or_else(|| current.reference.clone());
    let config = body.config.unwrap_or_else(|| current.config.clone());
    let slot = load_plugin(&state.runtime, &state.registry, &reference, config)
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "plugin-refused",
                format!(
                    "source {source:?} keeps {}: {e}",
                    current.plugin.info().id()
                ),
            )
        })?;
    let new_id = slot.plugin.info().id();
    let new_sha = slot.plugin.sha256().to_owned();
    let old = src.swap_plugin(slot);
    tracing::info!(source = %source, old = %old.plugin.info().id(), new = %new_id, "plugin swapped");
    Ok(Json(json!({
        "source": source,
        "previous": {"plugin": old.reference, "id": old.plugin.info().id(), "sha256": old.plugin.sha256()},
        "current": {"plugin": reference, "id": new_id, "sha256": new_sha},
    })))
}

/// Query of `GET /v1/admin/records/{externalId}`.
#[derive(Debug, Deserialize)]
pub struct RecordQuery {
    /// Only this source.
    pub source: Option<String>,
}

/// `GET /v1/admin/records/{externalId}`: everything the journal knows about a record.
pub async fn record_status(
    State(state): State<Arc<AppState>>,
    Path(external_id): Path<String>,
    Query(q): Query<RecordQuery>,
) -> Result<Json<Value>, ApiError> {
    let status = state
        .engine
        .status(&external_id, q.source.as_deref())
        .await
        .map_err(|e| ApiError::unavailable("journal-unavailable", e.to_string()))?;
    if status.is_empty() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown-record",
            format!("the journal knows no record with externalId {external_id:?}"),
        ));
    }
    Ok(Json(json!({"externalId": external_id, "lists": status})))
}

/// `GET /v1/admin/deadletters`.
pub async fn dead_letters(State(state): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    let letters = state
        .engine
        .dead_letters()
        .await
        .map_err(|e| ApiError::unavailable("journal-unavailable", e.to_string()))?;
    Ok(Json(json!({"deadLetters": letters})))
}

/// Body of `POST /v1/admin/deadletters/replay`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Replay {
    /// Dead-letter ids; absent = all.
    pub ids: Option<Vec<i64>>,
}

/// `POST /v1/admin/deadletters/replay`: puts dead letters back in the queue.
pub async fn replay(
    State(state): State<Arc<AppState>>,
    Json(body): Json<Replay>,
) -> Result<Json<Value>, ApiError> {
    let (replayed, unknown) = state
        .engine
        .replay(body.ids)
        .await
        .map_err(|e| ApiError::unavailable("journal-unavailable", e.to_string()))?;
    Ok(Json(json!({"replayed": replayed, "unknown": unknown})))
}

/// `GET /v1/admin/runs`: import runs, newest first, with their reports.
pub async fn runs(State(state): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    // On whichever store `[store]` names (SQLite file or PostgreSQL).
    let rows = crate::console::data::ConsoleData::for_app(&state)
        .runs()
        .await
        .map_err(|e| ApiError::unavailable("journal-unavailable", e.to_string()))?;
    Ok(Json(json!({"runs": rows})))
}
