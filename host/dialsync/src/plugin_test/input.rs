//! Streaming reader for `plugin test` records files: a JSON array, JSON Lines,
//! one JSON object, or a ServiceNow `{"result": [...]}` / Salesforce
//! `{"records": [...]}` envelope. The shape is sniffed from the content (not the
//! file name), and every shape is read one record at a time, so memory stays
//! bounded whatever the file size.
//!
//! Hand-written rather than shared with `import`'s reader: `import` picks the
//! format from the extension and has no single-object form, while `plugin test`
//! takes whatever an author pastes into a file.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek};
use std::path::Path;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::PluginTestError;

/// Reads `path` record by record, calling `each(index, record)`; a record that
/// is not JSON is an error naming the file and line. Returns the record count.
/// `each` returning `false` stops the reading early (the consumer went away).
pub(crate) fn read_records(
    path: &Path,
    each: impl FnMut(u64, Value) -> bool,
) -> Result<u64, PluginTestError> {
    let name = path.display().to_string();
    let file = File::open(path).map_err(|source| PluginTestError::Io {
        path: name.clone(),
        source,
    })?;
    read_from(name, file, each)
}

/// Parses records pasted as text (the console's "try it" box) in any of the shapes
/// [`read_records`] accepts; errors name the line.
pub fn parse_records(text: &str) -> Result<Vec<Value>, PluginTestError> {
    let mut records = Vec::new();
    read_from(
        "the sample".to_string(),
        std::io::Cursor::new(text.as_bytes()),
        |_, record| {
            records.push(record);
            true
        },
    )?;
    Ok(records)
}

/// [`read_records`] over any seekable source, `name` naming it in errors.
fn read_from<R: Read + Seek>(
    name: String,
    source: R,
    mut each: impl FnMut(u64, Value) -> bool,
) -> Result<u64, PluginTestError> {
    let io = |source: std::io::Error| PluginTestError::Io {
        path: name.clone(),
        source,
    };
    let format = |at: String, message: String| PluginTestError::Records {
        path: name.clone(),
        at,
        message,
    };
    let mut file = BufReader::with_capacity(1 << 16, source);

    // Sniff: the first non-blank byte, and whether the first non-blank line is
    // a whole JSON value on its own followed by more (JSON Lines).
    let mut first_line = String::new();
    let mut first_line_no = 0u64;
    loop {
        first_line.clear();
        if file.read_line(&mut first_line).map_err(io)? == 0 {
            return Err(format("line 1".into(), "the file is empty".into()));
        }
        first_line_no += 1;
        if !first_line.trim().is_empty() {
            break;
        }
    }
    let starts_object = first_line.trim_start().starts_with('{');
    if starts_object && let Ok(value) = serde_json::from_str::<Value>(&first_line) {
        let mut rest = String::new();
        let mut line_no = first_line_no;
        let mut count = 0u64;
        // One complete object on the first line: JSON Lines when more lines
        // follow, else a single object or an envelope.
        let mut pending = Some(value);
        loop {
            rest.clear();
            if file.read_line(&mut rest).map_err(io)? == 0 {
                break;
            }
            line_no += 1;
            if rest.trim().is_empty() {
                continue;
            }
            if let Some(first) = pending.take() {
                if !each(count, first) {
                    return Ok(count);
                }
                count += 1;
            }
            let value: Value = serde_json::from_str(&rest)
                .map_err(|e| format(format!("line {line_no} column {}", e.column()), reason(&e)))?;
            if !each(count, value) {
                return Ok(count);
            }
            count += 1;
        }
        if let Some(only) = pending {
            return Ok(unwrap_envelope(only, &mut each));
        }
        return Ok(count);
    }
    if !starts_object && !first_line.trim_start().starts_with('[') {
        return Err(format(
            format!("line {first_line_no}"),
            "expected records: a JSON array, JSON Lines, one object or a result/records envelope"
                .into(),
        ));
    }

    // A multi-line JSON document: stream the array (or the envelope's array)
    // element by element from the start of the file.
    let mut inner = file.into_inner();
    inner.rewind().map_err(io)?;
    let reader = BufReader::with_capacity(1 << 16, inner);
    let mut de = serde_json::Deserializer::from_reader(reader);
    let mut sink = Sink {
        each: &mut each,
        count: 0,
        stopped: false,
    };
    let result = (&mut de).deserialize_any(Document(&mut sink));
    if sink.stopped {
        return Ok(sink.count);
    }
    result.and_then(|()| de.end()).map_err(|e| {
        format(
            format!("line {} column {}", e.line(), e.column()),
            reason(&e),
        )
    })?;
    Ok(sink.count)
}

/// serde_json's message without its own trailing position.
fn reason(e: &serde_json::Error) -> String {
    let message = e.to_string();
    message
        .rsplit_once(" at line ")
        .map_or(message.clone(), |(r, _)| r.to_string())
}

/// A lone object: its `result`/`records` array when it is an envelope, else itself.
fn unwrap_envelope(value: Value, each: &mut impl FnMut(u64, Value) -> bool) -> u64 {
    let mut object = match value {
        Value::Object(object) => object,
        other => {
            each(0, other);
            return 1;
        }
    };
    for envelope in ["result", "records"] {
        if let Some(Value::Array(records)) = object.remove(envelope) {
            let mut count = 0;
            for record in records {
                if !each(count, record) {
                    break;
                }
                count += 1;
            }
            return count;
        }
    }
    each(0, Value::Object(object));
    1
}

/// Hands each record to the callback as it is parsed.
struct Sink<'a, F> {
    each: &'a mut F,
    count: u64,
    stopped: bool,
}

