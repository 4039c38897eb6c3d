//! `dialsync.toml`: the journal store, the Genesys Cloud orgs (one rate budget each)
//! and the CRM sources that feed them.
//!
//! Loading checks the file against `schemas/dialsync-config.schema.json` (embedded), then
//! the cross-references the schema cannot express (a source's org must exist), so a bad
//! config fails at start with an error naming the key, e.g.
//! `sources.servicenow.org: unknown org "acme2"`. Secrets are never in the file: only the
//! names of environment variables, read when an org's client settings are built.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

/// The JSON Schema for `dialsync.toml`, embedded so the binary checks what the docs describe.
pub const CONFIG_SCHEMA: &str = include_str!("../../../schemas/dialsync-config.schema.json");

/// A config problem, always naming the offending key.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// The config path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("config {path} is not valid TOML: {message}")]
    Syntax {
        /// The config path.
        path: PathBuf,
        /// The parser's message (with line and column).
        message: String,
    },
    /// A key has a bad value, is missing, unknown, or refers to something that does not exist.
    #[error("{key}: {message}")]
    Invalid {
        /// Dotted key, e.g. `sources.servicenow.org`.
        key: String,
        /// What is wrong with it.
        message: String,
    },
}

impl ConfigError {
    fn invalid(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// The whole `dialsync.toml`.
#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    /// Where the journal lives.
    #[serde(default)]
    pub store: StoreConfig,
    /// Genesys Cloud orgs by name.
    pub orgs: BTreeMap<String, OrgConfig>,
    /// CRM sources by name (none for a config used only by `dialsync agents`).
    #[serde(default)]
    pub sources: BTreeMap<String, SourceConfig>,
    /// `[server]`: settings of `dialsync serve` (defined and documented by the server module).
    #[serde(default)]
    pub server: crate::server::settings::ServerSettings,
    /// Per-org rate budgets shared with other workers (set by `crate::pg_store` when the
    /// store is PostgreSQL; empty = each process paces alone).
    #[serde(skip)]
    pub shared_budgets: BTreeMap<String, std::sync::Arc<dyn dialsync_genesys::SharedRateBudget>>,
}

/// `[store]`.
#[derive(Debug, Clone, Deserialize)]
pub struct StoreConfig {
    /// SQLite journal file (relative paths are resolved against the config file's folder).
    #[serde(default = "default_store_path")]
    pub path: PathBuf,
    /// Finished changes and webhook delivery ids older than this many days are pruned
    /// (the per-contact state is kept).
    #[serde(default = "default_retention_days")]
    pub retention_days: u32,
    /// How long a process's claim on work stays valid without renewal; the claims of a
    /// process that died are taken over after this.
    #[serde(default = "default_lease_secs")]
    pub lease_secs: u64,
    /// Concurrent webhook requests share one journal transaction (one fsync); `false`
    /// commits each on its own.
    #[serde(default = "default_group_commit")]
    pub group_commit: bool,
    /// `postgres://user@host:port/db`: the shared PostgreSQL store of several workers
    /// (see `crate::pg_store`); unset = the SQLite file at `path`.
    #[serde(default)]
    pub url: Option<String>,
    /// Environment variable holding the PostgreSQL password (never in the file).
    #[serde(default)]
    pub password_env: Option<String>,
}

fn default_group_commit() -> bool {
    true
}

fn default_retention_days() -> u32 {
    7
}

fn default_lease_secs() -> u64 {
    60
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            path: default_store_path(),
            retention_days: default_retention_days(),
            url: None,
            password_env: None,
            lease_secs: default_lease_secs(),
            group_commit: default_group_commit(),
        }
    }
}

fn default_store_path() -> PathBuf {
    PathBuf::from("dialsync.db")
}

