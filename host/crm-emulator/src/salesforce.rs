//! A Salesforce org's REST API, as much of it as a reader of Contacts and Leads uses.
//!
//! Sources: developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/
//! `resources_query.htm`, `resources_queryall.htm`, `resources_sobject_retrieve.htm`,
//! `errorcodes.htm`; the OAuth 2.0 client-credentials flow
//! (help.salesforce.com `remoteaccess_oauth_client_credentials_flow.htm`), whose token
//! answer carries `access_token`, `instance_url`, `id`, `token_type`, `issued_at`,
//! `signature`; the `Sforce-Query-Options: batchSize=N` header (200..=2000).
//! - `POST /services/oauth2/token` (form: `grant_type=client_credentials`, `client_id`,
//!   `client_secret`); wrong credentials → 400 `{"error": "invalid_client", ...}`.
//! - `GET /services/data/vXX.X/sobjects/{object}/{id}` → the record with `attributes`;
//!   unknown → 404 `[{"errorCode": "NOT_FOUND", ...}]`, deleted → 404
//!   `ENTITY_IS_DELETED`.
//! - `GET /services/data/vXX.X/query?q=SOQL` and `.../queryAll?q=SOQL` →
//!   `{"totalSize", "done", "nextRecordsUrl"?, "records"}`, the next page at
//!   `/services/data/vXX.X/query/{cursor}-{offset}`; deleted records (`IsDeleted: true`)
//!   only through `queryAll`. The SOQL subset: `SELECT f1, f2 FROM Object [WHERE cond
//!   [AND cond]...] [ORDER BY f [ASC|DESC][, ...]] [LIMIT n]`, conditions `f op literal`
//!   (`=`, `!=`, `<`, `<=`, `>`, `>=`) or `f IN ('a', 'b')`; datetime literals unquoted
//!   (`2024-01-02T03:04:05Z`), strings in single quotes, `true`/`false`.
//! - A missing or unknown bearer token → 401 `[{"message": "Session expired or invalid",
//!   "errorCode": "INVALID_SESSION_ID"}]`.
//!
//! Every change to a Contact also publishes its Change Data Capture event on the org's
//! Pub/Sub API (see [`crate::pubsub`]), served on a second port by
//! [`SalesforceEmulator::start`].
//!
//! Control API: `POST /_emulator/sobjects/{object}` (upsert; JSON object),
//! `DELETE /_emulator/sobjects/{object}/{id}`,
//! `POST /_emulator/sobjects/{object}/{id}/undelete`, `PUT /_emulator/faults`,
//! `PUT /_emulator/pubsub/faults`, `POST /_emulator/pubsub/overflow/{object}`,
//! `GET /_emulator/stats`.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};

use crate::access::{self, Gate};
use crate::faults::Faults;
use crate::pubsub::{Change, ChangeEvents, PubSubFaults, PubSubService};
use crate::server::{CrmEmulatorError, Running};

/// Credentials and behaviour of an emulated org.
#[derive(Clone)]
pub struct SalesforceConfig {
    /// Connected app consumer key.
    pub client_id: String,
    /// Connected app consumer secret.
    pub client_secret: String,
    /// The org id (18 characters) reported in the identity URL.
    pub org_id: String,
    /// Records per query page unless `Sforce-Query-Options: batchSize` asks for fewer
    /// (Salesforce: 2000).
    pub page_size: usize,
    /// Seeds id generation and fault draws.
    pub seed: u64,
}

impl std::fmt::Debug for SalesforceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SalesforceConfig")
            .field("client_id", &self.client_id)
            .field("org_id", &self.org_id)
            .field("page_size", &self.page_size)
            .finish_non_exhaustive()
    }
}

impl Default for SalesforceConfig {
    fn default() -> Self {
        Self {
            client_id: "3MVG9dialsyncEmulatorConsumerKey".into(),
            client_secret: "sf-emulator-consumer-secret".into(),
            org_id: "00Dn00000008y2tEAA".into(),
            page_size: 2000,
            seed: 11,
        }
    }
}

type Record = Map<String, Value>;

struct Cursor {
    records: Vec<Value>,
}

struct Inner {
    objects: BTreeMap<String, BTreeMap<String, Record>>,
    cursors: HashMap<String, Cursor>,
    rng: SmallRng,
    next_id: u64,
}

