//! `dialsync import` end to end: the real binary, the real bundled ServiceNow plugin, a real
//! SQLite journal and the emulator over loopback with faults on. The emulator's final state
//! must equal the state computed independently from the input file — also after the import
//! is SIGKILLed midway and run again.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dialsync_emulator::{
    EmulatorConfig, FixtureContactList, FixtureDncList, Fixtures, PhoneColumn, RunningEmulator,
};
use serde_json::{Value, json};

const LIST: &str = "sn-list";
const CONTACTS_ROUTE: &str = "/api/v2/outbound/contactlists/{contactListId}/contacts";
const SECRET_ENV: &str = "DIALSYNC_TEST_ACME_SECRET";

fn fixtures() -> Fixtures {
    let phone = |c: &str| {
        serde_json::from_value::<PhoneColumn>(json!({"columnName": c, "type": "cell"})).unwrap()
    };
    Fixtures {
        contact_lists: vec![FixtureContactList {
            id: Some(LIST.into()),
            name: "ServiceNow contacts".into(),
            column_names: [
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
            ]
            .map(String::from)
            .to_vec(),
            phone_columns: vec![
                phone("businessPhone"),
                phone("mobilePhone"),
                phone("homePhone"),
            ],
            contacts: vec![],
        }],
        dnc_lists: vec![FixtureDncList {
            id: Some("sn-dnc".into()),
            name: "DNC".into(),
            phone_numbers: vec![],
        }],
        ..Default::default()
    }
}

async fn emulator(config: EmulatorConfig) -> RunningEmulator {
    dialsync_emulator::start(
        EmulatorConfig {
            fixtures: Some(fixtures()),
            ..config
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap()
}

fn write_config(dir: &Path, emu: &RunningEmulator, per_call: usize) -> PathBuf {
    let path = dir.join("dialsync.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[store]
path = "journal.db"
# A killed import's claims are taken over after this (short, so the test is quick).
lease_secs = 2

[orgs.acme]
base_url = "{}"
client_id = "dialsync"
client_secret_env = "{SECRET_ENV}"
requests_per_minute = 60000
max_contacts_per_call = {per_call}

[sources.servicenow]
plugin = "servicenow"
org = "acme"
contact_list_id = "{LIST}"
dnc_list_id = "sn-dnc"
[sources.servicenow.config]
default_region = "US"
"#,
            emu.base_url()
        ),
    )
    .unwrap();
    path
}

/// A ServiceNow Table API record; `version` moves the update time and the title.
fn record(i: usize, version: u32, active: bool, phone: Option<String>) -> Value {
    json!({
        "sys_id": format!("{i:032x}"),
        "sys_updated_on": format!("2024-03-{:02} 10:00:00", 1 + version),
        "sys_class_name": "customer_contact",
        "first_name": format!("First{i}"),
        "last_name": format!("Last{i}"),
        "email": format!("p{i}@example.com"),
        "title": format!("title v{version}"),
        "active": if active { "true" } else { "false" },
        "phone": phone.unwrap_or_default(),
        "country": "US",
    })
}

fn phone(i: usize) -> String {
    format!("+1650253{:04}", i % 10_000)
}

/// Writes `n` people as JSON Lines — for each, an old version after the new one (stale or
/// superseded), every 7th inactive (do-not-call), every 50th without a phone (skipped), and
/// one with an impossible phone (rejected). Returns the expected contacts by externalId:
/// (title, callable).
fn write_records(path: &Path, n: usize) -> HashMap<String, (String, bool)> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut expected = HashMap::new();
    for i in 0..n {
        let no_phone = i % 50 == 49;
        let bad_phone = i == 3;
        let active = i % 7 != 0;
        let number = if no_phone {
            None
        } else if bad_phone {
            Some("12".to_string())
        } else {
            Some(phone(i))
        };
        for v in [2u32, 1] {
            writeln!(out, "{}", record(i, v, active, number.clone())).unwrap();
        }
        if (!no_phone || !active) && !bad_phone {
            expected.insert(format!("sn_{i:032x}"), ("title v2".to_string(), active));
        }
    }
    out.flush().unwrap();
    expected
}

fn dialsync(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dialsync"));
    cmd.env(SECRET_ENV, "emulator-secret")
        .env("DIALSYNC_HOME", dir.join("home"))
        .env("RUST_LOG", "warn")
        .current_dir(dir);
    cmd
}

