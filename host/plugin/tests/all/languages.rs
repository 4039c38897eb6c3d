//! Python and JavaScript plugins, built from source here with the pinned
//! toolchains (plugins/toolchains/install.sh puts them in `.toolchains/`):
//! the custom-CRM mapping gives byte-identical outcomes in all three languages,
//! and a hostile Python guest is contained like a Rust one.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use dialsync_plugin_host::{
    CompileCache, FailureKind, Limits, LoadedPlugin, RecordOutcome, Runtime,
};
use serde_json::{Value, json};

use crate::failure_kind;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Where plugins/toolchains/install.sh put the toolchains.
fn toolchains() -> PathBuf {
    std::env::var_os("DIALSYNC_PLUGIN_TOOLCHAINS")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join(".toolchains"))
}

fn require(path: &Path, what: &str) {
    assert!(
        path.exists(),
        "{what} is missing ({} not found): run plugins/toolchains/install.sh",
        path.display()
    );
}

fn run(mut cmd: Command, what: &str) {
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

fn out_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("language-plugins");
    std::fs::create_dir_all(&dir).expect("test output directory");
    dir
}

/// Builds a Python plugin with componentize-py: `app` in `dirs` (the first is
/// the plugin's own directory), into `out`.
fn build_python(dirs: &[PathBuf], out: &Path) {
    let bin = toolchains().join("py/bin/componentize-py");
    require(&bin, "the PyPI package componentize-py (==0.25.1)");
    let mut cmd = Command::new(bin);
    cmd.current_dir(&dirs[0])
        .arg("-d")
        .arg(workspace().join("wit/v0.1.0"))
        .args(["-w", "mapper", "componentize"]);
    for dir in dirs {
        cmd.arg("-p").arg(dir);
    }
    cmd.arg("app").arg("-o").arg(out);
    run(cmd, "componentize-py");
}

fn plugin_bytes(name: &str) -> &'static [u8] {
    static PY: OnceLock<Vec<u8>> = OnceLock::new();
    static JS: OnceLock<Vec<u8>> = OnceLock::new();
    static HOSTILE_PY: OnceLock<Vec<u8>> = OnceLock::new();
    let plugins = workspace().join("plugins");
    match name {
        "custom-crm-py" => PY.get_or_init(|| {
            let out = out_dir().join("custom-crm-py.wasm");
            build_python(
                &[
                    plugins.join("custom-crm-py"),
                    plugins.join("sdk-py"),
                    workspace().join("schemas"),
                    plugins.join("custom-crm"),
                ],
                &out,
            );
            std::fs::read(out).unwrap()
        }),
        "hostile-py" => HOSTILE_PY.get_or_init(|| {
            let out = out_dir().join("hostile-py.wasm");
            build_python(
                &[plugins.join("testing/hostile-py"), plugins.join("sdk-py")],
                &out,
            );
            std::fs::read(out).unwrap()
        }),
        "custom-crm-js" => JS.get_or_init(|| {
            let modules = toolchains().join("js/node_modules");
            require(
                &modules.join("@bytecodealliance/componentize-js"),
                "the npm package @bytecodealliance/componentize-js (0.23.0)",
            );
            let out = out_dir().join("custom-crm-js.wasm");
            let mut cmd = Command::new("node");
            cmd.env("NODE_PATH", &modules)
                .arg(plugins.join("custom-crm-js/build.mjs"))
                .arg(&out);
            if Command::new("node").arg("--version").output().is_err() {
                panic!("node is missing: install the nodejs package (node 18 or newer)");
            }
            run(cmd, "componentize-js (node build.mjs)");
            std::fs::read(out).unwrap()
        }),
        other => panic!("no language plugin {other}"),
    }
}

/// A runtime whose compiled-code cache survives test runs (the Python and JS
/// components take tens of seconds to compile).
fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        Runtime::new(Limits {
            compile_cache: CompileCache::Dir(out_dir().join("wasmtime-cache")),
            ..Limits::default()
        })
        .expect("runtime starts")
    })
}

async fn load(bytes: &[u8], config: Value) -> LoadedPlugin {
    runtime().load(bytes, config).await.expect("plugin loads")
}

