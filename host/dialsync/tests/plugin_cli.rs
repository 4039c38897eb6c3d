//! `dialsync plugin ...` end to end: the built binary, the bundled plugins and
//! their fixtures, a registry in a temporary directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn dialsync(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dialsync"))
        .env("DIALSYNC_HOME", home)
        .env_remove("RUST_LOG")
        .args(args)
        .output()
        .expect("dialsync runs")
}

fn stdout_lines(out: &Output) -> Vec<Value> {
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("stdout line {l:?}: {e}")))
        .collect()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn test_prints_one_line_per_outcome_matching_the_fixtures() {
    let home = tempfile::tempdir().unwrap();
    for plugin in ["servicenow", "salesforce"] {
        let fixtures = workspace().join("plugins").join(plugin).join("fixtures");
        let records = fixtures.join("records.json");
        let out = dialsync(
            home.path(),
            &["plugin", "test", plugin, records.to_str().unwrap()],
        );
        assert!(out.status.success(), "{plugin}: {}", stderr(&out));
        let lines = stdout_lines(&out);
        let expected: Vec<Value> =
            serde_json::from_str(&std::fs::read_to_string(fixtures.join("expected.json")).unwrap())
                .unwrap();
        for want in &expected {
            let index = want["index"].as_u64().unwrap();
            let got: Vec<&Value> = lines
                .iter()
                .filter(|l| l["index"].as_u64() == Some(index))
                .collect();
            assert!(!got.is_empty(), "{plugin}: no line for record {index}");
            let kind = want["kind"].as_str().unwrap();
            let outcome = got[0]["outcome"].as_str().unwrap();
            match kind {
                "change" => {
                    assert_eq!(outcome, "change", "{plugin} record {index}: {:?}", got);
                    assert_eq!(got[0]["externalId"], want["externalId"]);
                    assert_eq!(got[0]["operation"], want["operation"]);
                    // The row sent to Genesys carries the externalId column.
                    assert_eq!(got[0]["data"]["externalId"], want["externalId"]);
                    assert!(got[0]["sourceUpdatedAt"].as_str().unwrap().ends_with('Z'));
                }
                "changes" => {
                    let ids: Vec<&Value> = got.iter().map(|l| &l["externalId"]).collect();
                    let wanted: Vec<&Value> = want["changes"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|c| &c["externalId"])
                        .collect();
                    assert_eq!(ids, wanted, "{plugin} record {index}");
                }
                "reject" => {
                    assert_eq!(outcome, "reject", "{plugin} record {index}: {:?}", got);
                    let fields: Vec<&Value> = got[0]["errors"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|e| &e["field"])
                        .collect();
                    let wanted: Vec<&Value> = want["fields"].as_array().unwrap().iter().collect();
                    assert_eq!(fields, wanted, "{plugin} record {index}");
                    assert!(
                        got[0]["errors"][0]["message"]
                            .as_str()
                            .is_some_and(|m| !m.is_empty())
                    );
                }
                "skip" => {
                    assert_eq!(outcome, "skip", "{plugin} record {index}: {:?}", got);
                    let reason = got[0]["reason"].as_str().unwrap();
                    assert!(
                        reason.contains(want["reasonContains"].as_str().unwrap()),
                        "{reason}"
                    );
                }
                other => panic!("unknown kind {other}"),
            }
        }
        let err = stderr(&out);
        assert!(
            err.contains(&format!("{} records:", expected.len())),
            "summary on stderr: {err}"
        );
        assert!(err.contains("fuel") && err.contains("peak memory"), "{err}");
    }
}

