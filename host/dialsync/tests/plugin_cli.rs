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

/// A fresh `DIALSYNC_HOME` (registry) whose compiled-code cache,
/// `<home>/cache/wasmtime`, is one directory shared by every test process of
/// this binary and kept across runs: each `dialsync` process would otherwise
/// compile the plugins it loads with Cranelift again. The cache is keyed by the
/// component bytes and the engine settings, and wasmtime writes its entries
/// atomically, so concurrent processes share it safely.
fn home() -> tempfile::TempDir {
    let shared = Path::new(env!("CARGO_TARGET_TMPDIR")).join("plugin-cli-code-cache");
    std::fs::create_dir_all(&shared).unwrap();
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir(home.path().join("cache")).unwrap();
    std::os::unix::fs::symlink(&shared, home.path().join("cache/wasmtime")).unwrap();
    home
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
    let home = home();
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
        assert!(
            err.contains("fuel") && err.contains("peak guest memory"),
            "{err}"
        );
    }
}

#[test]
fn test_reads_envelopes_and_json_lines_and_config() {
    let home = home();
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
    let home = home();
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
    let home = home();
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
    let home = home();
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

/// A custom-CRM record that maps to an upsert.
fn custom_record(n: usize) -> Value {
    serde_json::json!({
        "id": format!("C{n:07}"),
        "updated_at": format!("2026-11-20T14:{:02}:07Z", n % 60),
        "first_name": "Ann",
        "last_name": format!("Lee{n}"),
        "email": format!("a{n}@example.com"),
        "phone": format!("(415) 555-{:04}", 100 + n % 9000),
        "mobile": null,
        "country": "US",
        "do_not_call": false,
        "deleted": false,
    })
}

/// Peak resident set of a running process (Linux `VmHWM`), in bytes.
fn peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line[6..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

#[test]
fn test_streams_200k_records_in_bounded_memory() {
    const RECORDS: usize = 200_000;
    let home = home();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export.jsonl");
    {
        use std::io::Write;
        let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        for n in 0..RECORDS {
            writeln!(file, "{}", custom_record(n)).unwrap();
        }
    }
    let file_bytes = std::fs::metadata(&path).unwrap().len();
    let child = Command::new(env!("CARGO_BIN_EXE_dialsync"))
        .env("DIALSYNC_HOME", home.path())
        .env_remove("RUST_LOG")
        .args([
            "plugin",
            "test",
            "custom-crm",
            path.to_str().unwrap(),
            "--json",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Sample the child's high-water mark while it runs (bounded: 10 minutes).
    let pid = child.id();
    let sampler = std::thread::spawn(move || {
        let started = std::time::Instant::now();
        let mut peak = 0;
        while let Some(rss) = peak_rss(pid) {
            peak = peak.max(rss);
            if started.elapsed() > std::time::Duration::from_secs(600) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        peak
    });
    let out = child.wait_with_output().unwrap();
    let sampled = sampler.join().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["records"], RECORDS as u64);
    assert_eq!(summary["outcomes"]["change"], RECORDS as u64, "{summary}");
    assert_eq!(summary["outcomes"]["failed"], 0, "{summary}");
    // (A chunk may still be re-run record by record when a starved machine
    // pushes it past the wall-clock deadline; every record maps either way.)
    let reported = summary["peakHostRssBytes"].as_u64().unwrap();
    let peak = sampled.max(reported);
    // Reading the whole file into memory would cost several times its size
    // (parsed JSON values); streaming keeps the process far below even one copy.
    const BOUND: u64 = 160 << 20;
    assert!(
        peak < BOUND && peak < file_bytes * 4,
        "peak RSS {} MiB for a {} MiB file (bound {} MiB)",
        peak >> 20,
        file_bytes >> 20,
        BOUND >> 20
    );
}

#[test]
fn test_expect_diffs_and_update_rewrites() {
    let home = home();
    let dir = tempfile::tempdir().unwrap();
    let records = workspace().join("plugins/custom-crm/fixtures/records.json");
    let records = records.to_str().unwrap();
    let golden = dir.path().join("expected.jsonl");
    let golden_arg = golden.to_str().unwrap();

    // --update writes the golden file: the same lines as stdout.
    let out = dialsync(
        home.path(),
        &[
            "plugin",
            "test",
            "custom-crm",
            records,
            "--expect",
            golden_arg,
            "--update",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let written = std::fs::read_to_string(&golden).unwrap();
    assert_eq!(written, String::from_utf8(out.stdout.clone()).unwrap());

    let out = dialsync(
        home.path(),
        &[
            "plugin",
            "test",
            "custom-crm",
            records,
            "--expect",
            golden_arg,
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("all 22 records match"),
        "{}",
        stderr(&out)
    );

    // Change one expected phone and drop the last record: both are reported.
    let mut lines: Vec<String> = written.lines().map(str::to_string).collect();
    lines.pop();
    let mut first: Value = serde_json::from_str(&lines[0]).unwrap();
    first["data"]["phone"] = "+15555550100".into();
    lines[0] = first.to_string();
    std::fs::write(&golden, lines.join("\n") + "\n").unwrap();
    let out = dialsync(
        home.path(),
        &[
            "plugin",
            "test",
            "custom-crm",
            records,
            "--expect",
            golden_arg,
            "--json",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("record 0 differs"), "{err}");
    assert!(
        err.contains(r#"/data/phone: "+15555550100" → "+12813322575""#),
        "{err}"
    );
    assert!(err.contains("record 21 differs"), "{err}");
    assert!(err.contains("2 of 22 records differ"), "{err}");
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["expect"]["mismatched"], 2);
    assert_eq!(summary["expect"]["matched"], 20);
    assert_eq!(summary["expect"]["diffs"][0]["index"], 0);
}

#[test]
fn test_profile_names_the_most_expensive_records() {
    let home = home();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.json");
    // One record with a huge name costs far more fuel than the others.
    let mut records: Vec<Value> = (0..6).map(custom_record).collect();
    records[4]["last_name"] = "x".repeat(200_000).into();
    std::fs::write(&path, Value::Array(records).to_string()).unwrap();
    let out = dialsync(
        home.path(),
        &[
            "plugin",
            "test",
            "custom-crm",
            path.to_str().unwrap(),
            "--json",
            "--profile",
            "2",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    let slowest = summary["slowest"].as_array().unwrap();
    assert_eq!(slowest.len(), 2, "{summary}");
    assert_eq!(slowest[0]["index"], 4, "{summary}");
    assert_eq!(slowest[0]["outcome"], "reject", "{summary}");
    assert!(slowest[0]["fuel"].as_u64() > slowest[1]["fuel"].as_u64());
    assert_eq!(summary["guestCalls"], 6);
    assert!(summary["microsPerRecord"].as_f64().unwrap() > 0.0);
    assert!(stderr(&out).contains("most expensive records"));
}

/// Where plugins/toolchains/install.sh put the Python and JS toolchains.
fn toolchains() -> PathBuf {
    std::env::var_os("DIALSYNC_PLUGIN_TOOLCHAINS")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join(".toolchains"))
}

fn run_ok(mut cmd: Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `plugin new` in a temporary directory, the project's own build command,
/// then `plugin test --expect` on its fixtures. `build` gets the project dir
/// and returns the built component.
fn new_project_builds_and_passes(lang: &str, build: impl FnOnce(&Path) -> PathBuf) {
    // Compiled plugin code is cached across runs (a fresh build of the same
    // sources gives the same bytes).
    let home = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("plugin-new-home");
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("acme-crm");
    let out = dialsync(
        &home,
        &[
            "plugin",
            "new",
            "acme-crm",
            "--lang",
            lang,
            "--dir",
            project.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("plugin test"));
    let wasm = build(&project);
    let out = Command::new(env!("CARGO_BIN_EXE_dialsync"))
        .current_dir(&project)
        .env("DIALSYNC_HOME", &home)
        .args([
            "plugin",
            "test",
            wasm.to_str().unwrap(),
            "fixtures/records.json",
            "--expect",
            "fixtures/expected.jsonl",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{lang}: {}", stderr(&out));
    assert!(
        stderr(&out).contains("all 8 records match"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn plugin_new_rust_builds_offline_and_passes_its_fixtures() {
    new_project_builds_and_passes("rust", |project| {
        // Builds offline from the vendored SDK and the registry cache; the
        // target dir sits in this workspace's target so reruns are quick.
        let target = workspace().join("target/plugin-new");
        let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or("cargo".into()));
        cmd.current_dir(project)
            .args([
                "build",
                "--offline",
                "--release",
                "--target",
                "wasm32-wasip2",
            ])
            .env("CARGO_TARGET_DIR", &target);
        for var in [
            "CARGO_ENCODED_RUSTFLAGS",
            "RUSTFLAGS",
            "RUSTC_WORKSPACE_WRAPPER",
        ] {
            cmd.env_remove(var);
        }
        run_ok(cmd, "cargo build of the generated Rust project");
        target.join("wasm32-wasip2/release/acme_crm.wasm")
    });
}

#[test]
fn plugin_new_python_builds_and_passes_its_fixtures() {
    new_project_builds_and_passes("python", |project| {
        let bin = toolchains().join("py/bin");
        assert!(
            bin.join("componentize-py").exists(),
            "the PyPI package componentize-py (==0.25.1) is missing: run plugins/toolchains/install.sh"
        );
        let path = std::env::join_paths(
            std::iter::once(bin).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
        )
        .unwrap();
        let mut cmd = Command::new(project.join("build.sh"));
        cmd.current_dir(project).env("PATH", path);
        run_ok(cmd, "./build.sh of the generated Python project");
        project.join("plugin.wasm")
    });
}

#[test]
fn plugin_new_js_builds_and_passes_its_fixtures() {
    new_project_builds_and_passes("js", |project| {
        let modules = toolchains().join("js/node_modules");
        assert!(
            modules.join("@bytecodealliance/componentize-js").exists(),
            "the npm package @bytecodealliance/componentize-js (0.23.0) is missing: run plugins/toolchains/install.sh"
        );
        assert!(
            Command::new("node").arg("--version").output().is_ok(),
            "node is missing: install the nodejs package (node 18 or newer)"
        );
        // `npm install` would fetch the same pinned packages; the test uses the
        // toolchain already installed (nothing downloads during cargo test).
        let mut cmd = Command::new("node");
        cmd.current_dir(project)
            .env("NODE_PATH", &modules)
            .arg("build.mjs");
        run_ok(cmd, "node build.mjs of the generated JS project");
        project.join("plugin.wasm")
    });
}
