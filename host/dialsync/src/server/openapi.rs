//! `GET /openapi.json`: an OpenAPI 3.1 description of the whole HTTP API, written by
//! hand with `serde_json` (no OpenAPI crate fits axum 0.8 handlers without annotating
//! every one of them). The data-action request and response bodies come from the
//! actions' own contracts, so they cannot drift; a test checks every route the router
//! serves is documented.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde_json::{Map, Value, json};

use super::actions::all_contracts;
use super::state::AppState;

/// Every (method, path) the router serves, as OpenAPI paths.
pub const ROUTES: [(&str, &str); 16] = [
    ("post", "/v1/sources/{source}/events"),
    ("post", "/v1/actions/{action}"),
    ("get", "/v1/admin/plugins"),
    ("post", "/v1/admin/plugins"),
    ("get", "/v1/admin/plugins/{name}"),
    ("delete", "/v1/admin/plugins/{name}"),
    ("put", "/v1/admin/sources/{source}/plugin"),
    ("get", "/v1/admin/records/{external_id}"),
    ("get", "/v1/admin/deadletters"),
    ("post", "/v1/admin/deadletters/replay"),
    ("get", "/v1/admin/runs"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
    ("get", "/v1/actions"),
];

/// Serves the document.
pub async fn document(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(build(&state))
}

fn error_response(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

fn json_response(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"type": "object"}}}})
}

fn path_param(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}, "description": description})
}