fn fixtures() -> Vec<Value> {
    let path = workspace().join("plugins/custom-crm/fixtures/records.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The same records and configurations through the Rust, Python and JS
/// plugins: the outcomes serialise to the same bytes.
#[tokio::test(flavor = "multi_thread")]
async fn python_and_js_map_the_custom_crm_fixtures_exactly_like_rust() {
    let py_bytes = plugin_bytes("custom-crm-py");
    let js_bytes = plugin_bytes("custom-crm-js");
    let mut records = fixtures();
    // Records exercising the configuration below and edge cases of the helpers.
    records.extend([
        json!({"id": "C-9", "region": "GB", "changed": "2026-11-20 09:00:00", "given": "Zoë",
               "tel": "020 7946 0958", "status": " OPTED_OUT ", "acct": 7, "nested": ["n"]}),
        json!({"id": "C-10", "region": "US", "changed": "2026-02-30 09:00:00", "tel": "x",
               "status": "active", "acct": "a/b", "nested": [null]}),
        json!({"id": "C-11", "changed": "2026-11-20 09:00:00", "tel": "(281) 332-2575",
               "status": "gone", "acct": true, "given": "x".repeat(600), "nested": [1.5]}),
        json!({"changed": 5, "tel": ["no"], "acct": {"n": 1}}),
    ]);
    let configs = [
        json!({}),
        json!({"default_region": "US"}),
        json!({
            "key_fields": ["acct", "id"],
            "updated_at_field": "changed",
            "updated_at_format": "%Y-%m-%d %H:%M:%S",
            "columns": {"givenName": "given", "note": "/nested/0"},
            "phone_fields": {"tel": "tel"},
            "region_field": "region",
            "default_region": "US",
            "do_not_call": {"field": "status", "equals": ["opted_out", 1]},
            "deleted": {"field": "status", "equals": ["gone"]}
        }),
    ];
    for config in configs {
        let rust = load(dialsync_bundled_plugins::CUSTOM_CRM, config.clone()).await;
        let py = load(py_bytes, config.clone()).await;
        let js = load(js_bytes, config.clone()).await;
        for other in [&py, &js] {
            assert_eq!(other.info().columns, rust.info().columns, "{config}");
            assert_eq!(other.info().phone_columns, rust.info().phone_columns);
            assert_eq!(other.info().input_schema, rust.info().input_schema);
            assert_eq!(other.info().config_schema, rust.info().config_schema);
        }
        let want = serde_json::to_string(&rust.map(&records, None).await).unwrap();
        assert!(!want.contains("\"failed\""), "{config}: {want}");
        for (name, plugin) in [("python", &py), ("javascript", &js)] {
            // Failures name the plugin; everything else must be the same bytes.
            let got = serde_json::to_string(&plugin.map(&records, None).await)
                .unwrap()
                .replace(
                    &format!("\"{}\"", plugin.info().id()),
                    "\"custom-crm@0.1.0\"",
                );
            if got != want {
                let want: Vec<Value> = serde_json::from_str(&want).unwrap();
                let got: Vec<Value> = serde_json::from_str(&got).unwrap();
                for (i, (w, g)) in want.iter().zip(&got).enumerate() {
                    assert_eq!(g, w, "{name}, config {config}: record {i}");
                }
                panic!("{name}: outcome count differs");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hostile_python_plugin_is_contained() {
    let plugin = load(plugin_bytes("hostile-py"), json!({})).await;
    let rec = |mode: &str, id: &str| json!({"mode": mode, "id": id});
    let records = [
        rec("ok", "a"),
        rec("loop", "b"),
        rec("ok", "c"),
        rec("grow", "d"),
        rec("raise", "e"),
        rec("ok", "f"),
    ];
    let report = plugin.map_with_report(&records, None).await;
    let out = &report.outcomes;
    let id = |o: &RecordOutcome| match o {
        RecordOutcome::Change { changes } => changes[0].external_id.clone(),
        other => panic!("expected a change, got {other:?}"),
    };
    assert_eq!(id(&out[0]), "py_a");
    assert_eq!(failure_kind(&out[1]), FailureKind::OutOfFuel);
    assert_eq!(id(&out[2]), "py_c");
    assert_eq!(failure_kind(&out[3]), FailureKind::MemoryLimit);
    assert_eq!(failure_kind(&out[4]), FailureKind::Trap);
    assert_eq!(id(&out[5]), "py_f");
    let cap = runtime().limits().max_memory_bytes;
    assert!(report.stats.peak_memory_bytes <= cap);
    // The plugin still serves the next call.
    let next = plugin.map(&[rec("ok", "after")], None).await;
    assert_eq!(id(&next[0]), "py_after");
}
