//! Webhook ingress throughput of `dialsync serve`: accepted webhooks/second into the
//! durable SQLite journal, and p50/p99 acknowledgement latency (from sending the request
//! to having read its `202 Accepted`), with 1, 8 and 32 concurrent senders on loopback.
//!
//! The server is built in process exactly as `dialsync serve` builds it (a real
//! `dialsync.toml`, the bundled ServiceNow plugin, a SQLite journal in a temp dir, the
//! sync workers running in the background against a local emulator), and each request
//! is a realistic ServiceNow business-rule payload with a distinct `sys_id`, bearer auth.
//! Only the ingress acknowledgement is timed; the workers draining the journal into the
//! emulator at the same time is part of the realistic load.
//!
//! Each sender count runs twice in one process, group commit off and on (each mode with a
//! fresh journal), so the table compares them directly. Every 202 is backed by its row:
//! the journal's row count is checked against the acknowledgements. `per fsync` is how
//! many accepted requests each fsync of the journal carried (group commit on: per flush
//! of the write-ahead log, the workers' finishes riding along; off: per commit).
//!
//! The development machine's disk flushes in about 0.13 ms; network block storage takes
//! 0.5–2 ms, which changes the picture at 8 senders (the flush, not the CPU, bounds it).
//! To see that, run the bench binary with `slow_fsync.c` (beside this file) preloaded: its
//! `fdatasync`/`fsync` sleep first; nothing in the bench itself fakes a disk.
//!
//! Then the journal's size in steady state: 200,000 changes (100,000 contacts, each
//! updated twice) imported through the engine into the emulator, with the retention
//! window passed after each half; the file must not keep growing.
//!
//! Bounded: 10,000 requests per run, each run capped at 10 s. (Runs of 2,000 requests took
//! 0.2–0.5 s at 8 and 32 senders, too short to tell a change from the machine's noise.)
//!
//! Run: `cargo bench -p dialsync --bench webhooks` (release). For profiling one
//! configuration, `DS_BENCH_RUNS=on:8` keeps only the listed `mode:senders` runs,
//! `DS_BENCH_REQUESTS=N` changes the requests per run (at most 100,000) and
//! `DS_BENCH_SKIP_SIZE=1` skips the journal-size measurement.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};
use dialsync::config::{Config, DeleteMode};
use dialsync::plugin_registry::Registry;
use dialsync::server::{self, AppState};
use dialsync::sync::{
    Change, Engine, EngineOptions, GenesysSink, Operation, Phone, SourceBinding, SourceRules,
};
use dialsync_emulator::{EmulatorConfig, FixtureContactList, Fixtures, PhoneColumn};
use dialsync_genesys::{Endpoint, GenesysClient, OrgSettings, Secret};
use serde_json::{Value, json};

const GENESYS_SECRET_ENV: &str = "DS_BENCH_GENESYS_SECRET";
const GENESYS_SECRET: &str = "emulator-secret";
const SN_TOKEN_ENV: &str = "DS_BENCH_SN_TOKEN";
const SN_TOKEN: &str = "sn-bench-token-1";
const LIST: &str = "list-sn";
const SOURCE: &str = "servicenow";
const REQUESTS_PER_RUN: u64 = 10_000;
/// Most requests per run `DS_BENCH_REQUESTS` may ask for (keeps every run bounded).
const MAX_REQUESTS_PER_RUN: u64 = 100_000;
const RUN_CAP: Duration = Duration::from_secs(10);
const SENDERS: [usize; 3] = [1, 8, 32];
const SIZE_LIST: &str = "list-size";

/// A ServiceNow `customer_contact` as a business rule posts it; `n` makes the `sys_id`
/// (32 lowercase hex digits), name, email and phone distinct.
fn sn_record(n: u64) -> Value {
    json!({
        "sys_id": format!("{:032x}", 0xbe4c_0000_0000_u64 + n),
        "sys_updated_on": "2026-11-20 14:01:07",
        "sys_class_name": "customer_contact",
        "first_name": "Ann",
        "last_name": format!("Bench{n}"),
        "email": format!("bench{n}@example.com"),
        "phone": format!("(281) 5{:02}-{:04}", (n / 10_000) % 100, n % 10_000),
        "mobile_phone": "",
        "home_phone": "",
        "active": "true",
        "country": "US"
    })
}

