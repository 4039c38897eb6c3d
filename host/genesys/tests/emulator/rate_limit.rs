//! 429 storms: the whole org pauses for Retry-After, throughput settles at the limit, and no
//! request is lost.

use std::time::Duration;

use dialsync_emulator::EmulatorConfig;
use tokio::time::Instant;

use crate::support::{SAMPLE_LIST, client, emulator, sample, settings};

const LIST_ROUTE: &str = "/api/v2/outbound/contactlists/{contactListId}";

/// Runs `tasks` tasks doing `per_task` GETs each; returns simulated elapsed time.
async fn run(client: &dialsync_genesys::GenesysClient, tasks: usize, per_task: usize) -> Duration {
    let start = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let c = client.clone();
        handles.push(tokio::spawn(async move {
            for _ in 0..per_task {
                c.get_contact_list(SAMPLE_LIST)
                    .await
                    .expect("every request succeeds in the end");
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    start.elapsed()
}

#[tokio::test(start_paused = true)]
async fn storm_settles_at_the_limit_and_loses_nothing() {
    // Emulator allows 120/min; the client is configured 5x too high, so it hits 429s.
    let emu = emulator(EmulatorConfig {
        rate_limit_per_minute: 120,
        ..sample()
    })
    .await;
    let mut s = settings(&emu);
    s.requests_per_minute = 600;
    s.retry.max_elapsed = Duration::from_secs(600);
    let c = client(s);
    let elapsed = run(&c, 6, 50).await;

    let server = emu.stats();
    assert_eq!(
        server.count("GET", LIST_ROUTE, 200),
        300,
        "every request applied once"
    );
    let server_429 = server.count("GET", LIST_ROUTE, 429);
    assert!(server_429 > 0, "the storm produced 429s");
    let stats = c.stats();
    assert_eq!(stats.rate_limited, server_429);
    assert_eq!(stats.requests_by_status.get(&200), Some(&300));
    assert_eq!(stats.transport_errors, 0);
    // 300 requests at 120 per 60 s window need three windows: two full ones, then the last
    // 60 requests at the client's own pace (10/s, ~6 s) — done between 126 s and 128 s.
    assert!(elapsed >= Duration::from_secs(126), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(128), "{elapsed:?}");
    // 429s are bounded: each window's overflow pauses every task, so only the requests in
    // flight when the window closed get refused (at most max_concurrency per window, plus
    // the burst at each resume).
    assert!(server_429 <= 3 * 8 * 2, "{server_429} 429s");
    emu.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn pacing_at_the_limit_never_sees_a_429() {
    let emu = emulator(EmulatorConfig {
        rate_limit_per_minute: 60,
        ..sample()
    })
    .await;
    let mut s = settings(&emu);
    s.requests_per_minute = 60; // burst 1: one request per second exactly
    let c = client(s);
    let elapsed = run(&c, 4, 30).await;
    let server = emu.stats();
    assert_eq!(server.count("GET", LIST_ROUTE, 200), 120);
    assert_eq!(server.count("GET", LIST_ROUTE, 429), 0);
    assert_eq!(
        elapsed,
        Duration::from_secs(119),
        "one per second, the first at 0 s"
    );
    emu.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_waited_out_then_the_request_succeeds() {
    let emu = emulator(EmulatorConfig {
        rate_limit_per_minute: 10,
        ..sample()
    })
    .await;
    let mut s = settings(&emu);
    s.requests_per_minute = 6000;
    s.max_concurrency = 1;
    let c = client(s);
    let t0 = Instant::now();
    // Use up the window: 10 requests, then the 11th is refused with Retry-After ≈ 60 s.
    run(&c, 1, 11).await;
    let after_first_storm = t0.elapsed();
    assert!(
        after_first_storm >= Duration::from_secs(60),
        "{after_first_storm:?}"
    );
    assert_eq!(c.stats().rate_limited, 1, "one 429, then everyone waited");
    emu.shutdown().await;
}
