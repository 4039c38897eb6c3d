//! Differential test: [`crate::normalize`] (the fast path of `src/fast.rs`,
//! patterns compiled once, E.164 written directly) against the same steps
//! done entirely by the `phonenumber` crate ([`Engine::Crate`]) and against
//! the crate's parser with the compiled patterns ([`Engine::CrateParse`],
//! `normalize` without the fast path), on every phone-like string in the
//! repository's fixtures, samples and tests, on example numbers (and near
//! misses of them) of every region sharing a country code and of many
//! others, and on generated numbers in every shape the fast path takes and
//! many it must refuse. Results — numbers and error codes and messages — must
//! be identical. The extension and `tel:` stripping is checked against its
//! former (allocating) implementation too.

use std::path::{Path, PathBuf};

use phonenumber::metadata::DATABASE;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

use crate::{Engine, PhoneError, fast, normalize_using, parse_region, strip_decorations, validity};

/// `strip_decorations` as it was (lowercased copy, `format!`), kept to check
/// the allocation-free version against it. It panicked when the fourth byte
/// fell inside a character (`"＋１ ２１２…"`); that is the one change, checked
/// with `is_char_boundary` here.
fn strip_decorations_before(raw: &str) -> &str {
    let mut s = raw.trim();
    if s.len() >= 4 && s.is_char_boundary(4) && s[..4].eq_ignore_ascii_case("tel:") {
        s = s[4..].trim_start();
    }
    let padded = format!(" {}", s.to_ascii_lowercase());
    let cut = [";", "ext", " x", "#"]
        .iter()
        .filter_map(|marker| padded.find(marker))
        .min();
    if let Some(at) = cut {
        s = &s[..at.saturating_sub(1)];
    }
    s.trim()
}

/// How many cases agreed, how many of them were valid numbers, and how many
/// the fast path answered.
#[derive(Default)]
struct Tally {
    cases: usize,
    valid: usize,
    fast: usize,
    fast_valid: usize,
}

impl Tally {
    /// All three engines agree on `raw`.
    fn check(&mut self, raw: &str, region: Option<&str>) {
        let reference = normalize_using(Engine::Crate, raw, region);
        self.check_against(raw, region, &reference);
    }

    /// The fast path agrees with the crate's parser (and the compiled
    /// validity check, itself checked against the crate's in [`Tally::check`]).
    /// The crate's `is_valid` recompiles patterns when many regions overflow
    /// its cache, too slow in a debug build for thousands of numbers.
    fn check_parse(&mut self, raw: &str, region: Option<&str>) {
        let reference = normalize_using(Engine::CrateParse, raw, region);
        self.check_against(raw, region, &reference);
    }

