//! Stable, safe `externalId`s.
//!
//! The externalId is dialsync's dedup key for a contact, so it must be derived
//! from stable source attributes only (never a phone or email), be the same on
//! every run and machine, and fit Genesys columns: `[A-Za-z0-9_]`, 1..=64 chars.
//!
//! Two different keys must never share an id. Plain sanitising would merge
//! `a-b` and `a_b`, so an id comes in exactly one of two disjoint forms:
//!
//! * **clean**: `<prefix>_<key>` for a single-part key that is already safe
//!   (`[A-Za-z0-9_]`, no `__`) and fits in 64 chars;
//! * **hashed**: `<readable>__<16 hex>` otherwise, where `<readable>` is the
//!   sanitised key cut to fit and the hex is the start of SHA-256 over an
//!   unambiguous encoding of the *unsanitised* prefix and parts. Composite
//!   (multi-part) keys always take this form, so `["a", "b"]` and `["a_b"]`
//!   stay apart.
//!
//! Clean ids never contain `__` and hashed ids always do, so the forms cannot
//! collide with each other; hashed ids collide only on a 64-bit hash collision.

use sha2::{Digest, Sha256};

/// Maximum length of an externalId.
const MAX_LEN: usize = 64;
/// Hex digits of SHA-256 kept in a hashed id.
const HASH_HEX: usize = 16;

/// Why an externalId could not be built from a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExternalIdError {
    /// The prefix must be 1..=16 ASCII letters or digits.
    BadPrefix(String),
    /// A key needs at least one part.
    NoParts,
    /// Part `index` is empty (after trimming whitespace).
    EmptyPart {
        /// Position of the empty part in `parts`.
        index: usize,
    },
}

impl std::fmt::Display for ExternalIdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::BadPrefix(p) => write!(
                f,
                "externalId prefix {p:?} must be 1 to 16 ASCII letters or digits"
            ),
            Self::NoParts => write!(f, "an externalId needs at least one key part"),
            Self::EmptyPart { index } => write!(f, "externalId key part {index} is empty"),
        }
    }
}

impl std::error::Error for ExternalIdError {}

/// Build the externalId for the key `parts` under `prefix` (e.g. `sn`, `sf`).
///
/// ```
/// use dialsync_plugin_sdk::external_id;
/// assert_eq!(external_id("sn", &["a9e30c7dc61122760116894de7bcc7bd"]).unwrap(),
///            "sn_a9e30c7dc61122760116894de7bcc7bd");
/// assert_ne!(external_id("crm", &["a-b"]).unwrap(), external_id("crm", &["a_b"]).unwrap());
/// ```
pub fn external_id(prefix: &str, parts: &[&str]) -> Result<String, ExternalIdError> {
    if prefix.is_empty() || prefix.len() > 16 || !prefix.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Err(ExternalIdError::BadPrefix(prefix.to_owned()));
    }
    if parts.is_empty() {
        return Err(ExternalIdError::NoParts);
    }
    if let Some(index) = parts.iter().position(|p| p.trim().is_empty()) {
        return Err(ExternalIdError::EmptyPart { index });
    }

    let clean = match parts {
        [single] => {
            single
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
                && !single.contains("__")
        }
        _ => false,
    };
    let mut joined =
        String::with_capacity(prefix.len() + parts.iter().map(|p| p.len() + 1).sum::<usize>());
    joined.push_str(prefix);
    for part in parts {
        joined.push('_');
        joined.push_str(part);
    }
    if clean && joined.len() <= MAX_LEN {
        return Ok(joined);
    }

    let mut readable = sanitize(&joined);
    readable.truncate(MAX_LEN - 2 - HASH_HEX);
    let readable = readable.trim_end_matches('_');
    Ok(format!("{readable}__{}", key_hash(prefix, parts)))
}

/// Replace every char outside `[A-Za-z0-9]` by `_`, collapsing runs of `_`.
fn sanitize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let c = if c.is_ascii_alphanumeric() { c } else { '_' };
        if !(c == '_' && out.ends_with('_')) {
            out.push(c);
        }
    }
    out
}

/// The first [`HASH_HEX`] hex digits of SHA-256 over `prefix` and every part, each
/// written as `<byte length>:<bytes>` so no two different keys encode alike.
fn key_hash(prefix: &str, parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for piece in std::iter::once(&prefix).chain(parts) {
        hasher.update(format!("{}:", piece.len()).as_bytes());
        hasher.update(piece.as_bytes());
    }
    hasher.finalize()[..HASH_HEX / 2]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(prefix: &str, parts: &[&str]) -> String {
        let id = external_id(prefix, parts).unwrap();
        assert!(
            !id.is_empty()
                && id.len() <= MAX_LEN
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
            "{id:?} is not a safe externalId"
        );
        id
    }

    #[test]
    fn safe_keys_stay_readable() {
        assert_eq!(
            id("sn", &["a9e30c7dc61122760116894de7bcc7bd"]),
            "sn_a9e30c7dc61122760116894de7bcc7bd"
        );
        assert_eq!(id("sf", &["003D000000QO2vNIAT"]), "sf_003D000000QO2vNIAT");
        assert_eq!(id("crm", &["CUST_001"]), "crm_CUST_001");
        assert!(id("crm", &["acme", "42"]).starts_with("crm_acme_42__"));
    }

    #[test]
    fn sanitising_never_merges_different_keys() {
        let variants = [
            id("crm", &["a-b"]),
            id("crm", &["a_b"]),
            id("crm", &["a b"]),
            id("crm", &["a--b"]),
            id("crm", &["a__b"]),
            id("crm", &["a", "b"]),
            id("crm", &["a_b", "c"]),
            id("crm", &["a", "b_c"]),
            id("crm", &["a_b_c"]),
            id("crm", &["ab"]),
            id("crm2", &["ab"]),
        ];
        for (i, a) in variants.iter().enumerate() {
            for b in &variants[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert!(id("crm", &["a-b"]).starts_with("crm_a_b__"));
    }

    #[test]
    fn deterministic_and_bounded() {
        let long = "x".repeat(200);
        let a = id("crm", &[&long]);
        assert_eq!(a, id("crm", &[&long]));
        assert_eq!(a.len(), 64 - 2 - 16 + 2 + 16);
        let other = format!("{long}y");
        assert_ne!(a, id("crm", &[&other]));
        // Unicode is sanitised, not dropped.
        assert_ne!(id("crm", &["José"]), id("crm", &["Jos"]));
        // Pinned so a change of algorithm (which would orphan every contact) fails loudly.
        assert_eq!(id("crm", &["a-b"]), "crm_a_b__56010c742dff1bac");
    }

    #[test]
    fn bad_input_is_an_error() {
        assert_eq!(
            external_id("", &["x"]),
            Err(ExternalIdError::BadPrefix(String::new()))
        );
        assert_eq!(
            external_id("s-n", &["x"]),
            Err(ExternalIdError::BadPrefix("s-n".into()))
        );
        assert_eq!(external_id("sn", &[]), Err(ExternalIdError::NoParts));
        assert_eq!(
            external_id("sn", &["a", " "]),
            Err(ExternalIdError::EmptyPart { index: 1 })
        );
    }
}
