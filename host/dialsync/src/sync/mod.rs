//! The sync engine (crate `dialsync-sync`), re-exported under its historical path, plus
//! what ties it to `dialsync.toml`: [`bindings_from_config`] builds the source bindings
//! (one shared Genesys client per org), and `EngineOptions::for_config(&config)` follows
//! the config's retention and per-call maximum.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use dialsync_genesys::GenesysClient;
pub use dialsync_sync::*;

use crate::config::{Config, ConfigError};

impl EngineConfig for Config {
    fn retention(&self) -> Duration {
        Duration::from_secs(u64::from(self.store.retention_days) * 24 * 3600)
    }

    fn lease(&self) -> Duration {
        Duration::from_secs(self.store.lease_secs.max(1))
    }

    fn group_commit(&self) -> bool {
        self.store.group_commit
    }

    fn max_contacts_per_call(&self) -> Option<usize> {
        self.orgs.values().map(|o| o.max_contacts_per_call).min()
    }
}

/// Source bindings for every source in the config, with one shared client per org (so
/// every source of an org shares its rate budget). Returns the clients by org name too.
pub fn bindings_from_config(
    config: &Config,
) -> Result<(Vec<SourceBinding>, HashMap<String, GenesysClient>), ConfigError> {
    let mut clients: HashMap<String, GenesysClient> = HashMap::new();
    let mut bindings = Vec::new();
    for (name, source) in &config.sources {
        let client = match clients.get(&source.org) {
            Some(c) => c.clone(),
            None => {
                let settings = config.org_settings(&source.org)?;
                let client = GenesysClient::new(settings).map_err(|e| ConfigError::Invalid {
                    key: format!("orgs.{}", source.org),
                    message: e.to_string(),
                })?;
                clients.insert(source.org.clone(), client.clone());
                client
            }
        };
        bindings.push(SourceBinding {
            name: name.clone(),
            list_id: source.contact_list_id.clone(),
            sink: Arc::new(GenesysSink::new(client)),
            rules: SourceRules {
                dnc_list_id: source.dnc_list_id.clone(),
                delete_mode: source.delete_mode,
            },
        });
    }
    Ok((bindings, clients))
}
