//! `POST /v1/sources/{source}/events` (and `.../events/{token}` for senders such as
//! Salesforce Outbound Messages that can only prove themselves by a secret in the URL):
//! CRM webhook ingress.
//!
//! Order of work, chosen so nothing invalid is stored and nothing acknowledged is lost:
//! unknown source → 404; signature / token check over the raw bytes → 401 (nothing
//! stored); replayed delivery id → 200 `duplicate` (so Stripe-like senders stop
//! retrying); body unwrapped (JSON, ServiceNow, Salesforce CDC, Outbound Message SOAP)
//! → 400 when malformed; every record mapped by the source's plugin through the engine's
//! one ingest path, which journals the accepted changes and the delivery ids in one
//! durable transaction (shared with concurrent requests: group commit); only then 202,
//! listing per record what was accepted and what was rejected and why (400 when records
//! were rejected and none accepted). A record the plugin failed on for a passing reason
//! (deadline, no free instance) answers 503 with `Retry-After` and its ids are not
//! remembered; a journal failure answers 503 too, so the sender retries. For a source with scheme
//! `salesforce-outbound` every answer is SOAP: the `Ack` once durable, otherwise a
//! fault (`soapenv:Client` for 4xx, `soapenv:Server` for 5xx) with the status.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{Extensions, HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::envelopes::{self, BodyKind, OUTBOUND_ACK};
use super::error::ApiError;
use super::mapping::{self, RecordResult};
use super::signatures::{self, RequestMeta, WebhookAuth};
use super::state::AppState;
use crate::sync::{Inbound, Ingest, SummaryFn};

/// Handles one webhook delivery (`POST /v1/sources/{source}/events[?token=...]`).
pub async fn ingest(
    State(state): State<Arc<AppState>>,
    Path(source_name): Path<String>,
    uri: Uri,
    extensions: Extensions,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let meta = request_meta(None, &uri, &extensions);
    handle(&state, &source_name, &meta, &headers, &body).await
}

/// Handles one webhook delivery whose endpoint URL carries the source's token as its
/// last segment (`POST /v1/sources/{source}/events/{token}`).
pub async fn ingest_with_token(
    State(state): State<Arc<AppState>>,
    Path((source_name, token)): Path<(String, String)>,
    uri: Uri,
    extensions: Extensions,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let meta = request_meta(Some(token), &uri, &extensions);
    handle(&state, &source_name, &meta, &headers, &body).await
}

/// The URL token (path segment, else `token` query parameter) and the TCP peer address.
fn request_meta(path_token: Option<String>, uri: &Uri, extensions: &Extensions) -> RequestMeta {
    let url_token = path_token.or_else(|| {
        url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .find(|(k, _)| k == "token")
            .map(|(_, v)| v.into_owned())
    });
    RequestMeta {
        url_token,
        client_ip: extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip()),
    }
}

async fn handle(
    state: &Arc<AppState>,
    source_name: &str,
    meta: &RequestMeta,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    match ingest_inner(state, source_name, meta, headers, body).await {
        Ok(response) => response,
        Err((kind, err)) => {
            metrics::counter!("dialsync_webhook_deliveries_total",
                "source" => source_label(state, source_name), "result" => err.code)
            .increment(1);
            if is_outbound_source(state, source_name) {
                // Everything a Salesforce Outbound Message endpoint answers is SOAP;
                // Salesforce keeps (and retries) a message answered with a fault.
                let code = if err.status.is_server_error() {
                    "soapenv:Server"
                } else {
                    "soapenv:Client"
                };
                return soap(
                    err.status,
                    envelopes::outbound_fault_with(code, &err.message),
                );
            }
            if kind == BodyKind::SalesforceOutbound && err.status.is_server_error() {
                // Salesforce retries a message answered with a SOAP fault.
                return soap(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    envelopes::outbound_fault(&err.message),
                );
            }
            err.into_response()
        }
    }
}

/// Unknown sources share one label so a scanner cannot blow up the metric cardinality.
fn source_label(state: &AppState, name: &str) -> String {
    if state.sources.contains_key(name) {
        name.to_owned()
    } else {
        "(unknown)".to_owned()
    }
}

