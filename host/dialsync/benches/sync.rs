//! Sync-engine benchmarks against the emulator, printed as tables:
//!
//! 1. Throughput at a fixed rate limit, compared in the same run with the naive approach
//!    users write by hand (seed 004): GET each contact, then POST it if missing or PUT it
//!    if present — contacts/second and requests per change for a create and an update pass.
//! 2. Do-not-call latency during a large import: 50,000 upserts are applied by the
//!    background workers while one do-not-call change for an existing contact is accepted
//!    every ~50 ms; each is timed from `accept` returning until `status` shows it applied
//!    (p50/p99), next to the import's total time and throughput. Capped at 60 s.
//! 3. Memory of a large import: resident-memory growth (VmRSS, VmHWM from
//!    /proc/self/status) while accepting and applying N records in chunks of 5,000, for
//!    N = 100,000 and 1,000,000, within a 60 s budget each; when the budget runs out the largest
//!    N reached and the per-record slope are printed instead. The emulator for this section
//!    runs in a child process (this same binary, re-executed) so its in-memory contact store
//!    is not counted as dialsync's memory.
//!
//! Bounded: fixed counts, per-section time caps, 10-minute overall cap.
//!
//! Run: `cargo bench -p dialsync --bench sync --profile dev` — the numbers in reports come
//! from the dev profile, because the release build is too slow on the shared build machine;
//! release numbers will be better, the ratios are what matter.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use dialsync::config::DeleteMode;
use dialsync::sync::{
    Change, ChangeState, Engine, EngineOptions, GenesysSink, Operation, Phone, SourceBinding,
    SourceRules, contact_id,
};
use dialsync_emulator::{EmulatorConfig, FixtureContactList, Fixtures, PhoneColumn};
use dialsync_genesys::{
    AddContactsOptions, DialerContact, Endpoint, GenesysClient, OrgSettings, Secret,
    WritableDialerContact,
};

const LIST: &str = "bench-list";
const CONTACTS: usize = 1_000;
const RATE_PER_MINUTE: u32 = 6_000;

fn fixtures() -> Fixtures {
    Fixtures {
        contact_lists: vec![FixtureContactList {
            id: Some(LIST.into()),
            name: "bench".into(),
            column_names: vec!["externalId".into(), "name".into(), "phone".into()],
            phone_columns: vec![
                serde_json::from_value::<PhoneColumn>(
                    serde_json::json!({"columnName": "phone", "type": "cell"}),
                )
                .unwrap(),
            ],
            contacts: vec![],
        }],
        ..Default::default()
    }
}

fn client(base: &str) -> GenesysClient {
    let mut settings = OrgSettings::new(
        "bench",
        Endpoint::BaseUrl(base.parse().unwrap()),
        "dialsync",
        Secret::new("emulator-secret"),
    );
    settings.requests_per_minute = RATE_PER_MINUTE;
    GenesysClient::new(settings).unwrap()
}

fn row(i: usize, pass: u32) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("externalId".to_string(), format!("B{i}")),
        ("name".to_string(), format!("name {i} pass {pass}")),
        ("phone".to_string(), format!("+1650253{:04}", i)),
    ])
}

struct Measured {
    requests: u64,
    seconds: f64,
}

async fn naive(client: &GenesysClient, pass: u32) -> Measured {
    let before = client.stats().total_responses();
    let started = Instant::now();
    for i in 0..CONTACTS {
        let id = contact_id(LIST, &format!("B{i}"));
        match client.get_contact(LIST, &id).await.unwrap() {
            None => {
                let c = WritableDialerContact {
                    id: Some(id),
                    contact_list_id: LIST.into(),
                    data: row(i, pass),
                    ..Default::default()
                };
                client
                    .add_contacts(LIST, &[c], AddContactsOptions::default())
                    .await
                    .unwrap();
            }
            Some(existing) => {
                let c = DialerContact {
                    data: row(i, pass),
                    ..existing
                };
                client.put_contact(LIST, &id, &c).await.unwrap();
            }
        }
    }
    Measured {
        requests: client.stats().total_responses() - before,
        seconds: started.elapsed().as_secs_f64(),
    }
}

