//! Emulator configuration: credentials, limits and fault injection.
//!
//! Everything except the seed, fixtures and sample-org switch can be changed while the
//! emulator runs (`RunningEmulator::set_config`, `PUT /_emulator/config`), so a test can
//! e.g. start healthy, then turn 5xx injection on for one phase.

use std::ops::RangeInclusive;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::fixtures::Fixtures;

/// One OAuth client (client-credentials grant) the emulator accepts.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCredentials {
    /// OAuth client id.
    pub client_id: String,
    /// OAuth client secret (never printed by `Debug`).
    pub client_secret: String,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"***")
            .finish()
    }
}

/// How the emulator behaves. `Default` is a healthy org with Genesys' documented limits.
#[derive(Clone, Debug)]
pub struct EmulatorConfig {
    /// Primary client id.
    pub client_id: String,
    /// Primary client secret.
    pub client_secret: String,
    /// Further accepted clients (each gets its own tokens and rate budgets).
    pub extra_clients: Vec<ClientCredentials>,
    /// Requests per minute per token (Genesys: 300).
    pub rate_limit_per_minute: u32,
    /// Optional extra budget shared by all tokens of one client id.
    pub rate_limit_per_client_per_minute: Option<u32>,
    /// Lifetime of issued access tokens (Genesys default: 24 h).
    pub token_ttl: Duration,
    /// Maximum contacts in one `POST .../contacts` call.
    pub max_contacts_per_call: usize,
    /// Artificial latency added to each API request, uniformly drawn from this range.
    pub latency: RangeInclusive<Duration>,
    /// Probability an API request answers 503 *before* doing anything.
    pub error_rate: f64,
    /// Probability a successful write (POST/PUT/PATCH/DELETE) is applied but answered 500.
    pub applied_then_error_rate: f64,
    /// Probability an API request is not applied and its connection is dropped after `drop_hang`.
    pub drop_rate: f64,
    /// How long a dropped request hangs before the connection is cut (a client timeout
    /// shorter than this sees a timeout).
    pub drop_hang: Duration,
    /// Probability an API request answers 429 even under the limit (bursts, as the real
    /// platform's shared layers do).
    pub burst_429_rate: f64,
    /// Probability that a write touching a contact the dialer holds answers 409.
    pub dialer_lock_rate: f64,
    /// Background user-version bumps per second (WFM/status churn); 0 = off.
    pub version_churn_per_sec: f64,
    /// Emit `inin-ratelimit-count/allowed/reset` on every API response.
    pub rate_headers: bool,
    /// Include `Retry-After` on 429 (the Python SDK only auto-retries when it is present).
    pub retry_after_header: bool,
    /// Eventual consistency (opt-in): after a contact write, reads of that contact keep
    /// answering the state before the write (a fresh contact 404s, a deleted one lingers)
    /// for a delay drawn uniformly from this range. Zero (the default) is strongly
    /// consistent.
    pub consistency_delay: RangeInclusive<Duration>,
    /// Records a bulk contact job (`…/contacts/bulk/remove|update`) processes per second.
    pub bulk_job_records_per_sec: f64,
    /// Seed for every random decision (faults, dialer, generated ids, churn).
    pub seed: u64,
    /// Data loaded at start.
    pub fixtures: Option<Fixtures>,
    /// Load the built-in sample org at start (before `fixtures`).
    pub sample_org: bool,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            client_id: "dialsync".into(),
            client_secret: "emulator-secret".into(),
            extra_clients: Vec::new(),
            rate_limit_per_minute: 300,
            rate_limit_per_client_per_minute: None,
            token_ttl: Duration::from_secs(86_400),
            max_contacts_per_call: 1000,
            latency: Duration::ZERO..=Duration::ZERO,
            error_rate: 0.0,
            applied_then_error_rate: 0.0,
            drop_rate: 0.0,
            drop_hang: Duration::from_secs(30),
            burst_429_rate: 0.0,
            dialer_lock_rate: 0.0,
            version_churn_per_sec: 0.0,
            rate_headers: true,
            retry_after_header: true,
            consistency_delay: Duration::ZERO..=Duration::ZERO,
            bulk_job_records_per_sec: 20_000.0,
            seed: 0,
            fixtures: None,
            sample_org: false,
        }
    }
}

impl EmulatorConfig {
    /// All accepted clients, the primary one first.
    pub fn clients(&self) -> Vec<ClientCredentials> {
        let mut all = vec![ClientCredentials {
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.clone(),
        }];
        all.extend(self.extra_clients.iter().cloned());
        all
    }
}