impl<F: FnMut(u64, Value) -> bool> Sink<'_, F> {
    fn push<E: serde::de::Error>(&mut self, value: Value) -> Result<(), E> {
        if !(self.each)(self.count, value) {
            self.stopped = true;
            return Err(E::custom("stopped"));
        }
        self.count += 1;
        Ok(())
    }
}

/// The whole document: an array, an envelope object, or one record object.
struct Document<'s, 'a, F>(&'s mut Sink<'a, F>);

impl<'de, F: FnMut(u64, Value) -> bool> Visitor<'de> for Document<'_, '_, F> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON array of records, a record object, or a result/records envelope")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        Elements(self.0).visit_seq(seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        // Keys before the envelope array are kept in case this is a plain
        // record; once the array is found the rest is skipped.
        let mut fields = Map::new();
        let mut streamed = false;
        while let Some(key) = map.next_key::<String>()? {
            if !streamed && (key == "result" || key == "records") {
                match map.next_value_seed(MaybeElements(&mut *self.0))? {
                    Some(value) => {
                        fields.insert(key, value);
                    }
                    None => streamed = true,
                }
            } else if streamed {
                map.next_value::<serde::de::IgnoredAny>()?;
            } else {
                fields.insert(key, map.next_value()?);
            }
        }
        if !streamed {
            self.0.push(Value::Object(fields))?;
        }
        Ok(())
    }
}

/// An envelope key's value: streamed when it is an array (`None`), returned
/// as a plain value otherwise (then the object is an ordinary record).
struct MaybeElements<'s, 'a, F>(&'s mut Sink<'a, F>);

impl<'de, F: FnMut(u64, Value) -> bool> DeserializeSeed<'de> for MaybeElements<'_, '_, F> {
    type Value = Option<Value>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<Value>, D::Error> {
        d.deserialize_any(MaybeElementsVisitor(self.0))
    }
}

struct MaybeElementsVisitor<'s, 'a, F>(&'s mut Sink<'a, F>);

impl<'de, F: FnMut(u64, Value) -> bool> Visitor<'de> for MaybeElementsVisitor<'_, '_, F> {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Option<Value>, A::Error> {
        Elements(self.0).visit_seq(seq).map(|()| None)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Option<Value>, A::Error> {
        let value =
            serde_json::Value::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
        Ok(Some(value))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Option<Value>, E> {
        Ok(Some(Value::String(v.to_owned())))
    }
    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Option<Value>, E> {
        Ok(Some(Value::String(v)))
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Option<Value>, E> {
        Ok(Some(Value::Bool(v)))
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Option<Value>, E> {
        Ok(Some(Value::from(v)))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Option<Value>, E> {
        Ok(Some(Value::from(v)))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Option<Value>, E> {
        Ok(Some(Value::from(v)))
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Option<Value>, E> {
        Ok(Some(Value::Null))
    }
}

use serde::Deserialize as _;

struct Elements<'s, 'a, F>(&'s mut Sink<'a, F>);

impl<'de, F: FnMut(u64, Value) -> bool> Visitor<'de> for Elements<'_, '_, F> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(value) = seq.next_element::<Value>()? {
            self.0.push(value)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(text: &str) -> Result<Vec<Value>, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("records");
        std::fs::write(&path, text).unwrap();
        let mut out = Vec::new();
        read_records(&path, |i, v| {
            assert_eq!(i as usize, out.len());
            out.push(v);
            true
        })
        .map_err(|e| e.to_string())?;
        Ok(out)
    }

    #[test]
    fn records_in_every_shape() {
        assert_eq!(read(r#"[{"a":1},{"a":2}]"#).unwrap().len(), 2);
        assert_eq!(read("[\n {\"a\":1},\n {\"a\":2}\n]\n").unwrap().len(), 2);
        assert_eq!(
            read("{\"a\":1}\n\n{\"a\":2}\n{\"a\":3}\n").unwrap().len(),
            3
        );
        assert_eq!(read(r#"{"a":1}"#).unwrap(), vec![json!({"a": 1})]);
        assert_eq!(read("{\n \"a\": 1\n}\n").unwrap(), vec![json!({"a": 1})]);
        assert_eq!(
            read(r#"{"result":[{"sys_id":"x"}]}"#).unwrap(),
            vec![json!({"sys_id": "x"})]
        );
        assert_eq!(
            read("{\n \"totalSize\": 1,\n \"done\": true,\n \"records\": [{\"Id\": \"x\"}]\n}")
                .unwrap(),
            vec![json!({"Id": "x"})]
        );
        // A record that merely has a `result` field that is not an array.
        assert_eq!(
            read("{\n \"id\": 1,\n \"result\": \"ok\"\n}").unwrap(),
            vec![json!({"id": 1, "result": "ok"})]
        );
    }

    #[test]
    fn bad_records_name_the_line() {
        let err = read("{\"a\":1}\n{\"a\":\n").unwrap_err();
        assert!(err.contains("line 2 "), "{err}");
        let err = read("[\n{\"a\":1},\n{oops}\n]").unwrap_err();
        assert!(err.contains("line 3 "), "{err}");
        assert!(read("   \n").unwrap_err().contains("empty"));
        assert!(read("42").is_err());
    }

    #[test]
    fn the_consumer_can_stop_early() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        std::fs::write(&path, "[1,2,3,4]").unwrap();
        let mut seen = 0;
        let n = read_records(&path, |_, _| {
            seen += 1;
            seen < 2
        })
        .unwrap();
        assert_eq!((n, seen), (1, 2));
    }
}