struct Shared {
    config: SalesforceConfig,
    inner: Mutex<Inner>,
    gate: Gate,
    events: Arc<ChangeEvents>,
}

/// An emulated org (cheap to clone; clones share state).
#[derive(Clone)]
pub struct SalesforceEmulator {
    shared: Arc<Shared>,
}

/// An emulated org served on a port.
pub struct RunningSalesforce {
    /// The org (records, faults).
    pub emulator: SalesforceEmulator,
    running: Running,
    pubsub: Running,
}

impl RunningSalesforce {
    /// `http://127.0.0.1:PORT`: login and instance URL alike.
    pub fn base_url(&self) -> String {
        self.running.base_url()
    }
    /// `http://127.0.0.1:PORT` of the Pub/Sub API (gRPC over cleartext HTTP/2).
    pub fn pubsub_url(&self) -> String {
        self.pubsub.base_url()
    }
    /// Stops serving.
    pub async fn shutdown(self) {
        self.running.shutdown().await;
        self.pubsub.shutdown().await;
    }
}

/// `2026-10-09T12:01:57.000+0000`, the REST API's datetime form.
pub fn sf_datetime(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z")
        .ok()
        .or_else(|| DateTime::parse_from_rfc3339(s).ok())
        .map(|d| d.with_timezone(&Utc))
}

/// The 18-character form of a 15-character id (checksum suffix: one letter per chunk
/// of five, bit i set when character i is upper case).
pub fn id18(id15: &str) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
    let suffix: String = id15
        .as_bytes()
        .chunks(5)
        .map(|c| {
            let bits = c
                .iter()
                .enumerate()
                .filter(|(_, b)| b.is_ascii_uppercase())
                .fold(0usize, |acc, (i, _)| acc | (1 << i));
            ALPHABET[bits] as char
        })
        .collect();
    format!("{id15}{suffix}")
}

impl SalesforceEmulator {
    /// An empty org.
    pub fn new(config: SalesforceConfig) -> Self {
        let seed = config.seed;
        Self {
            shared: Arc::new(Shared {
                config,
                inner: Mutex::new(Inner {
                    objects: BTreeMap::new(),
                    cursors: HashMap::new(),
                    rng: SmallRng::seed_from_u64(seed),
                    next_id: 1,
                }),
                gate: Gate::new(seed ^ 0x5f),
                events: Arc::new(ChangeEvents::new()),
            }),
        }
    }

    /// Serves the org's REST API on `addr` (port 0 picks one) and its Pub/Sub API on
    /// another port of the same host.
    pub async fn start(self, addr: SocketAddr) -> Result<RunningSalesforce, CrmEmulatorError> {
        let running = Running::serve(self.router(), addr).await?;
        let grpc = tonic::service::Routes::new(self.pubsub_service().server()).into_axum_router();
        let pubsub = Running::serve(grpc, SocketAddr::new(addr.ip(), 0)).await?;
        Ok(RunningSalesforce {
            emulator: self,
            running,
            pubsub,
        })
    }

    fn pubsub_service(&self) -> PubSubService {
        let me = self.clone();
        PubSubService {
            events: self.shared.events.clone(),
            org_id: self.shared.config.org_id.clone(),
            tokens: Arc::new(move |t: &str| me.shared.gate.valid(t)),
        }
    }

    /// Replaces the Pub/Sub fault settings.
    pub fn set_pubsub_faults(&self, faults: PubSubFaults) {
        self.shared.events.set_faults(faults);
    }

    /// Publishes a `GAP_OVERFLOW` change event for `object` (as Salesforce does for the
    /// changes of a transaction beyond its first 100,000), committed at `at`.
    pub fn publish_overflow(&self, object: &str, at: Option<DateTime<Utc>>) {
        let at = at.unwrap_or_else(Utc::now);
        self.shared
            .events
            .publish_overflow(object, at.timestamp_millis());
    }

    /// `Subscribe` streams open now, and the most that were open at once so far.
    pub fn pubsub_streams(&self) -> (usize, usize) {
        self.shared.events.streams()
    }