/// `[orgs.NAME]`: one Genesys Cloud org, one OAuth client, one rate budget.
#[derive(Debug, Clone, Deserialize)]
pub struct OrgConfig {
    /// API and token base URL (the emulator); exclusive with `region`.
    pub base_url: Option<String>,
    /// Genesys Cloud region domain, e.g. `mypurecloud.com`; exclusive with `base_url`.
    pub region: Option<String>,
    /// OAuth client id.
    pub client_id: String,
    /// Name of the environment variable that holds the OAuth client secret.
    pub client_secret_env: String,
    /// The org's request budget, shared by every worker.
    #[serde(default = "default_rpm")]
    pub requests_per_minute: u32,
    /// Requests in flight at once.
    #[serde(default = "default_concurrency")]
    pub max_concurrency: usize,
    /// Contacts per add call (the API's quoted maximum is 1000).
    #[serde(default = "default_per_call")]
    pub max_contacts_per_call: usize,
}

fn default_rpm() -> u32 {
    300
}
fn default_concurrency() -> usize {
    8
}
fn default_per_call() -> usize {
    1000
}

/// What a CRM delete does to the Genesys contact (defined by the sync engine).
pub use dialsync_sync::DeleteMode;

/// `[sources.NAME]`: one CRM feeding one contact list.
#[derive(Debug, Clone, Deserialize)]
pub struct SourceConfig {
    /// Bundled plugin name, path to a `.wasm`, or an installed plugin's name.
    pub plugin: String,
    /// Key of the org this source writes to.
    pub org: String,
    /// The Genesys contact list this source keeps in step.
    pub contact_list_id: String,
    /// Optional DNC list that do-not-call numbers are also added to.
    pub dnc_list_id: Option<String>,
    /// Region for phone numbers without a country code.
    #[serde(default = "default_region")]
    pub default_region: String,
    /// What a CRM delete does.
    #[serde(default)]
    pub delete_mode: DeleteMode,
    /// The plugin's own config object.
    #[serde(default = "empty_object")]
    pub config: serde_json::Value,
    /// Webhook authentication (used by `dialsync serve`).
    pub auth: Option<WebhookAuth>,
    /// Reading records back from the CRM (`dialsync pull`, the `serve` schedule, thin
    /// webhooks); defined by the pull module.
    #[serde(default)]
    pub pull: Option<crate::pull::PullConfig>,
    /// Salesforce Change Data Capture over the Pub/Sub API (`dialsync serve`); defined
    /// by the subscribe module.
    #[serde(default)]
    pub subscribe: Option<crate::subscribe::SubscribeConfig>,
}

fn default_region() -> String {
    "US".to_string()
}
fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(Default::default())
}

/// `[sources.NAME.auth]`: how a source's webhooks prove who sent them.
#[derive(Debug, Clone, Deserialize)]
pub struct WebhookAuth {
    /// The scheme.
    pub scheme: WebhookScheme,
    /// Name of the environment variable that holds the token or signing key.
    pub secret_env: String,
    /// User name for scheme `basic` (added for `dialsync serve`).
    #[serde(default)]
    pub username: Option<String>,
    /// Scheme `salesforce-outbound`: the org ids (15- or 18-character) whose Outbound
    /// Messages are accepted.
    #[serde(default)]
    pub organization_ids: Vec<String>,
    /// Scheme `salesforce-outbound`: client addresses allowed (CIDRs); empty allows any.
    #[serde(default)]
    pub allowed_ips: Vec<String>,
}

/// Webhook authentication schemes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WebhookScheme {
    /// `Authorization: Bearer <token>`.
    Bearer,
    /// `Authorization: Basic ...`.
    Basic,
    /// Standard Webhooks v1 signatures.
    StandardWebhooks,
    /// GitHub `X-Hub-Signature-256`.
    Github,
    /// Stripe `Stripe-Signature`.
    Stripe,
    /// Salesforce Outbound Messages: org id + URL token (+ IP allowlist), no header.
    SalesforceOutbound,
}

