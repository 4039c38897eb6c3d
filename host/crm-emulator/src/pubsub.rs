//! The Salesforce Pub/Sub API (gRPC, `eventbus.v1.PubSub`) of an emulated org: Change
//! Data Capture events for Contact, made by the org's own record changes
//! ([`SalesforceEmulator::upsert`](crate::salesforce::SalesforceEmulator::upsert),
//! `delete`, `undelete`), Avro-encoded against a real change event schema.
//!
//! Sources: the Pub/Sub API guide (developer.salesforce.com/docs/platform/pub-sub-api:
//! "Subscribe RPC Method" — flow control by `num_requested`, replay presets `LATEST`,
//! `EARLIEST`, `CUSTOM`; "Supported Authentication Methods" — `accesstoken`,
//! `instanceurl`, `tenantid` metadata; "Event Deserialization Considerations" — the
//! `changedFields` / `nulledFields` / `diffFields` hex bitmaps over the schema's field
//! positions, with `"<parent position>-0x…"` entries for compound fields), the Change
//! Data Capture guide (`cdc_event_fields_header.htm`: the `ChangeEventHeader` record and
//! the `ChangeType` enum; `cdc_other_events_gap.htm`, `cdc_other_events_overflow.htm`:
//! GAP events carry the header only, `GAP_OVERFLOW` carries no record Ids), and the
//! proto vendored in `dialsync-pubsub-api`.
//!
//! - `GetTopic` answers `/data/ContactChangeEvent` with the current schema id; other
//!   topics are `NOT_FOUND`.
//! - `GetSchema` answers the schema JSON for its id.
//! - `Subscribe` sends at most as many events as the client requested (summed over its
//!   `FetchRequest`s, each `num_requested` capped at 100 as Salesforce does), in replay id
//!   order, starting after `replay_id` (`CUSTOM`), from the oldest retained event
//!   (`EARLIEST`) or from new events only (`LATEST`). Replay ids are 8 bytes, big-endian.
//!   An unknown `CUSTOM` replay id is `INVALID_ARGUMENT`.
//! - A wrong or missing `accesstoken`, or a `tenantid` other than the org id, is
//!   `UNAUTHENTICATED`. `Publish`, `PublishStream` and `ManagedSubscribe` are not
//!   emulated and answer `UNIMPLEMENTED`.
//!
//! Faults ([`PubSubFaults`]): the next N changes published as `GAP_*` events instead of
//! full ones (the record is still changed, as when Salesforce cannot build the event),
//! the next N changes folded into one `GAP_OVERFLOW`, a `GAP_OVERFLOW` event ([`SalesforceEmulator::publish_overflow`](crate::salesforce::SalesforceEmulator::publish_overflow)),
//! and dropping every stream after it has sent N events (`UNAVAILABLE`).

use std::pin::Pin;
use std::sync::{Arc, Mutex};

