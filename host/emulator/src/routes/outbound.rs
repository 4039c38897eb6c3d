//! Outbound: contact lists, contacts, DNC lists and campaigns, on their real paths.
//!
//! Contact-write 409 (`dialer_lock_rate`): the real platform documents no such error; users
//! report one. When a write (POST upsert / PUT / DELETE one) touches a contact the simulated
//! dialer holds, it answers 409 `contact.in.use` with probability `dialer_lock_rate`, before
//! anything is applied; the 409 names the contact ids in `details`.

use std::collections::{BTreeMap, BTreeSet};

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use rand::Rng;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{Params, check_paging, json};
use crate::app::AppState;
use crate::error::{ApiError, ApiResult};
use crate::model::{Campaign, Contact, ContactList, DncList, EntityRef, Listing};
use crate::store::{Seen, Store, Stored};

const LISTS: &str = "/api/v2/outbound/contactlists";
const MAX_COLUMNS: usize = 50;
const MAX_PHONE_COLUMNS: usize = 10;
const MAX_COLUMN_NAME: usize = 128;
const MAX_CELL: usize = 512;

fn list_uri(id: &str) -> String {
    format!("{LISTS}/{id}")
}
fn contact_uri(list: &str, id: &str) -> String {
    format!("{LISTS}/{list}/contacts/{id}")
}

fn ok_empty() -> Response {
    StatusCode::OK.into_response()
}

// ---------------------------------------------------------------- contact lists

fn with_size(store: &Store, list: &ContactList, include: bool) -> ContactList {
    let mut l = list.clone();
    l.size = include.then(|| store.contacts.get(&list.id).map_or(0, |m| m.len() as u64));
    l
}

pub(crate) fn get_list<'a>(store: &'a Store, id: &str) -> ApiResult<&'a ContactList> {
    store
        .contact_lists
        .get(id)
        .ok_or_else(|| ApiError::not_found("contact list", id))
}

fn validate_columns(list: &ContactList) -> ApiResult<()> {
    if list.name.trim().is_empty() {
        return Err(ApiError::invalid_value(
            "name",
            "contact list: name is required",
        ));
    }
    if list.column_names.is_empty() {
        return Err(ApiError::invalid_value(
            "columnNames",
            format!("contact list '{}': columnNames is required", list.name),
        ));
    }
    if list.column_names.len() > MAX_COLUMNS {
        return Err(ApiError::invalid_value(
            "columnNames",
            format!(
                "contact list '{}': {} columns exceed the maximum of {MAX_COLUMNS}",
                list.name,
                list.column_names.len()
            ),
        ));
    }
    let mut seen = BTreeSet::new();
    for c in &list.column_names {
        if c.is_empty() || c.chars().count() > MAX_COLUMN_NAME {
            return Err(ApiError::invalid_value(
                "columnNames",
                format!(
                    "contact list '{}': column name '{c}' must be 1–{MAX_COLUMN_NAME} characters",
                    list.name
                ),
            ));
        }
        if !seen.insert(c.to_lowercase()) {
            return Err(ApiError::invalid_value(
                "columnNames",
                format!("contact list '{}': duplicate column '{c}'", list.name),
            ));
        }
    }
    if list.phone_columns.is_empty() {
        return Err(ApiError::invalid_value(
            "phoneColumns",
            format!("contact list '{}': phoneColumns is required", list.name),
        ));
    }
    if list.phone_columns.len() > MAX_PHONE_COLUMNS {
        return Err(ApiError::invalid_value(
            "phoneColumns",
            format!(
                "contact list '{}': more than {MAX_PHONE_COLUMNS} phone columns",
                list.name
            ),
        ));
    }
    for p in &list.phone_columns {
        if !list.column_names.contains(&p.column_name) {
            return Err(ApiError::invalid_value(
                "phoneColumns",
                format!(
                    "contact list '{}': phone column '{}' is not one of columnNames",
                    list.name, p.column_name
                ),
            ));
        }
    }
    Ok(())
}

/// `GET /api/v2/outbound/contactlists`.
pub(crate) async fn list_lists(
    State(sh): State<AppState>,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Listing<ContactList>>> {
    let q = Params::parse(q);
    let (size, number) = q.paging(100)?;
    let include = q.flag("includeSize")?;
    let name = q.get("name").map(str::to_lowercase);
    let store = sh.store();
    let all: Vec<ContactList> = store
        .contact_lists
        .values()
        .filter(|l| {
            name.as_ref()
                .is_none_or(|n| l.name.to_lowercase().contains(n))
        })
        .map(|l| with_size(&store, l, include))
        .collect();
    Ok(Json(Listing::page(&all, size, number, LISTS)))
}

/// `POST /api/v2/outbound/contactlists`.
pub(crate) async fn create_list(
    State(sh): State<AppState>,
    body: Bytes,
) -> ApiResult<Json<ContactList>> {
    let mut list: ContactList = json(&body, "ContactList")?;
    validate_columns(&list)?;
    let mut store = sh.store();
    if store.contact_lists.values().any(|l| l.name == list.name) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "name.already.exists",
            format!("A contact list named '{}' already exists", list.name),
        ));
    }
    if list.id.is_empty() || store.contact_lists.contains_key(&list.id) {
        list.id = store.new_id();
    }
    let now = Utc::now();
    list.version = 1;
    list.date_created = Some(now);
    list.date_modified = Some(now);
    list.size = None;
    list.self_uri = Some(list_uri(&list.id));
    store.contacts.insert(list.id.clone(), BTreeMap::new());
    store.contact_lists.insert(list.id.clone(), list.clone());
    Ok(Json(list))
}