/// A partial run-time change, as accepted by `PUT /_emulator/config`: every field optional,
/// durations in milliseconds/seconds so it is easy to write by hand.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub struct ConfigPatch {
    /// See [`EmulatorConfig::rate_limit_per_minute`].
    pub rate_limit_per_minute: Option<u32>,
    /// See [`EmulatorConfig::rate_limit_per_client_per_minute`] (0 turns it off).
    pub rate_limit_per_client_per_minute: Option<u32>,
    /// See [`EmulatorConfig::token_ttl`].
    pub token_ttl_secs: Option<u64>,
    /// See [`EmulatorConfig::max_contacts_per_call`].
    pub max_contacts_per_call: Option<usize>,
    /// `[min, max]` latency in milliseconds.
    pub latency_ms: Option<[u64; 2]>,
    /// See [`EmulatorConfig::error_rate`].
    pub error_rate: Option<f64>,
    /// See [`EmulatorConfig::applied_then_error_rate`].
    pub applied_then_error_rate: Option<f64>,
    /// See [`EmulatorConfig::drop_rate`].
    pub drop_rate: Option<f64>,
    /// See [`EmulatorConfig::drop_hang`].
    pub drop_hang_ms: Option<u64>,
    /// See [`EmulatorConfig::burst_429_rate`].
    pub burst_429_rate: Option<f64>,
    /// See [`EmulatorConfig::dialer_lock_rate`].
    pub dialer_lock_rate: Option<f64>,
    /// See [`EmulatorConfig::version_churn_per_sec`].
    pub version_churn_per_sec: Option<f64>,
    /// See [`EmulatorConfig::rate_headers`].
    pub rate_headers: Option<bool>,
    /// See [`EmulatorConfig::retry_after_header`].
    pub retry_after_header: Option<bool>,
    /// `[min, max]` consistency delay in milliseconds (see
    /// [`EmulatorConfig::consistency_delay`]).
    pub consistency_delay_ms: Option<[u64; 2]>,
    /// See [`EmulatorConfig::bulk_job_records_per_sec`].
    pub bulk_job_records_per_sec: Option<f64>,
}

impl ConfigPatch {
    /// Checks ranges, naming the bad field.
    pub fn validate(&self) -> Result<(), String> {
        for (name, v) in [
            ("error_rate", self.error_rate),
            ("applied_then_error_rate", self.applied_then_error_rate),
            ("drop_rate", self.drop_rate),
            ("burst_429_rate", self.burst_429_rate),
            ("dialer_lock_rate", self.dialer_lock_rate),
        ] {
            if let Some(v) = v
                && !(0.0..=1.0).contains(&v)
            {
                return Err(format!("{name} must be between 0 and 1, got {v}"));
            }
        }
        if let Some(v) = self.version_churn_per_sec
            && !(v >= 0.0 && v.is_finite())
        {
            return Err(format!("version_churn_per_sec must be >= 0, got {v}"));
        }
        if let Some([lo, hi]) = self.latency_ms
            && lo > hi
        {
            return Err(format!("latency_ms: min {lo} is above max {hi}"));
        }
        if let Some([lo, hi]) = self.consistency_delay_ms
            && lo > hi
        {
            return Err(format!("consistency_delay_ms: min {lo} is above max {hi}"));
        }
        if let Some(v) = self.bulk_job_records_per_sec
            && !(v > 0.0 && v.is_finite())
        {
            return Err(format!("bulk_job_records_per_sec must be > 0, got {v}"));
        }
        if self.rate_limit_per_minute == Some(0) {
            return Err("rate_limit_per_minute must be at least 1".into());
        }
        if self.max_contacts_per_call == Some(0) {
            return Err("max_contacts_per_call must be at least 1".into());
        }
        Ok(())
    }

    /// Applies the patch to `config` (after [`ConfigPatch::validate`]).
    pub fn apply(&self, config: &mut EmulatorConfig) {
        if let Some(v) = self.rate_limit_per_minute {
            config.rate_limit_per_minute = v;
        }
        if let Some(v) = self.rate_limit_per_client_per_minute {
            config.rate_limit_per_client_per_minute = (v > 0).then_some(v);
        }
        if let Some(v) = self.token_ttl_secs {
            config.token_ttl = Duration::from_secs(v);
        }
        if let Some(v) = self.max_contacts_per_call {
            config.max_contacts_per_call = v;
        }
        if let Some([lo, hi]) = self.latency_ms {
            config.latency = Duration::from_millis(lo)..=Duration::from_millis(hi);
        }
        if let Some(v) = self.error_rate {
            config.error_rate = v;
        }
        if let Some(v) = self.applied_then_error_rate {
            config.applied_then_error_rate = v;
        }
        if let Some(v) = self.drop_rate {
            config.drop_rate = v;
        }
        if let Some(v) = self.drop_hang_ms {
            config.drop_hang = Duration::from_millis(v);
        }
        if let Some(v) = self.burst_429_rate {
            config.burst_429_rate = v;
        }
        if let Some(v) = self.dialer_lock_rate {
            config.dialer_lock_rate = v;
        }
        if let Some(v) = self.version_churn_per_sec {
            config.version_churn_per_sec = v;
        }
        if let Some(v) = self.rate_headers {
            config.rate_headers = v;
        }
        if let Some(v) = self.retry_after_header {
            config.retry_after_header = v;
        }
        if let Some([lo, hi]) = self.consistency_delay_ms {
            config.consistency_delay = Duration::from_millis(lo)..=Duration::from_millis(hi);
        }
        if let Some(v) = self.bulk_job_records_per_sec {
            config.bulk_job_records_per_sec = v;
        }
    }
}
