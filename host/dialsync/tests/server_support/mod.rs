//! Shared harness for the `server_*` tests: a real emulator on loopback with one contact
//! list per source (columns from the real bundled plugins' `describe`), a real
//! `dialsync.toml` and SQLite journal in a temp dir, and `dialsync serve`'s router on a
//! loopback port with the sync workers running.

#![allow(dead_code)] // each test binary uses a different part of the harness

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Once};
use std::time::Duration;

use dialsync::config::Config;
use dialsync::plugin_registry::Registry;
use dialsync::server::{self, AppState};
use dialsync_emulator::{
    EmulatorConfig, FixtureContactList, Fixtures, PhoneColumn, RunningEmulator,
};

pub const GENESYS_SECRET_ENV: &str = "DS_TEST_GENESYS_SECRET";
pub const GENESYS_SECRET: &str = "emulator-secret";
pub const SN_TOKEN_ENV: &str = "DS_TEST_SN_TOKEN";
pub const SN_TOKEN: &str = "sn-shared-token-1";
pub const SN_PASSWORD_ENV: &str = "DS_TEST_SN_PASSWORD";
pub const SN_PASSWORD: &str = "sn-basic-password";
pub const SF_WHSEC_ENV: &str = "DS_TEST_SF_WHSEC";
/// A Standard Webhooks secret: `whsec_` + base64 of 24 random-looking bytes.
pub const SF_WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
pub const GH_SECRET_ENV: &str = "DS_TEST_GH_SECRET";
pub const GH_SECRET: &str = "It's a Secret to Everybody";
pub const STRIPE_SECRET_ENV: &str = "DS_TEST_STRIPE_SECRET";
pub const STRIPE_SECRET: &str = "whsec_stripe_style_secret";
pub const ACTIONS_TOKEN_ENV: &str = "DS_TEST_ACTIONS_TOKEN";
pub const ACTIONS_TOKEN: &str = "genesys-actions-token";
pub const ADMIN_TOKEN_ENV: &str = "DS_TEST_ADMIN_TOKEN";
pub const ADMIN_TOKEN: &str = "admin-token-xyz";

/// Sets the secrets' environment variables once per test process (always the same
/// values, so concurrent tests agree).
pub fn set_env() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for (k, v) in [
            (GENESYS_SECRET_ENV, GENESYS_SECRET),
            (SN_TOKEN_ENV, SN_TOKEN),
            (SN_PASSWORD_ENV, SN_PASSWORD),
            (SF_WHSEC_ENV, SF_WHSEC),
            (GH_SECRET_ENV, GH_SECRET),
            (STRIPE_SECRET_ENV, STRIPE_SECRET),
            (ACTIONS_TOKEN_ENV, ACTIONS_TOKEN),
            (ADMIN_TOKEN_ENV, ADMIN_TOKEN),
        ] {
            // SAFETY: called once, first thing in every test, before any thread of
            // this harness reads the environment; every caller writes the same values.
            unsafe { std::env::set_var(k, v) };
        }
    });
}

/// The contact lists the harness creates: (list id, a source whose plugin writes it).
pub const LISTS: [(&str, &str); 3] = [
    ("list-sn", "servicenow"),
    ("list-sf", "salesforce"),
    ("list-custom", "custom"),
];

/// Starts an empty emulator on loopback.
pub async fn start_emulator() -> RunningEmulator {
    start_emulator_with(EmulatorConfig::default()).await
}

/// Starts an empty emulator on loopback with `config` (its client secret is the harness's).
pub async fn start_emulator_with(config: EmulatorConfig) -> RunningEmulator {
    let config = EmulatorConfig {
        client_secret: GENESYS_SECRET.into(),
        ..config
    };
    dialsync_emulator::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("emulator starts")
}

/// Creates one empty contact list per entry of [`LISTS`], with the columns the source's
/// loaded plugin declares in `describe`.
pub fn create_lists(emulator: &RunningEmulator, state: &AppState) {
    let mut lists = Vec::new();
    for (id, source) in LISTS {
        let slot = state.sources[source].plugin();
        let info = slot.plugin.info();
        lists.push(FixtureContactList {
            id: Some(id.to_owned()),
            name: format!("{source} contacts"),
            column_names: info.columns.clone(),
            phone_columns: info
                .phone_columns
                .iter()
                .map(|c| PhoneColumn {
                    column_name: c.clone(),
                    kind: Some("cell".into()),
                    callable_time_column: None,
                })
                .collect(),
            contacts: Vec::new(),
        });
    }
    emulator
        .load_fixtures(&Fixtures {
            contact_lists: lists,
            ..Fixtures::default()
        })
        .expect("fixtures load");
}

/// Writes a `dialsync.toml` with every test source into `dir`.
pub fn write_config(dir: &Path, emulator_base: &str, extra: &str) -> PathBuf {
    write_config_with(dir, emulator_base, "", extra)
}

