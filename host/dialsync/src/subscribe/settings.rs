//! `[sources.NAME.subscribe]`: a Salesforce Pub/Sub API subscription (Change Data
//! Capture). Secrets are named by environment variable only, as everywhere in the config.

use serde::Deserialize;

use crate::pull::{PullConfig, settings::PullKind};

/// Where a subscription with no stored replay id starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum StartAt {
    /// Only events published from now on (`LATEST`); run a pull once for the backlog.
    #[default]
    Latest,
    /// Every event Salesforce still retains (72 hours; `EARLIEST`).
    Earliest,
}

/// `[sources.NAME.subscribe]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscribeConfig {
    /// The channel, e.g. `/data/ContactChangeEvent` (or `/data/LeadChangeEvent`, or a
    /// custom channel `/data/Dialsync__chn`).
    pub topic: String,
    /// The Pub/Sub API endpoint (default `https://api.pubsub.salesforce.com:7443`).
    #[serde(default = "default_endpoint")]
    pub pubsub_url: String,
    /// The org's My Domain URL, where the token is requested
    /// (`https://acme.my.salesforce.com`).
    pub base_url: String,
    /// The connected app's consumer key.
    pub client_id: String,
    /// Environment variable with the connected app's consumer secret.
    pub client_secret_env: String,
    /// The object re-fetched for GAP/UNDELETE events (default: from the topic,
    /// `/data/ContactChangeEvent` → `Contact`).
    #[serde(default)]
    pub object: Option<String>,
    /// Salesforce REST API version for re-fetches (default `v62.0`).
    #[serde(default)]
    pub api_version: Option<String>,
    /// Events requested per `FetchRequest` (flow control; 1..=100, Salesforce's limit).
    #[serde(default = "default_num_requested")]
    pub num_requested: i32,
    /// Where to start when no replay id is stored.
    #[serde(default)]
    pub start_at: StartAt,
    /// REST requests per second for re-fetches, shared by every source of one org.
    #[serde(default = "default_refetch_rate")]
    pub refetch_per_second: f64,
    /// A `GAP_OVERFLOW` re-reads the object's records modified since its commit time
    /// minus this many seconds.
    #[serde(default = "default_overflow_lookback")]
    pub overflow_lookback_secs: u64,
    /// First reconnect delay after a stream failure (doubling up to
    /// `reconnect_max_ms`, with jitter).
    #[serde(default = "default_reconnect_min")]
    pub reconnect_min_ms: u64,
    /// Longest reconnect delay.
    #[serde(default = "default_reconnect_max")]
    pub reconnect_max_ms: u64,
}

fn default_endpoint() -> String {
    dialsync_pubsub_api::DEFAULT_ENDPOINT.to_owned()
}
fn default_num_requested() -> i32 {
    100
}
fn default_refetch_rate() -> f64 {
    5.0
}
fn default_overflow_lookback() -> u64 {
    3600
}
fn default_reconnect_min() -> u64 {
    500
}
fn default_reconnect_max() -> u64 {
    60_000
}

impl SubscribeConfig {
    /// The object the topic's events are about.
    pub fn object(&self) -> String {
        if let Some(o) = &self.object {
            return o.clone();
        }
        let tail = self.topic.rsplit('/').next().unwrap_or_default();
        tail.strip_suffix("ChangeEvent")
            .map(|o| {
                o.strip_suffix("__")
                    .map_or(o.to_owned(), |c| format!("{c}__c"))
            })
            .unwrap_or_else(|| "Contact".to_owned())
    }

    /// Checks the values; errors name the key.
    pub fn validate(&self, source: &str) -> Result<(), String> {
        let key = |k: &str| format!("sources.{source}.subscribe.{k}");
        if !self.topic.starts_with('/') {
            return Err(format!(
                "{}: {:?} is not a channel name like /data/ContactChangeEvent",
                key("topic"),
                self.topic
            ));
        }
        if !(1..=100).contains(&self.num_requested) {
            return Err(format!(
                "{}: {} is not within 1..=100",
                key("num_requested"),
                self.num_requested
            ));
        }
        if !(self.refetch_per_second > 0.0 && self.refetch_per_second.is_finite()) {
            return Err(format!("{}: must be above 0", key("refetch_per_second")));
        }
        if self.reconnect_min_ms == 0 || self.reconnect_max_ms < self.reconnect_min_ms {
            return Err(format!(
                "{}: must be above 0 and at most reconnect_max_ms",
                key("reconnect_min_ms")
            ));
        }
        Ok(())
    }

    /// The REST side (token, re-fetches, overflow re-reads) as a pull config.
    pub fn rest(&self) -> PullConfig {
        PullConfig {
            kind: PullKind::Salesforce,
            base_url: self.base_url.clone(),
            table: None,
            object: Some(self.object()),
            fields: None,
            auth: Default::default(),
            username: None,
            password_env: None,
            client_id: Some(self.client_id.clone()),
            client_secret_env: Some(self.client_secret_env.clone()),
            api_version: self.api_version.clone(),
            page_size: 2000,
            interval_secs: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(topic: &str) -> SubscribeConfig {
        toml::from_str(&format!(
            r#"
topic = "{topic}"
base_url = "https://acme.my.salesforce.com"
client_id = "3MVG9"
client_secret_env = "SF_SECRET"
"#
        ))
        .unwrap()
    }

    #[test]
    fn the_object_follows_the_topic_and_defaults_hold() {
        let c = config("/data/ContactChangeEvent");
        assert_eq!(c.object(), "Contact");
        assert_eq!(c.num_requested, 100);
        assert_eq!(c.start_at, StartAt::Latest);
        assert_eq!(c.pubsub_url, "https://api.pubsub.salesforce.com:7443");
        assert_eq!(config("/data/Lead__ChangeEvent").object(), "Lead__c");
        assert!(c.validate("sf").is_ok());
        let mut bad = c.clone();
        bad.num_requested = 500;
        let e = bad.validate("sf").unwrap_err();
        assert!(e.contains("sources.sf.subscribe.num_requested"), "{e}");
    }
}
