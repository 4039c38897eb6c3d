//! `POST /v1/actions/{action}`: what a Genesys Cloud web-services data action calls.
//!
//! Built-ins: `sync-record` (map one record through its source's plugin, journal it,
//! wait for its outcome), `lookup-contact` and `set-do-not-call` (by externalId or
//! phone). Plugin-declared actions are served as `<source>.<action>` and run by the
//! source's plugin. Inputs are checked against the action's input contract and outputs
//! against its success contract (draft-04); a failed check names the field. Errors are
//! non-2xx, which Genesys turns into the action's failure path.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use dialsync_genesys::model::ContactListingRequest;
use serde_json::{Value, json};

use crate::sync::{Accepted, Change, EXTERNAL_ID_COLUMN, Inbound, Ingest, Operation, contact_id};

use super::contracts::{self, Contract};
use super::error::ApiError;
use super::mapping::{self, RecordResult};
use super::signatures;
use super::state::{AppState, SourceState};

/// Every action this server answers: the built-ins, then each source's plugin actions.
pub fn all_contracts(state: &AppState) -> Vec<Contract> {
    let mut all = contracts::builtins();
    for (name, source) in &state.sources {
        let slot = source.plugin();
        for a in &slot.plugin.info().actions {
            all.push(Contract {
                name: format!("{name}.{}", a.name),
                description: a.description.clone(),
                input: a.input_schema.clone(),
                output: a.output_schema.clone(),
            });
        }
    }
    all
}

/// Handles one data-action call.
pub async fn execute(
    State(state): State<Arc<AppState>>,
    Path(action): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let result = execute_inner(&state, &action, &headers, &body).await;
    let label = match &result {
        Ok(_) => "ok",
        Err(e) => e.code,
    };
    let known = all_contracts(&state).iter().any(|c| c.name == action);
    metrics::counter!("dialsync_action_calls_total",
        "action" => if known { action.clone() } else { "(unknown)".to_owned() }, "result" => label)
    .increment(1);
    result.map(Json)
}

async fn execute_inner(
    state: &Arc<AppState>,
    action: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, ApiError> {
    let auth = state.actions_auth.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "actions-disabled",
            "data actions are off: configure [server.actions_auth]",
        )
    })?;
    signatures::verify(
        auth,
        headers,
        body,
        chrono::Utc::now().timestamp(),
        i64::MAX,
    )
    .map_err(|e| ApiError::new(StatusCode::UNAUTHORIZED, "bad-credentials", e.to_string()))?;
    let contract = all_contracts(state)
        .into_iter()
        .find(|c| c.name == action)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown-action",
                format!("no data action named {action:?}"),
            )
        })?;
    let input: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad-input",
            format!("the input is not JSON: {e}"),
        )
    })?;
    check(
        &contract.input,
        &input,
        "bad-input",
        StatusCode::BAD_REQUEST,
        action,
        "input",
    )?;
    let output = match action {
        "sync-record" => sync_record(state, &input).await?,
        "lookup-contact" => lookup_contact(state, &input).await?,
        "set-do-not-call" => set_do_not_call(state, &input).await?,
        other => plugin_action(state, other, input).await?,
    };
    check(
        &contract.output,
        &output,
        "output-contract",
        StatusCode::INTERNAL_SERVER_ERROR,
        action,
        "output",
    )?;
    Ok(output)
}

fn check(
    schema: &Value,
    value: &Value,
    code: &'static str,
    status: StatusCode,
    action: &str,
    which: &str,
) -> Result<(), ApiError> {
    let validator = contracts::compile(schema).map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "bad-contract",
            format!("{action}: its {which} contract is not valid draft-04: {e}"),
        )
    })?;
    let errors = contracts::errors(&validator, value);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::new(
            status,
            code,
            format!("{action} {which}: {}", errors.join("; ")),
        ))
    }
}

fn source<'a>(state: &'a AppState, input: &Value) -> Result<&'a Arc<SourceState>, ApiError> {
    let name = input["source"].as_str().unwrap_or_default();
    state.sources.get(name).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown-source",
            format!(
                "/source: no source named {name:?} (configured: {})",
                state.sources.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        )
    })
}

fn str_field<'a>(input: &'a Value, key: &str) -> Option<&'a str> {
    input[key].as_str().map(str::trim).filter(|s| !s.is_empty())
}

