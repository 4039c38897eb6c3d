//! Records per second per plugin and language under wasm (the full host
//! path: input schema validation, a fresh store per call, the guest, output
//! validation) versus the same mapping code compiled natively and driven by
//! the SDK's `NativeHost`, plus what each component costs to compile, load
//! and instantiate and how much memory it uses.
//!
//! BEFORE and AFTER come from this one run: the Rust plugins are measured as
//! bundled (guest profile `plugin`, opt-level 3, the inline threshold of
//! `host/bundled-plugins/build.rs`) and as they were built before
//! (profile `plugin-small`, opt-level "s", compiled here into the plugins'
//! target directory), each on the same host runtime.
//!
//! The Python and JavaScript custom-CRM plugins (plugins/custom-crm-py,
//! plugins/custom-crm-js) are built from source with the toolchains
//! plugins/toolchains/install.sh puts in `.toolchains/`; without them their
//! rows say so.
//!
//! The process allocates with mimalloc, as the `dialsync` binary does;
//! `DIALSYNC_BENCH_ALLOCATOR=system` runs it on the system allocator instead
//! (the guests always use their own, wasi-libc's dlmalloc).
//!
//! The wasm/native ratio is measured by interleaving: native batch, wasm
//! batch (fuel metering, the default), wasm batch (epoch deadlines only),
//! native, ... for many short rounds in one process, and the median of the
//! per-round ratios is printed, so a machine whose load changes during the
//! run moves both sides of each ratio alike. When `perf` is installed the
//! bench also counts user-space instructions per record for each side (a
//! count that does not depend on the machine's load): it runs itself under
//! `perf stat -e instructions:u` twice per side with different record counts
//! and divides the difference, so start-up and compilation cancel out.
//!
//! Run: `cargo bench -p dialsync-plugin-host --bench mapping`. Environment:
//! `DIALSYNC_BENCH_BATCH` records per guest call (default 500),
//! `DIALSYNC_BENCH_ROUNDS` interleaved rounds per plugin (default 31),
//! `DIALSYNC_BENCH_SECS` bound on each throughput cell (default 3),
//! `DIALSYNC_BENCH_COUNT_BATCHES` batches per instruction-count run (default 20;
//! `0` skips the counts), `DIALSYNC_BENCH_LANGS` which of the Python and JS
//! plugins to build and measure (default `python,js`; empty for none).

use std::alloc::{GlobalAlloc, Layout, System};
use std::ffi::CStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use dialsync_plugin_host::{CompileCache, Limits, LoadedPlugin, RecordOutcome, Runtime};
use dialsync_plugin_sdk::Mapper;
use dialsync_plugin_sdk::NativeHost;
use serde_json::{Value, json};

/// The process's allocator: mimalloc, as the `dialsync` binary ships
/// (host/dialsync/src/lib.rs), so the host side and the native twin allocate
/// as they would in production; or the system allocator when
/// `DIALSYNC_BENCH_ALLOCATOR=system`, to compare with runs made before the
/// binary switched. Chosen from the environment before the first allocation
/// and never changed, so a block is always freed by the allocator it came from.
struct BenchAllocator;

/// 0 until chosen, then [`MIMALLOC`] or [`SYSTEM`].
static ALLOCATOR: AtomicU8 = AtomicU8::new(0);
const MIMALLOC: u8 = 1;
const SYSTEM: u8 = 2;

impl BenchAllocator {
    fn system() -> bool {
        let mut chosen = ALLOCATOR.load(Ordering::Relaxed);
        if chosen == 0 {
            // SAFETY: `getenv` with a NUL-terminated name; it allocates nothing,
            // which matters here (this runs inside the allocator). The result is
            // only read, before anything could change the environment.
            let value = unsafe { libc::getenv(c"DIALSYNC_BENCH_ALLOCATOR".as_ptr()) };
            // SAFETY: a non-null `getenv` result is a NUL-terminated string.
            let system = !value.is_null() && unsafe { CStr::from_ptr(value) } == c"system";
            chosen = if system { SYSTEM } else { MIMALLOC };
            ALLOCATOR.store(chosen, Ordering::Relaxed);
        }
        chosen == SYSTEM
    }

