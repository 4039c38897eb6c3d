//! `dialsync serve`: the HTTP face of dialsync — signed CRM webhooks, Genesys Cloud Data
//! Action endpoints, the admin API, health and metrics — over the sync engine.
//!
//! Library use (what the CLI and the tests do):
//! ```ignore
//! let state = AppState::build(&config, registry).await?;          // journal, plugins, secrets
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! serve(state, listener, shutdown_signal).await?;                  // drains, then stops workers
//! ```

pub mod actions;
pub mod admin;
pub mod contracts;
pub mod envelopes;
pub mod error;
pub mod export;
pub mod health;
pub mod install;
pub mod mapping;
pub mod metrics;
pub mod openapi;
pub mod settings;
pub mod signatures;
pub mod state;
pub mod webhooks;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

pub use state::{AppState, StartError};

/// Largest plugin component the admin API accepts.
pub const MAX_PLUGIN_BYTES: usize = 64 << 20;

/// The whole HTTP API over `state`.
pub fn router(state: Arc<AppState>) -> Router {
    let admin = Router::new()
        .route("/v1/admin/plugins", get(admin::list_plugins))
        .route(
            "/v1/admin/plugins",
            post(admin::upload_plugin).layer(DefaultBodyLimit::max(MAX_PLUGIN_BYTES)),
        )
        .route(
            "/v1/admin/plugins/{name}",
            get(admin::inspect_plugin).delete(admin::remove_plugin),
        )
        .route(
            "/v1/admin/sources/{source}/plugin",
            axum::routing::put(admin::set_source_plugin),
        )
        .route("/v1/admin/records/{external_id}", get(admin::record_status))
        .route("/v1/admin/deadletters", get(admin::dead_letters))
        .route("/v1/admin/deadletters/replay", post(admin::replay))
        .route("/v1/admin/runs", get(admin::runs))
        .route("/v1/actions", get(actions::list))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            admin::require_admin,
        ));
    Router::new()
        .merge(admin)
        .route("/v1/sources/{source}/events", post(webhooks::ingest))
        .route(
            "/v1/sources/{source}/events/{token}",
            post(webhooks::ingest_with_token),
        )
        .route("/v1/actions/{action}", post(actions::execute))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::render))
        .route("/openapi.json", get(openapi::document))
        .merge(crate::console::router(state.clone()))
        .layer(DefaultBodyLimit::max(state.settings.max_body_bytes))
        .layer(axum::middleware::from_fn(metrics::track))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// Serves the API on `listener` with a sync worker running, until `shutdown` resolves;
/// then stops accepting, lets in-flight requests finish (each either journalled durably
/// or not at all), and stops the worker after its current round.
pub async fn serve(
    state: Arc<AppState>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // The engine owns its workers: one loop, the engine's settings (batch size from
    // `orgs.*.max_contacts_per_call`), leases shared with any other process on the journal.
    let workers = state.engine.spawn_workers();
    let (pull_stop, pull_stopped) = tokio::sync::watch::channel(false);
    let mut pulls = crate::pull::spawn_schedules(&state, pull_stopped.clone());
    pulls.extend(crate::subscribe::spawn(&state, pull_stopped));
    let app = router(state.clone());
    // The peer address feeds the `salesforce-outbound` scheme's IP allowlist.
    let served = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    let _ = pull_stop.send(true);
    for pull in pulls {
        if let Err(e) = pull.await {
            tracing::error!(error = %e, "a scheduled pull task panicked");
        }
    }
    if let Err(e) = workers.shutdown().await {
        tracing::error!(error = %e, "the sync worker failed");
    }
    served
}
