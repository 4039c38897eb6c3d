//! Starting an emulator and a client for it.

use std::time::Duration;

use dialsync_emulator::{EmulatorConfig, RunningEmulator};
use dialsync_genesys::{Endpoint, GenesysClient, OrgSettings, RetryPolicy, Secret};

/// Starts an emulator on a free loopback port.
pub async fn emulator(config: EmulatorConfig) -> RunningEmulator {
    dialsync_emulator::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("emulator starts")
}

/// Settings for the emulator's primary client.
pub fn settings(emu: &RunningEmulator) -> OrgSettings {
    let cfg = emu.emulator().config();
    let mut s = OrgSettings::new(
        "test",
        Endpoint::BaseUrl(emu.base_url().parse().unwrap()),
        cfg.client_id,
        Secret::new(cfg.client_secret),
    );
    s.requests_per_minute = 60_000;
    s.retry = RetryPolicy {
        max_attempts: 5,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(100),
        max_elapsed: Duration::from_secs(60),
    };
    s.request_timeout = Duration::from_secs(10);
    s
}

/// A client with seeded jitter.
pub fn client(settings: OrgSettings) -> GenesysClient {
    GenesysClient::with_jitter_seed(settings, 42).expect("valid settings")
}

/// Id of the sample org's contact list.
pub const SAMPLE_LIST: &str = "00000000-0000-4000-8000-c0171157000a";

/// An emulator config with the sample org loaded.
pub fn sample() -> EmulatorConfig {
    EmulatorConfig {
        sample_org: true,
        ..EmulatorConfig::default()
    }
}
