//! Records per second per plugin and language under wasm (the full host
//! path: input schema validation, a fresh store per call, the guest, output
//! validation) versus the same mapping code compiled natively and driven by
//! the SDK's `NativeHost`, plus what each component costs to compile, load
//! and instantiate and how much memory it uses. Prints tables; the ratio is
//! what to watch, since both sides are measured in the same run.
//!
//! BEFORE and AFTER come from this one run: the Rust plugins are measured as
//! bundled (guest profile `plugin`, opt-level 3) and as they were built before
//! (profile `plugin-small`, opt-level "s", compiled here into the plugins'
//! target directory), each on the same host runtime.
//!
//! The Python and JavaScript custom-CRM plugins (plugins/custom-crm-py,
//! plugins/custom-crm-js) are built from source with the toolchains
//! plugins/toolchains/install.sh puts in `.toolchains/`; without them their
//! rows say so.
//!
//! "Where the time goes" compares, per record, the runtime with fuel metering
//! (the default: a looping guest fails with `out-of-fuel` and only its own
//! records) against epoch-only deadlines, and batch against one-record calls
//! (the per-call instantiation).
//!
//! Run: `cargo bench -p dialsync-plugin-host --bench mapping`. Each
//! measurement is bounded to 40 iterations or 3 seconds.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use dialsync_plugin_host::{CompileCache, Limits, LoadedPlugin, RecordOutcome, Runtime};
use dialsync_plugin_sdk::Mapper;
use dialsync_plugin_sdk::NativeHost;
use serde_json::{Value, json};

const BATCH: usize = 500;
const MAX_ITERATIONS: u32 = 40;
const MAX_TIME: Duration = Duration::from_secs(3);

fn us_phone(n: usize) -> String {
    format!("(415) 555-{:04}", 100 + n % 9000)
}

fn servicenow_record(n: usize) -> Value {
    json!({
        "sys_id": format!("{:032x}", 0x5eed_0000_u64 + n as u64 * 7919),
        "sys_updated_on": format!("2026-11-20 14:{:02}:07", n % 60),
        "sys_class_name": "customer_contact",
        "first_name": "Ann",
        "last_name": format!("Person{n}"),
        "email": format!("p{n}@example.com"),
        "phone": us_phone(n),
        "mobile_phone": "",
        "home_phone": "",
        "active": "true",
        "country": "US",
    })
}

fn salesforce_record(n: usize) -> Value {
    json!({
        "attributes": {"type": "Contact"},
        "Id": format!("003Dn{:010}", 4_000_000 + n),
        "FirstName": "Jo",
        "LastName": format!("Contact{n}"),
        "Phone": us_phone(n),
        "MailingCountryCode": "US",
        "DoNotCall": false,
        "IsDeleted": false,
        "LastModifiedDate": format!("2026-10-09T12:{:02}:56.000+0000", n % 60),
    })
}

fn custom_crm_record(n: usize) -> Value {
    json!({
        "id": format!("C{n:06}"),
        "updated_at": format!("2026-11-20T14:{:02}:07Z", n % 60),
        "first_name": "Ann",
        "last_name": format!("Lee{n}"),
        "email": format!("a{n}@example.com"),
        "phone": us_phone(n),
        "mobile": null,
        "country": "US",
        "do_not_call": false,
        "deleted": false,
    })
}

/// Runs `f` until the iteration or time bound; returns records per second.
fn measure(records_per_iteration: usize, mut f: impl FnMut()) -> f64 {
    f(); // warm-up
    let started = Instant::now();
    let mut iterations = 0;
    while iterations < MAX_ITERATIONS && started.elapsed() < MAX_TIME {
        f();
        iterations += 1;
    }
    (records_per_iteration as f64 * f64::from(iterations)) / started.elapsed().as_secs_f64()
}

/// What one plugin's wasm runs measured.
struct WasmRun {
    rate: f64,
    fuel_per_record: u64,
    instantiate_us: f64,
    peak_memory: usize,
}

fn wasm_rate(
    rt: &tokio::runtime::Runtime,
    plugin: &LoadedPlugin,
    records: &[Value],
    batch: usize,
) -> WasmRun {
    let (mut fuel, mut instantiate, mut calls, mut peak) = (0, Duration::ZERO, 0, 0);
    let rate = measure(records.len(), || {
        for chunk in records.chunks(batch) {
            let report = rt.block_on(plugin.map_with_report(chunk, None));
            assert!(
                report
                    .outcomes
                    .iter()
                    .all(|o| matches!(o, RecordOutcome::Change { .. })),
                "every benchmark record maps: {:?}",
                report
                    .outcomes
                    .iter()
                    .find(|o| !matches!(o, RecordOutcome::Change { .. }))
            );
            fuel = report.stats.fuel_used / chunk.len() as u64;
            instantiate += report.stats.instantiate;
            calls += report.stats.guest_calls;
            peak = peak.max(report.stats.peak_memory_bytes);
        }
    });
    WasmRun {
        rate,
        fuel_per_record: fuel,
        instantiate_us: instantiate.as_secs_f64() * 1e6 / f64::from(calls.max(1)),
        peak_memory: peak,
    }
}

