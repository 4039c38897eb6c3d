//! Streaming readers for bulk-import files: JSON Lines, CSV, a JSON array, a ServiceNow
//! Table API answer (`{"result": [...]}`) or a Salesforce query answer
//! (`{"records": [...]}`). Every format is read one record at a time — memory stays
//! bounded whatever the file size — and every record carries its position, so errors
//! can name it.

use std::fmt;
use std::io::{BufRead, BufReader};
use std::path::Path;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use thiserror::Error;

/// Where a record sits in its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Position {
    /// 1-based line (JSON Lines, CSV: the header is line 1).
    Line(u64),
    /// 0-based index in the JSON array.
    Index(u64),
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Position::Line(n) => write!(f, "line {n}"),
            Position::Index(n) => write!(f, "record [{n}]"),
        }
    }
}

/// A file could not be read as records.
#[derive(Debug, Error)]
pub enum RecordsError {
    /// I/O failure.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The content is not the expected format.
    #[error("{path}: {at}: {message}")]
    Format {
        /// The file.
        path: String,
        /// Where.
        at: String,
        /// What is wrong.
        message: String,
    },
    /// The consumer stopped reading.
    #[error("import stopped")]
    Stopped,
}

/// The formats understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line (`.jsonl`, `.ndjson`).
    JsonLines,
    /// CSV with a header row (`.csv`); values are strings.
    Csv,
    /// A JSON document (`.json`): an array, or an object with a `result` / `records` array.
    Json,
}

impl Format {
    /// The format for a file name.
    pub fn for_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "jsonl" | "ndjson" => Some(Format::JsonLines),
            "csv" => Some(Format::Csv),
            "json" => Some(Format::Json),
            _ => None,
        }
    }
}

/// Reads `path` record by record, calling `each` for every one; stops at the first error
/// (a malformed record is an error naming its position, never silently skipped).
pub fn read_records(
    path: &Path,
    format: Format,
    mut each: impl FnMut(Position, Value) -> Result<(), RecordsError>,
) -> Result<u64, RecordsError> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|source| RecordsError::Io {
        path: name.clone(),
        source,
    })?;
    let reader = BufReader::with_capacity(1 << 16, file);
    let mut count = 0u64;
    match format {
        Format::JsonLines => {
            for (i, line) in reader.lines().enumerate() {
                let line = line.map_err(|source| RecordsError::Io {
                    path: name.clone(),
                    source,
                })?;
                if line.trim().is_empty() {
                    continue;
                }
                let at = Position::Line(i as u64 + 1);
                let value: Value =
                    serde_json::from_str(&line).map_err(|e| RecordsError::Format {
                        path: name.clone(),
                        at: at.to_string(),
                        message: e.to_string(),
                    })?;
                each(at, value)?;
                count += 1;
            }
        }
        Format::Csv => {
            let mut csv = csv::Reader::from_reader(reader);
            let headers = csv
                .headers()
                .map_err(|e| RecordsError::Format {
                    path: name.clone(),
                    at: "line 1".into(),
                    message: e.to_string(),
                })?
                .clone();
            for row in csv.records() {
                let row = row.map_err(|e| RecordsError::Format {
                    path: name.clone(),
                    at: e
                        .position()
                        .map(|p| format!("line {}", p.line()))
                        .unwrap_or_else(|| "?".into()),
                    message: e.to_string(),
                })?;
                let at = Position::Line(row.position().map(|p| p.line()).unwrap_or(0));
                let object = headers
                    .iter()
                    .zip(row.iter())
                    .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
                    .collect();
                each(at, Value::Object(object))?;
                count += 1;
            }
        }
        Format::Json => {
            let mut de = serde_json::Deserializer::from_reader(reader);
            let mut sink = Sink {
                each: &mut each,
                count: &mut count,
                error: None,
            };
            let result = (&mut de).deserialize_any(Document(&mut sink));
            if let Some(e) = sink.error.take() {
                return Err(e);
            }
            result
                .and_then(|()| de.end())
                .map_err(|e| RecordsError::Format {
                    path: name.clone(),
                    at: format!("line {} column {}", e.line(), e.column()),
                    message: e.to_string(),
                })?;
        }
    }
    Ok(count)
}