use apache_avro::Schema;
use apache_avro::types::Value as Avro;
use dialsync_pubsub_api::pub_sub_server::{PubSub, PubSubServer};
use dialsync_pubsub_api::{
    ConsumerEvent, FetchRequest, FetchResponse, ManagedFetchRequest, ManagedFetchResponse,
    ProducerEvent, PublishRequest, PublishResponse, ReplayPreset, SchemaInfo, SchemaRequest,
    TopicInfo, TopicRequest,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio_stream::Stream;
use tonic::{Request, Response, Status, Streaming};

/// The change event topic the emulator serves.
pub const CONTACT_TOPIC: &str = "/data/ContactChangeEvent";

/// The schema id of [`CONTACT_CHANGE_EVENT_SCHEMA`] (Salesforce ids are opaque
/// base64-like strings of this form).
pub const CONTACT_SCHEMA_ID: &str = "mPbjXRuk6Dn3Yt1E1fQpGw";

/// The Avro schema of `ContactChangeEvent` as `GetSchema` returns it: the real
/// `ChangeEventHeader` and `ChangeType`, then the record fields in Salesforce's order
/// (a subset of Contact's fields: the compound `Name` and `MailingAddress`, phones,
/// `Email`, `Title`, `DoNotCall` and the audit fields; dates are epoch milliseconds).
pub const CONTACT_CHANGE_EVENT_SCHEMA: &str = r#"{
  "type": "record", "name": "ContactChangeEvent", "namespace": "com.sforce.eventbus",
  "fields": [
    {"name": "ChangeEventHeader", "type": {"type": "record", "name": "ChangeEventHeader", "fields": [
      {"name": "entityName", "type": "string"},
      {"name": "recordIds", "type": {"type": "array", "items": "string"}},
      {"name": "changeType", "type": {"type": "enum", "name": "ChangeType", "symbols":
        ["CREATE", "UPDATE", "DELETE", "UNDELETE", "GAP_CREATE", "GAP_UPDATE", "GAP_DELETE",
         "GAP_UNDELETE", "GAP_OVERFLOW", "SNAPSHOT"]}},
      {"name": "changeOrigin", "type": "string"},
      {"name": "transactionKey", "type": "string"},
      {"name": "sequenceNumber", "type": "int"},
      {"name": "commitTimestamp", "type": "long"},
      {"name": "commitNumber", "type": "long"},
      {"name": "commitUser", "type": "string"},
      {"name": "nulledFields", "type": {"type": "array", "items": "string"}},
      {"name": "diffFields", "type": {"type": "array", "items": "string"}},
      {"name": "changedFields", "type": {"type": "array", "items": "string"}}
    ]}, "doc": "Data:ComplexValueType"},
    {"name": "AccountId", "type": ["null", "string"], "default": null},
    {"name": "Name", "type": ["null", {"type": "record", "name": "Switchable_PersonName", "fields": [
      {"name": "Salutation", "type": ["null", "string"], "default": null},
      {"name": "FirstName", "type": ["null", "string"], "default": null},
      {"name": "LastName", "type": ["null", "string"], "default": null},
      {"name": "MiddleName", "type": ["null", "string"], "default": null},
      {"name": "InformalName", "type": ["null", "string"], "default": null},
      {"name": "Suffix", "type": ["null", "string"], "default": null}
    ]}], "default": null, "doc": "Data:Switchable_PersonName"},
    {"name": "MailingAddress", "type": ["null", {"type": "record", "name": "Address", "fields": [
      {"name": "Street", "type": ["null", "string"], "default": null},
      {"name": "City", "type": ["null", "string"], "default": null},
      {"name": "State", "type": ["null", "string"], "default": null},
      {"name": "PostalCode", "type": ["null", "string"], "default": null},
      {"name": "Country", "type": ["null", "string"], "default": null},
      {"name": "StateCode", "type": ["null", "string"], "default": null},
      {"name": "CountryCode", "type": ["null", "string"], "default": null},
      {"name": "Latitude", "type": ["null", "double"], "default": null},
      {"name": "Longitude", "type": ["null", "double"], "default": null},
      {"name": "GeocodeAccuracy", "type": ["null", "string"], "default": null}
    ]}], "default": null, "doc": "Data:Address"},
    {"name": "Phone", "type": ["null", "string"], "default": null},
    {"name": "Fax", "type": ["null", "string"], "default": null},
    {"name": "MobilePhone", "type": ["null", "string"], "default": null},
    {"name": "HomePhone", "type": ["null", "string"], "default": null},
    {"name": "OtherPhone", "type": ["null", "string"], "default": null},
    {"name": "Email", "type": ["null", "string"], "default": null},
    {"name": "Title", "type": ["null", "string"], "default": null},
    {"name": "Department", "type": ["null", "string"], "default": null},
    {"name": "DoNotCall", "type": ["null", "boolean"], "default": null},
    {"name": "OwnerId", "type": ["null", "string"], "default": null},
    {"name": "CreatedDate", "type": ["null", "long"], "default": null},
    {"name": "CreatedById", "type": ["null", "string"], "default": null},
    {"name": "LastModifiedDate", "type": ["null", "long"], "default": null},
    {"name": "LastModifiedById", "type": ["null", "string"], "default": null}
  ]
}"#;

