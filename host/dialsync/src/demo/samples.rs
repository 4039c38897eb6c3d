//! The sample CRM data `dialsync demo` imports, embedded in the binary so the demo needs
//! no files: `samples/servicenow.json` (a Table API `{"result": [...]}` response),
//! `samples/salesforce.json` (REST records from SOQL pages, then Change Data Capture
//! events) and `samples/custom-crm.jsonl` (one record per line). `samples/README.md`
//! says what every record is there to show.
//!
//! The records are delivered in pages of [`PAGE_SIZE`], the way a Table API or SOQL
//! export pages through a table; each page is synced to the end before the next one is
//! delivered, so an out-of-date record in a later page meets an already applied newer
//! version (and ends `stale`) while two versions in the same page are coalesced (the
//! older ends `superseded`).

use serde_json::Value;

use super::DemoError;

/// Records per delivered page.
pub const PAGE_SIZE: usize = 10;

/// One CRM's sample file.
#[derive(Debug, Clone)]
pub struct SampleFile {
    /// The bundled plugin (and demo source) that maps it.
    pub source: &'static str,
    /// Its path in the repository, for messages.
    pub path: &'static str,
    /// The records, in delivery order.
    pub records: Vec<Value>,
}

impl SampleFile {
    /// The records in delivery pages: `(page number from 1, index of its first record, records)`.
    pub fn pages(&self) -> impl Iterator<Item = (usize, usize, &[Value])> {
        self.records
            .chunks(PAGE_SIZE)
            .enumerate()
            .map(|(i, page)| (i + 1, i * PAGE_SIZE, page))
    }
}

const SERVICENOW: &str = include_str!("../../../../samples/servicenow.json");
const SALESFORCE: &str = include_str!("../../../../samples/salesforce.json");
const CUSTOM_CRM: &str = include_str!("../../../../samples/custom-crm.jsonl");

/// Parses the three embedded sample files (in the order servicenow, salesforce, custom-crm).
pub fn load() -> Result<Vec<SampleFile>, DemoError> {
    Ok(vec![
        SampleFile {
            source: "servicenow",
            path: "samples/servicenow.json",
            records: table_api(SERVICENOW, "samples/servicenow.json")?,
        },
        SampleFile {
            source: "salesforce",
            path: "samples/salesforce.json",
            records: json_array(SALESFORCE, "samples/salesforce.json")?,
        },
        SampleFile {
            source: "custom-crm",
            path: "samples/custom-crm.jsonl",
            records: json_lines(CUSTOM_CRM, "samples/custom-crm.jsonl")?,
        },
    ])
}

fn samples_error(file: &str, message: impl Into<String>) -> DemoError {
    DemoError::Samples {
        file: file.to_string(),
        message: message.into(),
    }
}

/// `{"result": [...]}`.
fn table_api(text: &str, file: &str) -> Result<Vec<Value>, DemoError> {
    let mut doc: Value =
        serde_json::from_str(text).map_err(|e| samples_error(file, e.to_string()))?;
    match doc.get_mut("result").map(Value::take) {
        Some(Value::Array(records)) => Ok(records),
        _ => Err(samples_error(
            file,
            "expected an object with a \"result\" array",
        )),
    }
}

/// `[...]`.
fn json_array(text: &str, file: &str) -> Result<Vec<Value>, DemoError> {
    match serde_json::from_str(text).map_err(|e| samples_error(file, e.to_string()))? {
        Value::Array(records) => Ok(records),
        _ => Err(samples_error(file, "expected a JSON array")),
    }
}

/// One JSON object per non-blank line.
fn json_lines(text: &str, file: &str) -> Result<Vec<Value>, DemoError> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line)
                .map_err(|e| samples_error(file, format!("line {}: {e}", i + 1)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sample_file_parses_into_forty_records_in_four_pages() {
        let files = load().expect("the embedded samples parse");
        let names: Vec<_> = files.iter().map(|f| f.source).collect();
        assert_eq!(names, ["servicenow", "salesforce", "custom-crm"]);
        for file in &files {
            assert_eq!(file.records.len(), 40, "{}", file.path);
            let pages: Vec<_> = file
                .pages()
                .map(|(n, first, r)| (n, first, r.len()))
                .collect();
            assert_eq!(pages, [(1, 0, 10), (2, 10, 10), (3, 20, 10), (4, 30, 10)]);
        }
    }

    #[test]
    fn malformed_lines_are_named() {
        let err = json_lines("{\"a\":1}\n\nnot json\n", "x.jsonl").unwrap_err();
        assert!(err.to_string().contains("x.jsonl: line 3"), "{err}");
        let err = table_api("{\"records\": []}", "sn.json").unwrap_err();
        assert!(err.to_string().contains("\"result\""), "{err}");
    }
}
