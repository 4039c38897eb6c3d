//! What the end-to-end tests share: the emulator with the standard contact lists, the
//! engine over a temp journal, change builders, and readers of the emulator's state; and
//! for the process-level tests, the `dialsync` binary and its config, ServiceNow records
//! with the list state they must end in, and a bounded wait for a child process.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use dialsync::config::DeleteMode;
use dialsync::sync::{
    Change, ContactSink, Engine, EngineOptions, GenesysSink, Operation, Phone, SourceBinding,
    SourceRules,
};
use dialsync_emulator::{
    EmulatorConfig, FixtureCampaign, FixtureContact, FixtureContactList, FixtureDncList, Fixtures,
    PhoneColumn, RunningEmulator, StateDump,
};
use dialsync_genesys::{Endpoint, GenesysClient, OrgSettings, RetryPolicy, Secret};
use dialsync_pg_harness::PgServer;
use serde_json::{Value, json};

/// The contact list the engine tests write.
pub const LIST: &str = "list-1";
/// A second list (another source's).
pub const LIST2: &str = "list-2";
/// The DNC list do-not-call numbers go on.
pub const DNC: &str = "dnc-1";

/// A list with the columns `externalId`, `name` and the phone column `phone`.
pub fn list_fixture(id: &str, contacts: Vec<FixtureContact>) -> FixtureContactList {
    FixtureContactList {
        id: Some(id.into()),
        name: format!("CRM contacts {id}"),
        column_names: vec!["externalId".into(), "name".into(), "phone".into()],
        phone_columns: vec![
            serde_json::from_value::<PhoneColumn>(
                serde_json::json!({"columnName": "phone", "type": "cell"}),
            )
            .unwrap(),
        ],
        contacts,
    }
}

/// [`LIST`] (holding `contacts`) and [`LIST2`], the DNC list, and a campaign on [`LIST`]
/// that is running or not.
pub fn fixtures(campaign_on: bool, contacts: Vec<FixtureContact>) -> Fixtures {
    Fixtures {
        contact_lists: vec![list_fixture(LIST, contacts), list_fixture(LIST2, vec![])],
        dnc_lists: vec![FixtureDncList {
            id: Some(DNC.into()),
            name: "Internal DNC".into(),
            phone_numbers: vec![],
        }],
        campaigns: vec![FixtureCampaign {
            id: Some("camp-1".into()),
            name: "Renewals".into(),
            contact_list_id: LIST.into(),
            campaign_status: Some(if campaign_on { "on" } else { "off" }.into()),
            dnc_list_ids: vec![],
            outbound_line_count: Some(5),
            dialing_mode: None,
        }],
        ..Default::default()
    }
}

/// The emulator on a free loopback port.
pub async fn emulator(config: EmulatorConfig) -> RunningEmulator {
    dialsync_emulator::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

/// A source binding with the [`DNC`] list.
pub fn binding(
    name: &str,
    list: &str,
    sink: Arc<dyn ContactSink>,
    mode: DeleteMode,
) -> SourceBinding {
    SourceBinding {
        name: name.into(),
        list_id: list.into(),
        sink,
        rules: SourceRules {
            dnc_list_id: Some(DNC.into()),
            delete_mode: mode,
        },
    }
}

/// An engine over `dir/journal.db` with one source, `crm`, writing [`LIST`].
pub fn engine(
    dir: &tempfile::TempDir,
    client: &GenesysClient,
    mode: DeleteMode,
    opts: EngineOptions,
) -> Engine {
    let sink = Arc::new(GenesysSink::new(client.clone()));
    Engine::open(
        &dir.path().join("journal.db"),
        vec![binding("crm", LIST, sink, mode)],
        opts,
    )
    .unwrap()
}

/// A source time `secs` after a fixed instant.
pub fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
}

/// A full upsert of `id` as of `secs`, with a `name` column and one phone.
pub fn upsert(id: &str, secs: i64, name: &str, phone: &str) -> Change {
    Change {
        external_id: id.into(),
        source_id: format!("sys-{id}"),
        source_updated_at: at(secs),
        operation: Operation::Upsert,
        partial: false,
        columns: BTreeMap::from([("name".to_string(), name.to_string())]),
        phones: vec![Phone {
            column: "phone".into(),
            number: phone.into(),
        }],
        callable: None,
    }
}