/// `GET /api/v2/outbound/contactlists/{contactListId}`.
pub(crate) async fn get_list_h(
    State(sh): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<ContactList>> {
    let include = Params::parse(q).flag("includeSize")?;
    let store = sh.store();
    let list = get_list(&store, &id)?;
    Ok(Json(with_size(&store, list, include)))
}

/// `PUT /api/v2/outbound/contactlists/{contactListId}` (version-locked; columns immutable).
pub(crate) async fn put_list(
    State(sh): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<ContactList>> {
    let raw: Value = json(&body, "ContactList")?;
    let Some(version) = raw.get("version").and_then(Value::as_i64) else {
        return Err(ApiError::invalid_value(
            "version",
            format!("contact list '{id}': version is required for updates"),
        ));
    };
    let mut list: ContactList = serde_json::from_value(raw)
        .map_err(|e| ApiError::bad_request(format!("ContactList: {e}")))?;
    let mut store = sh.store();
    let current = get_list(&store, &id)?.clone();
    if version != current.version {
        return Err(ApiError::version_conflict(
            "contact list",
            &id,
            version,
            current.version,
        ));
    }
    if list.column_names != current.column_names || list.phone_columns != current.phone_columns {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "cannot.update.phone.columns",
            format!(
                "contact list '{id}': columns and phone columns cannot be changed after creation"
            ),
        ));
    }
    validate_columns(&list)?;
    list.id = id.clone();
    list.version = current.version + 1;
    list.date_created = current.date_created;
    list.date_modified = Some(Utc::now());
    list.size = None;
    list.self_uri = Some(list_uri(&id));
    store.contact_lists.insert(id, list.clone());
    Ok(Json(list))
}

/// `DELETE /api/v2/outbound/contactlists/{contactListId}` (refused while a campaign uses it).
pub(crate) async fn delete_list(
    State(sh): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let mut store = sh.store();
    get_list(&store, &id)?;
    if let Some(c) = store
        .campaigns
        .values()
        .find(|c| c.contact_list.as_ref().is_some_and(|r| r.id == id))
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "contact.list.in.use",
            format!(
                "contact list '{id}' is used by campaign '{}' ({})",
                c.name, c.id
            ),
        ));
    }
    store.contact_lists.remove(&id);
    store.contacts.remove(&id);
    Ok(ok_empty())
}

// ---------------------------------------------------------------- contacts

/// Checks one contact's `data` against the list; `at` names it in errors.
fn validate_data(list: &ContactList, data: &Map<String, Value>, at: &str) -> ApiResult<()> {
    for (k, v) in data {
        if !list.column_names.contains(k) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid.property",
                format!(
                    "{at}: data column '{k}' is not a column of contact list '{}' (columns: {})",
                    list.id,
                    list.column_names.join(", ")
                ),
            )
            .with_detail("invalid.property", Some(format!("{at}.data.{k}")), None));
        }
        let Some(s) = v.as_str() else {
            return Err(ApiError::invalid_value(
                format!("{at}.data.{k}"),
                format!("{at}: data column '{k}' must be a string, got {v}"),
            ));
        };
        if s.chars().count() > MAX_CELL {
            return Err(ApiError::invalid_value(
                format!("{at}.data.{k}"),
                format!("{at}: value of column '{k}' is longer than {MAX_CELL} characters"),
            ));
        }
    }
    Ok(())
}

fn locked(sh: &AppState, store: &Store, list_id: &str, ids: &[&str]) -> ApiResult<()> {
    let rate = sh.config().dialer_lock_rate;
    if rate <= 0.0 {
        return Ok(());
    }
    let busy: Vec<&str> = ids
        .iter()
        .copied()
        .filter(|id| store.is_in_use(list_id, id))
        .collect();
    if busy.is_empty() {
        return Ok(());
    }
    let roll: f64 = sh.faults.lock().unwrap_or_else(|e| e.into_inner()).random();
    if roll >= rate {
        return Ok(());
    }
    let mut e = ApiError::new(
        StatusCode::CONFLICT,
        "contact.in.use",
        format!(
            "Contact is currently being processed by the dialer: {}",
            busy.join(", ")
        ),
    );
    for id in busy {
        e = e.with_detail("contact.in.use", None, Some(id.to_string()));
    }
    Err(e)
}

fn default_phone_status(list: &ContactList, data: &Map<String, Value>) -> BTreeMap<String, Value> {
    list.phone_columns
        .iter()
        .filter(|p| {
            data.get(&p.column_name)
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty())
        })
        .map(|p| (p.column_name.clone(), json!({"callable": true})))
        .collect()
}