    /// Change events published so far.
    pub fn published_events(&self) -> usize {
        self.shared.events.len()
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.shared.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Creates or updates a record as a user would: fields merged over the stored ones;
    /// `Id` generated (18 characters, key prefix `003` Contact / `00Q` Lead) when absent;
    /// `SystemModstamp` and `LastModifiedDate` set to `at` (default now);
    /// `IsDeleted` false. Returns the Id.
    pub fn upsert(&self, object: &str, fields: Record, at: Option<DateTime<Utc>>) -> String {
        let mut inner = self.inner();
        let id = match fields.get("Id").and_then(Value::as_str) {
            Some(id) => id.to_owned(),
            None => {
                let prefix = if object == "Lead" { "00Q" } else { "003" };
                let n = inner.next_id;
                inner.next_id += 1;
                id18(&format!("{prefix}Dn{n:010}"))
            }
        };
        let at = at.unwrap_or_else(Utc::now);
        let stamp = sf_datetime(at);
        let record = inner
            .objects
            .entry(object.to_owned())
            .or_default()
            .entry(id.clone())
            .or_default();
        let created = record.is_empty();
        let mut changed = Map::new();
        for (k, v) in fields {
            if created || record.get(&k) != Some(&v) {
                changed.insert(k.clone(), v.clone());
            }
            record.insert(k, v);
        }
        record.insert("Id".into(), json!(id));
        record.insert("IsDeleted".into(), json!(false));
        record.insert("SystemModstamp".into(), json!(stamp));
        record.insert("LastModifiedDate".into(), json!(stamp));
        let change = if created {
            Change::Create(record)
        } else {
            Change::Update(&changed)
        };
        self.shared.events.publish(
            object,
            std::slice::from_ref(&id),
            change,
            at.timestamp_millis(),
        );
        id
    }

    /// Restores a record from the Recycle Bin (`IsDeleted` false, `SystemModstamp` =
    /// `at`), publishing an `UNDELETE` event. Returns whether it was deleted.
    pub fn undelete(&self, object: &str, id: &str, at: Option<DateTime<Utc>>) -> bool {
        let mut inner = self.inner();
        let Some(r) = inner.objects.get_mut(object).and_then(|o| o.get_mut(id)) else {
            return false;
        };
        if r.get("IsDeleted") != Some(&json!(true)) {
            return false;
        }
        let at = at.unwrap_or_else(Utc::now);
        r.insert("IsDeleted".into(), json!(false));
        r.insert("SystemModstamp".into(), json!(sf_datetime(at)));
        self.shared.events.publish(
            object,
            &[id.to_owned()],
            Change::Undelete,
            at.timestamp_millis(),
        );
        true
    }

    /// Moves a record to the Recycle Bin (`IsDeleted` true, `SystemModstamp` = `at`).
    /// Returns whether it existed and was not deleted already.
    pub fn delete(&self, object: &str, id: &str, at: Option<DateTime<Utc>>) -> bool {
        let mut inner = self.inner();
        let Some(r) = inner.objects.get_mut(object).and_then(|o| o.get_mut(id)) else {
            return false;
        };
        if r.get("IsDeleted") == Some(&json!(true)) {
            return false;
        }
        let at = at.unwrap_or_else(Utc::now);
        r.insert("IsDeleted".into(), json!(true));
        r.insert("SystemModstamp".into(), json!(sf_datetime(at)));
        self.shared.events.publish(
            object,
            &[id.to_owned()],
            Change::Delete,
            at.timestamp_millis(),
        );
        true
    }

    /// Whether the record is in the Recycle Bin.
    pub fn is_deleted(&self, object: &str, id: &str) -> bool {
        self.inner()
            .objects
            .get(object)
            .and_then(|o| o.get(id))
            .is_some_and(|r| r.get("IsDeleted") == Some(&json!(true)))
    }

    /// An object's records by Id (deleted ones included).
    pub fn records(&self, object: &str) -> BTreeMap<String, Record> {
        self.inner()
            .objects
            .get(object)
            .cloned()
            .unwrap_or_default()
    }

    /// Replaces the fault settings.
    pub fn set_faults(&self, faults: Faults) -> Result<(), String> {
        self.shared.gate.set_faults(faults)
    }

    /// REST requests answered so far (including refused ones).
    pub fn api_requests(&self) -> u64 {
        self.shared.gate.requests()
    }

    /// The axum app: OAuth, REST API, control API.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/services/oauth2/token", post(token))
            .route(
                "/services/data/{version}/sobjects/{object}/{id}",
                get(sobject),
            )
            .route("/services/data/{version}/query", get(query))
            .route("/services/data/{version}/queryAll", get(query_all))
            .route("/services/data/{version}/query/{cursor}", get(more))
            .route("/services/data/{version}/queryAll/{cursor}", get(more))
            .route("/_emulator/sobjects/{object}", post(control_upsert))
            .route("/_emulator/sobjects/{object}/{id}", delete(control_delete))
            .route(
                "/_emulator/sobjects/{object}/{id}/undelete",
                post(control_undelete),
            )
            .route("/_emulator/pubsub/faults", put(control_pubsub_faults))
            .route(
                "/_emulator/pubsub/overflow/{object}",
                post(control_overflow),
            )
            .route("/_emulator/faults", put(control_faults))
            .route("/_emulator/stats", get(control_stats))
            .with_state(self.clone())
    }

