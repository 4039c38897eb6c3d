//! The console's JSON reads and writes for records, dead letters and data actions.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Console;
use super::data::{RecordKey, SearchBy};
use crate::server::error::ApiError;
use crate::server::export::{self, CredentialStyle};

/// Most records one search shows.
pub const MAX_SEARCH_RESULTS: usize = 20;
/// How long the console waits for Genesys when showing a contact.
const GENESYS_WAIT: Duration = Duration::from_secs(10);

fn journal(e: impl std::fmt::Display) -> ApiError {
    ApiError::unavailable("journal-unavailable", e.to_string())
}

/// Query of `GET /console/api/records`.
#[derive(Debug, Deserialize)]
pub struct RecordsQuery {
    /// What to look for.
    pub q: String,
    /// How; absent: externalId, then CRM id, then phone.
    pub by: Option<SearchBy>,
}

/// `GET /console/api/records?q=&by=`: matching contacts, each with its full journal
/// history and the contact as Genesys holds it now.
pub async fn records(
    State(console): State<Arc<Console>>,
    Query(query): Query<RecordsQuery>,
) -> Result<Json<Value>, ApiError> {
    let q = query.q.trim().to_owned();
    if q.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "empty-query",
            "type an externalId, a CRM record id or a phone number",
        ));
    }
    let order: Vec<SearchBy> = match query.by {
        Some(by) => vec![by],
        None => vec![SearchBy::ExternalId, SearchBy::SourceId, SearchBy::Phone],
    };
    // Phone numbers are stored in E.164: normalise with every source's default region.
    let mut phones: BTreeSet<String> = BTreeSet::new();
    for src in console.app.sources.values() {
        if let Ok(n) = dialsync_phone::normalize(&q, Some(&src.default_region)) {
            phones.insert(n);
        }
    }
    let mut keys = Vec::new();
    let mut matched_by = None;
    for by in order {
        let terms: Vec<String> = match by {
            SearchBy::Phone => phones.iter().cloned().collect(),
            _ => vec![q.clone()],
        };
        for term in terms {
            let found = console
                .data
                .search(by, &term, MAX_SEARCH_RESULTS)
                .await
                .map_err(journal)?;
            keys.extend(found);
        }
        if !keys.is_empty() {
            matched_by = Some(by);
            break;
        }
    }
    keys.sort();
    keys.dedup();
    keys.truncate(MAX_SEARCH_RESULTS);
    let mut results = Vec::new();
    for key in keys {
        let Some(history) = console.data.history(&key).await.map_err(journal)? else {
            continue;
        };
        let genesys = current_contact(&console, &key).await;
        results.push(json!({"history": history, "genesys": genesys}));
    }
    Ok(Json(
        json!({"query": q, "matchedBy": matched_by, "results": results}),
    ))
}

/// The contact as Genesys holds it, read through the org's client.
async fn current_contact(console: &Console, key: &RecordKey) -> Value {
    let Some(src) = console
        .app
        .sources
        .values()
        .find(|s| s.list_id == key.list_id)
    else {
        return json!({"error": format!("no configured source writes to list {}", key.list_id)});
    };
    let Some(client) = console.app.clients.get(&src.org) else {
        return json!({"error": format!("org {} has no Genesys client", src.org)});
    };
    let id = crate::sync::contact_id(&key.list_id, &key.external_id);
    match tokio::time::timeout(GENESYS_WAIT, client.get_contact(&key.list_id, &id)).await {
        Ok(Ok(Some(c))) => json!({"contactId": id, "contact": c}),
        Ok(Ok(None)) => json!({"contactId": id, "contact": null}),
        Ok(Err(e)) => json!({"contactId": id, "error": e.to_string()}),
        Err(_) => json!({"contactId": id, "error": "Genesys did not answer within 10 s"}),
    }
}

/// Query of `GET /console/api/changes`.
#[derive(Debug, Deserialize)]
pub struct ChangesQuery {
    /// Comma-separated journal seqs.
    pub seqs: String,
}

/// `GET /console/api/changes?seqs=1,2`: where those changes are now (after a replay).
pub async fn changes(
    State(console): State<Arc<Console>>,
    Query(query): Query<ChangesQuery>,
) -> Result<Json<Value>, ApiError> {
    let seqs = query
        .seqs
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse::<i64>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad-seqs", format!("seqs: {e}")))?;
    let states = console.data.changes(&seqs).await.map_err(journal)?;
    Ok(Json(json!({"changes": states})))
}

/// Query of `GET /console/api/deadletters`.
#[derive(Debug, Deserialize)]
pub struct DeadLetterQuery {
    /// Only this source.
    pub source: Option<String>,
    /// Only letters whose externalId or error contains this (case-insensitive).
    pub q: Option<String>,
}

