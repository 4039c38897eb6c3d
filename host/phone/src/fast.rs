//! A fast path in front of `phonenumber::parse` for the shapes CRMs send.
//!
//! Hand-written because the crate's parser is the slow part and no crate
//! offers a cheaper one with the same results. `phonenumber::parse` (0.3.10)
//! runs two nom grammars (RFC 3966, then "natural"; `nom::FindToken` over
//! 40-character `one_of` sets and `Alt::choice` top its profile), a nom
//! viability grammar, four `Lazy<Regex>` scans, and `CachedRegex` look-ups
//! (a process-wide mutex and SipHash of the pattern's whole source on every
//! match) for the international and national prefixes and for picking the
//! region. In a `perf` profile of the `normalize` bench it was over half of
//! what `normalize` cost (2–5 µs a US or `+1` number, by shape, in a release
//! build on a loaded 2-core machine; the validity check most of the rest).
//! With this path (and the validity check's patterns anchored and matched as
//! sets) those numbers cost 250–450 ns in all; the bench prints the table.
//! Another Rust port of libphonenumber would differ from this crate in
//! edge cases, so switching would change results; the point here is to
//! change none.
//!
//! [`parse`] handles input that, after the host strips decorations, is made
//! only of ASCII digits and the separators ` ()-./`, with at most one `+` and
//! only as its first character. For that input it follows, step by step,
//! what `phonenumber::parse` does (each step cites the crate function it
//! mirrors, using the crate's metadata and the compiled patterns of
//! `src/validity.rs`) and answers only where the outcome is certain:
//!
//! - `+` numbers: the country code is split off as the crate does — by its
//!   RFC 3966 grammar (everything between `+` and the first `-.()` separator)
//!   when that grammar accepts the text, else by trying 1, 2 and 3 leading
//!   digits against the database;
//! - numbers without `+`: the default region's country code, stripped from
//!   the front (`1-212-…` in the US) exactly when the crate strips it;
//! - the national prefix of the region whose rules then apply (the default
//!   region, else the one `source_for` picks): a trunk `0` or a
//!   national-prefix-for-parsing match is cut as the crate cuts it, unless a
//!   transform rule applies (Argentina's `15`, Brazil's carrier codes…),
//!   which is left to the crate.
//!
//! Anything else (letters, other Unicode, `+` elsewhere, an international
//! (IDD) prefix, national numbers left with leading zeros, too few or too
//! many digits, unknown country codes) returns `None` and the caller runs the
//! crate's parser. `src/differential.rs` checks the whole pipeline against the
//! crate on every fixture phone and on generated numbers in every shape.

use phonenumber::country;

use crate::validity::{self, RegionTable, Source};

/// At most this many digits are copied; longer input falls back.
const MAX_DIGITS: usize = 24;

/// The separators the fast path accepts (all of them the crate's
/// `VALID_PUNCTUATION`).
const SEPARATORS: &[u8] = b" ()-./";

/// The separators that end the RFC 3966 grammar's `+` prefix
/// (`rfc3966::separator`).
const RFC3966_SEPARATORS: &[u8] = b"-.()";

/// A parsed number: country calling code and national significant number.
pub(crate) struct Parsed {
    /// The country calling code.
    pub(crate) code: u16,
    digits: [u8; MAX_DIGITS],
    start: usize,
    end: usize,
    /// The region `source_for` picked, when parsing needed it (no default
    /// region): the validity check picks the same one.
    source: Option<Source>,
}

impl Parsed {
    /// The national significant number's digits (no leading zero).
    pub(crate) fn national(&self) -> &str {
        // Only ASCII digits are ever stored.
        std::str::from_utf8(&self.digits[self.start..self.end]).unwrap_or_default()
    }

    /// `phonenumber::is_valid` of the number (`validity::is_valid`).
    pub(crate) fn is_valid(&self) -> bool {
        match self.source {
            Some(source) => validity::is_valid_in(source, self.national()),
            None => validity::is_valid_national(self.code, self.national()),
        }
    }
}

