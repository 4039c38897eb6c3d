//! Throughput of the Genesys client against the emulator, in real time: several tasks (and
//! two separately built clients for one org, sharing its process-wide budget) call the API
//! for a bounded time at a 6000/min limit (100/s). Prints requests sent, 429s seen and the
//! achieved rate as a ratio of the limit.
//!
//! Run: `cargo bench -p dialsync-genesys --bench throughput`

use std::time::Duration;

use dialsync_emulator::EmulatorConfig;
use dialsync_genesys::{Endpoint, GenesysClient, OrgSettings, RetryPolicy, Secret};
use tokio::time::Instant;

const LIST: &str = "00000000-0000-4000-8000-c0171157000a";
const LIMIT_PER_MINUTE: u32 = 6000;
const RUN_FOR: Duration = Duration::from_secs(10);
const TASKS_PER_CLIENT: usize = 4;

struct Scenario {
    name: &'static str,
    client_per_minute: u32,
    burst_429_rate: f64,
}

struct Row {
    name: &'static str,
    sent: u64,
    ok: u64,
    rate_limited: u64,
    elapsed: Duration,
    steady_per_sec: f64,
}

async fn run(s: &Scenario) -> Row {
    let emu = dialsync_emulator::start(
        EmulatorConfig {
            sample_org: true,
            rate_limit_per_minute: LIMIT_PER_MINUTE,
            latency: Duration::from_millis(2)..=Duration::from_millis(10),
            burst_429_rate: s.burst_429_rate,
            seed: 1,
            ..EmulatorConfig::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .expect("emulator starts");
    let mut settings = OrgSettings::new(
        "bench",
        Endpoint::BaseUrl(emu.base_url().parse().unwrap()),
        "dialsync",
        Secret::new("emulator-secret"),
    );
    settings.requests_per_minute = s.client_per_minute;
    settings.max_concurrency = 16;
    settings.retry = RetryPolicy {
        max_elapsed: RUN_FOR,
        ..RetryPolicy::default()
    };
    // Two clients built separately for one org: they share its budget.
    let clients = [
        GenesysClient::new(settings.clone()).unwrap(),
        GenesysClient::new(settings).unwrap(),
    ];
    for c in &clients {
        c.ensure_token().await.unwrap();
    }
    let start = Instant::now();
    let deadline = start + RUN_FOR;
    let mut handles = Vec::new();
    for c in &clients {
        for _ in 0..TASKS_PER_CLIENT {
            let c = c.clone();
            handles.push(tokio::spawn(async move {
                let mut done_at = Vec::new();
                // Bounded in time (deadline) and count.
                for _ in 0..100_000 {
                    match tokio::time::timeout_at(deadline, c.get_contact_list(LIST)).await {
                        Ok(Ok(_)) => done_at.push(Instant::now()),
                        Ok(Err(e)) => panic!("request failed: {e}"),
                        Err(_) => break,
                    }
                }
                done_at
            }));
        }
    }
    let mut done: Vec<Instant> = Vec::new();
    for h in handles {
        done.extend(h.await.unwrap());
    }
    let elapsed = start.elapsed();
    // Steady state: after the first second's burst.
    let after = start + Duration::from_secs(1);
    let steady = done.iter().filter(|t| **t >= after).count() as f64
        / (elapsed - Duration::from_secs(1)).as_secs_f64();
    let server = emu.stats();
    let route = "/api/v2/outbound/contactlists/{contactListId}";
    let row = Row {
        name: s.name,
        sent: server.route_total("GET", route),
        ok: done.len() as u64,
        rate_limited: server.count("GET", route, 429),
        elapsed,
        steady_per_sec: steady,
    };
    emu.shutdown().await;
    row
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let scenarios = [
        Scenario {
            name: "client at limit",
            client_per_minute: LIMIT_PER_MINUTE,
            burst_429_rate: 0.0,
        },
        Scenario {
            name: "client at limit, 0.5% injected 429 (Retry-After 1)",
            client_per_minute: LIMIT_PER_MINUTE,
            burst_429_rate: 0.005,
        },
        Scenario {
            name: "client at half the limit",
            client_per_minute: LIMIT_PER_MINUTE / 2,
            burst_429_rate: 0.0,
        },
    ];
    let limit_per_sec = f64::from(LIMIT_PER_MINUTE) / 60.0;
    println!(
        "{:<52} {:>6} {:>6} {:>6} {:>8} {:>9} {:>9} {:>7}",
        "scenario (2 clients x 4 tasks, 6000/min)",
        "sent",
        "ok",
        "429s",
        "secs",
        "ok/s",
        "steady/s",
        "ratio"
    );
    for s in &scenarios {
        let r = rt.block_on(run(s));
        let per_sec = r.ok as f64 / r.elapsed.as_secs_f64();
        println!(
            "{:<52} {:>6} {:>6} {:>6} {:>8.2} {:>9.1} {:>9.1} {:>7.3}",
            r.name,
            r.sent,
            r.ok,
            r.rate_limited,
            r.elapsed.as_secs_f64(),
            per_sec,
            r.steady_per_sec,
            r.steady_per_sec / limit_per_sec,
        );
    }
    println!(
        "ratio = steady requests/s (after the first second's burst) / limit ({limit_per_sec}/s)"
    );
}
