//! Integrations and data actions (Web Services Data Actions), executed the way Genesys
//! Cloud does.
//!
//! Integrations: `GET/POST /api/v2/integrations`, `GET/PATCH/DELETE
//! /api/v2/integrations/{id}` (`CreateIntegrationRequest`, `Integration`; integration types
//! `custom-rest-actions` — Web Services Data Actions — and `purecloud-data-actions`, as the
//! public Terraform provider's `genesyscloud_integration` examples name them).
//!
//! Actions (SDK `integrations_api.py`, models `PostActionInput`, `UpdateActionInput`,
//! `UpdateDraftInput`, `PublishDraftInput`): `POST /actions` creates a published action;
//! `POST /actions/drafts` a draft of a new one; `POST|GET|PATCH|DELETE /actions/{id}/draft`
//! and `POST /actions/{id}/draft/publish` work on drafts (PATCH and publish need the draft's
//! current `version`, else 409); `PATCH /actions/{id}` changes name, category and config of a
//! published action (current `version` required, else 409; the contract is fixed once
//! published); `DELETE /actions/{id}`. `GET /actions/{id}` returns the contract only with
//! `expand=contract` (flattened with `flatten=true`) and the config only with
//! `includeConfig=true`, as the SDK documents. An action must name an existing integration
//! of a data-action type, or the write answers 400.
//!
//! Execution (`/execute`, `/test`, `/draft/test`): the input is checked against the
//! contract's `inputSchema` (draft-04), the request rendered (see [`template`] for the
//! quoting rules), the external service called with reqwest, a 2xx JSON answer mapped
//! through `translationMap` (with `translationMapDefaults`; "null values do not fall back
//! to defaults"), `successTemplate` rendered and checked against `successSchema`;
//! `flatten=true` returns Architect's flattened result. `/test` answers a
//! `TestExecutionResult` with one operation per step.
//!
//! Integration credentials are set through the control API
//! (`PUT /_emulator/integrations/{integrationId}/credentials`, a map of fields), since
//! the emulator has no credentials resource.

mod template;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use bytes::Bytes;
use serde_json::{Map, Value, json};

use crate::error::{ApiError, ErrorBody};
use crate::model::Listing;
use crate::routes::{Params, json};
use template::{Scope, flatten, flatten_schema, json_path, render};

/// Integration types whose integrations hold data actions.
const ACTION_INTEGRATION_TYPES: [&str; 2] = ["custom-rest-actions", "purecloud-data-actions"];
/// HTTP methods a data action may use (`RequestConfig.requestType`).
const REQUEST_TYPES: [&str; 5] = ["GET", "PUT", "POST", "PATCH", "DELETE"];
const INPUT_TYPES: [&str; 5] = ["string", "integer", "number", "boolean", "null"];
const RESERVED: [&str; 3] = ["orgId", "integrationId", "rawRequest"];

/// One action: its published form and/or its draft.
#[derive(Default)]
struct Entry {
    published: Option<Value>,
    draft: Option<Value>,
}

#[derive(Default)]
struct Data {
    integrations: BTreeMap<String, Value>,
    actions: BTreeMap<String, Entry>,
    credentials: BTreeMap<String, Map<String, Value>>,
}

#[derive(Default)]
struct Store(Mutex<Data>);

impl Store {
    fn lock(&self) -> MutexGuard<'_, Data> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

type Shared = Arc<Store>;
type Res<T> = Result<T, ApiError>;

/// The integration and data-action routes: (API routes, to sit behind the bearer-token
/// gate; control route), sharing one store per emulator.
pub(crate) fn routes<S: Clone + Send + Sync + 'static>() -> (Router<S>, Router<S>) {
    let store = Shared::default();
    let a = "/api/v2/integrations/actions";
    let api = Router::new()
        .route(
            "/api/v2/integrations",
            get(list_integrations).post(create_integration),
        )
        .route(
            "/api/v2/integrations/{integrationId}",
            get(get_integration)
                .patch(patch_integration)
                .delete(delete_integration),
        )
        .route(a, post(create_published).get(list_published))
        .route(&format!("{a}/drafts"), post(create_draft).get(list_drafts))
        .route(
            &format!("{a}/{{actionId}}"),
            get(read_published)
                .patch(patch_published)
                .delete(delete_action),
        )
        .route(&format!("{a}/{{actionId}}/execute"), post(execute))
        .route(&format!("{a}/{{actionId}}/test"), post(test_published))
        .route(
            &format!("{a}/{{actionId}}/draft"),
            get(read_draft)
                .post(draft_from_published)
                .patch(patch_draft)
                .delete(delete_draft),
        )
        .route(&format!("{a}/{{actionId}}/draft/publish"), post(publish))
        .route(&format!("{a}/{{actionId}}/draft/test"), post(test_draft))
        .with_state(store.clone());
    let control = Router::new()
        .route(
            "/_emulator/integrations/{integrationId}/credentials",
            put(set_credentials),
        )
        .with_state(store);
    (api, control)
}

