//! Phone normalisation per second: `dialsync_phone::normalize` (patterns
//! compiled once) against what it did before — the `phonenumber` crate's
//! `parse`, `is_valid` and E.164 formatter — on the same inputs, interleaved
//! in rounds in one process, medians printed.
//!
//! Run: `cargo bench -p dialsync-phone --bench normalize`
//! (`DIALSYNC_BENCH_ROUNDS`, default 21).

use std::hint::black_box;
use std::time::Instant;

use phonenumber::{Mode, country};

/// The inputs the bundled plugins' benchmark records carry, and a mix.
fn corpus() -> Vec<(String, Option<&'static str>)> {
    let mut out = Vec::new();
    for n in 0..1000usize {
        out.push((format!("(415) 555-{:04}", 100 + n % 9000), Some("US")));
        out.push((format!("+1 212 {:03} {:04}", 200 + n % 700, n), None));
        out.push((format!("020 7946 {:04}", n % 10000), Some("GB")));
        out.push((format!("+44 7700 9{:05}", n), Some("US")));
    }
    out
}

fn before(raw: &str, region: Option<&str>) -> Option<String> {
    let id = region.map(|r| r.parse::<country::Id>().expect("region"));
    let parsed = phonenumber::parse(id, raw).ok()?;
    phonenumber::is_valid(&parsed).then(|| parsed.format().mode(Mode::E164).to_string())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let rounds: usize = std::env::var("DIALSYNC_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(21);
    let corpus = corpus();
    for (raw, region) in &corpus {
        assert_eq!(
            dialsync_phone::normalize(raw, *region).ok(),
            before(raw, *region),
            "{raw}"
        );
    }
    let (mut fast, mut slow) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let started = Instant::now();
        for (raw, region) in &corpus {
            black_box(dialsync_phone::normalize(raw, *region).ok());
        }
        fast.push(started.elapsed().as_secs_f64());
        let started = Instant::now();
        for (raw, region) in &corpus {
            black_box(before(raw, *region));
        }
        slow.push(started.elapsed().as_secs_f64());
    }
    let per = |t: f64| t * 1e6 / corpus.len() as f64;
    let (fast, slow) = (median(fast), median(slow));
    println!(
        "phones: {} (US, NANP, GB national and international), {rounds} interleaved rounds, medians\n",
        corpus.len()
    );
    println!("{:<44} {:>10} {:>12}", "path", "µs/phone", "phones/s");
    println!(
        "{:<44} {:>10.2} {:>12.0}",
        "before: phonenumber parse+is_valid+format",
        per(slow),
        corpus.len() as f64 / slow
    );
    println!(
        "{:<44} {:>10.2} {:>12.0}",
        "after: dialsync_phone::normalize",
        per(fast),
        corpus.len() as f64 / fast
    );
    println!("\nspeed-up: {:.1}×", slow / fast);
}
