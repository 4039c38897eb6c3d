//! One Pub/Sub change event, from Avro to what the Salesforce plugin reads.
//!
//! The payload is Avro binary (a datum, no container header) written with the schema
//! its `schema_id` names (`GetSchema`, cached by id in [`SchemaCache`]). Sources: the
//! Pub/Sub API guide, "Event Data Serialization with Apache Avro" and "Event
//! Deserialization Considerations"; the Change Data Capture guide,
//! `cdc_event_fields_body.htm`: in Pub/Sub events *every* field is present and an
//! unchanged field is null, so a null says nothing by itself — only the decoded
//! `changedFields` tell which fields the change carries (and `nulledFields` which of
//! them were cleared).
//!
//! The event becomes the CometD envelope the plugin already maps
//! (`{"channel", "data": {"schema", "event": {"replayId"}, "payload"}}`, payload =
//! `ChangeEventHeader` with the bitmaps decoded to field names + the fields):
//! CREATE carries its non-null fields; UPDATE only the fields `changedFields` names
//! (compound sub-fields as `Name: {FirstName: …}`), cleared ones as null; every other
//! change type the header only.

use std::collections::HashMap;

use apache_avro::Schema;
use apache_avro::schema::RecordSchema;
use serde_json::{Map, Value, json};

use super::bitmap;

/// Why an event could not be read.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// The payload does not decode with its schema.
    #[error("event {replay}: Avro payload does not decode with schema {schema_id}: {message}")]
    Avro {
        /// Replay id (hex).
        replay: String,
        /// The schema id.
        schema_id: String,
        /// The decoder's message.
        message: String,
    },
    /// The schema JSON from `GetSchema` is not a usable Avro record schema.
    #[error("schema {schema_id}: {message}")]
    Schema {
        /// The schema id.
        schema_id: String,
        /// What is wrong.
        message: String,
    },
    /// A header field is missing or malformed.
    #[error("event {replay}: ChangeEventHeader.{field}: {reason}")]
    Header {
        /// Replay id (hex).
        replay: String,
        /// The header field.
        field: String,
        /// What is wrong.
        reason: String,
    },
}

/// Parsed schemas by schema id (a schema id names one immutable schema version).
#[derive(Default)]
pub struct SchemaCache {
    schemas: HashMap<String, Schema>,
}

impl SchemaCache {
    /// The cached schema for `id`.
    pub fn get(&self, id: &str) -> Option<&Schema> {
        self.schemas.get(id)
    }

    /// Parses and caches the schema JSON `GetSchema` answered for `id`.
    pub fn insert(&mut self, id: &str, json: &str) -> Result<&Schema, EventError> {
        let schema = Schema::parse_str(json).map_err(|e| EventError::Schema {
            schema_id: id.to_owned(),
            message: e.to_string(),
        })?;
        if !matches!(schema, Schema::Record(_)) {
            return Err(EventError::Schema {
                schema_id: id.to_owned(),
                message: "is not an Avro record".into(),
            });
        }
        Ok(self.schemas.entry(id.to_owned()).or_insert(schema))
    }
}

/// What the subscriber does with a decoded event.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Map the record (the envelope) with the plugin.
    Map(Value),
    /// The event carries no usable values (`GAP_*`, `UNDELETE`, or an UPDATE with
    /// `diffFields`, whose values are diffs): fetch these records through REST.
    Refetch {
        /// The record ids.
        ids: Vec<String>,
        /// `GAP_DELETE`: an id REST no longer knows at all was deleted.
        deleted: bool,
    },
    /// `GAP_OVERFLOW` (no record ids): re-read the object's records changed since
    /// about `commit_ms`.
    Resync,
}

/// One decoded event.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// `transactionKey/sequenceNumber`: the event's identity for dedup.
    pub key: String,
    /// `changeType`.
    pub change_type: String,
    /// `entityName`.
    pub entity: String,
    /// `commitTimestamp` (epoch ms).
    pub commit_ms: i64,
    /// `recordIds`.
    pub ids: Vec<String>,
    /// What to do.
    pub action: Action,
}

/// Replay id bytes as lowercase hex (for logs and errors).
pub fn replay_hex(replay_id: &[u8]) -> String {
    replay_id.iter().map(|b| format!("{b:02x}")).collect()
}