/// Contacts in the list by externalId: (title, callable); panics on duplicates.
fn state(emu: &RunningEmulator) -> HashMap<String, (String, bool)> {
    let dump = emu.state();
    let list = dump
        .contact_lists
        .iter()
        .find(|l| l.list.id == LIST)
        .unwrap();
    let mut out = HashMap::new();
    for c in &list.contacts {
        let ext = c.data["externalId"].as_str().unwrap().to_string();
        let title = c
            .data
            .get("title")
            .and_then(Value::as_str)
            .unwrap_or_default();
        assert!(
            out.insert(ext.clone(), (title.to_string(), c.callable))
                .is_none(),
            "duplicate contact for {ext}"
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_with_faults_matches_the_input() {
    let emu = emulator(EmulatorConfig {
        rate_limit_per_minute: 60_000,
        token_ttl: Duration::from_secs(1),
        latency: Duration::ZERO..=Duration::from_millis(5),
        error_rate: 0.1,
        burst_429_rate: 0.05,
        seed: 11,
        ..Default::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &emu, 100);
    let input = dir.path().join("people.jsonl");
    let expected = write_records(&input, 700);
    let report = dir.path().join("report.json");

    let out = tokio::task::spawn_blocking({
        let (dir, config, input, report) = (
            dir.path().to_path_buf(),
            config.clone(),
            input.clone(),
            report.clone(),
        );
        move || {
            dialsync(&dir)
                .args(["import", "--source", "servicenow", "--config"])
                .arg(&config)
                .arg("--report")
                .arg(&report)
                .arg(&input)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "rejections exit 2\n{stdout}\n{stderr}"
    );
    assert!(!stderr.contains("emulator-secret") && !stdout.contains("emulator-secret"));

    assert_eq!(state(&emu), expected);
    let report: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(report["records_read"], 1400);
    let outcomes = &report["outcomes"];
    // Of 700 people, 14 have no phone; 2 of those (49, 399) are inactive and still go
    // through as do-not-call. The other 12 are journaled and, never synced with no number,
    // skipped by the engine (`no_phone`) once each: their other version is superseded or
    // stale. One is rejected twice (bad phone).
    assert_eq!(outcomes["skipped"], 12);
    assert_eq!(outcomes["rejected"], 2);
    assert_eq!(report["rejected"][0]["reason"][0]["field"], "/phone");
    let journaled = outcomes["applied"].as_u64().unwrap()
        + outcomes["superseded"].as_u64().unwrap()
        + outcomes["stale"].as_u64().unwrap()
        + outcomes["unchanged"].as_u64().unwrap()
        + outcomes["skipped"].as_u64().unwrap();
    assert_eq!(journaled, report["changes_accepted"].as_u64().unwrap());
    assert_eq!(outcomes["applied"], expected.len() as u64);
    assert_eq!(outcomes["dead-lettered"], 0);
    // Batches, not calls per contact: 685 contacts at 100 per call.
    let posts = emu.stats().count("POST", CONTACTS_ROUTE, 200);
    assert!((7..=40).contains(&posts), "{posts} add calls");

    // status names the outcome of one record.
    let ext = format!("sn_{:032x}", 10);
    let status = dialsync(dir.path())
        .args(["status", &ext, "--json", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(status.status.success());
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status[0]["last_outcome"], "applied");
    assert_eq!(status[0]["row"]["data"]["title"], "title v2");
    let letters = dialsync(dir.path())
        .args(["deadletters", "list", "--json", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(letters.status.success());
    assert_eq!(
        serde_json::from_slice::<Value>(&letters.stdout).unwrap(),
        json!([])
    );
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_writes_nothing() {
    let emu = emulator(EmulatorConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &emu, 100);
    let input = dir.path().join("people.jsonl");
    write_records(&input, 60);
    let out = tokio::task::spawn_blocking({
        let (dir, config, input) = (dir.path().to_path_buf(), config.clone(), input.clone());
        move || {
            dialsync(&dir)
                .args(["import", "--dry-run", "--source", "servicenow", "--config"])
                .arg(&config)
                .arg(&input)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("would apply"), "{stdout}");
    assert!(state(&emu).is_empty());
    assert_eq!(emu.stats().count("POST", CONTACTS_ROUTE, 200), 0);
    assert!(!dir.path().join("journal.db").exists());
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_import_then_restart_loses_nothing() {
    let emu = emulator(EmulatorConfig {
        rate_limit_per_minute: 60_000,
        latency: Duration::from_millis(20)..=Duration::from_millis(40),
        seed: 5,
        ..Default::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &emu, 50);
    let input = dir.path().join("people.jsonl");
    let expected = write_records(&input, 6_000);

    let mut child = dialsync(dir.path())
        .args(["import", "--source", "servicenow", "--config"])
        .arg(&config)
        .arg(&input)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once some batches have landed but well before the end.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let posts = emu.stats().count("POST", CONTACTS_ROUTE, 200);
        if posts >= 10 {
            break;
        }
        assert!(Instant::now() < deadline, "import never started sending");
        assert!(
            child.try_wait().unwrap().is_none(),
            "import ended before the kill"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let partial = state(&emu).len();
    assert!(
        partial < expected.len(),
        "killed midway ({partial} contacts)"
    );

    let out = tokio::task::spawn_blocking({
        let (dir, config, input) = (dir.path().to_path_buf(), config.clone(), input.clone());
        move || {
            dialsync(&dir)
                .args(["import", "--source", "servicenow", "--config"])
                .arg(&config)
                .arg(&input)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        state(&emu),
        expected,
        "same final state as an uninterrupted import"
    );
    emu.shutdown().await;
}
