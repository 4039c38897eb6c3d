//! A deliberately misbehaving mapping plugin, used only by the plugin runtime's
//! tests to prove the host survives hostile guests.
//!
//! It talks to the WIT contract through wit-bindgen directly (not the SDK) so the
//! runtime's tests do not depend on SDK changes. Each input record is
//! `{"mode": "...", "id": "..."}` and `map` behaves according to `mode`:
//!
//! | mode        | behaviour                                                        |
//! |-------------|------------------------------------------------------------------|
//! | `ok`        | a valid upsert with externalId `h_<id>`                          |
//! | `loop`      | spins forever                                                    |
//! | `grow`      | allocates until memory runs out                                  |
//! | `trap`      | panics (a trap, since plugins build with `panic = "abort"`)      |
//! | `huge`      | an upsert with an 8 MiB column value                             |
//! | `short`     | the whole batch returns one outcome fewer than records           |
//! | `bad-id`    | an upsert whose externalId has forbidden characters              |
//! | `log-flood` | logs 20 000 lines, then a valid upsert                           |
//! | `print`     | writes to stdout and stderr, then a valid upsert                 |
//! | `config`    | skips with the config value of key `greeting` as the reason      |
//! | `genesys`   | calls `genesys.get-contact` and skips with the result as reason  |
//! | `phone`     | normalises `raw` with region `US` into the `phone` column        |
//! | `undeclared`| an upsert writing a column not in the declared `columns`         |
//!
//! Any other record (or bad JSON) is rejected with a field error on `/mode`.

wit_bindgen::generate!({
    path: "../../../wit/v0.1.0",
    world: "mapper",
});

use dialsync::plugin::genesys;
use dialsync::plugin::host::{self, LogLevel};
use dialsync::plugin::types::{ActionInfo, ContactChange, FieldError, Operation, Phone};

struct Hostile;

const INPUT_SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "required": ["mode"],
  "properties": {
    "mode": {"type": "string"},
    "id": {"type": "string", "minLength": 1},
    "raw": {"type": "string"}
  }
}"#;

const CONFIG_SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "properties": {
    "greeting": {"type": "string", "maxLength": 40},
    "retries": {"type": "integer", "minimum": 0}
  },
  "additionalProperties": false
}"#;

/// The record's `mode` and `id` fields, parsed by hand: the guest stays tiny
/// (no serde) and only needs two flat string fields.
fn field(record: &str, name: &str) -> Option<String> {
    let key = format!("\"{name}\"");
    let start = record.find(&key)? + key.len();
    let rest = record[start..].trim_start().strip_prefix(':')?.trim_start();
    let rest = rest.strip_prefix('"')?;
    let end = rest.find('"')?;
    Some(rest[..end].to_string())
}

fn change(id: &str, columns: Vec<(String, String)>, phones: Vec<Phone>) -> MapOutcome {
    MapOutcome::Change(ContactChange {
        external_id: format!("h_{id}"),
        source_id: id.to_string(),
        source_updated_at: "2026-01-02T03:04:05Z".to_string(),
        operation: Operation::Upsert,
        partial: false,
        columns,
        phones,
        callable: None,
    })
}

fn name_column(id: &str) -> Vec<(String, String)> {
    vec![("name".to_string(), format!("Hostile {id}"))]
}

fn map_one(record: &str) -> MapOutcome {
    let mode = field(record, "mode").unwrap_or_default();
    let id = field(record, "id").unwrap_or_else(|| "0".to_string());
    match mode.as_str() {
        "ok" | "short" => change(&id, name_column(&id), vec![]),
        "loop" => {
            let mut n: u64 = 0;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        "grow" => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                let mut chunk = vec![0u8; 1 << 20];
                chunk[0] = std::hint::black_box(1);
                hoard.push(chunk);
            }
        }
        "trap" => panic!("hostile plugin asked to trap"),
        "huge" => change(&id, vec![("name".to_string(), "x".repeat(8 << 20))], vec![]),
        "bad-id" => match change(&id, name_column(&id), vec![]) {
            MapOutcome::Change(mut c) => {
                c.external_id = "bad id/with spaces!".to_string();
                MapOutcome::Change(c)
            }
            other => other,
        },
        "log-flood" => {
            for i in 0..20_000 {
                host::log(
                    LogLevel::Info,
                    &format!("flood line {i} {}", "y".repeat(100)),
                );
            }
            change(&id, name_column(&id), vec![])
        }
        "print" => {
            println!("hello from hostile stdout");
            eprintln!("hello from hostile stderr");
            change(&id, name_column(&id), vec![])
        }
        "config" => MapOutcome::Skip(format!(
            "greeting={:?} retries={:?} missing={:?}",
            host::config("greeting"),
            host::config("retries"),
            host::config("missing")
        )),
        "genesys" => MapOutcome::Skip(match genesys::get_contact("list-1", "c-1") {
            Ok(Some(c)) => format!("found {} in {}", c.id, c.contact_list_id),
            Ok(None) => "not found".to_string(),
            Err(genesys::GenesysError::NotConnected(m)) => format!("not-connected: {m}"),
            Err(genesys::GenesysError::Forbidden(m)) => format!("forbidden: {m}"),
            Err(genesys::GenesysError::Rejected(m)) => format!("rejected: {m}"),
            Err(genesys::GenesysError::Unavailable(m)) => format!("unavailable: {m}"),
        }),
        "phone" => {
            let raw = field(record, "raw").unwrap_or_default();
            match host::normalize_phone(&raw, Some("US")) {
                Ok(number) => change(
                    &id,
                    name_column(&id),
                    vec![Phone {
                        column: "phone".to_string(),
                        number,
                    }],
                ),
                Err(e) => MapOutcome::Reject(vec![FieldError {
                    field: "/raw".to_string(),
                    code: "invalid-phone".to_string(),
                    message: format!("{}: {}", e.code, e.message),
                }]),
            }
        }
        "undeclared" => change(
            &id,
            vec![("secret_column".to_string(), "x".to_string())],
            vec![],
        ),
        other => MapOutcome::Reject(vec![FieldError {
            field: "/mode".to_string(),
            code: "invalid-value".to_string(),
            message: format!("unknown mode {other:?}"),
        }]),
    }
}

impl Guest for Hostile {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "hostile".to_string(),
            version: "0.1.0".to_string(),
            source_kind: "custom".to_string(),
            input_schema: INPUT_SCHEMA.to_string(),
            config_schema: CONFIG_SCHEMA.to_string(),
            columns: vec![
                "externalId".to_string(),
                "name".to_string(),
                "phone".to_string(),
            ],
            phone_columns: vec!["phone".to_string()],
            actions: vec![ActionInfo {
                name: "echo".to_string(),
                description: "Returns its input.".to_string(),
                input_schema: r#"{"type":"object"}"#.to_string(),
                output_schema: r#"{"type":"object"}"#.to_string(),
            }],
        }
    }

    fn map(records: Vec<String>) -> Vec<MapOutcome> {
        let short = records
            .iter()
            .any(|r| field(r, "mode").as_deref() == Some("short"));
        let mut out: Vec<MapOutcome> = records.iter().map(|r| map_one(r)).collect();
        if short {
            out.pop();
        }
        out
    }

    fn action(name: String, input: String) -> Result<String, ActionError> {
        match name.as_str() {
            "echo" => Ok(input),
            "trap" => panic!("hostile action asked to trap"),
            other => Err(ActionError {
                code: "not-found".to_string(),
                message: format!("no action {other:?}"),
            }),
        }
    }
}

export!(Hostile);