fn to_json(v: apache_avro::types::Value) -> Result<Value, String> {
    Value::try_from(v).map_err(|e| e.to_string())
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Drops nulls (recursively in compound fields) — for CREATE, where null is "not set".
fn non_null(fields: Map<String, Value>) -> Map<String, Value> {
    fields
        .into_iter()
        .filter_map(|(k, v)| match v {
            Value::Null => None,
            Value::Object(o) => Some((k, Value::Object(non_null(o)))),
            v => Some((k, v)),
        })
        .collect()
}

/// Decodes `payload` (written with `schema`, id `schema_id`) of the event with
/// `replay_id` received on `topic`.
pub fn decode(
    topic: &str,
    schema_id: &str,
    schema: &Schema,
    replay_id: &[u8],
    payload: &[u8],
) -> Result<Decoded, EventError> {
    let replay = replay_hex(replay_id);
    let Schema::Record(record) = schema else {
        return Err(EventError::Schema {
            schema_id: schema_id.to_owned(),
            message: "is not an Avro record".into(),
        });
    };
    let avro_err = |message: String| EventError::Avro {
        replay: replay.clone(),
        schema_id: schema_id.to_owned(),
        message,
    };
    let value = apache_avro::from_avro_datum(schema, &mut &payload[..], None)
        .map_err(|e| avro_err(e.to_string()))?;
    let Value::Object(mut fields) = to_json(value).map_err(avro_err)? else {
        return Err(avro_err("the datum is not a record".into()));
    };
    let header_err = |field: &str, reason: String| EventError::Header {
        replay: replay.clone(),
        field: field.to_owned(),
        reason,
    };
    let Some(Value::Object(mut header)) = fields.remove("ChangeEventHeader") else {
        return Err(header_err(
            "",
            "the event has no ChangeEventHeader record".into(),
        ));
    };
    let text = |h: &Map<String, Value>, k: &str| {
        h.get(k)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| header_err(k, "missing or not a string".into()))
    };
    let change_type = text(&header, "changeType")?;
    let entity = text(&header, "entityName")?;
    let commit_ms = header
        .get("commitTimestamp")
        .and_then(Value::as_i64)
        .ok_or_else(|| header_err("commitTimestamp", "missing or not a long".into()))?;
    let key = format!(
        "{}/{}",
        header
            .get("transactionKey")
            .and_then(Value::as_str)
            .unwrap_or(&replay),
        header
            .get("sequenceNumber")
            .and_then(Value::as_i64)
            .unwrap_or(0)
    );
    let ids = strings(header.get("recordIds"));
    // Decode the three bitmaps to names.
    let mut decoded = HashMap::new();
    for name in ["changedFields", "nulledFields", "diffFields"] {
        let names = bitmap::field_names(record, &strings(header.get(name)))
            .map_err(|e| header_err(name, e.to_string()))?;
        header.insert(name.into(), json!(names));
        decoded.insert(name, names);
    }
    let action = match change_type.as_str() {
        "GAP_OVERFLOW" => Action::Resync,
        t if t.starts_with("GAP_") || t == "UNDELETE" => Action::Refetch {
            ids: ids.clone(),
            deleted: t == "GAP_DELETE",
        },
        "UPDATE" if !decoded["diffFields"].is_empty() => Action::Refetch {
            ids: ids.clone(),
            deleted: false,
        },
        t => {
            let body = match t {
                "CREATE" => non_null(fields),
                "UPDATE" => changed_only(record, fields, &decoded["changedFields"]),
                _ => Map::new(),
            };
            let mut payload = Map::new();
            payload.insert("ChangeEventHeader".into(), Value::Object(header));
            payload.extend(body);
            let mut data = json!({"schema": schema_id, "payload": payload});
            if let Ok(bytes) = <[u8; 8]>::try_from(replay_id) {
                data["event"] = json!({"replayId": i64::from_be_bytes(bytes)});
            }
            Action::Map(json!({"channel": topic, "data": data}))
        }
    };
    Ok(Decoded {
        key,
        change_type,
        entity,
        commit_ms,
        ids,
        action,
    })
}

