//! Issue 13 fidelity, over real loopback HTTP: the full `ErrorBody`, request bodies checked
//! against the SDK models, opt-in eventual consistency, bulk contact jobs, export and import
//! status, and data actions as Genesys runs them (quoting, `$input.x`, flatten/expand,
//! drafts/publish/PATCH/DELETE, integrations).

use std::time::Duration;

use dialsync_emulator::{EmulatorConfig, RunningEmulator};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

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
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let token: Value = http
            .post(format!("{}/oauth/token", emu.base_url()))
            .basic_auth("dialsync", Some("emulator-secret"))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = token["access_token"].as_str().unwrap().to_owned();
        Self { emu, http, token }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{}", self.emu.base_url(), path))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        let v = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, v)
    }

    async fn ok(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (s, v) = self.call(method.clone(), path, body).await;
        assert!(s.is_success(), "{method} {path} -> {s}: {v}");
        v
    }

    async fn list_with(&self, n: usize) -> String {
        let list = self
            .ok(
                Method::POST,
                "/api/v2/outbound/contactlists",
                Some(
                    json!({"name": "Bulk", "columnNames": ["externalId", "phone"],
                            "phoneColumns": [{"columnName": "phone", "type": "cell"}]}),
                ),
            )
            .await;
        let id = list["id"].as_str().unwrap().to_owned();
        let contacts: Vec<Value> = (0..n)
            .map(|i| json!({"id": format!("c{i}"), "contactListId": id,
                            "data": {"externalId": format!("E{i}"), "phone": format!("+1415555{i:04}")}}))
            .collect();
        for chunk in contacts.chunks(1000) {
            self.ok(
                Method::POST,
                &format!("/api/v2/outbound/contactlists/{id}/contacts"),
                Some(json!(chunk)),
            )
            .await;
        }
        id
    }
}

fn sample() -> EmulatorConfig {
    EmulatorConfig {
        sample_org: true,
        ..Default::default()
    }
}

const USER: &str = "00000000-0000-4000-8000-a9e470000000";

#[tokio::test]
async fn error_bodies_carry_entity_params_and_limit() {
    let env = Env::start(EmulatorConfig {
        rate_limit_per_minute: 3,
        ..sample()
    })
    .await;
    let (s, v) = env.call(Method::GET, "/api/v2/users/nobody", None).await;
    assert_eq!(s, 404);
    assert_eq!(v["entityId"], "nobody");
    assert_eq!(v["entityName"], "user");
    assert_eq!(
        v["messageWithParams"],
        "The requested resource was not found: {entityName} '{entityId}'"
    );
    assert_eq!(v["messageParams"]["entityId"], "nobody");
    assert_eq!(
        v["message"],
        "The requested resource was not found: user 'nobody'"
    );

    let (s, v) = env
        .call(
            Method::PATCH,
            &format!("/api/v2/users/{USER}"),
            Some(json!({"version": 99, "title": "x"})),
        )
        .await;
    assert_eq!(s, 409);
    assert_eq!(
        (v["entityId"].as_str(), v["entityName"].as_str()),
        (Some(USER), Some("user"))
    );
    assert_eq!(v["messageParams"]["given"], "99");
    assert_eq!(v["messageParams"]["current"], "1");

    let mut last = (StatusCode::OK, Value::Null);
    for _ in 0..3 {
        last = env.call(Method::GET, "/api/v2/routing/skills", None).await;
    }
    assert_eq!(last.0, 429, "{}", last.1);
    let v = last.1;
    assert_eq!(
        v["limit"]["key"],
        "client.credentials.token.rate.per.minute"
    );
    assert_eq!(v["limit"]["namespace"], "platform.api");
    assert_eq!(v["limit"]["value"], 3);
    let retry = v["messageParams"]["retryAfter"].as_str().unwrap();
    assert_eq!(
        v["message"],
        format!("Rate limit exceeded the maximum. Retry the request in [{retry}] seconds")
    );
    env.emu.shutdown().await;
}

