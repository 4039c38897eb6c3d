//! Compatibility with real third-party clients: the official Genesys Cloud Python SDK
//! (`PureCloudPlatformClientV2` 269.0.0) and JavaScript SDK (`purecloud-platform-client-v2`
//! 262.0.0) talk to the emulator unchanged, each running `tests/sdk/scenario.{py,js}`: token,
//! contact lists, contacts add/get/update/delete, DNC, users PATCH with version and 409,
//! routing skills/languages, a data action create/execute, 429 with and without Retry-After.
//!
//! The SDKs are installed by `.ci/install-sdks` (called by `.ci/run`) into
//! `$DIALSYNC_SDK_DIR` (default `<repo>/.sdks`); nothing is downloaded here. A missing
//! runtime or SDK FAILS the test, naming what to install: this test never passes by skipping.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use dialsync_emulator::{EmulatorConfig, Stats};

/// The pinned SDKs, as `.ci/install-sdks` writes them into its `.installed` markers.
const PYTHON_SDK: &str = "PureCloudPlatformClientV2==269.0.0";
const JS_SDK: &str = "purecloud-platform-client-v2@262.0.0";

fn sdk_dir() -> PathBuf {
    std::env::var_os("DIALSYNC_SDK_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.sdks"))
}

/// Fails (never skips) unless the SDK at `dir` carries the pinned `marker`.
fn require_installed(dir: &std::path::Path, marker: &str, what: &str) {
    let found = std::fs::read_to_string(dir.join(".installed")).unwrap_or_default();
    assert_eq!(
        found.trim(),
        marker,
        "{what} is not installed at {}: run .ci/install-sdks (it installs {marker}; needs {})",
        dir.display(),
        if what.contains("Python") {
            "python3 with the venv module: apt-get install python3 python3-venv"
        } else {
            "node and npm: apt-get install nodejs npm"
        }
    );
}

fn scenario(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sdk")
        .join(name)
}