async fn engine_pass(engine: &Engine, client: &GenesysClient, pass: u32) -> Measured {
    let before = client.stats().total_responses();
    let started = Instant::now();
    let changes: Vec<Change> = (0..CONTACTS)
        .map(|i| Change {
            external_id: format!("B{i}"),
            source_id: format!("B{i}"),
            source_updated_at: Utc.timestamp_opt(1_700_000_000 + pass as i64, 0).unwrap(),
            operation: Operation::Upsert,
            partial: false,
            columns: BTreeMap::from([("name".to_string(), format!("name {i} pass {pass}"))]),
            phones: vec![Phone {
                column: "phone".into(),
                number: format!("+1650253{:04}", i),
            }],
            callable: None,
        })
        .collect();
    engine.accept("bench", changes).await.unwrap();
    engine.run_until_idle().await.unwrap();
    Measured {
        requests: client.stats().total_responses() - before,
        seconds: started.elapsed().as_secs_f64(),
    }
}

async fn start() -> dialsync_emulator::RunningEmulator {
    start_with_latency(Duration::from_millis(2)..=Duration::from_millis(5)).await
}

async fn start_with_latency(
    latency: std::ops::RangeInclusive<Duration>,
) -> dialsync_emulator::RunningEmulator {
    dialsync_emulator::start(
        EmulatorConfig {
            rate_limit_per_minute: RATE_PER_MINUTE,
            latency,
            fixtures: Some(fixtures()),
            ..Default::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap()
}

async fn bench() {
    throughput().await;
    dnc_latency().await;
    memory().await;
}

async fn throughput() {
    let mut rows = Vec::new();

    let emu = start().await;
    let naive_client = client(&emu.base_url());
    naive_client.ensure_token().await.unwrap();
    for (pass, label) in [(1, "create"), (2, "update")] {
        rows.push((
            "naive GET+POST/PUT",
            label,
            naive(&naive_client, pass).await,
        ));
    }
    emu.shutdown().await;

    let emu = start().await;
    let engine_client = client(&emu.base_url());
    engine_client.ensure_token().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let engine = open_engine(&dir, &engine_client);
    for (pass, label) in [(1, "create"), (2, "update")] {
        rows.push((
            "dialsync engine",
            label,
            engine_pass(&engine, &engine_client, pass).await,
        ));
    }
    emu.shutdown().await;

    println!(
        "{CONTACTS} contacts per pass, emulator limit {RATE_PER_MINUTE} requests/minute, 2-5 ms latency"
    );
    println!(
        "{:<20} {:<7} {:>9} {:>12} {:>9} {:>12}",
        "approach", "pass", "requests", "req/change", "seconds", "contacts/s"
    );
    for (approach, pass, m) in &rows {
        println!(
            "{:<20} {:<7} {:>9} {:>12.3} {:>9.2} {:>12.0}",
            approach,
            pass,
            m.requests,
            m.requests as f64 / CONTACTS as f64,
            m.seconds,
            CONTACTS as f64 / m.seconds
        );
    }
    for pass in ["create", "update"] {
        let naive = rows
            .iter()
            .find(|r| r.0.starts_with("naive") && r.1 == pass)
            .unwrap();
        let ours = rows
            .iter()
            .find(|r| r.0.starts_with("dialsync") && r.1 == pass)
            .unwrap();
        println!(
            "{pass}: engine is {:.1}x faster with {:.1}x fewer requests",
            naive.2.seconds / ours.2.seconds,
            naive.2.requests as f64 / ours.2.requests.max(1) as f64
        );
    }
}

fn open_engine(dir: &tempfile::TempDir, client: &GenesysClient) -> Engine {
    Engine::open(
        &dir.path().join("journal.db"),
        vec![SourceBinding {
            name: "bench".into(),
            list_id: LIST.into(),
            sink: Arc::new(GenesysSink::new(client.clone())),
            rules: SourceRules {
                dnc_list_id: None,
                delete_mode: DeleteMode::Soft,
            },
        }],
        EngineOptions::default(),
    )
    .unwrap()
}

/// A full upsert (or a do-not-call change) for record `key` number `i`.
fn change(key: &str, i: usize, operation: Operation, at: i64) -> Change {
    Change {
        external_id: format!("{key}{i}"),
        source_id: format!("{key}{i}"),
        source_updated_at: Utc.timestamp_opt(at, 0).unwrap(),
        operation,
        partial: false,
        columns: BTreeMap::from([("name".to_string(), format!("name {key}{i}"))]),
        phones: vec![Phone {
            column: "phone".into(),
            number: format!("+1650{:07}", 2_000_000 + i),
        }],
        callable: (operation == Operation::DoNotCall).then_some(false),
    }
}

const IMPORT: usize = 50_000;
const DNC_KEYS: usize = 1_000;
const DNC_EVERY: Duration = Duration::from_millis(50);
const SECTION_CAP: Duration = Duration::from_secs(60);

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

async fn dnc_latency() {
    let emu = start().await;
    let client = client(&emu.base_url());
    client.ensure_token().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let engine = open_engine(&dir, &client);
    // The contacts the do-not-call changes target exist before the import starts.
    let existing = (0..DNC_KEYS)
        .map(|i| change("D", i, Operation::Upsert, 1_700_000_000))
        .collect();
    engine.accept("bench", existing).await.unwrap();
    engine.run_until_idle().await.unwrap();

    let import = (0..IMPORT)
        .map(|i| change("I", i, Operation::Upsert, 1_700_000_000))
        .collect();
    let started = Instant::now();
    engine.accept("bench", import).await.unwrap();
    let workers = engine.spawn_workers();
    let mut latencies = Vec::new();
    let mut not_applied = BTreeMap::<String, usize>::new();
    let mut import_seconds = None;
    // Do-not-call changes accepted but not yet finished: (externalId, seq, accepted at).
    let mut pending: Vec<(String, i64, Instant)> = Vec::new();
    let mut next = 0;
    let mut next_at = Instant::now();
    while started.elapsed() < SECTION_CAP {
        if import_seconds.is_none() && next < DNC_KEYS && Instant::now() >= next_at {
            let dnc = change("D", next, Operation::DoNotCall, 1_700_000_100);
            let external_id = dnc.external_id.clone();
            let seq = engine.accept("bench", vec![dnc]).await.unwrap()[0].seq;
            pending.push((external_id, seq, Instant::now()));
            next += 1;
            next_at += DNC_EVERY;
        }
        let mut still = Vec::new();
        for (external_id, seq, accepted) in pending.drain(..) {
            let status = engine.status(&external_id, Some("bench")).await.unwrap();
            let done = status
                .iter()
                .flat_map(|s| s.changes.iter())
                .find(|c| c.seq == seq && c.state == ChangeState::Done)
                .map(|c| {
                    c.outcome
                        .map(|o| o.as_str().to_string())
                        .unwrap_or_default()
                });
            match done.as_deref() {
                Some("applied") => latencies.push(accepted.elapsed()),
                Some(other) => *not_applied.entry(other.to_string()).or_default() += 1,
                None => still.push((external_id, seq, accepted)),
            }
        }
        pending = still;
        if import_seconds.is_none() && engine.with_journal(|j| j.unfinished()).await.unwrap() == 0 {
            import_seconds = Some(started.elapsed().as_secs_f64());
        }
        if import_seconds.is_some() && pending.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    if !pending.is_empty() {
        *not_applied
            .entry("unfinished at the cap".to_string())
            .or_default() += pending.len();
    }
    workers.shutdown().await.unwrap();
    emu.shutdown().await;

    latencies.sort();
    println!();
    println!(
        "do-not-call latency during a {IMPORT}-contact import (background workers, one DNC change every {} ms)",
        DNC_EVERY.as_millis()
    );
    println!(
        "{:>6} {:>9} {:>9} {:>9} {:>10} {:>12}",
        "DNCs", "p50 ms", "p99 ms", "max ms", "import s", "contacts/s"
    );
    let ms = |d: Duration| format!("{:.1}", d.as_secs_f64() * 1000.0);
    let (p50, p99, max) = if latencies.is_empty() {
        ("-".to_string(), "-".to_string(), "-".to_string())
    } else {
        (
            ms(percentile(&latencies, 50.0)),
            ms(percentile(&latencies, 99.0)),
            ms(*latencies.last().unwrap()),
        )
    };
    let (import_s, rate) = match import_seconds {
        Some(s) => (format!("{s:.2}"), format!("{:.0}", IMPORT as f64 / s)),
        None => (format!(">{}", SECTION_CAP.as_secs()), "-".to_string()),
    };
    println!(
        "{:>6} {:>9} {:>9} {:>9} {:>10} {:>12}",
        latencies.len(),
        p50,
        p99,
        max,
        import_s,
        rate
    );
    for (outcome, n) in &not_applied {
        println!("  {n} do-not-call change(s) ended {outcome} (not counted above)");
    }
}

/// Env var that makes this binary serve an emulator instead of benchmarking.
const CHILD_ENV: &str = "DIALSYNC_SYNC_BENCH_EMULATOR";

/// Child-process mode: start an emulator (no added latency), print its base URL, serve
/// until stdin closes (the parent exits or drops the pipe).
fn emulator_child() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let emu = start_with_latency(Duration::ZERO..=Duration::ZERO).await;
        println!("{}", emu.base_url());
        tokio::task::spawn_blocking(|| {
            let mut sink = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut sink);
        })
        .await
        .unwrap();
        emu.shutdown().await;
    });
}

