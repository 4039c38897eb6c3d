//! A ServiceNow instance's Table API, as much of it as a reader of people tables uses.
//!
//! Sources (ServiceNow/ServiceNowDocs `markdown/api-reference/rest-apis/c_TableAPI.md`,
//! Australia release; `.../oauth-...` inbound OAuth pages for `/oauth_token.do`):
//! - `GET /api/now/table/{table}` → `{"result": [...]}`, every value a string;
//!   `GET /api/now/table/{table}/{sys_id}` → `{"result": {...}}` or 404
//!   `{"error": {"message": "No Record found", "detail": ...}, "status": "failure"}`.
//! - `sysparm_query`: an encoded query, terms joined by `^`, operators `=`, `!=`, `>`,
//!   `>=`, `<`, `<=`, `ORDERBY<field>` / `ORDERBYDESC<field>`; terms naming a field the
//!   table does not have are ignored, as ServiceNow does by default.
//! - `sysparm_fields` (unknown names ignored), `sysparm_limit` (default 10000),
//!   `sysparm_offset`, `sysparm_no_count`; the answer carries `X-Total-Count` and a
//!   `Link` header with `rel="first"`, `"prev"`, `"next"`, `"last"` URLs.
//! - Basic auth, or `Authorization: Bearer` with a token from `POST /oauth_token.do`
//!   (`grant_type=password` or `client_credentials`, form-encoded); a missing or wrong
//!   credential answers 401 `{"error": {"message": "User Not Authenticated", ...}}`.
//! - Deleting a record writes a `sys_audit_delete` row (`tablename`, `documentkey` = the
//!   deleted sys_id, `display_value`, `payload`, `sys_created_on`), readable through the
//!   Table API like any table.
//!
//! Control API: `POST /_emulator/tables/{table}/records` (upsert one record; JSON object
//! of string fields), `DELETE /_emulator/tables/{table}/records/{sys_id}`,
//! `PUT /_emulator/faults` ([`Faults`]), `GET /_emulator/stats`.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use base64::Engine as _;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};

use crate::access::{self, Gate};
use crate::faults::Faults;
use crate::server::{CrmEmulatorError, Running};

/// The table deleted records are listed in.
pub const AUDIT_DELETE_TABLE: &str = "sys_audit_delete";

/// Credentials and seed of an emulated instance.
#[derive(Clone)]
pub struct ServiceNowConfig {
    /// Basic-auth user (also the OAuth password-grant user).
    pub username: String,
    /// Its password.
    pub password: String,
    /// OAuth client id (Application Registry entry).
    pub client_id: String,
    /// OAuth client secret.
    pub client_secret: String,
    /// Seeds sys_id generation and fault draws.
    pub seed: u64,
}

impl std::fmt::Debug for ServiceNowConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceNowConfig")
            .field("username", &self.username)
            .field("client_id", &self.client_id)
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

impl Default for ServiceNowConfig {
    fn default() -> Self {
        Self {
            username: "dialsync.integration".into(),
            password: "sn-emulator-password".into(),
            client_id: "dialsync-oauth-client".into(),
            client_secret: "sn-emulator-client-secret".into(),
            seed: 7,
        }
    }
}

type Record = Map<String, Value>;

struct Inner {
    tables: BTreeMap<String, BTreeMap<String, Record>>,
    rng: SmallRng,
}

struct Shared {
    config: ServiceNowConfig,
    inner: Mutex<Inner>,
    gate: Gate,
}

/// An emulated instance (cheap to clone; clones share state).
#[derive(Clone)]
pub struct ServiceNowEmulator {
    shared: Arc<Shared>,
}

/// An emulated instance served on a port.
pub struct RunningServiceNow {
    /// The instance (records, faults).
    pub emulator: ServiceNowEmulator,
    running: Running,
}

impl RunningServiceNow {
    /// `http://127.0.0.1:PORT`: the instance URL.
    pub fn base_url(&self) -> String {
        self.running.base_url()
    }
    /// Stops serving.
    pub async fn shutdown(self) {
        self.running.shutdown().await
    }
}

impl ServiceNowEmulator {
    /// An empty instance.
    pub fn new(config: ServiceNowConfig) -> Self {
        let seed = config.seed;
        Self {
            shared: Arc::new(Shared {
                config,
                inner: Mutex::new(Inner {
                    tables: BTreeMap::new(),
                    rng: SmallRng::seed_from_u64(seed),
                }),
                gate: Gate::new(seed ^ 0x5e),
            }),
        }
    }

