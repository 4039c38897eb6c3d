//! Salesforce record Ids: 15-char (case-sensitive) → 18-char (case-safe).
//!
//! The REST API returns 18-char Ids, reports and the UI 15-char ones; both name
//! the same record, so the 18-char form is the one stable key. The suffix
//! encodes, per 5-char chunk, which chars are uppercase letters (bit i = char i,
//! leftmost = bit 0) as one of `A..Z0..5`. An 18-char Id whose case was mangled
//! (e.g. lowercased by a spreadsheet) is repaired from its suffix; if the suffix
//! contradicts the chars (marks a digit as uppercase) the Id is rejected.

const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";

/// Why a value is not a Salesforce Id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdError {
    /// Human-readable reason quoting the value.
    pub message: String,
}

impl std::fmt::Display for IdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for IdError {}

/// The canonical 18-char form of a 15- or 18-char Salesforce Id.
pub fn id18(id: &str) -> Result<String, IdError> {
    let fail = |why: &str| IdError {
        message: format!("{id:?} is not a Salesforce Id: {why}"),
    };
    if !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(fail("only ASCII letters and digits are allowed"));
    }
    match id.len() {
        15 => {
            let mut out = id.to_owned();
            for chunk in id.as_bytes().chunks(5) {
                let bits = chunk
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| c.is_ascii_uppercase())
                    .fold(0usize, |acc, (i, _)| acc | 1 << i);
                out.push(char::from(ALPHABET[bits]));
            }
            Ok(out)
        }
        18 => {
            let (body, suffix) = id.split_at(15);
            let mut out = String::with_capacity(18);
            for (chunk, code) in body.as_bytes().chunks(5).zip(suffix.bytes()) {
                let code = code.to_ascii_uppercase();
                let bits = ALPHABET
                    .iter()
                    .position(|&a| a == code)
                    .ok_or_else(|| fail("the last 3 chars must be A-Z or 0-5"))?;
                for (i, &c) in chunk.iter().enumerate() {
                    let upper = bits & (1 << i) != 0;
                    if upper && !c.is_ascii_alphabetic() {
                        return Err(fail("the checksum does not match the Id"));
                    }
                    out.push(char::from(if upper {
                        c.to_ascii_uppercase()
                    } else {
                        c.to_ascii_lowercase()
                    }));
                }
            }
            out.push_str(&suffix.to_ascii_uppercase());
            Ok(out)
        }
        n => Err(fail(&format!("expected 15 or 18 characters, got {n}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vectors from crm-formats.md §2.2 (first one published).
    const VECTORS: [(&str, &str); 5] = [
        ("00558000001N0Ke", "00558000001N0KeAAK"),
        ("001000000000001", "001000000000001AAA"),
        ("001A0000006Vm9r", "001A0000006Vm9rIAC"),
        ("003D000000QO2vN", "003D000000QO2vNIAT"),
        ("aAAAAAAAAAAAAAA", "aAAAAAAAAAAAAAA455"),
    ];

    #[test]
    fn fifteen_to_eighteen() {
        for (short, long) in VECTORS {
            assert_eq!(id18(short).unwrap(), long);
            assert_eq!(id18(long).unwrap(), long, "18-char ids are kept");
        }
    }

    #[test]
    fn case_mangled_ids_are_repaired() {
        for (_, long) in VECTORS {
            assert_eq!(id18(&long.to_ascii_lowercase()).unwrap(), long);
            assert_eq!(id18(&long.to_ascii_uppercase()).unwrap(), long);
        }
    }

    #[test]
    fn impossible_ids_are_rejected() {
        // Suffix says char 0 is uppercase but it is a digit.
        assert!(id18("001000000000001BAA").is_err());
        assert!(id18("001000000000001AA9").is_err());
        assert!(id18("003D000000QO2v").is_err());
        assert!(id18("003D000000QO2v-IAT").is_err());
        assert!(id18("").unwrap_err().message.contains("15 or 18"));
    }
}