async fn sync_record(state: &Arc<AppState>, input: &Value) -> Result<Value, ApiError> {
    let src = source(state, input)?;
    let text = input["recordJson"].as_str().unwrap_or_default();
    let record: Value = serde_json::from_str(text).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad-input",
            format!("/recordJson: not a JSON record: {e}"),
        )
    })?;
    let slot = src.plugin();
    let ingested = mapping::ingest(
        state,
        src,
        &slot,
        Ingest {
            records: vec![Inbound::new(record)],
            ..Ingest::default()
        },
    )
    .await
    .map_err(|e| ApiError::unavailable("journal-unavailable", e.to_string()))?;
    let (external_ids, seqs) = match ingested.results.into_iter().next() {
        Some(RecordResult::Accepted { external_ids, seqs }) => (external_ids, seqs),
        Some(RecordResult::Skipped { reason }) => {
            return Ok(json!({
                "outcome": "skipped", "externalId": "", "contactId": "",
                "contactListId": src.list_id, "message": reason,
            }));
        }
        Some(RecordResult::Rejected { errors }) => {
            let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "rejected",
                format!("/recordJson: {}", list.join("; ")),
            ));
        }
        // A passing failure (deadline, no free plugin instance): nothing was stored;
        // 503 tells the caller to try again.
        Some(RecordResult::Failed {
            error,
            transient: true,
        }) => return Err(ApiError::unavailable("plugin-busy", error)),
        Some(RecordResult::Failed { error, .. }) => {
            return Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                "plugin-failed",
                error,
            ));
        }
        Some(RecordResult::Duplicate { .. }) | None => (Vec::new(), Vec::new()),
    };
    let (Some(external_id), Some(&seq), Some(last_id)) =
        (external_ids.first(), seqs.last(), external_ids.last())
    else {
        return Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            "plugin-failed",
            "the plugin returned no change",
        ));
    };
    let last = Accepted {
        seq,
        external_id: last_id.clone(),
    };
    let outcome = wait_for_outcome(state, src, &last).await?;
    Ok(json!({
        "outcome": outcome.0,
        "externalId": external_id,
        "contactId": contact_id(&src.list_id, external_id),
        "contactListId": src.list_id,
        "message": outcome.1,
    }))
}

/// Journals `changes` for `src`, wakes the worker and waits (bounded by
/// `sync_wait_secs`) until the last one has its outcome: `(outcome, message)`, or
/// `("pending", ...)` when it is still queued (it will still be applied).
async fn accept_and_wait(
    state: &Arc<AppState>,
    src: &SourceState,
    changes: Vec<Change>,
) -> Result<(String, String), ApiError> {
    let accepted = state
        .engine
        .accept(&src.name, changes)
        .await
        .map_err(|e| ApiError::unavailable("journal-unavailable", e.to_string()))?;
    let Some(last) = accepted.last() else {
        return Ok(("skipped".into(), "nothing to sync".into()));
    };
    wait_for_outcome(state, src, last).await
}

/// Waits (bounded by `sync_wait_secs`) until the durable change `last` has its outcome:
/// `(outcome, message)`, or `("pending", ...)` when it is still queued (it will still be
/// applied).
async fn wait_for_outcome(
    state: &Arc<AppState>,
    src: &SourceState,
    last: &Accepted,
) -> Result<(String, String), ApiError> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(state.settings.sync_wait_secs);
    loop {
        let statuses = state
            .engine
            .status(&last.external_id, Some(&src.name))
            .await
            .map_err(|e| ApiError::unavailable("journal-unavailable", e.to_string()))?;
        let change = statuses
            .iter()
            .flat_map(|s| s.changes.iter())
            .find(|c| c.seq == last.seq);
        if let Some(c) = change
            && let Some(outcome) = &c.outcome
        {
            let message = c
                .error
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default();
            return Ok((outcome.as_str().to_string(), message));
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok((
                "pending".into(),
                format!("change {} is queued and will be applied", last.seq),
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A contact found in Genesys: (externalId, contactId, callable).
struct Found {
    external_id: String,
    contact_id: String,
    callable: bool,
}

async fn find_contact(
    state: &AppState,
    src: &SourceState,
    input: &Value,
) -> Result<Option<Found>, ApiError> {
    let client = state.clients.get(&src.org).ok_or_else(|| {
        ApiError::unavailable(
            "no-org",
            format!("source {} has no Genesys client", src.name),
        )
    })?;
    let genesys = |e: dialsync_genesys::GenesysError| {
        ApiError::new(StatusCode::BAD_GATEWAY, "genesys-error", e.to_string())
    };
    if let Some(ext) = str_field(input, "externalId") {
        let id = contact_id(&src.list_id, ext);
        let contact = client
            .get_contact(&src.list_id, &id)
            .await
            .map_err(genesys)?;
        return Ok(contact.map(|c| Found {
            external_id: ext.to_owned(),
            contact_id: id,
            callable: c.callable.unwrap_or(true),
        }));
    }
    let raw = str_field(input, "phone").ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad-input",
            "give /externalId or /phone",
        )
    })?;
    let e164 = dialsync_phone::normalize(raw, Some(&src.default_region)).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad-input",
            format!("/phone: {}", e.message),
        )
    })?;
    let slot = src.plugin();
    for column in &slot.plugin.info().phone_columns {
        let request = ContactListingRequest::column_equals(column, &e164, 1);
        let page = client
            .search_contacts(&src.list_id, &request)
            .await
            .map_err(genesys)?;
        if let Some(c) = page.entities.into_iter().next() {
            return Ok(Some(Found {
                external_id: c.data.get(EXTERNAL_ID_COLUMN).cloned().unwrap_or_default(),
                contact_id: c.id.unwrap_or_default(),
                callable: c.callable.unwrap_or(true),
            }));
        }
    }
    Ok(None)
}