#[test]
fn test_reads_envelopes_and_json_lines_and_config() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    // A number without a country prefix and a record with no country: only the
    // configured default region can normalise it.
    let record = serde_json::json!({
        "sys_id": "0123456789abcdef0123456789abcdef",
        "sys_updated_on": "2026-11-20 14:01:07",
        "first_name": "Ann",
        "phone": "(415) 555-0100",
        "active": "true"
    });
    let envelope = dir.path().join("envelope.json");
    std::fs::write(
        &envelope,
        serde_json::json!({"result": [record.clone()]}).to_string(),
    )
    .unwrap();
    let out = dialsync(
        home.path(),
        &[
            "plugin",
            "test",
            "servicenow",
            envelope.to_str().unwrap(),
            "--config",
            "default_region=US",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let lines = stdout_lines(&out);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["outcome"], "change");
    assert_eq!(lines[0]["data"]["businessPhone"], "+14155550100");

    let jsonl = dir.path().join("records.jsonl");
    std::fs::write(&jsonl, format!("{record}\n\n{record}\n")).unwrap();
    let out = dialsync(
        home.path(),
        &["plugin", "test", "servicenow", jsonl.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let lines = stdout_lines(&out);
    assert_eq!(lines.len(), 2);
    // Without the default region the phone cannot be normalised: a reject naming the field.
    assert_eq!(lines[1]["index"], 1);
    assert_eq!(lines[1]["outcome"], "reject");
    assert_eq!(lines[1]["errors"][0]["field"], "/phone");

    let out = dialsync(
        home.path(),
        &[
            "plugin",
            "test",
            "servicenow",
            jsonl.to_str().unwrap(),
            "--config",
            "default_region=11",
        ],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("/default_region"), "{}", stderr(&out));
}

#[test]
fn test_refuses_unreadable_files_naming_file_and_line() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"sys_id\": \"x\"}\n{\"sys_id\": \n").unwrap();
    let out = dialsync(
        home.path(),
        &["plugin", "test", "servicenow", bad.to_str().unwrap()],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("bad.jsonl") && err.contains("line 2"), "{err}");

    let missing = dir.path().join("missing.json");
    let out = dialsync(
        home.path(),
        &["plugin", "test", "servicenow", missing.to_str().unwrap()],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("missing.json"), "{}", stderr(&out));

    let good = dir.path().join("good.json");
    std::fs::write(&good, "[]").unwrap();
    let out = dialsync(
        home.path(),
        &["plugin", "test", "no-such-plugin", good.to_str().unwrap()],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no plugin named `no-such-plugin`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn install_list_info_remove() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let wasm = dir.path().join("hostile.wasm");
    std::fs::write(&wasm, dialsync_bundled_plugins::testing::HOSTILE).unwrap();

    let out = dialsync(home.path(), &["plugin", "install", wasm.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("installed hostile 0.1.0 ("));

    let out = dialsync(home.path(), &["plugin", "list"]);
    let listing = String::from_utf8_lossy(&out.stdout).into_owned();
    for name in ["servicenow", "salesforce", "custom-crm"] {
        assert!(
            listing
                .lines()
                .any(|l| l.starts_with(name) && l.contains("bundled")),
            "{listing}"
        );
    }
    assert!(
        listing
            .lines()
            .any(|l| l.starts_with("hostile") && l.contains("installed")),
        "{listing}"
    );

    let out = dialsync(home.path(), &["plugin", "info", "hostile"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let info: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(info["name"], "hostile");
    assert_eq!(info["phoneColumns"][0], "phone");
    assert_eq!(info["sha256"].as_str().unwrap().len(), 64);

    // The installed plugin is usable by name.
    let records = dir.path().join("r.json");
    std::fs::write(
        &records,
        r#"[{"mode":"ok","id":"1"},{"mode":"trap","id":"2"}]"#,
    )
    .unwrap();
    let out = dialsync(
        home.path(),
        &["plugin", "test", "hostile", records.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let lines = stdout_lines(&out);
    assert_eq!(lines[0]["externalId"], "h_1");
    assert_eq!(lines[1]["outcome"], "failed");
    assert_eq!(lines[1]["limit"], "trap");
    assert_eq!(lines[1]["plugin"], "hostile@0.1.0");

    let out = dialsync(home.path(), &["plugin", "remove", "hostile"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = dialsync(home.path(), &["plugin", "info", "hostile"]);
    assert!(!out.status.success());
    let out = dialsync(home.path(), &["plugin", "remove", "servicenow"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("bundled"), "{}", stderr(&out));
}

#[test]
fn install_refuses_a_bad_plugin_with_the_reason() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let core = dir.path().join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    let out = dialsync(home.path(), &["plugin", "install", core.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("core wasm module"),
        "{}",
        stderr(&out)
    );

    let wasm = dir.path().join("hostile.wasm");
    std::fs::write(&wasm, dialsync_bundled_plugins::testing::HOSTILE).unwrap();
    let out = dialsync(
        home.path(),
        &[
            "plugin",
            "install",
            wasm.to_str().unwrap(),
            "--config",
            "greeting=5",
        ],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("/greeting"), "{}", stderr(&out));
    let out = dialsync(home.path(), &["plugin", "list"]);
    assert!(!String::from_utf8_lossy(&out.stdout).contains("hostile"));
}