/// Runs `command` (a scenario) against a fresh emulator; returns its JSON summary and the
/// emulator's `/_emulator/stats` read over HTTP.
async fn run_scenario(mut command: Command) -> (serde_json::Value, Stats) {
    let emu = dialsync_emulator::start(
        EmulatorConfig {
            seed: 3,
            sample_org: true,
            ..Default::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .expect("start emulator");
    let base = emu.base_url();
    command.args([base.as_str(), "dialsync", "emulator-secret"]);
    let out = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .expect("run the SDK scenario");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "SDK scenario failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or("")).expect("summary line");
    let stats: Stats = reqwest::get(format!("{base}/_emulator/stats"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let state = emu.state();
    let list = state
        .contact_list(summary["listId"].as_str().unwrap())
        .expect("the SDK's list");
    assert!(list.contacts.is_empty(), "the SDK deleted its contact");
    let dnc = state
        .dnc_list(summary["dncListId"].as_str().unwrap())
        .expect("the SDK's DNC list");
    assert_eq!(dnc.phone_numbers, vec!["+14155550123".to_string()]);
    let user = state.user("00000000-0000-4000-8000-a9e470000000").unwrap();
    assert_eq!(user.user.extra["employerInfo"]["employeeType"], "Full-time");
    assert_eq!(user.skills.len(), 1);
    assert_eq!(user.languages.len(), 1);
    emu.shutdown().await;
    (summary, stats)
}

/// The requests every scenario makes, by (method, route, status).
fn expected() -> BTreeMap<(&'static str, &'static str, u16), u64> {
    let lists = "/api/v2/outbound/contactlists";
    let contacts = "/api/v2/outbound/contactlists/{contactListId}/contacts";
    let one = "/api/v2/outbound/contactlists/{contactListId}/contacts/{contactId}";
    let dnc = "/api/v2/outbound/dnclists/{dncListId}/phonenumbers";
    let user = "/api/v2/users/{userId}";
    BTreeMap::from([
        (("POST", "/oauth/token", 200), 1),
        (("POST", lists, 200), 1),
        (("GET", lists, 200), 1),
        (("POST", contacts, 200), 1),
        (("POST", contacts, 400), 1),
        (("GET", one, 200), 1),
        (("PUT", one, 200), 1),
        (("DELETE", one, 200), 1),
        (("GET", one, 404), 1),
        (("POST", "/api/v2/outbound/dnclists", 200), 1),
        (("POST", dnc, 200), 1),
        (("PATCH", dnc, 200), 1),
        (("GET", user, 200), 1),
        (("PATCH", user, 200), 1),
        (("PATCH", user, 409), 1),
        (("PUT", "/api/v2/users/{userId}/routingskills/bulk", 200), 1),
        (
            (
                "DELETE",
                "/api/v2/users/{userId}/routingskills/{skillId}",
                200,
            ),
            1,
        ),
        (("GET", "/api/v2/users/{userId}/routingskills", 200), 1),
        (
            ("PATCH", "/api/v2/users/{userId}/routinglanguages/bulk", 200),
            1,
        ),
        (
            (
                "DELETE",
                "/api/v2/users/{userId}/routinglanguages/{languageId}",
                200,
            ),
            1,
        ),
        (
            (
                "DELETE",
                "/api/v2/users/{userId}/routinglanguages/{languageId}",
                404,
            ),
            1,
        ),
        (("GET", "/api/v2/users/{userId}/routinglanguages", 200), 1),
        (("POST", "/api/v2/integrations", 200), 1),
        (("POST", "/api/v2/integrations/actions", 200), 1),
        (
            (
                "POST",
                "/api/v2/integrations/actions/{actionId}/execute",
                200,
            ),
            1,
        ),
        (("GET", "/api/v2/routing/skills", 200), 6),
    ])
}

/// Every expected counter matches, the only other requests are the skill-listing 429s (at
/// least one burst plus the five raised ones), and nothing hit an unknown route.
fn assert_counts(sdk: &str, stats: &Stats, summary: &serde_json::Value) {
    for ((method, route, status), n) in expected() {
        assert_eq!(
            stats.count(method, route, status),
            n,
            "{sdk}: {method} {route} -> {status}: {stats:#?}"
        );
    }
    let skills_429 = stats.count("GET", "/api/v2/routing/skills", 429);
    assert!(
        skills_429 > 5,
        "{sdk}: the SDK must have met (and retried) at least one 429 burst: {stats:#?}"
    );
    let known: u64 = expected().values().sum::<u64>() + skills_429;
    assert_eq!(stats.total, known, "{sdk}: unexpected requests: {stats:#?}");
    assert_eq!(summary["okWithRetry"], 6);
    assert_eq!(summary["raised429"], 5);
    println!(
        "{sdk}: {} requests counted by /_emulator/stats ({} answered 429)",
        stats.total, skills_429
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_python_sdk_runs_the_scenario_unchanged() {
    let dir = sdk_dir().join("python");
    require_installed(&dir, PYTHON_SDK, "the Genesys Cloud Python SDK");
    let mut cmd = Command::new(dir.join("bin").join("python"));
    cmd.arg(scenario("scenario.py"));
    let (summary, stats) = run_scenario(cmd).await;
    assert_counts("python", &stats, &summary);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_javascript_sdk_runs_the_scenario_unchanged() {
    assert!(
        Command::new("node").arg("--version").output().is_ok(),
        "node is not installed: the JavaScript SDK test needs it (apt-get install nodejs npm), \
         then run .ci/install-sdks"
    );
    let dir = sdk_dir().join("node");
    require_installed(&dir, JS_SDK, "the Genesys Cloud JavaScript SDK");
    let mut cmd = Command::new("node");
    cmd.env("NODE_PATH", dir.join("node_modules"))
        .arg(scenario("scenario.js"));
    let (summary, stats) = run_scenario(cmd).await;
    assert!(
        summary["retried429"].as_u64().unwrap_or(0) >= 1,
        "{summary}"
    );
    assert_counts("javascript", &stats, &summary);
}