    /// Auth and faults for one API request: `Some(answer)` refuses it.
    fn gate(&self, headers: &HeaderMap) -> Option<Response> {
        if let Some(status) = self.shared.gate.fault() {
            return Some(sf_error(status, "SERVER_UNAVAILABLE", "injected fault"));
        }
        match access::bearer(headers) {
            Some(t) if self.shared.gate.valid(t) => None,
            _ => Some(sf_error(
                StatusCode::UNAUTHORIZED,
                "INVALID_SESSION_ID",
                "Session expired or invalid",
            )),
        }
    }
}

fn sf_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!([{ "message": message, "errorCode": code }])),
    )
        .into_response()
}

async fn token(
    State(emu): State<SalesforceEmulator>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let form = access::form(&body);
    let cfg = &emu.shared.config;
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "unsupported_grant_type", "error_description": "grant type not supported"})),
        )
            .into_response();
    }
    if form.get("client_id") != Some(&cfg.client_id)
        || form.get("client_secret") != Some(&cfg.client_secret)
    {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_client", "error_description": "invalid client credentials"})),
        )
            .into_response();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1");
    let instance = format!("http://{host}");
    let access = format!(
        "{}!{:032x}",
        &cfg.org_id[..15.min(cfg.org_id.len())],
        emu.inner().rng.random::<u128>()
    );
    emu.shared.gate.issue(&access);
    Json(json!({
        "access_token": access,
        "signature": "emulator-signature",
        "scope": "api",
        "instance_url": instance,
        "id": format!("{instance}/id/{}/005Dn000000001AAA", cfg.org_id),
        "token_type": "Bearer",
        "issued_at": Utc::now().timestamp_millis().to_string(),
    }))
    .into_response()
}

