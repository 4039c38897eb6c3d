//! `phonenumber::is_valid`, with the metadata's patterns compiled once.
//!
//! The `phonenumber` crate keeps its patterns as `CachedRegex`: every match
//! locks one process-wide mutex, hashes the pattern's full source text with
//! SipHash (twice) to find it in a 100-entry LRU cache, and reorders the LRU
//! list. The US fixed-line pattern alone is over 600 characters, and validating one
//! `+1` number matches about a dozen patterns, twice (once to pick the region,
//! once to type the number). That was the largest host-side cost of mapping a
//! record in a `perf` profile of the `mapping` bench.
//!
//! This module holds, per country calling code, the same patterns compiled
//! once into plain [`regex::Regex`] values (same source, same builder options:
//! `ignore_whitespace`; anchored at the start, as every use of them asks only
//! whether they match there) in a table indexed by the code itself — no hashing, no
//! lock after the first use of a code. Tables are never evicted: memory grows
//! with the country codes a process actually sees (a region's descriptors are
//! compiled on its first use), unlike the crate's cache of at most 100
//! patterns, which it recompiled when a mix of countries overflowed it.
//! [`is_valid`] is a line-by-line port of
//! `phonenumber::validator::{is_valid_with, source_for, number_type}` (0.3.10)
//! over that table; the differential test in `src/differential.rs` checks it
//! against the crate on every phone the repository's fixtures and tests use
//! and on generated numbers for the regions the plugins see.
//!
//! The same tables hold, per region, the compiled parsing rules the fast
//! path in `src/fast.rs` consults (international prefix, national prefix for
//! parsing): the crate's copies of those are `CachedRegex` too.

use std::sync::OnceLock;

use phonenumber::metadata::{DATABASE, Descriptor, Metadata};
use phonenumber::{PhoneNumber, country};
use regex::{Regex, RegexBuilder, RegexSet, RegexSetBuilder, SetMatches};

/// Country calling codes are one to three digits.
const CODES: usize = 1000;

/// One region's descriptors, compiled.
struct Desc {
    possible_length: Vec<u16>,
    national_number: AtStart,
}

impl Desc {
    fn new(d: &Descriptor) -> Self {
        Desc {
            possible_length: d.possible_length().to_vec(),
            national_number: AtStart::new(d.national_number().as_str()),
        }
    }

    /// `phonenumber::metadata::Descriptor::is_match`.
    fn is_match(&self, value: &str) -> bool {
        length_allowed(&self.possible_length, value.len()) && self.national_number.matches(value)
    }
}

/// One region: its leading-digits pattern (compiled with the code's table,
/// since picking a region among those sharing a code tries them in turn) and
/// its descriptors (compiled on the region's first use).
pub(crate) struct RegionTable {
    /// The region id as the database lists it (`"US"`, or `"001"` for
    /// non-geographical codes).
    id: String,
    meta: &'static Metadata,
    /// The index of its leading-digits pattern in its code's
    /// [`CodeTable::leading_digits`] set, if it has one.
    leading_digits: Option<usize>,
    /// Whether the id is a `country::Id` (`"001"` is not).
    known_id: bool,
    types: OnceLock<Types>,
    parsing: OnceLock<Parsing>,
}

/// A region's parsing rules, compiled on first use by the fast path.
pub(crate) struct Parsing {
    /// The international (IDD) prefix pattern, e.g. `011` for the US.
    international_prefix: Option<AtStart>,
    /// The pattern of a national prefix (and carrier code) to strip.
    national_prefix_for_parsing: Option<AtStart>,
}

impl Parsing {
    /// Whether the international prefix matches at the start of `digits`
    /// (`find(..).start() == 0`, as the crate tests it).
    pub(crate) fn international_prefix_at_start(&self, digits: &str) -> bool {
        self.international_prefix
            .as_ref()
            .is_some_and(|re| re.matches(digits))
    }

    /// The national-prefix-for-parsing pattern's match at the start of
    /// `national`: `None` when the region has no such pattern, else where
    /// the match ends, if there is one.
    pub(crate) fn national_prefix_for_parsing_end(&self, national: &str) -> Option<Option<usize>> {
        self.national_prefix_for_parsing
            .as_ref()
            .map(|re| re.end(national))
    }
}

/// The descriptors `number_type` consults, in the order it consults them.
struct Types {
    general: Desc,
    /// The possible lengths of the typed descriptors — premium rate, toll
    /// free, shared cost, VoIP, personal number, pager, UAN, voicemail,
    /// fixed line, mobile — in that order; any match makes the number valid.
    lengths: Vec<Vec<u16>>,
    /// Their patterns, anchored like [`AtStart`], as one set (same order).
    patterns: Option<RegexSet>,
}