fn native_rate<M: Mapper>(records: &[Value]) -> f64 {
    let host = NativeHost::new(json!({}));
    measure(records.len(), || {
        let outcomes = host.map::<M>(records);
        assert_eq!(outcomes.len(), records.len());
    })
}

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Builds the Python or JS custom-CRM plugin from source, or says why not.
fn build_language_plugin(lang: &str, out: &Path) -> Result<Vec<u8>, String> {
    let toolchains = std::env::var_os("DIALSYNC_PLUGIN_TOOLCHAINS")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join(".toolchains"));
    let plugins = workspace().join("plugins");
    let mut cmd = if lang == "python" {
        let bin = toolchains.join("py/bin/componentize-py");
        if !bin.exists() {
            return Err("componentize-py missing: run plugins/toolchains/install.sh".into());
        }
        let mut cmd = Command::new(bin);
        cmd.arg("-d")
            .arg(workspace().join("wit/v0.1.0"))
            .args(["-w", "mapper", "componentize"]);
        for dir in [
            plugins.join("custom-crm-py"),
            plugins.join("sdk-py"),
            workspace().join("schemas"),
            plugins.join("custom-crm"),
        ] {
            cmd.arg("-p").arg(dir);
        }
        cmd.arg("app").arg("-o").arg(out);
        cmd
    } else {
        let modules = toolchains.join("js/node_modules");
        if !modules.join("@bytecodealliance/componentize-js").exists() {
            return Err("componentize-js missing: run plugins/toolchains/install.sh".into());
        }
        let mut cmd = Command::new("node");
        cmd.env("NODE_PATH", modules)
            .arg(plugins.join("custom-crm-js/build.mjs"))
            .arg(out);
        cmd
    };
    let output = cmd
        .output()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "build failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    std::fs::read(out).map_err(|e| e.to_string())
}

/// The target directory this benchmark was built in: the nearest ancestor of
/// the executable that cargo marked with `CACHEDIR.TAG`.
fn target_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    exe.ancestors()
        .find(|dir| dir.join("CACHEDIR.TAG").exists())
        .map(Path::to_path_buf)
}

/// The Rust plugins as they were built before (profile `plugin-small`,
/// opt-level "s"), compiled into the bundled plugins' own target directory,
/// in the order of `bundled()`; or why not.
fn build_before_guests() -> Result<Vec<Vec<u8>>, String> {
    let target = target_dir()
        .ok_or("cannot find the target directory")?
        .join("wasm-plugins");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace())
        .args(["build", "--quiet", "--target", "wasm32-wasip2"])
        .args(["--profile", "plugin-small", "--target-dir"])
        .arg(&target);
    for (name, _) in dialsync_bundled_plugins::bundled() {
        cmd.arg("-p").arg(format!("dialsync-plugin-{name}"));
    }
    // The same clean environment as host/bundled-plugins/build.rs.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_TARGET_DIR",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if !status.success() {
        return Err(format!("{cmd:?} failed ({status})"));
    }
    dialsync_bundled_plugins::bundled()
        .iter()
        .map(|(name, _)| {
            let file = format!("dialsync_plugin_{}.wasm", name.replace('-', "_"));
            let path = target.join("wasm32-wasip2/plugin-small").join(file);
            std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))
        })
        .collect()
}

/// One row: a component under test.
struct Subject {
    name: &'static str,
    lang: &'static str,
    /// `after` (as bundled) or `before` (the former guest build).
    build: &'static str,
    bytes: Vec<u8>,
    make: fn(usize) -> Value,
    native: Option<fn(&[Value]) -> f64>,
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");
    // Compile in-process: the benchmark measures mapping, and must not write
    // to the user's compiled-code cache.
    let runtime = Runtime::new(Limits {
        compile_cache: CompileCache::Disabled,
        ..Limits::default()
    })
    .expect("plugin runtime");
    let mut subjects = vec![
        Subject {
            name: "servicenow",
            lang: "rust",
            build: "after",
            bytes: dialsync_bundled_plugins::SERVICENOW.to_vec(),
            make: servicenow_record,
            native: Some(native_rate::<dialsync_plugin_servicenow::ServiceNow>),
        },
        Subject {
            name: "salesforce",
            lang: "rust",
            build: "after",
            bytes: dialsync_bundled_plugins::SALESFORCE.to_vec(),
            make: salesforce_record,
            native: Some(native_rate::<dialsync_plugin_salesforce::Salesforce>),
        },
        Subject {
            name: "custom-crm",
            lang: "rust",
            build: "after",
            bytes: dialsync_bundled_plugins::CUSTOM_CRM.to_vec(),
            make: custom_crm_record,
            native: Some(native_rate::<dialsync_plugin_custom_crm::CustomCrm>),
        },
    ];
    match build_before_guests() {
        Ok(before) => {
            let rows: Vec<Subject> = subjects
                .iter()
                .zip(before)
                .map(|(s, bytes)| Subject {
                    build: "before",
                    bytes,
                    ..*s
                })
                .collect();
            subjects.extend(rows);
        }
        Err(why) => println!("Rust plugins BEFORE (opt-level \"s\"): not measured: {why}"),
    }
    let scratch = tempfile::tempdir().expect("scratch directory");
    for (name, lang) in [("custom-crm-py", "python"), ("custom-crm-js", "js")] {
        match build_language_plugin(lang, &scratch.path().join(format!("{name}.wasm"))) {
            Ok(bytes) => subjects.push(Subject {
                name,
                lang,
                build: "after",
                bytes,
                make: custom_crm_record,
                native: None,
            }),
            Err(why) => println!("{name}: not measured: {why}"),
        }
    }