fn write_config(dir: &Path, emulator_base: &str, group_commit: bool) -> std::path::PathBuf {
    let text = format!(
        r#"
[store]
path = "journal.db"
group_commit = {group_commit}

[orgs.acme]
base_url = "{emulator_base}"
client_id = "dialsync"
client_secret_env = "{GENESYS_SECRET_ENV}"

[server]
max_body_bytes = 65536

[sources.{SOURCE}]
plugin = "servicenow"
org = "acme"
contact_list_id = "{LIST}"
[sources.{SOURCE}.auth]
scheme = "bearer"
secret_env = "{SN_TOKEN_ENV}"
"#
    );
    let path = dir.join("dialsync.toml");
    std::fs::write(&path, text).expect("write dialsync.toml");
    path
}

/// The contact list the ServiceNow source writes, with the plugin's declared columns.
fn create_list(emulator: &dialsync_emulator::RunningEmulator, state: &AppState) {
    let slot = state.sources[SOURCE].plugin();
    let info = slot.plugin.info();
    emulator
        .load_fixtures(&Fixtures {
            contact_lists: vec![FixtureContactList {
                id: Some(LIST.to_owned()),
                name: "servicenow contacts".into(),
                column_names: info.columns.clone(),
                phone_columns: info
                    .phone_columns
                    .iter()
                    .map(|c| PhoneColumn {
                        column_name: c.clone(),
                        kind: Some("cell".into()),
                        callable_time_column: None,
                    })
                    .collect(),
                contacts: Vec::new(),
            }],
            ..Fixtures::default()
        })
        .expect("fixtures load");
}

struct RunResult {
    group_commit: bool,
    senders: usize,
    accepted: u64,
    refused: u64,
    seconds: f64,
    latencies: Vec<Duration>,
    /// Accepted batches per fsync of the journal during the run: per WAL flush with group
    /// commit (flushes of workers' finishes included), per commit without it.
    per_fsync: f64,
}

/// One bounded run: `senders` tasks share a counter of `REQUESTS_PER_RUN` requests and
/// stop early at `RUN_CAP`. `next_id` keeps `sys_id`s distinct across runs.
async fn run(
    url: &str,
    group_commit: bool,
    senders: usize,
    requests: u64,
    next_id: &Arc<AtomicU64>,
) -> RunResult {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(senders)
        .build()
        .expect("http client");
    let issued = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + RUN_CAP;
    let mut tasks = Vec::new();
    for _ in 0..senders {
        let (http, url, issued, next_id) = (
            http.clone(),
            url.to_owned(),
            issued.clone(),
            next_id.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut refused = 0u64;
            while Instant::now() < deadline && issued.fetch_add(1, Ordering::Relaxed) < requests {
                let n = next_id.fetch_add(1, Ordering::Relaxed);
                let body = serde_json::to_vec(&sn_record(n)).expect("record serialises");
                let sent = Instant::now();
                let outcome = http
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("authorization", format!("Bearer {SN_TOKEN}"))
                    .body(body)
                    .send()
                    .await;
                match outcome {
                    Ok(resp) => {
                        let status = resp.status().as_u16();
                        let text = resp.text().await.unwrap_or_default();
                        let took = sent.elapsed();
                        if status == 202 {
                            latencies.push(took);
                        } else {
                            refused += 1;
                            eprintln!("record {n}: HTTP {status}: {text}");
                        }
                    }
                    Err(e) => {
                        refused += 1;
                        eprintln!("record {n}: request failed: {e}");
                    }
                }
            }
            (latencies, refused)
        }));
    }
    let mut latencies = Vec::new();
    let mut refused = 0;
    for task in tasks {
        let (l, r) = task.await.expect("sender task");
        latencies.extend(l);
        refused += r;
    }
    let seconds = started.elapsed().as_secs_f64();
    latencies.sort();
    RunResult {
        group_commit,
        senders,
        accepted: latencies.len() as u64,
        refused,
        seconds,
        latencies,
        per_fsync: 0.0,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1e3
}

