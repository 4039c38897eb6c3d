//! Phone normalisation cost per input style, for the three engines of
//! `dialsync_phone::normalize_using` on the same inputs, interleaved in rounds
//! in one process, medians printed in ns per phone:
//!
//! - `crate`: everything by the `phonenumber` crate (`parse`, `is_valid`,
//!   its E.164 formatter) — what the host did first;
//! - `crate-parse`: the crate's `parse`, then the validity check over
//!   patterns compiled once (`src/validity.rs`) — `normalize` without the
//!   fast path;
//! - `fast`: `normalize` now, the fast path (`src/fast.rs`) in front of
//!   `crate-parse`.
//!
//! Styles marked "fast path" are ones it answers; the others fall back to
//! the crate's parser and show what that costs on top of it.
//!
//! Run: `cargo bench -p dialsync-phone --bench normalize`
//! (`DIALSYNC_BENCH_ROUNDS`, default 11; for a profiler, `DIALSYNC_BENCH_ONLY=fast`
//! times only the fast engine and `DIALSYNC_BENCH_STYLE=TEXT` only the styles
//! whose name contains TEXT).

use std::hint::black_box;
use std::time::Instant;

use dialsync_phone::{Engine, normalize_using};

/// Distinct inputs per style.
const PER_STYLE: usize = 1000;

struct Style {
    name: &'static str,
    fast_path: bool,
    inputs: Vec<(String, Option<&'static str>)>,
}

fn style(
    name: &'static str,
    fast_path: bool,
    region: Option<&'static str>,
    make: impl Fn(usize) -> String,
) -> Style {
    Style {
        name,
        fast_path,
        inputs: (0..PER_STYLE).map(|n| (make(n), region)).collect(),
    }
}

/// The shapes CRM phone fields hold, and some the fast path leaves alone.
fn styles() -> Vec<Style> {
    let exchange = |n: usize| 200 + n % 700;
    vec![
        style("US national (415) 555-0123, US", true, Some("US"), |n| {
            format!("(415) {:03}-{:04}", exchange(n), n)
        }),
        style("US dotted 415.555.0123, US", true, Some("US"), |n| {
            format!("415.{:03}.{:04}", exchange(n), n)
        }),
        style("NANP 1-416-555-0123, CA", true, Some("CA"), |n| {
            format!("1-416-{:03}-{:04}", exchange(n), n)
        }),
        style("+1 212 555 0123, no region", true, None, |n| {
            format!("+1 212 {:03} {:04}", exchange(n), n)
        }),
        style("+12125550123, no region", true, None, |n| {
            format!("+1212{:03}{:04}", exchange(n), n)
        }),
        style("tel:+1-858-555-0123;ext=12, US", true, Some("US"), |n| {
            format!("tel:+1-858-{:03}-{:04};ext=12", exchange(n), n)
        }),
        style("+44 7700 900123, US", true, Some("US"), |n| {
            format!("+44 7700 9{:05}", n)
        }),
        style("+49 30 1234567, no region", true, None, |n| {
            format!("+49 30 12{:05}", n)
        }),
        style("invalid (212) 155-0123, US", true, Some("US"), |n| {
            format!("(212) 1{:02}-{:04}", n % 100, n)
        }),
        style("GB national 020 7946 0123, GB", true, Some("GB"), |n| {
            format!("020 7946 {:04}", n)
        }),
        style("+44 (0)20 7946 0123, no region", true, None, |n| {
            format!("+44 (0)20 7946 {:04}", n)
        }),
        style("IDD 011 44 20 7946 0123, US", false, Some("US"), |n| {
            format!("011 44 20 7946 {:04}", n)
        }),
        style("AR mobile 011 15 2345 6789, AR", false, Some("AR"), |n| {
            format!("011 15 2345 {:04}", n)
        }),
        style("letters 1-800-FLOWERS-n, US", false, Some("US"), |n| {
            format!("1-800-FLOWERS-{}", n % 10)
        }),
        style(
            "full-width +１ ２１２ …, no region",
            false,
            None,
            |n| {
                format!("＋１ ２１２ ５５５ {:04}", n)
                    .chars()
                    .map(|c| {
                        c.to_digit(10)
                            .and_then(|d| char::from_u32(0xFF10 + d))
                            .unwrap_or(c)
                    })
                    .collect()
            },
        ),
    ]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Seconds to normalise every input of `style` once with `engine`.
fn run(engine: Engine, style: &Style) -> f64 {
    let started = Instant::now();
    for (raw, region) in &style.inputs {
        let _ = black_box(normalize_using(engine, black_box(raw), *region));
    }
    started.elapsed().as_secs_f64()
}

fn main() {
    let rounds: usize = std::env::var("DIALSYNC_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(11);
    let only_fast = std::env::var("DIALSYNC_BENCH_ONLY").is_ok_and(|v| v == "fast");
    let engines: &[Engine] = if only_fast {
        &[Engine::Fast]
    } else {
        &[Engine::Crate, Engine::CrateParse, Engine::Fast]
    };
    let filter = std::env::var("DIALSYNC_BENCH_STYLE").unwrap_or_default();
    let styles: Vec<Style> = styles()
        .into_iter()
        .filter(|s| s.name.contains(&filter))
        .collect();
    for style in &styles {
        for (raw, region) in &style.inputs {
            let reference = normalize_using(Engine::Crate, raw, *region);
            for engine in [Engine::CrateParse, Engine::Fast] {
                assert_eq!(
                    normalize_using(engine, raw, *region),
                    reference,
                    "{engine:?} {raw:?}"
                );
            }
        }
    }
    // times[style][engine]: one sample per round.
    let mut times = vec![vec![Vec::new(); engines.len()]; styles.len()];
    for _ in 0..rounds {
        for (s, style) in styles.iter().enumerate() {
            for (e, &engine) in engines.iter().enumerate() {
                times[s][e].push(run(engine, style));
            }
        }
    }
    println!(
        "phone normalisation, ns per phone: {PER_STYLE} inputs per style, {rounds} interleaved rounds, medians\n"
    );
    let names: Vec<String> = engines
        .iter()
        .map(|e| match e {
            Engine::Crate => "crate".to_owned(),
            Engine::CrateParse => "crate-parse".to_owned(),
            Engine::Fast => "fast".to_owned(),
        })
        .collect();
    print!("{:<40} {:>9}", "style", "path");
    for name in &names {
        print!(" {name:>12}");
    }
    if !only_fast {
        print!(" {:>14}", "fast speed-up");
    }
    println!();
    let per_phone = |seconds: f64| seconds * 1e9 / PER_STYLE as f64;
    let mut totals = vec![0.0; engines.len()];
    for (style, samples) in styles.iter().zip(times) {
        let ns: Vec<f64> = samples.into_iter().map(|t| per_phone(median(t))).collect();
        print!(
            "{:<40} {:>9}",
            style.name,
            if style.fast_path { "fast" } else { "fallback" }
        );
        for (total, value) in totals.iter_mut().zip(&ns) {
            print!(" {value:>12.0}");
            *total += value;
        }
        if !only_fast {
            print!(" {:>13.1}×", ns[1] / ns[2]);
        }
        println!();
    }
    let n = styles.len() as f64;
    print!("{:<40} {:>9}", "mean of the styles", "");
    for total in &totals {
        print!(" {:>12.0}", total / n);
    }
    if !only_fast {
        print!(" {:>13.1}×", totals[1] / totals[2]);
    }
    println!();
    println!(
        "\ncrate = phonenumber parse+is_valid+format; crate-parse = the crate's parse + compiled validity check (normalize without the fast path); fast = normalize"
    );
}