/// `Descriptor::is_match`'s length test: no lengths listed, or `len` among them.
fn length_allowed(lengths: &[u16], len: usize) -> bool {
    lengths.is_empty() || lengths.contains(&(len as u16))
}

impl RegionTable {
    fn new(meta: &'static Metadata, leading_digits: Option<usize>) -> Self {
        RegionTable {
            id: meta.id().to_owned(),
            meta,
            leading_digits,
            known_id: meta.id().parse::<country::Id>().is_ok(),
            types: OnceLock::new(),
            parsing: OnceLock::new(),
        }
    }

    /// The region's metadata.
    pub(crate) fn meta(&self) -> &'static Metadata {
        self.meta
    }

    /// The region's parsing rules, compiled on first use.
    pub(crate) fn parsing(&self) -> &Parsing {
        self.parsing.get_or_init(|| Parsing {
            international_prefix: self
                .meta
                .international_prefix()
                .map(|r| AtStart::new(r.as_str())),
            national_prefix_for_parsing: self
                .meta
                .national_prefix_for_parsing()
                .map(|r| AtStart::new(r.as_str())),
        })
    }

    /// `meta.descriptors().general().is_match(value)`.
    pub(crate) fn general_matches(&self, value: &str) -> bool {
        self.types().general.is_match(value)
    }

    /// `number_type(meta, value) != Type::Unknown`. The crate returns a
    /// specific type for each matching descriptor; every one of them is
    /// "known", so only whether any matches matters.
    pub(crate) fn has_type(&self, value: &str) -> bool {
        let t = self.types();
        if !t.general.is_match(value) {
            return false;
        }
        let allowed = |i: usize| length_allowed(&t.lengths[i], value.len());
        let Some(patterns) = &t.patterns else {
            return false;
        };
        if !(0..t.lengths.len()).any(allowed) {
            return false;
        }
        // One pass answers every pattern; which ones also allow the length
        // decides (the crate tries them one by one, with the same answer).
        let matched = patterns.matches(value);
        (0..t.lengths.len()).any(|i| allowed(i) && matched.matched(i))
    }

    /// The descriptors, compiled on the region's first use.
    fn types(&self) -> &Types {
        self.types.get_or_init(|| {
            let d = self.meta.descriptors();
            let typed: Vec<&Descriptor> = [
                d.premium_rate(),
                d.toll_free(),
                d.shared_cost(),
                d.voip(),
                d.personal_number(),
                d.pager(),
                d.uan(),
                d.voicemail(),
                d.fixed_line(),
                d.mobile(),
            ]
            .into_iter()
            .flatten()
            .collect();
            Types {
                general: Desc::new(d.general()),
                lengths: typed.iter().map(|d| d.possible_length().to_vec()).collect(),
                patterns: (!typed.is_empty())
                    .then(|| set(typed.iter().map(|d| anchored(d.national_number().as_str())))),
            }
        })
    }
}

/// Every region sharing one country calling code, in the database's order
/// (the main country first).
struct CodeTable {
    regions: Vec<RegionTable>,
    /// The leading-digits patterns of those regions that have one, anchored
    /// like [`AtStart`], as one set: one pass over the number answers them
    /// all.
    leading_digits: Option<RegexSet>,
    /// `by_code(code).first()`: the metadata used for a non-geographical
    /// code (region `"001"`).
    first: Option<RegionTable>,
}

/// A metadata pattern compiled to answer the only question the crate asks
/// of it: does it match at the start of the value (`find(value)` with
/// `start() == 0`)?
struct AtStart(Regex);

impl AtStart {
    /// The pattern anchored, `^(?:pattern)`: some match starts at 0 exactly
    /// when the leftmost one does, so `is_match` of the anchored pattern is
    /// the crate's test — without scanning past the start or running the
    /// reverse search `find` needs for the start of a match.
    fn new(source: &str) -> Self {
        // The crate's `CachedRegexBuilder` options: `ignore_whitespace`, all
        // others default. Its patterns all compiled when the database loaded,
        // so they compile here too. The line breaks keep the group closed
        // even if a pattern ended in a `#` comment (none does).
        AtStart(
            RegexBuilder::new(&anchored(source))
                .ignore_whitespace(true)
                .build()
                .unwrap_or_else(|e| panic!("phonenumber metadata pattern {source:?}: {e}")),
        )
    }

    fn matches(&self, value: &str) -> bool {
        self.0.is_match(value)
    }

    /// Where the match at the start ends, if there is one: the same match
    /// as the unanchored pattern's leftmost one, as both take the preferred
    /// match from position 0.
    fn end(&self, value: &str) -> Option<usize> {
        self.0.find(value).map(|m| m.end())
    }
}

/// Anchored patterns as one set, with the crate's builder options.
fn set(patterns: impl IntoIterator<Item = String>) -> RegexSet {
    let patterns: Vec<String> = patterns.into_iter().collect();
    RegexSetBuilder::new(&patterns)
        .ignore_whitespace(true)
        .build()
        .unwrap_or_else(|e| panic!("phonenumber metadata patterns {patterns:?}: {e}"))
}

