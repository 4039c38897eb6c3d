//! dialsync-emulator: a faithful local Genesys Cloud for tests, demos and benchmarks.
//!
//! One axum app serves, on one address: `POST /oauth/token` (client credentials, Basic
//! auth), the real `/api/v2` paths dialsync uses (contact lists, contacts, DNC lists,
//! campaigns, users, routing skills/languages/utilization) with camelCase models and
//! Genesys `ErrorBody` answers, and a control API under `/_emulator/` (stats, state dump,
//! reset, fixtures, run-time config, token expiry). Faults (latency, 5xx, dropped
//! connections, 429 bursts, dialer 409s) and the simulated dialer draw from generators
//! seeded by [`EmulatorConfig::seed`], so a run with the same seed and request sequence
//! repeats.
//!
//! ```no_run
//! # async fn demo() -> Result<(), dialsync_emulator::EmulatorError> {
//! let emu = dialsync_emulator::start(Default::default(), "127.0.0.1:0".parse().unwrap()).await?;
//! println!("{}", emu.base_url());
//! let stats = emu.stats();
//! assert_eq!(stats.count("POST", "/api/v2/outbound/contactlists/{contactListId}/contacts", 200), 0);
//! emu.shutdown().await;
//! # Ok(()) }
//! ```

mod actions;
mod app;
mod bulk;
mod churn;
mod config;
mod error;
mod fixtures;
mod model;
mod routes;
mod sdk_models;
mod stats;
mod store;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post, put};

pub use config::{ClientCredentials, ConfigPatch, EmulatorConfig};
pub use error::{Detail, ErrorBody, Limit};
pub use fixtures::{
    FixtureCampaign, FixtureContact, FixtureContactList, FixtureDncList, FixtureError,
    FixtureNamed, FixtureUser, Fixtures, SAMPLE_COLUMNS, sample_org,
};
pub use model::{
    Campaign, Contact, ContactList, DncList, EntityRef, Listing, MediaUtilization, NamedEntity,
    PhoneColumn, User, Utilization,
};
pub use stats::{RouteCount, Stats, UNMATCHED};
pub use store::{ContactListDump, DncListDump, StateDump, UserDump};

use app::{AppState, Shared};
use routes::routing::Kind;
use routes::{control, oauth, outbound as ob, routing as rt};
use store::Store;

/// Why the emulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// The start fixtures are invalid.
    #[error(transparent)]
    Fixtures(#[from] FixtureError),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
}

fn initial_store(cfg: &EmulatorConfig) -> Result<Store, FixtureError> {
    let mut store = Store::new(cfg.seed);
    if cfg.sample_org {
        sample_org().load_into(&mut store)?;
    }
    if let Some(f) = &cfg.fixtures {
        f.load_into(&mut store)?;
    }
    store.dialer_tick();
    Ok(store)
}

/// Resets data to the start state and clears stats and rate windows.
pub(crate) fn reset(sh: &Shared) -> Result<(), FixtureError> {
    let cfg = sh.config();
    let store = initial_store(&cfg)?;
    *sh.store() = store;
    *sh.recorder() = Default::default();
    sh.auth().clear_windows();
    Ok(())
}

/// A handle on the emulator's state, usable without HTTP (`router` + this, or via
/// [`RunningEmulator`]).
#[derive(Clone)]
pub struct Emulator {
    shared: AppState,
}

impl Emulator {
    /// Builds the org from `config` (sample org, then fixtures).
    pub fn new(config: EmulatorConfig) -> Result<Self, EmulatorError> {
        let store = initial_store(&config)?;
        Ok(Self {
            shared: Arc::new(Shared::new(config, store)),
        })
    }
    /// The axum app (OAuth, API, control API).
    pub fn router(&self) -> Router {
        router_for(self.shared.clone())
    }
    /// Request counters.
    pub fn stats(&self) -> Stats {
        self.shared.recorder().snapshot()
    }
    /// Full state dump.
    pub fn state(&self) -> StateDump {
        self.shared.store().dump()
    }
    /// Replaces the run-time settings (limits, faults, clients). The seed, fixtures and
    /// sample-org switch of `config` are ignored (they only matter at start/reset).
    pub fn set_config(&self, config: EmulatorConfig) {
        let mut cur = self
            .shared
            .config
            .write()
            .unwrap_or_else(|e| e.into_inner());
        let (seed, fixtures, sample_org) = (cur.seed, cur.fixtures.take(), cur.sample_org);
        *cur = EmulatorConfig {
            seed,
            fixtures,
            sample_org,
            ..config
        };
    }
    /// Applies a partial change (same as `PUT /_emulator/config`).
    pub fn patch_config(&self, patch: &ConfigPatch) -> Result<(), String> {
        patch.validate()?;
        patch.apply(
            &mut self
                .shared
                .config
                .write()
                .unwrap_or_else(|e| e.into_inner()),
        );
        Ok(())
    }
    /// The current settings.
    pub fn config(&self) -> EmulatorConfig {
        self.shared.config()
    }
    /// Loads fixtures into the running org (upsert by id); nothing changes on error.
    pub fn load_fixtures(&self, fixtures: &Fixtures) -> Result<(), FixtureError> {
        fixtures.load_into(&mut self.shared.store())
    }
    /// Back to the start data, reseeded; stats cleared.
    pub fn reset(&self) -> Result<(), FixtureError> {
        reset(&self.shared)
    }
    /// Advances the simulated dialer one step (it also advances after every API request).
    pub fn dialer_tick(&self) {
        self.shared.store().dialer_tick();
    }
    /// Invalidates every issued token now (same as `POST /_emulator/tokens/expire`): the
    /// next API call with any of them answers 401 `bad.credentials`, as after a server-side
    /// expiry or revocation, and a fresh token from `/oauth/token` works. Returns how many
    /// tokens were invalidated.
    pub fn expire_tokens(&self) -> usize {
        self.shared.auth().expire_tokens()
    }
}