    fn name() -> &'static str {
        if Self::system() {
            "system (glibc)"
        } else {
            "mimalloc"
        }
    }
}

impl BenchAllocator {
    /// The allocator every call goes to.
    fn chosen() -> &'static dyn GlobalAlloc {
        if Self::system() {
            &System
        } else {
            &mimalloc::MiMalloc
        }
    }
}

// SAFETY: every call is forwarded with the caller's guarantees to one of two
// allocators, the same one for the whole process.
unsafe impl GlobalAlloc for BenchAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded (see the impl).
        unsafe { Self::chosen().alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded (see the impl).
        unsafe { Self::chosen().alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded (see the impl).
        unsafe { Self::chosen().dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded (see the impl).
        unsafe { Self::chosen().realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: BenchAllocator = BenchAllocator;

/// Bound on the iterations of one throughput cell.
const MAX_ITERATIONS: u32 = 40;
/// Set in the child processes the instruction counts run.
const COUNT_CHILD: &str = "DIALSYNC_BENCH_COUNT_CHILD";

/// What the environment asks for (see the module docs).
#[derive(Clone, Copy)]
struct Settings {
    batch: usize,
    rounds: usize,
    max_time: Duration,
    count_batches: usize,
}

impl Settings {
    fn from_env() -> Self {
        fn var(name: &str, default: usize) -> usize {
            match std::env::var(name) {
                Ok(v) => v
                    .parse()
                    .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
                Err(_) => default,
            }
        }
        Settings {
            batch: var("DIALSYNC_BENCH_BATCH", 500).max(1),
            rounds: var("DIALSYNC_BENCH_ROUNDS", 31).max(1),
            max_time: Duration::from_secs(var("DIALSYNC_BENCH_SECS", 3) as u64),
            count_batches: var("DIALSYNC_BENCH_COUNT_BATCHES", 20),
        }
    }
}

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
fn measure(records_per_iteration: usize, max_time: Duration, mut f: impl FnMut()) -> f64 {
    f(); // warm-up
    let started = Instant::now();
    let mut iterations = 0;
    while iterations < MAX_ITERATIONS && started.elapsed() < max_time {
        f();
        iterations += 1;
    }
    (records_per_iteration as f64 * f64::from(iterations)) / started.elapsed().as_secs_f64()
}

/// What one plugin's wasm runs measured.
struct WasmRun {
    rate: f64,
    instantiate_us: f64,
    peak_memory: usize,
}

/// Maps `records` in calls of `batch`, checking every record maps.
fn map_all(
    rt: &tokio::runtime::Runtime,
    plugin: &LoadedPlugin,
    records: &[Value],
    batch: usize,
    mut each: impl FnMut(&dialsync_plugin_host::MapReport),
) {
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
        each(&report);
    }
}

fn wasm_rate(
    rt: &tokio::runtime::Runtime,
    plugin: &LoadedPlugin,
    records: &[Value],
    batch: usize,
    max_time: Duration,
) -> WasmRun {
    let (mut instantiate, mut calls, mut peak) = (Duration::ZERO, 0, 0);
    let rate = measure(records.len(), max_time, || {
        map_all(rt, plugin, records, batch, |report| {
            instantiate += report.stats.instantiate;
            calls += report.stats.guest_calls;
            peak = peak.max(report.stats.peak_memory_bytes);
        });
    });
    WasmRun {
        rate,
        instantiate_us: instantiate.as_secs_f64() * 1e6 / f64::from(calls.max(1)),
        peak_memory: peak,
    }
}

/// Maps `records` natively in calls of `batch`, as `NativeHost::map` does.
fn native_map<M: Mapper>(records: &[Value], batch: usize) {
    let host = NativeHost::new(json!({}));
    for chunk in records.chunks(batch) {
        let outcomes = host.map::<M>(chunk);
        assert_eq!(outcomes.len(), chunk.len());
    }
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
/// the executable that cargo marked with `CACHEDIR.TAG` (or, in a target
/// directory copied without it, named `target`).
fn target_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    exe.ancestors()
        .find(|dir| dir.join("CACHEDIR.TAG").exists() || dir.file_name() == Some("target".as_ref()))
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

/// Maps records natively in calls of a given size.
type NativeMap = fn(&[Value], usize);

/// One row: a component under test.
struct Subject {
    name: &'static str,
    lang: &'static str,
    /// `after` (as bundled) or `before` (the former guest build).
    build: &'static str,
    bytes: Vec<u8>,
    make: fn(usize) -> Value,
    native: Option<NativeMap>,
}

/// The bundled Rust plugins with their native twins.
fn rust_subjects() -> Vec<Subject> {
    vec![
        Subject {
            name: "servicenow",
            lang: "rust",
            build: "after",
            bytes: dialsync_bundled_plugins::SERVICENOW.to_vec(),
            make: servicenow_record,
            native: Some(native_map::<dialsync_plugin_servicenow::ServiceNow>),
        },
        Subject {
            name: "salesforce",
            lang: "rust",
            build: "after",
            bytes: dialsync_bundled_plugins::SALESFORCE.to_vec(),
            make: salesforce_record,
            native: Some(native_map::<dialsync_plugin_salesforce::Salesforce>),
        },
        Subject {
            name: "custom-crm",
            lang: "rust",
            build: "after",
            bytes: dialsync_bundled_plugins::CUSTOM_CRM.to_vec(),
            make: custom_crm_record,
            native: Some(native_map::<dialsync_plugin_custom_crm::CustomCrm>),
        },
    ]
}

/// A runtime with the default limits, compiling in-process (the benchmark
/// measures mapping, and must not write to the user's compiled-code cache).
fn bench_runtime() -> Runtime {
    Runtime::new(Limits {
        compile_cache: CompileCache::Disabled,
        ..Limits::default()
    })
    .expect("plugin runtime")
}

/// The value at fraction `q` of the sorted values.
fn quantile(values: &[f64], q: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// Medians of interleaved rounds for one plugin.
struct Interleaved {
    native_rate: f64,
    wasm_rate: f64,
    metered_rate: f64,
    /// Per-round wasm time / native time: median, 10th and 90th percentile.
    wasm_ratio: [f64; 3],
    metered_ratio: [f64; 3],
}

/// Rounds of one native batch, one wasm batch as delivery maps it (a big
/// batch runs unmetered) and one fuel-metered wasm batch, in a rotating order.
fn interleave(
    rt: &tokio::runtime::Runtime,
    native: NativeMap,
    plugin: &LoadedPlugin,
    records: &[Value],
    rounds: usize,
) -> Interleaved {
    let batch = records.len();
    let metered = plugin.metered();
    let run = |side: usize| {
        let started = Instant::now();
        match side {
            0 => native(records, batch),
            1 => map_all(rt, plugin, records, batch, |_| {}),
            _ => map_all(rt, &metered, records, batch, |_| {}),
        }
        started.elapsed().as_secs_f64()
    };
    for side in 0..3 {
        run(side); // warm-up
    }
    let mut times: [Vec<f64>; 3] = Default::default();
    for round in 0..rounds {
        for k in 0..3 {
            let side = (round + k) % 3;
            times[side].push(run(side));
        }
    }
    let ratios = |side: usize| -> [f64; 3] {
        let r: Vec<f64> = times[side]
            .iter()
            .zip(&times[0])
            .map(|(w, n)| w / n)
            .collect();
        [quantile(&r, 0.5), quantile(&r, 0.1), quantile(&r, 0.9)]
    };
    let rate = |side: usize| batch as f64 / quantile(&times[side], 0.5);
    Interleaved {
        native_rate: rate(0),
        wasm_rate: rate(1),
        metered_rate: rate(2),
        wasm_ratio: ratios(1),
        metered_ratio: ratios(2),
    }
}

/// In a child process (`COUNT_CHILD=plugin:side:batches`): map one batch of
/// the plugin's records `batches` times on one side (`native`, `wasm` or
/// `metered`) and exit; the parent counts the child's instructions.
fn count_child(spec: &str, settings: Settings) {
    let parts: Vec<&str> = spec.split(':').collect();
    let [name, side, batches] = parts[..] else {
        panic!("{COUNT_CHILD}={spec:?}: expected plugin:side:batches");
    };
    let batches: usize = batches.parse().expect("batches");
    let subject = rust_subjects()
        .into_iter()
        .find(|s| s.name == name)
        .expect("a bundled Rust plugin");
    let records: Vec<Value> = (0..settings.batch).map(subject.make).collect();
    if side == "native" {
        let native = subject.native.expect("native twin");
        for _ in 0..batches {
            native(&records, settings.batch);
        }
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");
    let plugin = rt
        .block_on(bench_runtime().load(&subject.bytes, json!({})))
        .expect("plugin loads");
    let plugin = if side == "metered" {
        plugin.metered()
    } else {
        plugin
    };
    for _ in 0..batches {
        map_all(&rt, &plugin, &records, settings.batch, |_| {});
    }
}

/// User-space instructions of a child run, from `perf stat`.
fn count_instructions(spec: &str, settings: Settings) -> Result<f64, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = Command::new("perf")
        .args(["stat", "-x,", "-e", "instructions:u", "--"])
        .arg(exe)
        .env(COUNT_CHILD, spec)
        .env("DIALSYNC_BENCH_BATCH", settings.batch.to_string())
        .output()
        .map_err(|e| format!("cannot run perf: {e}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!("perf stat failed: {}", stderr.trim()));
    }
    stderr
        .lines()
        .find(|l| l.contains("instructions"))
        .and_then(|l| l.split(',').next())
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| format!("no instruction count in {:?}", stderr.trim()))
}

/// Instructions per record on one side: two runs of different lengths, so
/// start-up, compilation and loading cancel out.
fn instructions_per_record(name: &str, side: &str, settings: Settings) -> Result<f64, String> {
    let long = settings.count_batches.max(2);
    let short = (long / 4).max(1);
    let a = count_instructions(&format!("{name}:{side}:{short}"), settings)?;
    let b = count_instructions(&format!("{name}:{side}:{long}"), settings)?;
    Ok((b - a) / ((long - short) * settings.batch) as f64)
}

fn main() {
    let settings = Settings::from_env();
    if let Ok(spec) = std::env::var(COUNT_CHILD) {
        count_child(&spec, settings);
        return;
    }
    let Settings {
        batch,
        rounds,
        max_time,
        count_batches,
    } = settings;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");
    let runtime = bench_runtime();
    let mut subjects = rust_subjects();
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
    let langs = std::env::var("DIALSYNC_BENCH_LANGS").unwrap_or_else(|_| "python,js".into());
    for (name, lang) in [("custom-crm-py", "python"), ("custom-crm-js", "js")] {
        if !langs.split(',').any(|l| l.trim() == lang) {
            continue;
        }
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

    println!(
        "Allocator of this process (host side and native twin): {}",
        BenchAllocator::name()
    );
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
        "\nMapping under wasm: batch {batch}; each cell bounded to {MAX_ITERATIONS} iterations or {max_time:?}\n"
    );
    println!(
        "{:<14} {:<7} {:<7} {:>11} {:>14} {:>12} {:>14} {:>12}",
        "plugin",
        "lang",
        "build",
        "wasm rec/s",
        "wasm rec/s (1)",
        "fuel/record",
        "instantiate µs",
        "peak mem KiB"
    );
    let mut interleaved = Vec::new();
    for s in &subjects {
        let plugin = rt
            .block_on(runtime.load(&s.bytes, json!({})))
            .expect("plugin loads");
        let records: Vec<Value> = (0..batch).map(s.make).collect();
        let batched = wasm_rate(&rt, &plugin, &records, batch, max_time);
        // Fuel is counted on metered calls only: one metered pass.
        let metered = rt.block_on(plugin.metered().map_with_report(&records, None));
        let fuel_per_record = metered.stats.fuel_used / records.len() as u64;
        let single = wasm_rate(&rt, &plugin, &records[..batch.min(50)], 1, max_time);
        println!(
            "{:<14} {:<7} {:<7} {:>11.0} {:>14.0} {:>12} {:>14.1} {:>12}",
            s.name,
            s.lang,
            s.build,
            batched.rate,
            single.rate,
            fuel_per_record,
            single.instantiate_us,
            batched.peak_memory / 1024,
        );
        if let Some(native) = s.native {
            let result = interleave(&rt, native, &plugin, &records, rounds);
            interleaved.push((s.name, s.build, result));
        }
    }

    println!(
        "\nwasm vs native, interleaved: {rounds} rounds of (native, wasm, wasm fuel-metered) batches of {batch}, medians\n"
    );
    println!(
        "{:<14} {:<7} {:>12} {:>12} {:>17} {:>13} {:>17}",
        "plugin",
        "build",
        "native rec/s",
        "wasm rec/s",
        "wasm/native",
        "metered rec/s",
        "metered/native"
    );
    for (name, build, r) in &interleaved {
        let ratio = |[m, lo, hi]: [f64; 3]| format!("{m:.2} ({lo:.2}–{hi:.2})");
        println!(
            "{name:<14} {build:<7} {:>12.0} {:>12.0} {:>17} {:>13.0} {:>17}",
            r.native_rate,
            r.wasm_rate,
            ratio(r.wasm_ratio),
            r.metered_rate,
            ratio(r.metered_ratio),
        );
    }

    if count_batches > 0 {
        println!(
            "\nUser-space instructions per record (perf stat -e instructions:u; load-independent)\n"
        );
        println!(
            "{:<14} {:>12} {:>12} {:>12} {:>12} {:>13}",
            "plugin", "native", "wasm", "wasm/native", "metered", "metered/native"
        );
        for s in rust_subjects() {
            let count = |side| instructions_per_record(s.name, side, settings);
            match (count("native"), count("wasm"), count("metered")) {
                (Ok(n), Ok(f), Ok(e)) => println!(
                    "{:<14} {n:>12.0} {f:>12.0} {:>12.2} {e:>12.0} {:>13.2}",
                    s.name,
                    f / n,
                    e / n
                ),
                (Err(why), _, _) | (_, Err(why), _) | (_, _, Err(why)) => {
                    println!("{}: not counted: {why}", s.name);
                    break;
                }
            }
        }
    }
    println!(
        "\n`wasm rec/s (1)` maps one record per call (a fresh instance each): per-call overhead.\n\
         `wasm/native` is wasm time over native time for the same records (the goal is at most 2);\n\
         in brackets the 10th–90th percentile of the per-round ratios. `wasm` maps as delivery does\n\
         (a batch of more than 64 records runs unmetered, bounded by the deadline); `metered` runs\n\
         every call with fuel metering (as small calls, isolation re-runs and `plugin test` do),\n\
         to show what metering costs. `fuel/record` comes from one metered pass.\n\
         `build`: `after` = the bundled plugins (guest opt-level 3, inline threshold 2500);\n\
         `before` = the former guest build (opt-level \"s\", default inlining), on the same\n\
         host runtime."
    );
}
