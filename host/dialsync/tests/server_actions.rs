//! Genesys data-action endpoints over real HTTP: auth, contracts (input checked, field
//! named), `sync-record` applied to the emulator, `lookup-contact` by externalId and by
//! phone, `set-do-not-call`, `dialsync actions export` output, and `dialsync actions
//! install` (integration found or created, drafts then publish, idempotent, dry run).

mod server_support;

use serde_json::{Value, json};
use server_support::*;

async fn call(h: &Harness, action: &str, token: Option<&str>, input: Value) -> (u16, Value) {
    let mut req = h
        .http
        .post(h.url(&format!("/v1/actions/{action}")))
        .json(&input);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

fn sn_record() -> Value {
    json!({
        "sys_id": "0123456789abcdef0123456789abcdef",
        "sys_updated_on": "2026-11-20 14:01:07",
        "sys_class_name": "customer_contact",
        "first_name": "Dee",
        "last_name": "Action",
        "phone": "(281) 332-2575",
        "active": "true",
        "country": "US"
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_actions_sync_lookup_and_do_not_call() {
    let h = Harness::start().await;
    let t = Some(ACTIONS_TOKEN);
    let input = json!({"source": "servicenow", "recordJson": sn_record().to_string()});

    let (s, v) = call(&h, "sync-record", None, input.clone()).await;
    assert_eq!(s, 401, "{v}");
    let (s, v) = call(&h, "sync-record", Some("wrong"), input.clone()).await;
    assert_eq!(s, 401, "{v}");
    let (s, v) = call(&h, "no-such-action", t, json!({})).await;
    assert_eq!(s, 404, "{v}");
    let (s, v) = call(&h, "sync-record", t, json!({"source": "servicenow"})).await;
    assert_eq!(s, 400, "{v}");
    assert!(v["message"].as_str().unwrap().contains("recordJson"), "{v}");
    let (s, v) = call(
        &h,
        "sync-record",
        t,
        json!({"source": "servicenow", "recordJson": 5}),
    )
    .await;
    assert_eq!(s, 400, "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("/recordJson"),
        "{v}"
    );

    // A record the plugin rejects: the field and reason come back.
    let mut bad = sn_record();
    bad["phone"] = json!("555-0143");
    let (s, v) = call(
        &h,
        "sync-record",
        t,
        json!({"source": "servicenow", "recordJson": bad.to_string()}),
    )
    .await;
    assert_eq!(s, 400, "{v}");
    assert!(v["message"].as_str().unwrap().contains("/phone"), "{v}");
    assert_eq!(h.journal_count(), 0);

    // Applied now.
    let (s, v) = call(&h, "sync-record", t, input.clone()).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["outcome"], "applied", "{v}");
    let ext = v["externalId"].as_str().unwrap().to_owned();
    let contact_id = v["contactId"].as_str().unwrap().to_owned();
    let contacts = contacts_by_external_id(&h.emulator, "list-sn");
    assert_eq!(contacts[&ext].id, contact_id);
    // Same record again: nothing to send.
    let (s, v) = call(&h, "sync-record", t, input).await;
    assert_eq!(s, 200);
    assert_eq!(v["outcome"], "unchanged", "{v}");

    let (s, v) = call(
        &h,
        "lookup-contact",
        t,
        json!({"source": "servicenow", "externalId": ext}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["found"], true);
    assert_eq!(v["contactId"], contact_id.as_str());
    assert_eq!(v["callable"], true);
    assert_eq!(v["lastOutcome"], "unchanged");
    let (s, v) = call(
        &h,
        "lookup-contact",
        t,
        json!({"source": "servicenow", "phone": "281-332-2575"}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["found"], true, "{v}");
    assert_eq!(v["externalId"], ext.as_str());
    let (s, v) = call(
        &h,
        "lookup-contact",
        t,
        json!({"source": "servicenow", "externalId": "sn_nobody"}),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v["found"], false);

    let (s, v) = call(
        &h,
        "set-do-not-call",
        t,
        json!({"source": "servicenow", "phone": "+1 281 332 2575"}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["outcome"], "applied", "{v}");
    let contacts = contacts_by_external_id(&h.emulator, "list-sn");
    assert!(!contacts[&ext].callable, "the contact is now uncallable");
    let (s, v) = call(
        &h,
        "set-do-not-call",
        t,
        json!({"source": "servicenow", "externalId": "sn_nobody"}),
    )
    .await;
    assert_eq!(s, 404, "{v}");
    h.stop().await;
}

#[test]
fn actions_export_writes_importable_definitions() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("actions");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_dialsync"))
        .args([
            "actions",
            "export",
            "--base-url",
            "https://dialsync.example.com",
            "--integration-id",
            "int-42",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "lookup-contact.json",
            "set-do-not-call.json",
            "sync-record.json"
        ]
    );
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("sync-record.json")).unwrap())
            .unwrap();
    assert_eq!(
        v["config"]["request"]["requestUrlTemplate"],
        "https://dialsync.example.com/v1/actions/sync-record"
    );
    assert_eq!(
        v["contract"]["input"]["inputSchema"]["required"],
        json!(["source", "recordJson"])
    );
    assert_eq!(v["integrationId"], "int-42", "imports as it is");
    // Without an integration id there is nothing importable to write.
    let missing = std::process::Command::new(env!("CARGO_BIN_EXE_dialsync"))
        .args(["actions", "export", "--out"])
        .arg(dir.path().join("none"))
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("--integration-id"));
}

fn install(h: &Harness, extra: &[&str]) -> Value {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dialsync"))
        .args(["actions", "install", "--org", "acme", "--json", "--config"])
        .arg(&h.config_path)
        .arg("--home")
        .arg(h.dir.path().join("home"))
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("install --json prints its report")
}

/// Requests that write to the emulator's integrations (POST/PATCH/DELETE).
fn integration_writes(h: &Harness) -> u64 {
    h.emulator
        .stats()
        .routes
        .iter()
        .filter(|r| r.route.starts_with("/api/v2/integrations") && r.method != "GET")
        .map(|r| r.count)
        .sum()
}

/// `dialsync actions install` against the emulator: the integration is created and
/// enabled, every action created as a draft and published; the installed actions execute
/// through the emulator (input contract, request rendering, the call to dialsync on
/// loopback, translation, success contract); a second install writes nothing; a dry run
/// with another base URL reports updates and writes nothing; the real install then updates
/// through drafts to version 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn installed_actions_execute_through_the_emulator_and_reinstall_is_idempotent() {
    let h = Harness::start().await;
    let base = h.url("");
    let first = install(&h, &["--base-url", &base]);
    assert_eq!(first["integration"]["outcome"], "created", "{first:#}");
    let integration = first["integration"]["id"].as_str().unwrap().to_owned();
    let actions = first["actions"].as_array().unwrap();
    assert!(actions.len() >= 3, "{first:#}");
    assert!(
        actions
            .iter()
            .all(|a| a["outcome"] == "created" && a["version"] == 1),
        "{first:#}"
    );
    let ids: std::collections::BTreeMap<String, String> = actions
        .iter()
        .map(|a| {
            (
                a["name"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches("dialsync ")
                    .to_owned(),
                a["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let stats = h.emulator.stats();
    assert_eq!(stats.count("POST", "/api/v2/integrations", 200), 1);
    assert_eq!(
        stats.count("PATCH", "/api/v2/integrations/{integrationId}", 200),
        1
    );
    assert_eq!(
        stats.count("POST", "/api/v2/integrations/actions/drafts", 200),
        actions.len() as u64
    );
    assert_eq!(
        stats.count(
            "POST",
            "/api/v2/integrations/actions/{actionId}/draft/publish",
            200
        ),
        actions.len() as u64
    );

    let genesys = h.emulator.base_url();
    let token: Value = h
        .http
        .post(format!("{genesys}/oauth/token"))
        .basic_auth("dialsync", Some(GENESYS_SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let bearer = token["access_token"].as_str().unwrap().to_owned();
    let resp = h
        .http
        .put(format!(
            "{genesys}/_emulator/integrations/{integration}/credentials"
        ))
        .json(&json!({"token": ACTIONS_TOKEN}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    let run = |name: &str, kind: &str, input: Value| {
        let url = format!("{genesys}/api/v2/integrations/actions/{}/{kind}", ids[name]);
        let req = h.http.post(url).bearer_auth(&bearer).json(&input);
        async move {
            let resp = req.send().await.unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        }
    };

    // The emulator checks the input contract before calling dialsync.
    let (s, v) = run("sync-record", "execute", json!({"source": "servicenow"})).await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(h.journal_count(), 0);

    let input = json!({"source": "servicenow", "recordJson": sn_record().to_string()});
    let (s, v) = run("sync-record", "execute", input).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["outcome"], "applied", "{v}");
    let ext = v["externalId"].as_str().unwrap().to_owned();
    assert!(contacts_by_external_id(&h.emulator, "list-sn").contains_key(&ext));

    let (s, v) = run(
        "lookup-contact",
        "execute",
        json!({"source": "servicenow", "externalId": ext}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["found"], true);
    assert_eq!(v["callable"], true);

    let (s, v) = run(
        "set-do-not-call",
        "test",
        json!({"source": "servicenow", "externalId": ext}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["success"], true, "{v}");
    assert_eq!(v["finalResult"]["outcome"], "applied", "{v}");
    assert!(v["operations"].as_array().unwrap().len() >= 5, "{v}");
    assert!(!contacts_by_external_id(&h.emulator, "list-sn")[&ext].callable);

    // A failure in dialsync (unknown contact) is the action's failure.
    let (s, v) = run(
        "set-do-not-call",
        "execute",
        json!({"source": "servicenow", "externalId": "sn_nobody"}),
    )
    .await;
    assert_eq!(s, 400, "{v}");

    // Again: found, unchanged, nothing written.
    let writes = integration_writes(&h);
    let second = install(&h, &["--base-url", &base]);
    assert_eq!(second["integration"]["outcome"], "unchanged");
    assert_eq!(second["integration"]["id"], integration.as_str());
    assert!(
        second["actions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["outcome"] == "unchanged"),
        "{second:#}"
    );
    assert_eq!(integration_writes(&h), writes);

    // A dry run with another base URL: every action would be updated; nothing written.
    let moved = "https://dialsync.example.com";
    let dry = install(&h, &["--base-url", moved, "--dry-run"]);
    assert_eq!(dry["dryRun"], true);
    assert!(
        dry["actions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["outcome"] == "updated" && a["changed"] == json!(["config"])),
        "{dry:#}"
    );
    assert_eq!(integration_writes(&h), writes);
    // For real: drafts from the published actions, patched, published as version 2.
    let updated = install(&h, &["--base-url", moved]);
    assert!(
        updated["actions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["outcome"] == "updated" && a["version"] == 2),
        "{updated:#}"
    );
    let action = h.emulator.base_url();
    let got: Value = h
        .http
        .get(format!(
            "{action}/api/v2/integrations/actions/{}?includeConfig=true",
            ids["sync-record"]
        ))
        .bearer_auth(&bearer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        got["config"]["request"]["requestUrlTemplate"],
        format!("{moved}/v1/actions/sync-record")
    );
    h.stop().await;
}
