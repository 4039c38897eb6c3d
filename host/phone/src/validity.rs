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
use regex::{Regex, RegexBuilder};

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
        if !self.possible_length.is_empty() && !self.possible_length.contains(&(value.len() as u16))
        {
            return false;
        }
        self.national_number.matches(value)
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
    leading_digits: Option<AtStart>,
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

    /// Whether the national-prefix-for-parsing pattern matches at the start
    /// of `national`.
    pub(crate) fn national_prefix_for_parsing_at_start(&self, national: &str) -> bool {
        self.national_prefix_for_parsing
            .as_ref()
            .is_some_and(|re| re.matches(national))
    }
}

/// The descriptors `number_type` consults, in the order it consults them.
struct Types {
    general: Desc,
    /// Premium rate, toll free, shared cost, VoIP, personal number, pager,
    /// UAN, voicemail: any match makes the number valid.
    special: Vec<Desc>,
    fixed_line: Option<Desc>,
    mobile: Option<Desc>,
}

impl RegionTable {
    fn new(meta: &'static Metadata) -> Self {
        RegionTable {
            id: meta.id().to_owned(),
            meta,
            leading_digits: meta.leading_digits().map(|r| AtStart::new(r.as_str())),
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
    fn has_type(&self, value: &str) -> bool {
        let t = self.types();
        if !t.general.is_match(value) {
            return false;
        }
        t.special.iter().any(|d| d.is_match(value))
            || t.fixed_line.as_ref().is_some_and(|d| d.is_match(value))
            || t.mobile.as_ref().is_some_and(|d| d.is_match(value))
    }

    /// The descriptors, compiled on the region's first use.
    fn types(&self) -> &Types {
        self.types.get_or_init(|| {
            let d = self.meta.descriptors();
            Types {
                general: Desc::new(d.general()),
                special: [
                    d.premium_rate(),
                    d.toll_free(),
                    d.shared_cost(),
                    d.voip(),
                    d.personal_number(),
                    d.pager(),
                    d.uan(),
                    d.voicemail(),
                ]
                .into_iter()
                .flatten()
                .map(Desc::new)
                .collect(),
                fixed_line: d.fixed_line().map(Desc::new),
                mobile: d.mobile().map(Desc::new),
            }
        })
    }
}

/// Every region sharing one country calling code, in the database's order
/// (the main country first).
struct CodeTable {
    regions: Vec<RegionTable>,
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
        let anchored = format!("^(?:\n{source}\n)");
        AtStart(
            RegexBuilder::new(&anchored)
                .ignore_whitespace(true)
                .build()
                .unwrap_or_else(|e| panic!("phonenumber metadata pattern {source:?}: {e}")),
        )
    }

    fn matches(&self, value: &str) -> bool {
        self.0.is_match(value)
    }
}

fn table(code: u16) -> Option<&'static CodeTable> {
    static TABLES: [OnceLock<Option<CodeTable>>; CODES] = [const { OnceLock::new() }; CODES];
    TABLES
        .get(usize::from(code))?
        .get_or_init(|| {
            let regions = DATABASE.region(&code)?;
            Some(CodeTable {
                regions: regions
                    .iter()
                    .filter_map(|id| DATABASE.by_id(*id).map(RegionTable::new))
                    .collect(),
                first: DATABASE
                    .by_code(&code)
                    .and_then(|m| m.into_iter().next())
                    .map(RegionTable::new),
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
    source_for(table, national).is_some_and(|region| region.has_type(national))
}

/// Whether the database knows country calling code `code`
/// (`DATABASE.by_code(&code).is_some()`: the crate fills that map and the
/// one `table` reads from the same entries).
pub(crate) fn is_known_code(code: u16) -> bool {
    table(code).is_some()
}

/// The table of region `id` (`"US"`), if the database has it.
pub(crate) fn region(id: &str) -> Option<&'static RegionTable> {
    let meta = DATABASE.by_id(id)?;
    table(meta.country_code())?
        .regions
        .iter()
        .find(|region| region.id == id)
}

/// The region `phonenumber::parse` picks for a number without a default
/// region: `source_for(code, national)` and the metadata look-up on its
/// answer (the same as [`is_valid_national`] picks).
pub(crate) fn source_region(code: u16, national: &str) -> Option<&'static RegionTable> {
    source_for(table(code)?, national)
}

/// `phonenumber::validator::source_for` followed by the metadata look-up
/// `is_valid_with` does on its answer.
fn source_for<'t>(table: &'t CodeTable, national: &str) -> Option<&'t RegionTable> {
    if let [only] = table.regions.as_slice() {
        return if only.id == "001" {
            table.first.as_ref()
        } else {
            // The crate parses the id as a `country::Id` and looks the
            // metadata up again by it; an id it cannot parse is not valid.
            only.id.parse::<country::Id>().ok().map(|_| only)
        };
    }
    for region in &table.regions {
        let matched = match &region.leading_digits {
            Some(pattern) => pattern.matches(national),
            None => region.has_type(national),
        };
        if matched {
            return Some(region);
        }
    }
    None
}
