//! Webhook ingress over real HTTP on loopback: every signature scheme (valid, invalid,
//! stale), replayed delivery ids, oversized / malformed bodies, unknown sources,
//! Salesforce Outbound Messages, per-record rejections — each answered with the right
//! status, and the journal holding exactly what was acknowledged. Then webhooks from
//! all three CRMs end in the emulator's contact lists.

mod server_support;

use std::collections::BTreeSet;

use base64::Engine as _;
use dialsync::server::signatures::sign;
use serde_json::{Value, json};
use server_support::*;

fn sn_record(i: u32) -> Value {
    json!({
        "sys_id": format!("{:032x}", 0x5e_0000_u32 + i),
        "sys_updated_on": "2026-11-20 14:01:07",
        "sys_class_name": "customer_contact",
        "first_name": "Ann",
        "last_name": format!("Webhook{i}"),
        "email": format!("w{i}@example.com"),
        "phone": format!("(281) 332-{:04}", 2000 + i),
        "mobile_phone": "",
        "home_phone": "",
        "active": "true",
        "country": "US"
    })
}

fn custom_record(i: u32) -> Value {
    json!({
        "id": format!("W{i:04}"),
        "updated_at": "2026-11-20T14:01:07Z",
        "first_name": "Bo",
        "last_name": format!("Hook{i}"),
        "email": format!("h{i}@example.com"),
        "phone": format!("(281) 332-{:04}", 3000 + i),
        "mobile": null,
        "country": "US",
        "do_not_call": false,
        "deleted": false
    })
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

async fn post(
    h: &Harness,
    source: &str,
    headers: &[(&str, String)],
    body: impl Into<reqwest::Body>,
) -> (u16, Value) {
    let mut req = h
        .http
        .post(h.url(&format!("/v1/sources/{source}/events")))
        .header("content-type", "application/json")
        .body(body);
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

fn sw_headers(id: &str, ts: i64, body: &[u8]) -> Vec<(&'static str, String)> {
    vec![
        ("webhook-id", id.to_owned()),
        ("webhook-timestamp", ts.to_string()),
        (
            "webhook-signature",
            sign::standard_webhooks(SF_WHSEC, id, ts, body),
        ),
    ]
}

fn sf_records() -> Vec<Value> {
    let records = fixture_records("salesforce");
    let expected = fixture_expected("salesforce");
    records
        .into_iter()
        .zip(expected)
        .filter(|(_, e)| {
            e["kind"] == "change" && e["operation"] == "upsert" && e["partial"] == false
        })
        .map(|(r, _)| r)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_scheme_accepts_valid_and_refuses_invalid() {
    let h = Harness::start().await;
    let mut accepted = 0;

    // ServiceNow business rule with a bearer token.
    let body = serde_json::to_vec(&sn_record(1)).unwrap();
    let (s, v) = post(
        &h,
        "servicenow",
        &[("authorization", format!("Bearer {SN_TOKEN}"))],
        body.clone(),
    )
    .await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(v["accepted"], 1);
    accepted += 1;
    let (s, v) = post(
        &h,
        "servicenow",
        &[("authorization", "Bearer wrong".into())],
        body.clone(),
    )
    .await;
    assert_eq!(s, 401, "{v}");
    assert_eq!(v["error"], "bad-signature");
    assert!(!v.to_string().contains(SN_TOKEN), "no secret in errors");
    let (s, _) = post(&h, "servicenow", &[], body.clone()).await;
    assert_eq!(s, 401);

    // ServiceNow REST message with Basic auth, in the Table API envelope.
    let body = serde_json::to_vec(&json!({"result": [sn_record(2), sn_record(3)]})).unwrap();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("snow:{SN_PASSWORD}"));
    let (s, v) = post(
        &h,
        "servicenow-basic",
        &[("authorization", format!("Basic {basic}"))],
        body.clone(),
    )
    .await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(v["accepted"], 2);
    accepted += 2;
    let wrong = base64::engine::general_purpose::STANDARD.encode("snow:nope");
    let (s, _) = post(
        &h,
        "servicenow-basic",
        &[("authorization", format!("Basic {wrong}"))],
        body,
    )
    .await;
    assert_eq!(s, 401);

    // Salesforce relayed with Standard Webhooks signatures.
    let body = serde_json::to_vec(&sf_records()[..2]).unwrap();
    let (s, v) = post(
        &h,
        "salesforce",
        &sw_headers("msg_1", now(), &body),
        body.clone(),
    )
    .await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(v["accepted"], 2);
    accepted += 2;
    let mut tampered = body.clone();
    tampered[5] ^= 1;
    let (s, _) = post(
        &h,
        "salesforce",
        &sw_headers("msg_2", now(), &body),
        tampered,
    )
    .await;
    assert_eq!(s, 401);
    let stale = now() - 301;
    let (s, v) = post(
        &h,
        "salesforce",
        &sw_headers("msg_3", stale, &body),
        body.clone(),
    )
    .await;
    assert_eq!(s, 401);
    assert!(v["message"].as_str().unwrap().contains("tolerance"), "{v}");

    // Custom CRM signing like GitHub. GitHub's published vector passes the signature
    // check (its body is not JSON, so it is then refused as malformed, not as unsigned).
    let vector_sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    let (s, v) = post(
        &h,
        "custom",
        &[("x-hub-signature-256", vector_sig.into())],
        "Hello, World!",
    )
    .await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["error"], "malformed-body");
    let (s, _) = post(
        &h,
        "custom",
        &[("x-hub-signature-256", vector_sig.into())],
        "Hello, World?",
    )
    .await;
    assert_eq!(s, 401);
    let body = serde_json::to_vec(&custom_record(1)).unwrap();
    let sig = sign::github(GH_SECRET.as_bytes(), &body);
    let (s, v) = post(&h, "custom", &[("x-hub-signature-256", sig)], body).await;
    assert_eq!(s, 202, "{v}");
    accepted += 1;

    // Stripe-style, with two v1 signatures (rotation), one of them valid.
    let body = serde_json::to_vec(&custom_record(2)).unwrap();
    let t = now();
    let good = sign::stripe(STRIPE_SECRET.as_bytes(), t, &body);
    let good_v1 = good.split_once(",v1=").unwrap().1;
    let header = format!("t={t},v1={},v1={good_v1}", "ab".repeat(32));
    let (s, v) = post(
        &h,
        "custom-stripe",
        &[("stripe-signature", header)],
        body.clone(),
    )
    .await;
    assert_eq!(s, 202, "{v}");
    accepted += 1;
    let old = sign::stripe(STRIPE_SECRET.as_bytes(), t - 1000, &body);
    let (s, _) = post(
        &h,
        "custom-stripe",
        &[("stripe-signature", old)],
        body.clone(),
    )
    .await;
    assert_eq!(s, 401);

    // A source without [auth] refuses webhooks.
    let (s, v) = post(&h, "unsigned", &[], body).await;
    assert_eq!(s, 401);
    assert_eq!(v["error"], "webhooks-disabled");

    assert_eq!(
        h.journal_count(),
        accepted,
        "only acknowledged records are journalled"
    );
    h.wait_idle().await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_delivery_ids_are_answered_as_duplicates() {
    let h = Harness::start().await;
    let body = serde_json::to_vec(&sf_records()[..1]).unwrap();
    let headers = sw_headers("msg_replay", now(), &body);
    let (s, first) = post(&h, "salesforce", &headers, body.clone()).await;
    assert_eq!(s, 202, "{first}");
    let (s, v) = post(&h, "salesforce", &headers, body.clone()).await;
    assert_eq!(
        s, 200,
        "a duplicate gets 2xx so the sender stops retrying: {v}"
    );
    assert_eq!(v["duplicate"], true);
    assert_eq!(v["original"]["accepted"], 1);
    assert_eq!(h.journal_count(), 1);

    // GitHub-style X-GitHub-Delivery.
    let body = serde_json::to_vec(&custom_record(7)).unwrap();
    let headers = vec![
        (
            "x-hub-signature-256",
            sign::github(GH_SECRET.as_bytes(), &body),
        ),
        (
            "x-github-delivery",
            "72d3162e-cc78-11e3-81ab-4c9367dc0958".to_owned(),
        ),
    ];
    let (s, _) = post(&h, "custom", &headers, body.clone()).await;
    assert_eq!(s, 202);
    let (s, v) = post(&h, "custom", &headers, body).await;
    assert_eq!(s, 200);
    assert_eq!(v["duplicate"], true);
    assert_eq!(h.journal_count(), 2);

    // The dedup log survives a restart of the server state (it lives in the journal file).
    let ids = h
        .state
        .engine
        .with_journal(|j| j.delivery_count("salesforce"))
        .await
        .unwrap();
    assert_eq!(ids, 1);
    h.wait_idle().await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bodies_and_unknown_sources_store_nothing() {
    let h = Harness::start().await;
    let auth = [("authorization", format!("Bearer {SN_TOKEN}"))];

    let (s, v) = post(&h, "nope", &auth, "{}").await;
    assert_eq!(s, 404, "{v}");
    assert_eq!(v["error"], "unknown-source");

    let huge = serde_json::to_vec(&vec![sn_record(1); 400]).unwrap();
    assert!(huge.len() > 65536);
    let (s, _) = post(&h, "servicenow", &auth, huge).await;
    assert_eq!(s, 413);

    let (s, v) = post(&h, "servicenow", &auth, "{\"sys_id\": ").await;
    assert_eq!(s, 400);
    assert_eq!(v["error"], "malformed-body");
    let (s, _) = post(&h, "servicenow", &auth, "[]").await;
    assert_eq!(s, 400);
    let (s, _) = post(&h, "servicenow", &auth, "[1, 2]").await;
    assert_eq!(s, 400);

    // Every record invalid: 400, with the field and reason per record.
    let mut bad = sn_record(4);
    bad["phone"] = json!("555-0143");
    let mut no_id = sn_record(5);
    no_id.as_object_mut().unwrap().remove("sys_id");
    let body = serde_json::to_vec(&json!([bad, no_id])).unwrap();
    let (s, v) = post(&h, "servicenow", &auth, body).await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["accepted"], 0);
    assert_eq!(v["records"][0]["status"], "rejected");
    assert_eq!(v["records"][0]["errors"][0]["field"], "/phone");
    assert_eq!(v["records"][1]["errors"][0]["field"], "/sys_id");
    assert_eq!(h.journal_count(), 0, "nothing invalid reaches the journal");

    // Mixed: the valid one is accepted, the invalid one reported.
    let body = serde_json::to_vec(&json!([sn_record(6), bad])).unwrap();
    let (s, v) = post(&h, "servicenow", &auth, body).await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(v["accepted"], 1);
    assert_eq!(v["rejected"], 1);
    assert_eq!(v["records"][0]["status"], "accepted");
    assert!(v["records"][0]["seqs"][0].as_i64().unwrap() > 0);
    assert_eq!(v["records"][1]["status"], "rejected");
    assert_eq!(h.journal_count(), 1);
    h.wait_idle().await;
    h.stop().await;
}

fn outbound_message(notifications: &[(&str, &Value)]) -> String {
    let mut xml = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<soapenv:Body><notifications xmlns="http://soap.sforce.com/2005/09/outbound">
<OrganizationId>00D000000000001</OrganizationId><ActionId>04k000000000001</ActionId>
<SessionId xsi:nil="true"/><EnterpriseUrl>https://x.my.salesforce.com/services/Soap/c/60.0</EnterpriseUrl>
<PartnerUrl>https://x.my.salesforce.com/services/Soap/u/60.0</PartnerUrl>"#,
    );
    for (id, record) in notifications {
        xml.push_str(&format!(
            r#"<Notification><Id>{id}</Id><sObject xsi:type="sf:Contact" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">"#
        ));
        for (k, v) in record.as_object().unwrap() {
            match v {
                Value::String(s) => xml.push_str(&format!("<sf:{k}>{s}</sf:{k}>")),
                Value::Bool(b) => xml.push_str(&format!("<sf:{k}>{b}</sf:{k}>")),
                Value::Null => xml.push_str(&format!(r#"<sf:{k} xsi:nil="true"/>"#)),
                _ => {}
            }
        }
        xml.push_str("</sObject></Notification>");
    }
    xml.push_str("</notifications></soapenv:Body></soapenv:Envelope>");
    xml
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn salesforce_outbound_messages_are_acked_once_durable_and_deduplicated() {
    let h = Harness::start().await;
    let records = sf_records();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("sfdc:{SN_PASSWORD}"));
    let send = |xml: String| {
        let h = &h;
        let basic = basic.clone();
        async move {
            let resp = h
                .http
                .post(h.url("/v1/sources/salesforce-om/events"))
                .header("content-type", "text/xml; charset=utf-8")
                .header("authorization", format!("Basic {basic}"))
                .body(xml)
                .send()
                .await
                .unwrap();
            (resp.status().as_u16(), resp.text().await.unwrap())
        }
    };
    let first = outbound_message(&[
        ("04l0000000000A1AAA", &records[0]),
        ("04l0000000000A2AAA", &records[1]),
    ]);
    let (s, body) = send(first.clone()).await;
    assert_eq!(s, 200, "{body}");
    assert!(body.contains("<Ack>true</Ack>"), "{body}");
    assert_eq!(h.journal_count(), 2);

    // At least once: the same message again is acknowledged, not journalled again.
    let (s, body) = send(first).await;
    assert_eq!(s, 200);
    assert!(body.contains("<Ack>true</Ack>"));
    assert_eq!(h.journal_count(), 2);

    // Out of order, mixed with an already-seen notification: only the new one counts.
    let mixed = outbound_message(&[
        ("04l0000000000A3AAA", &records[2]),
        ("04l0000000000A1AAA", &records[0]),
    ]);
    let (s, body) = send(mixed).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(h.journal_count(), 3);

    // Bad credentials: 401 and nothing stored.
    let resp = h
        .http
        .post(h.url("/v1/sources/salesforce-om/events"))
        .header("content-type", "text/xml")
        .body(outbound_message(&[("04l0000000000A9AAA", &records[3])]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    assert_eq!(h.journal_count(), 3);
    h.wait_idle().await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_from_all_three_crms_reach_the_contact_lists() {
    let h = Harness::start().await;
    let mut expected: Vec<(&str, BTreeSet<String>)> = Vec::new();
    for (plugin, source) in [
        ("servicenow", "servicenow"),
        ("salesforce", "salesforce"),
        ("custom-crm", "custom"),
    ] {
        let pairs: Vec<(Value, Value)> = fixture_records(plugin)
            .into_iter()
            .zip(fixture_expected(plugin))
            .filter(|(_, e)| {
                e["kind"] == "change" && e["operation"] == "upsert" && e["partial"] == false
            })
            .collect();
        // The fixture records with no phone at all are sent, but never having been synced
        // they are skipped by the engine (`no_phone`): nothing to dial or clear.
        const NO_PHONE: [&str; 3] = [
            "sn_0ad1ffa5cde2bd075aa09a1119f3904c",
            "sf_00QDn0000000003MAA",
            "crm_C0007",
        ];
        let ids: BTreeSet<String> = pairs
            .iter()
            .map(|(_, e)| e["externalId"].as_str().unwrap().to_owned())
            .filter(|id| !NO_PHONE.contains(&id.as_str()))
            .collect();
        // One webhook per record, as CRMs send them.
        for (i, (record, _)) in pairs.iter().enumerate() {
            let body = serde_json::to_vec(record).unwrap();
            let headers: Vec<(&str, String)> = match source {
                "servicenow" => vec![("authorization", format!("Bearer {SN_TOKEN}"))],
                "salesforce" => sw_headers(&format!("msg_e2e_{i}"), now(), &body),
                _ => vec![(
                    "x-hub-signature-256",
                    sign::github(GH_SECRET.as_bytes(), &body),
                )],
            };
            let (s, v) = post(&h, source, &headers, body).await;
            assert_eq!(s, 202, "{source} record {i}: {v}");
        }
        let list = match plugin {
            "servicenow" => "list-sn",
            "salesforce" => "list-sf",
            _ => "list-custom",
        };
        expected.push((list, ids));
    }
    h.wait_idle().await;
    for (list, ids) in expected {
        let contacts = contacts_by_external_id(&h.emulator, list);
        let got: BTreeSet<String> = contacts.keys().cloned().collect();
        assert_eq!(got, ids, "contacts of {list}");
        for c in contacts.values() {
            assert!(c.callable, "{c:?}");
        }
    }
    h.stop().await;
}

/// `serve` sends Genesys no more contacts per call than `orgs.*.max_contacts_per_call`:
/// twelve records in one webhook (one commit, so one worker round claims them all) reach an
/// emulator that refuses more than 4 contacts per call in three or more adds and not one
/// refusal. With the engine's default of 1000 per call the first add would be refused (400).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_sends_at_most_max_contacts_per_call() {
    const PER_CALL: usize = 4;
    const CONTACTS_ROUTE: &str = "/api/v2/outbound/contactlists/{contactListId}/contacts";
    let emulator = dialsync_emulator::EmulatorConfig {
        max_contacts_per_call: PER_CALL,
        ..Default::default()
    };
    let h = Harness::start_configured(emulator, &format!("max_contacts_per_call = {PER_CALL}"), "")
        .await;
    let records: Vec<Value> = (0..12).map(|i| sn_record(900 + i)).collect();
    let (s, v) = post(
        &h,
        "servicenow",
        &[("authorization", format!("Bearer {SN_TOKEN}"))],
        serde_json::to_vec(&records).unwrap(),
    )
    .await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(v["accepted"], 12, "{v}");
    h.wait_idle().await;
    assert_eq!(contacts_by_external_id(&h.emulator, "list-sn").len(), 12);
    let stats = h.emulator.stats();
    assert_eq!(
        stats.count("POST", CONTACTS_ROUTE, 400),
        0,
        "no add carried more than {PER_CALL} contacts"
    );
    assert!(
        stats.count("POST", CONTACTS_ROUTE, 200) >= 12 / PER_CALL as u64,
        "{stats:?}"
    );
    h.stop().await;
}

/// Loads the hostile test guest on its own runtime with the given deadline and fuel.
async fn hostile_slot(
    deadline: std::time::Duration,
    fuel_per_record: u64,
) -> dialsync::server::state::PluginSlot {
    let runtime = dialsync_plugin_host::Runtime::new(dialsync_plugin_host::Limits {
        deadline,
        fuel_per_record,
        ..dialsync_plugin_host::Limits::default()
    })
    .unwrap();
    dialsync::server::state::PluginSlot {
        plugin: runtime
            .load(dialsync_bundled_plugins::testing::HOSTILE, json!({}))
            .await
            .unwrap(),
        reference: "hostile".into(),
        config: json!({}),
    }
}

/// Posts a ServiceNow-envelope delivery with an `Idempotency-Key`; returns the status,
/// the `Retry-After` header and the body.
async fn post_keyed(h: &Harness, key: &str, body: &Value) -> (u16, Option<String>, Value) {
    let resp = h
        .http
        .post(h.url("/v1/sources/servicenow/events"))
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {SN_TOKEN}"))
        .header("idempotency-key", key)
        .body(serde_json::to_vec(body).unwrap())
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, retry_after, resp.json().await.unwrap())
}

/// A record the plugin fails on for a passing reason (its deadline) is never
/// acknowledged: 503 with Retry-After, the delivery id is not remembered (the retry is
/// mapped again, not answered `duplicate`), and the delivery's other records are
/// durable. A permanent failure (out of fuel) is acknowledged and remembered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transient_plugin_failure_answers_503_and_is_not_remembered() {
    let h = Harness::start().await;
    let source = h.state.sources["servicenow"].clone();
    source.swap_plugin(hostile_slot(std::time::Duration::from_millis(300), u64::MAX / 4).await);
    let body = json!({"result": [{"mode": "ok", "id": "1"}, {"mode": "loop", "id": "2"}]});

    let (s, retry_after, v) = post_keyed(&h, "delivery-transient-1", &body).await;
    assert_eq!(s, 503, "{v}");
    assert_eq!(retry_after.as_deref(), Some("5"));
    assert_eq!(v["error"], "plugin-unavailable", "{v}");
    assert_eq!(v["records"][0]["status"], "accepted", "{v}");
    assert_eq!(v["records"][1]["status"], "failed", "{v}");
    assert_eq!(v["records"][1]["transient"], true, "{v}");
    assert!(
        v["records"][1]["error"]
            .as_str()
            .unwrap()
            .contains("deadline"),
        "{v}"
    );
    assert_eq!(h.journal_count(), 1, "the mapped record is durable");
    let remembered = h
        .state
        .engine
        .delivery("servicenow", "delivery-transient-1")
        .await
        .unwrap();
    assert_eq!(remembered, None, "the delivery id is not remembered");

    // The sender's retry is mapped again (not answered as a duplicate).
    let (s, _, v) = post_keyed(&h, "delivery-transient-1", &body).await;
    assert_eq!(s, 503, "{v}");
    assert_eq!(h.journal_count(), 2);

    // A permanent failure (fuel) is acknowledged with the rest and remembered.
    source.swap_plugin(hostile_slot(std::time::Duration::from_secs(10), 5_000_000).await);
    let (s, retry_after, v) = post_keyed(&h, "delivery-transient-1", &body).await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(retry_after, None);
    assert_eq!(v["records"][1]["status"], "failed", "{v}");
    assert_eq!(v["records"][1].get("transient"), None, "{v}");
    assert_eq!(h.journal_count(), 3);
    let (s, _, v) = post_keyed(&h, "delivery-transient-1", &body).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["duplicate"], true, "{v}");
    assert_eq!(h.journal_count(), 3, "nothing journalled again");
    h.wait_idle().await;
    h.stop().await;
}
