//! The demo's Genesys org: an in-process emulator seeded from `--seed`, with one contact
//! list per bundled plugin (columns taken from the plugin's own description), a DNC list,
//! running campaigns that hold contacts (so writes can meet the dialer's 409), and the
//! faults a real org shows: 5xx answers, latency, 429 bursts, short-lived tokens.
//!
//! 429s come from the emulator's burst injection (Retry-After: 1 s), not from exhausting
//! the per-minute window: a real window 429 asks the caller to wait up to a minute, which
//! would make the demo slow without showing anything the burst does not.

use std::time::Duration;

use dialsync_emulator::{
    EmulatorConfig, FixtureCampaign, FixtureContactList, FixtureDncList, Fixtures, PhoneColumn,
};
use dialsync_plugin_host::PluginInfo;
use serde::Serialize;

/// The DNC list every demo source puts do-not-call numbers on.
pub const DNC_LIST_ID: &str = "demo-dnc";

/// The contact list of a demo source.
pub fn list_id(source: &str) -> String {
    format!("demo-{source}")
}

/// Sources whose list a running campaign dials during the demo.
pub const CAMPAIGN_SOURCES: [&str; 2] = ["servicenow", "salesforce"];

/// The fault settings of a demo run (reported as they were used).
#[derive(Debug, Clone, Serialize)]
pub struct Faults {
    /// Whether faults were on at all.
    pub enabled: bool,
    /// Added latency per request, `[min, max]` ms.
    pub latency_ms: [u64; 2],
    /// Share of API requests answered 503 before anything is done.
    pub error_rate: f64,
    /// Share of successful writes applied and then answered 500.
    pub applied_then_error_rate: f64,
    /// Share of API requests answered 429 (Retry-After: 1).
    pub burst_429_rate: f64,
    /// Chance a write touching a contact the dialer holds answers 409.
    pub dialer_lock_rate: f64,
    /// Access-token lifetime in seconds.
    pub token_ttl_secs: u64,
    /// Requests per minute per token.
    pub rate_limit_per_minute: u32,
}

impl Faults {
    /// Realistic faults (`enabled`) or a healthy org.
    pub fn new(enabled: bool) -> Faults {
        if enabled {
            Faults {
                enabled,
                latency_ms: [5, 40],
                error_rate: 0.05,
                applied_then_error_rate: 0.02,
                burst_429_rate: 0.05,
                dialer_lock_rate: 0.5,
                token_ttl_secs: 3,
                rate_limit_per_minute: 1200,
            }
        } else {
            Faults {
                enabled,
                latency_ms: [0, 0],
                error_rate: 0.0,
                applied_then_error_rate: 0.0,
                burst_429_rate: 0.0,
                dialer_lock_rate: 0.0,
                token_ttl_secs: 86_400,
                rate_limit_per_minute: 1200,
            }
        }
    }
}

/// The phone-column type Genesys wants, guessed from the column's name.
fn phone_type(column: &str) -> &'static str {
    let lower = column.to_ascii_lowercase();
    if lower.contains("mobile") || lower.contains("cell") {
        "cell"
    } else if lower.contains("home") {
        "home"
    } else {
        "work"
    }
}

/// The org's data: a list per plugin, the DNC list and the running campaigns.
pub fn fixtures<'a>(plugins: impl IntoIterator<Item = (&'a str, &'a PluginInfo)>) -> Fixtures {
    let contact_lists = plugins
        .into_iter()
        .map(|(source, info)| FixtureContactList {
            id: Some(list_id(source)),
            name: format!("{source} contacts (dialsync demo)"),
            column_names: info.columns.clone(),
            phone_columns: info
                .phone_columns
                .iter()
                .map(|c| PhoneColumn {
                    column_name: c.clone(),
                    kind: Some(phone_type(c).to_string()),
                    callable_time_column: None,
                })
                .collect(),
            contacts: Vec::new(),
        })
        .collect();
    let campaigns = CAMPAIGN_SOURCES
        .iter()
        .map(|source| FixtureCampaign {
            id: Some(format!("demo-campaign-{source}")),
            name: format!("{source} renewals (dialsync demo)"),
            contact_list_id: list_id(source),
            campaign_status: Some("on".to_string()),
            dnc_list_ids: vec![DNC_LIST_ID.to_string()],
            outbound_line_count: Some(3),
            dialing_mode: Some("progressive".to_string()),
        })
        .collect();
    Fixtures {
        contact_lists,
        dnc_lists: vec![FixtureDncList {
            id: Some(DNC_LIST_ID.to_string()),
            name: "Do not call (dialsync demo)".to_string(),
            phone_numbers: Vec::new(),
        }],
        campaigns,
        ..Fixtures::default()
    }
}

/// The emulator configuration for a run.
pub fn emulator_config(
    seed: u64,
    faults: &Faults,
    fixtures: Fixtures,
    client_secret: &str,
) -> EmulatorConfig {
    EmulatorConfig {
        client_id: "dialsync-demo".to_string(),
        client_secret: client_secret.to_string(),
        rate_limit_per_minute: faults.rate_limit_per_minute,
        token_ttl: Duration::from_secs(faults.token_ttl_secs),
        latency: Duration::from_millis(faults.latency_ms[0])
            ..=Duration::from_millis(faults.latency_ms[1]),
        error_rate: faults.error_rate,
        applied_then_error_rate: faults.applied_then_error_rate,
        burst_429_rate: faults.burst_429_rate,
        dialer_lock_rate: faults.dialer_lock_rate,
        seed,
        fixtures: Some(fixtures),
        ..EmulatorConfig::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_columns_get_a_genesys_type() {
        assert_eq!(phone_type("mobilePhone"), "cell");
        assert_eq!(phone_type("homePhone"), "home");
        assert_eq!(phone_type("businessPhone"), "work");
        assert_eq!(phone_type("phone"), "work");
    }

    #[test]
    fn healthy_org_has_no_faults() {
        let f = Faults::new(false);
        assert_eq!(f.error_rate + f.burst_429_rate + f.dialer_lock_rate, 0.0);
        assert!(Faults::new(true).token_ttl_secs < 10);
    }
}