async fn last_outcome(state: &AppState, src: &SourceState, external_id: &str) -> String {
    state
        .engine
        .status(external_id, Some(&src.name))
        .await
        .ok()
        .and_then(|s| s.into_iter().find_map(|c| c.last_outcome))
        .map(|o| o.as_str().to_string())
        .unwrap_or_default()
}

async fn lookup_contact(state: &Arc<AppState>, input: &Value) -> Result<Value, ApiError> {
    let src = source(state, input)?;
    let found = find_contact(state, src, input).await?;
    Ok(match found {
        Some(f) => json!({
            "found": true,
            "lastOutcome": last_outcome(state, src, &f.external_id).await,
            "externalId": f.external_id,
            "contactId": f.contact_id,
            "contactListId": src.list_id,
            "callable": f.callable,
        }),
        None => json!({
            "found": false, "externalId": str_field(input, "externalId").unwrap_or_default(),
            "contactId": "", "contactListId": src.list_id, "callable": false, "lastOutcome": "",
        }),
    })
}

async fn set_do_not_call(state: &Arc<AppState>, input: &Value) -> Result<Value, ApiError> {
    let src = source(state, input)?;
    let found = find_contact(state, src, input).await?;
    let mut dnc_listed = false;
    if let (Some(dnc), Some(raw)) = (&src.dnc_list_id, str_field(input, "phone")) {
        let e164 = dialsync_phone::normalize(raw, Some(&src.default_region)).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad-input",
                format!("/phone: {}", e.message),
            )
        })?;
        let client = &state.clients[&src.org];
        client
            .dnc_add(dnc, &[e164])
            .await
            .map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, "genesys-error", e.to_string()))?;
        dnc_listed = true;
    }
    let Some(found) = found else {
        if dnc_listed {
            return Ok(
                json!({"outcome": "not-found", "externalId": "", "contactId": "", "dncListed": true}),
            );
        }
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("no contact in list {} matches the input", src.list_id),
        ));
    };
    let change = Change {
        external_id: found.external_id.clone(),
        source_id: found.external_id.clone(),
        source_updated_at: chrono::Utc::now(),
        operation: Operation::DoNotCall,
        partial: true,
        columns: BTreeMap::new(),
        phones: Vec::new(),
        // No consent statement of the CRM's: the do-not-call stays until the CRM's own
        // consent field flips (see `sync::Compliance`).
        callable: None,
    };
    let (outcome, _) = accept_and_wait(state, src, vec![change]).await?;
    Ok(json!({
        "outcome": outcome,
        "externalId": found.external_id,
        "contactId": found.contact_id,
        "dncListed": dnc_listed,
    }))
}

async fn plugin_action(
    state: &Arc<AppState>,
    action: &str,
    input: Value,
) -> Result<Value, ApiError> {
    let (source_name, name) = action.split_once('.').ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown-action",
            format!("no data action named {action:?}"),
        )
    })?;
    let src = state.sources.get(source_name).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown-action",
            format!("no source {source_name:?}"),
        )
    })?;
    let slot = src.plugin();
    slot.plugin
        .action(name, input, src.port.clone())
        .await
        .map_err(|e| {
            let status = match e.code.as_str() {
                "bad-input" => StatusCode::BAD_REQUEST,
                "not-found" => StatusCode::NOT_FOUND,
                _ => StatusCode::BAD_GATEWAY,
            };
            ApiError::new(status, "plugin-action-failed", format!("{action}: {e}"))
        })
}

/// `GET /v1/actions` (admin): every data action with its contracts.
pub async fn list(State(state): State<Arc<AppState>>) -> Json<Value> {
    let actions: Vec<Value> = all_contracts(&state)
        .into_iter()
        .map(|c| json!({"name": c.name, "description": c.description, "input": c.input, "output": c.output}))
        .collect();
    Json(json!({ "actions": actions }))
}