/// Hands each array element to the callback as it is parsed.
struct Sink<'a, F> {
    each: &'a mut F,
    count: &'a mut u64,
    error: Option<RecordsError>,
}

/// The whole JSON document: an array, or an object whose `result`/`records` is one.
struct Document<'s, 'a, F>(&'s mut Sink<'a, F>);

impl<'de, F> Visitor<'de> for Document<'_, '_, F>
where
    F: FnMut(Position, Value) -> Result<(), RecordsError>,
{
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(r#"a JSON array of records, or an object with a "result" or "records" array"#)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        Elements(self.0).visit_seq(seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut found = false;
        while let Some(key) = map.next_key::<String>()? {
            if !found && (key == "result" || key == "records") {
                map.next_value_seed(ElementsSeed(&mut *self.0))?;
                found = true;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        if found {
            Ok(())
        } else {
            Err(serde::de::Error::custom(
                r#"the object has no "result" (ServiceNow) or "records" (Salesforce) array"#,
            ))
        }
    }
}

struct ElementsSeed<'s, 'a, F>(&'s mut Sink<'a, F>);

impl<'de, F> DeserializeSeed<'de> for ElementsSeed<'_, '_, F>
where
    F: FnMut(Position, Value) -> Result<(), RecordsError>,
{
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(Elements(self.0))
    }
}

struct Elements<'s, 'a, F>(&'s mut Sink<'a, F>);

impl<'de, F> Visitor<'de> for Elements<'_, '_, F>
where
    F: FnMut(Position, Value) -> Result<(), RecordsError>,
{
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0u64;
        while let Some(value) = seq.next_element::<Value>()? {
            if let Err(e) = (self.0.each)(Position::Index(index), value) {
                self.0.error = Some(e);
                return Err(serde::de::Error::custom("stopped"));
            }
            *self.0.count += 1;
            index += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(name: &str, text: &str) -> Result<Vec<(Position, Value)>, RecordsError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let mut out = Vec::new();
        read_records(&path, Format::for_path(&path).unwrap(), |p, v| {
            out.push((p, v));
            Ok(())
        })?;
        Ok(out)
    }

    #[test]
    fn reads_every_format() {
        let lines = read("a.jsonl", "{\"id\":1}\n\n{\"id\":2}\n").unwrap();
        assert_eq!(lines[1], (Position::Line(3), serde_json::json!({"id": 2})));
        let csv = read("a.csv", "id,name\n1,Ann\n2,\"Bo, B\"\n").unwrap();
        assert_eq!(csv[1].1, serde_json::json!({"id": "2", "name": "Bo, B"}));
        let array = read("a.json", "[{\"id\":1},{\"id\":2}]").unwrap();
        assert_eq!(array[1].0, Position::Index(1));
        let sn = read("sn.json", "{\"result\":[{\"sys_id\":\"x\"}]}").unwrap();
        assert_eq!(sn[0].1["sys_id"], "x");
        let sf = read(
            "sf.json",
            "{\"totalSize\":1,\"done\":true,\"records\":[{\"Id\":\"003\"}]}",
        )
        .unwrap();
        assert_eq!(sf[0].1["Id"], "003");
    }

    #[test]
    fn malformed_input_names_the_position() {
        let e = read("a.jsonl", "{\"id\":1}\n{oops\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2"), "{e}");
        let e = read("a.json", "{\"rows\":[]}").unwrap_err().to_string();
        assert!(e.contains("\"result\""), "{e}");
        let e = read("a.json", "[{\"id\":1},]").unwrap_err().to_string();
        assert!(e.contains("line 1"), "{e}");
    }
}
