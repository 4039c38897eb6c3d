//! Scale-out on PostgreSQL: contacts/s with 1, 2 and 4 workers on one store, and durable
//! webhook accepts/s on PostgreSQL beside SQLite, in one run. Prints tables.
//!
//! 1. **One org at a fixed limit.** The emulator answers 429 once the org's OAuth client
//!    goes over `LIMIT` requests per minute; every worker has `requests_per_minute = LIMIT`
//!    and draws from the org's one budget in PostgreSQL. Requests/s must stay ≥ 95 % of
//!    the budget's bound (burst + steady pace over the run: "% bound") once the workers
//!    can fill it, and must not multiply with workers; "429 over" (the emulator's count of
//!    429s for over-sending, injected bursts excluded) must stay 0.
//! 2. **Four orgs.** Each org has its own emulator and budget; the limits are high, so
//!    contacts/s grows with workers until the machine (CPU, PostgreSQL) is the limit.
//! 3. **Durable webhook accepts/s.** `dialsync serve`'s state built in process from a
//!    real `dialsync.toml` (bundled ServiceNow plugin, bearer auth), once on a SQLite file
//!    and once on PostgreSQL (`fsync` on, like production), `SENDERS` concurrent senders
//!    over loopback; a 202 is sent only once the change is durable.
//!
//! Workers are in-process: each is its own `Engine` with its own PostgreSQL pool and lease
//! owner id, its own LISTEN connection, its own Genesys client and OAuth token and its own
//! handle on the org's shared budget — everything a `dialsync serve` process has, except
//! that they share this process's CPU and tokio runtime (as processes share the machine).
//!
//! Bounded: every count comes from an environment variable with a small default, and each
//! run is capped at `DIALSYNC_BENCH_CAP_SECS`:
//! `DIALSYNC_BENCH_CONTACTS` (4000 per row), `DIALSYNC_BENCH_LIMIT` (3000 requests/min),
//! `DIALSYNC_BENCH_PER_CALL` (10 contacts per call in part 1), `DIALSYNC_BENCH_WEBHOOKS`
//! (1000 per backend), `DIALSYNC_BENCH_CAP_SECS` (60).
//!
//! Run: `cargo bench -p dialsync --bench scale_out` (release; needs the Debian
//! `postgresql` package for the throw-away server).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use dialsync::config::{Config, DeleteMode};
use dialsync::plugin_registry::Registry;
use dialsync::server::{self, AppState};
use dialsync::sync::{
    Change, Engine, EngineOptions, GenesysSink, Operation, Phone, RetryRules, SourceBinding,
    SourceRules,
};
use dialsync_emulator::{
    EmulatorConfig, FixtureContactList, Fixtures, PhoneColumn, RunningEmulator,
};
use dialsync_genesys::{Endpoint, GenesysClient, OrgSettings, Secret};
use dialsync_pg::{PgJournal, PgRateBudget, PgSettings};
use dialsync_pg_harness::{PgOptions, PgServer};
use serde_json::json;

const LIST: &str = "list-bench";
const WORKERS: [usize; 3] = [1, 2, 4];
const SENDERS: usize = 8;
const GENESYS_SECRET_ENV: &str = "DS_SCALE_BENCH_GENESYS_SECRET";
const SN_TOKEN_ENV: &str = "DS_SCALE_BENCH_SN_TOKEN";
const SN_TOKEN: &str = "scale-bench-token";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A list with `externalId`, `name` and the phone column `phone`.
fn list_fixture(id: &str) -> FixtureContactList {
    FixtureContactList {
        id: Some(id.into()),
        name: format!("bench {id}"),
        column_names: vec!["externalId".into(), "name".into(), "phone".into()],
        phone_columns: vec![PhoneColumn {
            column_name: "phone".into(),
            kind: Some("cell".into()),
            callable_time_column: None,
        }],
        contacts: vec![],
    }
}

async fn org_emulator(list: &str, limit: u32, latency: Duration) -> RunningEmulator {
    dialsync_emulator::start(
        EmulatorConfig {
            rate_limit_per_minute: 1_000_000,
            rate_limit_per_client_per_minute: Some(limit),
            latency: latency..=latency,
            fixtures: Some(Fixtures {
                contact_lists: vec![list_fixture(list)],
                ..Default::default()
            }),
            ..Default::default()
        },
        "127.0.0.1:0".parse().expect("loopback"),
    )
    .await
    .expect("emulator starts")
}