/// An emulator in a child process; killed on drop.
struct ChildEmulator {
    child: Child,
    base_url: String,
}

impl ChildEmulator {
    fn spawn() -> ChildEmulator {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env(CHILD_ENV, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        ChildEmulator {
            child,
            base_url: line.trim().to_string(),
        }
    }
}

impl Drop for ChildEmulator {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// (VmRSS, VmHWM) of this process in KiB.
fn memory_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap()
    };
    (field("VmRSS:"), field("VmHWM:"))
}

const CHUNK: usize = 5_000;

struct MemoryRun {
    target: usize,
    done: usize,
    seconds: f64,
    rss_growth_kib: i64,
    hwm_growth_kib: i64,
}

async fn memory_run(target: usize, baseline: (u64, u64)) -> MemoryRun {
    let deadline = Instant::now() + SECTION_CAP;
    let emu = ChildEmulator::spawn();
    let client = client(&emu.base_url);
    client.ensure_token().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let engine = open_engine(&dir, &client);
    let (rss0, hwm0) = baseline;
    let started = Instant::now();
    let mut done = 0;
    while done < target && Instant::now() < deadline {
        let n = CHUNK.min(target - done);
        let changes = (done..done + n)
            .map(|i| change("M", i, Operation::Upsert, 1_700_000_000))
            .collect();
        engine.accept("bench", changes).await.unwrap();
        engine.run_until_idle().await.unwrap();
        done += n;
    }
    let seconds = started.elapsed().as_secs_f64();
    let (rss1, hwm1) = memory_kib();
    MemoryRun {
        target,
        done,
        seconds,
        rss_growth_kib: rss1 as i64 - rss0 as i64,
        hwm_growth_kib: hwm1 as i64 - hwm0 as i64,
    }
}