async fn sobject(
    State(emu): State<SalesforceEmulator>,
    Path((version, object, id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = emu.gate(&headers) {
        return r;
    }
    let records = emu.records(&object);
    let found = records.get(&id).or_else(|| {
        records.values().find(|r| {
            r.get("Id")
                .and_then(Value::as_str)
                .is_some_and(|i| i.get(..15) == id.get(..15) && id.len() == 15)
        })
    });
    match found {
        Some(r) if r.get("IsDeleted") == Some(&json!(true)) => sf_error(
            StatusCode::NOT_FOUND,
            "ENTITY_IS_DELETED",
            "entity is deleted",
        ),
        Some(r) => Json(with_attributes(&version, &object, r, None)).into_response(),
        None => sf_error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "The requested resource does not exist",
        ),
    }
}

fn with_attributes(version: &str, object: &str, r: &Record, fields: Option<&[String]>) -> Value {
    let id = r.get("Id").and_then(Value::as_str).unwrap_or_default();
    let mut out = Map::new();
    out.insert(
        "attributes".into(),
        json!({"type": object, "url": format!("/services/data/{version}/sobjects/{object}/{id}")}),
    );
    match fields {
        None => {
            for (k, v) in r {
                out.insert(k.clone(), v.clone());
            }
        }
        Some(fields) => {
            for f in fields {
                // A field selected but never set reads as null, as in Salesforce.
                out.insert(f.clone(), r.get(f).cloned().unwrap_or(Value::Null));
            }
        }
    }
    Value::Object(out)
}

/// One `WHERE` condition.
#[derive(Debug)]
enum Cond {
    Cmp(String, String, Literal),
    In(String, Vec<String>),
}

#[derive(Debug)]
enum Literal {
    Text(String),
    Bool(bool),
    Time(DateTime<Utc>),
}

#[derive(Debug)]
struct Soql {
    fields: Vec<String>,
    object: String,
    conds: Vec<Cond>,
    order: Vec<(String, bool)>,
    limit: Option<usize>,
}

/// Hand-written because no maintained Rust crate parses SOQL; it covers the subset in
/// the module docs and refuses anything else with `MALFORMED_QUERY`.
fn parse_soql(q: &str) -> Result<Soql, String> {
    let tokens = tokenize(q)?;
    let mut i = 0;
    let kw = |i: usize, w: &str| tokens.get(i).is_some_and(|t| t.eq_ignore_ascii_case(w));
    if !kw(0, "SELECT") {
        return Err("expected SELECT".into());
    }
    i += 1;
    let mut fields = Vec::new();
    while i < tokens.len() && !kw(i, "FROM") {
        if tokens[i] != "," {
            fields.push(tokens[i].clone());
        }
        i += 1;
    }
    if !kw(i, "FROM") || fields.is_empty() {
        return Err("expected SELECT <fields> FROM <object>".into());
    }
    let object = tokens
        .get(i + 1)
        .cloned()
        .ok_or("expected an object after FROM")?;
    i += 2;
    let mut conds = Vec::new();
    if kw(i, "WHERE") {
        i += 1;
        loop {
            let field = tokens.get(i).cloned().ok_or("expected a condition")?;
            let op = tokens.get(i + 1).cloned().ok_or("expected an operator")?;
            if op.eq_ignore_ascii_case("IN") {
                if tokens.get(i + 2).map(String::as_str) != Some("(") {
                    return Err("expected ( after IN".into());
                }
                i += 3;
                let mut values = Vec::new();
                while i < tokens.len() && tokens[i] != ")" {
                    if tokens[i] != "," {
                        values.push(unquote(&tokens[i])?);
                    }
                    i += 1;
                }
                i += 1;
                conds.push(Cond::In(field, values));
            } else {
                if !["=", "!=", "<", "<=", ">", ">="].contains(&op.as_str()) {
                    return Err(format!("unsupported operator {op:?}"));
                }
                let raw = tokens.get(i + 2).ok_or("expected a value")?;
                let lit = if raw.starts_with('\'') {
                    Literal::Text(unquote(raw)?)
                } else if raw.eq_ignore_ascii_case("true") || raw.eq_ignore_ascii_case("false") {
                    Literal::Bool(raw.eq_ignore_ascii_case("true"))
                } else {
                    Literal::Time(
                        parse_datetime(raw)
                            .ok_or_else(|| format!("bad datetime literal {raw:?}"))?,
                    )
                };
                conds.push(Cond::Cmp(field, op, lit));
                i += 3;
            }
            if kw(i, "AND") {
                i += 1;
            } else {
                break;
            }
        }
    }
    let mut order = Vec::new();
    if kw(i, "ORDER") && kw(i + 1, "BY") {
        i += 2;
        loop {
            let f = tokens
                .get(i)
                .cloned()
                .ok_or("expected a field after ORDER BY")?;
            i += 1;
            let mut desc = false;
            if kw(i, "ASC") {
                i += 1;
            } else if kw(i, "DESC") {
                desc = true;
                i += 1;
            }
            order.push((f, desc));
            if tokens.get(i).map(String::as_str) == Some(",") {
                i += 1;
            } else {
                break;
            }
        }
    }
    let mut limit = None;
    if kw(i, "LIMIT") {
        limit = Some(
            tokens
                .get(i + 1)
                .and_then(|t| t.parse().ok())
                .ok_or("expected a number after LIMIT")?,
        );
        i += 2;
    }
    if i != tokens.len() {
        return Err(format!("unexpected {:?}", tokens[i]));
    }
    Ok(Soql {
        fields,
        object,
        conds,
        order,
        limit,
    })
}

fn unquote(t: &str) -> Result<String, String> {
    t.strip_prefix('\'')
        .and_then(|t| t.strip_suffix('\''))
        .map(|t| t.replace("\\'", "'"))
        .ok_or_else(|| format!("expected a quoted string, got {t:?}"))
}

fn tokenize(q: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let chars: Vec<char> = q.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '\'' {
            let start = i;
            i += 1;
            while i < chars.len() && !(chars[i] == '\'' && chars[i - 1] != '\\') {
                i += 1;
            }
            if i >= chars.len() {
                return Err("unterminated string".into());
            }
            i += 1;
            out.push(chars[start..i].iter().collect());
        } else if matches!(c, ',' | '(' | ')') {
            out.push(c.to_string());
            i += 1;
        } else if matches!(c, '<' | '>' | '!' | '=') {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            if ["<=", ">=", "!="].contains(&two.as_str()) {
                out.push(two);
                i += 2;
            } else {
                out.push(c.to_string());
                i += 1;
            }
        } else {
            let start = i;
            while i < chars.len()
                && !chars[i].is_whitespace()
                && !matches!(chars[i], ',' | '(' | ')' | '<' | '>' | '!' | '=' | '\'')
            {
                i += 1;
            }
            out.push(chars[start..i].iter().collect());
        }
    }
    Ok(out)
}