/// `POST /api/v2/outbound/contactlists/{contactListId}/contacts`: add-or-update by id.
pub(crate) async fn add_contacts(
    State(sh): State<AppState>,
    Path(list_id): Path<String>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> ApiResult<Json<Vec<Contact>>> {
    let q = Params::parse(q);
    let priority = q.flag("priority")?;
    let clear = q.flag("clearSystemData")?;
    let do_not_queue = q.flag("doNotQueue")?;
    let items: Vec<Value> = json(&body, "WritableDialerContact[]")?;
    let cfg = sh.config();
    let max = cfg.max_contacts_per_call;
    if items.len() > max {
        return Err(ApiError::invalid_value(
            "body",
            format!(
                "{} contacts in one request exceed the maximum of {max} per call",
                items.len()
            ),
        ));
    }
    if items.is_empty() {
        return Err(ApiError::invalid_value(
            "body",
            "at least one contact is required",
        ));
    }
    let mut store = sh.store();
    let list = get_list(&store, &list_id)?.clone();
    // Validate everything before changing anything.
    let mut parsed = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let at = match item.get("id").and_then(Value::as_str) {
            Some(id) => format!("contact[{i}] (id '{id}')"),
            None => format!("contact[{i}]"),
        };
        let Some(cl) = item.get("contactListId").and_then(Value::as_str) else {
            return Err(ApiError::invalid_value(
                format!("[{i}].contactListId"),
                format!("{at}: contactListId is required"),
            ));
        };
        if cl != list_id {
            return Err(ApiError::invalid_value(
                format!("[{i}].contactListId"),
                format!(
                    "{at}: contactListId '{cl}' does not match the contact list in the path '{list_id}'"
                ),
            ));
        }
        if !item.get("data").is_some_and(Value::is_object) {
            return Err(ApiError::invalid_value(
                format!("[{i}].data"),
                format!("{at}: data is required and must be an object"),
            ));
        }
        let callable_given = item.get("callable").and_then(Value::as_bool);
        let c: Contact = serde_json::from_value(item)
            .map_err(|e| ApiError::bad_request(format!("{at}: {e}")))?;
        validate_data(&list, &c.data, &at)?;
        parsed.push((c, callable_given));
    }
    let ids: Vec<&str> = parsed
        .iter()
        .map(|(c, _)| c.id.as_str())
        .filter(|id| !id.is_empty())
        .collect();
    locked(&sh, &store, &list_id, &ids)?;
    let now = Utc::now();
    let mut out = Vec::with_capacity(parsed.len());
    for (mut c, callable_given) in parsed {
        if c.id.is_empty() {
            c.id = store.new_id();
        }
        let existing = store
            .contacts
            .get(&list_id)
            .and_then(|m| m.get(&c.id))
            .cloned();
        let before = existing.as_ref().map(|s| s.contact.clone());
        store.note_write(&list_id, &c.id, before, &cfg.consistency_delay);
        let stored = match existing {
            Some(old) => {
                let mut n = old.contact.clone();
                n.data = c.data;
                if clear {
                    n.call_records.clear();
                    n.callable = true;
                    n.phone_number_status = default_phone_status(&list, &n.data);
                    n.contactable_status.clear();
                }
                if let Some(callable) = callable_given {
                    n.callable = callable;
                }
                if !c.phone_number_status.is_empty() {
                    n.phone_number_status = c.phone_number_status;
                }
                if !c.contactable_status.is_empty() {
                    n.contactable_status = c.contactable_status;
                }
                n.extra.extend(c.extra);
                if !do_not_queue {
                    n.configuration_overrides = Some(json!({"priority": priority}));
                }
                Stored {
                    seq: old.seq,
                    contact: n,
                }
            }
            None => {
                if c.phone_number_status.is_empty() {
                    c.phone_number_status = default_phone_status(&list, &c.data);
                }
                c.contact_list_id = list_id.clone();
                c.call_records.clear();
                c.date_created = Some(now);
                c.self_uri = Some(contact_uri(&list_id, &c.id));
                c.configuration_overrides = Some(json!({"priority": priority}));
                let seq = store.next_seq();
                Stored { seq, contact: c }
            }
        };
        out.push(stored.contact.clone());
        store
            .contacts
            .entry(list_id.clone())
            .or_default()
            .insert(stored.contact.id.clone(), stored);
    }
    Ok(Json(out))
}

fn get_stored<'a>(store: &'a Store, list_id: &str, id: &str) -> ApiResult<&'a Stored> {
    get_list(store, list_id)?;
    store
        .contacts
        .get(list_id)
        .and_then(|m| m.get(id))
        .ok_or_else(|| ApiError::not_found("contact", id))
}

/// `GET .../contacts/{contactId}` (under eventual consistency, the state before a write
/// still propagating).
pub(crate) async fn get_contact(
    State(sh): State<AppState>,
    Path((list_id, id)): Path<(String, String)>,
) -> ApiResult<Json<Contact>> {
    let store = sh.store();
    get_list(&store, &list_id)?;
    match store.seen(&list_id, &id) {
        Seen::Stale(Some(before)) => Ok(Json(before.clone())),
        Seen::Stale(None) => Err(ApiError::not_found("contact", &id)),
        Seen::Current => Ok(Json(get_stored(&store, &list_id, &id)?.contact.clone())),
    }
}

