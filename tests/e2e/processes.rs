//! Several real `dialsync` processes on one journal, the emulator with faults on:
//! `serve` (webhooks of source `hooks`), `import` (source `files`) and
//! `deadletters replay --all --run` (source `letters`, whose changes an outage
//! dead-lettered) run at the same time, and one of them is SIGKILLed mid-round — one test
//! per process. The victim is frozen (SIGSTOP) and killed only once the journal shows it
//! holding claims (its lease owner id names its pid), so it dies with work in hand. Its
//! claims are taken over by the others once the lease (2 s here) expires — never before:
//! every change it held ends `done` no earlier than its lease's expiry. A killed `serve`
//! is restarted and its webhook senders retry what was not acknowledged; a killed import
//! is run again. Afterwards there is no dead letter, every acknowledged webhook has its
//! row in the journal, and every list equals the state computed independently from the
//! input.
//!
//! Also here, through the same commands: a do-not-call Genesys keeps refusing is an alert
//! in `status`, in `import`'s exit code and report, and in serve's `/metrics`; and a phone
//! cleared in the CRM is cleared in Genesys (webhooks through the real plugin).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use dialsync::config::DeleteMode;
use dialsync::sync::{
    Change, Engine, EngineOptions, GenesysSink, Operation, Phone, RetryRules, SourceBinding,
    SourceRules, contact_id, owner_pid,
};
use dialsync_emulator::{
    EmulatorConfig, FixtureCampaign, FixtureContact, FixtureContactList, FixtureDncList, Fixtures,
    PhoneColumn, RunningEmulator,
};
use dialsync_genesys::{Endpoint, GenesysClient, OrgSettings, RetryPolicy, Secret};
use serde_json::{Value, json};

use super::support::{SECRET_ENV, dialsync, emulator, expected, list_state, record, records};

const HOOKS_TOKEN_ENV: &str = "DIALSYNC_E2E_HOOKS_TOKEN";
const HOOKS_TOKEN: &str = "hooks-token-1";
/// (source, contact list).
const SOURCES: [(&str, &str); 3] = [
    ("hooks", "list-hooks"),
    ("files", "list-files"),
    ("letters", "list-letters"),
];
const CONTACTS_ROUTE: &str = "/api/v2/outbound/contactlists/{contactListId}/contacts";

/// The ServiceNow plugin's contact list shape, for each source's list.
fn fixtures() -> Fixtures {
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
    Fixtures {
        contact_lists: SOURCES
            .iter()
            .map(|(_, list)| FixtureContactList {
                id: Some((*list).into()),
                name: format!("contacts {list}"),
                column_names: columns.map(String::from).to_vec(),
                phone_columns: vec![
                    phone("businessPhone"),
                    phone("mobilePhone"),
                    phone("homePhone"),
                ],
                contacts: vec![],
            })
            .collect(),
        dnc_lists: vec![FixtureDncList {
            id: Some("sn-dnc".into()),
            name: "DNC".into(),
            phone_numbers: vec![],
        }],
        ..Default::default()
    }
}

