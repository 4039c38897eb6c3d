//! Phone normalisation to E.164 for dialsync.
//!
//! CRM phone fields are free text (`"(281) 332-2575"`, `"+1 858 287 7834 x12"`,
//! `"tel:+442079460958"`). Genesys Cloud dials what it is given, so every number
//! is normalised here once, with libphonenumber's metadata (the `phonenumber`
//! crate), before it reaches a contact list. The host exposes this as the
//! `normalize-phone` import so plugins do not each carry the ~2 MB metadata, and
//! the plugin SDK's native test host calls the same function, so a plugin's
//! native tests and its wasm build see identical results.
//!
//! `phonenumber::parse` accepts numbers that cannot exist (`555-0143` parses);
//! only `phonenumber::is_valid` tells them apart, so every result is gated on
//! it — through [`validity`], the same check over patterns compiled once
//! (the crate's own regex cache was most of the cost of a mapped record).
//! E.164 is written directly (see [`e164`]). In front of the crate's parser,
//! [`fast`] parses the shapes CRMs send (digits and ` ()-./`, an optional
//! leading `+`) when the outcome is certain, and defers to the parser
//! otherwise; [`Engine`] names the three ways of getting the same results.

#[cfg(test)]
mod differential;
mod fast;
mod validity;

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use phonenumber::{PhoneNumber, country};

/// Why a phone number could not be normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneError {
    /// What went wrong, as a stable machine-readable kind.
    pub code: PhoneErrorCode,
    /// Human-readable reason quoting the raw value.
    pub message: String,
}

/// The kinds of [`PhoneError`], matching the WIT `phone-error.code` strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhoneErrorCode {
    /// Nothing but whitespace (or only an extension) was given.
    Empty,
    /// The text is not a phone number at all.
    Unparseable,
    /// It parses, but no such number can exist in its country's numbering plan.
    Invalid,
    /// The number has no country prefix and no (known) default region was given.
    NoRegion,
}

impl PhoneErrorCode {
    /// The wire form used by the WIT contract: `empty`, `unparseable`, `invalid`, `no-region`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::Unparseable => "unparseable",
            Self::Invalid => "invalid",
            Self::NoRegion => "no-region",
        }
    }
}

impl fmt::Display for PhoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for PhoneError {}

fn error(code: PhoneErrorCode, message: String) -> PhoneError {
    PhoneError { code, message }
}

/// Normalise a free-text phone number to E.164 (e.g. `+12813322575`).
///
/// Trims, strips a `tel:` scheme, drops an extension (`;ext=`, `ext`, ` x`, `#`)
/// and any other URI parameter, then parses with `default_region` (ISO 3166-1
/// alpha-2, case-insensitive) for numbers written without a `+` country prefix.
/// Without a region such numbers fail with [`PhoneErrorCode::NoRegion`] rather than
/// being guessed.
pub fn normalize(raw: &str, default_region: Option<&str>) -> Result<String, PhoneError> {
    normalize_using(Engine::Fast, raw, default_region)
}

/// How [`normalize_using`] parses, validates and formats. All three give
/// identical results (values, error codes and messages) for every input —
/// `src/differential.rs` checks that; they differ only in speed, which the
/// `normalize` bench compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// What [`normalize`] does: [`Engine::CrateParse`] behind a fast path
    /// (`src/fast.rs`) for the shapes CRMs send.
    Fast,
    /// `phonenumber::parse`, then the validity check over patterns compiled
    /// once (`src/validity.rs`) and E.164 written directly.
    CrateParse,
    /// Everything by the `phonenumber` crate: `parse`, `is_valid` and its
    /// E.164 formatter. The reference the others are tested against.
    Crate,
}

