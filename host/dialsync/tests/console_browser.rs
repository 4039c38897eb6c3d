//! The admin console in a real headless Chromium (WebDriver): log in (a wrong token is
//! refused), upload a plugin, try it on a sample with a rejected record and see the field
//! error marked, hot-swap it onto a source and see new webhooks mapped by it, roll back,
//! find a record's history, replay a dead letter and see it applied in the emulator,
//! copy the data actions, dry-run and install them into the emulator, log out; restart the
//! server and, with the keyboard only, log in and reach every page, which still show the
//! swap history and the last install — and cross-site writes refused. axe-core checks
//! every page for WCAG 2 A/AA violations. Swaps survive restarts (roll back to a removed
//! plugin's stored component; `dialsync.toml` wins when it changes). Screenshots of every
//! page at laptop and phone width go to `target/console-screenshots/`.

mod console_support;
mod server_support;

use std::time::Duration;

use console_support::*;
use dialsync::server::export::CATEGORY;
use fantoccini::Locator;
use fantoccini::key::Key;
use serde_json::{Value, json};
use server_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_in_a_real_browser() {
    let mut lab = Lab::start("").await;
    let browser = Browser::start().await;
    let b = &browser;
    let c = &browser.client;

    // Not logged in: the app sends the browser to the login form.
    c.goto(&lab.url("/console")).await.unwrap();
    b.wait("#login-form").await;
    assert!(
        c.current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/console/login")
    );
    b.screenshots("login").await;
    b.assert_accessible("login").await;

    // A wrong token is refused: the form again, with the reason, and no session.
    b.wait("#token")
        .await
        .send_keys("not-the-token")
        .await
        .unwrap();
    b.click("#login-submit").await;
    let error = b.wait_text("#login-error", "Wrong admin token").await;
    assert!(!error.contains(ADMIN_TOKEN));
    b.assert_accessible("login (wrong token)").await;
    c.goto(&lab.url("/console")).await.unwrap();
    b.wait("#login-form").await;

    // The right token: the overview, refreshed live.
    b.wait("#token").await.send_keys(ADMIN_TOKEN).await.unwrap();
    b.click("#login-submit").await;
    b.wait_text("#overview-status", "Updated").await;
    let cookie_seen_by_js = b.js("return document.cookie").await;
    assert!(
        !cookie_seen_by_js
            .as_str()
            .unwrap()
            .contains("dialsync_console"),
        "the session cookie is HttpOnly"
    );
    b.wait_text("#sources-table", LAB).await;

    // Plugins: upload the hostile test plugin (a real component, not bundled).
    let wasm = lab.dir.path().join("hostile.wasm");
    std::fs::write(&wasm, dialsync_bundled_plugins::testing::HOSTILE).unwrap();
    c.goto(&lab.url("/console#plugins")).await.unwrap();
    b.wait_text("#plugins-table", "custom-crm").await;
    b.wait("#upload-file")
        .await
        .send_keys(wasm.to_str().unwrap())
        .await
        .unwrap();
    b.click("#upload-submit").await;
    b.wait_text("#upload-result", "Installed hostile 0.1.0")
        .await;
    b.wait_text("#plugins-table", "hostile").await;

    // Try it on a sample: one change, one rejected with the field error marked.
    b.wait("#test-plugin")
        .await
        .select_by_value("hostile")
        .await
        .unwrap();
    let sample = r#"[{"mode": "ok", "id": "7"}, {"mode": "bogus", "id": "8"}]"#;
    let area = b.wait("#test-sample").await;
    area.clear().await.unwrap();
    area.send_keys(sample).await.unwrap();
    b.click("#test-submit").await;
    b.wait("#test-table").await;
    let change = b
        .wait_text("#test-table tr[data-outcome='change']", "h_7")
        .await;
    assert!(change.contains("Hostile 7"), "{change}");
    let reject = b
        .wait_text("#test-table tr[data-outcome='reject']", "/mode")
        .await;
    assert!(reject.contains("unknown mode"), "{reject}");
    let marked = c
        .find(Locator::Css("#test-table tr[data-outcome='reject'] mark"))
        .await
        .unwrap();
    assert_eq!(marked.text().await.unwrap(), r#""mode": "bogus""#);
    assert_eq!(
        marked.attr("title").await.unwrap().as_deref(),
        Some("field error at /mode")
    );
    b.screenshots("plugins").await;
    b.assert_accessible("plugins (a test result)").await;
    b.js("document.querySelector(\"#test-table tr[data-outcome='reject']\").scrollIntoView(); return 0")
        .await;
    b.screenshots_here("plugins-test").await;

    // Hot-swap the lab source onto it; new webhooks are mapped by it.
    let swap_select = format!("#swap-{LAB}");
    b.wait(&swap_select)
        .await
        .select_by_value("hostile")
        .await
        .unwrap();
    b.click(&format!("tr[data-source='{LAB}'] .swap-btn")).await;
    b.wait_text("#swap-result", "swapped custom-crm@").await;
    b.wait_text(&format!("tr[data-source='{LAB}']"), "hostile@0.1.0")
        .await;
    // With a phone: a never-synced record without one is skipped (`no_phone`).
    assert_eq!(
        lab.webhook(&json!({"mode": "phone", "id": "42", "raw": "(415) 555-0142"}))
            .await,
        202
    );
    lab.wait_idle().await;
    let contacts = contacts_by_external_id(&lab.emulator, LAB_LIST);
    assert_eq!(contacts["h_42"].data["name"], "Hostile 42");

    // Records: the swapped-in plugin's contact, its history and its Genesys row.
    c.goto(&lab.url("/console#records")).await.unwrap();
    b.wait("#records-q").await.send_keys("h_42").await.unwrap();
    b.click("#records-submit").await;
    let card = b
        .wait_text(
            "article.contact[data-external-id='h_42']",
            "History (1 changes)",
        )
        .await;
    assert!(card.contains("applied"), "{card}");
    assert!(card.contains(LAB), "{card}");
    b.wait_text("article.contact .genesys-now", "Hostile 42")
        .await;
    b.screenshots("records").await;
    b.assert_accessible("records (a contact's history)").await;

    // Roll back: the source runs custom-crm again and maps its records again.
    c.goto(&lab.url("/console#plugins")).await.unwrap();
    b.wait_text(&format!("tr[data-source='{LAB}']"), "→ hostile@0.1.0")
        .await;
    b.click(&format!("tr[data-source='{LAB}'] .rollback-btn"))
        .await;
    b.wait_text("#swap-result", "rolled back hostile@0.1.0 → custom-crm@")
        .await;
    let mut crm = fixture_records("custom-crm")[0].clone();
    crm["id"] = json!("R1");
    crm["last_name"] = json!("Back");
    let (status, answer) = lab.webhook_answer(&crm).await;
    assert_eq!(status, 202, "{answer}");
    lab.wait_idle().await;
    let contacts = contacts_by_external_id(&lab.emulator, LAB_LIST);
    assert_eq!(contacts["crm_R1"].data["lastName"], "Back");

    // Dead letters: the record the dialer held, replayed → applied in the emulator.
    c.goto(&lab.url("/console#deadletters")).await.unwrap();
    let row = b.wait_text("#dl-table tbody", LOCKED).await;
    assert!(
        row.contains("409") || row.to_lowercase().contains("in use"),
        "{row}"
    );
    b.screenshots("deadletters").await;
    b.assert_accessible("dead letters").await;
    b.click("#dl-table .replay-one").await;
    b.wait_text("#dl-result", "Replayed 1 dead letter").await;
    b.wait_text("#replay-outcomes", "applied").await;
    let contacts = contacts_by_external_id(&lab.emulator, LAB_LIST);
    assert_eq!(contacts[LOCKED].data["name"], "renamed after replay");
    assert!(lab.state.engine.dead_letters().await.unwrap().is_empty());

    // The overview after all that: activity, the org's token, the chart.
    c.goto(&lab.url("/console#overview")).await.unwrap();
    b.wait_text("#org-cards", "token valid").await;
    let org = b.wait_text("#org-cards", "Rate budget").await;
    assert!(org.contains("req/min"), "{org}");
    b.screenshots("overview").await;
    b.assert_accessible("overview").await;

    // Data actions: the exported definitions.
    c.goto(&lab.url("/console#actions")).await.unwrap();
    let action = b
        .wait_text("article[data-action='sync-record']", "Download .json")
        .await;
    assert!(action.contains("sync-record"), "{action}");

    // Install them into the emulator: a dry run plans a create per action, the install
    // creates them, a second dry run finds everything unchanged.
    let wanted = b
        .js("return document.querySelectorAll('#actions-list article[data-action]').length")
        .await
        .as_u64()
        .unwrap();
    assert!(wanted >= 3, "{wanted} actions");
    b.wait_text("#install-last", "No install or dry run").await;
    b.click("#install-dry-run").await;
    b.wait_text("#install-result", "would create").await;
    assert_eq!(
        install_rows(b, "created").await,
        wanted,
        "a create planned per action"
    );
    let client = &lab.state.clients["acme"];
    assert!(
        client.list_actions(CATEGORY).await.unwrap().is_empty(),
        "a dry run writes nothing"
    );
    b.click("#install-run").await;
    let result = b
        .wait_text("#install-result [data-kind='install']", "API requests")
        .await;
    assert!(!result.contains("failed"), "{result}");
    assert_eq!(install_rows(b, "created").await, wanted, "{result}");
    let installed = client.list_actions(CATEGORY).await.unwrap();
    assert_eq!(
        installed.len() as u64,
        wanted,
        "the actions exist in the emulator"
    );
    assert!(installed.iter().all(|a| a.name.starts_with("dialsync ")));
    b.click("#install-dry-run").await;
    b.wait_text("#install-result [data-kind='dry-run']", "API requests")
        .await;
    assert_eq!(
        install_rows(b, "unchanged").await,
        wanted,
        "nothing left to do"
    );
    b.wait_text("#install-last", "Last install").await;
    b.screenshots("actions").await;
    b.assert_accessible("data actions (an install)").await;

    // Log out: the session is gone server-side.
    b.click(".logout button").await;
    b.wait("#login-form").await;
    let status = b
        .js("const r = new XMLHttpRequest(); r.open('GET', '/console/api/overview', false); r.send(); return r.status;")
        .await;
    assert_eq!(status, json!(401));

    // Restart: sessions end; swaps and installs are kept. With the keyboard only: log in
    // (the token field has focus), then reach every page through the navigation.
    lab.restart().await;
    c.goto(&lab.url("/console")).await.unwrap();
    b.wait("#login-form").await;
    b.type_text(ADMIN_TOKEN).await;
    b.press(&[Key::Enter.into()]).await;
    b.wait_text("#overview-status", "Updated").await;
    for (i, page) in ["plugins", "records", "deadletters", "actions", "overview"]
        .into_iter()
        .enumerate()
    {
        let link = format!("nav a[data-page='{page}']");
        b.tab_to(&link, i > 0, 40).await;
        let outline = b
            .js("return getComputedStyle(document.activeElement).outlineStyle")
            .await;
        assert_ne!(
            outline,
            json!("none"),
            "the focused {page} link shows its focus"
        );
        b.press(&[Key::Enter.into()]).await;
        let shown = format!("return !document.querySelector('#page-{page}').hidden");
        for _ in 0..100 {
            if b.js(&shown).await == json!(true) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            b.js(&shown).await,
            json!(true),
            "Enter on the {page} link shows it"
        );
        match page {
            "plugins" => {
                let history = b
                    .wait_text(
                        &format!("tr[data-source='{LAB}']"),
                        "rollback hostile@0.1.0",
                    )
                    .await;
                assert!(history.contains("swap custom-crm@"), "{history}");
            }
            "actions" => {
                let last = b.wait_text("#install-last", "Last install").await;
                assert!(last.contains("Last dry run"), "{last}");
                assert_eq!(install_rows(b, "created").await, wanted, "the install kept");
            }
            _ => {}
        }
    }

    browser.client.clone().close().await.unwrap();
    drop(browser);
    lab.stop().await;
}

/// Rows of the shown install results (the newest run's table) with this outcome.
async fn install_rows(b: &Browser, outcome: &str) -> u64 {
    b.js(&format!(
        "const t = document.querySelector('#install-result table, #install-last table'); \
         return t ? t.querySelectorAll(\"tr[data-outcome='{outcome}']\").length : 0"
    ))
    .await
    .as_u64()
    .unwrap()
}

/// The `lab` source in a `GET /console/api/plugins` answer.
fn lab_source(plugins: &Value) -> &Value {
    plugins["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == LAB)
        .unwrap_or_else(|| panic!("no {LAB} source in {plugins}"))
}

/// Swaps survive a restart: the plugin a swap left running runs again, the history is
/// kept, and a roll back after the restart loads the previous plugin's stored component
/// even though that plugin was removed from the registry meanwhile. When `dialsync.toml`
/// names another plugin for the source, it wins at the next start (a `reset` entry).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swaps_survive_restarts_until_the_config_changes() {
    let mut lab = Lab::start("").await;
    let (cookie, csrf) = lab.login().await;
    let post = |path: &str, body: reqwest::Body, content_type: &str| {
        lab.http
            .post(lab.url(path))
            .header("cookie", &cookie)
            .header("x-csrf-token", &csrf)
            .header("content-type", content_type)
            .body(body)
    };
    let resp = post(
        "/console/api/plugins",
        dialsync_bundled_plugins::testing::HOSTILE.to_vec().into(),
        "application/wasm",
    )
    .send()
    .await
    .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    for plugin in ["hostile", "custom-crm"] {
        let resp = post(
            &format!("/console/api/sources/{LAB}/plugin"),
            json!({ "plugin": plugin }).to_string().into(),
            "application/json",
        )
        .send()
        .await
        .unwrap();
        assert_eq!(
            resp.status().as_u16(),
            200,
            "{}",
            resp.text().await.unwrap()
        );
    }
    // The installed plugin goes; its component stays kept for the roll back.
    lab.state.registry.remove("hostile").unwrap();

    lab.restart().await;
    let (cookie, csrf) = lab.login().await;
    let plugins: Value = lab
        .http
        .get(lab.url("/console/api/plugins"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let source = lab_source(&plugins);
    assert!(
        source["plugin"]["id"]
            .as_str()
            .unwrap()
            .starts_with("custom-crm@"),
        "{source}"
    );
    let kinds: Vec<&str> = source["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["swap", "swap"], "{source}");
    assert_eq!(source["canRollBack"], true);
    let resp = lab
        .http
        .post(lab.url(&format!("/console/api/sources/{LAB}/rollback")))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["swap"]["to"]["id"], "hostile@0.1.0", "{answer}");
    assert_eq!(
        lab.webhook(&json!({"mode": "phone", "id": "43", "raw": "(415) 555-0143"}))
            .await,
        202
    );
    lab.wait_idle().await;
    let contacts = contacts_by_external_id(&lab.emulator, LAB_LIST);
    assert_eq!(
        contacts["h_43"].data["name"], "Hostile 43",
        "mapped by the stored hostile"
    );

    // dialsync.toml now names the plugin by path: it applies at the next start.
    let wasm = lab.dir.path().join("custom-crm.wasm");
    std::fs::write(
        &wasm,
        dialsync_bundled_plugins::by_name("custom-crm").unwrap(),
    )
    .unwrap();
    let toml = std::fs::read_to_string(&lab.config_path).unwrap();
    let changed = toml.replace(
        "plugin = \"custom-crm\"",
        &format!("plugin = {:?}", wasm.to_str().unwrap()),
    );
    assert_ne!(toml, changed);
    std::fs::write(&lab.config_path, changed).unwrap();
    lab.restart().await;
    let slot = lab.state.sources[LAB].plugin();
    assert!(slot.plugin.info().id().starts_with("custom-crm@"));
    assert_eq!(slot.reference, wasm.to_str().unwrap());
    let (cookie, _) = lab.login().await;
    let plugins: Value = lab
        .http
        .get(lab.url("/console/api/plugins"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let source = lab_source(&plugins);
    let last = source["history"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["kind"], "reset", "{source}");
    assert!(
        last["note"].as_str().unwrap().contains("dialsync.toml"),
        "{last}"
    );
    assert_eq!(source["canRollBack"], false);
    lab.stop().await;
}

/// A page on another site (`localhost` vs `127.0.0.1`) posting to the console: refused
/// in the browser (SameSite=Strict keeps the cookie home; Sec-Fetch-Site is checked),
/// and over plain HTTP a foreign Origin or a missing CSRF token is refused even with a
/// valid session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_site_writes_are_refused() {
    let lab = Lab::start("").await;
    let (cookie, csrf) = lab.login().await;
    let replay = lab.url("/console/api/deadletters/replay");

    // Over HTTP: the same session, from another origin or without the token.
    for (origin, token, expect) in [
        (Some("http://evil.example"), Some(csrf.as_str()), 403),
        (None, None, 403),
        (None, Some("0000"), 403),
    ] {
        let mut req = lab
            .http
            .post(&replay)
            .header("cookie", &cookie)
            .json(&json!({"all": true}));
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        if let Some(t) = token {
            req = req.header("x-csrf-token", t);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status().as_u16(), expect);
    }
    // Without a session at all.
    let resp = lab
        .http
        .post(&replay)
        .header("x-csrf-token", &csrf)
        .json(&json!({"all": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    assert_eq!(lab.state.engine.dead_letters().await.unwrap().len(), 1);

    // In the browser: log in, then visit an attacker page on another site.
    let attacker = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let attacker_port = attacker.local_addr().unwrap().port();
    let target = lab.addr;
    let page = format!(
        r#"<!doctype html><title>attacker</title>
<form id="replay" method="post" enctype="text/plain" action="http://{target}/console/api/deadletters/replay">
<input name='{{"all": true, "x": "' value='"}}'><button id="go-replay">replay</button></form>
<form id="login" method="post" action="http://{target}/console/login">
<input name="token" value="{ADMIN_TOKEN}"><button id="go-login">login</button></form>"#
    );
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(move || {
            let page = page.clone();
            async move { axum::response::Html(page) }
        }),
    );
    let attacker_server = tokio::spawn(async move { axum::serve(attacker, app).await });

    let browser = Browser::start().await;
    let b = &browser;
    let c = &browser.client;
    c.goto(&lab.url("/console/login")).await.unwrap();
    b.wait("#token").await.send_keys(ADMIN_TOKEN).await.unwrap();
    b.click("#login-submit").await;
    b.wait_text("#overview-status", "Updated").await;

    let evil = format!("http://localhost:{attacker_port}/");
    c.goto(&evil).await.unwrap();
    b.wait("#go-replay").await.click().await.unwrap();
    let body = b.wait_text("body", "refused").await;
    let answer: Value = serde_json::from_str(body.trim()).unwrap_or(json!(body));
    assert!(
        answer["error"] == "cross-site" || answer["error"] == "no-session",
        "{answer}"
    );
    assert_eq!(
        lab.state.engine.dead_letters().await.unwrap().len(),
        1,
        "nothing was replayed"
    );

    // A cross-site login (login CSRF) is refused too, even with the right token.
    c.goto(&evil).await.unwrap();
    b.wait("#go-login").await.click().await.unwrap();
    b.wait_text("#login-error", "Cross-site login refused")
        .await;

    browser.client.clone().close().await.unwrap();
    drop(browser);
    attacker_server.abort();
    tokio::time::sleep(Duration::from_millis(10)).await;
    lab.stop().await;
}