fn write_config(dir: &Path, emu: &RunningEmulator, port: u16) -> PathBuf {
    let mut text = format!(
        r#"
[store]
path = "journal.db"
lease_secs = 2

[server]
addr = "127.0.0.1:{port}"

[orgs.acme]
base_url = "{}"
client_id = "dialsync"
client_secret_env = "{SECRET_ENV}"
requests_per_minute = 60000
max_contacts_per_call = 10
"#,
        emu.base_url()
    );
    for (source, list) in SOURCES {
        text.push_str(&format!(
            r#"
[sources.{source}]
plugin = "servicenow"
org = "acme"
contact_list_id = "{list}"
dnc_list_id = "sn-dnc"
[sources.{source}.config]
default_region = "US"
"#
        ));
    }
    text.push_str(&format!(
        "[sources.hooks.auth]\nscheme = \"bearer\"\nsecret_env = \"{HOOKS_TOKEN_ENV}\"\n"
    ));
    let path = dir.join("dialsync.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Changes the `letters` source's plugin would map `records(3, n)` to (newest versions).
fn letters_changes(n: usize) -> Vec<Change> {
    (0..n)
        .map(|i| {
            let r = record(3, i, 2);
            Change {
                external_id: format!("sn_{:08x}{i:024x}", 3),
                source_id: r["sys_id"].as_str().unwrap().into(),
                source_updated_at: Utc.with_ymd_and_hms(2024, 3, 3, 10, 0, 0).unwrap(),
                operation: if i % 7 != 0 {
                    Operation::Upsert
                } else {
                    Operation::DoNotCall
                },
                partial: false,
                columns: BTreeMap::from([
                    ("firstName".to_string(), format!("First{i}")),
                    ("lastName".to_string(), format!("Last{i}")),
                    ("title".to_string(), "title v2".to_string()),
                ]),
                phones: vec![Phone {
                    column: "businessPhone".into(),
                    number: format!("+1650253{:04}", i),
                }],
                callable: Some(i % 7 != 0),
            }
        })
        .collect()
}

/// An engine in this process on the journal at `path`, feeding `list` for `source`
/// through the emulator at `emu`: the client tries each call `call_attempts` times, the
/// engine follows `retry`.
fn engine_on(
    path: &Path,
    emu: &RunningEmulator,
    (source, list): (&str, &str),
    call_attempts: u32,
    retry: RetryRules,
) -> Engine {
    let mut settings = OrgSettings::new(
        "acme",
        Endpoint::BaseUrl(emu.base_url().parse().unwrap()),
        "dialsync",
        Secret::new("emulator-secret"),
    );
    settings.requests_per_minute = 60_000;
    settings.retry = RetryPolicy {
        max_attempts: call_attempts,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(1),
        max_elapsed: Duration::from_secs(2),
    };
    Engine::open(
        path,
        vec![SourceBinding {
            name: source.into(),
            list_id: list.into(),
            sink: Arc::new(GenesysSink::new(GenesysClient::new(settings).unwrap())),
            rules: SourceRules {
                dnc_list_id: Some("sn-dnc".into()),
                delete_mode: DeleteMode::Soft,
            },
        }],
        EngineOptions {
            retry,
            ..EngineOptions::default()
        },
    )
    .unwrap()
}

/// Dead-letters `letters_changes(n)` in the journal at `path` through a real outage (an
/// emulator that answers every API call 503), with one attempt per change.
async fn dead_letter_through_an_outage(path: &Path, n: usize) {
    let broken = emulator(EmulatorConfig {
        error_rate: 1.0,
        fixtures: Some(fixtures()),
        ..Default::default()
    })
    .await;
    // One attempt; the do-not-call lane (never dead-lettered) waits a few seconds before
    // its next try, so this engine goes idle.
    let engine = engine_on(
        path,
        &broken,
        ("letters", "list-letters"),
        1,
        RetryRules {
            max_attempts: 1,
            base_delay: Duration::from_secs(4),
            max_delay: Duration::from_secs(4),
            per_call: 10,
            concurrent_batches: 2,
        },
    );
    engine.accept("letters", letters_changes(n)).await.unwrap();
    // Ordinary changes dead-letter; do-not-call changes stay queued on their own lane
    // (they are never dead-lettered) and are finished by whichever process runs next.
    tokio::time::timeout(Duration::from_secs(30), engine.run_until_idle())
        .await
        .expect("bounded")
        .unwrap();
    let letters = engine.dead_letters().await.unwrap();
    assert_eq!(
        letters.len(),
        n - n.div_ceil(7),
        "the outage dead-lettered them"
    );
    broken.shutdown().await;
}

/// The process a test SIGKILLs mid-round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Victim {
    Serve,
    Import,
    Replay,
}

/// A running `dialsync` process; its stderr goes to a file (a pipe nobody reads could
/// fill up and block it).
struct Proc {
    child: Child,
    log: PathBuf,
}

/// Starts `dialsync ARGS --config CONFIG` in `dir`, logging to `dir/NAME.log`.
fn spawn(dir: &Path, name: &str, args: &[&str], config: &Path) -> Proc {
    let log = dir.join(format!("{name}.log"));
    let child = dialsync(dir)
        .env(HOOKS_TOKEN_ENV, HOOKS_TOKEN)
        .args(args)
        .arg("--config")
        .arg(config)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    Proc { child, log }
}

/// Starts `dialsync serve` and waits (bounded) until it answers `/healthz`.
async fn start_serve(
    dir: &Path,
    name: &str,
    config: &Path,
    http: &reqwest::Client,
    base: &str,
) -> Proc {
    let mut serve = spawn(dir, name, &["serve"], config);
    let started = Instant::now();
    while http.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "serve did not start"
        );
        assert!(serve.child.try_wait().unwrap().is_none(), "serve exited");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    serve
}