fn upsert(org: usize, i: usize) -> Change {
    Change {
        external_id: format!("O{org}-E{i:06}"),
        source_id: format!("sys-{org}-{i}"),
        source_updated_at: Utc.timestamp_opt(1_700_000_000 + i as i64, 0).unwrap(),
        operation: Operation::Upsert,
        partial: false,
        columns: BTreeMap::from([("name".to_string(), format!("name {i}"))]),
        phones: vec![Phone {
            column: "phone".into(),
            number: format!("+1415{:07}", i % 10_000_000),
        }],
        callable: None,
    }
}

/// One worker: its own pool, lease owner, LISTEN connection, and per org its own client
/// (own token) drawing from the org's shared budget.
async fn worker(
    url: &str,
    orgs: &[RunningEmulator],
    limit: u32,
    per_call: usize,
    name: &str,
) -> (Engine, PgJournal) {
    let settings = PgSettings::new(url);
    let pool = dialsync_pg::connect(&settings).expect("pool");
    dialsync_pg::migrate(&pool).await.expect("migrated");
    let journal = PgJournal::new(pool.clone(), Duration::from_secs(10))
        .with_listener(settings.config().expect("config"));
    let mut bindings = Vec::new();
    for (o, emu) in orgs.iter().enumerate() {
        let mut s = OrgSettings::new(
            format!("org{o}"),
            Endpoint::BaseUrl(emu.base_url().parse().expect("url")),
            "dialsync",
            Secret::new("emulator-secret"),
        );
        s.requests_per_minute = limit;
        let budget = PgRateBudget::register(
            pool.clone(),
            &s.name,
            &s.budget_key().expect("key"),
            limit,
            name,
        )
        .await
        .expect("budget");
        s.shared_budget = Some(Arc::new(budget));
        bindings.push(SourceBinding {
            name: format!("crm{o}"),
            list_id: format!("{LIST}-{o}"),
            sink: Arc::new(GenesysSink::new(GenesysClient::new(s).expect("client"))),
            rules: SourceRules {
                dnc_list_id: None,
                delete_mode: DeleteMode::Soft,
            },
        });
    }
    let options = EngineOptions {
        retry: RetryRules {
            max_attempts: 20,
            base_delay: Duration::from_millis(50),
            max_delay: Duration::from_secs(2),
            per_call,
            concurrent_batches: 4,
        },
        keys_per_round: per_call * 4,
        idle_poll: Duration::from_millis(100),
        ..EngineOptions::default()
    };
    let engine = Engine::with_store(Arc::new(journal.clone()), bindings, options);
    (engine, journal)
}

struct Row {
    workers: usize,
    contacts: usize,
    seconds: f64,
    requests: u64,
    over_limit: u64,
    bound: f64,
}

/// One table's setting.
#[derive(Clone, Copy)]
struct Scenario {
    orgs: usize,
    /// Contacts per org.
    contacts: usize,
    /// Requests per minute per org (emulator limit and configured budget).
    limit: u32,
    per_call: usize,
    latency: Duration,
    cap: Duration,
}