/// Where a REST field of Contact lives in the change event: (top-level field,
/// compound sub-field).
fn event_field(rest: &str) -> Option<(&'static str, Option<&'static str>)> {
    Some(match rest {
        "AccountId" => ("AccountId", None),
        "Salutation" => ("Name", Some("Salutation")),
        "FirstName" => ("Name", Some("FirstName")),
        "LastName" => ("Name", Some("LastName")),
        "MailingStreet" => ("MailingAddress", Some("Street")),
        "MailingCity" => ("MailingAddress", Some("City")),
        "MailingPostalCode" => ("MailingAddress", Some("PostalCode")),
        "MailingCountry" => ("MailingAddress", Some("Country")),
        "MailingCountryCode" => ("MailingAddress", Some("CountryCode")),
        "Phone" => ("Phone", None),
        "Fax" => ("Fax", None),
        "MobilePhone" => ("MobilePhone", None),
        "HomePhone" => ("HomePhone", None),
        "OtherPhone" => ("OtherPhone", None),
        "Email" => ("Email", None),
        "Title" => ("Title", None),
        "Department" => ("Department", None),
        "DoNotCall" => ("DoNotCall", None),
        _ => return None,
    })
}

/// Fault settings of the Pub/Sub side (`PUT /_emulator/pubsub/faults`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PubSubFaults {
    /// The next this-many record changes are published as `GAP_CREATE` / `GAP_UPDATE`
    /// / `GAP_DELETE` / `GAP_UNDELETE` (header only) instead of full events.
    pub gap_next: u32,
    /// The next this-many record changes publish no event of their own, and the last
    /// of them one `GAP_OVERFLOW` (no record Ids) — what Salesforce does for the changes
    /// of a transaction beyond its first 100,000.
    pub overflow_next: u32,
    /// Every `Subscribe` stream ends with `UNAVAILABLE` after sending this many events.
    pub drop_stream_after: Option<u32>,
    /// The next this-many events are published with a truncated payload that does not
    /// decode against the schema (a subscriber must recover their changes some other way).
    pub corrupt_next: u32,
}

/// One stored event.
struct Stored {
    replay_id: u64,
    payload: Vec<u8>,
    event_id: String,
}

struct Bus {
    events: Vec<Stored>,
    faults: PubSubFaults,
    next_replay: u64,
    next_commit: u64,
}

/// The org's change event stream (shared by the REST side, which publishes, and the
/// gRPC side, which serves).
pub(crate) struct ChangeEvents {
    schema: Schema,
    bus: Mutex<Bus>,
    published: tokio::sync::watch::Sender<u64>,
    /// `Subscribe` streams open now, and the most open at once (for tests of
    /// one-subscriber-at-a-time clients).
    streams: Mutex<(usize, usize)>,
}