fn matches(r: &Record, cond: &Cond) -> bool {
    match cond {
        Cond::In(f, values) => r
            .get(f)
            .and_then(Value::as_str)
            .is_some_and(|v| values.iter().any(|x| x == v)),
        Cond::Cmp(f, op, lit) => {
            let have = r.get(f).unwrap_or(&Value::Null);
            let ord = match lit {
                Literal::Text(t) => have.as_str().map(|h| h.cmp(t.as_str())),
                Literal::Bool(b) => have.as_bool().map(|h| h.cmp(b)),
                Literal::Time(t) => have.as_str().and_then(parse_datetime).map(|h| h.cmp(t)),
            };
            let Some(ord) = ord else {
                return op == "!=";
            };
            match op.as_str() {
                "=" => ord.is_eq(),
                "!=" => ord.is_ne(),
                "<" => ord.is_lt(),
                "<=" => ord.is_le(),
                ">" => ord.is_gt(),
                _ => ord.is_ge(),
            }
        }
    }
}

fn sort_key(r: &Record, f: &str) -> (Option<DateTime<Utc>>, String) {
    let text = r.get(f).and_then(Value::as_str).unwrap_or_default();
    (parse_datetime(text), text.to_owned())
}

async fn query(
    State(emu): State<SalesforceEmulator>,
    Path(version): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    run_query(emu, version, raw, headers, false).await
}

async fn query_all(
    State(emu): State<SalesforceEmulator>,
    Path(version): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    run_query(emu, version, raw, headers, true).await
}

fn batch_size(emu: &SalesforceEmulator, headers: &HeaderMap) -> usize {
    let asked = headers
        .get("sforce-query-options")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split(',')
                .find_map(|p| p.trim().strip_prefix("batchSize="))
        })
        .and_then(|n| n.parse::<usize>().ok())
        .map(|n| n.clamp(200, 2000));
    let configured = emu.shared.config.page_size.max(1);
    asked.map_or(configured, |a| a.min(configured))
}

async fn run_query(
    emu: SalesforceEmulator,
    version: String,
    raw: Option<String>,
    headers: HeaderMap,
    include_deleted: bool,
) -> Response {
    if let Some(r) = emu.gate(&headers) {
        return r;
    }
    let q = access::form(raw.as_deref().unwrap_or("")).remove("q");
    let Some(q) = q else {
        return sf_error(StatusCode::BAD_REQUEST, "MALFORMED_QUERY", "missing q");
    };
    let soql = match parse_soql(&q) {
        Ok(s) => s,
        Err(e) => return sf_error(StatusCode::BAD_REQUEST, "MALFORMED_QUERY", &e),
    };
    let records = emu.records(&soql.object);
    let mut rows: Vec<&Record> = records
        .values()
        .filter(|r| include_deleted || r.get("IsDeleted") != Some(&json!(true)))
        .filter(|r| soql.conds.iter().all(|c| matches(r, c)))
        .collect();
    rows.sort_by(|a, b| {
        for (f, desc) in &soql.order {
            let o = sort_key(a, f).cmp(&sort_key(b, f));
            let o = if *desc { o.reverse() } else { o };
            if o.is_ne() {
                return o;
            }
        }
        std::cmp::Ordering::Equal
    });
    if let Some(limit) = soql.limit {
        rows.truncate(limit);
    }
    let all: Vec<Value> = rows
        .into_iter()
        .map(|r| with_attributes(&version, &soql.object, r, Some(&soql.fields)))
        .collect();
    let size = batch_size(&emu, &headers);
    let endpoint = if include_deleted { "queryAll" } else { "query" };
    page(&emu, &version, endpoint, all, 0, size)
}