    /// Serves the instance on `addr` (port 0 picks one).
    pub async fn start(self, addr: SocketAddr) -> Result<RunningServiceNow, CrmEmulatorError> {
        let running = Running::serve(self.router(), addr).await?;
        Ok(RunningServiceNow {
            emulator: self,
            running,
        })
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.shared.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Creates or updates a record as a user would: string fields merged over the
    /// stored ones; `sys_id` generated when absent; `sys_updated_on` set to now unless
    /// given; `sys_mod_count` incremented; `sys_class_name` set to the table. Returns
    /// the sys_id.
    pub fn upsert(&self, table: &str, fields: Map<String, Value>) -> String {
        let mut inner = self.inner();
        let sys_id = match fields.get("sys_id").and_then(Value::as_str) {
            Some(id) => id.to_owned(),
            None => format!("{:032x}", inner.rng.random::<u128>()),
        };
        let now = now_text();
        let rows = inner.tables.entry(table.to_owned()).or_default();
        let record = rows.entry(sys_id.clone()).or_insert_with(|| {
            let mut r = Map::new();
            r.insert("sys_created_on".into(), json!(now));
            r.insert("sys_created_by".into(), json!("admin"));
            r.insert("sys_mod_count".into(), json!("-1"));
            r
        });
        let count: i64 = record
            .get("sys_mod_count")
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok())
            .unwrap_or(-1);
        let stamped = fields.contains_key("sys_updated_on");
        for (k, v) in fields {
            record.insert(k, v);
        }
        record.insert("sys_id".into(), json!(sys_id));
        if !stamped {
            record.insert("sys_updated_on".into(), json!(now));
        }
        record.insert("sys_mod_count".into(), json!((count + 1).to_string()));
        record.insert("sys_updated_by".into(), json!("admin"));
        record.insert("sys_class_name".into(), json!(table));
        sys_id
    }

    /// Deletes a record and writes its `sys_audit_delete` row (created `deleted_on`,
    /// `YYYY-MM-DD HH:MM:SS` UTC, or now). Returns whether it existed.
    pub fn delete(&self, table: &str, sys_id: &str, deleted_on: Option<&str>) -> bool {
        let mut inner = self.inner();
        let Some(old) = inner
            .tables
            .get_mut(table)
            .and_then(|rows| rows.remove(sys_id))
        else {
            return false;
        };
        let audit_id = format!("{:032x}", inner.rng.random::<u128>());
        let at = deleted_on.map(str::to_owned).unwrap_or_else(now_text);
        let display = [old.get("first_name"), old.get("last_name")]
            .iter()
            .filter_map(|v| v.and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" ");
        let row = json!({
            "sys_id": audit_id,
            "tablename": table,
            "documentkey": sys_id,
            "display_value": display,
            "payload": format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><record_update table=\"{table}\"><{table} action=\"DELETE\"><sys_id>{sys_id}</sys_id></{table}></record_update>"
            ),
            "sys_created_on": at,
            "sys_created_by": "admin",
            "sys_updated_on": at,
            "sys_updated_by": "admin",
            "sys_mod_count": "0",
            "sys_class_name": AUDIT_DELETE_TABLE,
        });
        if let Value::Object(row) = row {
            inner
                .tables
                .entry(AUDIT_DELETE_TABLE.into())
                .or_default()
                .insert(audit_id, row);
        }
        true
    }

    /// A table's records by sys_id.
    pub fn records(&self, table: &str) -> BTreeMap<String, Record> {
        self.inner().tables.get(table).cloned().unwrap_or_default()
    }

    /// Replaces the fault settings.
    pub fn set_faults(&self, faults: Faults) -> Result<(), String> {
        self.shared.gate.set_faults(faults)
    }

    /// Table API requests answered so far (including refused ones).
    pub fn api_requests(&self) -> u64 {
        self.shared.gate.requests()
    }

    /// The axum app: OAuth, Table API, control API.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/oauth_token.do", post(token))
            .route("/api/now/table/{table}", get(list))
            .route("/api/now/v2/table/{table}", get(list))
            .route("/api/now/table/{table}/{sys_id}", get(one))
            .route("/api/now/v2/table/{table}/{sys_id}", get(one))
            .route("/_emulator/tables/{table}/records", post(control_upsert))
            .route(
                "/_emulator/tables/{table}/records/{sys_id}",
                delete(control_delete),
            )
            .route("/_emulator/faults", put(control_faults))
            .route("/_emulator/stats", get(control_stats))
            .with_state(self.clone())
    }

    /// Auth and faults for one API request: `Some(answer)` refuses it.
    fn gate(&self, headers: &HeaderMap) -> Option<Response> {
        if let Some(status) = self.shared.gate.fault() {
            return Some(sn_error(
                status,
                "Injected fault",
                "the emulator was told to fail this request",
            ));
        }
        let auth = access::authorization(headers);
        let ok = if let Some(b64) = auth.strip_prefix("Basic ") {
            let expected = format!(
                "{}:{}",
                self.shared.config.username, self.shared.config.password
            );
            base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .is_ok_and(|d| d == expected.as_bytes())
        } else if let Some(token) = access::bearer(headers) {
            self.shared.gate.valid(token)
        } else {
            false
        };
        if ok {
            None
        } else {
            Some(sn_error(
                StatusCode::UNAUTHORIZED,
                "User Not Authenticated",
                "Required to provide Auth information",
            ))
        }
    }
}

