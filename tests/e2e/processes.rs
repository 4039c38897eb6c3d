//! Several real `dialsync` processes on one journal, the emulator with faults on:
//! `serve` (webhooks of source `hooks`), `import` (source `files`) and
//! `deadletters replay --all --run` (source `letters`, whose changes an outage
//! dead-lettered) run at the same time. The `import` is SIGKILLed mid-round: its claims
//! are taken over by `serve` once the lease (2 s here) expires, and the re-run import
//! finishes. Afterwards there is no dead letter and every list equals the state computed
//! independently from the input.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use dialsync::config::DeleteMode;
use dialsync::sync::{
    Change, Engine, EngineOptions, GenesysSink, Operation, Phone, RetryRules, SourceBinding,
    SourceRules,
};
use dialsync_emulator::{
    EmulatorConfig, FixtureContactList, FixtureDncList, Fixtures, PhoneColumn, RunningEmulator,
};
use dialsync_genesys::{Endpoint, GenesysClient, OrgSettings, RetryPolicy, Secret};
use serde_json::{Value, json};

use super::support::{
    SECRET_ENV, dialsync, emulator, expected, finish, list_state, record, records,
};

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

/// Dead-letters `letters_changes(n)` in the journal at `path` through a real outage (an
/// emulator that answers every API call 503), with one attempt per change.
async fn dead_letter_through_an_outage(path: &Path, n: usize) {
    let broken = emulator(EmulatorConfig {
        error_rate: 1.0,
        fixtures: Some(fixtures()),
        ..Default::default()
    })
    .await;
    let mut settings = OrgSettings::new(
        "acme",
        Endpoint::BaseUrl(broken.base_url().parse().unwrap()),
        "dialsync",
        Secret::new("emulator-secret"),
    );
    settings.retry = RetryPolicy {
        max_attempts: 1,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(1),
        max_elapsed: Duration::from_secs(2),
    };
    let engine = Engine::open(
        path,
        vec![SourceBinding {
            name: "letters".into(),
            list_id: "list-letters".into(),
            sink: Arc::new(GenesysSink::new(GenesysClient::new(settings).unwrap())),
            rules: SourceRules {
                dnc_list_id: Some("sn-dnc".into()),
                delete_mode: DeleteMode::Soft,
            },
        }],
        EngineOptions {
            // One attempt; the do-not-call lane (never dead-lettered) waits a few
            // seconds before its next try, so this engine goes idle.
            retry: RetryRules {
                max_attempts: 1,
                base_delay: Duration::from_secs(4),
                max_delay: Duration::from_secs(4),
                per_call: 10,
                concurrent_batches: 2,
            },
            ..EngineOptions::default()
        },
    )
    .unwrap();
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

fn spawn(dir: &Path, args: &[&str], config: &Path) -> Child {
    dialsync(dir)
        .env(HOOKS_TOKEN_ENV, HOOKS_TOKEN)
        .args(args)
        .arg("--config")
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_import_and_replay_on_one_journal_survive_a_sigkill() {
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

    let mut serve = spawn(dir.path(), &["serve"], &config);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while http.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "serve did not start"
        );
        assert!(serve.try_wait().unwrap().is_none(), "serve exited");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // All three at once: import, replay, and webhooks into serve.
    let import = spawn(
        dir.path(),
        &["import", "--source", "files", input.to_str().unwrap()],
        &config,
    );
    let replay = spawn(
        dir.path(),
        &["deadletters", "replay", "--all", "--run"],
        &config,
    );
    let senders: Vec<_> = records(1, HOOKS)
        .chunks(HOOKS / 4)
        .map(|chunk| {
            let (http, url, chunk) = (
                http.clone(),
                format!("{base}/v1/sources/hooks/events"),
                chunk.to_vec(),
            );
            tokio::spawn(async move {
                for r in chunk {
                    let resp = http
                        .post(&url)
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
            })
        })
        .collect();

    // SIGKILL the import mid-round: once some of its contacts have landed.
    let mut import = import;
    let deadline = Instant::now() + Duration::from_secs(60);
    while list_state(&emu, "list-files").len() < 20 {
        assert!(
            Instant::now() < deadline,
            "the import never started sending"
        );
        assert!(
            import.try_wait().unwrap().is_none(),
            "the import ended before the kill"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    import.kill().unwrap(); // SIGKILL
    import.wait().unwrap();
    for s in senders {
        s.await.unwrap();
    }
    let (code, stderr) = finish(replay, "deadletters replay").await;
    assert_eq!(code, Some(0), "replay: {stderr}");

    // Its claims are taken over by `serve` once the lease expires: the journal drains
    // with no import running.
    let drained = Instant::now();
    while unfinished(&journal) > 0 {
        assert!(
            drained.elapsed() < Duration::from_secs(60),
            "serve never took over the killed import's claims"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The user runs the import again; it finishes what the kill cut short.
    let rerun = spawn(
        dir.path(),
        &["import", "--source", "files", input.to_str().unwrap()],
        &config,
    );
    let (code, stderr) = finish(rerun, "import").await;
    assert!(
        matches!(code, Some(0) | Some(2)),
        "import: {code:?} {stderr}"
    );
    let drained = Instant::now();
    while unfinished(&journal) > 0 {
        assert!(
            drained.elapsed() < Duration::from_secs(60),
            "journal drains"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let out = dialsync(dir.path())
        .args(["deadletters", "list", "--json", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let letters: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(letters, json!([]), "no dead letters");
    assert_eq!(list_state(&emu, "list-hooks"), expected(1, HOOKS));
    assert_eq!(list_state(&emu, "list-files"), expected(2, FILES));
    assert_eq!(list_state(&emu, "list-letters"), expected(3, LETTERS));
    assert!(emu.stats().count("POST", CONTACTS_ROUTE, 200) > 0);

    serve.kill().unwrap();
    serve.wait().unwrap();
    emu.shutdown().await;
}
