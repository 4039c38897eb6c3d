//! Durability of acknowledgements: the real `dialsync serve` binary takes webhooks, is
//! SIGKILLed right after its 202s, and restarted on the same journal; every record it
//! acknowledged reaches the emulator's contact list, once.

mod server_support;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use dialsync_emulator::{FixtureContactList, Fixtures, PhoneColumn};
use dialsync_plugin_host::{Limits, Runtime};
use serde_json::{Value, json};
use server_support::*;

fn spawn_serve(config: &Path, home: &Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dialsync"))
        .arg("serve")
        .arg("--config")
        .arg(config)
        .arg("--addr")
        .arg("127.0.0.1:0")
        .arg("--home")
        .arg(home)
        .arg("--log-format")
        .arg("json")
        .env(GENESYS_SECRET_ENV, GENESYS_SECRET)
        .env(SN_TOKEN_ENV, SN_TOKEN)
        .env(SN_PASSWORD_ENV, SN_PASSWORD)
        .env(SF_WHSEC_ENV, SF_WHSEC)
        .env(GH_SECRET_ENV, GH_SECRET)
        .env(STRIPE_SECRET_ENV, STRIPE_SECRET)
        .env(ACTIONS_TOKEN_ENV, ACTIONS_TOKEN)
        .env(ADMIN_TOKEN_ENV, ADMIN_TOKEN)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("dialsync serve starts");
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("reads the listening line");
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    (child, url)
}

fn sn_record(i: u32) -> Value {
    json!({
        "sys_id": format!("{:032x}", 0xc4a5_0000_u32 + i),
        "sys_updated_on": "2026-11-20 14:01:07",
        "sys_class_name": "customer_contact",
        "first_name": "Crash",
        "last_name": format!("Test{i}"),
        "phone": format!("(281) 332-{:04}", 4000 + i),
        "active": "true",
        "country": "US"
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_webhooks_survive_sigkill() {
    let emulator = start_emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &emulator.base_url(), "");
    // A short lease: the restarted server takes over the killed one's claims after it.
    let text = std::fs::read_to_string(&config).unwrap().replacen(
        "path = \"journal.db\"",
        "path = \"journal.db\"\nlease_secs = 2",
        1,
    );
    std::fs::write(&config, text).unwrap();
    let home = dir.path().join("home");

    // The list, with the columns the ServiceNow plugin declares.
    let runtime = Runtime::new(Limits::default()).unwrap();
    let plugin = runtime
        .load(
            dialsync_bundled_plugins::by_name("servicenow").unwrap(),
            json!({}),
        )
        .await
        .unwrap();
    let info = plugin.info();
    emulator
        .load_fixtures(&Fixtures {
            contact_lists: vec![FixtureContactList {
                id: Some("list-sn".into()),
                name: "sn".into(),
                column_names: info.columns.clone(),
                phone_columns: info
                    .phone_columns
                    .iter()
                    .map(|c| PhoneColumn {
                        column_name: c.clone(),
                        kind: None,
                        callable_time_column: None,
                    })
                    .collect(),
                contacts: vec![],
            }],
            ..Fixtures::default()
        })
        .unwrap();

    let (mut child, url) = spawn_serve(&config, &home);
    let http = reqwest::Client::new();
    let mut acknowledged = BTreeSet::new();
    for batch in 0..10u32 {
        let records: Vec<Value> = (0..5).map(|i| sn_record(batch * 5 + i)).collect();
        let resp = http
            .post(format!("{url}/v1/sources/servicenow/events"))
            .header("authorization", format!("Bearer {SN_TOKEN}"))
            .json(&records)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 202);
        let body: Value = resp.json().await.unwrap();
        for r in body["records"].as_array().unwrap() {
            for id in r["externalIds"].as_array().unwrap() {
                acknowledged.insert(id.as_str().unwrap().to_owned());
            }
        }
    }
    // SIGKILL right after the last 202: no chance to drain.
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(acknowledged.len(), 50);

    let (mut child, _url) = spawn_serve(&config, &home);
    let mut got = BTreeSet::new();
    for _ in 0..600 {
        got = contacts_by_external_id(&emulator, "list-sn")
            .into_keys()
            .collect();
        if got.is_superset(&acknowledged) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        got, acknowledged,
        "every acknowledged record applied, nothing else"
    );
    // Applied once in effect: one contact per externalId.
    let state = emulator.state();
    let list = state
        .contact_lists
        .iter()
        .find(|l| l.list.id == "list-sn")
        .unwrap();
    assert_eq!(list.contacts.len(), 50);
    emulator.shutdown().await;
}