/// `GET /console/api/deadletters`: open dead letters, filtered.
pub async fn dead_letters(
    State(console): State<Arc<Console>>,
    Query(query): Query<DeadLetterQuery>,
) -> Result<Json<Value>, ApiError> {
    let all = console.app.engine.dead_letters().await.map_err(journal)?;
    let sources: BTreeSet<&str> = all.iter().map(|d| d.source.as_str()).collect();
    let needle = query
        .q
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(str::to_lowercase);
    let source = query.source.as_deref().filter(|s| !s.is_empty());
    let shown: Vec<_> = all
        .iter()
        .filter(|d| source.is_none_or(|s| d.source == s))
        .filter(|d| {
            needle.as_deref().is_none_or(|n| {
                d.external_id.to_lowercase().contains(n) || d.error.to_lowercase().contains(n)
            })
        })
        .collect();
    Ok(Json(json!({
        "total": all.len(),
        "sources": sources,
        "deadLetters": shown,
    })))
}

/// Body of `POST /console/api/deadletters/replay`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// Dead-letter ids to replay.
    #[serde(default)]
    pub ids: Option<Vec<i64>>,
    /// Replay every open dead letter (`ids` must then be absent).
    #[serde(default)]
    pub all: bool,
}

/// `POST /console/api/deadletters/replay`: puts dead letters back in the queue and answers
/// which were replayed and the journal seqs to follow for their new outcome.
pub async fn replay(
    State(console): State<Arc<Console>>,
    Json(req): Json<ReplayRequest>,
) -> Result<Json<Value>, ApiError> {
    let ids = match (req.ids, req.all) {
        (Some(ids), false) if !ids.is_empty() => Some(ids),
        (None, true) => None,
        _ => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad-replay",
                "send either a non-empty `ids` list or `all: true`",
            ));
        }
    };
    let open = console.app.engine.dead_letters().await.map_err(journal)?;
    let (replayed, unknown) = console.app.engine.replay(ids).await.map_err(journal)?;
    let seqs: Vec<i64> = open
        .iter()
        .filter(|d| replayed.contains(&d.id))
        .flat_map(|d| d.seqs.iter().copied())
        .collect();
    tracing::info!(
        replayed = replayed.len(),
        "dead letters replayed from the console"
    );
    Ok(Json(
        json!({"replayed": replayed, "unknown": unknown, "seqs": seqs}),
    ))
}

/// Query of `GET /console/api/actions`.
#[derive(Debug, Deserialize)]
pub struct ActionsQuery {
    /// Where Genesys Cloud reaches dialsync; default: this server as the browser sees it.
    #[serde(rename = "baseUrl")]
    pub base_url: Option<String>,
    /// The Web Services Data Actions integration the definitions belong to; default: the
    /// name an admin replaces, as `actions export` requires an explicit id.
    #[serde(rename = "integrationId")]
    pub integration_id: Option<String>,
}

/// The integration id shown until the admin enters theirs.
const INTEGRATION_ID_HINT: &str = "your-integration-id";

/// `GET /console/api/actions`: what `dialsync actions export` writes — per data action the
/// `PostActionInput` to import as a Genesys Cloud custom action.
pub async fn actions(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Query(query): Query<ActionsQuery>,
) -> Result<Json<Value>, ApiError> {
    let base_url = match query.base_url.filter(|b| !b.trim().is_empty()) {
        Some(b) => b.trim().to_owned(),
        None => format!(
            "http://{}",
            headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("127.0.0.1:8080")
        ),
    };
    url::Url::parse(&base_url).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad-base-url",
            format!("baseUrl {base_url:?}: {e}"),
        )
    })?;
    let integration_id = query
        .integration_id
        .map(|i| i.trim().to_owned())
        .filter(|i| !i.is_empty())
        .unwrap_or_else(|| INTEGRATION_ID_HINT.to_owned());
    let style = match &console.app.actions_auth {
        Some(a) if a.scheme() == "basic" => CredentialStyle::Basic,
        _ => CredentialStyle::Bearer,
    };
    let actions: Vec<Value> = crate::server::actions::all_contracts(&console.app)
        .iter()
        .map(|c| {
            json!({
                "name": c.name,
                "description": c.description,
                "problems": crate::server::contracts::genesys_rule_violations(c),
                "definition": export::post_action_input(c, &base_url, style, &integration_id),
            })
        })
        .collect();
    Ok(Json(json!({
        "baseUrl": base_url,
        "integrationId": integration_id,
        "enabled": console.app.actions_auth.is_some(),
        "credential": match style { CredentialStyle::Basic => "basic", CredentialStyle::Bearer => "bearer" },
        "actions": actions,
    })))
}