type Failure = (BodyKind, ApiError);

fn json_err(e: ApiError) -> Failure {
    (BodyKind::Json, e)
}

async fn ingest_inner(
    state: &Arc<AppState>,
    source_name: &str,
    meta: &RequestMeta,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, Failure> {
    let source = state.sources.get(source_name).ok_or_else(|| {
        json_err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown-source",
            format!(
                "no source named {source_name:?} (configured: {})",
                state.sources.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        ))
    })?;
    let auth = source.auth.as_ref().ok_or_else(|| {
        json_err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "webhooks-disabled",
            format!("source {source_name:?} has no [sources.{source_name}.auth]; its webhooks are refused"),
        ))
    })?;
    let now = chrono::Utc::now().timestamp();
    let verified = signatures::verify_request(
        auth,
        headers,
        body,
        meta,
        now,
        state.settings.timestamp_tolerance_secs,
    )
    .map_err(|e| {
        tracing::warn!(source = source_name, scheme = auth.scheme(), error = %e, "webhook refused");
        json_err(ApiError::new(
            e.status(),
            if e.status() == StatusCode::FORBIDDEN {
                "forbidden-origin"
            } else {
                "bad-signature"
            },
            format!("{} authentication failed: {e}", auth.scheme()),
        ))
    })?;

    // A whole-delivery id: answer a replay from the log; hold concurrent retries off.
    let _inflight = match &verified.delivery_id {
        Some(id) => {
            if let Some(summary) = lookup(state, source_name, id).await.map_err(json_err)? {
                return Ok(duplicate(source_name, id, summary));
            }
            let guard = state.begin_delivery(source_name, id).ok_or_else(|| {
                json_err(ApiError::new(
                    StatusCode::CONFLICT,
                    "delivery-in-progress",
                    format!("delivery {id:?} is being processed right now; retry later"),
                ))
            })?;
            // It may have completed between the lookup and the mark.
            if let Some(summary) = lookup(state, source_name, id).await.map_err(json_err)? {
                return Ok(duplicate(source_name, id, summary));
            }
            Some(guard)
        }
        None => None,
    };

    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let unwrapped = envelopes::unwrap(body, content_type).map_err(|e| {
        json_err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed-body",
            e.to_string(),
        ))
    })?;
    let kind = unwrapped.kind;

    // Per-record ids (Salesforce Outbound Message notifications): drop the ones already
    // delivered, and hold each remaining one against concurrent redelivery.
    let mut results: Vec<Option<RecordResult>> = vec![None; unwrapped.records.len()];
    let mut to_map = Vec::new();
    let mut to_map_ids = Vec::new();
    let mut to_map_index = Vec::new();
    let mut record_guards = Vec::new();
    for (i, record) in unwrapped.records.into_iter().enumerate() {
        if let Some(id) = &record.delivery_id {
            let seen = lookup(state, source_name, id)
                .await
                .map_err(|e| (kind, e))?;
            let guard = state.begin_delivery(source_name, id);
            if seen.is_some() || guard.is_none() {
                results[i] = Some(RecordResult::Duplicate {
                    delivery_id: id.clone(),
                });
                continue;
            }
            record_guards.extend(guard);
        }
        to_map.push(record.value);
        to_map_ids.push(record.delivery_id);
        to_map_index.push(i);
    }

    // Thin records (only `sys_id` / `Id`) are completed by a fetch through the
    // source's CRM client, when it has one.
    if let Some(pull) = &source.pull {
        to_map = pull.complete_thin(to_map).await.map_err(|e| {
            tracing::warn!(source = source_name, error = %e, "could not fetch a thin webhook's record");
            (
                kind,
                ApiError::unavailable(
                    "crm-unavailable",
                    format!("could not fetch the record a thin webhook names: {e}; nothing was stored, retry"),
                ),
            )
        })?;
    }
    let slot = source.plugin();
    let plugin_id = slot.plugin.info().id();
    // The summary a retry of this delivery is answered with is built inside the journal
    // transaction that records the delivery ids, from the final results.
    let summary: SummaryFn = {
        let (prefilled, index) = (results.clone(), to_map_index.clone());
        let (source, delivery_id, plugin_id) = (
            source_name.to_owned(),
            verified.delivery_id.clone(),
            plugin_id.clone(),
        );
        Box::new(move |mapped: &[RecordResult]| {
            let all = merge(prefilled, &index, mapped.to_vec());
            summary_json(&summarize(
                &source,
                delivery_id.as_deref(),
                &plugin_id,
                &all,
            ))
        })
    };
    let inbound = to_map
        .into_iter()
        .zip(to_map_ids)
        .map(|(value, delivery_id)| Inbound { value, delivery_id })
        .collect();
    let ingested = mapping::ingest(
        state,
        source,
        &slot,
        Ingest {
            records: inbound,
            delivery_id: verified.delivery_id.clone(),
            run_id: None,
            summary: Some(summary),
        },
    )
    .await
    .map_err(|e| {
        tracing::error!(source = source_name, error = %e, "journal refused a webhook batch");
        (
            kind,
            ApiError::unavailable(
                "journal-unavailable",
                format!(
                    "the journal could not store the records: {e}; nothing was acknowledged, retry"
                ),
            ),
        )
    })?;
    let transient = ingested.has_transient_failures();
    let results = merge(results, &to_map_index, ingested.results);
    drop(record_guards);

    let mut counts = [0usize; 5];
    for r in &results {
        let (slot, label) = match r {
            RecordResult::Accepted { .. } => (0, "accepted"),
            RecordResult::Skipped { .. } => (1, "skipped"),
            RecordResult::Rejected { errors } => {
                tracing::warn!(source = source_name, errors = ?errors, "webhook record rejected");
                (2, "rejected")
            }
            RecordResult::Failed { error, .. } => {
                tracing::warn!(source = source_name, error = %error, "plugin failed on a webhook record");
                (3, "failed")
            }
            RecordResult::Duplicate { .. } => (4, "duplicate"),
        };
        counts[slot] += 1;
        metrics::counter!("dialsync_webhook_records_total",
            "source" => source_name.to_owned(), "result" => label)
        .increment(1);
    }
    let [n_accepted, n_rejected, n_failed, n_duplicate] =
        [counts[0], counts[2], counts[3], counts[4]];
    let summary = summarize(
        source_name,
        verified.delivery_id.as_deref(),
        &plugin_id,
        &results,
    );

    if transient {
        // A record the plugin could not map for a passing reason (deadline, no free
        // instance): its id was not remembered, so the sender must send it again.
        metrics::counter!("dialsync_webhook_deliveries_total",
            "source" => source_name.to_owned(), "result" => "retry")
        .increment(1);
        let message = "the plugin could not map every record right now (see records); \
                       nothing unmapped was acknowledged, retry";
        let retry_after = [(header::RETRY_AFTER, RETRY_AFTER_SECS.to_string())];
        if kind == BodyKind::SalesforceOutbound || is_outbound_source(state, source_name) {
            let fault = envelopes::outbound_fault_with("soapenv:Server", message);
            let mut response = soap(StatusCode::SERVICE_UNAVAILABLE, fault);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, RETRY_AFTER_SECS.into());
            return Ok(response);
        }
        let mut body = serde_json::to_value(&summary).expect("a summary always serialises");
        body["error"] = json!("plugin-unavailable");
        body["message"] = json!(message);
        return Ok((
            StatusCode::SERVICE_UNAVAILABLE,
            retry_after,
            axum::Json(body),
        )
            .into_response());
    }

    let result_label = if n_accepted > 0 {
        "accepted"
    } else if n_rejected + n_failed > 0 {
        "rejected"
    } else if n_duplicate > 0 {
        "duplicate"
    } else {
        "skipped"
    };
    metrics::counter!("dialsync_webhook_deliveries_total",
        "source" => source_name.to_owned(), "result" => result_label)
    .increment(1);

    if kind == BodyKind::SalesforceOutbound {
        // Ack only now that every accepted notification is durable. Rejected ones are
        // acknowledged too (Salesforce would resend the same invalid data) and logged above.
        return Ok(soap(StatusCode::OK, OUTBOUND_ACK.to_owned()));
    }
    let status = match result_label {
        "accepted" => StatusCode::ACCEPTED,
        "rejected" => StatusCode::BAD_REQUEST,
        _ => StatusCode::OK,
    };
    Ok((
        status,
        [(header::CONTENT_TYPE, "application/json")],
        summary_json(&summary),
    )
        .into_response())
}