fn page(
    emu: &SalesforceEmulator,
    version: &str,
    endpoint: &str,
    all: Vec<Value>,
    offset: usize,
    size: usize,
) -> Response {
    let total = all.len();
    let (rows, done) = access::window(total, offset, size);
    let end = rows.end;
    let records: Vec<Value> = all[rows].to_vec();
    let mut body = json!({"totalSize": total, "done": done, "records": records});
    if !done {
        let cursor = {
            let mut inner = emu.inner();
            let id = format!("01gDn{:010}", inner.rng.random::<u32>());
            inner.cursors.insert(id.clone(), Cursor { records: all });
            id
        };
        body["nextRecordsUrl"] = json!(format!(
            "/services/data/{version}/{endpoint}/{cursor}-{end}"
        ));
    }
    Json(body).into_response()
}

async fn more(
    State(emu): State<SalesforceEmulator>,
    Path((version, cursor)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = emu.gate(&headers) {
        return r;
    }
    let Some((id, offset)) = cursor
        .rsplit_once('-')
        .and_then(|(id, off)| off.parse::<usize>().ok().map(|o| (id.to_owned(), o)))
    else {
        return sf_error(
            StatusCode::BAD_REQUEST,
            "INVALID_QUERY_LOCATOR",
            "invalid query locator",
        );
    };
    let all = emu.inner().cursors.remove(&id).map(|c| c.records);
    let Some(all) = all else {
        return sf_error(
            StatusCode::BAD_REQUEST,
            "INVALID_QUERY_LOCATOR",
            "invalid query locator",
        );
    };
    let size = batch_size(&emu, &headers);
    page(&emu, &version, "query", all, offset, size)
}

async fn control_upsert(
    State(emu): State<SalesforceEmulator>,
    Path(object): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    match body {
        Value::Object(fields) => {
            Json(json!({"id": emu.upsert(&object, fields, None)})).into_response()
        }
        _ => (StatusCode::BAD_REQUEST, "expected a JSON object of fields").into_response(),
    }
}

async fn control_delete(
    State(emu): State<SalesforceEmulator>,
    Path((object, id)): Path<(String, String)>,
) -> StatusCode {
    if emu.delete(&object, &id, None) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
}

async fn control_undelete(
    State(emu): State<SalesforceEmulator>,
    Path((object, id)): Path<(String, String)>,
) -> StatusCode {
    if emu.undelete(&object, &id, None) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
}

async fn control_pubsub_faults(
    State(emu): State<SalesforceEmulator>,
    Json(faults): Json<PubSubFaults>,
) -> StatusCode {
    emu.set_pubsub_faults(faults);
    StatusCode::NO_CONTENT
}

async fn control_overflow(
    State(emu): State<SalesforceEmulator>,
    Path(object): Path<String>,
) -> StatusCode {
    emu.publish_overflow(&object, None);
    StatusCode::NO_CONTENT
}

async fn control_faults(
    State(emu): State<SalesforceEmulator>,
    Json(faults): Json<Faults>,
) -> Response {
    match emu.set_faults(faults) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, e).into_response(),
    }
}

async fn control_stats(State(emu): State<SalesforceEmulator>) -> Json<Value> {
    Json(json!({ "apiRequests": emu.api_requests() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soql_subset_parses() {
        let s = parse_soql(
            "SELECT Id, Phone FROM Contact WHERE SystemModstamp >= 2024-01-02T03:04:05.000Z AND Id IN ('a', 'b') ORDER BY SystemModstamp, Id LIMIT 10",
        )
        .unwrap();
        assert_eq!(s.fields, ["Id", "Phone"]);
        assert_eq!(s.object, "Contact");
        assert_eq!(s.conds.len(), 2);
        assert_eq!(
            s.order,
            [("SystemModstamp".into(), false), ("Id".into(), false)]
        );
        assert_eq!(s.limit, Some(10));
        assert!(parse_soql("SELECT Id FROM Contact WHERE Name LIKE 'a%'").is_err());
        assert!(parse_soql("DELETE FROM Contact").is_err());
    }

    #[test]
    fn ids_get_their_checksum() {
        assert_eq!(id18("00558000001N0Ke"), "00558000001N0KeAAK");
        assert_eq!(id18("003D000000QO2vN"), "003D000000QO2vNIAT");
    }
}