/// A change without content (do-not-call, remove).
pub fn op(id: &str, secs: i64, operation: Operation) -> Change {
    Change {
        external_id: id.into(),
        source_id: format!("sys-{id}"),
        source_updated_at: at(secs),
        operation,
        partial: false,
        columns: BTreeMap::new(),
        phones: vec![],
        callable: None,
    }
}

/// (data, callable) per contact id in a list of the emulator; panics on a duplicate.
pub fn contacts(
    state: &StateDump,
    list: &str,
) -> HashMap<String, (BTreeMap<String, String>, bool)> {
    let list = state
        .contact_lists
        .iter()
        .find(|l| l.list.id == list)
        .expect("list exists");
    let mut out = HashMap::new();
    for c in &list.contacts {
        let data = c
            .data
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect();
        assert!(
            out.insert(c.id.clone(), (data, c.callable)).is_none(),
            "duplicate contact {}",
            c.id
        );
    }
    out
}

/// The Genesys client secret the process tests give the emulator.
pub const SECRET_ENV: &str = "DIALSYNC_E2E_ACME_SECRET";

/// The `dialsync` command (built from this package's `dialsync-e2e` binary, the same CLI
/// as `dialsync`), run in `dir` with the emulator secret in its environment.
pub fn dialsync(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dialsync-e2e"));
    cmd.env(SECRET_ENV, "emulator-secret")
        .env("DIALSYNC_HOME", dir.join("home"))
        .env("RUST_LOG", "warn")
        .current_dir(dir);
    cmd
}

/// A ServiceNow record; `version` moves the update time and the title; every 7th is
/// inactive (do-not-call).
pub fn record(prefix: u32, i: usize, version: u32) -> Value {
    json!({
        "sys_id": format!("{prefix:08x}{i:024x}"),
        "sys_updated_on": format!("2024-03-{:02} 10:00:00", 1 + version),
        "sys_class_name": "customer_contact",
        "first_name": format!("First{i}"),
        "last_name": format!("Last{i}"),
        "email": format!("p{i}@example.com"),
        "title": format!("title v{version}"),
        "active": if i.is_multiple_of(7) { "false" } else { "true" },
        "phone": format!("+1650253{:04}", i),
        "country": "US",
    })
}

/// What a list must hold after `records(prefix, n)` were delivered in any order:
/// externalId → (title, callable).
pub fn expected(prefix: u32, n: usize) -> HashMap<String, (String, bool)> {
    (0..n)
        .map(|i| {
            (
                format!("sn_{prefix:08x}{i:024x}"),
                ("title v2".to_string(), i % 7 != 0),
            )
        })
        .collect()
}

/// Each record's new version, then its old one (stale or superseded).
pub fn records(prefix: u32, n: usize) -> Vec<Value> {
    (0..n)
        .flat_map(|i| [record(prefix, i, 2), record(prefix, i, 1)])
        .collect()
}

/// externalId → (title, callable) of a list in the emulator; panics on a duplicate.
pub fn list_state(emu: &RunningEmulator, list: &str) -> HashMap<String, (String, bool)> {
    let dump = emu.state();
    let list = dump
        .contact_lists
        .iter()
        .find(|l| l.list.id == list)
        .unwrap();
    let mut out = HashMap::new();
    for c in &list.contacts {
        let ext = c.data["externalId"].as_str().unwrap().to_string();
        let title = c.data.get("title").and_then(Value::as_str).unwrap_or("");
        assert!(
            out.insert(ext.clone(), (title.to_string(), c.callable))
                .is_none(),
            "duplicate contact for {ext}"
        );
    }
    out
}

