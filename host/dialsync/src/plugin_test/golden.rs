//! Golden outcomes for `plugin test --expect FILE`: the file holds the outcome
//! lines `plugin test` prints (JSON Lines, one or more per record, each with
//! its record `index`). It is read one record's lines at a time alongside the
//! mapping, so comparing a huge file takes bounded memory; `--update` rewrites
//! it through a temporary file renamed into place.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Lines, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use super::PluginTestError;

/// How many mismatching records are kept in detail (all are counted).
pub const MAX_DIFFS: usize = 20;

/// One record whose outcome lines differ from the golden file.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordDiff {
    /// The record's position in the input, from 0.
    pub index: u64,
    /// The differences, one per JSON pointer (`/outcome`, `/data/phone`, ...),
    /// as `pointer: expected → got`; a missing side is shown as `(none)`.
    pub differences: Vec<String>,
    /// The expected lines for the record.
    pub expected: Vec<Value>,
    /// The lines the plugin produced.
    pub got: Vec<Value>,
}

/// The result of comparing a run with its golden file.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExpectReport {
    /// The golden file.
    pub file: PathBuf,
    /// Records whose outcome lines equal the golden ones.
    pub matched: u64,
    /// Records that differ (including records the golden file lacks).
    pub mismatched: u64,
    /// Records in the golden file beyond the end of the input.
    pub extra_expected: u64,
    /// The first [`MAX_DIFFS`] mismatches.
    pub diffs: Vec<RecordDiff>,
}

impl ExpectReport {
    /// Whether the run matched the golden file exactly.
    pub fn passed(&self) -> bool {
        self.mismatched == 0 && self.extra_expected == 0
    }
}

/// Streams a golden file record by record.
pub(crate) struct Expectations {
    path: PathBuf,
    lines: Lines<BufReader<File>>,
    line_no: u64,
    /// The first line of the next record, read ahead.
    peeked: Option<(u64, Value)>,
    report: ExpectReport,
}

impl Expectations {
    pub(crate) fn open(path: &Path) -> Result<Self, PluginTestError> {
        let file = File::open(path).map_err(|source| PluginTestError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Ok(Expectations {
            path: path.to_path_buf(),
            lines: BufReader::new(file).lines(),
            line_no: 0,
            peeked: None,
            report: ExpectReport {
                file: path.to_path_buf(),
                matched: 0,
                mismatched: 0,
                extra_expected: 0,
                diffs: Vec::new(),
            },
        })
    }

    fn next_line(&mut self) -> Result<Option<(u64, Value)>, PluginTestError> {
        if let Some(p) = self.peeked.take() {
            return Ok(Some(p));
        }
        loop {
            let Some(line) = self.lines.next() else {
                return Ok(None);
            };
            self.line_no += 1;
            let line = line.map_err(|source| PluginTestError::Io {
                path: self.path.display().to_string(),
                source,
            })?;
            if line.trim().is_empty() {
                continue;
            }
            let bad = |message: String| PluginTestError::Golden {
                path: self.path.display().to_string(),
                line: self.line_no,
                message,
            };
            let value: Value = serde_json::from_str(&line).map_err(|e| bad(e.to_string()))?;
            let Some(index) = value.get("index").and_then(Value::as_u64) else {
                return Err(bad("the line has no numeric `index`".into()));
            };
            return Ok(Some((index, value)));
        }
    }

    /// The golden lines of record `index` (empty when the file has none).
    fn lines_for(&mut self, index: u64) -> Result<Vec<Value>, PluginTestError> {
        let mut out = Vec::new();
        while let Some((i, value)) = self.next_line()? {
            if i == index {
                out.push(value);
            } else if i < index {
                // Lines out of order or for records already compared.
                return Err(PluginTestError::Golden {
                    path: self.path.display().to_string(),
                    line: self.line_no,
                    message: format!(
                        "a line for record {i} after the lines of record {}; keep the file in record order (rewrite it with --update)",
                        index.saturating_sub(1)
                    ),
                });
            } else {
                self.peeked = Some((i, value));
                break;
            }
        }
        Ok(out)
    }

    /// Compares record `index`'s lines with the golden ones.
    pub(crate) fn check(&mut self, index: u64, got: &[Value]) -> Result<(), PluginTestError> {
        let expected = self.lines_for(index)?;
        if expected == got {
            self.report.matched += 1;
            return Ok(());
        }
        self.report.mismatched += 1;
        if self.report.diffs.len() < MAX_DIFFS {
            let mut differences = Vec::new();
            let count = expected.len().max(got.len());
            for k in 0..count {
                let prefix = if count > 1 {
                    format!("[line {k}]")
                } else {
                    String::new()
                };
                diff(&prefix, expected.get(k), got.get(k), &mut differences);
            }
            self.report.diffs.push(RecordDiff {
                index,
                differences,
                expected,
                got: got.to_vec(),
            });
        }
        Ok(())
    }

    /// Counts golden records left after the input ended.
    pub(crate) fn finish(mut self) -> Result<ExpectReport, PluginTestError> {
        let mut last = None;
        while let Some((i, _)) = self.next_line()? {
            if last != Some(i) {
                self.report.extra_expected += 1;
                last = Some(i);
            }
        }
        Ok(self.report)
    }
}

/// Appends `pointer: expected → got` for every leaf that differs.
fn diff(pointer: &str, expected: Option<&Value>, got: Option<&Value>, out: &mut Vec<String>) {
    match (expected, got) {
        (Some(Value::Object(a)), Some(Value::Object(b))) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let child = format!("{pointer}/{}", key.replace('~', "~0").replace('/', "~1"));
                diff(&child, a.get(key), b.get(key), out);
            }
        }
        (Some(Value::Array(a)), Some(Value::Array(b))) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                diff(&format!("{pointer}/{i}"), Some(x), Some(y), out);
            }
        }
        (a, b) if a == b => {}
        (a, b) => {
            let show = |v: Option<&Value>| v.map_or("(none)".to_string(), Value::to_string);
            let at = if pointer.is_empty() { "/" } else { pointer };
            out.push(format!("{at}: {} → {}", show(a), show(b)));
        }
    }
}