/// The runs `DS_BENCH_RUNS` selects (`on:8,off:1`; all when unset).
fn selected(group_commit: bool, senders: usize) -> bool {
    match std::env::var("DS_BENCH_RUNS") {
        Ok(list) => list.split(',').any(|item| {
            let mode = if group_commit { "on" } else { "off" };
            item.trim() == format!("{mode}:{senders}")
        }),
        Err(_) => true,
    }
}

fn main() {
    let requests = std::env::var("DS_BENCH_REQUESTS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(REQUESTS_PER_RUN)
        .clamp(1, MAX_REQUESTS_PER_RUN);
    // SAFETY: set before the runtime (and any other thread) starts.
    unsafe {
        std::env::set_var(GENESYS_SECRET_ENV, GENESYS_SECRET);
        std::env::set_var(SN_TOKEN_ENV, SN_TOKEN);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        let emulator = dialsync_emulator::start(
            EmulatorConfig {
                client_secret: GENESYS_SECRET.into(),
                // The measurement of the journal's size imports 200,000 changes.
                rate_limit_per_minute: 1_000_000,
                ..EmulatorConfig::default()
            },
            "127.0.0.1:0".parse().expect("loopback address"),
        )
        .await
        .expect("emulator starts");
        let next_id = Arc::new(AtomicU64::new(0));
        let mut results = Vec::new();
        let mut journal_rows = 0i64;
        for group_commit in [false, true] {
            let dir = tempfile::tempdir().expect("tempdir");
            let config_path = write_config(dir.path(), &emulator.base_url(), group_commit);
            let config = Config::load(&config_path).expect("config loads");
            let state = AppState::build(&config, Registry::new(&dir.path().join("home")))
                .await
                .expect("server state builds");
            if !group_commit {
                create_list(&emulator, &state);
            }
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind loopback");
            let url = format!(
                "http://{}/v1/sources/{SOURCE}/events",
                listener.local_addr().expect("local addr")
            );
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let server = tokio::spawn(server::serve(state.clone(), listener, async {
                let _ = stopped.await;
            }));
            for senders in SENDERS {
                if selected(group_commit, senders) {
                    let fsyncs = |stats: dialsync::sync::CommitStats| match state
                        .engine
                        .store()
                        .as_sqlite()
                    {
                        Some(sqlite) if group_commit => sqlite.wal_flushes(),
                        _ => stats.transactions,
                    };
                    let before = state.engine.commit_stats();
                    let flushed_before = fsyncs(before);
                    let mut result = run(&url, group_commit, senders, requests, &next_id).await;
                    let after = state.engine.commit_stats();
                    result.per_fsync = (after.batches - before.batches) as f64
                        / (fsyncs(after) - flushed_before).max(1) as f64;
                    results.push(result);
                }
            }
            journal_rows += rusqlite::Connection::open(dir.path().join("journal.db"))
                .expect("open journal")
                .query_row("SELECT COUNT(*) FROM changes", [], |r| r.get::<_, i64>(0))
                .expect("count journal rows");
            let _ = stop.send(());
            server
                .await
                .expect("server task")
                .expect("server stops cleanly");
        }

        println!();
        println!(
            "dialsync serve webhook ingress ({} build), ServiceNow bearer, durable SQLite journal \
             (WAL; each 202 only after an fsync covering its rows), loopback, emulator as Genesys, {requests} \
             requests/run, cap {}s/run",
            if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            },
            RUN_CAP.as_secs()
        );
        println!(
            "{:>12} | {:>8} | {:>8} | {:>7} | {:>8} | {:>12} | {:>8} | {:>8} | {:>10}",
            "group commit",
            "senders",
            "accepted",
            "refused",
            "seconds",
            "accepted/s",
            "p50 ms",
            "p99 ms",
            "per fsync"
        );
        println!("{}", "-".repeat(109));
        for r in &results {
            println!(
                "{:>12} | {:>8} | {:>8} | {:>7} | {:>8.2} | {:>12.1} | {:>8.2} | {:>8.2} | {:>10.1}",
                if r.group_commit { "on" } else { "off" },
                r.senders,
                r.accepted,
                r.refused,
                r.seconds,
                r.accepted as f64 / r.seconds,
                percentile(&r.latencies, 50.0),
                percentile(&r.latencies, 99.0),
                r.per_fsync
            );
        }
        let acked: u64 = results.iter().map(|r| r.accepted).sum();
        println!("journal rows: {journal_rows} (acknowledged: {acked})");
        assert!(
            journal_rows >= acked as i64,
            "every 202 must be backed by its journal row"
        );

        if std::env::var_os("DS_BENCH_SKIP_SIZE").is_none() {
            journal_size(&emulator).await;
        }
        emulator.shutdown().await;
    });
}

