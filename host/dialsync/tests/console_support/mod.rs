//! Shared harness for the console's browser tests: headless Chromium driven through
//! WebDriver (Debian's `chromium` + `chromium-driver`; chromedriver is started on a free
//! loopback port), axe-core injected into pages for the accessibility check (npm package
//! `axe-core`, installed by `.ci/install-axe`), keyboard-only input, a `dialsync serve`
//! over the emulator with a `lab` source that can be restarted on the same address and
//! home, and a real dead letter made before the server starts.

#![allow(dead_code)] // each test binary uses a different part of the harness

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dialsync::config::Config;
use dialsync::plugin_registry::Registry;
use dialsync::server::{self, AppState};
use dialsync::sync::{Change, Engine, EngineOptions, Operation, Phone, RetryRules};
use dialsync_emulator::{
    FixtureCampaign, FixtureContact, FixtureContactList, Fixtures, PhoneColumn, RunningEmulator,
};
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::server_support::*;

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The source the browser tests swap plugins on.
pub const LAB: &str = "lab";
pub const LAB_LIST: &str = "list-lab";
/// The record the dialer holds while the harness starts: it ends dead-lettered.
pub const LOCKED: &str = "LOCKED-1";
/// Laptop and phone viewports for screenshots.
pub const LAPTOP: (u32, u32) = (1366, 900);
pub const PHONE: (u32, u32) = (390, 844);

/// Config for the `lab` source (custom-crm at start, bearer-signed webhooks).
pub fn lab_config() -> String {
    format!(
        r#"
[sources.{LAB}]
plugin = "custom-crm"
org = "acme"
contact_list_id = "{LAB_LIST}"
[sources.{LAB}.auth]
scheme = "bearer"
secret_env = "{SN_TOKEN_ENV}"
"#
    )
}