/// `source` anchored at the start: `^(?:source)`.
fn anchored(source: &str) -> String {
    format!("^(?:\n{source}\n)")
}

fn table(code: u16) -> Option<&'static CodeTable> {
    static TABLES: [OnceLock<Option<CodeTable>>; CODES] = [const { OnceLock::new() }; CODES];
    TABLES
        .get(usize::from(code))?
        .get_or_init(|| {
            let mut patterns = Vec::new();
            let regions = DATABASE
                .region(&code)?
                .iter()
                .filter_map(|id| DATABASE.by_id(*id))
                .map(|meta| {
                    let index = meta.leading_digits().map(|r| {
                        patterns.push(anchored(r.as_str()));
                        patterns.len() - 1
                    });
                    RegionTable::new(meta, index)
                })
                .collect();
            let leading_digits = (!patterns.is_empty()).then(|| set(patterns));
            Some(CodeTable {
                regions,
                leading_digits,
                first: DATABASE
                    .by_code(&code)
                    .and_then(|m| m.into_iter().next())
                    .map(|meta| RegionTable::new(meta, None)),
            })
        })
        .as_ref()
}

/// `phonenumber::is_valid(number)`, without the crate's regex cache.
pub(crate) fn is_valid(number: &PhoneNumber) -> bool {
    is_valid_national(number.country().code(), &number.national().to_string())
}

/// [`is_valid`] of the number with country calling code `code` and national
/// number `national` (its digits as `NationalNumber` displays them: leading
/// zeros kept).
pub(crate) fn is_valid_national(code: u16, national: &str) -> bool {
    let Some(table) = table(code) else {
        return false;
    };
    is_valid_in(source_for(table, national), national)
}

/// A region [`source_for`] picked, and whether it picked it because the
/// number has a type there.
pub(crate) type Source = Option<(&'static RegionTable, bool)>;

/// [`is_valid_national`] once `source_for` has picked `source` for the
/// number. A region picked by its type (it has no leading digits) is known
/// to have one; the crate asks again, with the same answer.
pub(crate) fn is_valid_in(source: Source, national: &str) -> bool {
    source.is_some_and(|(region, typed)| typed || region.has_type(national))
}

/// Whether the database knows country calling code `code`
/// (`DATABASE.by_code(&code).is_some()`: the crate fills that map and the
/// one `table` reads from the same entries).
pub(crate) fn is_known_code(code: u16) -> bool {
    table(code).is_some()
}

/// The table of region `id`, if the database has it (looked up once per
/// region, then kept in a table indexed by its two letters).
pub(crate) fn region(id: country::Id) -> Option<&'static RegionTable> {
    static REGIONS: [OnceLock<Option<&'static RegionTable>>; 26 * 26] =
        [const { OnceLock::new() }; 26 * 26];
    let id: &str = id.as_ref();
    let slot = match id.as_bytes() {
        &[a @ b'A'..=b'Z', b @ b'A'..=b'Z'] => usize::from(a - b'A') * 26 + usize::from(b - b'A'),
        _ => return None,
    };
    *REGIONS[slot].get_or_init(|| {
        let meta = DATABASE.by_id(id)?;
        table(meta.country_code())?
            .regions
            .iter()
            .find(|region| region.id == id)
    })
}

/// The region `phonenumber::parse` picks for a number without a default
/// region: `source_for(code, national)` and the metadata look-up on its
/// answer (the same as [`is_valid_national`] picks, so [`is_valid_in`] can
/// take it from here).
pub(crate) fn source_region(code: u16, national: &str) -> Source {
    source_for(table(code)?, national)
}

/// `phonenumber::validator::source_for` followed by the metadata look-up
/// `is_valid_with` does on its answer; with it, whether the region was picked
/// because the number has a type there (`number_type != Unknown`).
fn source_for(table: &'static CodeTable, national: &str) -> Source {
    if let [only] = table.regions.as_slice() {
        return if only.id == "001" {
            table.first.as_ref().map(|first| (first, false))
        } else {
            // The crate parses the id as a `country::Id` and looks the
            // metadata up again by it; an id it cannot parse is not valid.
            only.known_id.then_some((only, false))
        };
    }
    // Which leading-digits patterns match, computed on first need.
    let mut leading: Option<SetMatches> = None;
    for region in &table.regions {
        let matched = match (region.leading_digits, &table.leading_digits) {
            (Some(index), Some(set)) => leading
                .get_or_insert_with(|| set.matches(national))
                .matched(index),
            _ => {
                if region.has_type(national) {
                    return Some((region, true));
                }
                false
            }
        };
        if matched {
            return Some((region, false));
        }
    }
    None
}