fn now_text() -> String {
    chrono::Utc::now().format("%Y-%m-%d %H:%M:%S").to_string()
}

fn sn_error(status: StatusCode, message: &str, detail: &str) -> Response {
    (
        status,
        Json(json!({"error": {"message": message, "detail": detail}, "status": "failure"})),
    )
        .into_response()
}

async fn token(State(emu): State<ServiceNowEmulator>, body: String) -> Response {
    let form = access::form(&body);
    let cfg = &emu.shared.config;
    let client_ok = form.get("client_id") == Some(&cfg.client_id)
        && form.get("client_secret") == Some(&cfg.client_secret);
    let grant_ok = match form.get("grant_type").map(String::as_str) {
        Some("password") => {
            form.get("username") == Some(&cfg.username)
                && form.get("password") == Some(&cfg.password)
        }
        Some("client_credentials") => true,
        _ => false,
    };
    if !(client_ok && grant_ok) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error_description": "access_denied", "error": "server_error"})),
        )
            .into_response();
    }
    let token = format!("{:032x}", emu.inner().rng.random::<u128>());
    emu.shared.gate.issue(&token);
    Json(json!({
        "access_token": token,
        "refresh_token": "not-used-by-the-emulator",
        "scope": "useraccount",
        "token_type": "Bearer",
        "expires_in": 1799
    }))
    .into_response()
}

/// One parsed `sysparm_query` term.
enum Term {
    Cmp(String, &'static str, String),
    Order(String, bool),
}

fn parse_query(q: &str) -> Result<Vec<Term>, String> {
    let mut terms = Vec::new();
    for part in q.split('^').filter(|p| !p.is_empty()) {
        if let Some(f) = part.strip_prefix("ORDERBYDESC") {
            terms.push(Term::Order(f.to_owned(), true));
        } else if let Some(f) = part.strip_prefix("ORDERBY") {
            terms.push(Term::Order(f.to_owned(), false));
        } else if part.starts_with("OR") || part.starts_with("NQ") {
            return Err(format!(
                "the emulator does not implement OR / NQ queries ({part:?})"
            ));
        } else {
            let op = [">=", "<=", "!=", ">", "<", "="]
                .into_iter()
                .find(|op| part.contains(op))
                .ok_or_else(|| format!("no operator in query term {part:?}"))?;
            let (field, value) = part.split_once(op).unwrap_or((part, ""));
            terms.push(Term::Cmp(field.to_owned(), op, value.to_owned()));
        }
    }
    Ok(terms)
}

fn field_text<'a>(r: &'a Record, f: &str) -> &'a str {
    r.get(f).and_then(Value::as_str).unwrap_or("")
}