/// The axum app for `config` (without the background user-version churn, which needs a
/// runtime: use [`start`] for that).
pub fn router(config: EmulatorConfig) -> Result<Router, EmulatorError> {
    Ok(Emulator::new(config)?.router())
}

fn router_for(sh: AppState) -> Router {
    let user_skills = |replace: Option<bool>| {
        move |axum::extract::State(sh): axum::extract::State<AppState>,
              axum::extract::Path(user): axum::extract::Path<String>,
              body: bytes::Bytes| async move {
            match replace {
                Some(r) => rt::bulk(Kind::Skill, r, sh, user, body).await,
                None => rt::bulk(Kind::Language, false, sh, user, body).await,
            }
        }
    };
    let (action_api, action_control) = actions::routes();
    let api = Router::new()
        .merge(action_api)
        .route("/api/v2/outbound/contactlists", get(ob::list_lists).post(ob::create_list))
        .route("/api/v2/outbound/contactlists/{contactListId}", get(ob::get_list_h).put(ob::put_list).delete(ob::delete_list))
        .route("/api/v2/outbound/contactlists/{contactListId}/contacts", post(ob::add_contacts).delete(ob::delete_contacts))
        .route("/api/v2/outbound/contactlists/{contactListId}/contacts/bulk", post(ob::bulk_get))
        .route("/api/v2/outbound/contactlists/{contactListId}/contacts/search", post(ob::search))
        .route(
            "/api/v2/outbound/contactlists/{contactListId}/contacts/{contactId}",
            get(ob::get_contact).put(ob::put_contact).delete(ob::delete_contact),
        )
        .route("/api/v2/outbound/contactlists/{contactListId}/clear", post(ob::clear))
        .route("/api/v2/outbound/contactlists/{contactListId}/contacts/bulk/remove", post(bulk::bulk_remove))
        .route("/api/v2/outbound/contactlists/{contactListId}/contacts/bulk/update", post(bulk::bulk_update))
        .route("/api/v2/outbound/contactlists/{contactListId}/contacts/bulk/jobs", get(bulk::list_jobs))
        .route("/api/v2/outbound/contactlists/{contactListId}/contacts/bulk/jobs/{jobId}", get(bulk::get_job))
        .route("/api/v2/outbound/contactlists/{contactListId}/export", get(bulk::export_get).post(bulk::export_start))
        .route("/api/v2/outbound/contactlists/{contactListId}/importstatus", get(bulk::import_status))
        .route("/api/v2/outbound/dnclists", get(ob::list_dnc).post(ob::create_dnc))
        .route("/api/v2/outbound/dnclists/{dncListId}", get(ob::get_dnc_h))
        .route(
            "/api/v2/outbound/dnclists/{dncListId}/phonenumbers",
            post(ob::dnc_post).patch(ob::dnc_patch).delete(ob::dnc_delete),
        )
        .route("/api/v2/outbound/campaigns", get(ob::list_campaigns).post(ob::create_campaign))
        .route(
            "/api/v2/outbound/campaigns/{campaignId}",
            get(ob::get_campaign_h).put(ob::put_campaign).patch(ob::patch_campaign).delete(ob::delete_campaign),
        )
        .route("/api/v2/outbound/campaigns/{campaignId}/progress", get(ob::progress))
        .route("/api/v2/users", get(rt::list_users))
        .route("/api/v2/users/{userId}", get(rt::get_user_h).patch(rt::patch_user))
        .route(
            "/api/v2/users/{userId}/routingskills",
            get(|axum::extract::State(sh): axum::extract::State<AppState>,
                 axum::extract::Path(user): axum::extract::Path<String>,
                 axum::extract::RawQuery(q): axum::extract::RawQuery| rt::get_assigned(Kind::Skill, sh, user, q)),
        )
        .route("/api/v2/users/{userId}/routingskills/bulk", put(user_skills(Some(true))).patch(user_skills(Some(false))))
        .route(
            "/api/v2/users/{userId}/routingskills/{skillId}",
            axum::routing::delete(
                |axum::extract::State(sh): axum::extract::State<AppState>,
                 axum::extract::Path((user, id)): axum::extract::Path<(String, String)>| rt::delete_one(Kind::Skill, sh, user, id),
            ),
        )
        .route(
            "/api/v2/users/{userId}/routinglanguages",
            get(|axum::extract::State(sh): axum::extract::State<AppState>,
                 axum::extract::Path(user): axum::extract::Path<String>,
                 axum::extract::RawQuery(q): axum::extract::RawQuery| rt::get_assigned(Kind::Language, sh, user, q)),
        )
        .route("/api/v2/users/{userId}/routinglanguages/bulk", axum::routing::patch(user_skills(None)))
        .route(
            "/api/v2/users/{userId}/routinglanguages/{languageId}",
            axum::routing::delete(
                |axum::extract::State(sh): axum::extract::State<AppState>,
                 axum::extract::Path((user, id)): axum::extract::Path<(String, String)>| rt::delete_one(Kind::Language, sh, user, id),
            ),
        )
        .route("/api/v2/routing/skills", get(rt::list_skills))
        .route("/api/v2/routing/languages", get(rt::list_languages))
        .route(
            "/api/v2/routing/users/{userId}/utilization",
            get(rt::get_utilization).put(rt::put_utilization).delete(rt::delete_utilization),
        )
        .route_layer(axum::middleware::from_fn_with_state(sh.clone(), app::gate));
    let control = Router::new()
        .merge(action_control)
        .route("/_emulator/stats", get(control::stats))
        .route("/_emulator/state", get(control::state))
        .route("/_emulator/reset", post(control::reset))
        .route("/_emulator/fixtures", post(control::fixtures))
        .route("/_emulator/config", put(control::config))
        .route("/_emulator/tokens/expire", post(control::expire_tokens))
        .route("/_emulator/downloads/{token}", get(bulk::download));
    Router::new()
        .route("/oauth/token", post(oauth::token))
        .merge(api)
        .merge(control)
        .layer(axum::middleware::from_fn_with_state(sh.clone(), app::outer))
        .with_state(sh)
}