/// `PUT .../contacts/{contactId}`: replaces the contact (no version).
pub(crate) async fn put_contact(
    State(sh): State<AppState>,
    Path((list_id, id)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Json<Contact>> {
    let c: Contact = json(&body, "DialerContact")?;
    let at = format!("contact '{id}'");
    if !c.id.is_empty() && c.id != id {
        return Err(ApiError::invalid_value(
            "id",
            format!("{at}: body id '{}' does not match the path", c.id),
        ));
    }
    if !c.contact_list_id.is_empty() && c.contact_list_id != list_id {
        return Err(ApiError::invalid_value(
            "contactListId",
            format!(
                "{at}: contactListId '{}' does not match the path",
                c.contact_list_id
            ),
        ));
    }
    let delay = sh.config().consistency_delay;
    let mut store = sh.store();
    let list = get_list(&store, &list_id)?.clone();
    let old = get_stored(&store, &list_id, &id)?.clone();
    validate_data(&list, &c.data, &at)?;
    locked(&sh, &store, &list_id, &[id.as_str()])?;
    store.note_write(&list_id, &id, Some(old.contact.clone()), &delay);
    let mut n = c;
    n.id = id.clone();
    n.contact_list_id = list_id.clone();
    n.date_created = old.contact.date_created;
    n.self_uri = Some(contact_uri(&list_id, &id));
    if n.phone_number_status.is_empty() {
        n.phone_number_status = old.contact.phone_number_status.clone();
    }
    if n.call_records.is_empty() {
        n.call_records = old.contact.call_records.clone();
    }
    store.contacts.entry(list_id).or_default().insert(
        id,
        Stored {
            seq: old.seq,
            contact: n.clone(),
        },
    );
    Ok(Json(n))
}

/// `DELETE .../contacts/{contactId}`.
pub(crate) async fn delete_contact(
    State(sh): State<AppState>,
    Path((list_id, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let delay = sh.config().consistency_delay;
    let mut store = sh.store();
    let old = get_stored(&store, &list_id, &id)?.contact.clone();
    locked(&sh, &store, &list_id, &[id.as_str()])?;
    store.note_write(&list_id, &id, Some(old), &delay);
    if let Some(m) = store.contacts.get_mut(&list_id) {
        m.remove(&id);
    }
    Ok(ok_empty())
}

/// `DELETE .../contacts?contactIds=a&contactIds=b`: deletes the ones not in use (silently
/// skipping contacts the dialer holds, and unknown ids).
pub(crate) async fn delete_contacts(
    State(sh): State<AppState>,
    Path(list_id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let ids = Params::parse(q).all("contactIds");
    if ids.is_empty() {
        return Err(ApiError::invalid_value(
            "contactIds",
            "query parameter contactIds is required",
        ));
    }
    let delay = sh.config().consistency_delay;
    let mut store = sh.store();
    get_list(&store, &list_id)?;
    let busy = store.in_use_of_list(&list_id);
    for id in ids.iter().filter(|id| !busy.contains(*id)) {
        let removed = store.contacts.get_mut(&list_id).and_then(|m| m.remove(id));
        if let Some(old) = removed {
            store.note_write(&list_id, id, Some(old.contact), &delay);
        }
    }
    Ok(ok_empty())
}

/// `POST .../contacts/bulk`: get by ids (unknown ids omitted).
pub(crate) async fn bulk_get(
    State(sh): State<AppState>,
    Path(list_id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Vec<Contact>>> {
    let ids: Vec<String> = json(&body, "string[] contact ids")?;
    let store = sh.store();
    get_list(&store, &list_id)?;
    let m = store.contacts.get(&list_id);
    Ok(Json(
        ids.iter()
            .filter_map(|id| match store.seen(&list_id, id) {
                Seen::Stale(before) => before.cloned(),
                Seen::Current => m.and_then(|m| m.get(id)).map(|s| s.contact.clone()),
            })
            .collect(),
    ))
}

/// `ContactListingRequest`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ListingRequest {
    #[serde(default)]
    criteria: Option<Criteria>,
    #[serde(default)]
    page_number: Option<usize>,
    #[serde(default)]
    page_size: Option<usize>,
    #[serde(default)]
    contact_sorts: Vec<Sort>,
}

/// `ContactBulkSearchCriteria`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Criteria {
    #[serde(default)]
    clauses: Vec<Clause>,
    #[serde(default)]
    filter_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Clause {
    #[serde(default)]
    filter_type: Option<String>,
    #[serde(default)]
    predicates: Vec<Predicate>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Predicate {
    column: String,
    #[serde(default)]
    column_type: Option<String>,
    operator: String,
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    range: Option<FilterRange>,
    #[serde(default)]
    inverted: bool,
}

/// `ContactListFilterRange` ("required for operators BETWEEN and IN").
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct FilterRange {
    #[serde(default)]
    min: Option<String>,
    #[serde(default)]
    max: Option<String>,
    #[serde(default)]
    min_inclusive: bool,
    #[serde(default)]
    max_inclusive: bool,
    #[serde(default)]
    in_set: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Sort {
    field_name: String,
    #[serde(default)]
    direction: Option<String>,
    #[serde(default)]
    numeric: bool,
}

fn eval(p: &Predicate, c: &Contact) -> ApiResult<bool> {
    let cell = c.data.get(&p.column).and_then(Value::as_str).unwrap_or("");
    let v = p.value.as_deref().unwrap_or("");
    let numeric = p.column_type.as_deref() == Some("numeric");
    let cmp = || -> Option<std::cmp::Ordering> {
        if numeric {
            cell.parse::<f64>()
                .ok()?
                .partial_cmp(&v.parse::<f64>().ok()?)
        } else {
            Some(cell.cmp(v))
        }
    };
    use std::cmp::Ordering::*;
    let r = match p.operator.as_str() {
        "EQUALS" => cell == v,
        "CONTAINS" => cell.contains(v),
        "BEGINS_WITH" => cell.starts_with(v),
        "ENDS_WITH" => cell.ends_with(v),
        "IN" => match p.range.as_ref().filter(|r| !r.in_set.is_empty()) {
            Some(r) => r.in_set.iter().any(|x| x == cell),
            None => v.split(',').any(|x| x.trim() == cell),
        },
        "BETWEEN" => {
            let r = p.range.as_ref().ok_or_else(|| {
                ApiError::invalid_value(
                    "criteria.clauses.predicates.range",
                    "operator BETWEEN needs a range",
                )
            })?;
            let bound = |b: &Option<String>, inclusive: bool, below: bool| match b {
                None => true,
                Some(b) => {
                    let o = if numeric {
                        cell.parse::<f64>()
                            .ok()
                            .zip(b.parse::<f64>().ok())
                            .and_then(|(c, b)| c.partial_cmp(&b))
                    } else {
                        Some(cell.cmp(b.as_str()))
                    };
                    match (o, below) {
                        (Some(Equal), _) => inclusive,
                        (Some(Greater), false) | (Some(Less), true) => true,
                        _ => false,
                    }
                }
            };
            bound(&r.min, r.min_inclusive, false) && bound(&r.max, r.max_inclusive, true)
        }
        "LESS_THAN" => cmp() == Some(Less),
        "LESS_THAN_EQUALS" => matches!(cmp(), Some(Less | Equal)),
        "GREATER_THAN" => cmp() == Some(Greater),
        "GREATER_THAN_EQUALS" => matches!(cmp(), Some(Greater | Equal)),
        other => {
            return Err(ApiError::invalid_value(
                "criteria.clauses.predicates.operator",
                format!("operator '{other}' is not supported by the emulator's contact search"),
            ));
        }
    };
    Ok(r != p.inverted)
}

/// Whether contact `c` meets `criteria`.
pub(crate) fn matches(criteria: &Criteria, c: &Contact) -> ApiResult<bool> {
    let mut results = Vec::new();
    for clause in &criteria.clauses {
        let mut rs = Vec::new();
        for p in &clause.predicates {
            rs.push(eval(p, c)?);
        }
        results.push(if clause.filter_type.as_deref() == Some("OR") {
            rs.iter().any(|x| *x)
        } else {
            rs.iter().all(|x| *x)
        });
    }
    Ok(if criteria.filter_type.as_deref() == Some("OR") {
        results.iter().any(|x| *x)
    } else {
        results.iter().all(|x| *x)
    })
}

/// Checks that every predicate of `criteria` names a column of the list.
pub(crate) fn check_columns(store: &Store, list_id: &str, criteria: &Criteria) -> ApiResult<()> {
    let list = get_list(store, list_id)?;
    for p in criteria.clauses.iter().flat_map(|c| &c.predicates) {
        if !list.column_names.contains(&p.column) {
            return Err(ApiError::invalid_value(
                "criteria",
                format!(
                    "search predicate column '{}' is not a column of the list",
                    p.column
                ),
            ));
        }
    }
    Ok(())
}

/// `POST .../contacts/search` → `ContactListingResponse`.
pub(crate) async fn search(
    State(sh): State<AppState>,
    Path(list_id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let req: ListingRequest = if body.is_empty() {
        ListingRequest::default()
    } else {
        json(&body, "ContactListingRequest")?
    };
    let size = req.page_size.unwrap_or(25);
    let number = req.page_number.unwrap_or(1);
    check_paging(size, number, 100)?;
    if let Some(c) = &req.criteria {
        check_columns(&sh.store(), &list_id, c)?;
    }
    let store = sh.store();
    get_list(&store, &list_id)?;
    let mut all: Vec<&Stored> = store
        .contacts
        .get(&list_id)
        .into_iter()
        .flat_map(|m| m.values())
        .collect();
    all.sort_by_key(|s| s.seq);
    let mut hits = Vec::new();
    for s in all {
        if let Some(c) = &req.criteria
            && !matches(c, &s.contact)?
        {
            continue;
        }
        hits.push(s.contact.clone());
    }
    for sort in req.contact_sorts.iter().rev() {
        let desc = sort.direction.as_deref() == Some("DESC");
        hits.sort_by(|a, b| {
            let (x, y) = (
                a.data
                    .get(&sort.field_name)
                    .and_then(Value::as_str)
                    .unwrap_or(""),
                b.data
                    .get(&sort.field_name)
                    .and_then(Value::as_str)
                    .unwrap_or(""),
            );
            let o = if sort.numeric {
                x.parse::<f64>()
                    .unwrap_or(f64::MIN)
                    .total_cmp(&y.parse::<f64>().unwrap_or(f64::MIN))
            } else {
                x.cmp(y)
            };
            if desc { o.reverse() } else { o }
        });
    }
    let page = Listing::page(
        &hits,
        size,
        number,
        &format!("{LISTS}/{list_id}/contacts/search"),
    );
    let mut v = serde_json::to_value(&page).map_err(|e| ApiError::bad_request(e.to_string()))?;
    v["contactsCount"] = json!(page.total);
    Ok(Json(v))
}

/// `POST .../clear`: deletes every contact of the list.
pub(crate) async fn clear(
    State(sh): State<AppState>,
    Path(list_id): Path<String>,
) -> ApiResult<Response> {
    let mut store = sh.store();
    get_list(&store, &list_id)?;
    store.contacts.insert(list_id, BTreeMap::new());
    Ok(ok_empty())
}

// ---------------------------------------------------------------- DNC lists

const DNC: &str = "/api/v2/outbound/dnclists";

fn get_dnc<'a>(store: &'a Store, id: &str) -> ApiResult<&'a DncList> {
    store
        .dnc_lists
        .get(id)
        .ok_or_else(|| ApiError::not_found("DNC list", id))
}

fn dnc_with_size(store: &Store, d: &DncList, include: bool) -> DncList {
    let mut d = d.clone();
    d.size = include.then(|| store.dnc_numbers.get(&d.id).map_or(0, |m| m.len() as u64));
    d
}

/// `GET /api/v2/outbound/dnclists`.
pub(crate) async fn list_dnc(
    State(sh): State<AppState>,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Listing<DncList>>> {
    let q = Params::parse(q);
    let (size, number) = q.paging(100)?;
    let include = q.flag("includeSize")?;
    let store = sh.store();
    let all: Vec<DncList> = store
        .dnc_lists
        .values()
        .map(|d| dnc_with_size(&store, d, include))
        .collect();
    Ok(Json(Listing::page(&all, size, number, DNC)))
}

/// `POST /api/v2/outbound/dnclists`.
pub(crate) async fn create_dnc(
    State(sh): State<AppState>,
    body: Bytes,
) -> ApiResult<Json<DncList>> {
    let mut d: DncList = json(&body, "DncListCreate")?;
    if d.name.trim().is_empty() {
        return Err(ApiError::invalid_value(
            "name",
            "DNC list: name is required",
        ));
    }
    let mut store = sh.store();
    if d.id.is_empty() || store.dnc_lists.contains_key(&d.id) {
        d.id = store.new_id();
    }
    d.version = 1;
    d.date_created = Some(Utc::now());
    d.size = None;
    d.self_uri = Some(format!("{DNC}/{}", d.id));
    store.dnc_numbers.insert(d.id.clone(), BTreeMap::new());
    store.dnc_lists.insert(d.id.clone(), d.clone());
    Ok(Json(d))
}

/// `GET /api/v2/outbound/dnclists/{dncListId}`.
pub(crate) async fn get_dnc_h(
    State(sh): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<DncList>> {
    let include = Params::parse(q).flag("includeSize")?;
    let store = sh.store();
    let d = get_dnc(&store, &id)?;
    Ok(Json(dnc_with_size(&store, d, include)))
}

fn dnc_writable(d: &DncList) -> ApiResult<()> {
    if d.dnc_source_type == "rds" || d.dnc_source_type == "rds_custom" {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "DNC list '{}' ({}) is an external lookup list; numbers cannot be written",
            d.id, d.dnc_source_type
        )))
    }
}

fn parse_expiry(v: Option<&str>) -> ApiResult<Option<DateTime<Utc>>> {
    let Some(v) = v else { return Ok(None) };
    DateTime::parse_from_rfc3339(v)
        .or_else(|_| DateTime::parse_from_str(v, "%Y-%m-%dT%H:%M%#z"))
        .map(|d| Some(d.with_timezone(&Utc)))
        .map_err(|_| {
            ApiError::invalid_value(
                "expirationDateTime",
                format!("expirationDateTime '{v}' is not yyyy-MM-ddTHH:mmZ"),
            )
        })
}

fn check_numbers(numbers: &[String]) -> ApiResult<()> {
    if numbers.is_empty() {
        return Err(ApiError::invalid_value(
            "phoneNumbers",
            "at least one phone number is required",
        ));
    }
    if let Some((i, n)) = numbers
        .iter()
        .enumerate()
        .find(|(_, n)| n.trim().is_empty() || n.len() > 32)
    {
        return Err(ApiError::invalid_value(
            format!("phoneNumbers[{i}]"),
            format!("phone number '{n}' is not valid"),
        ));
    }
    Ok(())
}

/// `POST /api/v2/outbound/dnclists/{dncListId}/phonenumbers` (`string[]`).
pub(crate) async fn dnc_post(
    State(sh): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> ApiResult<Response> {
    let numbers: Vec<String> = json(&body, "string[] phone numbers")?;
    check_numbers(&numbers)?;
    let expiry = parse_expiry(Params::parse(q).get("expirationDateTime"))?;
    let mut store = sh.store();
    dnc_writable(get_dnc(&store, &id)?)?;
    let m = store.dnc_numbers.entry(id).or_default();
    for n in numbers {
        m.insert(n, expiry);
    }
    Ok(ok_empty())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DncPatch {
    action: String,
    phone_numbers: Vec<String>,
    #[serde(default)]
    expiration_date_time: Option<String>,
}

/// `PATCH /api/v2/outbound/dnclists/{dncListId}/phonenumbers` (`{action: Add|Remove}`).
pub(crate) async fn dnc_patch(
    State(sh): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let p: DncPatch = json(&body, "DncPatchPhoneNumbersRequest")?;
    check_numbers(&p.phone_numbers)?;
    let expiry = parse_expiry(p.expiration_date_time.as_deref())?;
    let mut store = sh.store();
    dnc_writable(get_dnc(&store, &id)?)?;
    let m = store.dnc_numbers.entry(id).or_default();
    match p.action.as_str() {
        "Add" => {
            for n in p.phone_numbers {
                m.insert(n, expiry);
            }
        }
        "Remove" => {
            for n in &p.phone_numbers {
                m.remove(n);
            }
        }
        other => {
            return Err(ApiError::invalid_value(
                "action",
                format!("action '{other}' must be Add or Remove"),
            ));
        }
    }
    Ok(ok_empty())
}

/// `DELETE /api/v2/outbound/dnclists/{dncListId}/phonenumbers[?expiredOnly=true]`.
pub(crate) async fn dnc_delete(
    State(sh): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let expired_only = Params::parse(q).flag("expiredOnly")?;
    let mut store = sh.store();
    dnc_writable(get_dnc(&store, &id)?)?;
    let now = Utc::now();
    let m = store.dnc_numbers.entry(id).or_default();
    if expired_only {
        m.retain(|_, exp| exp.is_none_or(|e| e > now));
    } else {
        m.clear();
    }
    Ok(ok_empty())
}

// ---------------------------------------------------------------- campaigns

const CAMPAIGNS: &str = "/api/v2/outbound/campaigns";
const STATUSES: [&str; 7] = [
    "on",
    "stopping",
    "off",
    "complete",
    "invalid",
    "forced_off",
    "forced_stopping",
];

fn get_campaign<'a>(store: &'a Store, id: &str) -> ApiResult<&'a Campaign> {
    store
        .campaigns
        .get(id)
        .ok_or_else(|| ApiError::not_found("campaign", id))
}

fn check_campaign(store: &Store, c: &mut Campaign) -> ApiResult<()> {
    if c.name.trim().is_empty() {
        return Err(ApiError::invalid_value(
            "name",
            "campaign: name is required",
        ));
    }
    let Some(list) = c.contact_list.as_mut() else {
        return Err(ApiError::invalid_value(
            "contactList",
            format!("campaign '{}': contactList is required", c.name),
        ));
    };
    let Some(l) = store.contact_lists.get(&list.id) else {
        return Err(ApiError::invalid_value(
            "contactList",
            format!(
                "campaign '{}': contact list '{}' does not exist",
                c.name, list.id
            ),
        ));
    };
    list.name = Some(l.name.clone());
    list.self_uri = Some(list_uri(&l.id));
    for d in &c.dnc_lists {
        if !store.dnc_lists.contains_key(&d.id) {
            return Err(ApiError::invalid_value(
                "dncLists",
                format!("campaign '{}': DNC list '{}' does not exist", c.name, d.id),
            ));
        }
    }
    if let Some(s) = &c.campaign_status
        && !STATUSES.contains(&s.as_str())
    {
        return Err(ApiError::invalid_value(
            "campaignStatus",
            format!("campaign '{}': campaignStatus '{s}' is not valid", c.name),
        ));
    }
    Ok(())
}

/// `GET /api/v2/outbound/campaigns`.
pub(crate) async fn list_campaigns(
    State(sh): State<AppState>,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Listing<Campaign>>> {
    let q = Params::parse(q);
    let (size, number) = q.paging(100)?;
    let list_filter = q.get("contactListId").map(str::to_string);
    let store = sh.store();
    let all: Vec<Campaign> = store
        .campaigns
        .values()
        .filter(|c| {
            list_filter
                .as_ref()
                .is_none_or(|l| c.contact_list.as_ref().is_some_and(|r| &r.id == l))
        })
        .cloned()
        .collect();
    Ok(Json(Listing::page(&all, size, number, CAMPAIGNS)))
}

/// `POST /api/v2/outbound/campaigns`.
pub(crate) async fn create_campaign(
    State(sh): State<AppState>,
    body: Bytes,
) -> ApiResult<Json<Campaign>> {
    let mut c: Campaign = json(&body, "Campaign")?;
    let mut store = sh.store();
    check_campaign(&store, &mut c)?;
    if c.id.is_empty() || store.campaigns.contains_key(&c.id) {
        c.id = store.new_id();
    }
    c.version = 1;
    c.campaign_status.get_or_insert_with(|| "off".into());
    c.self_uri = Some(format!("{CAMPAIGNS}/{}", c.id));
    store.campaigns.insert(c.id.clone(), c.clone());
    Ok(Json(c))
}

/// `GET /api/v2/outbound/campaigns/{campaignId}`.
pub(crate) async fn get_campaign_h(
    State(sh): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Campaign>> {
    Ok(Json(get_campaign(&sh.store(), &id)?.clone()))
}

/// `PUT /api/v2/outbound/campaigns/{campaignId}` (version + campaignStatus required).
pub(crate) async fn put_campaign(
    State(sh): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Campaign>> {
    let raw: Value = json(&body, "Campaign")?;
    let Some(version) = raw.get("version").and_then(Value::as_i64) else {
        return Err(ApiError::invalid_value(
            "version",
            format!("campaign '{id}': version is required for updates"),
        ));
    };
    if raw.get("campaignStatus").is_none() {
        return Err(ApiError::invalid_value(
            "campaignStatus",
            format!("campaign '{id}': campaignStatus is required for updates"),
        ));
    }
    let mut c: Campaign =
        serde_json::from_value(raw).map_err(|e| ApiError::bad_request(format!("Campaign: {e}")))?;
    let mut store = sh.store();
    let current = get_campaign(&store, &id)?.clone();
    if version != current.version {
        return Err(ApiError::version_conflict(
            "campaign",
            &id,
            version,
            current.version,
        ));
    }
    check_campaign(&store, &mut c)?;
    c.id = id.clone();
    c.version = current.version + 1;
    c.self_uri = current.self_uri;
    store.campaigns.insert(id, c.clone());
    Ok(Json(c))
}

/// `PATCH /api/v2/outbound/campaigns/{campaignId}` (`CampaignPatchRequest`, no version).
pub(crate) async fn patch_campaign(
    State(sh): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let patch: Map<String, Value> = json(&body, "CampaignPatchRequest")?;
    const ALLOWED: [&str; 5] = [
        "outboundLineCount",
        "abandonRate",
        "maxCallsPerAgent",
        "dynamicLineBalancingSettings",
        "queue",
    ];
    if let Some(k) = patch.keys().find(|k| !ALLOWED.contains(&k.as_str())) {
        return Err(ApiError::invalid_value(
            k.clone(),
            format!(
                "campaign '{id}': '{k}' cannot be patched (allowed: {})",
                ALLOWED.join(", ")
            ),
        ));
    }
    let mut store = sh.store();
    get_campaign(&store, &id)?;
    let c = store
        .campaigns
        .get_mut(&id)
        .ok_or_else(|| ApiError::not_found("campaign", &id))?;
    for (k, v) in patch {
        if k == "outboundLineCount" {
            let n = v.as_u64().ok_or_else(|| {
                ApiError::invalid_value(
                    "outboundLineCount",
                    "outboundLineCount must be a positive integer",
                )
            })?;
            c.outbound_line_count = Some(n as u32);
        } else {
            c.extra.insert(k, v);
        }
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /api/v2/outbound/campaigns/{campaignId}` → the deleted campaign.
pub(crate) async fn delete_campaign(
    State(sh): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Campaign>> {
    let mut store = sh.store();
    let c = get_campaign(&store, &id)?.clone();
    if c.campaign_status.as_deref() == Some("on") {
        return Err(ApiError::bad_request(format!(
            "campaign '{id}' is running; turn it off before deleting it"
        )));
    }
    store.campaigns.remove(&id);
    store.in_use.remove(&id);
    store.dialed.remove(&id);
    Ok(Json(c))
}

/// `GET /api/v2/outbound/campaigns/{campaignId}/progress`.
pub(crate) async fn progress(
    State(sh): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let store = sh.store();
    let c = get_campaign(&store, &id)?;
    let list = c.contact_list.clone().unwrap_or_default();
    let total = store.contacts.get(&list.id).map_or(0, |m| m.len());
    let called = store.dialed.get(&id).map_or(0, |s| {
        s.iter()
            .filter(|cid| {
                store
                    .contacts
                    .get(&list.id)
                    .is_some_and(|m| m.contains_key(*cid))
            })
            .count()
    });
    let pct = (called * 100).checked_div(total).unwrap_or(0);
    Ok(Json(json!({
        "campaign": EntityRef { id: c.id.clone(), name: Some(c.name.clone()), self_uri: c.self_uri.clone() },
        "contactList": list,
        "numberOfContactsCalled": called,
        "numberOfContactsMessaged": 0,
        "totalNumberOfContacts": total,
        "percentage": pct,
        "numberOfContactsSkipped": {},
    })))
}
