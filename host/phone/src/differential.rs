//! Differential test: [`crate::normalize`] (patterns compiled once, E.164
//! written directly) against the same steps with the `phonenumber` crate's own
//! `is_valid` and formatter, on every phone-like string in the repository's
//! fixtures, samples and tests, on example numbers (and near misses of them)
//! of every region sharing a country code and of many others, and on
//! generated numbers for the regions the plugins see.
//! Results — numbers and error codes and messages — must be identical.

use std::path::{Path, PathBuf};

use phonenumber::metadata::DATABASE;
use phonenumber::{Mode, PhoneNumber};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

use crate::{PhoneError, e164, normalize_with, validity};

/// The crate's own E.164 formatting.
fn crate_e164(number: &PhoneNumber) -> String {
    number.format().mode(Mode::E164).to_string()
}

/// How many cases agreed, and how many of them were valid numbers.
#[derive(Default)]
struct Tally {
    cases: usize,
    valid: usize,
}

impl Tally {
    fn check(&mut self, raw: &str, region: Option<&str>) {
        let fast = normalize_with(raw, region, validity::is_valid, e164);
        let reference: Result<String, PhoneError> =
            normalize_with(raw, region, phonenumber::is_valid, crate_e164);
        assert_eq!(fast, reference, "{raw:?} with region {region:?}");
        self.cases += 1;
        self.valid += usize::from(fast.is_ok());
    }
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every file under `dir` with one of `extensions`, skipping build output.
fn files(dir: &Path, extensions: &[&str], out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if path.is_dir() {
            if !matches!(
                name.to_str(),
                Some("target" | "node_modules" | ".git" | ".toolchains" | ".sdks")
            ) {
                files(&path, extensions, out);
            }
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| extensions.contains(&e))
        {
            out.push(path);
        }
    }
}

fn json_strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| json_strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| json_strings(v, out)),
        _ => {}
    }
}

/// A string that could be a phone number: short, with at least three digits.
fn phone_like(s: &str) -> bool {
    s.len() <= 48 && s.bytes().filter(u8::is_ascii_digit).count() >= 3
}

/// Phone-like strings from the fixtures and samples (JSON and JSON Lines) and
/// from string literals in the Rust sources and tests.
fn repository_corpus() -> Vec<String> {
    let root = workspace();
    let mut paths = Vec::new();
    for dir in ["plugins", "samples", "host", "tests"] {
        files(&root.join(dir), &["json", "jsonl", "rs"], &mut paths);
    }
    paths.sort();
    let literal = regex::Regex::new(r#""((?:[^"\\\n]|\\.){3,48})""#).expect("literal pattern");
    let mut found = Vec::new();
    for path in paths {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        match path.extension().and_then(|e| e.to_str()) {
            Some("rs") => found.extend(
                literal
                    .captures_iter(&text)
                    .map(|c| c[1].replace("\\\"", "\"")),
            ),
            Some("json") => {
                if let Ok(value) = serde_json::from_str::<Value>(&text) {
                    json_strings(&value, &mut found);
                }
            }
            _ => {
                for line in text.lines() {
                    if let Ok(value) = serde_json::from_str::<Value>(line) {
                        json_strings(&value, &mut found);
                    }
                }
            }
        }
    }
    found.retain(|s| phone_like(s));
    found.sort();
    found.dedup();
    found
}

#[test]
fn the_repository_phones_normalise_as_with_the_crate() {
    let corpus = repository_corpus();
    assert!(
        corpus.len() > 200,
        "only {} phone-like strings found",
        corpus.len()
    );
    let mut tally = Tally::default();
    for raw in &corpus {
        for region in [None, Some("US"), Some("GB"), Some("CA")] {
            tally.check(raw, region);
        }
    }
    assert!(
        tally.valid > 300,
        "{} valid of {}",
        tally.valid,
        tally.cases
    );
}

/// Regions whose example numbers are checked: every region sharing its
/// country code with another (where picking the region is the hard part),
/// the non-geographical codes (`001`), and the countries the plugins' fixtures
/// and the test suite use plus a spread of numbering plans. Not every region:
/// compiling every region's patterns twice (once per side) takes minutes in a
/// debug build.
fn example_regions() -> Vec<&'static phonenumber::metadata::Metadata> {
    const SINGLES: &[&str] = &[
        "DE", "FR", "IN", "BR", "MX", "JP", "CN", "NZ", "ZA", "AR", "SG", "IE", "NL", "ES",
    ];
    let mut metas: Vec<_> = DATABASE
        .iter()
        .filter(|m| {
            m.id() == "001"
                || SINGLES.contains(&m.id())
                || DATABASE
                    .region(&m.country_code())
                    .is_some_and(|r| r.len() > 1)
        })
        .collect();
    metas.sort_by_key(|m| (m.country_code(), m.id().to_owned()));
    metas
}