/// Seconds a sender is asked to wait before retrying a delivery answered 503.
const RETRY_AFTER_SECS: u32 = 5;

/// Whether a source's webhooks are Salesforce Outbound Messages (every answer is SOAP).
fn is_outbound_source(state: &AppState, source_name: &str) -> bool {
    state
        .sources
        .get(source_name)
        .and_then(|s| s.auth.as_ref())
        .is_some_and(|a| matches!(a, WebhookAuth::SalesforceOutbound(_)))
}

/// Puts the mapped records' results (in `index` order) into the delivery's results.
fn merge(
    mut results: Vec<Option<RecordResult>>,
    index: &[usize],
    mapped: Vec<RecordResult>,
) -> Vec<RecordResult> {
    for (result, &i) in mapped.into_iter().zip(index) {
        results[i] = Some(result);
    }
    results
        .into_iter()
        .map(|r| {
            r.unwrap_or_else(|| RecordResult::Failed {
                error: "no result for this record".into(),
                transient: true,
            })
        })
        .collect()
}

/// The per-delivery answer: counts and each record's result with its index. Typed and
/// serialised directly: building a `serde_json::Value` per record was ~1.5 % of a
/// webhook's CPU in the `webhooks` bench (`perf`), and the stored copy is built inside
/// the group-commit transaction. Field order is the JSON's key order.
#[derive(serde::Serialize)]
struct Summary<'a> {
    source: &'a str,
    #[serde(rename = "deliveryId")]
    delivery_id: Option<&'a str>,
    plugin: &'a str,
    accepted: usize,
    skipped: usize,
    rejected: usize,
    failed: usize,
    duplicate: usize,
    records: Vec<Indexed<'a>>,
}