async fn memory() {
    // One baseline for the section: a later run reuses memory the allocator kept from an
    // earlier one, so growth per run alone would understate it.
    let baseline = memory_kib();
    let mut runs = Vec::new();
    for target in [100_000, 1_000_000] {
        let run = memory_run(target, baseline).await;
        let complete = run.done == run.target;
        runs.push(run);
        if !complete {
            break;
        }
    }
    println!();
    println!(
        "memory of a large import (chunks of {CHUNK}, applied as accepted; emulator in a child process; {} s budget per N; growth since the section started)",
        SECTION_CAP.as_secs()
    );
    println!(
        "{:>10} {:>10} {:>9} {:>10} {:>14} {:>14} {:>13}",
        "target N", "applied", "seconds", "records/s", "VmRSS +MiB", "VmHWM +MiB", "HWM B/record"
    );
    for r in &runs {
        println!(
            "{:>10} {:>10} {:>9.2} {:>10.0} {:>14.1} {:>14.1} {:>13.1}",
            r.target,
            r.done,
            r.seconds,
            r.done as f64 / r.seconds,
            r.rss_growth_kib as f64 / 1024.0,
            r.hwm_growth_kib as f64 / 1024.0,
            r.hwm_growth_kib as f64 * 1024.0 / r.done.max(1) as f64
        );
    }
    if let Some(last) = runs.iter().rev().find(|r| r.done < r.target) {
        println!(
            "N = {} did not finish in the {} s budget: largest N applied is {}; peak (VmHWM) growth slope {:.1} bytes/record",
            last.target,
            SECTION_CAP.as_secs(),
            last.done,
            last.hwm_growth_kib as f64 * 1024.0 / last.done.max(1) as f64
        );
    }
}

fn main() {
    if std::env::var_os(CHILD_ENV).is_some() {
        emulator_child();
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(600), bench())
            .await
            .expect("benchmark finished within 10 minutes")
    });
}