    println!("\nComponents (compile = Cranelift in this process; load = from the on-disk cache)\n");
    println!(
        "{:<14} {:<7} {:<7} {:>10} {:>11} {:>13} {:>10}",
        "plugin", "lang", "build", "size KiB", "compile ms", "compiled KiB", "load ms"
    );
    let cache = tempfile::tempdir().expect("cache directory");
    for s in &subjects {
        let started = Instant::now();
        let compiled = runtime.precompile(&s.bytes).expect("compiles");
        let compile = started.elapsed();
        // A fresh runtime with an on-disk cache: first load fills it, the
        // second (another runtime, as another process would) reads it.
        let cached = || {
            Runtime::new(Limits {
                compile_cache: CompileCache::Dir(cache.path().to_path_buf()),
                ..Limits::default()
            })
            .expect("runtime")
        };
        rt.block_on(cached().load(&s.bytes, json!({})))
            .expect("loads");
        let started = Instant::now();
        rt.block_on(cached().load(&s.bytes, json!({})))
            .expect("loads");
        let load = started.elapsed();
        println!(
            "{:<14} {:<7} {:<7} {:>10} {:>11.0} {:>13} {:>10.1}",
            s.name,
            s.lang,
            s.build,
            s.bytes.len() / 1024,
            compile.as_secs_f64() * 1000.0,
            compiled.len() / 1024,
            load.as_secs_f64() * 1000.0,
        );
    }

    println!(
        "\nMapping: batch {BATCH}; each cell bounded to {MAX_ITERATIONS} iterations or {MAX_TIME:?}\n"
    );
    println!(
        "{:<14} {:<7} {:<7} {:>11} {:>14} {:>12} {:>11} {:>12} {:>14} {:>12}",
        "plugin",
        "lang",
        "build",
        "wasm rec/s",
        "wasm rec/s (1)",
        "native rec/s",
        "native/wasm",
        "fuel/record",
        "instantiate µs",
        "peak mem KiB"
    );
    let mut epoch_rows = Vec::new();
    for s in &subjects {
        let plugin = rt
            .block_on(runtime.load(&s.bytes, json!({})))
            .expect("plugin loads");
        let records: Vec<Value> = (0..BATCH).map(s.make).collect();
        let batch = wasm_rate(&rt, &plugin, &records, BATCH);
        let single = wasm_rate(&rt, &plugin, &records[..50], 1);
        let (native, ratio) = match s.native {
            Some(native) => {
                let n = native(&records);
                (format!("{n:.0}"), format!("{:.2}", n / batch.rate))
            }
            None => ("-".into(), "-".into()),
        };
        println!(
            "{:<14} {:<7} {:<7} {:>11.0} {:>14.0} {:>12} {:>11} {:>12} {:>14.1} {:>12}",
            s.name,
            s.lang,
            s.build,
            batch.rate,
            single.rate,
            native,
            ratio,
            batch.fuel_per_record,
            single.instantiate_us,
            batch.peak_memory / 1024,
        );
        if s.lang == "rust" && s.build == "after" {
            epoch_rows.push((s.name, records, batch.rate));
        }
    }

    // Where the time goes: the same runtime without fuel metering (deadlines
    // by epoch only) shows what fuel instrumentation costs.
    let epoch_only = Runtime::new(Limits {
        compile_cache: CompileCache::Disabled,
        fuel_per_record: 0,
        ..Limits::default()
    })
    .expect("runtime without fuel");
    println!("\nWhere the time goes (Rust plugins, batch {BATCH})\n");
    println!(
        "{:<14} {:>16} {:>18} {:>12}",
        "plugin", "fuel rec/s", "epoch-only rec/s", "fuel cost"
    );
    for (name, records, with_fuel) in epoch_rows {
        let bytes = dialsync_bundled_plugins::by_name(name).expect("bundled");
        let plugin = rt
            .block_on(epoch_only.load(bytes, json!({})))
            .expect("plugin loads");
        let without = wasm_rate(&rt, &plugin, &records, BATCH).rate;
        println!(
            "{name:<14} {with_fuel:>16.0} {without:>18.0} {:>11.1}%",
            (without / with_fuel - 1.0) * 100.0
        );
    }
    println!(
        "\n`wasm rec/s (1)` maps one record per call (a fresh instance each): per-call overhead.\n\
         `native/wasm` is how many times slower the wasm path is than the same code natively.\n\
         `build`: `after` = the bundled plugins (guest opt-level 3); `before` = the former\n\
         guest build (opt-level \"s\"), on the same host runtime."
    );
}