/// One record's result followed by its position in the delivery.
#[derive(serde::Serialize)]
struct Indexed<'a> {
    #[serde(flatten)]
    result: &'a RecordResult,
    index: usize,
}

fn summarize<'a>(
    source: &'a str,
    delivery_id: Option<&'a str>,
    plugin_id: &'a str,
    results: &'a [RecordResult],
) -> Summary<'a> {
    let count = |f: fn(&RecordResult) -> bool| results.iter().filter(|r| f(r)).count();
    Summary {
        source,
        delivery_id,
        plugin: plugin_id,
        accepted: count(|r| matches!(r, RecordResult::Accepted { .. })),
        skipped: count(|r| matches!(r, RecordResult::Skipped { .. })),
        rejected: count(|r| matches!(r, RecordResult::Rejected { .. })),
        failed: count(|r| matches!(r, RecordResult::Failed { .. })),
        duplicate: count(|r| matches!(r, RecordResult::Duplicate { .. })),
        records: results
            .iter()
            .enumerate()
            .map(|(index, result)| Indexed { result, index })
            .collect(),
    }
}

/// A summary as JSON text.
fn summary_json(summary: &Summary<'_>) -> String {
    serde_json::to_string(summary).expect("a summary always serialises to JSON")
}

async fn lookup(state: &AppState, source: &str, id: &str) -> Result<Option<String>, ApiError> {
    state.engine.delivery(source, id).await.map_err(|e| {
        ApiError::unavailable(
            "dedup-unavailable",
            format!("could not check delivery {id:?}: {e}"),
        )
    })
}

fn duplicate(source: &str, id: &str, summary: String) -> Response {
    metrics::counter!("dialsync_webhook_deliveries_total",
        "source" => source.to_owned(), "result" => "duplicate")
    .increment(1);
    let original: Value = serde_json::from_str(&summary).unwrap_or(Value::Null);
    (
        StatusCode::OK,
        axum::Json(json!({
            "duplicate": true,
            "deliveryId": id,
            "message": format!("delivery {id:?} was already received; nothing was stored again"),
            "original": original,
        })),
    )
        .into_response()
}

fn soap(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        body,
    )
        .into_response()
}