impl Config {
    /// Reads and checks a config file; relative store paths are resolved against its folder.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut config = Config::parse(&text).map_err(|e| match e {
            ConfigError::Syntax { message, .. } => ConfigError::Syntax {
                path: path.to_path_buf(),
                message,
            },
            other => other,
        })?;
        if config.store.path.is_relative()
            && let Some(dir) = path.parent()
        {
            config.store.path = dir.join(&config.store.path);
        }
        Ok(config)
    }

    /// Parses and checks config text (paths are left as written).
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let value: toml::Value = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: PathBuf::new(),
            message: e.to_string(),
        })?;
        let json = serde_json::to_value(&value).map_err(|e| ConfigError::Syntax {
            path: PathBuf::new(),
            message: e.to_string(),
        })?;
        check_schema(&json)?;
        let config: Config = serde_json::from_value(json)
            .map_err(|e| ConfigError::invalid("(config)", e.to_string()))?;
        config.check_references()?;
        Ok(config)
    }

    fn check_references(&self) -> Result<(), ConfigError> {
        for (name, org) in &self.orgs {
            if let Some(base) = &org.base_url {
                url::Url::parse(base).map_err(|e| {
                    ConfigError::invalid(
                        format!("orgs.{name}.base_url"),
                        format!("{base:?} is not a URL: {e}"),
                    )
                })?;
            }
        }
        for (name, source) in &self.sources {
            if !self.orgs.contains_key(&source.org) {
                return Err(ConfigError::invalid(
                    format!("sources.{name}.org"),
                    format!(
                        "unknown org {:?} (known: {})",
                        source.org,
                        self.orgs.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The named source, or an error naming the known ones.
    pub fn source(&self, name: &str) -> Result<&SourceConfig, ConfigError> {
        self.sources.get(name).ok_or_else(|| {
            ConfigError::invalid(
                format!("sources.{name}"),
                format!(
                    "no such source (known: {})",
                    self.sources.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            )
        })
    }

    /// The named org, or an error naming the key.
    pub fn org(&self, name: &str) -> Result<&OrgConfig, ConfigError> {
        self.orgs
            .get(name)
            .ok_or_else(|| ConfigError::invalid(format!("orgs.{name}"), "no such org"))
    }

    /// Client settings for an org, reading its secret from the environment.
    pub fn org_settings(&self, name: &str) -> Result<dialsync_genesys::OrgSettings, ConfigError> {
        let org = self.org(name)?;
        let key = format!("orgs.{name}.client_secret_env");
        let secret = std::env::var(&org.client_secret_env).map_err(|_| {
            ConfigError::invalid(
                &key,
                format!(
                    "environment variable {:?} is not set (it must hold the OAuth client secret)",
                    org.client_secret_env
                ),
            )
        })?;
        let endpoint = match (&org.base_url, &org.region) {
            (Some(base), None) => {
                let url = url::Url::parse(base).map_err(|e| {
                    ConfigError::invalid(format!("orgs.{name}.base_url"), e.to_string())
                })?;
                dialsync_genesys::Endpoint::BaseUrl(url)
            }
            (None, Some(region)) => dialsync_genesys::Endpoint::Region(region.clone()),
            _ => {
                return Err(ConfigError::invalid(
                    format!("orgs.{name}"),
                    "set exactly one of base_url and region",
                ));
            }
        };
        let mut settings = dialsync_genesys::OrgSettings::new(
            name,
            endpoint,
            org.client_id.clone(),
            dialsync_genesys::Secret::new(secret),
        );
        settings.requests_per_minute = org.requests_per_minute;
        settings.max_concurrency = org.max_concurrency;
        settings.shared_budget = self.shared_budgets.get(name).cloned();
        Ok(settings)
    }
}

/// Checks the config against the embedded schema; the first error names its key.
fn check_schema(json: &serde_json::Value) -> Result<(), ConfigError> {
    let schema: serde_json::Value =
        serde_json::from_str(CONFIG_SCHEMA).expect("embedded config schema is valid JSON");
    let validator = jsonschema::validator_for(&schema).expect("embedded config schema compiles");
    if let Some(error) = validator.iter_errors(json).next() {
        let pointer = error.instance_path.as_str();
        let key = if pointer.is_empty() {
            "(top level)".to_string()
        } else {
            pointer
                .trim_start_matches('/')
                .split('/')
                .map(|s| s.replace("~1", "/").replace("~0", "~"))
                .collect::<Vec<_>>()
                .join(".")
        };
        return Err(ConfigError::invalid(key, error.to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[store]
path = "dialsync.db"

[orgs.acme]
base_url = "http://127.0.0.1:9000"
client_id = "dialsync"
client_secret_env = "ACME_GENESYS_SECRET"

[sources.servicenow]
plugin = "servicenow"
org = "acme"
contact_list_id = "list-1"
delete_mode = "hard-when-idle"
[sources.servicenow.config]
table = "customer_contact"
[sources.servicenow.auth]
scheme = "bearer"
secret_env = "SN_WEBHOOK_TOKEN"
"#;

    fn err(text: &str) -> String {
        Config::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn good_config_parses_with_defaults() {
        let c = Config::parse(GOOD).unwrap();
        let org = &c.orgs["acme"];
        assert_eq!(org.requests_per_minute, 300);
        assert_eq!(org.max_concurrency, 8);
        assert_eq!(org.max_contacts_per_call, 1000);
        let s = &c.sources["servicenow"];
        assert_eq!(s.delete_mode, DeleteMode::HardWhenIdle);
        assert_eq!(s.default_region, "US");
        assert_eq!(s.config["table"], "customer_contact");
        assert_eq!(s.auth.as_ref().unwrap().scheme, WebhookScheme::Bearer);
    }

    #[test]
    fn unknown_org_names_the_key() {
        let text = GOOD.replace("org = \"acme\"", "org = \"acme2\"");
        let e = err(&text);
        assert!(
            e.starts_with("sources.servicenow.org: unknown org \"acme2\""),
            "{e}"
        );
    }

    #[test]
    fn bad_values_name_the_key() {
        let e = err(&GOOD.replace("hard-when-idle", "sometimes"));
        assert!(e.starts_with("sources.servicenow.delete_mode:"), "{e}");
        let e = err(&GOOD.replace("client_id = \"dialsync\"\n", ""));
        assert!(
            e.starts_with("orgs.acme:") && e.contains("client_id"),
            "{e}"
        );
        let e = err(&GOOD.replace("[store]", "[store]\nflavour = 1"));
        assert!(e.starts_with("store:") && e.contains("flavour"), "{e}");
        let e = err(&GOOD.replace("max_contacts", "x").replace(
            "client_secret_env = \"ACME_GENESYS_SECRET\"",
            "client_secret_env = \"ACME_GENESYS_SECRET\"\nmax_contacts_per_call = 5000",
        ));
        assert!(e.starts_with("orgs.acme.max_contacts_per_call:"), "{e}");
        let e = err(&GOOD.replace(
            "base_url = \"http://127.0.0.1:9000\"",
            "base_url = \"http://127.0.0.1:9000\"\nregion = \"mypurecloud.com\"",
        ));
        assert!(e.starts_with("orgs.acme:"), "{e}");
    }

    #[test]
    fn syntax_error_is_reported() {
        assert!(matches!(
            Config::parse("[orgs"),
            Err(ConfigError::Syntax { .. })
        ));
    }

    #[test]
    fn missing_secret_env_names_the_key_not_the_secret() {
        let c = Config::parse(&GOOD.replace("ACME_GENESYS_SECRET", "DIALSYNC_TEST_UNSET_VAR_1"))
            .unwrap();
        let e = c.org_settings("acme").unwrap_err().to_string();
        assert!(e.starts_with("orgs.acme.client_secret_env:"), "{e}");
    }

    #[test]
    fn load_resolves_store_path_against_the_config_folder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dialsync.toml");
        std::fs::write(&path, GOOD).unwrap();
        let c = Config::load(&path).unwrap();
        assert_eq!(c.store.path, dir.path().join("dialsync.db"));
    }
}
