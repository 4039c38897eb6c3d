//! Admin API over real HTTP: auth, plugin upload refused with its reason, listing,
//! record status, dead letters, and a hot swap while webhooks stream in — every
//! acknowledged record journalled, each mapped wholly by the old or the new plugin.

mod server_support;

use std::time::Duration;

use serde_json::{Value, json};
use server_support::*;

fn gb_record(i: u32) -> Value {
    // A UK national-format number with no country: only a GB default region maps it.
    json!({
        "sys_id": format!("{:032x}", 0x6b_0000_u32 + i),
        "sys_updated_on": "2026-11-20 14:01:07",
        "sys_class_name": "customer_contact",
        "first_name": "Swap",
        "last_name": format!("Test{i}"),
        "phone": "020 7946 0958",
        "active": "true"
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_api_and_hot_swap_under_load() {
    let h = Harness::start().await;
    let admin = |path: &str| h.url(&format!("/v1/admin{path}"));

    let resp = h.http.get(admin("/plugins")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let resp = h
        .http
        .get(admin("/plugins"))
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let v: Value = h
        .http
        .get(admin("/plugins"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["sources"]["servicenow"]["plugin"], "servicenow");

    // A broken upload is refused with the reason; nothing is installed.
    let resp = h
        .http
        .post(admin("/plugins"))
        .bearer_auth(ADMIN_TOKEN)
        .body(b"\0asm not really".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"], "plugin-refused", "{v}");
    // A swap to something that does not load keeps the old plugin.
    let resp = h
        .http
        .put(admin("/sources/servicenow/plugin"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"config": {"default_region": "not-a-region"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let v: Value = resp.json().await.unwrap();
    assert!(
        v["message"].as_str().unwrap().contains("keeps servicenow@"),
        "{v}"
    );

    // Stream webhooks while the config is swapped from the default (US) to GB.
    let sender = {
        let http = h.http.clone();
        let url = h.url("/v1/sources/servicenow/events");
        tokio::spawn(async move {
            let mut results = Vec::new();
            for i in 0..40u32 {
                let resp = http
                    .post(&url)
                    .bearer_auth(SN_TOKEN)
                    .json(&gb_record(i))
                    .send()
                    .await
                    .unwrap();
                let status = resp.status().as_u16();
                let body: Value = resp.json().await.unwrap();
                results.push((i, status, body));
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            results
        })
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    let resp = h
        .http
        .put(admin("/sources/servicenow/plugin"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"config": {"default_region": "GB"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let results = sender.await.unwrap();

    let mut accepted = Vec::new();
    let mut seen_accept = false;
    for (i, status, body) in &results {
        match status {
            // Old plugin (US): the UK number is rejected, naming the field.
            400 => {
                assert!(
                    !seen_accept,
                    "record {i} mapped by the old plugin after the new one: {body}"
                );
                assert_eq!(body["records"][0]["errors"][0]["field"], "/phone", "{body}");
            }
            // New plugin (GB): accepted and journalled.
            202 => {
                seen_accept = true;
                accepted.push(
                    body["records"][0]["externalIds"][0]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                );
            }
            other => panic!("record {i}: unexpected status {other}: {body}"),
        }
    }
    assert!(!accepted.is_empty(), "records after the swap are accepted");
    assert_eq!(
        h.journal_count(),
        accepted.len() as i64,
        "nothing lost, nothing extra"
    );
    h.wait_idle().await;
    let contacts = contacts_by_external_id(&h.emulator, "list-sn");
    for ext in &accepted {
        assert_eq!(
            contacts[ext]
                .data
                .get("businessPhone")
                .and_then(Value::as_str),
            Some("+442079460958"),
            "{ext}"
        );
    }

    // Record status and dead letters through the admin API.
    let v: Value = h
        .http
        .get(admin(&format!("/records/{}", accepted[0])))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["lists"][0]["last_outcome"], "applied", "{v}");
    let resp = h
        .http
        .get(admin("/records/sn_unknown"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);
    let v: Value = h
        .http
        .get(admin("/deadletters"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["deadLetters"], json!([]));
    let v: Value = h
        .http
        .post(admin("/deadletters/replay"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"ids": [12345]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["unknown"], json!([12345]));
    let v: Value = h
        .http
        .get(admin("/runs"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["runs"], json!([]));
    let v: Value = h
        .http
        .get(h.url("/v1/actions"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["actions"].as_array().unwrap().len(), 3);

    // Health, readiness, metrics and the OpenAPI document.
    let resp = h.http.get(h.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let resp = h.http.get(h.url("/readyz")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["orgs"]["acme"]["ok"], true, "{v}");
    let text = h
        .http
        .get(h.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("dialsync_http_requests_total"), "{text}");
    assert!(text.contains("dialsync_webhook_records_total"), "{text}");
    assert!(text.contains("dialsync_journal_depth"), "{text}");
    assert!(text.contains("dialsync_genesys_responses_total"), "{text}");
    assert!(!text.contains(SN_TOKEN) && !text.contains(ADMIN_TOKEN));
    let doc: Value = h
        .http
        .get(h.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    for (method, path) in dialsync::server::openapi::ROUTES {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} is documented"
        );
    }
    h.stop().await;
}