/// [`normalize`] with the [`Engine`] chosen.
pub fn normalize_using(
    engine: Engine,
    raw: &str,
    default_region: Option<&str>,
) -> Result<String, PhoneError> {
    let number = strip_decorations(raw);
    if number.is_empty() {
        return Err(error(
            PhoneErrorCode::Empty,
            format!("phone number {raw:?} is empty"),
        ));
    }
    let region = match default_region.map(str::trim).filter(|r| !r.is_empty()) {
        Some(code) => Some(parse_region(code).ok_or_else(|| {
            error(
                PhoneErrorCode::NoRegion,
                format!("phone number {raw:?}: {code:?} is not a known ISO 3166-1 alpha-2 region"),
            )
        })?),
        None => None,
    };
    if region.is_none() && !number.starts_with('+') {
        return Err(error(
            PhoneErrorCode::NoRegion,
            format!("phone number {raw:?} has no +country prefix and no default region was given"),
        ));
    }
    let fast = match engine {
        Engine::Fast => fast::parse(number, region),
        Engine::CrateParse | Engine::Crate => None,
    };
    let valid = match fast {
        Some(parsed) => parsed
            .is_valid()
            .then(|| e164_of(parsed.code, parsed.national())),
        None => {
            let parsed = phonenumber::parse(region, number).map_err(|e| {
                error(
                    PhoneErrorCode::Unparseable,
                    format!("phone number {raw:?} could not be parsed: {e}"),
                )
            })?;
            match engine {
                Engine::Crate => phonenumber::is_valid(&parsed)
                    .then(|| parsed.format().mode(phonenumber::Mode::E164).to_string()),
                Engine::Fast | Engine::CrateParse => {
                    validity::is_valid(&parsed).then(|| e164(&parsed))
                }
            }
        }
    };
    valid.ok_or_else(|| {
        let region_note = default_region
            .map(|r| format!(" (default region {r})"))
            .unwrap_or_default();
        error(
            PhoneErrorCode::Invalid,
            format!("phone number {raw:?} is not a valid number{region_note}"),
        )
    })
}

/// E.164 of a valid number: what `phonenumber`'s formatter writes in
/// `Mode::E164` (`+`, country code, national number with its leading zeros),
/// without the national-format look-up it does first and E.164 never uses.
fn e164(number: &PhoneNumber) -> String {
    let national = number.national().to_string();
    e164_of(number.country().code(), &national)
}

/// `+`, the country code and the national number, in one allocation.
fn e164_of(code: u16, national: &str) -> String {
    let mut out = String::with_capacity(4 + national.len());
    out.push('+');
    let mut buffer = [0u8; 5];
    out.push_str(fast::decimal(code, &mut buffer));
    out.push_str(national);
    out
}

/// Parse an ISO 3166-1 alpha-2 region code, case-insensitively.
///
/// `country::Id::from_str` compares the text with every id in turn (a
/// quarter of a microsecond for `US`), so its answers for all 676 pairs of
/// letters are kept in a table, made on first use.
fn parse_region(code: &str) -> Option<country::Id> {
    static IDS: OnceLock<Vec<Option<country::Id>>> = OnceLock::new();
    let &[a, b] = code.as_bytes() else {
        return None;
    };
    if !a.is_ascii_alphabetic() || !b.is_ascii_alphabetic() {
        return None;
    }
    let index = |c: u8| usize::from(c.to_ascii_uppercase() - b'A');
    let ids = IDS.get_or_init(|| {
        (b'A'..=b'Z')
            .flat_map(|a| (b'A'..=b'Z').map(move |b| [a, b]))
            .map(|pair| {
                let text = std::str::from_utf8(&pair).ok()?;
                country::Id::from_str(text).ok()
            })
            .collect()
    });
    ids.get(index(a) * 26 + index(b)).copied().flatten()
}