/// The fields `changed` names (`Field` or `Parent.Child`), with their values (null =
/// cleared); every other field is left out, so the plugin does not read it as cleared.
fn changed_only(
    record: &RecordSchema,
    mut fields: Map<String, Value>,
    changed: &[String],
) -> Map<String, Value> {
    let mut out = Map::new();
    for name in changed {
        match name.split_once('.') {
            None if record.lookup.contains_key(name) => {
                out.insert(name.clone(), fields.remove(name).unwrap_or(Value::Null));
            }
            None => {}
            Some((parent, child)) => {
                let v = fields
                    .get(parent)
                    .and_then(|p| p.get(child))
                    .cloned()
                    .unwrap_or(Value::Null);
                let slot = out
                    .entry(parent.to_owned())
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(o) = slot {
                    o.insert(child.to_owned(), v);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use apache_avro::types::Value as Avro;
    use dialsync_crm_emulator::pubsub::{CONTACT_CHANGE_EVENT_SCHEMA, CONTACT_SCHEMA_ID};

    fn opt(v: Option<Avro>) -> Avro {
        match v {
            Some(v) => Avro::Union(1, Box::new(v)),
            None => Avro::Union(0, Box::new(Avro::Null)),
        }
    }

    fn strings(v: &[&str]) -> Avro {
        Avro::Array(v.iter().map(|s| Avro::String((*s).into())).collect())
    }

    /// An UPDATE of Contact `003…` as the Pub/Sub API sends it: every field present,
    /// unchanged ones null; `LastName` (Name, position 2, sub-field 2) and `Phone`
    /// (position 4, cleared) changed, plus `LastModifiedDate` (position 16).
    fn update_payload(schema: &Schema) -> Vec<u8> {
        let Schema::Record(record) = schema else {
            unreachable!()
        };
        let header = Avro::Record(vec![
            ("entityName".into(), Avro::String("Contact".into())),
            ("recordIds".into(), strings(&["003Dn0000000001IAA"])),
            ("changeType".into(), Avro::Enum(1, "UPDATE".into())),
            (
                "changeOrigin".into(),
                Avro::String("com/salesforce/api/rest/62.0".into()),
            ),
            ("transactionKey".into(), Avro::String("tx-1".into())),
            ("sequenceNumber".into(), Avro::Int(1)),
            ("commitTimestamp".into(), Avro::Long(1_796_029_200_000)),
            ("commitNumber".into(), Avro::Long(7)),
            (
                "commitUser".into(),
                Avro::String("005Dn000000001AAA".into()),
            ),
            ("nulledFields".into(), strings(&["0x10"])),
            ("diffFields".into(), strings(&[])),
            ("changedFields".into(), strings(&["0x010010", "2-0x04"])),
        ]);
        let mut values = Vec::new();
        for (pos, f) in record.fields.iter().enumerate() {
            let v = match f.name.as_str() {
                "ChangeEventHeader" => header.clone(),
                "Name" => opt(Some(Avro::Record(
                    [
                        "Salutation",
                        "FirstName",
                        "LastName",
                        "MiddleName",
                        "InformalName",
                        "Suffix",
                    ]
                    .iter()
                    .map(|n| {
                        let v = (*n == "LastName").then(|| Avro::String("Newname".into()));
                        ((*n).to_owned(), opt(v))
                    })
                    .collect(),
                ))),
                "LastModifiedDate" => opt(Some(Avro::Long(1_796_029_200_000))),
                _ => opt(None),
            };
            assert!(pos == 0 || matches!(v, Avro::Union(..)));
            values.push((f.name.clone(), v));
        }
        apache_avro::to_avro_datum(schema, Avro::Record(values)).unwrap()
    }

    #[test]
    fn an_update_carries_only_its_changed_fields_and_nulls_are_not_clears() {
        let mut cache = SchemaCache::default();
        let schema = cache
            .insert(CONTACT_SCHEMA_ID, CONTACT_CHANGE_EVENT_SCHEMA)
            .unwrap()
            .clone();
        let payload = update_payload(&schema);
        let d = decode(
            "/data/ContactChangeEvent",
            CONTACT_SCHEMA_ID,
            &schema,
            &7u64.to_be_bytes(),
            &payload,
        )
        .unwrap();
        assert_eq!(d.key, "tx-1/1");
        assert_eq!(d.change_type, "UPDATE");
        assert_eq!(d.ids, ["003Dn0000000001IAA"]);
        let Action::Map(envelope) = d.action else {
            panic!("an UPDATE is mapped: {:?}", d.action)
        };
        assert_eq!(envelope["data"]["event"]["replayId"], 7);
        let p = &envelope["data"]["payload"];
        let header = &p["ChangeEventHeader"];
        assert_eq!(
            header["changedFields"],
            json!(["Phone", "LastModifiedDate", "Name.LastName"])
        );
        assert_eq!(header["nulledFields"], json!(["Phone"]));
        // Only the changed fields: the cleared Phone as null, LastName inside Name;
        // Email, MobilePhone, FirstName (null = unchanged) are absent.
        assert_eq!(p["Name"], json!({"LastName": "Newname"}));
        assert_eq!(p.get("Phone"), Some(&Value::Null));
        for absent in ["Email", "MobilePhone", "Title", "DoNotCall", "AccountId"] {
            assert!(p.get(absent).is_none(), "{absent} must not be sent: {p}");
        }
    }

    #[test]
    fn a_payload_that_does_not_decode_names_the_event_and_schema() {
        let mut cache = SchemaCache::default();
        let schema = cache
            .insert(CONTACT_SCHEMA_ID, CONTACT_CHANGE_EVENT_SCHEMA)
            .unwrap()
            .clone();
        let e = decode(
            "/data/ContactChangeEvent",
            "s1",
            &schema,
            &[0, 9],
            &[0xff, 0x01],
        )
        .unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("event 0009") && text.contains("schema s1"),
            "{text}"
        );
        assert!(cache.insert("bad", r#"{"type": "string"}"#).is_err());
    }
}