/// One row: the scenario's changes accepted first, then `workers` workers drain them.
async fn drain(server: &PgServer, db: &str, sc: Scenario, workers: usize) -> Row {
    let Scenario {
        orgs,
        contacts,
        limit,
        per_call,
        latency,
        cap,
    } = sc;
    let url = server.create_database(db).expect("database");
    let mut emus = Vec::new();
    for o in 0..orgs {
        emus.push(org_emulator(&format!("{LIST}-{o}"), limit, latency).await);
    }
    let mut engines = Vec::new();
    for w in 0..workers {
        engines.push(worker(&url, &emus, limit, per_call, &format!("w{w}")).await);
    }
    let (first, journal) = &engines[0];
    for o in 0..orgs {
        for chunk in (0..contacts).collect::<Vec<_>>().chunks(1000) {
            let changes = chunk.iter().map(|i| upsert(o, *i)).collect();
            first
                .accept(&format!("crm{o}"), changes)
                .await
                .expect("accepted");
        }
    }
    // API requests only (token requests are not rate-limited).
    let api = |e: &RunningEmulator| {
        let stats = e.stats();
        stats.total - stats.route_total("POST", "/oauth/token")
    };
    let before: Vec<u64> = emus.iter().map(api).collect();
    let started = Instant::now();
    let running: Vec<_> = engines.iter().map(|(e, _)| e.spawn_workers()).collect();
    while journal.unfinished().await.expect("unfinished") > 0 && started.elapsed() < cap {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    for r in running {
        r.shutdown().await.expect("workers stop");
    }
    let requests: u64 = emus.iter().zip(&before).map(|(e, b)| api(e) - b).sum();
    let over_limit = emus.iter().map(|e| e.stats().over_limit).sum();
    // What the orgs' budgets may grant in `seconds` (as `dialsync_pg::PgRateBudget`: a
    // burst of a second's worth, at most 100, then the rest of the minute at an even pace).
    let burst = f64::from((limit / 60).clamp(1, 100));
    let steady_per_s = (f64::from(limit) - (burst - 1.0)) / 60.0;
    let bound = orgs as f64 * (burst + (seconds * steady_per_s).floor() + 1.0);
    let done = contacts * orgs - journal.unfinished().await.expect("unfinished") as usize;
    for emu in emus {
        emu.shutdown().await;
    }
    Row {
        workers,
        contacts: done,
        seconds,
        requests,
        over_limit,
        bound,
    }
}

fn print_rows(title: &str, rows: &[Row]) {
    println!();
    println!("{title}");
    println!(
        "{:>7} | {:>8} | {:>7} | {:>10} | {:>8} | {:>10} | {:>8} | {:>10}",
        "workers",
        "contacts",
        "seconds",
        "contacts/s",
        "requests",
        "requests/s",
        "% bound",
        "429 over"
    );
    println!("{}", "-".repeat(90));
    for r in rows {
        println!(
            "{:>7} | {:>8} | {:>7.2} | {:>10.1} | {:>8} | {:>10.1} | {:>7.1}% | {:>10}",
            r.workers,
            r.contacts,
            r.seconds,
            r.contacts as f64 / r.seconds,
            r.requests,
            r.requests as f64 / r.seconds,
            100.0 * r.requests as f64 / r.bound,
            r.over_limit
        );
    }
}

fn write_config(dir: &Path, emulator: &str, store: &str) -> std::path::PathBuf {
    let text = format!(
        "[store]\n{store}\n\n[orgs.acme]\nbase_url = \"{emulator}\"\nclient_id = \"dialsync\"\n\
         client_secret_env = \"{GENESYS_SECRET_ENV}\"\nrequests_per_minute = 100000\n\n\
         [sources.sn]\nplugin = \"servicenow\"\norg = \"acme\"\ncontact_list_id = \"{LIST}\"\n\
         [sources.sn.auth]\nscheme = \"bearer\"\nsecret_env = \"{SN_TOKEN_ENV}\"\n"
    );
    let path = dir.join("dialsync.toml");
    std::fs::write(&path, text).expect("write dialsync.toml");
    path
}

/// `n` single-record ServiceNow webhooks from `SENDERS` senders into an in-process server
/// on `store`; returns (accepted, seconds, p50 ms, p99 ms).
async fn webhooks(
    store: &str,
    emulator: &RunningEmulator,
    n: usize,
    cap: Duration,
) -> (u64, f64, f64, f64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let config =
        Config::load(&write_config(dir.path(), &emulator.base_url(), store)).expect("config");
    let state = AppState::build(&config, Registry::new(&dir.path().join("home")))
        .await
        .expect("server state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!(
        "http://{}/v1/sources/sn/events",
        listener.local_addr().expect("addr")
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server::serve(state, listener, async {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..SENDERS {
        let (http, url, next) = (http.clone(), url.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n as u64 || started.elapsed() > cap {
                    return latencies;
                }
                let body = json!({
                    "sys_id": format!("{:032x}", 0x0005_ca1e_0000_u64 + i),
                    "sys_updated_on": "2026-11-20 14:01:07",
                    "sys_class_name": "customer_contact",
                    "first_name": "Ann",
                    "last_name": format!("Scale{i}"),
                    "phone": format!("(281) 5{:02}-{:04}", (i / 10_000) % 100, i % 10_000),
                    "active": "true",
                    "country": "US"
                });
                let sent = Instant::now();
                let resp = http
                    .post(&url)
                    .header("authorization", format!("Bearer {SN_TOKEN}"))
                    .json(&body)
                    .send()
                    .await
                    .expect("request");
                assert_eq!(
                    resp.status().as_u16(),
                    202,
                    "{}",
                    resp.text().await.unwrap_or_default()
                );
                latencies.push(sent.elapsed());
            }
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.expect("sender"));
    }
    let seconds = started.elapsed().as_secs_f64();
    let _ = stop.send(());
    serving.await.expect("server task").expect("server stops");
    latencies.sort();
    let pct = |p: f64| {
        let rank = ((p / 100.0) * latencies.len() as f64).ceil() as usize;
        latencies[rank.clamp(1, latencies.len()) - 1].as_secs_f64() * 1e3
    };
    (latencies.len() as u64, seconds, pct(50.0), pct(99.0))
}

fn main() {
    // SAFETY: set before the runtime (and any other thread) starts.
    unsafe {
        std::env::set_var(GENESYS_SECRET_ENV, "emulator-secret");
        std::env::set_var(SN_TOKEN_ENV, SN_TOKEN);
    }
    let contacts = env_usize("DIALSYNC_BENCH_CONTACTS", 4000);
    let limit = env_usize("DIALSYNC_BENCH_LIMIT", 3000) as u32;
    let per_call = env_usize("DIALSYNC_BENCH_PER_CALL", 10);
    let hooks = env_usize("DIALSYNC_BENCH_WEBHOOKS", 1000);
    let cap = Duration::from_secs(env_usize("DIALSYNC_BENCH_CAP_SECS", 60) as u64);
    let build = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        // fsync on: the accept rows compare durable commits.
        let server = PgServer::start_with(PgOptions {
            fast_unsafe: false,
            max_connections: 200,
        })
        .expect("PostgreSQL test server (Debian package `postgresql`)");

        let one_org = Scenario {
            orgs: 1,
            contacts,
            limit,
            per_call,
            latency: Duration::from_millis(5),
            cap,
        };
        let mut one = Vec::new();
        for w in WORKERS {
            one.push(drain(&server, &format!("one_{w}"), one_org, w).await);
        }
        print_rows(
            &format!(
                "one org, limit {limit} requests/min, {per_call} contacts/call, {contacts} \
                 contacts ({build} build, PostgreSQL, loopback emulator)"
            ),
            &one,
        );

        let four_orgs = Scenario {
            orgs: 4,
            contacts: contacts / 4,
            limit: 600_000,
            per_call: 50,
            latency: Duration::from_millis(20),
            cap,
        };
        let mut four = Vec::new();
        for w in WORKERS {
            four.push(drain(&server, &format!("four_{w}"), four_orgs, w).await);
        }
        print_rows(
            &format!(
                "four orgs, limit 600000 requests/min each (not binding), 50 contacts/call, \
                 20 ms emulator latency, {} contacts per org ({build} build)",
                contacts / 4
            ),
            &four,
        );

        let emulator = dialsync_emulator::start(
            EmulatorConfig {
                rate_limit_per_minute: 1_000_000,
                fixtures: Some(Fixtures {
                    contact_lists: vec![list_fixture(LIST)],
                    ..Default::default()
                }),
                ..Default::default()
            },
            "127.0.0.1:0".parse().expect("loopback"),
        )
        .await
        .expect("emulator");
        let pg_url = server.create_database("webhooks").expect("database");
        println!();
        println!("durable webhook accepts, {SENDERS} senders, {hooks} single-record ServiceNow webhooks per store ({build} build)");
        println!("{:>10} | {:>8} | {:>7} | {:>10} | {:>7} | {:>7}", "store", "accepted", "seconds", "accepts/s", "p50 ms", "p99 ms");
        println!("{}", "-".repeat(62));
        for (name, store) in [
            ("sqlite", "path = \"journal.db\"".to_string()),
            ("postgres", format!("url = \"{pg_url}\"")),
        ] {
            let (accepted, seconds, p50, p99) = webhooks(&store, &emulator, hooks, cap).await;
            println!(
                "{name:>10} | {accepted:>8} | {seconds:>7.2} | {:>10.1} | {p50:>7.2} | {p99:>7.2}",
                accepted as f64 / seconds
            );
        }
        emulator.shutdown().await;
    });
}
