//! `/healthz` (the process answers) and `/readyz` (the journal answers, every source
//! has a loaded plugin, and every org's Genesys token can be obtained).

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::state::AppState;

/// Liveness: 200 while the process serves requests.
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Readiness: 200 with every check when all pass, 503 naming the failing ones.
pub async fn readyz(State(state): State<Arc<AppState>>) -> (StatusCode, Json<Value>) {
    let mut ready = true;
    let store = state.engine.store();
    let journal = match store.unfinished().await {
        Ok(depth) => json!({ "ok": true, "store": store.backend(), "unfinished": depth }),
        Err(e) => {
            ready = false;
            json!({ "ok": false, "store": store.backend(), "error": e.to_string() })
        }
    };
    let plugins: serde_json::Map<String, Value> = state
        .sources
        .iter()
        .map(|(name, s)| {
            let slot = s.plugin();
            (
                name.clone(),
                json!({ "ok": true, "plugin": slot.plugin.info().id(), "sha256": slot.plugin.sha256() }),
            )
        })
        .collect();
    let mut orgs = serde_json::Map::new();
    for (name, client) in &state.clients {
        let check = tokio::time::timeout(Duration::from_secs(10), client.ensure_token()).await;
        let entry = match check {
            Ok(Ok(())) => json!({ "ok": true }),
            Ok(Err(e)) => {
                ready = false;
                json!({ "ok": false, "error": e.to_string() })
            }
            Err(_) => {
                ready = false;
                json!({ "ok": false, "error": "no token within 10 s" })
            }
        };
        orgs.insert(name.clone(), entry);
    }
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "status": if ready { "ready" } else { "not-ready" },
            "journal": journal,
            "plugins": plugins,
            "orgs": orgs,
        })),
    )
}