/// The number part of `raw`: trimmed, `tel:` removed, extension and URI
/// parameters cut off at the first `;`, `#`, `ext` (any case) or `x` that
/// starts the text or follows a space. Hand-written because the crate's parser
/// only understands some extension spellings and rejects `tel:` URIs with
/// parameters. Allocation-free: the markers are ASCII, so a byte scan finds
/// them and cuts only at character boundaries.
fn strip_decorations(raw: &str) -> &str {
    let mut s = raw.trim();
    if s.len() >= 4 && s.as_bytes()[..4].eq_ignore_ascii_case(b"tel:") {
        s = s[4..].trim_start();
    }
    let bytes = s.as_bytes();
    let is_x = |at: usize| matches!(bytes.get(at), Some(b'x' | b'X'));
    let cut = (0..bytes.len()).find(|&at| match bytes[at] {
        b';' | b'#' => true,
        b' ' => is_x(at + 1),
        b'e' | b'E' => bytes[at..].len() >= 3 && bytes[at..at + 3].eq_ignore_ascii_case(b"ext"),
        _ => at == 0 && is_x(0),
    });
    if let Some(at) = cut {
        s = &s[..at];
    }
    s.trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(raw: &str, region: Option<&str>) -> String {
        normalize(raw, region).unwrap_or_else(|e| panic!("{raw:?}: {e}"))
    }

    fn code(raw: &str, region: Option<&str>) -> PhoneErrorCode {
        normalize(raw, region).expect_err(raw).code
    }

    #[test]
    fn national_formats_with_a_region() {
        assert_eq!(ok("(281) 332-2575", Some("US")), "+12813322575");
        assert_eq!(ok("020 7946 0958", Some("GB")), "+442079460958");
        assert_eq!(ok("  281.332.2575  ", Some("us")), "+12813322575");
    }

    #[test]
    fn international_formats_without_a_region() {
        assert_eq!(ok("+1 858 287 7834", None), "+18582877834");
        assert_eq!(ok("+44 20 7946 0958", None), "+442079460958");
        // A +prefix wins over a different default region.
        assert_eq!(ok("+44 20 7946 0958", Some("US")), "+442079460958");
    }

    #[test]
    fn tel_uris_and_extensions_are_stripped() {
        assert_eq!(ok("tel:+442079460958", None), "+442079460958");
        assert_eq!(ok("TEL:+1-858-287-7834;ext=12", None), "+18582877834");
        assert_eq!(ok("+1 858 287 7834 x12", None), "+18582877834");
        assert_eq!(ok("+1 858 287 7834 ext. 12", None), "+18582877834");
        assert_eq!(ok("(281) 332-2575 #4", Some("US")), "+12813322575");
    }

    #[test]
    fn impossible_numbers_are_invalid_not_accepted() {
        assert_eq!(code("555-0143", Some("US")), PhoneErrorCode::Invalid);
        assert_eq!(code("+1 202 555 014", None), PhoneErrorCode::Invalid);
    }

    #[test]
    fn empty_and_garbage() {
        assert_eq!(code("", Some("US")), PhoneErrorCode::Empty);
        assert_eq!(code("   ", None), PhoneErrorCode::Empty);
        assert_eq!(code(" x12", Some("US")), PhoneErrorCode::Empty);
        assert_eq!(
            code("call me maybe", Some("US")),
            PhoneErrorCode::Unparseable
        );
    }

    #[test]
    fn no_region_is_never_guessed() {
        assert_eq!(code("020 7946 0958", None), PhoneErrorCode::NoRegion);
        assert_eq!(code("(281) 332-2575", Some("")), PhoneErrorCode::NoRegion);
        assert_eq!(code("(281) 332-2575", Some("ZZ")), PhoneErrorCode::NoRegion);
        assert_eq!(
            code("(281) 332-2575", Some("USA")),
            PhoneErrorCode::NoRegion
        );
    }

    #[test]
    fn multibyte_text_where_tel_would_end_is_an_error_not_a_panic() {
        // Full-width `＋１` (which the crate's parser does not read) ends
        // inside the fourth byte, where a `tel:` would end.
        assert_eq!(
            code("＋１ ２１２ ５５５ ２６７１", Some("US")),
            PhoneErrorCode::Unparseable
        );
        assert_eq!(code("abcé", Some("US")), PhoneErrorCode::Unparseable);
    }

    #[test]
    fn messages_quote_the_raw_value() {
        let e = normalize("555-0143", Some("US")).unwrap_err();
        assert!(e.message.contains("\"555-0143\""), "{}", e.message);
        assert_eq!(e.code.as_str(), "invalid");
        let e = normalize("020 7946 0958", None).unwrap_err();
        assert!(e.message.contains("\"020 7946 0958\""), "{}", e.message);
        assert_eq!(e.code.as_str(), "no-region");
    }
}
