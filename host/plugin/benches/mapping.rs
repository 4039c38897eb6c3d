//! Records per second per bundled plugin under wasm (the full host path:
//! input schema validation, a fresh store per call, the guest, output
//! validation) versus the same mapping code compiled natively and driven by
//! the SDK's `NativeHost`. Prints a table; the ratio is what to watch, since
//! both sides are measured in the same run on the same machine.
//!
//! Run: `cargo bench -p dialsync-plugin-host --bench mapping`. Each
//! measurement is bounded to 40 iterations or 3 seconds.

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

fn wasm_rate(
    rt: &tokio::runtime::Runtime,
    plugin: &LoadedPlugin,
    records: &[Value],
    batch: usize,
) -> (f64, u64) {
    let mut fuel = 0;
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
        }
    });
    (rate, fuel)
}

fn native_rate<M: Mapper>(records: &[Value]) -> f64 {
    let host = NativeHost::new(json!({}));
    measure(records.len(), || {
        let outcomes = host.map::<M>(records);
        assert_eq!(outcomes.len(), records.len());
    })
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
    println!("batch {BATCH}; each cell bounded to {MAX_ITERATIONS} iterations or {MAX_TIME:?}\n");
    println!(
        "{:<12} {:>16} {:>16} {:>16} {:>12} {:>14}",
        "plugin", "wasm rec/s", "wasm rec/s (1)", "native rec/s", "native/wasm", "fuel/record"
    );
    type Row = (&'static str, fn(usize) -> Value, fn(&[Value]) -> f64);
    let rows: [Row; 3] = [
        (
            "servicenow",
            servicenow_record,
            native_rate::<dialsync_plugin_servicenow::ServiceNow>,
        ),
        (
            "salesforce",
            salesforce_record,
            native_rate::<dialsync_plugin_salesforce::Salesforce>,
        ),
        (
            "custom-crm",
            custom_crm_record,
            native_rate::<dialsync_plugin_custom_crm::CustomCrm>,
        ),
    ];
    for (name, make, native) in rows {
        let bytes = dialsync_bundled_plugins::by_name(name).expect("bundled");
        let plugin = rt
            .block_on(runtime.load(bytes, json!({})))
            .expect("plugin loads");
        let records: Vec<Value> = (0..BATCH).map(make).collect();
        let (wasm, fuel) = wasm_rate(&rt, &plugin, &records, BATCH);
        let (wasm_single, _) = wasm_rate(&rt, &plugin, &records[..50], 1);
        let native = native(&records);
        println!(
            "{name:<12} {wasm:>16.0} {wasm_single:>16.0} {native:>16.0} {:>12.2} {fuel:>14}",
            native / wasm
        );
    }
    println!(
        "\n`wasm rec/s (1)` maps one record per call (a fresh store each), showing per-call overhead."
    );
}
