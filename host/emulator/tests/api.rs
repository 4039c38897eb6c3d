//! The emulator over real loopback HTTP (reqwest): auth, limits, contacts, dialer, users,
//! routing, fixtures, stats, faults and seeded determinism.

use std::time::Duration;

use dialsync_emulator::{
    ConfigPatch, EmulatorConfig, FixtureCampaign, FixtureContact, FixtureContactList, FixtureNamed,
    FixtureUser, Fixtures, PhoneColumn, RunningEmulator,
};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

const CONTACTS: &str = "/api/v2/outbound/contactlists/{contactListId}/contacts";

struct Env {
    emu: RunningEmulator,
    http: Client,
    token: String,
}

impl Env {
    async fn start(cfg: EmulatorConfig) -> Self {
        let emu = dialsync_emulator::start(cfg, "127.0.0.1:0".parse().unwrap())
            .await
            .expect("start");
        let http = Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        let mut env = Self {
            emu,
            http,
            token: String::new(),
        };
        env.token = env
            .fetch_token("dialsync", "emulator-secret")
            .await
            .expect("token");
        env
    }

    async fn fetch_token(&self, id: &str, secret: &str) -> Result<String, (StatusCode, Value)> {
        let r = self
            .http
            .post(format!("{}/oauth/token", self.emu.base_url()))
            .basic_auth(id, Some(secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials")
            .send()
            .await
            .unwrap();
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        if status == StatusCode::OK {
            Ok(body["access_token"].as_str().unwrap().to_string())
        } else {
            Err((status, body))
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{}", self.emu.base_url(), path))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        let v = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        };
        (status, headers, v)
    }

    async fn create_list(&self, name: &str) -> String {
        let (s, _, v) = self
            .call(
                Method::POST,
                "/api/v2/outbound/contactlists",
                Some(
                    json!({"name": name, "columnNames": ["externalId", "firstName", "phone"],
                            "phoneColumns": [{"columnName": "phone", "type": "cell"}]}),
                ),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v["id"].as_str().unwrap().to_string()
    }
}

fn contact(list: &str, id: Option<&str>, ext: &str, phone: &str) -> Value {
    let mut c = json!({"contactListId": list, "data": {"externalId": ext, "firstName": "Ann", "phone": phone}});
    if let Some(id) = id {
        c["id"] = json!(id);
    }
    c
}

fn assert_error_body(headers: &reqwest::header::HeaderMap, v: &Value, status: u16, code: &str) {
    assert_eq!(v["status"], json!(status), "{v}");
    assert_eq!(v["code"], json!(code), "{v}");
    assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(v["details"].is_array() && v["errors"].is_array());
    let cid = headers
        .get("inin-correlation-id")
        .expect("correlation header")
        .to_str()
        .unwrap();
    assert_eq!(v["contextId"], json!(cid));
}

/// A list with a running campaign of `lines` lines and `n` contacts c0..c{n-1}.
fn dialer_fixtures(n: usize, lines: u32) -> Fixtures {
    Fixtures {
        contact_lists: vec![FixtureContactList {
            id: Some("L".into()),
            name: "Dialer list".into(),
            column_names: vec!["externalId".into(), "phone".into()],
            phone_columns: vec![PhoneColumn {
                column_name: "phone".into(),
                kind: Some("cell".into()),
                callable_time_column: None,
            }],
            contacts: (0..n)
                .map(|i| FixtureContact {
                    id: Some(format!("c{i}")),
                    data: [
                        ("externalId".to_string(), format!("E{i}")),
                        ("phone".to_string(), format!("+1415555{i:04}")),
                    ]
                    .into(),
                    callable: None,
                })
                .collect(),
        }],
        campaigns: vec![FixtureCampaign {
            id: Some("K".into()),
            name: "Running".into(),
            contact_list_id: "L".into(),
            campaign_status: Some("on".into()),
            dnc_list_ids: vec![],
            outbound_line_count: Some(lines),
            dialing_mode: None,
        }],
        ..Default::default()
    }
}

#[tokio::test]
async fn oauth_and_bearer_errors() {
    let env = Env::start(EmulatorConfig {
        extra_clients: vec![dialsync_emulator::ClientCredentials {
            client_id: "second".into(),
            client_secret: "s2".into(),
        }],
        ..Default::default()
    })
    .await;
    let (status, body) = env.fetch_token("dialsync", "wrong").await.unwrap_err();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_client");
    assert!(
        env.fetch_token("second", "s2").await.is_ok(),
        "second client accepted"
    );

    let r = env
        .http
        .get(format!("{}/api/v2/users", env.emu.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let h = r.headers().clone();
    assert_error_body(&h, &r.json().await.unwrap(), 401, "authentication.required");

    let r = env
        .http
        .get(format!("{}/api/v2/users", env.emu.base_url()))
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    let h = r.headers().clone();
    assert_error_body(&h, &r.json().await.unwrap(), 401, "bad.credentials");

    let (s, h, _) = env.call(Method::GET, "/api/v2/users", None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(h.contains_key("inin-correlation-id"));
    assert_eq!(env.emu.stats().count("POST", "/oauth/token", 401), 1);
}

#[tokio::test(start_paused = true)]
async fn tokens_expire() {
    let env = Env::start(EmulatorConfig {
        token_ttl: Duration::from_secs(600),
        ..Default::default()
    })
    .await;
    assert_eq!(
        env.call(Method::GET, "/api/v2/routing/skills", None)
            .await
            .0,
        StatusCode::OK
    );
    tokio::time::advance(Duration::from_secs(601)).await;
    let (s, h, v) = env.call(Method::GET, "/api/v2/routing/skills", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_error_body(&h, &v, 401, "bad.credentials");
}

#[tokio::test]
async fn expire_tokens_invalidates_every_issued_token_now() {
    let mut env = Env::start(EmulatorConfig {
        extra_clients: vec![dialsync_emulator::ClientCredentials {
            client_id: "second".into(),
            client_secret: "s2".into(),
        }],
        ..Default::default()
    })
    .await;
    let second = env.fetch_token("second", "s2").await.expect("second token");
    let skills = format!("{}/api/v2/routing/skills", env.emu.base_url());
    let status_with = |token: String| {
        let req = env.http.get(&skills).bearer_auth(token);
        async move { req.send().await.unwrap().status() }
    };
    assert_eq!(status_with(env.token.clone()).await, StatusCode::OK);
    assert_eq!(status_with(second.clone()).await, StatusCode::OK);

    // Through the Rust API: both clients' tokens die at once (24 h TTL notwithstanding).
    assert_eq!(env.emu.expire_tokens(), 2);
    let (s, h, v) = env.call(Method::GET, "/api/v2/routing/skills", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_error_body(&h, &v, 401, "bad.credentials");
    assert_eq!(status_with(second).await, StatusCode::UNAUTHORIZED);

    // A fresh token works; then the control route expires it too.
    env.token = env
        .fetch_token("dialsync", "emulator-secret")
        .await
        .unwrap();
    assert_eq!(
        env.call(Method::GET, "/api/v2/routing/skills", None)
            .await
            .0,
        StatusCode::OK
    );
    let r = env
        .http
        .post(format!("{}/_emulator/tokens/expire", env.emu.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"expired": 1}));
    assert_eq!(
        env.call(Method::GET, "/api/v2/routing/skills", None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );

    let stats = env.emu.stats();
    assert_eq!(stats.count("GET", "/api/v2/routing/skills", 200), 3);
    assert_eq!(stats.count("GET", "/api/v2/routing/skills", 401), 3);
    assert_eq!(stats.count("POST", "/oauth/token", 200), 3);
    assert_eq!(
        stats.route_total("POST", "/_emulator/tokens/expire"),
        0,
        "control calls are not counted"
    );
}

#[tokio::test(start_paused = true)]
async fn rate_limit_answers_429_with_retry_after_then_recovers() {
    let env = Env::start(EmulatorConfig {
        rate_limit_per_minute: 3,
        ..Default::default()
    })
    .await;
    for _ in 0..3 {
        let (s, h, _) = env.call(Method::GET, "/api/v2/routing/skills", None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(h["inin-ratelimit-allowed"], "3");
    }
    let (s, h, v) = env.call(Method::GET, "/api/v2/routing/skills", None).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    assert_error_body(&h, &v, 429, "too.many.requests.retry.after");
    let retry: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains(&format!("[{retry}]"))
    );

    env.emu
        .patch_config(&ConfigPatch {
            retry_after_header: Some(false),
            ..Default::default()
        })
        .unwrap();
    let (s, h, _) = env.call(Method::GET, "/api/v2/routing/skills", None).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    assert!(!h.contains_key("retry-after"));

    tokio::time::advance(Duration::from_secs(61)).await;
    assert_eq!(
        env.call(Method::GET, "/api/v2/routing/skills", None)
            .await
            .0,
        StatusCode::OK
    );
    let stats = env.emu.stats();
    assert_eq!(stats.count("GET", "/api/v2/routing/skills", 429), 2);
    assert_eq!(stats.count("GET", "/api/v2/routing/skills", 200), 4);
}

#[tokio::test]
async fn contacts_upsert_by_id_in_request_order() {
    let env = Env::start(EmulatorConfig::default()).await;
    let list = env.create_list("Upserts").await;
    let path = format!("/api/v2/outbound/contactlists/{list}/contacts");
    let (s, _, v) = env
        .call(
            Method::POST,
            &path,
            Some(json!([
                contact(&list, Some("client-1"), "A", "+14155550001"),
                contact(&list, None, "B", "+14155550002")
            ])),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v[0]["id"], "client-1", "client ids are kept verbatim");
    let generated = v[1]["id"].as_str().unwrap().to_string();
    assert!(!generated.is_empty());
    assert_eq!(v[1]["data"]["externalId"], "B");
    assert_eq!(v[0]["phoneNumberStatus"]["phone"]["callable"], true);
    assert_eq!(
        v[0]["selfUri"],
        format!("/api/v2/outbound/contactlists/{list}/contacts/client-1")
    );

    // Same id again: an update (data replaced, no duplicate), order follows the request.
    let (s, _, v) = env
        .call(
            Method::POST,
            &format!("{path}?clearSystemData=false&doNotQueue=true"),
            Some(json!([
                contact(&list, Some(&generated), "B", "+14155550099"),
                contact(&list, Some("client-1"), "A", "+14155550001")
            ])),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v[0]["id"], json!(generated));
    assert_eq!(v[0]["data"]["phone"], "+14155550099");
    let state = env.emu.state();
    let dump = state.contact_list(&list).unwrap();
    assert_eq!(dump.contacts.len(), 2);
    assert_eq!(
        dump.contacts[0].id, "client-1",
        "insertion order kept on update"
    );

    // GET / PUT / DELETE one, bulk get.
    let one = format!("{path}/client-1");
    let (s, _, mut c) = env.call(Method::GET, &one, None).await;
    assert_eq!(s, StatusCode::OK);
    c["data"]["firstName"] = json!("Annie");
    c["callable"] = json!(false);
    let (s, _, v) = env.call(Method::PUT, &one, Some(c)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["firstName"], "Annie");
    let (s, _, v) = env
        .call(
            Method::POST,
            &format!("{path}/bulk"),
            Some(json!(["client-1", "missing"])),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["callable"], false);
    assert_eq!(env.call(Method::DELETE, &one, None).await.0, StatusCode::OK);
    let (s, h, v) = env.call(Method::GET, &one, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_error_body(&h, &v, 404, "not.found");
    assert_eq!(env.emu.stats().count("POST", CONTACTS, 200), 2);
}

#[tokio::test]
async fn unknown_column_and_oversized_batch_are_rejected_whole() {
    let env = Env::start(EmulatorConfig {
        max_contacts_per_call: 3,
        ..Default::default()
    })
    .await;
    let list = env.create_list("Validation").await;
    let path = format!("/api/v2/outbound/contactlists/{list}/contacts");
    let mut bad = contact(&list, Some("x2"), "B", "+14155550002");
    bad["data"]["Email"] = json!("b@example.com");
    let (s, h, v) = env
        .call(
            Method::POST,
            &path,
            Some(json!([contact(&list, Some("x1"), "A", "+1"), bad])),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_error_body(&h, &v, 400, "invalid.property");
    let msg = v["message"].as_str().unwrap();
    assert!(
        msg.contains("contact[1]") && msg.contains("'Email'") && msg.contains("x2"),
        "{msg}"
    );
    assert!(
        env.emu
            .state()
            .contact_list(&list)
            .unwrap()
            .contacts
            .is_empty(),
        "nothing applied"
    );

    let four: Vec<Value> = (0..4)
        .map(|i| contact(&list, None, &format!("E{i}"), "+1"))
        .collect();
    let (s, _, v) = env.call(Method::POST, &path, Some(json!(four))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        v["message"].as_str().unwrap().contains("maximum of 3"),
        "{v}"
    );

    let mut wrong_list = contact(&list, None, "A", "+1");
    wrong_list["contactListId"] = json!("other");
    assert_eq!(
        env.call(Method::POST, &path, Some(json!([wrong_list])))
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    let (s, _, _) = env
        .call(
            Method::POST,
            "/api/v2/outbound/contactlists/nope/contacts",
            Some(json!([contact("nope", None, "A", "+1")])),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn nonexistent_paths_and_methods_answer_like_genesys() {
    let env = Env::start(EmulatorConfig::default()).await;
    let list = env.create_list("Paths").await;
    let (s, h, v) = env
        .call(
            Method::PATCH,
            &format!("/api/v2/outbound/contactlists/{list}/contacts/x"),
            Some(json!({})),
        )
        .await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    assert_error_body(&h, &v, 405, "method.not.allowed");
    let (s, h, v) = env
        .call(Method::POST, "/api/v2/outbound/contacts", Some(json!([])))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_error_body(&h, &v, 404, "not.found");
    assert_eq!(
        env.emu
            .stats()
            .count("POST", dialsync_emulator::UNMATCHED, 404),
        1
    );
}

#[tokio::test]
async fn bulk_delete_skips_contacts_in_use() {
    let env = Env::start(EmulatorConfig {
        fixtures: Some(dialer_fixtures(10, 3)),
        seed: 7,
        ..Default::default()
    })
    .await;
    let in_use = env.emu.state().contact_list("L").unwrap().in_use.clone();
    assert_eq!(in_use.len(), 3);
    let free: Vec<String> = (0..10)
        .map(|i| format!("c{i}"))
        .filter(|c| !in_use.contains(c))
        .take(2)
        .collect();
    let ids: Vec<String> = in_use
        .iter()
        .chain(free.iter())
        .map(|c| format!("contactIds={c}"))
        .collect();
    let (s, _, _) = env
        .call(
            Method::DELETE,
            &format!("/api/v2/outbound/contactlists/L/contacts?{}", ids.join("&")),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let state = env.emu.state();
    let left: Vec<&str> = state
        .contact_list("L")
        .unwrap()
        .contacts
        .iter()
        .map(|c| c.id.as_str())
        .collect();
    assert_eq!(left.len(), 8);
    for c in &in_use {
        assert!(
            left.contains(&c.as_str()),
            "{c} was in use and must survive"
        );
    }
    for c in &free {
        assert!(!left.contains(&c.as_str()), "{c} was free and must be gone");
    }
}

#[tokio::test]
async fn dialer_lock_answers_409_and_changes_nothing() {
    let env = Env::start(EmulatorConfig {
        fixtures: Some(dialer_fixtures(6, 2)),
        dialer_lock_rate: 1.0,
        ..Default::default()
    })
    .await;
    let busy = env.emu.state().contact_list("L").unwrap().in_use[0].clone();
    let body = json!([{"id": busy, "contactListId": "L", "data": {"externalId": "changed", "phone": "+1"}}]);
    let (s, h, v) = env
        .call(
            Method::POST,
            "/api/v2/outbound/contactlists/L/contacts",
            Some(body),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_error_body(&h, &v, 409, "contact.in.use");
    assert_eq!(v["details"][0]["entityId"], json!(busy));
    let state = env.emu.state();
    assert_ne!(
        state.contact("L", &busy).unwrap().data["externalId"],
        "changed"
    );
    // The dialer moved on after that request; a contact it no longer holds is writable.
    let now_busy = state.contact_list("L").unwrap().in_use.clone();
    let free = (0..6)
        .map(|i| format!("c{i}"))
        .find(|c| !now_busy.contains(c))
        .unwrap();
    let (s, _, _) = env
        .call(
            Method::PUT,
            &format!("/api/v2/outbound/contactlists/L/contacts/{free}"),
            Some(json!({"data": {"externalId": "ok"}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn search_pages_and_filters() {
    let env = Env::start(EmulatorConfig {
        fixtures: Some(dialer_fixtures(7, 1)),
        ..Default::default()
    })
    .await;
    let path = "/api/v2/outbound/contactlists/L/contacts/search";
    let (s, _, v) = env
        .call(
            Method::POST,
            path,
            Some(json!({"pageSize": 3, "pageNumber": 3})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (v["total"].as_u64(), v["pageCount"].as_u64()),
        (Some(7), Some(3))
    );
    assert_eq!(v["entities"].as_array().unwrap().len(), 1);
    let crit = json!({"pageSize": 100, "criteria": {"filterType": "AND", "clauses": [{"filterType": "AND",
        "predicates": [{"column": "externalId", "columnType": "alphabetic", "operator": "EQUALS", "value": "E4"}]}]}});
    let (_, _, v) = env.call(Method::POST, path, Some(crit)).await;
    assert_eq!(v["total"], 1);
    assert_eq!(v["entities"][0]["id"], "c4");
    assert_eq!(
        env.call(Method::POST, path, Some(json!({"pageSize": 101})))
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn contact_list_and_campaign_versions() {
    let env = Env::start(EmulatorConfig {
        fixtures: Some(dialer_fixtures(4, 1)),
        ..Default::default()
    })
    .await;
    let (_, _, mut list) = env
        .call(
            Method::GET,
            "/api/v2/outbound/contactlists/L?includeSize=true",
            None,
        )
        .await;
    assert_eq!(list["size"], 4);
    list["version"] = json!(7);
    assert_eq!(
        env.call(
            Method::PUT,
            "/api/v2/outbound/contactlists/L",
            Some(list.clone())
        )
        .await
        .0,
        StatusCode::CONFLICT
    );
    list["version"] = json!(1);
    let (s, _, v) = env
        .call(Method::PUT, "/api/v2/outbound/contactlists/L", Some(list))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["version"], 2);

    let (_, _, mut camp) = env
        .call(Method::GET, "/api/v2/outbound/campaigns/K", None)
        .await;
    camp["version"] = json!(0);
    let (s, h, v) = env
        .call(
            Method::PUT,
            "/api/v2/outbound/campaigns/K",
            Some(camp.clone()),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_error_body(&h, &v, 409, "general.conflict");
    camp["version"] = json!(1);
    camp["campaignStatus"] = json!("off");
    assert_eq!(
        env.call(Method::PUT, "/api/v2/outbound/campaigns/K", Some(camp))
            .await
            .2["version"],
        2
    );
    assert_eq!(
        env.call(
            Method::PATCH,
            "/api/v2/outbound/campaigns/K",
            Some(json!({"outboundLineCount": 4}))
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    let (s, _, p) = env
        .call(Method::GET, "/api/v2/outbound/campaigns/K/progress", None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(p["totalNumberOfContacts"], 4);
    assert!(p["numberOfContactsCalled"].as_u64().unwrap() >= 1);
    let (_, _, all) = env
        .call(Method::GET, "/api/v2/outbound/campaigns?pageSize=100", None)
        .await;
    assert_eq!(all["total"], 1);
}

#[tokio::test]
async fn dnc_add_remove_clear() {
    let env = Env::start(EmulatorConfig::default()).await;
    let (_, _, d) = env
        .call(
            Method::POST,
            "/api/v2/outbound/dnclists",
            Some(json!({"name": "DNC", "dncSourceType": "rds"})),
        )
        .await;
    let id = d["id"].as_str().unwrap();
    let p = format!("/api/v2/outbound/dnclists/{id}/phonenumbers");
    assert_eq!(
        env.call(
            Method::POST,
            &p,
            Some(json!(["+14155550001", "+14155550002"]))
        )
        .await
        .0,
        StatusCode::OK
    );
    let patch = json!({"action": "Add", "phoneNumbers": ["+14155550003"]});
    assert_eq!(
        env.call(Method::PATCH, &p, Some(patch)).await.0,
        StatusCode::OK
    );
    let patch = json!({"action": "Remove", "phoneNumbers": ["+14155550001"]});
    assert_eq!(
        env.call(Method::PATCH, &p, Some(patch)).await.0,
        StatusCode::OK
    );
    assert_eq!(
        env.emu.state().dnc_list(id).unwrap().phone_numbers,
        vec!["+14155550002", "+14155550003"]
    );
    let (s, _, v) = env
        .call(
            Method::PATCH,
            &p,
            Some(json!({"action": "Delete", "phoneNumbers": ["1"]})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(
        env.call(Method::DELETE, &format!("{p}?expiredOnly=true"), None)
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(env.emu.state().dnc_list(id).unwrap().phone_numbers.len(), 2);
    assert_eq!(env.call(Method::DELETE, &p, None).await.0, StatusCode::OK);
    assert!(
        env.emu
            .state()
            .dnc_list(id)
            .unwrap()
            .phone_numbers
            .is_empty()
    );
}

fn routing_fixtures() -> Fixtures {
    Fixtures {
        skills: vec![
            FixtureNamed {
                id: Some("s1".into()),
                name: "Sales".into(),
            },
            FixtureNamed {
                id: Some("s2".into()),
                name: "Billing".into(),
            },
        ],
        languages: vec![FixtureNamed {
            id: Some("l1".into()),
            name: "English".into(),
        }],
        users: vec![FixtureUser {
            id: Some("u1".into()),
            name: "Ann Agent".into(),
            email: "ann@example.com".into(),
            version: None,
            department: None,
            title: None,
            skills: [("Sales".to_string(), 3.0)].into(),
            languages: Default::default(),
            utilization: None,
        }],
        ..Default::default()
    }
}

#[tokio::test]
async fn user_patch_needs_current_version() {
    let env = Env::start(EmulatorConfig {
        fixtures: Some(routing_fixtures()),
        ..Default::default()
    })
    .await;
    let (_, _, u) = env.call(Method::GET, "/api/v2/users/u1", None).await;
    assert_eq!(u["version"], 1);
    let (s, h, v) = env
        .call(
            Method::PATCH,
            "/api/v2/users/u1",
            Some(json!({"department": "Sales"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_error_body(&h, &v, 400, "invalid.value");
    let (s, h, v) = env
        .call(
            Method::PATCH,
            "/api/v2/users/u1",
            Some(json!({"department": "Sales", "version": 5})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_error_body(&h, &v, 409, "general.conflict");
    let (s, _, v) = env
        .call(
            Method::PATCH,
            "/api/v2/users/u1",
            Some(json!({"department": "Sales", "version": 1})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (
            v["version"].as_i64(),
            v["department"].as_str(),
            v["name"].as_str()
        ),
        (Some(2), Some("Sales"), Some("Ann Agent"))
    );
    let (_, _, page) = env
        .call(Method::GET, "/api/v2/users?pageSize=1&pageNumber=1", None)
        .await;
    assert_eq!(page["total"], 1);
}

#[tokio::test]
async fn routing_skills_languages_and_utilization() {
    let env = Env::start(EmulatorConfig {
        fixtures: Some(routing_fixtures()),
        ..Default::default()
    })
    .await;
    let bulk = "/api/v2/users/u1/routingskills/bulk";
    let (s, _, v) = env
        .call(
            Method::PATCH,
            bulk,
            Some(json!([{"id": "s1", "proficiency": 6}])),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        v["message"].as_str().unwrap().contains("between 0 and 5"),
        "{v}"
    );
    let (s, _, v) = env
        .call(
            Method::PATCH,
            bulk,
            Some(json!([{"id": "nope", "proficiency": 2}])),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(v["message"].as_str().unwrap().contains("'nope'"));
    let (s, _, v) = env
        .call(
            Method::PATCH,
            bulk,
            Some(json!([{"id": "s2", "proficiency": 2}])),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["total"], 2, "merge keeps s1");
    let (_, _, v) = env
        .call(
            Method::PUT,
            bulk,
            Some(json!([{"id": "s2", "proficiency": 4.5}])),
        )
        .await;
    assert_eq!(v["total"], 1, "replace drops s1");
    assert_eq!(v["entities"][0]["name"], "Billing");
    assert_eq!(
        env.call(Method::DELETE, "/api/v2/users/u1/routingskills/s2", None)
            .await
            .0,
        StatusCode::OK
    );
    assert!(env.emu.state().user("u1").unwrap().skills.is_empty());

    let (s, _, _) = env
        .call(
            Method::PATCH,
            "/api/v2/users/u1/routinglanguages/bulk",
            Some(json!([{"id": "l1", "proficiency": 5}])),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        env.call(Method::GET, "/api/v2/users/u1/routinglanguages", None)
            .await
            .2["entities"][0]["id"],
        "l1"
    );
    assert_eq!(
        env.call(
            Method::PUT,
            "/api/v2/users/u1/routinglanguages/bulk",
            Some(json!([]))
        )
        .await
        .0,
        StatusCode::METHOD_NOT_ALLOWED
    );

    let u = "/api/v2/routing/users/u1/utilization";
    assert_eq!(
        env.call(Method::GET, u, None).await.2["level"],
        "Organization"
    );
    let (s, _, v) = env.call(Method::PUT, u, Some(json!({"utilization": {"call": {"maximumCapacity": 1, "interruptableMediaTypes": ["email"]}}}))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["level"], "Agent");
    assert_eq!(
        v["utilization"]["chat"]["maximumCapacity"], 4,
        "omitted media types take the org default"
    );
    assert_eq!(
        env.call(
            Method::PUT,
            u,
            Some(json!({"utilization": {"fax": {"maximumCapacity": 1}}}))
        )
        .await
        .0,
        StatusCode::BAD_REQUEST
    );
    assert!(env.call(Method::DELETE, u, None).await.0.is_success());
    assert_eq!(
        env.call(Method::GET, u, None).await.2["level"],
        "Organization"
    );
}

#[tokio::test]
async fn fixtures_at_run_time_and_control_api() {
    let env = Env::start(EmulatorConfig::default()).await;
    let base = env.emu.base_url();
    let bad = json!({"users": [{"name": "X", "email": "x@example.com", "skills": {"Nope": 1}}]});
    let r = env
        .http
        .post(format!("{base}/_emulator/fixtures"))
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let v: Value = r.json().await.unwrap();
    assert!(v["message"].as_str().unwrap().contains("users[0]"), "{v}");

    let example: Value = serde_json::from_str(include_str!("../fixtures/example.json")).unwrap();
    let r = env
        .http
        .post(format!("{base}/_emulator/fixtures"))
        .json(&example)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let state: dialsync_emulator::StateDump = env
        .http
        .get(format!("{base}/_emulator/state"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        !state.users.is_empty() && !state.contact_lists.is_empty() && !state.campaigns.is_empty()
    );

    let r = env
        .http
        .put(format!("{base}/_emulator/config"))
        .json(&json!({"error_rate": 2.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = env
        .http
        .put(format!("{base}/_emulator/config"))
        .json(&json!({"error_rate": 1.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (s, h, v) = env.call(Method::GET, "/api/v2/users", None).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert_error_body(&h, &v, 503, "service.unavailable");

    let stats: dialsync_emulator::Stats = env
        .http
        .get(format!("{base}/_emulator/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats.count("GET", "/api/v2/users", 503), 1);
    assert_eq!(stats.route_total("POST", "/oauth/token"), 1);
    let r = env
        .http
        .post(format!("{base}/_emulator/reset"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(env.emu.state().users.is_empty());
    assert_eq!(env.emu.stats().total, 0);
}

#[tokio::test]
async fn applied_then_500_keeps_the_write() {
    let env = Env::start(EmulatorConfig {
        applied_then_error_rate: 1.0,
        ..Default::default()
    })
    .await;
    let (s, _, _) = env
        .call(
            Method::POST,
            "/api/v2/outbound/contactlists",
            Some(json!({"name": "A", "columnNames": ["p"], "phoneColumns": [{"columnName": "p"}]})),
        )
        .await;
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        env.emu.state().contact_list_named("A").is_some(),
        "the write was applied"
    );
    assert_eq!(env.emu.stats().applied_then_error, 1);
    assert_eq!(
        env.call(Method::GET, "/api/v2/outbound/contactlists", None)
            .await
            .0,
        StatusCode::OK,
        "reads are never affected"
    );
}

#[tokio::test]
async fn dropped_connections_are_not_applied() {
    let env = Env::start(EmulatorConfig {
        drop_rate: 1.0,
        drop_hang: Duration::ZERO,
        ..Default::default()
    })
    .await;
    let r = env
        .http
        .post(format!(
            "{}/api/v2/outbound/contactlists",
            env.emu.base_url()
        ))
        .bearer_auth(&env.token)
        .json(&json!({"name": "A", "columnNames": ["p"], "phoneColumns": [{"columnName": "p"}]}))
        .send()
        .await;
    let failed = match r {
        Err(_) => true,
        Ok(resp) => resp.bytes().await.is_err(),
    };
    assert!(failed, "the client must see a broken connection");
    assert!(env.emu.state().contact_lists.is_empty());
    assert_eq!(env.emu.stats().dropped, 1);
}

#[tokio::test(start_paused = true)]
async fn version_churn_bumps_users() {
    let env = Env::start(EmulatorConfig {
        fixtures: Some(routing_fixtures()),
        version_churn_per_sec: 10.0,
        ..Default::default()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let v = env.emu.state().user("u1").unwrap().user.version;
    assert!(v >= 10, "version {v}");
    let (s, _, _) = env
        .call(
            Method::PATCH,
            "/api/v2/users/u1",
            Some(json!({"title": "x", "version": 1})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
}

/// Runs a fixed request sequence with faults on; returns the statuses and the final ids.
async fn seeded_run(seed: u64) -> (Vec<u16>, Vec<String>, Vec<String>) {
    let env = Env::start(EmulatorConfig {
        seed,
        error_rate: 0.3,
        burst_429_rate: 0.1,
        fixtures: Some(dialer_fixtures(20, 3)),
        ..Default::default()
    })
    .await;
    let mut statuses = Vec::new();
    for i in 0..30 {
        let body = json!([{"contactListId": "L", "data": {"externalId": format!("N{i}"), "phone": "+14155550100"}}]);
        statuses.push(
            env.call(
                Method::POST,
                "/api/v2/outbound/contactlists/L/contacts",
                Some(body),
            )
            .await
            .0
            .as_u16(),
        );
    }
    let state = env.emu.state();
    let l = state.contact_list("L").unwrap();
    (
        statuses,
        l.contacts.iter().map(|c| c.id.clone()).collect(),
        l.in_use.clone(),
    )
}

#[tokio::test]
async fn same_seed_same_run() {
    let a = seeded_run(42).await;
    let b = seeded_run(42).await;
    assert_eq!(a, b);
    assert!(a.0.contains(&503) && a.0.contains(&200), "{:?}", a.0);
    let c = seeded_run(43).await;
    assert_ne!(a, c);
}

#[tokio::test]
async fn sample_org_is_usable() {
    let env = Env::start(EmulatorConfig {
        sample_org: true,
        ..Default::default()
    })
    .await;
    let state = env.emu.state();
    assert_eq!(state.users.len(), 150);
    assert!(
        state
            .users
            .iter()
            .all(|u| !u.skills.is_empty() && !u.languages.is_empty())
    );
    let list = state.contact_list_named("Sample contacts").unwrap();
    assert!(!list.in_use.is_empty() && list.in_use.len() <= 5);
    let (_, _, page) = env
        .call(Method::GET, "/api/v2/users?pageSize=100&pageNumber=2", None)
        .await;
    assert_eq!(
        (
            page["total"].as_u64(),
            page["entities"].as_array().unwrap().len()
        ),
        (Some(150), 50)
    );
    let (_, _, skills) = env
        .call(Method::GET, "/api/v2/routing/skills?pageSize=100", None)
        .await;
    assert_eq!(skills["total"], 8);
}