async fn list(
    State(emu): State<ServiceNowEmulator>,
    Path(table): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    if let Some(resp) = emu.gate(&headers) {
        return resp;
    }
    let params = access::form(raw.as_deref().unwrap_or(""));
    let terms = match parse_query(params.get("sysparm_query").map_or("", String::as_str)) {
        Ok(t) => t,
        Err(e) => return sn_error(StatusCode::BAD_REQUEST, "Invalid query", &e),
    };
    let limit: usize = params
        .get("sysparm_limit")
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let offset: usize = params
        .get("sysparm_offset")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let rows = emu.records(&table);
    let known: HashSet<&str> = rows
        .values()
        .flat_map(|r| r.keys().map(String::as_str))
        .collect();
    let mut matched: Vec<&Record> = rows
        .values()
        .filter(|r| {
            terms.iter().all(|t| match t {
                // Unknown fields: ignored, as ServiceNow does by default.
                Term::Cmp(f, _, _) if !known.contains(f.as_str()) => true,
                Term::Cmp(f, op, v) => {
                    let have = field_text(r, f);
                    match *op {
                        "=" => have == v,
                        "!=" => have != v,
                        ">" => have > v.as_str(),
                        ">=" => have >= v.as_str(),
                        "<" => have < v.as_str(),
                        _ => have <= v.as_str(),
                    }
                }
                Term::Order(..) => true,
            })
        })
        .collect();
    let orders: Vec<(&str, bool)> = terms
        .iter()
        .filter_map(|t| match t {
            Term::Order(f, desc) => Some((f.as_str(), *desc)),
            Term::Cmp(..) => None,
        })
        .collect();
    matched.sort_by(|a, b| {
        for (f, desc) in &orders {
            let o = field_text(a, f).cmp(field_text(b, f));
            let o = if *desc { o.reverse() } else { o };
            if o.is_ne() {
                return o;
            }
        }
        std::cmp::Ordering::Equal
    });
    let total = matched.len();
    let fields: Option<Vec<&str>> = params.get("sysparm_fields").map(|f| {
        f.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect()
    });
    let (rows, _) = access::window(total, offset, limit);
    let page: Vec<Value> = matched[rows]
        .iter()
        .map(|r| project(r, fields.as_deref()))
        .collect();
    let mut resp = Json(json!({ "result": page })).into_response();
    let h = resp.headers_mut();
    if params.get("sysparm_no_count").map(String::as_str) != Some("true")
        && let Ok(v) = HeaderValue::from_str(&total.to_string())
    {
        h.insert("X-Total-Count", v);
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1");
    let link = link_header(host, &table, &params, limit, offset, total);
    if let Ok(v) = HeaderValue::from_str(&link) {
        h.insert(header::LINK, v);
    }
    resp
}

/// `<url>;rel="first",<url>;rel="prev",<url>;rel="next",<url>;rel="last"` (prev/next
/// only where they exist), each URL the same request at another offset.
fn link_header(
    host: &str,
    table: &str,
    params: &BTreeMap<String, String>,
    limit: usize,
    offset: usize,
    total: usize,
) -> String {
    let limit = limit.max(1);
    let url_at = |off: usize| {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in params {
            if k != "sysparm_offset" && k != "sysparm_limit" {
                q.append_pair(k, v);
            }
        }
        q.append_pair("sysparm_limit", &limit.to_string());
        q.append_pair("sysparm_offset", &off.to_string());
        format!("<http://{host}/api/now/table/{table}?{}>", q.finish())
    };
    let last = if total == 0 {
        0
    } else {
        (total - 1) / limit * limit
    };
    let mut links = vec![format!("{};rel=\"first\"", url_at(0))];
    if offset > 0 {
        links.push(format!(
            "{};rel=\"prev\"",
            url_at(offset.saturating_sub(limit))
        ));
    }
    if offset + limit < total {
        links.push(format!("{};rel=\"next\"", url_at(offset + limit)));
    }
    links.push(format!("{};rel=\"last\"", url_at(last)));
    links.join(",")
}

fn project(r: &Record, fields: Option<&[&str]>) -> Value {
    match fields {
        None => Value::Object(r.clone()),
        Some(fields) => Value::Object(
            fields
                .iter()
                .filter_map(|f| r.get(*f).map(|v| ((*f).to_owned(), v.clone())))
                .collect(),
        ),
    }
}

async fn one(
    State(emu): State<ServiceNowEmulator>,
    Path((table, sys_id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    if let Some(resp) = emu.gate(&headers) {
        return resp;
    }
    let params = access::form(raw.as_deref().unwrap_or(""));
    let fields: Option<Vec<&str>> = params
        .get("sysparm_fields")
        .map(|f| f.split(',').map(str::trim).collect());
    match emu.records(&table).get(&sys_id) {
        Some(r) => Json(json!({ "result": project(r, fields.as_deref()) })).into_response(),
        None => sn_error(
            StatusCode::NOT_FOUND,
            "No Record found",
            "Record doesn't exist or ACL restricts the record retrieval",
        ),
    }
}

async fn control_upsert(
    State(emu): State<ServiceNowEmulator>,
    Path(table): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    match body {
        Value::Object(fields) => {
            let sys_id = emu.upsert(&table, fields);
            Json(json!({ "sys_id": sys_id })).into_response()
        }
        _ => (StatusCode::BAD_REQUEST, "expected a JSON object of fields").into_response(),
    }
}

async fn control_delete(
    State(emu): State<ServiceNowEmulator>,
    Path((table, sys_id)): Path<(String, String)>,
) -> StatusCode {
    if emu.delete(&table, &sys_id, None) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
}

async fn control_faults(
    State(emu): State<ServiceNowEmulator>,
    Json(faults): Json<Faults>,
) -> Response {
    match emu.set_faults(faults) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, e).into_response(),
    }
}

async fn control_stats(State(emu): State<ServiceNowEmulator>) -> Json<Value> {
    Json(json!({ "apiRequests": emu.api_requests() }))
}
