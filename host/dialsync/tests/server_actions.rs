//! Genesys data-action endpoints over real HTTP: auth, contracts (input checked, field
//! named), `sync-record` applied to the emulator, `lookup-contact` by externalId and by
//! phone, `set-do-not-call`, and `dialsync actions export` output.

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
}

/// `dialsync actions export` output imported into the emulator and executed through it:
/// input contract, request rendering, the call to dialsync on loopback, translation and
/// success contract — end to end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exported_actions_execute_through_the_emulator() {
    let h = Harness::start().await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("actions");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_dialsync"))
        .args(["actions", "export", "--base-url", &h.url(""), "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
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
            "{genesys}/_emulator/integrations/int-dialsync/credentials"
        ))
        .json(&json!({"token": ACTIONS_TOKEN}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());

    let mut ids = std::collections::BTreeMap::new();
    for name in ["sync-record", "lookup-contact", "set-do-not-call"] {
        let text = std::fs::read_to_string(out.join(format!("{name}.json")))
            .unwrap()
            .replace(
                dialsync::server::export::INTEGRATION_ID_PLACEHOLDER,
                "int-dialsync",
            );
        let action: Value = serde_json::from_str(&text).unwrap();
        let resp = h
            .http
            .post(format!("{genesys}/api/v2/integrations/actions"))
            .bearer_auth(&bearer)
            .json(&action)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{name}");
        let created: Value = resp.json().await.unwrap();
        ids.insert(name, created["id"].as_str().unwrap().to_owned());
    }
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
    h.stop().await;
}