/// The OpenAPI document for this server (its sources and actions included).
pub fn build(state: &AppState) -> Value {
    let sources: Vec<&String> = state.sources.keys().collect();
    let actions = all_contracts(state);
    let action_names: Vec<&str> = actions.iter().map(|c| c.name.as_str()).collect();
    let mut action_schemas = Map::new();
    for c in &actions {
        action_schemas.insert(format!("{}.input", c.name), c.input.clone());
        action_schemas.insert(format!("{}.output", c.name), c.output.clone());
    }
    let admin = json!([{"adminToken": []}]);
    let components = json!({
        "securitySchemes": {
            "adminToken": {"type": "http", "scheme": "bearer", "description": "[server] admin_token_env"},
            "actionsBearer": {"type": "http", "scheme": "bearer", "description": "[server.actions_auth] scheme = bearer"},
            "actionsBasic": {"type": "http", "scheme": "basic", "description": "[server.actions_auth] scheme = basic"},
            "webhook": {"type": "apiKey", "in": "header", "name": "Authorization",
                "description": "per source ([sources.NAME.auth]): Bearer, Basic, Standard Webhooks (webhook-id/webhook-timestamp/webhook-signature), GitHub (X-Hub-Signature-256 [+ X-GitHub-Delivery]) or Stripe-style (Stripe-Signature); an Idempotency-Key header dedups any scheme"}
        },
        "schemas": {
            "Error": {"type": "object", "required": ["error", "message"], "properties": {
                "error": {"type": "string", "description": "stable code"},
                "message": {"type": "string", "description": "what and why, naming the record and field"}}},
            "DeliveryResult": {"type": "object", "properties": {
                "source": {"type": "string"}, "deliveryId": {"type": ["string", "null"]}, "plugin": {"type": "string"},
                "accepted": {"type": "integer"}, "skipped": {"type": "integer"}, "rejected": {"type": "integer"},
                "failed": {"type": "integer"}, "duplicate": {"type": "integer"},
                "records": {"type": "array", "items": {"type": "object", "required": ["index", "status"], "properties": {
                    "index": {"type": "integer"},
                    "status": {"enum": ["accepted", "skipped", "rejected", "failed", "duplicate"]},
                    "externalIds": {"type": "array", "items": {"type": "string"}},
                    "seqs": {"type": "array", "items": {"type": "integer"}},
                    "reason": {"type": "string"},
                    "error": {"type": "string"},
                    "deliveryId": {"type": "string"},
                    "errors": {"type": "array", "items": {"type": "object", "properties": {
                        "field": {"type": "string"}, "code": {"type": "string"}, "message": {"type": "string"}}}}}}}}},
            "Duplicate": {"type": "object", "properties": {
                "duplicate": {"const": true}, "deliveryId": {"type": "string"}, "message": {"type": "string"},
                "original": {"$ref": "#/components/schemas/DeliveryResult"}}},
            "actions": action_schemas
        }
    });
    let mut paths = Map::new();
    paths.insert("/v1/sources/{source}/events".into(), json!({"post": {
                "summary": "Receive a CRM webhook",
                "description": "One record, an array, ServiceNow {\"result\": ...}, Salesforce CDC events or a Salesforce Outbound Message (SOAP; answered with <Ack>true</Ack>). 202 only once the accepted records are durable in the journal.",
                "security": [{"webhook": []}],
                "parameters": [{"name": "source", "in": "path", "required": true, "schema": {"enum": sources}}],
                "requestBody": {"required": true, "content": {
                    "application/json": {"schema": {}},
                    "text/xml": {"schema": {"type": "string", "description": "Salesforce Outbound Message"}}}},
                "responses": {
                    "202": {"description": "records durable; per-record results", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/DeliveryResult"}}}},
                    "200": {"description": "a replayed delivery id (nothing stored again), nothing to sync, or a Salesforce Outbound Message acknowledged", "content": {
                        "application/json": {"schema": {"oneOf": [{"$ref": "#/components/schemas/Duplicate"}, {"$ref": "#/components/schemas/DeliveryResult"}]}},
                        "text/xml": {"schema": {"type": "string"}}}},
                    "400": {"description": "malformed body, or every record rejected (per-record reasons)", "content": {"application/json": {"schema": {"oneOf": [{"$ref": "#/components/schemas/Error"}, {"$ref": "#/components/schemas/DeliveryResult"}]}}}},
                    "401": error_response("authentication failed; nothing stored"),
                    "404": error_response("unknown source"),
                    "409": error_response("the same delivery id is being processed right now"),
                    "413": {"description": "body larger than [server] max_body_bytes"},
                    "503": error_response("the journal is unavailable; nothing acknowledged, retry")
                }}}));
    paths.insert("/v1/actions".into(), json!({"get": {
                "summary": "List the data actions and their contracts",
                "security": admin,
                "responses": {"200": json_response("name, description, input and output contracts per action")}}}));
    paths.insert("/v1/actions/{action}".into(), json!({"post": {
                "summary": "Run a Genesys Cloud data action",
                "description": "Input and output follow the action's draft-04 contract (components.schemas.actions).",
                "security": [{"actionsBearer": []}, {"actionsBasic": []}],
                "parameters": [{"name": "action", "in": "path", "required": true, "schema": {"enum": action_names}}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object"}}}},
                "responses": {
                    "200": json_response("the action's success output"),
                    "400": error_response("input breaks the contract, or the record was rejected (field named)"),
                    "401": error_response("bad credentials"),
                    "404": error_response("unknown action, source or contact, or data actions off"),
                    "502": error_response("Genesys Cloud or the plugin failed"),
                    "503": error_response("the journal is unavailable")
                }}}));
    paths.insert("/v1/admin/plugins".into(), json!({
                "get": {"summary": "List bundled and installed plugins and what each source uses", "security": admin,
                    "responses": {"200": json_response("plugins"), "401": error_response("bad token")}},
                "post": {"summary": "Install a plugin component (raw wasm body)", "security": admin,
                    "requestBody": {"required": true, "content": {"application/wasm": {"schema": {"type": "string", "format": "binary"}}}},
                    "responses": {"201": json_response("installed"), "400": error_response("not a usable plugin (reason given)"),
                        "409": error_response("a bundled plugin's name"), "401": error_response("bad token")}}}));
    paths.insert("/v1/admin/plugins/{name}".into(), json!({
                "parameters": [path_param("name", "plugin name")],
                "get": {"summary": "Describe a plugin", "security": admin,
                    "responses": {"200": json_response("description and sha256"), "404": error_response("unknown plugin")}},
                "delete": {"summary": "Remove an installed plugin no source uses", "security": admin,
                    "responses": {"200": json_response("removed"), "404": error_response("unknown plugin"),
                        "409": error_response("in use or bundled")}}}));
    paths.insert("/v1/admin/sources/{source}/plugin".into(), json!({"put": {
                "summary": "Hot-swap a source's plugin and/or its config",
                "security": admin,
                "parameters": [path_param("source", "source name")],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "additionalProperties": false, "properties": {
                    "plugin": {"type": "string", "description": "bundled name, installed name or .wasm path"},
                    "config": {"type": "object"}}}}}},
                "responses": {"200": json_response("previous and current plugin"), "400": error_response("the new plugin does not load; the old one stays"),
                    "404": error_response("unknown source")}}}));
    paths.insert("/v1/admin/records/{external_id}".into(), json!({"get": {
                "summary": "Everything the journal knows about a record",
                "security": admin,
                "parameters": [path_param("external_id", "the record's externalId"),
                    {"name": "source", "in": "query", "required": false, "schema": {"type": "string"}}],
                "responses": {"200": json_response("status per list"), "404": error_response("unknown record")}}}));
    paths.insert(
        "/v1/admin/deadletters".into(),
        json!({"get": {"summary": "Dead letters not yet replayed", "security": admin,
                "responses": {"200": json_response("dead letters")}}}),
    );
    paths.insert("/v1/admin/deadletters/replay".into(), json!({"post": {"summary": "Put dead letters back in the queue", "security": admin,
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "properties": {
                    "ids": {"type": "array", "items": {"type": "integer"}, "description": "absent = all"}}}}}},
                "responses": {"200": json_response("replayed and unknown ids")}}}));
    paths.insert(
        "/v1/admin/runs".into(),
        json!({"get": {"summary": "Import runs with their reports, newest first", "security": admin,
                "responses": {"200": json_response("runs")}}}),
    );
    paths.insert(
        "/healthz".into(),
        json!({"get": {"summary": "Liveness", "responses": {"200": json_response("alive")}}}),
    );
    paths.insert("/readyz".into(), json!({"get": {"summary": "Readiness: journal, plugins, each org's Genesys token",
                "responses": {"200": json_response("ready"), "503": json_response("not ready (failing checks named)")}}}));
    paths.insert("/metrics".into(), json!({"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "text exposition format",
                "content": {"text/plain": {"schema": {"type": "string"}}}}}}}));
    paths.insert("/openapi.json".into(), json!({"get": {"summary": "This document", "responses": {"200": json_response("OpenAPI 3.1")}}}));
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "dialsync",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "CRM webhooks in, Genesys Cloud data actions, admin API, health and metrics."
        },
        "components": components,
        "paths": paths,
    })
}
