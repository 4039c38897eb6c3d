//! What every handler shares: the sync engine (journal, with the webhook delivery ids),
//! the plugin runtime and one hot-swappable plugin per source, webhook verifiers, the
//! Genesys clients per org and the server settings.
//!
//! Hot swap: each source holds its plugin behind a lock that is only ever held to clone
//! or replace an `Arc`-backed `LoadedPlugin`. A request clones the current plugin once
//! and maps all its records with it, so in-flight work finishes on the old version and
//! new work sees the new one; a plugin is only ever swapped in fully loaded (compiled,
//! described, schemas compiled, config validated).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use dialsync_genesys::GenesysClient;
use dialsync_plugin_host::GenesysPort;

use crate::genesys_port::SourceGenesysPort;
use dialsync_plugin_host::{Limits, LoadedPlugin, Runtime};

use crate::config::Config;
use crate::plugin_registry::Registry;
use crate::sync::{Engine, EngineOptions, bindings_from_config};

use super::settings::{ServerSettings, auth_from_config};
use super::signatures::{WebhookAuth, WebhookSecret};

/// Why the server could not start; names the config key or file involved.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StartError(pub String);

/// One configured source at run time.
pub struct SourceState {
    /// Source name (config key).
    pub name: String,
    /// Its org (config key).
    pub org: String,
    /// The contact list it feeds.
    pub list_id: String,
    /// The DNC list, if any.
    pub dnc_list_id: Option<String>,
    /// Region for phone numbers without a country prefix.
    pub default_region: String,
    /// How its webhooks authenticate; `None` refuses webhooks for the source.
    pub auth: Option<WebhookAuth>,
    /// The plugin's Genesys access: the org's client, this source's lists only.
    pub port: Option<Arc<dyn GenesysPort>>,
    /// The CRM read side (`[sources.X.pull]`), if configured.
    pub pull: Option<Arc<crate::pull::PullSource>>,
    /// The Salesforce Pub/Sub subscription (`[sources.X.subscribe]`), if configured.
    pub subscribe: Option<Arc<crate::subscribe::Subscription>>,
    plugin: RwLock<PluginSlot>,
}

/// The plugin a source uses now, and how it was named.
#[derive(Clone)]
pub struct PluginSlot {
    /// The loaded plugin.
    pub plugin: LoadedPlugin,
    /// The reference it was resolved from (bundled name, installed name or path).
    pub reference: String,
    /// Its config object.
    pub config: serde_json::Value,
}

