//! Compatibility with a real third-party client: the official Genesys Cloud Python SDK
//! (`PureCloudPlatformClientV2`, pinned) talks to the emulator unchanged. The test builds a
//! throwaway venv under `CARGO_TARGET_TMPDIR` (reused when present) and runs
//! `tests/python/sdk_compat.py`. Skipped, with a message, when `python3` is absent.

use std::path::PathBuf;
use std::process::Command;

use dialsync_emulator::EmulatorConfig;

const SDK: &str = "PureCloudPlatformClientV2==269.0.0";
const ROUTE_SKILLS: &str = "/api/v2/routing/skills";

fn venv_python() -> Option<PathBuf> {
    if Command::new("python3").arg("--version").output().is_err() {
        return None;
    }
    let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("genesys-python-sdk-venv");
    let python = venv.join("bin").join("python");
    let ready = venv.join(".sdk-installed");
    if !ready.exists() {
        let st = Command::new("python3")
            .arg("-m")
            .arg("venv")
            .arg(&venv)
            .status()
            .expect("python3 -m venv");
        assert!(
            st.success(),
            "creating the venv at {} failed",
            venv.display()
        );
        let st = Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                SDK,
            ])
            .status()
            .expect("pip install");
        assert!(
            st.success(),
            "pip install {SDK} failed (network or index needed once)"
        );
        std::fs::write(&ready, SDK).expect("marker");
    }
    Some(python)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_python_sdk_works_unchanged() {
    let Some(python) = venv_python() else {
        println!("SKIPPED: python3 not found; the Genesys Python SDK compatibility test needs it");
        return;
    };
    let emu = dialsync_emulator::start(
        EmulatorConfig {
            seed: 3,
            ..Default::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .expect("start emulator");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/sdk_compat.py");
    let base = emu.base_url();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .args([base.as_str(), "dialsync", "emulator-secret"])
            .output()
            .expect("run python")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "SDK script failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or("")).expect("summary line");
    assert_eq!(summary["okWithRetry"], 6);
    assert_eq!(summary["raised429"], 5);

    let stats = emu.stats();
    let contacts = "/api/v2/outbound/contactlists/{contactListId}/contacts";
    let one = "/api/v2/outbound/contactlists/{contactListId}/contacts/{contactId}";
    assert_eq!(stats.count("POST", "/oauth/token", 200), 1);
    assert_eq!(stats.count("POST", "/api/v2/outbound/contactlists", 200), 1);
    assert_eq!(stats.count("POST", contacts, 200), 1);
    assert_eq!(stats.count("POST", contacts, 400), 1);
    assert_eq!(stats.count("PUT", one, 200), 1);
    assert_eq!(stats.count("DELETE", one, 200), 1);
    assert_eq!(stats.count("GET", one, 404), 1);
    assert_eq!(stats.count("GET", ROUTE_SKILLS, 200), 6);
    let burst_429s = stats.count("GET", ROUTE_SKILLS, 429) - 5;
    assert!(
        burst_429s >= 1,
        "the SDK must have met (and retried) at least one 429 burst: {stats:?}"
    );
    let state = emu.state();
    let list = state
        .contact_list(summary["listId"].as_str().unwrap())
        .expect("list");
    assert!(list.contacts.is_empty(), "the contact was deleted");
    emu.shutdown().await;
}