/// Waits (bounded) for a process to exit; returns its exit code and stderr.
async fn finish(proc: Proc, what: &str) -> (Option<i32>, String) {
    let what = what.to_string();
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let Proc { mut child, log } = proc;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return (status.code(), std::fs::read_to_string(&log).unwrap());
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

/// Unfinished changes in the journal (read through its own connection).
fn unfinished(path: &Path) -> i64 {
    rusqlite::Connection::open(path)
        .unwrap()
        .query_row(
            "SELECT COUNT(*) FROM changes WHERE state != 'done'",
            [],
            |r| r.get(0),
        )
        .unwrap()
}

/// Waits (bounded) until every change in the journal is finished.
async fn drained(path: &Path, what: &str) {
    let started = Instant::now();
    while unfinished(path) > 0 {
        assert!(started.elapsed() < Duration::from_secs(60), "{what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits (bounded) until `done()` holds.
async fn until(done: impl Fn() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A change claimed in the journal: its seq and lease expiry (ms since the epoch).
#[derive(Debug, Clone, Copy)]
struct Held {
    seq: i64,
    expires_at: i64,
}

/// The changes the process `pid` holds claimed right now.
fn claims_of(path: &Path, pid: u32) -> Vec<Held> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT seq, claim_expires_at, claim_owner FROM changes
             WHERE state = 'claimed' AND claim_owner IS NOT NULL",
        )
        .unwrap();
    stmt.query_map([], |r| {
        Ok((
            Held {
                seq: r.get(0)?,
                expires_at: r.get(1)?,
            },
            r.get::<_, String>(2)?,
        ))
    })
    .unwrap()
    .map(Result::unwrap)
    .filter(|(_, owner)| owner_pid(owner) == Some(pid))
    .map(|(held, _)| held)
    .collect()
}

fn signal(child: &Child, signal: libc::c_int) {
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: kill(2) on our own child's pid, which has not been reaped yet.
    assert_eq!(
        unsafe { libc::kill(pid, signal) },
        0,
        "kill({pid}, {signal})"
    );
}

/// SIGKILLs `child` mid-round: polls the journal until it holds claims, freezes it
/// (SIGSTOP) and looks again — a frozen process cannot finish its round — then kills it,
/// or lets it go on (SIGCONT) if it finished in between. Returns what it held when it died.
async fn kill_holding_claims(proc: &mut Proc, journal: &Path, what: &str) -> Vec<Held> {
    let child = &mut proc.child;
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "{what} never held claims");
        assert!(
            child.try_wait().unwrap().is_none(),
            "{what} ended before it could be killed mid-round"
        );
        if !claims_of(journal, pid).is_empty() {
            signal(child, libc::SIGSTOP);
            if !claims_of(journal, pid).is_empty() {
                child.kill().unwrap(); // SIGKILL (delivered to a stopped process too)
                child.wait().unwrap();
                let held = claims_of(journal, pid);
                assert!(!held.is_empty(), "{what} died holding claims");
                return held;
            }
            signal(child, libc::SIGCONT);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Every change the dead process held was taken over and finished, and only after its
/// lease expired.
fn assert_taken_over_after_the_lease(path: &Path, held: &[Held]) {
    let conn = rusqlite::Connection::open(path).unwrap();
    for h in held {
        let (state, finished_at): (String, Option<i64>) = conn
            .query_row(
                "SELECT state, finished_at FROM changes WHERE seq = ?1",
                [h.seq],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(
            state, "done",
            "change {} was taken over and finished",
            h.seq
        );
        let finished_at = finished_at.unwrap();
        assert!(
            finished_at >= h.expires_at,
            "change {} finished at {finished_at}, before the dead owner's lease expired at {}",
            h.seq,
            h.expires_at
        );
    }
}

/// Sends `records` to serve's webhook endpoint one by one, as a webhook sender does:
/// a delivery that was not acknowledged (no answer — serve may be dead — or a 5xx) is
/// sent again; each acknowledged one (202) is pushed to `acked`.
async fn send_until_acknowledged(
    http: reqwest::Client,
    url: String,
    records: Vec<Value>,
    acked: Arc<Mutex<Vec<Value>>>,
) {
    let deadline = Instant::now() + Duration::from_secs(90);
    for r in records {
        loop {
            assert!(Instant::now() < deadline, "webhook {r} never acknowledged");
            let sent = http
                .post(&url)
                .header("authorization", format!("Bearer {HOOKS_TOKEN}"))
                .json(&r)
                .send()
                .await;
            match sent {
                Ok(resp) if resp.status().as_u16() == 202 => break,
                Ok(resp) if resp.status().is_server_error() => {}
                Ok(resp) => panic!(
                    "webhook answered {}: {}",
                    resp.status(),
                    resp.text().await.unwrap()
                ),
                Err(_) => {} // serve is down: try again
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        acked.lock().unwrap().push(r);
    }
}

/// Each acknowledged webhook has its change in the journal (source time per externalId).
fn assert_acknowledged_are_journaled(path: &Path, acked: &[Value]) {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare("SELECT payload FROM changes WHERE source = 'hooks'")
        .unwrap();
    let journaled: std::collections::HashSet<(String, String)> = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(|p| {
            let c: Change = serde_json::from_str(&p.unwrap()).unwrap();
            (
                c.source_id,
                c.source_updated_at.format("%Y-%m-%d %H:%M:%S").to_string(),
            )
        })
        .collect();
    for r in acked {
        let key = (
            r["sys_id"].as_str().unwrap().to_string(),
            r["sys_updated_on"].as_str().unwrap().to_string(),
        );
        assert!(
            journaled.contains(&key),
            "acknowledged webhook {key:?} has no row"
        );
    }
}

/// `serve`, `import` and `deadletters replay --run` on one journal, three sources, faults
/// on; `victim` is SIGKILLed while it holds claims. See the module docs.
async fn three_processes_survive_a_sigkill(victim: Victim) {
    const HOOKS: usize = 120;
    const FILES: usize = 300;
    const LETTERS: usize = 40;
    let emu = emulator(EmulatorConfig {
        rate_limit_per_minute: 60_000,
        latency: Duration::from_millis(10)..=Duration::from_millis(30),
        error_rate: 0.05,
        burst_429_rate: 0.05,
        seed: 23,
        fixtures: Some(fixtures()),
        ..Default::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.db");
    dead_letter_through_an_outage(&journal, LETTERS).await;

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = write_config(dir.path(), &emu, port);
    let input = dir.path().join("files.jsonl");
    std::fs::write(
        &input,
        records(2, FILES)
            .iter()
            .map(|r| format!("{r}\n"))
            .collect::<String>(),
    )
    .unwrap();
    let import_args = ["import", "--source", "files", input.to_str().unwrap()];

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let mut serve = start_serve(dir.path(), "serve", &config, &http, &base).await;

    // All three at once: import, replay, and webhooks into serve.
    let mut import = spawn(dir.path(), "import", &import_args, &config);
    let mut replay = spawn(
        dir.path(),
        "replay",
        &["deadletters", "replay", "--all", "--run"],
        &config,
    );
    let acked = Arc::new(Mutex::new(Vec::new()));
    let senders: Vec<_> = records(1, HOOKS)
        .chunks(HOOKS / 4)
        .map(|chunk| {
            tokio::spawn(send_until_acknowledged(
                http.clone(),
                format!("{base}/v1/sources/hooks/events"),
                chunk.to_vec(),
                acked.clone(),
            ))
        })
        .collect();

    // SIGKILL the victim mid-round, with claims in hand: serve once it has acknowledged a
    // quarter of the webhooks, the import once some of its contacts have landed.
    let held = match victim {
        Victim::Serve => {
            let acked = acked.clone();
            until(
                move || acked.lock().unwrap().len() >= HOOKS / 2,
                "webhooks acked",
            )
            .await;
            let held = kill_holding_claims(&mut serve, &journal, "serve").await;
            // The user (or the supervisor) restarts it; the senders retry meanwhile.
            serve = start_serve(dir.path(), "serve-again", &config, &http, &base).await;
            held
        }
        Victim::Import => {
            until(
                || list_state(&emu, "list-files").len() >= 20,
                "import sending",
            )
            .await;
            kill_holding_claims(&mut import, &journal, "import").await
        }
        Victim::Replay => kill_holding_claims(&mut replay, &journal, "replay").await,
    };
    for s in senders {
        s.await.unwrap();
    }
    if victim != Victim::Replay {
        let (code, stderr) = finish(replay, "deadletters replay").await;
        assert_eq!(code, Some(0), "replay: {stderr}");
    }
    if victim != Victim::Import {
        let (code, stderr) = finish(import, "import").await;
        assert!(
            matches!(code, Some(0) | Some(2)),
            "import: {code:?} {stderr}"
        );
    }

    // The dead process's claims are taken over by the others once its lease expires: the
    // journal drains.
    drained(
        &journal,
        "the killed process's claims were never taken over",
    )
    .await;
    assert_taken_over_after_the_lease(&journal, &held);

    if victim == Victim::Import {
        // The user runs the import again; it finishes what the kill cut short.
        let rerun = spawn(dir.path(), "import-again", &import_args, &config);
        let (code, stderr) = finish(rerun, "import").await;
        assert!(
            matches!(code, Some(0) | Some(2)),
            "import: {code:?} {stderr}"
        );
        drained(&journal, "the journal drains after the re-run import").await;
    }

    let out = dialsync(dir.path())
        .args(["deadletters", "list", "--json", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let letters: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(letters, json!([]), "no dead letters");
    let acked = acked.lock().unwrap().clone();
    assert_eq!(acked.len(), 2 * HOOKS, "every webhook was acknowledged");
    assert_acknowledged_are_journaled(&journal, &acked);
    assert_eq!(list_state(&emu, "list-hooks"), expected(1, HOOKS));
    assert_eq!(list_state(&emu, "list-files"), expected(2, FILES));
    assert_eq!(list_state(&emu, "list-letters"), expected(3, LETTERS));
    assert!(emu.stats().count("POST", CONTACTS_ROUTE, 200) > 0);

    serve.child.kill().unwrap();
    serve.child.wait().unwrap();
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_import_and_replay_on_one_journal_survive_a_sigkill_of_serve() {
    three_processes_survive_a_sigkill(Victim::Serve).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_import_and_replay_on_one_journal_survive_a_sigkill_of_the_import() {
    three_processes_survive_a_sigkill(Victim::Import).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_import_and_replay_on_one_journal_survive_a_sigkill_of_the_replay() {
    three_processes_survive_a_sigkill(Victim::Replay).await;
}

/// A do-not-call Genesys keeps refusing (the dialer holds the contact: 409 on every
/// write) is an alert on every public surface while it retries: `dialsync status` prints
/// ALERT, `dialsync import` exits 2 and names it in its report, and serve's `/metrics`
/// has `dialsync_compliance_alerts 1`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_do_not_call_is_an_alert_in_status_the_import_exit_code_and_metrics() {
    let sys_id = format!("{:08x}{:024x}", 9, 0);
    let ext = format!("sn_{sys_id}");
    let number = "+16502539999";
    let mut fx = fixtures();
    let files = fx
        .contact_lists
        .iter_mut()
        .find(|l| l.id.as_deref() == Some("list-files"))
        .unwrap();
    files.contacts.push(FixtureContact {
        id: Some(contact_id("list-files", &ext)),
        data: BTreeMap::from([
            ("externalId".to_string(), ext.clone()),
            ("businessPhone".to_string(), number.to_string()),
        ]),
        callable: Some(true),
    });
    fx.campaigns.push(FixtureCampaign {
        id: Some("camp-files".into()),
        name: "Files".into(),
        contact_list_id: "list-files".into(),
        campaign_status: Some("on".into()),
        dnc_list_ids: vec![],
        outbound_line_count: Some(5),
        dialing_mode: None,
    });
    let emu = emulator(EmulatorConfig {
        rate_limit_per_minute: 60_000,
        dialer_lock_rate: 1.0,
        fixtures: Some(fx),
        ..Default::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.db");

    // The CRM marks the record do-not-call; every write of the contact answers 409. After
    // the engine's retry budget (8 attempts, the default) it is an alert, still queued.
    let engine = engine_on(
        &journal,
        &emu,
        ("files", "list-files"),
        1,
        RetryRules {
            max_attempts: EngineOptions::default().retry.max_attempts,
            base_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(40),
            per_call: 10,
            concurrent_batches: 1,
        },
    );
    let dnc = Change {
        external_id: ext.clone(),
        source_id: sys_id,
        source_updated_at: Utc.with_ymd_and_hms(2024, 3, 3, 10, 0, 0).unwrap(),
        operation: Operation::DoNotCall,
        partial: false,
        columns: BTreeMap::new(),
        phones: vec![Phone {
            column: "businessPhone".into(),
            number: number.into(),
        }],
        callable: Some(false),
    };
    let seq = engine.accept("files", vec![dnc]).await.unwrap()[0].seq;
    tokio::time::timeout(Duration::from_secs(30), engine.run_until_idle())
        .await
        .expect("bounded")
        .unwrap();
    let alerts = engine.compliance_alerts().await.unwrap();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(emu.stats().count("POST", CONTACTS_ROUTE, 409) >= 8);
    drop(engine);

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = write_config(dir.path(), &emu, port);

    let out = dialsync(dir.path())
        .args(["status", &ext, "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "ALERT        do-not-call change {seq} not yet applied"
        )),
        "{stdout}"
    );

    // An import of another record goes through, and exits 2 for the open alert.
    let input = dir.path().join("one.jsonl");
    std::fs::write(&input, format!("{}\n", record(2, 1, 2))).unwrap();
    let report = dir.path().join("report.json");
    let import = spawn(
        dir.path(),
        "import",
        &[
            "import",
            "--source",
            "files",
            input.to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
        ],
        &config,
    );
    let (code, stderr) = finish(import, "import").await;
    assert_eq!(code, Some(2), "import: {stderr}");
    let report: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(report["outcomes"]["applied"], 1, "{report}");
    let alerts = report["compliance_alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 1, "{report}");
    assert_eq!(alerts[0]["seq"], seq);
    assert_eq!(alerts[0]["external_id"], ext.as_str());

    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let mut serve = start_serve(dir.path(), "serve", &config, &http, &base).await;
    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.lines().any(|l| l == "dialsync_compliance_alerts 1"),
        "{metrics}"
    );
    serve.child.kill().unwrap();
    serve.child.wait().unwrap();
    // The number itself reached the DNC list on the first try; only the contact's
    // callable flag is refused.
    let dump = emu.state();
    let dnc_list = dump
        .dnc_lists
        .iter()
        .find(|d| d.list.id == "sn-dnc")
        .unwrap();
    assert!(dnc_list.phone_numbers.iter().any(|n| *n == number));
    emu.shutdown().await;
}

/// Issue 10, case 4, end to end: a ServiceNow record synced with a phone, then every phone
/// cleared in the CRM, sent as webhooks through `serve` and the real plugin: the contact's
/// phone columns are written empty and it is no longer callable. Faults on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_cleared_in_the_crm_is_cleared_in_genesys() {
    let emu = emulator(EmulatorConfig {
        rate_limit_per_minute: 60_000,
        error_rate: 0.1,
        seed: 4,
        fixtures: Some(fixtures()),
        ..Default::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = write_config(dir.path(), &emu, port);
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let mut serve = start_serve(dir.path(), "serve", &config, &http, &base).await;
    let ext = format!("sn_{:08x}{:024x}", 4, 1);
    let contact = contact_id("list-hooks", &ext);
    let phone_of = |emu: &RunningEmulator| {
        let dump = emu.state();
        let list = dump
            .contact_lists
            .iter()
            .find(|l| l.list.id == "list-hooks")
            .unwrap();
        list.contacts.iter().find(|c| c.id == contact).map(|c| {
            let phone = c.data.get("businessPhone").and_then(Value::as_str);
            (phone.unwrap_or("").to_string(), c.callable)
        })
    };
    let send = |r: Value| {
        let (http, url) = (http.clone(), format!("{base}/v1/sources/hooks/events"));
        async move {
            let resp = http
                .post(url)
                .header("authorization", format!("Bearer {HOOKS_TOKEN}"))
                .json(&r)
                .send()
                .await
                .unwrap();
            assert_eq!(
                resp.status().as_u16(),
                202,
                "{}",
                resp.text().await.unwrap()
            );
        }
    };

    send(record(4, 1, 1)).await;
    until(
        || phone_of(&emu).is_some_and(|(p, _)| !p.is_empty()),
        "synced",
    )
    .await;
    assert_eq!(phone_of(&emu), Some(("+16502530001".to_string(), true)));

    // The CRM clears the phone: a newer version of the record with none.
    let mut cleared = record(4, 1, 2);
    cleared["phone"] = json!("");
    send(cleared).await;
    until(
        || phone_of(&emu).is_some_and(|(p, _)| p.is_empty()),
        "cleared",
    )
    .await;
    assert_eq!(phone_of(&emu), Some((String::new(), false)));

    serve.child.kill().unwrap();
    serve.child.wait().unwrap();
    emu.shutdown().await;
}