/// A running emulator on a loopback (or given) address.
pub struct RunningEmulator {
    emulator: Emulator,
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<()>,
    churn: tokio::task::JoinHandle<()>,
}

/// Binds `addr` (port 0 picks a free port) and serves the emulator in the background,
/// with the user-version churn task.
pub async fn start(
    config: EmulatorConfig,
    addr: SocketAddr,
) -> Result<RunningEmulator, EmulatorError> {
    let emulator = Emulator::new(config)?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| EmulatorError::Bind { addr, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| EmulatorError::Bind { addr, source })?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let app = emulator.router();
    let server = tokio::spawn(async move {
        let serve = axum::serve(listener, app).with_graceful_shutdown(async {
            let _ = rx.await;
        });
        if let Err(e) = serve.await {
            tracing::error!(error = %e, "emulator server stopped");
        }
    });
    let churn = tokio::spawn(churn::run(emulator.shared.clone()));
    Ok(RunningEmulator {
        emulator,
        addr,
        shutdown: Some(tx),
        server,
        churn,
    })
}

impl RunningEmulator {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    /// `http://ADDR` (API and `/oauth/token` on the same base).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
    /// Request counters.
    pub fn stats(&self) -> Stats {
        self.emulator.stats()
    }
    /// Full state dump.
    pub fn state(&self) -> StateDump {
        self.emulator.state()
    }
    /// See [`Emulator::set_config`].
    pub fn set_config(&self, config: EmulatorConfig) {
        self.emulator.set_config(config)
    }
    /// See [`Emulator::patch_config`].
    pub fn patch_config(&self, patch: &ConfigPatch) -> Result<(), String> {
        self.emulator.patch_config(patch)
    }
    /// See [`Emulator::load_fixtures`].
    pub fn load_fixtures(&self, fixtures: &Fixtures) -> Result<(), FixtureError> {
        self.emulator.load_fixtures(fixtures)
    }
    /// See [`Emulator::expire_tokens`].
    pub fn expire_tokens(&self) -> usize {
        self.emulator.expire_tokens()
    }
    /// The state handle.
    pub fn emulator(&self) -> &Emulator {
        &self.emulator
    }
    /// Stops serving (in-flight requests finish) and the churn task.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.churn.abort();
        let _ = (&mut self.server).await;
    }
}