    fn check_against(
        &mut self,
        raw: &str,
        region: Option<&str>,
        reference: &Result<String, PhoneError>,
    ) {
        assert_eq!(
            strip_decorations(raw),
            strip_decorations_before(raw),
            "{raw:?}"
        );
        for engine in [Engine::Fast, Engine::CrateParse] {
            let got = normalize_using(engine, raw, region);
            assert_eq!(
                &got, reference,
                "{engine:?}: {raw:?} with region {region:?}"
            );
        }
        self.cases += 1;
        self.valid += usize::from(reference.is_ok());
        let number = strip_decorations(raw);
        let id = region.map(str::trim).and_then(parse_region);
        if !number.is_empty()
            && (id.is_some() || region.is_none())
            && fast::parse(number, id).is_some()
        {
            self.fast += 1;
            self.fast_valid += usize::from(reference.is_ok());
        }
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
    assert!(
        tally.fast_valid > 300,
        "fast path {} valid",
        tally.fast_valid
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

/// An area code or exchange: any three digits, or one of the shapes the NANP
/// rules treat specially (N11, 0XX, 1XX, N9X, 555).
fn nanp_group(rng: &mut SmallRng) -> String {
    let n = rng.random_range(2..10u8);
    match rng.random_range(0..6) {
        0 => format!("{n}11"),
        1 => format!("0{}", digits(rng, 2)),
        2 => format!("1{}", digits(rng, 2)),
        3 => format!("{n}9{}", rng.random_range(0..10u8)),
        4 => "555".to_owned(),
        _ => digits(rng, 3),
    }
}

/// The shapes a NANP number (area code `a`, exchange `e`, line `n`) is written
/// in: every separator style, with and without `1` and `+1`, and shapes the
/// fast path must refuse (`+` in odd places, junk around, extensions, an IDD,
/// letters, non-ASCII separators).
fn nanp_shapes(a: &str, e: &str, n: &str) -> Vec<String> {
    let mut shapes = Vec::new();
    for prefix in [
        "", "1 ", "1-", "1.", "1", "(1) ", "+1 ", "+1-", "+1.", "+1", "+1 (", "+(1) ", "+ 1 ",
        "+-1-", "+1/", "+ (1) ",
    ] {
        for (s1, s2) in [
            (" ", " "),
            ("-", "-"),
            (".", "."),
            ("", ""),
            ("/", "-"),
            ("/", "/"),
            (") ", "-"),
            (")", "-"),
            (" ", "-"),
            ("  ", "  "),
        ] {
            let a = if s1.starts_with(')') && !prefix.ends_with('(') {
                format!("({a}")
            } else {
                a.to_owned()
            };
            shapes.push(format!("{prefix}{a}{s1}{e}{s2}{n}"));
        }
    }
    for odd in [
        format!("+{a}-{e}-{n}"),
        format!("+{a}{e}{n}"),
        format!("++1 {a} {e} {n}"),
        format!("1+{a}{e}{n}"),
        format!("{a}+{e}{n}"),
        format!("+1 {a} {e} {n}+"),
        format!("+1+{a}{e}{n}"),
        format!("+01-{a}-{e}-{n}"),
        format!("+1{a}-{e}-{n}"),
        format!("+1{a}{e}-{n}"),
        format!("+12-{a}-{e}-{n}"),
        format!("+1-{a}/{e}/{n}"),
        format!("+1/{a}-{e}-{n}"),
        format!("+/1-{a}-{e}-{n}"),
        format!("({a}) {e}-{n}."),
        format!("({a}) {e}-{n})"),
        format!("-({a}) {e}-{n}"),
        format!("(({a})) {e}--{n}"),
        format!("({a}) {e}-{n} a"),
        format!("phone: ({a}) {e}-{n}"),
        format!("{a}-{e}-{n} (home)"),
        format!("tel:+1-{a}-{e}-{n}"),
        format!("TEL: {a}.{e}.{n}"),
        format!("+1 {a} {e} {n} x12"),
        format!("+1 {a} {e} {n} ext. 7"),
        format!("{a}-{e}-{n};ext=5"),
        format!("{a}-{e}-{n}#2"),
        format!("{a}-{e}-{n} - 1234#"),
        format!("011 1 {a} {e} {n}"),
        format!("011 44 {a} {e} {n}"),
        format!("0{a}{e}{n}"),
        format!("00 1 {a} {e} {n}"),
        format!("{a}{e}{n}0"),
        format!("1{a}{e}{n}5"),
        format!("11{a}{e}{n}"),
        format!("{e}-{n}"),
        format!("{a}-{e}-{}", &n[..3]),
        format!("1-{a}-{e}-{}", &n[..3]),
        format!("+1 {a} {e} {}", &n[..3]),
        format!("+1 {a} {e} {n}5"),
        format!("{a}-{e}-{n}{n}{n}"),
        format!("+1 {a} {e} {n}{n}"),
        format!("{a}\u{a0}{e}\u{a0}{n}"),
        format!("{a}\u{2013}{e}\u{2013}{n}"),
        format!("+1\u{2011}{a}\u{2011}{e}\u{2011}{n}"),
        format!("\u{ff0b}1 {a} {e} {n}"),
        format!("{a}-{e}-{n}\u{200f}"),
        format!("{a}-{e}-CALL"),
        format!("1-800-{e}-{n}"),
        format!("{a}-{e}-{n}\t"),
        format!("{a}_{e}_{n}"),
        format!("{a},{e},{n}"),
        format!("[{a}] {e}-{n}"),
        format!("{a}~{e}~{n}"),
        format!("{a}*{e}*{n}"),
    ] {
        shapes.push(odd);
    }
    // Unicode digits the crate reads as digits: full-width and Arabic-Indic.
    for zero in ['\u{ff10}', '\u{660}', '\u{966}'] {
        let wide = |s: &str| -> String {
            s.chars()
                .map(|c| match c.to_digit(10) {
                    Some(d) => char::from_u32(zero as u32 + d).unwrap_or(c),
                    None => c,
                })
                .collect()
        };
        shapes.push(format!("({}) {}-{}", wide(a), wide(e), wide(n)));
        shapes.push(format!("+1 {} {}", a, wide(&format!("{e}{n}"))));
    }
    shapes
}

/// The regions of country code 1, in the database's order.
fn nanp_regions() -> Vec<&'static str> {
    let regions = DATABASE.region(&1).expect("country code 1 in the metadata");
    assert!(regions.len() > 20, "{regions:?}");
    regions
}

#[test]
fn nanp_numbers_in_every_shape_normalise_as_with_the_crate() {
    let mut rng = SmallRng::seed_from_u64(0x1212_5550_0143);
    let nanp = nanp_regions();
    let mut tally = Tally::default();
    for round in 0..12 {
        let (a, e, n) = (
            nanp_group(&mut rng),
            nanp_group(&mut rng),
            digits(&mut rng, 4),
        );
        // Every other round a region's own area code and exchange (from its
        // example numbers), so every NANP region's numbers are seen valid.
        let (a, e) = if round % 2 == 0 {
            let region = nanp[(round / 2) % nanp.len()];
            DATABASE
                .by_id(region)
                .and_then(|m| m.descriptors().fixed_line().or(m.descriptors().mobile()))
                .and_then(|d| d.example())
                .map_or((a, e), |example| {
                    (example[..3].to_owned(), example[3..6].to_owned())
                })
        } else {
            (a, e)
        };
        let others = [
            nanp[rng.random_range(0..nanp.len())],
            ["GB", "DE", "RU", "MX", "AU", "IT", "FR", "IN", "BR", "JP"][rng.random_range(0..10)],
        ];
        for shape in nanp_shapes(&a, &e, &n) {
            for region in [
                None,
                Some("US"),
                Some("CA"),
                Some("us"),
                Some(others[0]),
                Some(others[1]),
            ] {
                tally.check_parse(&shape, region);
            }
        }
    }
    // A sample of them against the crate's own validity check and formatter.
    for _ in 0..40 {
        let (a, e, n) = (
            nanp_group(&mut rng),
            nanp_group(&mut rng),
            digits(&mut rng, 4),
        );
        for shape in [
            "({a}) {e}-{n}",
            "+1 {a} {e} {n}",
            "1-{a}-{e}-{n}",
            "+1{a}{e}{n}",
        ] {
            let raw = shape
                .replace("{a}", &a)
                .replace("{e}", &e)
                .replace("{n}", &n);
            tally.check(&raw, Some("US"));
            tally.check(&raw, None);
        }
    }
    assert!(
        tally.valid > 4_000,
        "{} valid of {}",
        tally.valid,
        tally.cases
    );
    assert!(
        tally.cases - tally.valid > 7_000,
        "{} invalid of {}",
        tally.cases - tally.valid,
        tally.cases
    );
    // The fast path answered most of them, valid and invalid.
    assert!(
        tally.fast > tally.cases / 2,
        "fast path {} of {}",
        tally.fast,
        tally.cases
    );
    assert!(
        tally.fast_valid > 4_000,
        "fast path {} valid",
        tally.fast_valid
    );
    assert!(
        tally.fast - tally.fast_valid > 4_000,
        "fast path {} invalid",
        tally.fast - tally.fast_valid
    );
}

#[test]
fn international_numbers_of_every_country_code_normalise_as_with_the_crate() {
    let mut rng = SmallRng::seed_from_u64(0xC0DE_0044);
    // Every third region (by id) and its country code: compiling the
    // patterns of all of them takes too long in a debug build.
    let mut metas: Vec<_> = DATABASE.iter().collect();
    metas.sort_by_key(|m| m.id().to_owned());
    let metas: Vec<_> = metas.into_iter().step_by(3).collect();
    let mut codes: Vec<u16> = metas.iter().map(|m| m.country_code()).collect();
    codes.sort_unstable();
    codes.dedup();
    assert!(codes.len() > 60, "{} codes", codes.len());
    let mut tally = Tally::default();
    // Each region's example numbers, written as CRMs write international
    // numbers, and random digits after every code (unknown codes too: the
    // codes are also tried one digit short and long).
    for meta in metas {
        let code = meta.country_code();
        let d = meta.descriptors();
        for example in [d.fixed_line(), d.mobile(), d.toll_free()]
            .into_iter()
            .flatten()
            .filter_map(|d| d.example())
        {
            let split = example.len() / 2;
            let (head, tail) = example.split_at(split);
            for raw in [
                format!("+{code} {head} {tail}"),
                format!("+{code}-{head}-{tail}"),
                format!("+{code}.{head}.{tail}"),
                format!("+{code}{example}"),
                format!("+{code} ({head}) {tail}"),
                format!("+{code}({head}){tail}"),
                format!("+{code}/{example}"),
                format!("+{code} (0){example}"),
                format!("+{code} 0{example}"),
            ] {
                tally.check_parse(&raw, None);
                if rng.random_range(0..4) == 0 {
                    tally.check_parse(&raw, Some("US"));
                }
            }
        }
    }
    for _ in 0..3 {
        for &code in &codes {
            let len = rng.random_range(2..=16);
            let any = digits(&mut rng, len);
            let code =
                [code, code / 10, code * 10 + rng.random_range(0..10)][rng.random_range(0..3)];
            for raw in [
                format!("+{code} {any}"),
                format!("+{code}-{any}"),
                format!("+{code}{any}"),
            ] {
                tally.check_parse(&raw, None);
            }
        }
    }
    assert!(
        tally.valid > 1_500,
        "{} valid of {}",
        tally.valid,
        tally.cases
    );
    assert!(
        tally.fast > tally.cases / 2,
        "fast path {} of {}",
        tally.fast,
        tally.cases
    );
    assert!(
        tally.fast_valid > 1_300,
        "fast path {} valid",
        tally.fast_valid
    );
}

#[test]
fn national_numbers_of_other_regions_normalise_as_with_the_crate() {
    let mut rng = SmallRng::seed_from_u64(0x0207_9460);
    let mut tally = Tally::default();
    // Trunk prefixes (GB, DE, NZ, AU with its `183[12]` carrier codes),
    // none (IT), `8` (RU), and transform rules (AR, BR, JP, MX).
    for region in ["GB", "DE", "IT", "RU", "MX", "AU", "JP", "NZ", "AR", "BR"] {
        let meta = DATABASE.by_id(region).expect(region);
        let code = meta.country_code();
        let d = meta.descriptors();
        for example in [d.fixed_line(), d.mobile()]
            .into_iter()
            .flatten()
            .filter_map(|d| d.example())
        {
            let prefix = meta.national_prefix().unwrap_or("");
            for raw in [
                example.to_owned(),
                format!("{prefix}{example}"),
                format!("{code}{example}"),
                format!("{code} {prefix}{example}"),
                format!("{}-{}", &example[..3], &example[3..]),
            ] {
                tally.check_parse(&raw, Some(region));
            }
        }
        for _ in 0..40 {
            let len = rng.random_range(3..=14);
            tally.check_parse(&digits(&mut rng, len), Some(region));
        }
        // Prefixes that national-prefix rules match (and some they do not),
        // before numbers of every length, short ones too.
        for lead in [
            "0", "00", "01", "015", "044", "045", "090", "0 11 15", "1", "8", "9", "15", "1831",
            "180020",
        ] {
            for len in [1, 2, 4, 6, 8, 9, 10, 11] {
                let raw = format!("{lead} {}", digits(&mut rng, len));
                tally.check_parse(&raw, Some(region));
                tally.check_parse(&format!("+{code} {raw}"), None);
            }
        }
    }
    assert!(
        tally.valid > 100,
        "{} valid of {}",
        tally.valid,
        tally.cases
    );
    assert!(
        tally.fast > 500,
        "fast path {} of {}",
        tally.fast,
        tally.cases
    );
}

/// The shapes the fast path exists for: it must answer them (not defer to
/// the crate's parser), with the crate's answer.
#[test]
fn the_fast_path_answers_the_shapes_crms_send() {
    for (raw, region) in [
        ("(415) 555-2671", Some("US")),
        ("415.555.2671", Some("US")),
        ("415-555-2671", Some("us")),
        ("4155552671", Some("US")),
        ("1 (415) 555-2671", Some("US")),
        ("1-416-555-2671", Some("CA")),
        ("14165552671", Some("CA")),
        ("+1 415 555 2671", None),
        ("+1-415-555-2671", None),
        ("+1 (415) 555-2671", None),
        ("+14155552671", None),
        ("+1.415.555.2671", Some("GB")),
        ("tel:+1-415-555-2671;ext=12", None),
        ("(415) 555-2671 x12", Some("US")),
        ("(212) 155-2671", Some("US")),
        ("+1 242 357 1234", None),
        ("(242) 357-1234", Some("BS")),
        ("+44 20 7946 0958", None),
        ("+44 (0)20 7946 0958", None),
        ("+44 7700 900123", Some("US")),
        ("020 7946 0958", Some("GB")),
        ("07700 900123", Some("GB")),
        ("+49 30 1234567", None),
        ("030 1234567", Some("DE")),
        ("+33 1 42 68 53 00", None),
        ("+61 2 1234 5678", None),
        ("+7 812 555 1234", None),
        ("+52 55 1234 5678", None),
    ] {
        let number = strip_decorations(raw);
        let id = region.and_then(parse_region);
        assert!(
            fast::parse(number, id).is_some(),
            "{raw:?} with region {region:?} was left to the crate's parser"
        );
        assert_eq!(
            normalize_using(Engine::Fast, raw, region),
            normalize_using(Engine::Crate, raw, region),
            "{raw:?} with region {region:?}"
        );
    }
}

#[test]
fn junk_and_edge_cases_normalise_as_with_the_crate() {
    let mut tally = Tally::default();
    for raw in [
        "",
        " ",
        "+",
        "++",
        "+1",
        "1",
        "12",
        "123",
        "+12",
        "+123",
        "+1 2",
        "(",
        "()",
        "-",
        "+-",
        "tel:",
        "TEL:+",
        "x",
        "ext",
        "#",
        ";",
        " x1",
        "abcé12345",
        "＋１ ２１２ ５５５ ２６７１",
        "tél:+12125552671",
        "tél:+12125551234",
        "+1 212 555 1234\u{0}",
        "\u{feff}+1 212 555 1234",
        "+\u{301}1 212 555 1234",
        "0",
        "00",
        "000",
        "0000000000",
        "+0 212 555 1234",
        "+000",
        "+1 000 000 0000",
        "+1 999 999 9999",
        "9999999999999999999999",
        "+99999999999999999999",
        "+1 212 555 12341234123412341234",
        "2125551234567890123",
        "+999 12345678",
        "+800 1234 5678",
        "+882 1234 5678",
        "+979 1 2345 6789",
        "+39 06 6982 1234",
        "+39 312 345 6789",
        "+44 (0) 20 7946 0958",
        "+7 812 555 1234",
        "8 812 555 1234",
        "+52 1 55 1234 5678",
        "+54 9 11 1234 5678",
        "+1 242 357 1234",
        "+1 268 464 1234",
        "242 357 1234",
        "1 242 357 1234",
        "464 1234",
        "357-1234",
    ] {
        for region in [
            None,
            Some("US"),
            Some("BS"),
            Some("AG"),
            Some("GB"),
            Some("IT"),
            Some("RU"),
            Some("ZZ"),
            Some("us "),
        ] {
            tally.check(raw, region);
        }
    }
    assert!(tally.valid > 20, "{} valid of {}", tally.valid, tally.cases);
}

/// Regions whose international (IDD) prefix does not start with 0 (`810` in
/// Russia, `119` in Cuba, `1xx0` carrier codes in Chile): a number written
/// with it must not be read as a national number.
#[test]
fn international_prefixes_not_starting_with_0_normalise_as_with_the_crate() {
    let mut regions: Vec<&str> = DATABASE
        .iter()
        .filter(|m| {
            m.international_prefix()
                .is_some_and(|p| !p.as_str().starts_with('0'))
        })
        .map(|m| m.id())
        .collect();
    regions.sort_unstable();
    assert!(regions.len() >= 5, "{regions:?}");
    let mut tally = Tally::default();
    for region in regions {
        for idd in ["810", "8 10", "119", "1100", "1230", "1690"] {
            for rest in ["44 20 7946 0958", "1 212 555 0143", "7 495 123 4567"] {
                tally.check(&format!("{idd} {rest}"), Some(region));
                tally.check(&format!("+{idd} {rest}"), Some(region));
            }
        }
    }
    assert!(tally.valid > 10, "{} valid of {}", tally.valid, tally.cases);
}

/// Every region's patterns compile into the tables of `src/validity.rs`
/// (its number types and parsing rules as sets and anchored patterns, which
/// the crate never builds: a pattern too big for the regex crate's limits
/// would otherwise panic on the first number of that region in production),
/// and the regions' own example numbers are valid by them.
#[test]
fn every_regions_patterns_compile_and_accept_its_examples() {
    let mut examples = 0;
    let mut valid = 0;
    for meta in DATABASE.iter() {
        let d = meta.descriptors();
        for example in [d.fixed_line(), d.mobile()]
            .into_iter()
            .flatten()
            .filter_map(|d| d.example())
        {
            examples += 1;
            valid += usize::from(validity::is_valid_national(meta.country_code(), example));
            if let Ok(id) = meta.id().parse::<phonenumber::country::Id>() {
                let region = validity::region(id)
                    .unwrap_or_else(|| panic!("{} has no region table", meta.id()));
                region.has_type(example);
                region.general_matches(example);
                region.parsing().international_prefix_at_start(example);
                region.parsing().national_prefix_for_parsing_end(example);
            }
        }
    }
    assert!(examples > 400, "{examples} examples");
    assert!(
        valid * 100 > examples * 95,
        "{valid} of {examples} examples valid"
    );
}