// ---------------------------------------------------------------- integrations

async fn list_integrations(
    State(store): State<Shared>,
    RawQuery(q): RawQuery,
) -> Res<Json<Listing<Value>>> {
    let (size, number) = Params::parse(q).paging(100)?;
    let all: Vec<Value> = store.lock().integrations.values().cloned().collect();
    Ok(Json(Listing::page(
        &all,
        size,
        number,
        "/api/v2/integrations",
    )))
}

async fn create_integration(State(store): State<Shared>, body: Bytes) -> Res<Json<Value>> {
    let req: Value = json(&body, "CreateIntegrationRequest")?;
    let kind = req["integrationType"]["id"].as_str().unwrap_or_default();
    if kind.is_empty() {
        return Err(ApiError::invalid_value(
            "integrationType.id",
            "integrationType.id is required",
        ));
    }
    let id = uuid::Uuid::new_v4().to_string();
    let name = req["name"].as_str().unwrap_or(kind).to_owned();
    let integration = json!({
        "id": id, "name": name,
        "integrationType": {"id": kind, "selfUri": format!("/api/v2/integrations/types/{kind}")},
        "intendedState": "DISABLED",
        "reportedState": {"code": "DISABLED"},
        "config": {"current": {"name": name, "properties": {}, "advanced": {}, "credentials": {}, "version": 1}},
        "selfUri": format!("/api/v2/integrations/{id}"),
    });
    store.lock().integrations.insert(id, integration.clone());
    Ok(Json(integration))
}

fn integration(data: &Data, id: &str) -> Res<Value> {
    data.integrations
        .get(id)
        .cloned()
        .ok_or_else(|| ApiError::not_found("integration", id))
}

async fn get_integration(State(store): State<Shared>, Path(id): Path<String>) -> Res<Json<Value>> {
    integration(&store.lock(), &id).map(Json)
}

/// `PATCH /api/v2/integrations/{id}` (`Integration`): name, notes and intendedState.
async fn patch_integration(
    State(store): State<Shared>,
    Path(id): Path<String>,
    body: Bytes,
) -> Res<Json<Value>> {
    let patch: Map<String, Value> = json(&body, "Integration")?;
    let mut data = store.lock();
    let mut current = integration(&data, &id)?;
    for key in ["name", "notes"] {
        if let Some(v) = patch.get(key) {
            current[key] = v.clone();
        }
    }
    if let Some(state) = patch.get("intendedState") {
        match state.as_str() {
            Some(s @ ("ENABLED" | "DISABLED" | "DELETED")) => {
                current["intendedState"] = json!(s);
                current["reportedState"] = json!({"code": s});
            }
            _ => {
                return Err(ApiError::invalid_value(
                    "intendedState",
                    format!(
                        "integration '{id}': intendedState {state} must be ENABLED, DISABLED or DELETED"
                    ),
                ));
            }
        }
    }
    data.integrations.insert(id, current.clone());
    Ok(Json(current))
}