/// A headless Chromium session through a chromedriver this harness started.
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn require(path: &str, package: &str) {
    assert!(
        Path::new(path).exists(),
        "{path} is missing: the console's browser tests need Debian's `chromium` and \
         `chromium-driver` packages (apt-get install -y chromium chromium-driver; \
         missing package: {package})"
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Browser {
    /// Starts chromedriver and a fresh headless Chromium profile at the laptop size.
    pub async fn start() -> Browser {
        require(CHROMIUM, "chromium");
        require(CHROMEDRIVER, "chromium-driver");
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let profile = tempfile::tempdir().unwrap();
        let http = reqwest::Client::new();
        let status = format!("http://127.0.0.1:{port}/status");
        let started = Instant::now();
        while http.get(&status).send().await.is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "chromedriver did not answer on port {port} within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([
            format!("--user-data-dir={}", profile.path().display()),
            format!("--window-size={},{}", LAPTOP.0, LAPTOP.1),
        ])
        .collect::<Vec<_>>();
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
        });
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps.as_object().unwrap().clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a Chromium session starts");
        Browser {
            client,
            driver,
            _profile: profile,
        }
    }

    /// Waits (bounded) for an element.
    pub async fn wait(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(60))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css} did not appear within 60 s: {e}"))
    }

    /// Clicks the element, retrying (bounded) while it is missing or re-rendered.
    pub async fn click(&self, css: &str) {
        let started = Instant::now();
        loop {
            let clicked = match self.client.find(Locator::Css(css)).await {
                Ok(el) => el.click().await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match clicked {
                Ok(()) => return,
                Err(e) if started.elapsed() > Duration::from_secs(60) => {
                    panic!("could not click {css} within 60 s: {e}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    /// Waits (bounded) until the element's text contains `needle`; returns the text.
    pub async fn wait_text(&self, css: &str, needle: &str) -> String {
        let started = Instant::now();
        loop {
            if let Ok(el) = self.client.find(Locator::Css(css)).await
                && let Ok(text) = el.text().await
                && text.contains(needle)
            {
                return text;
            }
            if started.elapsed() > Duration::from_secs(60) {
                let text = match self.client.find(Locator::Css(css)).await {
                    Ok(el) => el.text().await.unwrap_or_default(),
                    Err(_) => "(no such element)".into(),
                };
                panic!("{css} did not show {needle:?} within 60 s; it shows {text:?}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Screenshots the current page at laptop and phone width into
    /// `target/console-screenshots/{name}-{laptop,phone}.png`, then returns to laptop.
    pub async fn screenshots(&self, name: &str) {
        self.js("window.scrollTo(0, 0); return 0").await;
        self.screenshots_here(name).await;
    }

    /// Like [`Browser::screenshots`], keeping the current scroll position.
    pub async fn screenshots_here(&self, name: &str) {
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).unwrap();
        for (label, (w, h)) in [("laptop", LAPTOP), ("phone", PHONE)] {
            // The window size includes the browser's frame: grow it until the viewport
            // (what the page sees) is w × h.
            self.client.set_window_size(w, h).await.unwrap();
            let inner = self
                .js("return [window.innerWidth, window.innerHeight]")
                .await;
            let (iw, ih) = (
                inner[0].as_u64().unwrap_or(0) as u32,
                inner[1].as_u64().unwrap_or(0) as u32,
            );
            if (iw, ih) != (w, h) {
                let (fw, fh) = ((w + w).saturating_sub(iw), (h + h).saturating_sub(ih));
                self.client.set_window_size(fw, fh).await.unwrap();
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
            let png = self.client.screenshot().await.unwrap();
            std::fs::write(dir.join(format!("{name}-{label}.png")), png).unwrap();
        }
        self.client
            .set_window_size(LAPTOP.0, LAPTOP.1)
            .await
            .unwrap();
    }

    /// Runs axe-core on the current page for the WCAG 2.0/2.1 A and AA rules and fails
    /// listing every violation (rule, impact, help and the elements) when there is one.
    pub async fn assert_accessible(&self, page: &str) {
        let loaded = self.js("return typeof window.axe").await;
        if loaded != json!("object") {
            // WebDriver scripts are not subject to the page's CSP (script-src 'self').
            self.js(&format!("{}\nreturn 0;", axe_source())).await;
        }
        let result = self
            .client
            .execute_async(
                r#"const done = arguments[arguments.length - 1];
axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}, resultTypes: ["violations"]})
  .then((r) => done({violations: r.violations.map((v) => ({id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.map((n) => n.target.join(" ") + " — " + n.failureSummary)})), passes: r.passes.length}))
  .catch((e) => done({error: String(e)}));"#,
                vec![],
            )
            .await
            .unwrap();
        assert!(
            result["error"].is_null(),
            "axe-core failed on {page}: {result}"
        );
        let violations = result["violations"].as_array().cloned().unwrap_or_default();
        assert!(
            violations.is_empty(),
            "axe-core: {} WCAG 2 A/AA violation(s) on the {page} page:\n{}",
            violations.len(),
            serde_json::to_string_pretty(&violations).unwrap()
        );
        assert!(
            result["passes"].as_u64().unwrap_or(0) > 0,
            "axe-core checked nothing on {page}"
        );
    }

    /// Presses and releases `keys` in order, as a keyboard would, on whatever has focus.
    pub async fn press(&self, keys: &[char]) {
        let mut actions = KeyActions::new("keyboard".into());
        for &k in keys {
            actions = actions
                .then(KeyAction::Down { value: k })
                .then(KeyAction::Up { value: k });
        }
        self.client.perform_actions(actions).await.unwrap();
    }

    /// Types `text` on the keyboard into whatever has focus.
    pub async fn type_text(&self, text: &str) {
        self.press(&text.chars().collect::<Vec<_>>()).await;
    }

    /// Moves focus with Tab (or Shift+Tab when `back`), at most `max` times, until the
    /// focused element matches `css`; fails naming what had focus.
    pub async fn tab_to(&self, css: &str, back: bool, max: usize) {
        let focused = format!(
            "return document.activeElement && document.activeElement.matches({:?})",
            css
        );
        for _ in 0..max {
            if self.js(&focused).await == json!(true) {
                return;
            }
            if back {
                let mut shift_tab = KeyActions::new("keyboard".into());
                for action in [
                    KeyAction::Down {
                        value: Key::Shift.into(),
                    },
                    KeyAction::Down {
                        value: Key::Tab.into(),
                    },
                    KeyAction::Up {
                        value: Key::Tab.into(),
                    },
                    KeyAction::Up {
                        value: Key::Shift.into(),
                    },
                ] {
                    shift_tab = shift_tab.then(action);
                }
                self.client.perform_actions(shift_tab).await.unwrap();
            } else {
                self.press(&[Key::Tab.into()]).await;
            }
        }
        let now = self
            .js("const a = document.activeElement; return a ? a.outerHTML.slice(0, 120) : null")
            .await;
        panic!("{css} not reached with {max} Tab presses; focus is on {now}");
    }

    /// Runs `script` (a function body) in the page and returns its value.
    pub async fn js(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.unwrap()
    }
}

/// axe-core's browser build, from where `.ci/install-axe` puts it (`.toolchains/axe`, or
/// under `$DIALSYNC_PLUGIN_TOOLCHAINS`); fails naming the npm package when it is missing.
pub fn axe_source() -> &'static str {
    static AXE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    AXE.get_or_init(|| {
        let root = std::env::var_os("DIALSYNC_PLUGIN_TOOLCHAINS")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../..")
                    .join(".toolchains")
            });
        let file = root.join("axe/node_modules/axe-core/axe.min.js");
        std::fs::read_to_string(&file).unwrap_or_else(|e| {
            panic!(
                "{}: {e}: the console's accessibility check needs the npm package `axe-core` \
                 (4.14.1, pinned in .ci/axe/package-lock.json): run .ci/install-axe",
                file.display()
            )
        })
    })
}

/// `target/console-screenshots` of the target dir this test binary was built in.
pub fn screenshot_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test binary>
    exe.ancestors()
        .nth(3)
        .expect("the test binary lives in target/<profile>/deps")
        .join("console-screenshots")
}

/// A `dialsync serve` with the `lab` source (and `extra` TOML), over an emulator.
pub struct Lab {
    pub emulator: RunningEmulator,
    pub dir: tempfile::TempDir,
    /// The `dialsync.toml` the server runs with.
    pub config_path: PathBuf,
    pub addr: std::net::SocketAddr,
    pub state: Arc<AppState>,
    pub http: reqwest::Client,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<ServerTask>,
}

fn lab_fixtures() -> Fixtures {
    let phone = |c: &str| PhoneColumn {
        column_name: c.into(),
        kind: Some("cell".into()),
        callable_time_column: None,
    };
    let locked = FixtureContact {
        id: Some(dialsync::sync::contact_id(LAB_LIST, LOCKED)),
        data: [
            ("externalId", LOCKED),
            ("name", "held by the dialer"),
            ("phone", "+14155550111"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
        callable: Some(true),
    };
    Fixtures {
        contact_lists: vec![FixtureContactList {
            id: Some(LAB_LIST.into()),
            name: "lab contacts".into(),
            column_names: [
                "externalId",
                "firstName",
                "lastName",
                "email",
                "name",
                "phone",
                "mobile",
            ]
            .map(String::from)
            .to_vec(),
            phone_columns: vec![phone("phone"), phone("mobile")],
            contacts: vec![locked],
        }],
        campaigns: vec![FixtureCampaign {
            id: Some("camp-lab".into()),
            name: "Lab renewals".into(),
            contact_list_id: LAB_LIST.into(),
            campaign_status: Some("on".into()),
            dnc_list_ids: vec![],
            outbound_line_count: Some(5),
            dialing_mode: None,
        }],
        ..Fixtures::default()
    }
}

impl Lab {
    /// Emulator + config + journal with one dead letter (the dialer held [`LOCKED`] for
    /// every attempt of a quick-retrying engine) + server.
    pub async fn start(extra: &str) -> Lab {
        set_env();
        let emulator = start_emulator().await;
        emulator.load_fixtures(&lab_fixtures()).unwrap();
        let dir = tempfile::tempdir().expect("tempdir");
        let config_path = write_config(
            dir.path(),
            &emulator.base_url(),
            &format!("{}{extra}", lab_config()),
        );
        let config = Config::load(&config_path).expect("config loads");

        // A real dead letter: the emulator's dialer holds the contact (409 on every write)
        // and an engine with quick retries gives up after two attempts.
        let mut emu = emulator.emulator().config();
        emu.dialer_lock_rate = 1.0;
        emulator.set_config(emu.clone());
        {
            let (bindings, _) = dialsync::sync::bindings_from_config(&config).unwrap();
            let options = EngineOptions {
                retry: RetryRules {
                    max_attempts: 2,
                    base_delay: Duration::from_millis(10),
                    max_delay: Duration::from_millis(50),
                    per_call: 50,
                    concurrent_batches: 1,
                },
                keys_per_round: 50,
                ..EngineOptions::default()
            };
            let engine = Engine::open(&config.store.path, bindings, options).unwrap();
            engine
                .accept(LAB, vec![locked_change()])
                .await
                .expect("accepted");
            tokio::time::timeout(Duration::from_secs(60), engine.run_until_idle())
                .await
                .expect("the dead letter is made within 60 s")
                .unwrap();
            let letters = engine.dead_letters().await.unwrap();
            assert_eq!(letters.len(), 1, "one dead letter: {letters:?}");
        }
        emu.dialer_lock_rate = 0.0;
        emulator.set_config(emu);

        let state = AppState::build(&config, Registry::new(&dir.path().join("home")))
            .await
            .expect("server state builds");
        create_lists(&emulator, &state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, server) = serve_on(state.clone(), listener);
        Lab {
            emulator,
            dir,
            config_path,
            addr,
            state,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            shutdown: Some(tx),
            server: Some(server),
        }
    }

    /// Stops the server (graceful) and starts a new one from `dialsync.toml` (as it is
    /// now) on the same address, journal and home — a restart. Sessions end with it.
    pub async fn restart(&mut self) {
        self.stop_server().await;
        let config = Config::load(&self.config_path).expect("config loads");
        self.state = AppState::build(&config, Registry::new(&self.dir.path().join("home")))
            .await
            .expect("server state builds again");
        let listener = tokio::net::TcpListener::bind(self.addr)
            .await
            .expect("the same address is free again");
        let (tx, server) = serve_on(self.state.clone(), listener);
        self.shutdown = Some(tx);
        self.server = Some(server);
    }

    async fn stop_server(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Posts a record to the `lab` source's webhook; returns the status.
    pub async fn webhook(&self, record: &Value) -> u16 {
        self.http
            .post(self.url(&format!("/v1/sources/{LAB}/events")))
            .bearer_auth(SN_TOKEN)
            .json(record)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// Like [`Lab::webhook`], with the answer's body.
    pub async fn webhook_answer(&self, record: &Value) -> (u16, Value) {
        let resp = self
            .http
            .post(self.url(&format!("/v1/sources/{LAB}/events")))
            .bearer_auth(SN_TOKEN)
            .json(record)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Waits (bounded) until the workers have finished every accepted change.
    pub async fn wait_idle(&self) {
        for _ in 0..1200 {
            let left = self
                .state
                .engine
                .with_journal(|j| j.unfinished())
                .await
                .unwrap();
            if left == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the journal did not drain within 60 s");
    }

    /// Logs in over plain HTTP; returns the cookie header value and the CSRF token.
    pub async fn login(&self) -> (String, String) {
        let resp = self
            .http
            .post(self.url("/console/login"))
            .form(&[("token", ADMIN_TOKEN)])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 303);
        let set_cookie = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
        for attr in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
            assert!(set_cookie.contains(attr), "{set_cookie}");
        }
        assert!(
            !set_cookie.contains(ADMIN_TOKEN),
            "the cookie is not the token"
        );
        let cookie = set_cookie.split(';').next().unwrap().to_owned();
        let page = self
            .http
            .get(self.url("/console"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let csrf = page
            .split(r#"<meta name="csrf-token" content=""#)
            .nth(1)
            .and_then(|s| s.split('"').next())
            .expect("the app page carries the CSRF token")
            .to_owned();
        (cookie, csrf)
    }

    /// Stops the server (graceful) and the emulator.
    pub async fn stop(mut self) {
        self.stop_server().await;
        self.emulator.shutdown().await;
    }
}

type ServerTask = tokio::task::JoinHandle<std::io::Result<()>>;

/// `dialsync serve` on `listener` until the returned sender fires.
fn serve_on(
    state: Arc<AppState>,
    listener: tokio::net::TcpListener,
) -> (tokio::sync::oneshot::Sender<()>, ServerTask) {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(server::serve(state, listener, async {
        let _ = rx.await;
    }));
    (tx, server)
}

/// The change the dialer holds: a rename of [`LOCKED`].
pub fn locked_change() -> Change {
    Change {
        external_id: LOCKED.into(),
        source_id: "L-1".into(),
        source_updated_at: chrono::Utc::now(),
        operation: Operation::Upsert,
        partial: false,
        columns: [("name".to_string(), "renamed after replay".to_string())].into(),
        phones: vec![Phone {
            column: "phone".into(),
            number: "+14155550111".into(),
        }],
        callable: None,
    }
}