/// Like [`write_config`], with `org_extra` TOML in the `[orgs.acme]` table.
pub fn write_config_with(dir: &Path, emulator_base: &str, org_extra: &str, extra: &str) -> PathBuf {
    let text = format!(
        r#"
[store]
path = "journal.db"

[orgs.acme]
base_url = "{emulator_base}"
client_id = "dialsync"
client_secret_env = "{GENESYS_SECRET_ENV}"
{org_extra}

[server]
max_body_bytes = 65536
admin_token_env = "{ADMIN_TOKEN_ENV}"
sync_wait_secs = 20
[server.actions_auth]
scheme = "bearer"
secret_env = "{ACTIONS_TOKEN_ENV}"

[sources.servicenow]
plugin = "servicenow"
org = "acme"
contact_list_id = "list-sn"
[sources.servicenow.auth]
scheme = "bearer"
secret_env = "{SN_TOKEN_ENV}"

[sources.servicenow-basic]
plugin = "servicenow"
org = "acme"
contact_list_id = "list-sn"
[sources.servicenow-basic.auth]
scheme = "basic"
username = "snow"
secret_env = "{SN_PASSWORD_ENV}"

[sources.salesforce]
plugin = "salesforce"
org = "acme"
contact_list_id = "list-sf"
[sources.salesforce.auth]
scheme = "standard-webhooks"
secret_env = "{SF_WHSEC_ENV}"

[sources.salesforce-om]
plugin = "salesforce"
org = "acme"
contact_list_id = "list-sf"
[sources.salesforce-om.auth]
scheme = "basic"
username = "sfdc"
secret_env = "{SN_PASSWORD_ENV}"

[sources.custom]
plugin = "custom-crm"
org = "acme"
contact_list_id = "list-custom"
[sources.custom.auth]
scheme = "github"
secret_env = "{GH_SECRET_ENV}"

[sources.custom-stripe]
plugin = "custom-crm"
org = "acme"
contact_list_id = "list-custom"
[sources.custom-stripe.auth]
scheme = "stripe"
secret_env = "{STRIPE_SECRET_ENV}"

[sources.unsigned]
plugin = "custom-crm"
org = "acme"
contact_list_id = "list-custom"
{extra}
"#
    );
    let path = dir.join("dialsync.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// A running `dialsync serve` (in process) over a running emulator.
pub struct Harness {
    pub emulator: RunningEmulator,
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    pub addr: SocketAddr,
    pub state: Arc<AppState>,
    pub http: reqwest::Client,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Harness {
    /// Emulator + config + server, ready for requests.
    pub async fn start() -> Harness {
        Harness::start_with("").await
    }

    /// Like [`Harness::start`], with `extra` TOML appended to the config.
    pub async fn start_with(extra: &str) -> Harness {
        Harness::start_configured(EmulatorConfig::default(), "", extra).await
    }

    /// Like [`Harness::start_with`], on an emulator configured as `emulator` and with
    /// `org_extra` TOML in the `[orgs.acme]` table.
    pub async fn start_configured(
        emulator: EmulatorConfig,
        org_extra: &str,
        extra: &str,
    ) -> Harness {
        set_env();
        let emulator = start_emulator_with(emulator).await;
        let dir = tempfile::tempdir().expect("tempdir");
        let config_path = write_config_with(dir.path(), &emulator.base_url(), org_extra, extra);
        let config = Config::load(&config_path).expect("config loads");
        let state = AppState::build(&config, Registry::new(&dir.path().join("home")))
            .await
            .expect("server state builds");
        create_lists(&emulator, &state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(server::serve(state.clone(), listener, async {
            let _ = rx.await;
        }));
        Harness {
            emulator,
            dir,
            config_path,
            addr,
            state,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
            shutdown: Some(tx),
            server: Some(server),
        }
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Rows in the journal's `changes` table (everything ever accepted).
    pub fn journal_count(&self) -> i64 {
        journal_count(&self.dir.path().join("journal.db"))
    }

    /// Waits (bounded) until the workers have given every accepted change its outcome.
    pub async fn wait_idle(&self) {
        for _ in 0..600 {
            let left = self
                .state
                .engine
                .with_journal(|j| j.unfinished())
                .await
                .unwrap();
            if left == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let conn = rusqlite::Connection::open(self.dir.path().join("journal.db")).unwrap();
        let mut stmt = conn
            .prepare("SELECT seq, source, external_id, state, error, attempts FROM changes WHERE state != 'done'")
            .unwrap();
        let left: Vec<String> = stmt
            .query_map([], |r| {
                Ok(format!(
                    "seq {} {} {} {} {:?} attempts {}",
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, i64>(5)?
                ))
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let direct = self.state.engine.run_once().await;
        panic!("the journal did not drain within 30 s: {left:#?}; run_once: {direct:?}");
    }

    /// Stops the server (graceful) and the emulator.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
        self.emulator.shutdown().await;
    }
}

/// Rows in the `changes` table of the journal at `path`.
pub fn journal_count(path: &Path) -> i64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row("SELECT COUNT(*) FROM changes", [], |r| r.get(0))
        .unwrap()
}

/// The emulator's contacts of `list_id` as (externalId column → data).
pub fn contacts_by_external_id(
    emulator: &RunningEmulator,
    list_id: &str,
) -> std::collections::BTreeMap<String, dialsync_emulator::Contact> {
    let state = emulator.state();
    let list = state
        .contact_lists
        .into_iter()
        .find(|l| l.list.id == list_id)
        .expect("list exists");
    list.contacts
        .into_iter()
        .map(|c| {
            let ext = c
                .data
                .get("externalId")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned();
            (ext, c)
        })
        .collect()
}

/// The bundled plugin fixtures' records for `plugin`.
pub fn fixture_records(plugin: &str) -> Vec<serde_json::Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../plugins")
        .join(plugin)
        .join("fixtures/records.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The fixtures' expected outcome kinds (`change`, `reject`, `skip`) for `plugin`.
pub fn fixture_expected(plugin: &str) -> Vec<serde_json::Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../plugins")
        .join(plugin)
        .join("fixtures/expected.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}