/// What a record change was, for its event.
pub(crate) enum Change<'a> {
    /// A new record: every field.
    Create(&'a Map<String, Value>),
    /// Changed fields (new values; `null` = cleared).
    Update(&'a Map<String, Value>),
    /// Moved to the Recycle Bin.
    Delete,
    /// Restored from the Recycle Bin.
    Undelete,
}

fn opt(v: Option<Avro>) -> Avro {
    match v {
        Some(v) => Avro::Union(1, Box::new(v)),
        None => Avro::Union(0, Box::new(Avro::Null)),
    }
}

fn strings(items: impl IntoIterator<Item = String>) -> Avro {
    Avro::Array(items.into_iter().map(Avro::String).collect())
}

/// `0x…` of the set `positions`: a bit per field position, the number written in hex
/// two digits per byte (Salesforce's form, e.g. `0x650004E0`, `4-0x10`).
pub fn bitmap(positions: &[usize]) -> String {
    let top = positions.iter().copied().max().unwrap_or(0);
    let mut bytes = vec![0u8; top / 8 + 1];
    for p in positions {
        bytes[p / 8] |= 1 << (p % 8);
    }
    let hex: String = bytes.iter().rev().map(|b| format!("{b:02X}")).collect();
    format!("0x{hex}")
}

const CHANGE_TYPES: [&str; 10] = [
    "CREATE",
    "UPDATE",
    "DELETE",
    "UNDELETE",
    "GAP_CREATE",
    "GAP_UPDATE",
    "GAP_DELETE",
    "GAP_UNDELETE",
    "GAP_OVERFLOW",
    "SNAPSHOT",
];

fn json_to_avro(v: &Value) -> Option<Avro> {
    match v {
        Value::Null => None,
        Value::Bool(b) => Some(Avro::Boolean(*b)),
        Value::Number(n) => n.as_f64().map(Avro::Double),
        Value::String(s) => Some(Avro::String(s.clone())),
        other => Some(Avro::String(other.to_string())),
    }
}

impl ChangeEvents {
    pub(crate) fn new() -> Self {
        let schema = Schema::parse_str(CONTACT_CHANGE_EVENT_SCHEMA)
            .unwrap_or_else(|e| unreachable!("the built-in change event schema parses: {e}"));
        Self {
            schema,
            bus: Mutex::new(Bus {
                events: Vec::new(),
                faults: PubSubFaults::default(),
                next_replay: 1,
                next_commit: 1,
            }),
            published: tokio::sync::watch::channel(0).0,
            streams: Mutex::new((0, 0)),
        }
    }

    /// (`Subscribe` streams open now, the most open at once so far).
    pub(crate) fn streams(&self) -> (usize, usize) {
        *self.streams.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn stream_opened(&self) {
        let mut s = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        s.0 += 1;
        s.1 = s.1.max(s.0);
    }

    fn stream_closed(&self) {
        let mut s = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        s.0 -= 1;
    }

    fn bus(&self) -> std::sync::MutexGuard<'_, Bus> {
        self.bus.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn set_faults(&self, faults: PubSubFaults) {
        self.bus().faults = faults;
    }

    /// Events published so far.
    pub(crate) fn len(&self) -> usize {
        self.bus().events.len()
    }

    /// Publishes the event for a change of `object` records `ids` at `at_ms`.
    pub(crate) fn publish(&self, object: &str, ids: &[String], change: Change<'_>, at_ms: i64) {
        if object != "Contact" {
            return;
        }
        let mut bus = self.bus();
        if bus.faults.overflow_next > 0 {
            bus.faults.overflow_next -= 1;
            if bus.faults.overflow_next == 0 {
                self.push(&mut bus, object, &[], "GAP_OVERFLOW", None, at_ms);
            }
            return;
        }
        let gap = bus.faults.gap_next > 0;
        if gap {
            bus.faults.gap_next -= 1;
        }
        let (kind, fields) = match (&change, gap) {
            (Change::Create(f), false) => ("CREATE", Some((*f, true))),
            (Change::Update(f), false) => ("UPDATE", Some((*f, false))),
            (Change::Delete, false) => ("DELETE", None),
            (Change::Undelete, false) => ("UNDELETE", None),
            (Change::Create(_), true) => ("GAP_CREATE", None),
            (Change::Update(_), true) => ("GAP_UPDATE", None),
            (Change::Delete, true) => ("GAP_DELETE", None),
            (Change::Undelete, true) => ("GAP_UNDELETE", None),
        };
        self.push(&mut bus, object, ids, kind, fields, at_ms);
    }

    /// Publishes a `GAP_OVERFLOW` for `object` (no record Ids).
    pub(crate) fn publish_overflow(&self, object: &str, at_ms: i64) {
        let mut bus = self.bus();
        self.push(&mut bus, object, &[], "GAP_OVERFLOW", None, at_ms);
    }

    fn push(
        &self,
        bus: &mut Bus,
        object: &str,
        ids: &[String],
        kind: &str,
        fields: Option<(&Map<String, Value>, bool)>,
        at_ms: i64,
    ) {
        let Schema::Record(record) = &self.schema else {
            unreachable!("the change event schema is a record")
        };
        let commit = bus.next_commit;
        bus.next_commit += 1;
        // Values per top-level field (None = null), and the changed / nulled positions.
        let mut top: Vec<Option<Avro>> = vec![None; record.fields.len()];
        let mut subs: std::collections::BTreeMap<usize, Vec<Option<Avro>>> = Default::default();
        let (mut changed, mut nulled) = (Vec::new(), Vec::new());
        let mut sub_changed: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
        let mut sub_nulled: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
        if let Some((fields, create)) = fields {
            for (rest, value) in fields {
                let Some((name, sub)) = event_field(rest) else {
                    continue;
                };
                let Some(pos) = record.lookup.get(name).copied() else {
                    continue;
                };
                let v = json_to_avro(value);
                match sub {
                    None => {
                        if !create {
                            changed.push(pos);
                            if v.is_none() {
                                nulled.push(pos);
                            }
                        }
                        top[pos] = v;
                    }
                    Some(sub) => {
                        let Schema::Union(u) = &record.fields[pos].schema else {
                            continue;
                        };
                        let Some(Schema::Record(child)) = u.variants().get(1) else {
                            continue;
                        };
                        let Some(cpos) = child.lookup.get(sub).copied() else {
                            continue;
                        };
                        if !create {
                            sub_changed.entry(pos).or_default().push(cpos);
                            if v.is_none() {
                                sub_nulled.entry(pos).or_default().push(cpos);
                            }
                        }
                        subs.entry(pos)
                            .or_insert_with(|| vec![None; child.fields.len()])[cpos] = v;
                    }
                }
            }
            let ms = Some(Avro::Long(at_ms));
            if let Some(p) = record.lookup.get("LastModifiedDate") {
                top[*p] = ms.clone();
                if !create {
                    changed.push(*p);
                }
            }
            if create && let Some(p) = record.lookup.get("CreatedDate") {
                top[*p] = ms;
            }
        }
        let bitmaps =
            |top: &mut Vec<usize>, nested: &std::collections::BTreeMap<usize, Vec<usize>>| {
                let mut out = Vec::new();
                if !top.is_empty() || !nested.is_empty() {
                    top.sort_unstable();
                    out.push(if top.is_empty() {
                        "0x00".to_owned()
                    } else {
                        bitmap(top)
                    });
                }
                for (parent, kids) in nested {
                    out.push(format!("{parent}-{}", bitmap(kids)));
                }
                out
            };
        let changed_fields = bitmaps(&mut changed, &sub_changed);
        let nulled_fields = bitmaps(&mut nulled, &sub_nulled);
        let header = Avro::Record(vec![
            ("entityName".into(), Avro::String(object.to_owned())),
            ("recordIds".into(), strings(ids.iter().cloned())),
            (
                "changeType".into(),
                Avro::Enum(
                    CHANGE_TYPES.iter().position(|t| *t == kind).unwrap_or(0) as u32,
                    kind.to_owned(),
                ),
            ),
            (
                "changeOrigin".into(),
                Avro::String("com/salesforce/api/rest/62.0".into()),
            ),
            (
                "transactionKey".into(),
                Avro::String(format!("0001b7e1-{commit:012x}-emulator")),
            ),
            ("sequenceNumber".into(), Avro::Int(1)),
            ("commitTimestamp".into(), Avro::Long(at_ms)),
            ("commitNumber".into(), Avro::Long(commit as i64)),
            (
                "commitUser".into(),
                Avro::String("005Dn000000001AAA".into()),
            ),
            ("nulledFields".into(), strings(nulled_fields)),
            ("diffFields".into(), strings([])),
            ("changedFields".into(), strings(changed_fields)),
        ]);
        let mut values = Vec::with_capacity(record.fields.len());
        for (pos, f) in record.fields.iter().enumerate() {
            let v = if pos == 0 {
                header.clone()
            } else if let Some(kids) = subs.remove(&pos) {
                let Schema::Union(u) = &f.schema else {
                    unreachable!("compound fields are unions")
                };
                let Some(Schema::Record(child)) = u.variants().get(1) else {
                    unreachable!("compound fields are records")
                };
                let inner = child
                    .fields
                    .iter()
                    .zip(kids)
                    .map(|(cf, v)| (cf.name.clone(), opt(v)))
                    .collect();
                opt(Some(Avro::Record(inner)))
            } else {
                opt(top[pos].take())
            };
            values.push((f.name.clone(), v));
        }
        let mut payload = apache_avro::to_avro_datum(&self.schema, Avro::Record(values))
            .unwrap_or_else(|e| unreachable!("events are built to the schema: {e}"));
        if bus.faults.corrupt_next > 0 {
            bus.faults.corrupt_next -= 1;
            payload.truncate(payload.len() / 2);
        }
        let replay_id = bus.next_replay;
        bus.next_replay += 1;
        bus.events.push(Stored {
            replay_id,
            payload,
            event_id: format!("{:08x}-emulator-{replay_id}", commit),
        });
        self.published.send_replace(replay_id);
    }
}

/// The gRPC service of an emulated org.
#[derive(Clone)]
pub(crate) struct PubSubService {
    pub(crate) events: Arc<ChangeEvents>,
    pub(crate) org_id: String,
    pub(crate) tokens: Arc<dyn Fn(&str) -> bool + Send + Sync>,
}

impl PubSubService {
    pub(crate) fn server(self) -> PubSubServer<Self> {
        PubSubServer::new(self)
    }

    fn authorize<T>(&self, req: &Request<T>) -> Result<(), Status> {
        let md = req.metadata();
        let get = |k: &str| md.get(k).and_then(|v| v.to_str().ok());
        let token_ok = get("accesstoken").is_some_and(|t| (self.tokens)(t));
        if !token_ok || get("instanceurl").is_none() {
            return Err(Status::unauthenticated(
                "Invalid session: accesstoken and instanceurl metadata required",
            ));
        }
        if get("tenantid") != Some(self.org_id.as_str()) {
            return Err(Status::unauthenticated(
                "tenantid does not match the session's org",
            ));
        }
        Ok(())
    }
}

type FetchStream = Pin<Box<dyn Stream<Item = Result<FetchResponse, Status>> + Send>>;
type ManagedStream = Pin<Box<dyn Stream<Item = Result<ManagedFetchResponse, Status>> + Send>>;
type PublishStream = Pin<Box<dyn Stream<Item = Result<PublishResponse, Status>> + Send>>;

fn rpc_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

#[tonic::async_trait]
impl PubSub for PubSubService {
    type SubscribeStream = FetchStream;
    type PublishStreamStream = PublishStream;
    type ManagedSubscribeStream = ManagedStream;

    async fn get_topic(&self, req: Request<TopicRequest>) -> Result<Response<TopicInfo>, Status> {
        self.authorize(&req)?;
        let name = req.into_inner().topic_name;
        if name != CONTACT_TOPIC {
            return Err(Status::not_found(format!("topic {name} not found")));
        }
        Ok(Response::new(TopicInfo {
            topic_name: name,
            tenant_guid: self.org_id.clone(),
            can_publish: false,
            can_subscribe: true,
            schema_id: CONTACT_SCHEMA_ID.into(),
            rpc_id: rpc_id(),
        }))
    }

    async fn get_schema(
        &self,
        req: Request<SchemaRequest>,
    ) -> Result<Response<SchemaInfo>, Status> {
        self.authorize(&req)?;
        let id = req.into_inner().schema_id;
        if id != CONTACT_SCHEMA_ID {
            return Err(Status::not_found(format!("schema {id} not found")));
        }
        Ok(Response::new(SchemaInfo {
            schema_json: CONTACT_CHANGE_EVENT_SCHEMA.into(),
            schema_id: id,
            rpc_id: rpc_id(),
        }))
    }

    async fn subscribe(
        &self,
        req: Request<Streaming<FetchRequest>>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        self.authorize(&req)?;
        let mut incoming = req.into_inner();
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<FetchResponse, Status>>(16);
        let events = self.events.clone();
        events.stream_opened();
        tokio::spawn(async move {
            if let Err(status) = serve_subscription(&events, &mut incoming, &tx).await {
                let _ = tx.send(Err(status)).await;
            }
            events.stream_closed();
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    async fn publish(
        &self,
        _req: Request<PublishRequest>,
    ) -> Result<Response<PublishResponse>, Status> {
        Err(Status::unimplemented(
            "the emulator does not accept publishing",
        ))
    }

    async fn publish_stream(
        &self,
        _req: Request<Streaming<PublishRequest>>,
    ) -> Result<Response<Self::PublishStreamStream>, Status> {
        Err(Status::unimplemented(
            "the emulator does not accept publishing",
        ))
    }

    async fn managed_subscribe(
        &self,
        _req: Request<Streaming<ManagedFetchRequest>>,
    ) -> Result<Response<Self::ManagedSubscribeStream>, Status> {
        Err(Status::unimplemented(
            "managed subscriptions are not emulated",
        ))
    }
}

/// Most events one `FetchRequest` may ask for (Salesforce: 100).
const MAX_NUM_REQUESTED: i32 = 100;

async fn serve_subscription(
    events: &ChangeEvents,
    incoming: &mut Streaming<FetchRequest>,
    tx: &tokio::sync::mpsc::Sender<Result<FetchResponse, Status>>,
) -> Result<(), Status> {
    let first = incoming
        .message()
        .await?
        .ok_or_else(|| Status::invalid_argument("the stream ended before a FetchRequest"))?;
    if first.topic_name != CONTACT_TOPIC {
        return Err(Status::not_found(format!(
            "topic {} not found",
            first.topic_name
        )));
    }
    // Index into the event log of the next event to send.
    let mut next = {
        let bus = events.bus();
        match ReplayPreset::try_from(first.replay_preset).unwrap_or(ReplayPreset::Latest) {
            ReplayPreset::Latest => bus.events.len(),
            ReplayPreset::Earliest => 0,
            ReplayPreset::Custom => {
                let id = <[u8; 8]>::try_from(first.replay_id.as_slice())
                    .map(u64::from_be_bytes)
                    .map_err(|_| Status::invalid_argument("The Replay ID validation failed"))?;
                match bus.events.binary_search_by_key(&id, |e| e.replay_id) {
                    Ok(i) => i + 1,
                    Err(_) => {
                        return Err(Status::invalid_argument(format!(
                            "The Replay ID validation failed: replay id {id} is not retained"
                        )));
                    }
                }
            }
        }
    };
    let mut pending = first.num_requested.clamp(0, MAX_NUM_REQUESTED);
    let drop_after = events.bus().faults.drop_stream_after;
    let mut sent: u32 = 0;
    let mut published = events.published.subscribe();
    loop {
        if pending > 0 {
            let batch: Vec<ConsumerEvent> = {
                let bus = events.bus();
                let room = drop_after.map_or(u32::MAX, |d| d.saturating_sub(sent));
                bus.events
                    .iter()
                    .skip(next)
                    .take((pending as usize).min(room as usize))
                    .map(|e| ConsumerEvent {
                        event: Some(ProducerEvent {
                            id: e.event_id.clone(),
                            schema_id: CONTACT_SCHEMA_ID.into(),
                            payload: e.payload.clone(),
                            headers: Vec::new(),
                        }),
                        replay_id: e.replay_id.to_be_bytes().to_vec(),
                    })
                    .collect()
            };
            if drop_after.is_some_and(|d| sent >= d) {
                return Err(Status::unavailable("injected fault: stream dropped"));
            }
            if !batch.is_empty() {
                next += batch.len();
                sent += batch.len() as u32;
                pending -= batch.len() as i32;
                let latest = batch
                    .last()
                    .map(|e| e.replay_id.clone())
                    .unwrap_or_default();
                let resp = FetchResponse {
                    events: batch,
                    latest_replay_id: latest,
                    rpc_id: rpc_id(),
                    pending_num_requested: pending,
                };
                if tx.send(Ok(resp)).await.is_err() {
                    return Ok(());
                }
                continue;
            }
        }
        tokio::select! {
            msg = incoming.message() => match msg? {
                Some(more) => pending = (pending + more.num_requested.clamp(0, MAX_NUM_REQUESTED)).min(i32::MAX / 2),
                None => return Ok(()),
            },
            changed = published.changed() => if changed.is_err() { return Ok(()) },
            _ = tx.closed() => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitmaps_are_bytes_in_hex() {
        assert_eq!(bitmap(&[5, 6, 7, 10, 24, 26, 29, 30]), "0x650004E0");
        assert_eq!(bitmap(&[4]), "0x10");
        assert_eq!(bitmap(&[1, 2]), "0x06");
    }
}