/// Contacts in the steady-state journal measurement; each is imported twice.
const SIZE_CONTACTS: usize = 100_000;

/// Bytes of the journal (main file + WAL) at `path`.
fn journal_bytes(path: &Path) -> u64 {
    let wal = path.with_extension("db-wal");
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
        + std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0)
}

/// Imports `SIZE_CONTACTS` contacts twice (200,000 changes) through the engine into the
/// emulator, passing the retention window after each half, and prints the journal size.
async fn journal_size(emulator: &dialsync_emulator::RunningEmulator) {
    let fixtures = Fixtures {
        contact_lists: vec![FixtureContactList {
            id: Some(SIZE_LIST.to_owned()),
            name: "size".into(),
            column_names: vec!["externalId".into(), "name".into(), "phone".into()],
            phone_columns: vec![PhoneColumn {
                column_name: "phone".into(),
                kind: Some("cell".into()),
                callable_time_column: None,
            }],
            contacts: Vec::new(),
        }],
        ..Fixtures::default()
    };
    emulator.load_fixtures(&fixtures).expect("fixtures load");
    let mut settings = OrgSettings::new(
        "acme",
        Endpoint::BaseUrl(emulator.base_url().parse().expect("emulator url")),
        "dialsync",
        Secret::new(GENESYS_SECRET),
    );
    settings.requests_per_minute = 1_000_000;
    let client = GenesysClient::new(settings).expect("client");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("journal.db");
    let engine = Engine::open(
        &path,
        vec![SourceBinding {
            name: "import".into(),
            list_id: SIZE_LIST.into(),
            sink: Arc::new(GenesysSink::new(client)),
            rules: SourceRules {
                dnc_list_id: None,
                delete_mode: DeleteMode::Soft,
            },
        }],
        EngineOptions {
            // Everything finished is past the window at once.
            retention: Duration::from_millis(1),
            ..EngineOptions::default()
        },
    )
    .expect("engine opens");
    let started = Instant::now();
    let mut sizes = Vec::new();
    for round in 0..2u32 {
        for chunk in (0..SIZE_CONTACTS).collect::<Vec<_>>().chunks(1000) {
            let changes = chunk
                .iter()
                .map(|&i| Change {
                    external_id: format!("C{i}"),
                    source_id: format!("c-{i}"),
                    source_updated_at: Utc
                        .timestamp_opt(1_700_000_000 + i64::from(round), 0)
                        .unwrap(),
                    operation: Operation::Upsert,
                    partial: false,
                    columns: BTreeMap::from([(
                        "name".to_string(),
                        format!("Contact {i} v{round}"),
                    )]),
                    phones: vec![Phone {
                        column: "phone".into(),
                        number: format!("+1415{:07}", i),
                    }],
                    callable: None,
                })
                .collect();
            engine.accept("import", changes).await.expect("accepted");
        }
        engine.run_until_idle().await.expect("applied");
        let before = journal_bytes(&path);
        tokio::time::sleep(Duration::from_millis(5)).await;
        let pruned = engine.prune().await.expect("pruned");
        engine
            .with_journal(|j| j.checkpoint())
            .await
            .expect("checkpoint");
        sizes.push((round, before, pruned, journal_bytes(&path)));
    }
    println!();
    println!(
        "journal size, {} contacts imported twice (200,000 changes) through the engine into \
         the emulator, retention window passed after each half ({:.1} s)",
        SIZE_CONTACTS,
        started.elapsed().as_secs_f64()
    );
    println!(
        "{:>8} | {:>16} | {:>14} | {:>20}",
        "changes", "before prune MB", "pruned rows", "after prune MB"
    );
    for (round, before, pruned, after) in sizes {
        println!(
            "{:>8} | {:>16.1} | {:>14} | {:>20.1}",
            (round as usize + 1) * SIZE_CONTACTS,
            before as f64 / 1e6,
            pruned,
            after as f64 / 1e6
        );
    }
}