impl SourceState {
    /// The plugin to use for one request (the caller keeps it for the whole request).
    pub fn plugin(&self) -> PluginSlot {
        self.plugin
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Swaps in a fully loaded plugin; returns the previous one.
    pub fn swap_plugin(&self, slot: PluginSlot) -> PluginSlot {
        let mut guard = self.plugin.write().unwrap_or_else(|p| p.into_inner());
        std::mem::replace(&mut *guard, slot)
    }
}

/// Everything the handlers share.
pub struct AppState {
    /// The sync engine over the journal.
    pub engine: Engine,
    /// The plugin runtime (one per process).
    pub runtime: Runtime,
    /// The local plugin registry (admin uploads go here).
    pub registry: Registry,
    /// Sources by name.
    pub sources: BTreeMap<String, Arc<SourceState>>,
    /// Genesys clients by org name.
    pub clients: HashMap<String, GenesysClient>,
    /// `[server]`.
    pub settings: ServerSettings,
    /// Data-action endpoint auth (`None`: endpoints off).
    pub actions_auth: Option<WebhookAuth>,
    /// Admin API token (`None`: admin API off).
    pub admin_token: Option<WebhookSecret>,
    /// The journal file.
    pub store_path: PathBuf,
    /// The Prometheus recorder's handle.
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
    /// The console's plugin swaps (persisted under the dialsync home).
    pub swaps: crate::console::swaps::SwapHistory,
    inflight: Mutex<HashSet<(String, String)>>,
    /// The PostgreSQL store's pool, when `[store] url` is set.
    pub pg: Option<dialsync_pg::Pool>,
}

impl AppState {
    /// Opens the journal, builds the Genesys clients, loads every source's plugin and
    /// reads every secret named in `config`. Fails naming the key or plugin at fault.
    pub async fn build(config: &Config, registry: Registry) -> Result<Arc<Self>, StartError> {
        let (bindings, clients) =
            bindings_from_config(config).map_err(|e| StartError(e.to_string()))?;
        let options = EngineOptions::for_config(config);
        let pg = crate::pg_store::open(config)
            .await
            .map_err(|e| StartError(format!("store.url: {e:#}")))?;
        let engine = match &pg {
            Some(pool) => Engine::with_store(
                crate::pg_store::journal(config, pool.clone(), options.journal.lease)?,
                bindings,
                options,
            ),
            None => Engine::open(&config.store.path, bindings, options).map_err(|e| {
                StartError(format!("store.path {}: {e}", config.store.path.display()))
            })?,
        };
        let runtime = Runtime::new(Limits::default())
            .map_err(|e| StartError(format!("plugin runtime: {e}")))?;
        let mut sources = BTreeMap::new();
        for (name, source) in &config.sources {
            let auth = source
                .auth
                .as_ref()
                .map(|a| auth_from_config(&format!("sources.{name}.auth"), a))
                .transpose()
                .map_err(|e| StartError(e.to_string()))?;
            let pull = crate::pull::build(name, source.pull.as_ref())
                .map_err(|e| StartError(e.to_string()))?;
            let subscribe = crate::subscribe::build(name, source.subscribe.as_ref())
                .map_err(|e| StartError(e.to_string()))?;
            let slot = load_plugin(&runtime, &registry, &source.plugin, source.config.clone())
                .await
                .map_err(|e| StartError(format!("sources.{name}.plugin: {e}")))?;
            sources.insert(
                name.clone(),
                Arc::new(SourceState {
                    name: name.clone(),
                    org: source.org.clone(),
                    list_id: source.contact_list_id.clone(),
                    dnc_list_id: source.dnc_list_id.clone(),
                    default_region: source.default_region.clone(),
                    auth,
                    port: clients.get(&source.org).map(|client| {
                        let lists = std::iter::once(source.contact_list_id.clone());
                        Arc::new(SourceGenesysPort::new(client.clone(), lists))
                            as Arc<dyn GenesysPort>
                    }),
                    pull,
                    subscribe,
                    plugin: RwLock::new(slot),
                }),
            );
        }
        // Plugins swapped in from the console run again (unless dialsync.toml changed).
        let swaps =
            crate::console::swaps::SwapHistory::restore(registry.home(), &runtime, &sources)
                .await
                .map_err(|e| {
                    StartError(format!(
                        "{e} (delete it to start without the console's swap history)"
                    ))
                })?;
        let settings = config.server.clone();
        let actions_auth = settings
            .actions_auth()
            .map_err(|e| StartError(e.to_string()))?;
        let admin_token = settings
            .admin_token()
            .map_err(|e| StartError(e.to_string()))?;
        Ok(Arc::new(Self {
            engine,
            runtime,
            registry,
            sources,
            clients,
            settings,
            actions_auth,
            admin_token,
            store_path: config.store.path.clone(),
            metrics: super::metrics::handle(),
            swaps,
            inflight: Mutex::new(HashSet::new()),
            pg,
        }))
    }

    /// Marks a delivery as being processed; `None` when the same delivery is already in
    /// flight (a concurrent retry). The guard unmarks it when dropped.
    pub fn begin_delivery(self: &Arc<Self>, source: &str, id: &str) -> Option<InflightGuard> {
        let key = (source.to_owned(), id.to_owned());
        let mut set = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
        if !set.insert(key.clone()) {
            return None;
        }
        Some(InflightGuard {
            state: self.clone(),
            key,
        })
    }
}

/// Unmarks an in-flight delivery on drop.
pub struct InflightGuard {
    state: Arc<AppState>,
    key: (String, String),
}

impl Drop for InflightGuard {
    fn drop(&mut self) {
        self.state
            .inflight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.key);
    }
}

/// Resolves `reference` (bundled name, installed name or `.wasm` path) and loads it
/// with `config`: compile, describe, compile its schemas, validate the config.
pub async fn load_plugin(
    runtime: &Runtime,
    registry: &Registry,
    reference: &str,
    config: serde_json::Value,
) -> Result<PluginSlot, String> {
    let resolved = registry.resolve(reference).map_err(|e| e.to_string())?;
    let plugin = runtime
        .load(&resolved.bytes, config.clone())
        .await
        .map_err(|e| e.to_string())?;
    Ok(PluginSlot {
        plugin,
        reference: reference.to_owned(),
        config,
    })
}