/// `phonenumber::parse(region, number)` when it is certain to succeed with a
/// national number without leading zeros; `None` when the crate must decide.
/// `number` is the text after decorations are stripped (never empty).
pub(crate) fn parse(number: &str, region: Option<country::Id>) -> Option<Parsed> {
    let bytes = number.as_bytes();
    let (plus, body) = match bytes.split_first()? {
        (b'+', rest) => (true, rest),
        _ => (false, bytes),
    };
    let mut digits = [0u8; MAX_DIGITS];
    let mut count = 0;
    for &b in body {
        if b.is_ascii_digit() {
            *digits.get_mut(count)? = b;
            count += 1;
        } else if !SEPARATORS.contains(&b) {
            return None;
        }
    }
    // With at least three digits (and only separators besides a leading
    // `+`), `is_viable` holds for the text the natural grammar extracts; the
    // RFC 3966 grammar's national part is held to more than two digits in
    // `plus_country_code`, so it is viable too.
    if count < 3 {
        return None;
    }
    let all = std::str::from_utf8(&digits[..count]).ok()?;
    // The default region's metadata (`country_code` unwraps it).
    let default = match region {
        Some(id) => Some(validity::region(id)?),
        None => None,
    };
    // `helper::international_prefix`: an IDD at the start would be stripped
    // (the natural grammar's path); leave that to the crate.
    if default.is_some_and(|r| r.parsing().international_prefix_at_start(all)) {
        return None;
    }
    let (code, national_start) = if plus {
        plus_country_code(number, body, all)?
    } else {
        default_country_code(default?, all)?
    };
    let national = &all[national_start..];
    // `parse`: an absent default region means the region `source_for`
    // picks on the national number without its leading zeros.
    let without_zeros = national.trim_start_matches('0');
    let source = default
        .is_none()
        .then(|| validity::source_region(code, without_zeros));
    let meta_region = match (default, source) {
        (Some(region), _) => Some(region),
        (None, Some(picked)) => picked.map(|(region, _)| region),
        (None, None) => None,
    };
    let stripped = match meta_region {
        Some(region) => national_prefix_stripped(region, national)?,
        None => national,
    };
    if stripped.starts_with('0') || !(2..=16).contains(&stripped.len()) {
        // Leading zeros are kept apart in `NationalNumber`; more than 17
        // digits is `TooLong`, and above 16 the value may pass 2^56.
        return None;
    }
    Some(Parsed {
        code,
        digits,
        start: count - stripped.len(),
        end: count,
        // The validity check picks its region on the final national
        // number: the same one when nothing was stripped.
        source: source.filter(|_| stripped.len() == national.len()),
    })
}

/// The country code of a `+` number and where its national number starts
/// in `all` (its digits), as `phonenumber::parse` splits them.
fn plus_country_code(number: &str, body: &[u8], all: &str) -> Option<(u16, usize)> {
    // `rfc3966::phone_number`: refuses any space; `prefix` is `+` and
    // `take_till1(separator)`; then `take_while1(number)` needs at least one
    // character, and `check` needs the rest empty (a `/` stops the national
    // part and fails it). When it fails, the natural grammar parses.
    let prefix_end = body
        .iter()
        .position(|b| RFC3966_SEPARATORS.contains(b))
        .unwrap_or(body.len());
    let rfc3966 = !number.contains(' ')
        && prefix_end > 0
        && prefix_end < body.len()
        && !body[prefix_end..].contains(&b'/');
    let code_len = if rfc3966 {
        // The prefix (normalised to its digits) is the country code,
        // checked against the database in `helper::country_code`.
        let len = body[..prefix_end]
            .iter()
            .filter(|b| b.is_ascii_digit())
            .count();
        if !(1..=3).contains(&len) || all.starts_with('0') {
            return None;
        }
        // `country_code` returns `TooShortNsn` for a national part of two
        // digits or fewer.
        if all.len() - len <= 2 {
            return None;
        }
        len
    } else {
        // `helper::country_code`, source `Plus`, no prefix yet: more than two
        // digits, no leading 0, the first of 1..=3 leading digits the
        // database knows.
        if all.starts_with('0') {
            return None;
        }
        (1..=3).find(|&len| {
            all[..len]
                .parse()
                .is_ok_and(|code: u16| validity::is_known_code(code))
        })?
    };
    let code: u16 = all[..code_len].parse().ok()?;
    validity::is_known_code(code).then_some((code, code_len))
}