/// Waits (bounded) for a child to exit; returns its exit code and stderr.
pub async fn finish(child: Child, what: &str) -> (Option<i32>, String) {
    let what = what.to_string();
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let mut child = child;
        loop {
            if child.try_wait().unwrap().is_some() {
                let out = child.wait_with_output().unwrap();
                return (
                    out.status.code(),
                    String::from_utf8_lossy(&out.stderr).into_owned(),
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(90),
                "{what} did not finish in 90 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await
    .unwrap()
}

/// A Genesys client for org `acme` of the emulator, at `rpm` requests a minute, retrying
/// with `retry`.
pub fn client_with(emu: &RunningEmulator, rpm: u32, retry: RetryPolicy) -> GenesysClient {
    let mut settings = OrgSettings::new(
        "acme",
        Endpoint::BaseUrl(emu.base_url().parse().unwrap()),
        "dialsync",
        Secret::new("emulator-secret"),
    );
    settings.requests_per_minute = rpm;
    settings.retry = retry;
    settings.request_timeout = Duration::from_secs(5);
    GenesysClient::new(settings).unwrap()
}

/// [`client_with`] the engine tests' retries: 4 attempts, 5–50 ms apart, 20 s at most.
pub fn client(emu: &RunningEmulator, rpm: u32) -> GenesysClient {
    client_with(
        emu,
        rpm,
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(50),
            max_elapsed: Duration::from_secs(20),
        },
    )
}

/// A contact list with the ServiceNow plugin's columns (what [`record`]s map to).
pub fn servicenow_list(id: &str) -> dialsync_emulator::FixtureContactList {
    let phone = |c: &str| {
        serde_json::from_value::<PhoneColumn>(json!({"columnName": c, "type": "cell"})).unwrap()
    };
    let columns = [
        "externalId",
        "firstName",
        "lastName",
        "email",
        "title",
        "timeZone",
        "preferredLanguage",
        "userName",
        "company",
        "sourceTable",
        "businessPhone",
        "mobilePhone",
        "homePhone",
    ];
    FixtureContactList {
        id: Some(id.into()),
        name: format!("contacts {id}"),
        column_names: columns.map(String::from).to_vec(),
        phone_columns: vec![
            phone("businessPhone"),
            phone("mobilePhone"),
            phone("homePhone"),
        ],
        contacts: vec![],
    }
}

/// The journal store an engine test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The embedded SQLite journal (a file in the test's temp dir).
    Sqlite,
    /// A fresh database on the PostgreSQL server the running tests share.
    Postgres,
}

/// The PostgreSQL server shared by the tests running now: started by the first that needs
/// it, stopped (and its data deleted) when the last of them ends, so no server outlives
/// the test binary.
static PG_SERVER: std::sync::Mutex<std::sync::Weak<PgServer>> =
    std::sync::Mutex::new(std::sync::Weak::new());
static PG_DATABASES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A new, empty database on the shared server; hold the server while using it.
pub fn pg_database() -> (Arc<PgServer>, String) {
    let server = {
        let mut shared = PG_SERVER.lock().unwrap_or_else(|p| p.into_inner());
        match shared.upgrade() {
            Some(server) => server,
            None => {
                let server = Arc::new(PgServer::start().expect("PostgreSQL test server"));
                *shared = Arc::downgrade(&server);
                server
            }
        }
    };
    let n = PG_DATABASES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let url = server.create_database(&format!("e2e_{n}")).unwrap();
    (server, url)
}

/// An engine on `backend` (keeps the PostgreSQL server alive while it lives); derefs to
/// the [`Engine`].
pub struct BackendEngine {
    engine: Engine,
    _server: Option<Arc<PgServer>>,
}

impl std::ops::Deref for BackendEngine {
    type Target = Engine;
    fn deref(&self) -> &Engine {
        &self.engine
    }
}

/// [`engine`] on either backend: one source, `crm`, writing [`LIST`].
pub async fn engine_on(
    backend: Backend,
    dir: &tempfile::TempDir,
    client: &GenesysClient,
    mode: DeleteMode,
    opts: EngineOptions,
) -> BackendEngine {
    match backend {
        Backend::Sqlite => BackendEngine {
            engine: engine(dir, client, mode, opts),
            _server: None,
        },
        Backend::Postgres => {
            let (server, url) = pg_database();
            let settings = dialsync_pg::PgSettings::new(url);
            let pool = dialsync_pg::connect(&settings).unwrap();
            dialsync_pg::migrate(&pool).await.unwrap();
            let journal = dialsync_pg::PgJournal::new(pool, opts.journal.lease)
                .with_listener(settings.config().unwrap());
            let sink = Arc::new(GenesysSink::new(client.clone()));
            BackendEngine {
                engine: Engine::with_store(
                    Arc::new(journal),
                    vec![binding("crm", LIST, sink, mode)],
                    opts,
                ),
                _server: Some(server),
            }
        }
    }
}

/// Declares, for each named `async fn NAME(backend: Backend)`, a module `NAME` with the
/// tests `sqlite` and `postgres`: the same test body on both journal stores.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use super::super::support::Backend;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(Backend::Postgres).await
            }
        }
    )*};
}
pub(crate) use on_both_backends;
