//! Decoding the Change Data Capture bitmap fields of the Pub/Sub API
//! (`ChangeEventHeader.changedFields`, `nulledFields`, `diffFields`) into field names.
//!
//! Source: Salesforce, "Event Deserialization Considerations" in the Pub/Sub API guide,
//! and its reference decoder `python/util/ChangeEventHeaderUtility.py` in
//! github.com/forcedotcom/pub-sub-api. Each entry is a hex string:
//!
//! - `0x…` (the first entry): a bitmap over the event schema's top-level fields; bit *i*
//!   (the number's *i*-th least significant bit) set means the field at position *i* of
//!   the Avro record. `0x650004E0` → positions 5, 6, 7, 10, 24, 26, 29, 30.
//! - `N-0x…`: a bitmap over the sub-fields of the compound field at top-level position
//!   *N* (its type is a union of `null` and a record); the names come out as
//!   `Parent.Child`, e.g. `4-0x10` → the 5th sub-field of field 4.
//!
//! Unlike the reference decoder (which reads the nested entries only when the last entry
//! is one), every `N-0x…` entry is decoded, wherever it stands.

use apache_avro::Schema;
use apache_avro::schema::RecordSchema;

/// A bitmap entry that does not fit the schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bitmap entry {entry:?}: {reason}")]
pub struct BitmapError {
    /// The entry as received.
    pub entry: String,
    /// What is wrong with it.
    pub reason: String,
}

/// The set bit positions of a `0x…` hex bitmap, lowest first.
pub fn positions(hex: &str) -> Result<Vec<usize>, String> {
    let digits = hex
        .strip_prefix("0x")
        .or_else(|| hex.strip_prefix("0X"))
        .ok_or_else(|| "does not start with 0x".to_owned())?;
    let mut out = Vec::new();
    for (k, c) in digits.chars().rev().enumerate() {
        let nibble = c
            .to_digit(16)
            .ok_or_else(|| format!("{c:?} is not a hex digit"))?;
        for bit in 0..4 {
            if nibble & (1 << bit) != 0 {
                out.push(k * 4 + bit);
            }
        }
    }
    Ok(out)
}

/// The record a compound field holds: its type is the record itself or a union of
/// `null` (or `string`) and the record, as in the reference decoder's `get_value_schema`.
fn compound(schema: &Schema) -> Option<&RecordSchema> {
    match schema {
        Schema::Record(r) => Some(r),
        Schema::Union(u) => u.variants().iter().find_map(|v| match v {
            Schema::Record(r) => Some(r),
            _ => None,
        }),
        _ => None,
    }
}

fn names(
    record: &RecordSchema,
    hex: &str,
    entry: &str,
    prefix: &str,
) -> Result<Vec<String>, BitmapError> {
    let err = |reason: String| BitmapError {
        entry: entry.to_owned(),
        reason,
    };
    positions(hex)
        .map_err(err)?
        .into_iter()
        .map(|p| {
            record
                .fields
                .get(p)
                .map(|f| format!("{prefix}{}", f.name))
                .ok_or_else(|| {
                    err(format!(
                        "bit {p} is set but {} has only {} fields",
                        record.name.name,
                        record.fields.len()
                    ))
                })
        })
        .collect()
}

/// The field names a bitmap field lists, against the event's schema (`schema` is the
/// change event record).
pub fn field_names(schema: &RecordSchema, entries: &[String]) -> Result<Vec<String>, BitmapError> {
    let mut out = Vec::new();
    for entry in entries {
        if entry.starts_with("0x") || entry.starts_with("0X") {
            out.extend(names(schema, entry, entry, "")?);
            continue;
        }
        let err = |reason: String| BitmapError {
            entry: entry.clone(),
            reason,
        };
        let (parent, hex) = entry
            .split_once('-')
            .ok_or_else(|| err("is neither 0x… nor N-0x…".into()))?;
        let index: usize = parent
            .parse()
            .map_err(|_| err(format!("{parent:?} is not a field position")))?;
        let field = schema.fields.get(index).ok_or_else(|| {
            err(format!(
                "field position {index} is beyond the schema's {} fields",
                schema.fields.len()
            ))
        })?;
        let child = compound(&field.schema)
            .ok_or_else(|| err(format!("field {} is not a compound field", field.name)))?;
        out.extend(names(child, hex, entry, &format!("{}.", field.name))?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A change event schema of 31 fields where fields 4 and 7 are compound (a union of
    /// null and a record of six sub-fields), as in Salesforce's documented example.
    fn schema() -> RecordSchema {
        let mut fields = Vec::new();
        for i in 0..31 {
            let ty = if i == 4 || i == 7 {
                let subs: Vec<String> = (0..6)
                    .map(|j| format!(r#"{{"name": "S{i}_{j}", "type": ["null", "string"]}}"#))
                    .collect();
                format!(
                    r#"["null", {{"type": "record", "name": "C{i}", "fields": [{}]}}]"#,
                    subs.join(",")
                )
            } else {
                r#"["null", "string"]"#.to_owned()
            };
            fields.push(format!(r#"{{"name": "F{i}", "type": {ty}}}"#));
        }
        let text = format!(
            r#"{{"type": "record", "name": "OpportunityChangeEvent", "fields": [{}]}}"#,
            fields.join(",")
        );
        match Schema::parse_str(&text).unwrap() {
            Schema::Record(r) => r,
            _ => unreachable!(),
        }
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn salesforce_documented_example_decodes() {
        // "Event Deserialization Considerations":
        // 'changedFields': ['0x650004E0','4-0x10','7-0x06']
        let got = field_names(&schema(), &strings(&["0x650004E0", "4-0x10", "7-0x06"])).unwrap();
        assert_eq!(
            got,
            strings(&[
                "F5", "F6", "F7", "F10", "F24", "F26", "F29", "F30", "F4.S4_4", "F7.S7_1",
                "F7.S7_2"
            ])
        );
    }

    #[test]
    fn bit_positions_count_from_the_least_significant_bit() {
        assert_eq!(positions("0x1").unwrap(), [0]);
        assert_eq!(positions("0x100").unwrap(), [8]);
        assert_eq!(positions("0x05").unwrap(), [0, 2]);
        assert_eq!(
            positions("0x650004E0").unwrap(),
            [5, 6, 7, 10, 24, 26, 29, 30]
        );
        assert_eq!(positions("0x").unwrap(), Vec::<usize>::new());
        assert!(positions("650004E0").is_err());
        assert!(positions("0xZZ").is_err());
    }

    #[test]
    fn a_nested_entry_anywhere_in_the_list_is_decoded() {
        let got = field_names(&schema(), &strings(&["7-0x01", "0x02"])).unwrap();
        assert_eq!(got, strings(&["F7.S7_0", "F1"]));
    }

    #[test]
    fn entries_that_do_not_fit_the_schema_are_errors_naming_them() {
        let s = schema();
        let e = field_names(&s, &strings(&["0x80000000"])).unwrap_err();
        assert_eq!(e.entry, "0x80000000");
        assert!(e.reason.contains("bit 31"), "{e}");
        let e = field_names(&s, &strings(&["3-0x01"])).unwrap_err();
        assert!(e.reason.contains("not a compound field"), "{e}");
        let e = field_names(&s, &strings(&["4-0x80"])).unwrap_err();
        assert!(e.reason.contains("bit 7"), "{e}");
        assert!(field_names(&s, &strings(&["Name"])).is_err());
    }
}
