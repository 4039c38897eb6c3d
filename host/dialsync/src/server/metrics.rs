//! Prometheus metrics: the process-wide recorder, a middleware counting requests by
//! route and status, and `/metrics`, which refreshes the journal depth, outcome counts
//! and Genesys client statistics before rendering.
//!
//! Metric names: `dialsync_http_requests_total{route,method,status}`,
//! `dialsync_webhook_deliveries_total{source,result}`,
//! `dialsync_webhook_records_total{source,result}`, `dialsync_journal_depth`,
//! `dialsync_outcomes{outcome}`, `dialsync_genesys_responses_total{org,status}`,
//! `dialsync_genesys_retries_total{org}`, `dialsync_genesys_rate_limited_total{org}`,
//! `dialsync_genesys_conflicts_total{org}`, `dialsync_plugin_map_seconds{source}`,
//! `dialsync_plugin_fuel_total{source}`, `dialsync_action_calls_total{action,result}`.

use std::sync::{Arc, OnceLock};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use super::state::AppState;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process-wide Prometheus recorder (installed on first use; several servers in one
/// process, as in tests, share it).
pub fn handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (e.g. by an embedding program);
            // then this handle renders only what is recorded through it, which is nothing.
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics will be empty");
            }
            handle
        })
        .clone()
}

/// Counts every request by matched route template (never the raw path), method and
/// status.
pub async fn track(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "(unmatched)".to_owned());
    let method = request.method().as_str().to_owned();
    let response = next.run(request).await;
    metrics::counter!("dialsync_http_requests_total",
        "route" => route, "method" => method, "status" => response.status().as_u16().to_string())
    .increment(1);
    response
}

/// `GET /metrics` in the Prometheus text format.
pub async fn render(State(state): State<Arc<AppState>>) -> String {
    let store = state.engine.store();
    let found = async {
        Ok::<_, dialsync_sync::JournalError>((
            store.unfinished().await?,
            store.outcome_counts(None).await?,
        ))
    };
    if let Ok((depth, outcomes)) = found.await {
        metrics::gauge!("dialsync_journal_depth").set(depth as f64);
        for (outcome, n) in outcomes {
            metrics::gauge!("dialsync_outcomes", "outcome" => outcome.as_str()).set(n as f64);
        }
    }
    // On the PostgreSQL store: queue depth per list, claims per worker, lease takeovers
    // and every org's shared budget use, as all workers see them.
    if let Some(pool) = &state.pg {
        crate::pg_store::record_metrics(pool, store.owner()).await;
    }
    // Do-not-call changes Genesys keeps refusing: alert on this being non-zero.
    if let Ok(alerts) = state.engine.compliance_alerts().await {
        metrics::gauge!("dialsync_compliance_alerts").set(alerts.len() as f64);
    }
    for (org, client) in &state.clients {
        let stats = client.stats();
        for (status, n) in &stats.requests_by_status {
            metrics::counter!("dialsync_genesys_responses_total",
                "org" => org.clone(), "status" => status.to_string())
            .absolute(*n);
        }
        metrics::counter!("dialsync_genesys_retries_total", "org" => org.clone())
            .absolute(stats.retries);
        metrics::counter!("dialsync_genesys_rate_limited_total", "org" => org.clone())
            .absolute(stats.rate_limited);
        metrics::counter!("dialsync_genesys_conflicts_total", "org" => org.clone())
            .absolute(stats.conflicts);
    }
    state.metrics.render()
}
