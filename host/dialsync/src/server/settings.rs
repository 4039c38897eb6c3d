//! `[server]` in `dialsync.toml`: where `dialsync serve` listens, body and timestamp
//! limits, and how the admin API and the Genesys data-action endpoints authenticate.
//! Secrets are named by environment variable only, as everywhere in the config.

use serde::Deserialize;

use crate::config::{WebhookAuth as AuthConfig, WebhookScheme};

use super::signatures::{OutboundCheck, WebhookAuth, WebhookSecret};

/// `[server]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Listen address (`--addr` overrides).
    #[serde(default = "default_addr")]
    pub addr: String,
    /// Largest request body; larger gets 413.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// How far a signed webhook timestamp may be from now.
    #[serde(default = "default_tolerance")]
    pub timestamp_tolerance_secs: i64,
    /// Environment variable with the admin API's bearer token (admin API off without it).
    #[serde(default)]
    pub admin_token_env: Option<String>,
    /// How long `sync-record` waits for its change's outcome before answering `pending`.
    #[serde(default = "default_sync_wait")]
    pub sync_wait_secs: u64,
    /// How Genesys Cloud data actions authenticate (`bearer` or `basic`; endpoints off
    /// without it).
    #[serde(default)]
    pub actions_auth: Option<AuthConfig>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            addr: default_addr(),
            max_body_bytes: default_max_body(),
            timestamp_tolerance_secs: default_tolerance(),
            admin_token_env: None,
            sync_wait_secs: default_sync_wait(),
            actions_auth: None,
        }
    }
}

fn default_addr() -> String {
    "127.0.0.1:8080".into()
}
fn default_max_body() -> usize {
    1 << 20
}
fn default_tolerance() -> i64 {
    super::signatures::DEFAULT_TOLERANCE_SECS
}
fn default_sync_wait() -> u64 {
    25
}

/// A setting whose secret is missing or unusable; names the config key, never the value.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {message}")]
pub struct SettingsError {
    /// The config key at fault.
    pub key: String,
    /// Why.
    pub message: String,
}

/// Builds the verifier for an `auth` table at `key`, reading its secret from the
/// environment variable it names.
pub fn auth_from_config(key: &str, auth: &AuthConfig) -> Result<WebhookAuth, SettingsError> {
    let secret = read_env(&format!("{key}.secret_env"), &auth.secret_env)?;
    let scheme = match auth.scheme {
        WebhookScheme::Bearer => "bearer",
        WebhookScheme::Basic => "basic",
        WebhookScheme::StandardWebhooks => "standard-webhooks",
        WebhookScheme::Github => "github",
        WebhookScheme::Stripe => "stripe",
        WebhookScheme::SalesforceOutbound => {
            return OutboundCheck::new(&secret, &auth.organization_ids, &auth.allowed_ips)
                .map(WebhookAuth::SalesforceOutbound)
                .map_err(|e| SettingsError {
                    key: key.to_owned(),
                    message: e.to_string(),
                });
        }
    };
    WebhookAuth::from_config(scheme, &secret, auth.username.as_deref()).map_err(|e| SettingsError {
        key: key.to_owned(),
        message: e.to_string(),
    })
}

impl ServerSettings {
    /// The admin token, if the admin API is configured.
    pub fn admin_token(&self) -> Result<Option<WebhookSecret>, SettingsError> {
        self.admin_token_env
            .as_deref()
            .map(|var| read_env("server.admin_token_env", var).map(WebhookSecret::new))
            .transpose()
    }

    /// The data-action verifier, if data actions are configured.
    pub fn actions_auth(&self) -> Result<Option<WebhookAuth>, SettingsError> {
        let Some(auth) = &self.actions_auth else {
            return Ok(None);
        };
        if !matches!(auth.scheme, WebhookScheme::Bearer | WebhookScheme::Basic) {
            return Err(SettingsError {
                key: "server.actions_auth.scheme".into(),
                message: "Genesys Cloud data actions send bearer or basic credentials only".into(),
            });
        }
        auth_from_config("server.actions_auth", auth).map(Some)
    }
}

fn read_env(key: &str, var: &str) -> Result<String, SettingsError> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Ok(v),
        Ok(_) => Err(SettingsError {
            key: key.to_owned(),
            message: format!("environment variable {var} is empty"),
        }),
        Err(_) => Err(SettingsError {
            key: key.to_owned(),
            message: format!("environment variable {var} is not set"),
        }),
    }
}