/// Writes a new golden file next to the old one, renamed into place on finish.
pub(crate) struct GoldenWriter {
    path: PathBuf,
    temp: PathBuf,
    out: BufWriter<File>,
}

impl GoldenWriter {
    pub(crate) fn create(path: &Path) -> Result<Self, PluginTestError> {
        let mut temp = path.as_os_str().to_owned();
        temp.push(".tmp");
        let temp = PathBuf::from(temp);
        let file = File::create(&temp).map_err(|source| PluginTestError::Io {
            path: temp.display().to_string(),
            source,
        })?;
        Ok(GoldenWriter {
            path: path.to_path_buf(),
            temp,
            out: BufWriter::new(file),
        })
    }

    pub(crate) fn write(&mut self, lines: &[Value]) -> Result<(), PluginTestError> {
        for line in lines {
            serde_json::to_writer(&mut self.out, line)
                .map_err(std::io::Error::from)
                .and_then(|()| self.out.write_all(b"\n"))
                .map_err(|source| PluginTestError::Io {
                    path: self.temp.display().to_string(),
                    source,
                })?;
        }
        Ok(())
    }

    pub(crate) fn finish(mut self) -> Result<(), PluginTestError> {
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |source| PluginTestError::Io { path, source }
        };
        self.out.flush().map_err(io(&self.temp))?;
        std::fs::rename(&self.temp, &self.path).map_err(io(&self.path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn differences_name_the_pointer() {
        let mut out = Vec::new();
        diff(
            "",
            Some(&json!({"outcome": "change", "data": {"phone": "+1", "x": "a"}})),
            Some(&json!({"outcome": "change", "data": {"phone": "+2"}})),
            &mut out,
        );
        assert_eq!(
            out,
            vec![r#"/data/phone: "+1" → "+2""#, r#"/data/x: "a" → (none)"#]
        );
    }

    #[test]
    fn compares_record_by_record_and_counts_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("expected.jsonl");
        let mut w = GoldenWriter::create(&path).unwrap();
        w.write(&[json!({"index": 0, "outcome": "skip", "reason": "r"})])
            .unwrap();
        w.write(&[
            json!({"index": 1, "outcome": "change", "change": 0}),
            json!({"index": 1, "outcome": "change", "change": 1}),
        ])
        .unwrap();
        w.write(&[json!({"index": 2, "outcome": "skip", "reason": "r"})])
            .unwrap();
        w.finish().unwrap();

        let mut e = Expectations::open(&path).unwrap();
        e.check(0, &[json!({"index": 0, "outcome": "skip", "reason": "r"})])
            .unwrap();
        e.check(1, &[json!({"index": 1, "outcome": "change", "change": 0})])
            .unwrap();
        let report = e.finish().unwrap();
        assert_eq!((report.matched, report.mismatched), (1, 1));
        assert_eq!(report.extra_expected, 1);
        assert!(!report.passed());
        assert_eq!(
            report.diffs[0].differences,
            vec![r#"[line 1]: {"index":1,"outcome":"change","change":1} → (none)"#]
        );
    }
}