#[test]
fn region_examples_and_their_near_misses_normalise_as_with_the_crate() {
    let metas = example_regions();
    assert!(metas.len() > 60, "{} regions", metas.len());
    let mut tally = Tally::default();
    for meta in metas {
        let d = meta.descriptors();
        let examples = [
            Some(d.general()),
            d.fixed_line(),
            d.mobile(),
            d.toll_free(),
            d.premium_rate(),
            d.shared_cost(),
            d.voip(),
            d.personal_number(),
            d.pager(),
            d.uan(),
            d.voicemail(),
            d.short_code(),
        ]
        .into_iter()
        .flatten()
        .filter_map(|d| d.example());
        let region = (meta.id() != "001").then(|| meta.id());
        let code = meta.country_code();
        for example in examples {
            let mut variants = vec![
                example.to_owned(),
                // One digit changed, one dropped, one added.
                format!(
                    "{}{}",
                    &example[..example.len() - 1],
                    (example.as_bytes()[example.len() - 1] - b'0' + 1) % 10
                ),
                example[..example.len() - 1].to_owned(),
                format!("{example}5"),
            ];
            if let Some(prefix) = meta.national_prefix() {
                variants.push(format!("{prefix}{example}"));
            }
            for v in variants {
                tally.check(&format!("+{code}{v}"), None);
                tally.check(&format!("+{code} {v}"), Some("US"));
                if let Some(region) = region {
                    tally.check(&v, Some(region));
                }
            }
        }
    }
    assert!(
        tally.valid > 400,
        "{} valid of {}",
        tally.valid,
        tally.cases
    );
    assert!(
        tally.cases - tally.valid > 400,
        "{} invalid of {}",
        tally.cases - tally.valid,
        tally.cases
    );
}

fn digits(rng: &mut SmallRng, n: usize) -> String {
    (0..n)
        .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
        .collect()
}

#[test]
fn generated_numbers_for_the_plugins_regions_normalise_as_with_the_crate() {
    let mut rng = SmallRng::seed_from_u64(0x5eed_d1a1);
    let mut tally = Tally::default();
    for _ in 0..500 {
        // NANP in the shapes CRMs hold them, any area code and exchange.
        let (a, e, n) = (
            digits(&mut rng, 3),
            digits(&mut rng, 3),
            digits(&mut rng, 4),
        );
        for (raw, region) in [
            (format!("({a}) {e}-{n}"), Some("US")),
            (format!("{a}.{e}.{n}"), Some("CA")),
            (format!("1-{a}-{e}-{n}"), Some("US")),
            (format!("+1 {a} {e} {n}"), None),
            (format!("+1{a}{e}{n} x12"), Some("GB")),
        ] {
            tally.check(&raw, region);
        }
        // UK national and international.
        let len = rng.random_range(9..=10);
        let uk = digits(&mut rng, len);
        tally.check(&format!("0{uk}"), Some("GB"));
        tally.check(&format!("+44 {uk}"), None);
        tally.check(&format!("+44 (0){uk}"), Some("US"));
        // Any length, in the plugins' regions and country codes.
        let region = ["US", "GB", "CA"][rng.random_range(0..3)];
        let len = rng.random_range(4..=15);
        let any = digits(&mut rng, len);
        tally.check(&any, Some(region));
        let code = ["1", "44"][rng.random_range(0..2)];
        tally.check(&format!("+{code}{any}"), None);
    }
    assert!(
        tally.valid > 700,
        "{} valid of {}",
        tally.valid,
        tally.cases
    );
    assert!(
        tally.cases - tally.valid > 700,
        "{} invalid of {}",
        tally.cases - tally.valid,
        tally.cases
    );
}