#[tokio::test]
async fn request_bodies_follow_the_sdk_models() {
    let env = Env::start(sample()).await;
    let path = format!("/api/v2/users/{USER}");
    // Every real UpdateUser field is accepted, employerInfo included.
    let v = env
        .ok(
            Method::PATCH,
            &path,
            Some(json!({"version": 1, "employerInfo": {"employeeId": "E1", "employeeType": "Full-time",
                        "officialName": "Ann", "dateHire": "2020-01-02"}, "biography": {"hobbies": ["x"]}})),
        )
        .await;
    assert_eq!(v["employerInfo"]["employeeId"], "E1");
    // An unknown field (top level or nested) is a 400 naming it; nothing changes.
    for (body, field) in [
        (json!({"version": 2, "colour": "red"}), "colour"),
        (
            json!({"version": 2, "employerInfo": {"badge": 7}}),
            "employerInfo.badge",
        ),
    ] {
        let (s, e) = env.call(Method::PATCH, &path, Some(body)).await;
        assert_eq!(s, 400, "{e}");
        assert_eq!(e["code"], "bad.request");
        assert_eq!(e["details"][0]["fieldName"], field, "{e}");
    }
    assert_eq!(env.emu.state().user(USER).unwrap().user.version, 2);
    // Contacts: WritableDialerContact's fields only.
    let list = env.list_with(0).await;
    let (s, e) = env
        .call(
            Method::POST,
            &format!("/api/v2/outbound/contactlists/{list}/contacts"),
            Some(json!([{"contactListId": list, "data": {"externalId": "E"}, "status": "new"}])),
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(e["details"][0]["fieldName"], "[0].status", "{e}");
    env.emu.shutdown().await;
}

#[tokio::test]
async fn eventual_consistency_is_opt_in_fresh_writes_miss_and_deletes_linger() {
    // Strong by default: a read right after a write sees it.
    let env = Env::start(EmulatorConfig::default()).await;
    let list = env.list_with(1).await;
    env.ok(
        Method::GET,
        &format!("/api/v2/outbound/contactlists/{list}/contacts/c0"),
        None,
    )
    .await;
    env.emu.shutdown().await;

    let env = Env::start(EmulatorConfig {
        consistency_delay: Duration::from_millis(400)..=Duration::from_millis(400),
        ..EmulatorConfig::default()
    })
    .await;
    let list = env.list_with(1).await;
    let one = format!("/api/v2/outbound/contactlists/{list}/contacts/c0");
    let (s, _) = env.call(Method::GET, &one, None).await;
    assert_eq!(s, 404, "a fresh contact is not readable yet");
    let (_, got) = env
        .call(
            Method::POST,
            &format!("/api/v2/outbound/contactlists/{list}/contacts/bulk"),
            Some(json!(["c0"])),
        )
        .await;
    assert_eq!(got, json!([]), "nor by the bulk get");
    tokio::time::sleep(Duration::from_millis(450)).await;
    env.ok(Method::GET, &one, None).await;
    env.ok(Method::DELETE, &one, None).await;
    let v = env.ok(Method::GET, &one, None).await;
    assert_eq!(v["id"], "c0", "a deleted contact lingers");
    tokio::time::sleep(Duration::from_millis(450)).await;
    let (s, _) = env.call(Method::GET, &one, None).await;
    assert_eq!(s, 404);
    // The control API turns it on and off at run time.
    env.emu
        .patch_config(&dialsync_emulator::ConfigPatch {
            consistency_delay_ms: Some([0, 0]),
            ..Default::default()
        })
        .unwrap();
    env.emu.shutdown().await;
}

async fn poll_job(env: &Env, list: &str, job: &Value) -> (Value, usize) {
    let mut polls = 0;
    let mut job = job.clone();
    while job["state"] == "InProgress" {
        assert!(polls < 200, "job never completed: {job}");
        tokio::time::sleep(Duration::from_millis(20)).await;
        job = env
            .ok(
                Method::GET,
                &format!(
                    "/api/v2/outbound/contactlists/{list}/contacts/bulk/jobs/{}",
                    job["id"].as_str().unwrap()
                ),
                None,
            )
            .await;
        polls += 1;
    }
    (job, polls)
}

#[tokio::test]
async fn bulk_remove_and_update_are_jobs_that_complete_over_time() {
    let env = Env::start(EmulatorConfig {
        bulk_job_records_per_sec: 1000.0,
        ..EmulatorConfig::default()
    })
    .await;
    let list = env.list_with(300).await;
    let in_set: Vec<String> = (0..200).map(|i| format!("E{i}")).collect();
    let job = env
        .ok(
            Method::POST,
            &format!("/api/v2/outbound/contactlists/{list}/contacts/bulk/remove"),
            Some(json!({"criteria": {"filterType": "AND", "clauses": [{"filterType": "AND", "predicates": [
                {"column": "externalId", "columnType": "alphabetic", "operator": "IN", "range": {"inSet": in_set}}]}]},
                "generateDownloadURI": false})),
        )
        .await;
    assert_eq!(job["state"], "InProgress");
    assert_eq!(job["type"], "BulkDelete");
    assert_eq!(job["totalRecords"], 200);
    let (done, polls) = poll_job(&env, &list, &job).await;
    assert!(polls >= 1, "the job took polling");
    assert_eq!(
        (done["state"].as_str(), done["completedRecords"].as_u64()),
        (Some("Complete"), Some(200))
    );
    assert_eq!(
        env.emu.state().contact_list(&list).unwrap().contacts.len(),
        100
    );

    let ids: Vec<String> = (200..250).map(|i| format!("c{i}")).collect();
    let job = env
        .ok(
            Method::POST,
            &format!("/api/v2/outbound/contactlists/{list}/contacts/bulk/update"),
            Some(json!({"contactIds": ids, "contact": {"callable": false}})),
        )
        .await;
    assert_eq!(job["type"], "BulkEdit");
    poll_job(&env, &list, &job).await;
    let state = env.emu.state();
    let contacts = &state.contact_list(&list).unwrap().contacts;
    assert_eq!(contacts.iter().filter(|c| !c.callable).count(), 50);
    let listing = env
        .ok(
            Method::GET,
            &format!("/api/v2/outbound/contactlists/{list}/contacts/bulk/jobs"),
            None,
        )
        .await;
    assert_eq!(listing["entities"].as_array().unwrap().len(), 2);
    // Neither criteria nor ids: 400. Too many IN values: 400 with the limit.
    let (s, _) = env
        .call(
            Method::POST,
            &format!("/api/v2/outbound/contactlists/{list}/contacts/bulk/remove"),
            Some(json!({})),
        )
        .await;
    assert_eq!(s, 400);
    let big: Vec<String> = (0..1001).map(|i| i.to_string()).collect();
    let (s, e) = env
        .call(
            Method::POST,
            &format!("/api/v2/outbound/contactlists/{list}/contacts/bulk/remove"),
            Some(json!({"criteria": {"clauses": [{"predicates": [
                {"column": "externalId", "operator": "IN", "range": {"inSet": big}}]}]}})),
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(e["limit"]["value"], 1000);
    env.emu.shutdown().await;
}

#[tokio::test]
async fn export_reads_a_whole_list_back_and_import_status_answers() {
    let env = Env::start(EmulatorConfig::default()).await;
    let list = env.list_with(3).await;
    let path = format!("/api/v2/outbound/contactlists/{list}/export");
    let (s, _) = env.call(Method::GET, &path, None).await;
    assert_eq!(s, 404, "no export yet");
    let started = env.ok(Method::POST, &path, None).await;
    assert_eq!(started["id"], list.as_str());
    let uri = env.ok(Method::GET, &path, None).await;
    assert!(uri["exportTimestamp"].is_string());
    let url = uri["uri"].as_str().unwrap();
    // Presigned: no token needed.
    let csv = reqwest::get(url).await.unwrap().text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "inin-outbound-id,externalId,phone,ContactCallable"
    );
    assert_eq!(lines[1], "c0,E0,+14155550000,true");
    assert_eq!(lines.len(), 4);
    let (s, _) = env
        .call(Method::GET, &format!("{path}?download=true"), None)
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let status = env
        .ok(
            Method::GET,
            &format!("/api/v2/outbound/contactlists/{list}/importstatus"),
            None,
        )
        .await;
    assert_eq!(
        (
            status["percentComplete"].as_u64(),
            status["totalRecords"].as_u64()
        ),
        (Some(100), Some(3))
    );
    env.emu.shutdown().await;
}

/// A tiny external service for data actions: answers every request with `answer` and
/// returns its address.
async fn service(answer: Value) -> String {
    let app = axum::Router::new().fallback(move || {
        let a = answer.clone();
        async move { axum::Json(a) }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn action(integration: &str, url: &str, template: &str, map: Value, success: Value) -> Value {
    json!({
        "name": "Queue lookup", "category": "tests", "integrationId": integration, "secure": false,
        "contract": {
            "input": {"inputSchema": {"$schema": "http://json-schema.org/draft-04/schema#", "type": "object",
                "properties": {"queue": {"type": "string"}}}},
            "output": {"successSchema": success},
        },
        "config": {
            "request": {"requestUrlTemplate": url, "requestType": "GET"},
            "response": {"translationMap": map, "successTemplate": template},
        },
    })
}

async fn integration(env: &Env) -> String {
    let i = env
        .ok(
            Method::POST,
            "/api/v2/integrations",
            Some(json!({"name": "WS", "integrationType": {"id": "custom-rest-actions"}})),
        )
        .await;
    assert_eq!(i["intendedState"], "DISABLED");
    let id = i["id"].as_str().unwrap().to_owned();
    let on = env
        .ok(
            Method::PATCH,
            &format!("/api/v2/integrations/{id}"),
            Some(json!({"intendedState": "ENABLED"})),
        )
        .await;
    assert_eq!(on["intendedState"], "ENABLED");
    id
}

#[tokio::test]
async fn data_actions_quote_translation_values_and_expand_the_input_shorthand() {
    let env = Env::start(EmulatorConfig::default()).await;
    let int = integration(&env).await;
    let base = service(json!({"queue": {"id": "q-1", "name": "Sales"},
                              "agents": [{"id": "a1", "skill": 3}, {"id": "a2", "skill": 5}]}))
    .await;
    let success = json!({"type": "object", "properties": {
        "queueId": {"type": "string"},
        "agents": {"type": "array", "items": {"type": "object", "properties": {"id": {"type": "string"}}}},
        "queue": {"type": "string"}}});
    // Genesys's template: a translated string is inserted with its quotes; `$input.queue`
    // is the same reference as `${input.queue}` (inserted bare, the template quotes it).
    let a = env
        .ok(
            Method::POST,
            "/api/v2/integrations/actions",
            Some(action(
                &int,
                &format!("{base}/queues/$input.queue"),
                r#"{ "queueId": ${queueId}, "agents": ${agents}, "queue": "$input.queue" }"#,
                json!({"queueId": "$.queue.id", "agents": "$.agents"}),
                success.clone(),
            )),
        )
        .await;
    let id = a["id"].as_str().unwrap();
    let out = env
        .ok(
            Method::POST,
            &format!("/api/v2/integrations/actions/{id}/execute"),
            Some(json!({"queue": "sales"})),
        )
        .await;
    assert_eq!(out["queueId"], "q-1");
    assert_eq!(out["agents"][1]["id"], "a2");
    assert_eq!(out["queue"], "sales");
    // flatten=true: Architect's flattened form.
    let flat = env
        .ok(
            Method::POST,
            &format!("/api/v2/integrations/actions/{id}/execute?flatten=true"),
            Some(json!({"queue": "sales"})),
        )
        .await;
    assert_eq!(flat["agents.id"], json!(["a1", "a2"]));
    assert_eq!(flat["agents.skill"], json!([3, 5]));
    // The template that quotes a translated string itself fails, as in Genesys.
    let b = env
        .ok(
            Method::POST,
            "/api/v2/integrations/actions",
            Some(action(
                &int,
                &format!("{base}/x"),
                r#"{ "queueId": "${queueId}" }"#,
                json!({"queueId": "$.queue.id"}),
                json!({"type": "object"}),
            )),
        )
        .await;
    let (s, e) = env
        .call(
            Method::POST,
            &format!(
                "/api/v2/integrations/actions/{}/execute",
                b["id"].as_str().unwrap()
            ),
            Some(json!({})),
        )
        .await;
    assert_eq!(s, 400, "{e}");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("does not render JSON"),
        "{e}"
    );
    // GET: contract only with expand=contract (flattened with flatten=true), config only
    // with includeConfig=true.
    let plain = env
        .ok(
            Method::GET,
            &format!("/api/v2/integrations/actions/{id}"),
            None,
        )
        .await;
    assert!(
        plain.get("contract").is_none() && plain.get("config").is_none(),
        "{plain}"
    );
    let full = env
        .ok(
            Method::GET,
            &format!(
                "/api/v2/integrations/actions/{id}?expand=contract&flatten=true&includeConfig=true"
            ),
            None,
        )
        .await;
    assert_eq!(
        full["contract"]["output"]["successSchemaFlattened"]["properties"]["agents.id"]["type"],
        "array"
    );
    assert!(full["config"]["request"].is_object());
    env.emu.shutdown().await;
}

#[tokio::test]
async fn data_action_drafts_publish_patch_delete_and_integration_checks() {
    let env = Env::start(EmulatorConfig::default()).await;
    let base = service(json!({"n": 1})).await;
    let body = |int: &str| {
        action(
            int,
            &format!("{base}/n"),
            "${rawResult}",
            json!({}),
            json!({"type": "object", "properties": {"n": {"type": "integer"}}}),
        )
    };
    // Unknown integration, or one that holds no data actions: 400.
    let (s, e) = env
        .call(
            Method::POST,
            "/api/v2/integrations/actions",
            Some(body("nope")),
        )
        .await;
    assert_eq!(s, 400);
    assert!(e["message"].as_str().unwrap().contains("nope"), "{e}");
    let other = env
        .ok(
            Method::POST,
            "/api/v2/integrations",
            Some(json!({"name": "app", "integrationType": {"id": "embedded-client-app"}})),
        )
        .await;
    let (s, _) = env
        .call(
            Method::POST,
            "/api/v2/integrations/actions/drafts",
            Some(body(other["id"].as_str().unwrap())),
        )
        .await;
    assert_eq!(s, 400);
    let (s, e) = env
        .call(
            Method::POST,
            "/api/v2/integrations/actions",
            Some(json!({"name": "x", "category": "c", "integrationId": "i", "colour": 1})),
        )
        .await;
    assert_eq!(
        (s.as_u16(), e["details"][0]["fieldName"].as_str()),
        (400, Some("colour"))
    );

    let int = integration(&env).await;
    let a = "/api/v2/integrations/actions";
    let draft = env
        .ok(Method::POST, &format!("{a}/drafts"), Some(body(&int)))
        .await;
    let id = draft["id"].as_str().unwrap().to_owned();
    let (s, _) = env.call(Method::GET, &format!("{a}/{id}"), None).await;
    assert_eq!(s, 404, "a draft is not published");
    let (s, _) = env
        .call(Method::POST, &format!("{a}/{id}/execute"), Some(json!({})))
        .await;
    assert_eq!(s, 404);
    let test = env
        .ok(
            Method::POST,
            &format!("{a}/{id}/draft/test"),
            Some(json!({})),
        )
        .await;
    assert_eq!(test["success"], true, "{test}");
    let patched = env
        .ok(
            Method::PATCH,
            &format!("{a}/{id}/draft"),
            Some(json!({"name": "Renamed", "version": 1})),
        )
        .await;
    assert_eq!(patched["version"], 2);
    let (s, _) = env
        .call(
            Method::POST,
            &format!("{a}/{id}/draft/publish"),
            Some(json!({"version": 1})),
        )
        .await;
    assert_eq!(s, 409, "publishing needs the draft's current version");
    let published = env
        .ok(
            Method::POST,
            &format!("{a}/{id}/draft/publish"),
            Some(json!({"version": 2})),
        )
        .await;
    assert_eq!(
        (published["version"].as_i64(), published["name"].as_str()),
        (Some(1), Some("Renamed"))
    );
    let (s, _) = env
        .call(Method::GET, &format!("{a}/{id}/draft"), None)
        .await;
    assert_eq!(s, 404, "publishing consumes the draft");
    env.ok(Method::POST, &format!("{a}/{id}/execute"), Some(json!({})))
        .await;

    // PATCH a published action: version must match; the contract is not a field of it.
    let (s, _) = env
        .call(
            Method::PATCH,
            &format!("{a}/{id}"),
            Some(json!({"name": "Again", "version": 7})),
        )
        .await;
    assert_eq!(s, 409);
    let (s, _) = env
        .call(
            Method::PATCH,
            &format!("{a}/{id}"),
            Some(json!({"contract": {}, "version": 1})),
        )
        .await;
    assert_eq!(s, 400);
    let v2 = env
        .ok(
            Method::PATCH,
            &format!("{a}/{id}"),
            Some(json!({"name": "Again", "version": 1})),
        )
        .await;
    assert_eq!(v2["version"], 2);
    // A draft of a published action; one at a time; published again as version 3.
    let d = env.ok(Method::POST, &format!("{a}/{id}/draft"), None).await;
    let (s, _) = env
        .call(Method::POST, &format!("{a}/{id}/draft"), None)
        .await;
    assert_eq!(s, 409);
    let v3 = env
        .ok(
            Method::POST,
            &format!("{a}/{id}/draft/publish"),
            Some(json!({"version": d["version"]})),
        )
        .await;
    assert_eq!(v3["version"], 3);
    let listing = env
        .ok(Method::GET, &format!("{a}?category=tests"), None)
        .await;
    assert_eq!(listing["total"], 1);
    env.ok(Method::DELETE, &format!("{a}/{id}"), None).await;
    let (s, _) = env.call(Method::GET, &format!("{a}/{id}"), None).await;
    assert_eq!(s, 404);
    env.emu.shutdown().await;
}