/// The country code of a number without `+` and where its national number
/// starts in `all`: `helper::country_code`, source `Default`. The default
/// region's code is stripped from the front when the number starts with it
/// and is, as a whole, not a general match or not of a possible length.
fn default_country_code(region: &RegionTable, all: &str) -> Option<(u16, usize)> {
    let meta = region.meta();
    let code = meta.country_code();
    let mut buffer = [0u8; 5];
    let code_text = decimal(code, &mut buffer);
    let strip = all.starts_with(code_text)
        && (!region.general_matches(all) || !possible_length(meta, all.len()));
    Some((code, if strip { code_text.len() } else { 0 }))
}

/// `code` in decimal, written into `buffer`.
pub(crate) fn decimal(code: u16, buffer: &mut [u8; 5]) -> &str {
    let mut at = buffer.len();
    let mut rest = code;
    loop {
        at -= 1;
        buffer[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    std::str::from_utf8(&buffer[at..]).unwrap_or_default()
}

/// `validator::length(meta, number, Type::Unknown).is_possible()` for a
/// national number of `len` digits (a line-by-line port: the general
/// descriptor's local lengths, then its possible lengths).
fn possible_length(meta: &phonenumber::Metadata, len: usize) -> bool {
    let general = meta.descriptors().general();
    let Ok(length) = u16::try_from(len) else {
        return false;
    };
    let possible = general.possible_length();
    let (Some(&minimum), Some(&maximum)) = (possible.first(), possible.last()) else {
        return false;
    };
    if general.possible_local_length().contains(&length) || length == minimum {
        true
    } else if length < minimum || length > maximum {
        false
    } else {
        possible.contains(&length)
    }
}

/// `national` after `parse`'s national-prefix step in `region`, or `None`
/// where that step is left to the crate (a transform rule applies):
///
/// 1. `helper::national_number`: with no national-prefix-for-parsing
///    pattern, the national prefix is cut if the number starts with it; with
///    one that does not match at the start, nothing happens; with one that
///    does and no transform rule, the match is cut (its carrier-code capture
///    is kept by the crate but plays no part in validity or E.164; and its
///    "viable" test compares the number's general match with itself, so it
///    never stops the cut);
/// 2. the national prefix is cut (again) if what is left starts with it;
/// 3. the result is kept unless `validator::length` calls it `TooShort`.
fn national_prefix_stripped<'n>(region: &RegionTable, national: &'n str) -> Option<&'n str> {
    let meta = region.meta();
    let prefix = meta.national_prefix();
    let cut = |value: &'n str| match prefix {
        Some(prefix) if value.starts_with(prefix) => &value[prefix.len()..],
        _ => value,
    };
    let first = match region.parsing().national_prefix_for_parsing_end(national) {
        None => cut(national),
        Some(None) => national,
        Some(Some(_)) if meta.national_prefix_transform_rule().is_some() => return None,
        Some(Some(end)) => &national[end..],
    };
    let potential = cut(first);
    Some(if too_short(meta, potential.len()) {
        national
    } else {
        potential
    })
}

/// `validator::length(meta, number, Type::Unknown) == Validation::TooShort`
/// for a national number of `len` digits (a port: the general descriptor's
/// local lengths, then the shortest of its possible lengths).
fn too_short(meta: &phonenumber::Metadata, len: usize) -> bool {
    let general = meta.descriptors().general();
    let Some(&minimum) = general.possible_length().first() else {
        // `InvalidLength`.
        return false;
    };
    let Ok(length) = u16::try_from(len) else {
        return false;
    };
    !general.possible_local_length().contains(&length) && length < minimum
}
