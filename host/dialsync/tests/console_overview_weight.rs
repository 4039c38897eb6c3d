//! Page weight and time to first render of the console's overview with 100 sources,
//! measured in headless Chromium and printed (a measurement, not a timing assertion).
//! Run with `cargo test -p dialsync --test console_overview_weight -- --nocapture`.

mod console_support;
mod server_support;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{TimeZone, Utc};
use console_support::*;
use dialsync::sync::{Change, Operation, Phone};
use fantoccini::Locator;
use serde_json::Value;
use server_support::*;

/// Sources in the measured config (the harness's 8 plus these).
const EXTRA_SOURCES: usize = 92;
const CHANGES_PER_SOURCE: usize = 5;

fn change(source: usize, i: usize) -> Change {
    Change {
        external_id: format!("bulk{source:03}_{i}"),
        source_id: format!("B{source}-{i}"),
        source_updated_at: Utc.timestamp_opt(1_790_000_000 + i as i64, 0).unwrap(),
        operation: Operation::Upsert,
        partial: false,
        columns: BTreeMap::from([
            ("firstName".to_string(), "Bulk".to_string()),
            ("lastName".to_string(), format!("S{source} R{i}")),
        ]),
        phones: vec![Phone {
            column: "phone".into(),
            number: format!("+1415555{:04}", source * 10 + i),
        }],
        callable: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overview_with_100_sources_weight_and_first_render() {
    let mut extra = String::new();
    for n in 0..EXTRA_SOURCES {
        write!(
            extra,
            "\n[sources.bulk{n:03}]\nplugin = \"custom-crm\"\norg = \"acme\"\ncontact_list_id = \"list-custom\"\n"
        )
        .unwrap();
    }
    let lab = Lab::start(&extra).await;
    assert_eq!(lab.state.sources.len(), 100);
    for n in 0..EXTRA_SOURCES {
        let changes = (0..CHANGES_PER_SOURCE).map(|i| change(n, i)).collect();
        lab.state
            .engine
            .accept(&format!("bulk{n:03}"), changes)
            .await
            .unwrap();
    }
    lab.wait_idle().await;

    let browser = Browser::start().await;
    let b = &browser;
    let c = &browser.client;
    c.goto(&lab.url("/console/login")).await.unwrap();
    b.wait("#token").await.send_keys(ADMIN_TOKEN).await.unwrap();
    c.find(Locator::Css("#login-submit"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait_text("#overview-status", "Updated").await;

    println!(
        "\nconsole overview, 100 sources ({} changes), headless Chromium on loopback, dev build",
        EXTRA_SOURCES * CHANGES_PER_SOURCE
    );
    println!(
        "{:<22} {:>8} {:>8} {:>12} {:>14} {:>14} {:>9}",
        "load", "FCP ms", "DCL ms", "rendered ms", "content bytes", "transferred", "requests"
    );
    // The first load is the one right after logging in (only the login page's CSS and
    // icon cached); then reloads, which revalidate the static files (304).
    for run in 0..3 {
        if run > 0 {
            c.refresh().await.unwrap();
            b.wait_text("#overview-status", "Updated").await;
        }
        let rows = c
            .find_all(Locator::Css("#sources-table tbody tr"))
            .await
            .unwrap()
            .len();
        assert_eq!(rows, 100, "one row per source");
        let m: Value = b
            .js(r#"
const nav = performance.getEntriesByType('navigation')[0];
const fcp = performance.getEntriesByName('first-contentful-paint')[0];
const mark = performance.getEntriesByName('overview-rendered')[0];
const res = performance.getEntriesByType('resource').filter(r => r.name.includes('/console'));
const overview = res.filter(r => r.name.includes('/api/overview')).slice(0, 1);
const files = res.filter(r => !r.name.includes('/api/'));
const all = [nav, ...files, ...overview];
return { fcp: fcp ? fcp.startTime : null, dcl: nav.domContentLoadedEventEnd,
  rendered: mark ? mark.startTime : null,
  content: all.reduce((a, r) => a + r.decodedBodySize, 0),
  transferred: all.reduce((a, r) => a + r.transferSize, 0),
  requests: all.length,
  parts: all.map(r => [r.name.split('/').pop() || 'console', r.decodedBodySize, r.transferSize]) };
"#)
            .await;
        let num = |k: &str| m[k].as_f64().map_or("-".to_string(), |v| format!("{v:.0}"));
        println!(
            "{:<22} {:>8} {:>8} {:>12} {:>14} {:>14} {:>9}",
            if run == 0 {
                "first (after login)"
            } else {
                "reload"
            },
            num("fcp"),
            num("dcl"),
            num("rendered"),
            num("content"),
            num("transferred"),
            num("requests")
        );
        if run == 0 {
            println!(
                "  parts [name, content bytes, transferred bytes]: {}",
                m["parts"]
            );
        }
        assert!(
            m["rendered"].as_f64().is_some(),
            "the overview rendered: {m}"
        );
    }
    println!(
        "  static files shipped in the binary (uncompressed): {} B",
        dialsync::console::assets::shipped_bytes()
    );
    b.screenshots("overview-100-sources").await;

    browser.client.clone().close().await.unwrap();
    drop(browser);
    lab.stop().await;
}