async fn delete_integration(State(store): State<Shared>, Path(id): Path<String>) -> Res<Response> {
    let mut data = store.lock();
    integration(&data, &id)?;
    data.integrations.remove(&id);
    data.actions.retain(|_, e| {
        let of = |v: &Option<Value>| {
            v.as_ref()
                .is_some_and(|a| a["integrationId"] == id.as_str())
        };
        !(of(&e.published) || of(&e.draft))
    });
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn set_credentials(
    State(store): State<Shared>,
    Path(integration): Path<String>,
    Json(fields): Json<Map<String, Value>>,
) -> StatusCode {
    store.lock().credentials.insert(integration, fields);
    StatusCode::NO_CONTENT
}

// ---------------------------------------------------------------- action definitions

/// Checks a contract (`{input: {inputSchema}, output: {successSchema}}`) as Genesys does:
/// object schemas, valid draft-04, no `$ref`, input properties flat primitives with
/// unreserved names.
fn check_contract(contract: &Value) -> Res<()> {
    let input = &contract["input"]["inputSchema"];
    let output = &contract["output"]["successSchema"];
    for (name, schema) in [("inputSchema", input), ("successSchema", output)] {
        if schema["type"] != "object" {
            return Err(ApiError::invalid_value(
                name,
                format!("{name} must be a JSON Schema of type object"),
            ));
        }
        if schema.to_string().contains("\"$ref\"") {
            return Err(ApiError::invalid_value(name, "$ref is not supported"));
        }
        jsonschema::draft4::new(schema).map_err(|e| {
            ApiError::invalid_value(name, format!("not a valid draft-04 schema: {e}"))
        })?;
    }
    if let Some(props) = input["properties"].as_object() {
        for (k, v) in props {
            let ok_type = match &v["type"] {
                Value::String(t) => INPUT_TYPES.contains(&t.as_str()),
                Value::Array(ts) => ts
                    .iter()
                    .all(|t| t.as_str().is_some_and(|t| INPUT_TYPES.contains(&t))),
                _ => false,
            };
            if !ok_type || RESERVED.contains(&k.as_str()) {
                return Err(ApiError::invalid_value(
                    "inputSchema",
                    format!(
                        "input property {k:?} must be a flat primitive with an unreserved name"
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Checks an `ActionConfig`.
fn check_config(config: &Value) -> Res<()> {
    let request = &config["request"];
    if request["requestUrlTemplate"]
        .as_str()
        .is_none_or(str::is_empty)
    {
        return Err(ApiError::invalid_value(
            "config.request.requestUrlTemplate",
            "config.request.requestUrlTemplate is required",
        ));
    }
    let method = request["requestType"].as_str().unwrap_or_default();
    if !REQUEST_TYPES.contains(&method) {
        return Err(ApiError::invalid_value(
            "config.request.requestType",
            format!(
                "config.request.requestType {method:?} must be one of {}",
                REQUEST_TYPES.join(", ")
            ),
        ));
    }
    if let Some(t) = config.get("timeoutSeconds").filter(|t| !t.is_null())
        && !t.as_u64().is_some_and(|t| (1..=60).contains(&t))
    {
        return Err(ApiError::invalid_value(
            "config.timeoutSeconds",
            format!("config.timeoutSeconds {t} must be between 1 and 60"),
        ));
    }
    Ok(())
}

fn check_name(body: &Value, field: &str) -> Res<()> {
    match body[field].as_str() {
        Some(s) if !s.is_empty() && s.chars().count() <= 256 => Ok(()),
        _ => Err(ApiError::invalid_value(
            field,
            format!("{field} is required (1–256 characters)"),
        )),
    }
}

/// Checks that `integrationId` names an integration of a data-action type.
fn check_integration(data: &Data, id: &str) -> Res<()> {
    let Some(i) = data.integrations.get(id) else {
        return Err(ApiError::invalid_value(
            "integrationId",
            format!("integrationId '{id}' is not an integration of this org"),
        )
        .entity(id, "integration"));
    };
    let kind = i["integrationType"]["id"].as_str().unwrap_or_default();
    if !ACTION_INTEGRATION_TYPES.contains(&kind) {
        return Err(ApiError::invalid_value(
            "integrationId",
            format!("integration '{id}' is of type {kind}, which holds no data actions"),
        ));
    }
    Ok(())
}

/// A new action definition from a `PostActionInput`.
fn new_definition(data: &Data, body: &[u8]) -> Res<Value> {
    let input: Value = json(body, "PostActionInput")?;
    check_name(&input, "name")?;
    check_name(&input, "category")?;
    let integration_id = input["integrationId"].as_str().unwrap_or_default();
    if integration_id.is_empty() {
        return Err(ApiError::invalid_value(
            "integrationId",
            "integrationId is required",
        ));
    }
    check_integration(data, integration_id)?;
    check_contract(&input["contract"])?;
    check_config(&input["config"])?;
    let id = format!("custom_-_{}", uuid::Uuid::new_v4());
    Ok(json!({
        "id": id,
        "name": input["name"],
        "category": input["category"],
        "integrationId": integration_id,
        "secure": input["secure"].as_bool().unwrap_or(false),
        "contract": input["contract"],
        "config": input["config"],
        "version": 1,
        "selfUri": format!("/api/v2/integrations/actions/{id}"),
    }))
}

async fn create_published(State(store): State<Shared>, body: Bytes) -> Res<Json<Value>> {
    let mut data = store.lock();
    let action = new_definition(&data, &body)?;
    let id = action["id"].as_str().unwrap_or_default().to_owned();
    data.actions.insert(
        id,
        Entry {
            published: Some(action.clone()),
            draft: None,
        },
    );
    Ok(Json(action))
}

async fn create_draft(State(store): State<Shared>, body: Bytes) -> Res<Json<Value>> {
    let mut data = store.lock();
    let mut draft = new_definition(&data, &body)?;
    let id = draft["id"].as_str().unwrap_or_default().to_owned();
    draft["selfUri"] = json!(format!("/api/v2/integrations/actions/{id}/draft"));
    data.actions.insert(
        id,
        Entry {
            published: None,
            draft: Some(draft.clone()),
        },
    );
    Ok(Json(draft))
}

/// The view of an action a GET answers: contract only with `expand=contract` (flattened
/// with `flatten=true`), config only with `includeConfig=true`.
fn view(action: &Value, q: &Params) -> Res<Value> {
    let mut out = action.clone();
    let o = out
        .as_object_mut()
        .ok_or_else(|| ApiError::bad_request("stored action is not an object"))?;
    if !q.flag("includeConfig")? {
        o.remove("config");
    }
    let expand = q.all("expand").iter().any(|e| e == "contract");
    if !expand {
        o.remove("contract");
    } else if q.flag("flatten")? {
        let input = flatten_schema(&action["contract"]["input"]["inputSchema"]);
        let output = flatten_schema(&action["contract"]["output"]["successSchema"]);
        o.insert(
            "contract".into(),
            json!({"input": {"inputSchemaFlattened": input}, "output": {"successSchemaFlattened": output}}),
        );
    }
    Ok(out)
}

fn listing(
    all: impl Iterator<Item = Value>,
    q: Option<String>,
    base: &str,
) -> Res<Json<Listing<Value>>> {
    let q = Params::parse(q);
    let (size, number) = q.paging(500)?;
    let category = q.get("category").map(str::to_owned);
    let name = q.get("name").map(str::to_owned);
    let ids = q.all("ids");
    let mut page: Vec<Value> = Vec::new();
    for a in all {
        if category.as_deref().is_some_and(|c| a["category"] != c)
            || name.as_deref().is_some_and(|n| !name_matches(n, &a))
            || (!ids.is_empty() && !ids.iter().any(|i| a["id"] == i.as_str()))
        {
            continue;
        }
        let mut v = view(&a, &q)?;
        if let Some(o) = v.as_object_mut() {
            o.remove("contract");
        }
        page.push(v);
    }
    Ok(Json(Listing::page(&page, size, number, base)))
}

/// `name` filter: exact, or with `*` as a wildcard at either end.
fn name_matches(pattern: &str, action: &Value) -> bool {
    let name = action["name"].as_str().unwrap_or_default();
    match (pattern.strip_prefix('*'), pattern.strip_suffix('*')) {
        (Some(rest), _) if rest.ends_with('*') => name.contains(rest.trim_end_matches('*')),
        (Some(rest), _) => name.ends_with(rest),
        (None, Some(rest)) => name.starts_with(rest),
        (None, None) => name == pattern,
    }
}

async fn list_published(
    State(store): State<Shared>,
    RawQuery(q): RawQuery,
) -> Res<Json<Listing<Value>>> {
    let all: Vec<Value> = store
        .lock()
        .actions
        .values()
        .filter_map(|e| e.published.clone())
        .collect();
    listing(all.into_iter(), q, "/api/v2/integrations/actions")
}

async fn list_drafts(
    State(store): State<Shared>,
    RawQuery(q): RawQuery,
) -> Res<Json<Listing<Value>>> {
    let all: Vec<Value> = store
        .lock()
        .actions
        .values()
        .filter_map(|e| e.draft.clone())
        .collect();
    listing(all.into_iter(), q, "/api/v2/integrations/actions/drafts")
}

fn published(data: &Data, id: &str) -> Res<Value> {
    data.actions
        .get(id)
        .and_then(|e| e.published.clone())
        .ok_or_else(|| ApiError::not_found("action", id))
}

fn draft(data: &Data, id: &str) -> Res<Value> {
    data.actions
        .get(id)
        .and_then(|e| e.draft.clone())
        .ok_or_else(|| ApiError::not_found("action draft", id))
}

async fn read_published(
    State(store): State<Shared>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Res<Json<Value>> {
    let action = published(&store.lock(), &id)?;
    view(&action, &Params::parse(q)).map(Json)
}

async fn read_draft(
    State(store): State<Shared>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Res<Json<Value>> {
    let d = draft(&store.lock(), &id)?;
    view(&d, &Params::parse(q)).map(Json)
}

/// The `version` of an update body, which must match `current` (else 409).
fn check_version(body: &Value, current: &Value, what: &str, id: &str) -> Res<()> {
    let have = current["version"].as_i64().unwrap_or(1);
    let Some(given) = body["version"].as_i64() else {
        return Err(ApiError::invalid_value(
            "version",
            format!("{what} '{id}': version is required; GET it for its current version"),
        ));
    };
    if given != have {
        return Err(ApiError::version_conflict(what, id, given, have));
    }
    Ok(())
}

/// `PATCH /actions/{id}` (`UpdateActionInput`: category, name, config, version).
async fn patch_published(
    State(store): State<Shared>,
    Path(id): Path<String>,
    body: Bytes,
) -> Res<Json<Value>> {
    let patch: Value = json(&body, "UpdateActionInput")?;
    let mut data = store.lock();
    let mut action = published(&data, &id)?;
    check_version(&patch, &action, "action", &id)?;
    apply_update(&mut action, &patch)?;
    action["version"] = json!(action["version"].as_i64().unwrap_or(1) + 1);
    if let Some(e) = data.actions.get_mut(&id) {
        e.published = Some(action.clone());
    }
    Ok(Json(action))
}

/// Applies the name/category/config (and for drafts contract/secure) of an update body.
fn apply_update(target: &mut Value, patch: &Value) -> Res<()> {
    for key in ["name", "category"] {
        if !patch[key].is_null() {
            check_name(patch, key)?;
            target[key] = patch[key].clone();
        }
    }
    if !patch["config"].is_null() {
        check_config(&patch["config"])?;
        target["config"] = patch["config"].clone();
    }
    if !patch["contract"].is_null() {
        check_contract(&patch["contract"])?;
        target["contract"] = patch["contract"].clone();
    }
    if let Some(s) = patch["secure"].as_bool() {
        target["secure"] = json!(s);
    }
    Ok(())
}

async fn delete_action(State(store): State<Shared>, Path(id): Path<String>) -> Res<Response> {
    let mut data = store.lock();
    published(&data, &id)?;
    data.actions.remove(&id);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /actions/{id}/draft`: a draft copied from the published action (409 if one exists).
async fn draft_from_published(
    State(store): State<Shared>,
    Path(id): Path<String>,
) -> Res<Json<Value>> {
    let mut data = store.lock();
    let action = published(&data, &id)?;
    let entry = data.actions.entry(id.clone()).or_default();
    if entry.draft.is_some() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "general.conflict",
            format!("action '{id}' already has a draft"),
        )
        .entity(&id, "action"));
    }
    let mut d = action;
    d["selfUri"] = json!(format!("/api/v2/integrations/actions/{id}/draft"));
    entry.draft = Some(d.clone());
    Ok(Json(d))
}

/// `PATCH /actions/{id}/draft` (`UpdateDraftInput`; version must match the draft's).
async fn patch_draft(
    State(store): State<Shared>,
    Path(id): Path<String>,
    body: Bytes,
) -> Res<Json<Value>> {
    let patch: Value = json(&body, "UpdateDraftInput")?;
    let mut data = store.lock();
    let mut d = draft(&data, &id)?;
    check_version(&patch, &d, "action draft", &id)?;
    apply_update(&mut d, &patch)?;
    d["version"] = json!(d["version"].as_i64().unwrap_or(1) + 1);
    if let Some(e) = data.actions.get_mut(&id) {
        e.draft = Some(d.clone());
    }
    Ok(Json(d))
}

async fn delete_draft(State(store): State<Shared>, Path(id): Path<String>) -> Res<Response> {
    let mut data = store.lock();
    draft(&data, &id)?;
    let gone = data.actions.get_mut(&id).is_some_and(|e| {
        e.draft = None;
        e.published.is_none()
    });
    if gone {
        data.actions.remove(&id);
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /actions/{id}/draft/publish` (`PublishDraftInput {version}` = the draft's version):
/// the draft becomes the published action, whose version goes up by one.
async fn publish(
    State(store): State<Shared>,
    Path(id): Path<String>,
    body: Bytes,
) -> Res<Json<Value>> {
    let input: Value = json(&body, "PublishDraftInput")?;
    let mut data = store.lock();
    let d = draft(&data, &id)?;
    check_version(&input, &d, "action draft", &id)?;
    check_integration(&data, d["integrationId"].as_str().unwrap_or_default())?;
    let entry = data.actions.entry(id.clone()).or_default();
    let version = entry
        .published
        .as_ref()
        .and_then(|p| p["version"].as_i64())
        .map_or(1, |v| v + 1);
    let mut action = d;
    action["version"] = json!(version);
    action["selfUri"] = json!(format!("/api/v2/integrations/actions/{id}"));
    entry.published = Some(action.clone());
    entry.draft = None;
    Ok(Json(action))
}

// ---------------------------------------------------------------- execution

/// One step of an execution, as `/test` reports it.
struct Step {
    name: &'static str,
    result: Value,
    error: Option<ApiError>,
}

fn input_of(body: &[u8]) -> Res<Value> {
    if body.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("execute input: invalid JSON body: {e}")))
}

async fn execute(
    State(store): State<Shared>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Res<Json<Value>> {
    let action = published(&store.lock(), &id)?;
    let input = input_of(&body)?;
    let mut steps = Vec::new();
    let out = run(&store, &action, &input, &mut steps).await?;
    Ok(Json(if Params::parse(q).flag("flatten")? {
        flatten(&out)
    } else {
        out
    }))
}

async fn test_published(
    State(store): State<Shared>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Res<Json<Value>> {
    let action = published(&store.lock(), &id)?;
    test(&store, &action, q, &body).await
}

async fn test_draft(
    State(store): State<Shared>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Res<Json<Value>> {
    let d = draft(&store.lock(), &id)?;
    test(&store, &d, q, &body).await
}

async fn test(store: &Store, action: &Value, q: Option<String>, body: &[u8]) -> Res<Json<Value>> {
    let flat = Params::parse(q).flag("flatten")?;
    let input = input_of(body)?;
    let mut steps = Vec::new();
    let result = run(store, action, &input, &mut steps).await;
    let operations: Vec<Value> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            json!({"step": i + 1, "name": s.name, "success": s.error.is_none(), "result": s.result,
                "error": s.error.as_ref().map(error_body)})
        })
        .collect();
    Ok(Json(match result {
        Ok(out) => {
            let out = if flat { flatten(&out) } else { out };
            json!({"operations": operations, "finalResult": out, "success": true})
        }
        Err(e) => json!({"operations": operations, "error": error_body(&e), "success": false}),
    }))
}

fn error_body(e: &ApiError) -> Value {
    serde_json::to_value(ErrorBody::from_api(e, "")).unwrap_or(Value::Null)
}

fn fail(steps: &mut Vec<Step>, name: &'static str, e: ApiError) -> ApiError {
    steps.push(Step {
        name,
        result: Value::Null,
        error: Some(e.clone()),
    });
    e
}

fn validate(schema: &Value, value: &Value) -> Result<(), String> {
    let validator = jsonschema::draft4::new(schema).map_err(|e| e.to_string())?;
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| format!("{}: {e}", e.instance_path))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

async fn run(store: &Store, action: &Value, input: &Value, steps: &mut Vec<Step>) -> Res<Value> {
    // 1. Input against the contract.
    const VALIDATE_IN: &str = "Validate input against the input contract";
    if let Err(e) = validate(&action["contract"]["input"]["inputSchema"], input) {
        return Err(fail(
            steps,
            VALIDATE_IN,
            ApiError::bad_request(format!("input does not match the contract: {e}")),
        ));
    }
    steps.push(Step {
        name: VALIDATE_IN,
        result: input.clone(),
        error: None,
    });

    // 2. Render the request.
    let credentials = action["integrationId"]
        .as_str()
        .and_then(|i| store.lock().credentials.get(i).cloned())
        .unwrap_or_default();
    let request = &action["config"]["request"];
    let scope = Scope::Request {
        input,
        credentials: &credentials,
    };
    let url = render(
        request["requestUrlTemplate"].as_str().unwrap_or_default(),
        &scope,
    );
    let method = request["requestType"]
        .as_str()
        .unwrap_or("POST")
        .to_uppercase();
    let body = render(
        request["requestTemplate"]
            .as_str()
            .unwrap_or("${input.rawRequest}"),
        &scope,
    );
    let mut headers = Vec::new();
    if let Some(h) = request["headers"].as_object() {
        for (k, v) in h {
            headers.push((k.clone(), render(v.as_str().unwrap_or_default(), &scope)));
        }
    }
    steps.push(Step {
        name: "Resolve request",
        result: json!({"requestUrl": url, "requestType": method, "headers": headers.iter().map(|(k, _)| k).collect::<Vec<_>>(), "body": body}),
        error: None,
    });

    // 3. Call the service.
    const EXECUTE: &str = "Execute request";
    let timeout = action["config"]["timeoutSeconds"]
        .as_u64()
        .unwrap_or(60)
        .clamp(1, 60);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(timeout))
        .build()
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal.server.error",
                e.to_string(),
            )
        })?;
    let method = reqwest::Method::from_bytes(method.as_bytes())
        .map_err(|_| ApiError::bad_request("bad requestType"))?;
    let mut req = client.request(method.clone(), &url);
    for (k, v) in &headers {
        req = req.header(k, v);
    }
    if method != reqwest::Method::GET {
        req = req.body(body);
    }
    let resp = req.send().await.map_err(|e| {
        fail(
            steps,
            EXECUTE,
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "bad.gateway",
                format!("the remote endpoint did not answer: {e}"),
            ),
        )
    })?;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    if !status.is_success() {
        let code = if status.is_client_error() {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::BAD_GATEWAY
        };
        return Err(fail(
            steps,
            EXECUTE,
            ApiError::new(
                code,
                "bad.request",
                format!("REST call for action failed; remote status {status}; body {text}"),
            ),
        ));
    }
    let raw: Value = serde_json::from_str(&text).map_err(|e| {
        fail(
            steps,
            EXECUTE,
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "bad.gateway",
                format!("the remote answer is not JSON: {e}"),
            ),
        )
    })?;
    steps.push(Step {
        name: EXECUTE,
        result: raw.clone(),
        error: None,
    });

    // 4. Translation map (+ defaults) and success template.
    const TRANSLATE: &str = "Translate response";
    let response = &action["config"]["response"];
    let mut translated = Map::new();
    if let Some(map) = response["translationMap"].as_object() {
        for (name, path) in map {
            let value = match json_path(&raw, path.as_str().unwrap_or_default()) {
                Some(v) => v,
                None => match response["translationMapDefaults"].get(name) {
                    // Defaults are JSON text (`"\"UNKNOWN\""`, `"0"`); other text is kept
                    // as a string.
                    Some(Value::String(d)) => {
                        serde_json::from_str(d).unwrap_or(Value::String(d.clone()))
                    }
                    Some(d) => d.clone(),
                    None => {
                        return Err(fail(
                            steps,
                            TRANSLATE,
                            ApiError::bad_request(format!(
                                "translationMap {name}: {path} not found in the response and no default"
                            )),
                        ));
                    }
                },
            };
            translated.insert(name.clone(), value);
        }
    }
    steps.push(Step {
        name: TRANSLATE,
        result: Value::Object(translated.clone()),
        error: None,
    });
    const TEMPLATE: &str = "Apply success template";
    let template = response["successTemplate"]
        .as_str()
        .unwrap_or("${rawResult}");
    let rendered = render(
        template,
        &Scope::Success {
            translated: &translated,
            raw: &raw,
            input,
        },
    );
    let out: Value = serde_json::from_str(&rendered).map_err(|e| {
        fail(
            steps,
            TEMPLATE,
            ApiError::bad_request(format!(
                "the success template does not render JSON: {e}: {rendered}"
            )),
        )
    })?;
    steps.push(Step {
        name: TEMPLATE,
        result: out.clone(),
        error: None,
    });

    // 5. Output against the success contract.
    const VALIDATE_OUT: &str = "Validate output against the success contract";
    if let Err(e) = validate(&action["contract"]["output"]["successSchema"], &out) {
        return Err(fail(
            steps,
            VALIDATE_OUT,
            ApiError::bad_request(format!("the result does not match the success schema: {e}")),
        ));
    }
    steps.push(Step {
        name: VALIDATE_OUT,
        result: out.clone(),
        error: None,
    });
    Ok(out)
}
