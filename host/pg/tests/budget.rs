//! The shared rate budget against a real PostgreSQL server (started by the harness) and the
//! Genesys emulator over loopback: workers with their own tokens share one org budget.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use dialsync_emulator::EmulatorConfig;
use dialsync_genesys::{Endpoint, GenesysClient, OrgSettings, Secret, SharedRateBudget};
use dialsync_pg::{PgRateBudget, PgSettings, Pool, budget_use, connect, migrate};
use dialsync_pg_harness::PgServer;

const SAMPLE_LIST: &str = "00000000-0000-4000-8000-c0171157000a";
const LIST_ROUTE: &str = "/api/v2/outbound/contactlists/{contactListId}";

async fn store(server: &PgServer, db: &str) -> Pool {
    let url = server.create_database(db).expect("database");
    let pool = connect(&PgSettings::new(url)).expect("pool");
    migrate(&pool).await.expect("migrated");
    pool
}

#[tokio::test]
async fn migrate_is_idempotent_and_safe_to_run_concurrently() {
    let server = PgServer::start().expect("PostgreSQL test server");
    let url = server.create_database("migrate").unwrap();
    // Four workers start at once: exactly one applies the migrations.
    let mut runs = Vec::new();
    for _ in 0..4 {
        let pool = connect(&PgSettings::new(url.clone())).unwrap();
        runs.push(tokio::spawn(async move { migrate(&pool).await }));
    }
    let mut applied = 0;
    for r in runs {
        let report = r.await.unwrap().expect("migrate");
        assert_eq!(report.version, dialsync_pg::MIGRATIONS.len() as i64);
        applied += report.applied.len();
    }
    assert_eq!(applied, dialsync_pg::MIGRATIONS.len());
    let pool = connect(&PgSettings::new(url)).unwrap();
    let again = migrate(&pool).await.unwrap();
    assert!(again.applied.is_empty(), "{again:?}");
}

#[tokio::test]
async fn a_pause_seen_by_one_worker_holds_back_every_worker() {
    let server = PgServer::start().expect("PostgreSQL test server");
    let pool = store(&server, "pause").await;
    let a = PgRateBudget::register(pool.clone(), "acme", "k", 6000, "a")
        .await
        .unwrap();
    let b = PgRateBudget::register(pool.clone(), "acme", "k", 6000, "b")
        .await
        .unwrap();
    assert_eq!(b.take().await, Ok(()));
    // Worker a got a 429 with Retry-After: 2.
    a.pause(Duration::from_secs(2)).await;
    let wait = b.take().await.expect_err("b is held back");
    assert!(
        wait > Duration::from_millis(1800) && wait <= Duration::from_secs(2),
        "{wait:?}"
    );
    let used = budget_use(&pool).await.unwrap();
    assert_eq!((used[0].taken, used[0].pauses), (1, 1), "{used:?}");
}

/// Three workers (each its own client and OAuth token) hammer one org for a few seconds.
/// What the shared budget may grant in `t` seconds is `burst + t / interval`; the
/// emulator's per-client limit is set to that bound for the whole run (its window is 60 s),
/// so one request more than the shared budget allows is answered 429 — three independent
/// budgets would send three times as much. At the deadline the emulator's count must be
/// within the bound and at least 95 % of it.
#[tokio::test]
async fn workers_with_their_own_tokens_share_one_budget_and_use_it_all() {
    let server = PgServer::start().expect("PostgreSQL test server");
    let pool = store(&server, "share").await;
    let per_minute = 1200u32; // burst 20, steady 1181/min (50.8 ms per request)
    let burst = 20.0;
    let interval = 60.0 / 1181.0;
    let run_for = Duration::from_secs(3);
    let tasks_per_worker = 2;
    let bound = |secs: f64| burst + (secs / interval).floor() + 1.0;
    // After the deadline each task may still be waiting for one slot: those are granted at
    // the pace too, so the whole run stays within the bound of its own length.
    let whole_run = run_for.as_secs_f64() + (3 * tasks_per_worker) as f64 * interval + 0.3;
    let emu = dialsync_emulator::start(
        EmulatorConfig {
            sample_org: true,
            rate_limit_per_minute: 100_000,
            rate_limit_per_client_per_minute: Some(bound(whole_run) as u32),
            ..EmulatorConfig::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let cfg = emu.emulator().config();
    let mut workers = Vec::new();
    for w in 0..3 {
        let budget = PgRateBudget::register(
            pool.clone(),
            "acme",
            &format!("{}#{}", emu.base_url(), cfg.client_id),
            per_minute,
            &format!("w{w}"),
        )
        .await
        .unwrap();
        let mut s = OrgSettings::new(
            "acme",
            Endpoint::BaseUrl(emu.base_url().parse().unwrap()),
            cfg.client_id.clone(),
            Secret::new(cfg.client_secret.clone()),
        );
        s.requests_per_minute = per_minute;
        s.shared_budget = Some(Arc::new(budget));
        // A 429 fails the test at once instead of waiting out the emulator's window.
        s.retry.max_elapsed = Duration::from_secs(2);
        let client = GenesysClient::new(s).unwrap();
        client.ensure_token().await.unwrap();
        workers.push(client);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for client in &workers {
        for _ in 0..tasks_per_worker {
            let (c, stop) = (client.clone(), Arc::clone(&stop));
            tasks.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    c.get_contact_list(SAMPLE_LIST)
                        .await
                        .expect("granted request");
                }
            }));
        }
    }
    tokio::time::sleep(run_for).await;
    let at_deadline = emu.stats().route_total("GET", LIST_ROUTE) as f64;
    let elapsed = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    assert!(
        started.elapsed().as_secs_f64() < whole_run,
        "the stragglers finished within the bound's time"
    );
    let stats = emu.stats();
    assert_eq!(
        stats.status_total(429),
        0,
        "no self-inflicted 429: {stats:?}"
    );
    assert!(
        at_deadline <= bound(elapsed),
        "sent {at_deadline} > bound {}",
        bound(elapsed)
    );
    // Requests still in flight at the snapshot were granted up to one round trip earlier.
    let usable = bound(run_for.as_secs_f64() - 0.1);
    assert!(
        at_deadline >= 0.95 * usable,
        "sent {at_deadline} < 95 % of {usable}"
    );
    // Every worker got a share (each has its own token).
    for w in &workers {
        assert!(w.stats().requests_by_status.get(&200).copied().unwrap_or(0) > 0);
    }
    let used = budget_use(&pool).await.unwrap();
    assert_eq!(used[0].taken as u64, stats.route_total("GET", LIST_ROUTE));
}
