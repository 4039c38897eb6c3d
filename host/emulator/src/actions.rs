//! Data actions (Web Services Data Actions integration), executed the way Genesys Cloud
//! does: `POST /api/v2/integrations/actions` stores an action (contract checked:
//! object input of flat primitives, no `$ref`), `GET .../actions/{id}` reads it,
//! `POST .../actions/{id}/execute` and `/test` check the input against the contract's
//! `inputSchema` (draft-04), render the request from the action's config (a minimal
//! Velocity: `${input.rawRequest}`, `${input.x}`, `$esc.jsonString(...)`,
//! `$esc.url(...)`, `${credentials.x}`), call the external service with reqwest, map a
//! 2xx JSON answer through `translationMap` (JSONPath `$.a.b`) with
//! `translationMapDefaults`, render `successTemplate` (`${rawResult}` or translated
//! names) and check the result against `successSchema`. `/test` answers a
//! `TestExecutionResult` with one operation per step.
//!
//! Integration credentials are set through the control API
//! (`PUT /_emulator/integrations/{integrationId}/credentials`, a map of fields), since
//! the emulator has no integrations/credentials resources.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use serde_json::{Map, Value, json};

use crate::error::ApiError;

#[derive(Default)]
struct Store {
    actions: Mutex<HashMap<String, Value>>,
    credentials: Mutex<HashMap<String, Map<String, Value>>>,
}

type Shared = Arc<Store>;

/// The data-action routes: (API routes, to sit behind the bearer-token gate; control
/// route), sharing one store per emulator.
pub(crate) fn routes<S: Clone + Send + Sync + 'static>() -> (Router<S>, Router<S>) {
    let store = Shared::default();
    let api = Router::new()
        .route("/api/v2/integrations/actions", post(create).get(list))
        .route("/api/v2/integrations/actions/{actionId}", get(read))
        .route(
            "/api/v2/integrations/actions/{actionId}/execute",
            post(execute),
        )
        .route("/api/v2/integrations/actions/{actionId}/test", post(test))
        .with_state(store.clone());
    let control = Router::new()
        .route(
            "/_emulator/integrations/{integrationId}/credentials",
            put(set_credentials),
        )
        .with_state(store);
    (api, control)
}

const INPUT_TYPES: [&str; 5] = ["string", "integer", "number", "boolean", "null"];
const RESERVED: [&str; 3] = ["orgId", "integrationId", "rawRequest"];

async fn create(
    State(store): State<Shared>,
    Json(body): Json<Value>,
) -> Result<Json<Value>, ApiError> {
    for field in ["name", "category", "integrationId"] {
        if body[field].as_str().is_none_or(str::is_empty) {
            return Err(ApiError::invalid_value(
                field,
                format!("{field} is required"),
            ));
        }
    }
    let input = &body["contract"]["input"]["inputSchema"];
    let output = &body["contract"]["output"]["successSchema"];
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
    if body["config"]["request"]["requestUrlTemplate"]
        .as_str()
        .is_none()
    {
        return Err(ApiError::invalid_value(
            "config.request.requestUrlTemplate",
            "is required",
        ));
    }
    let id = format!("custom_-_{}", uuid::Uuid::new_v4());
    let mut action = body.clone();
    action["id"] = json!(id);
    action["version"] = json!(1);
    action["selfUri"] = json!(format!("/api/v2/integrations/actions/{id}"));
    store
        .actions
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(id, action.clone());
    Ok(Json(action))
}

async fn list(State(store): State<Shared>) -> Json<Value> {
    let all: Vec<Value> = store
        .actions
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .values()
        .cloned()
        .collect();
    let total = all.len();
    Json(
        json!({"entities": all, "pageSize": total.max(1), "pageNumber": 1, "total": total, "pageCount": 1}),
    )
}

fn get_action(store: &Store, id: &str) -> Result<Value, ApiError> {
    store
        .actions
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(id)
        .cloned()
        .ok_or_else(|| ApiError::not_found("action", id))
}

async fn read(
    State(store): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    get_action(&store, &id).map(Json)
}

async fn set_credentials(
    State(store): State<Shared>,
    Path(integration): Path<String>,
    Json(fields): Json<Map<String, Value>>,
) -> StatusCode {
    store
        .credentials
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(integration, fields);
    StatusCode::NO_CONTENT
}

/// One step of an execution, as `/test` reports it.
struct Step {
    name: &'static str,
    result: Value,
    error: Option<ApiError>,
}

async fn execute(
    State(store): State<Shared>,
    Path(id): Path<String>,
    Json(input): Json<Value>,
) -> Result<Json<Value>, ApiError> {
    let action = get_action(&store, &id)?;
    let mut steps = Vec::new();
    run(&store, &action, &input, &mut steps).await.map(Json)
}

async fn test(
    State(store): State<Shared>,
    Path(id): Path<String>,
    Json(input): Json<Value>,
) -> Result<Json<Value>, ApiError> {
    let action = get_action(&store, &id)?;
    let mut steps = Vec::new();
    let result = run(&store, &action, &input, &mut steps).await;
    let operations: Vec<Value> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            json!({"step": i + 1, "name": s.name, "success": s.error.is_none(), "result": s.result,
                "error": s.error.as_ref().map(error_body)})
        })
        .collect();
    Ok(Json(match result {
        Ok(out) => json!({"operations": operations, "finalResult": out, "success": true}),
        Err(e) => json!({"operations": operations, "error": error_body(&e), "success": false}),
    }))
}

fn error_body(e: &ApiError) -> Value {
    json!({"message": e.message, "code": e.code, "status": e.status.as_u16()})
}

fn fail(steps: &mut Vec<Step>, name: &'static str, e: ApiError) -> ApiError {
    steps.push(Step {
        name,
        result: Value::Null,
        error: Some(e.clone()),
    });
    e
}

async fn run(
    store: &Store,
    action: &Value,
    input: &Value,
    steps: &mut Vec<Step>,
) -> Result<Value, ApiError> {
    // 1. Input against the contract.
    let schema = &action["contract"]["input"]["inputSchema"];
    let validator =
        jsonschema::draft4::new(schema).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let errors: Vec<String> = validator
        .iter_errors(input)
        .map(|e| format!("{}: {e}", e.instance_path))
        .collect();
    if !errors.is_empty() {
        return Err(fail(
            steps,
            "Validate input against the input contract",
            ApiError::bad_request(format!(
                "input does not match the contract: {}",
                errors.join("; ")
            )),
        ));
    }
    steps.push(Step {
        name: "Validate input against the input contract",
        result: input.clone(),
        error: None,
    });

    // 2. Render the request.
    let credentials = action["integrationId"]
        .as_str()
        .and_then(|i| {
            store
                .credentials
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(i)
                .cloned()
        })
        .unwrap_or_default();
    let request = &action["config"]["request"];
    let render_ctx = Ctx {
        input,
        credentials: &credentials,
    };
    let url = render(
        request["requestUrlTemplate"].as_str().unwrap_or_default(),
        &render_ctx,
    );
    let method = request["requestType"]
        .as_str()
        .unwrap_or("POST")
        .to_uppercase();
    let body = render(
        request["requestTemplate"]
            .as_str()
            .unwrap_or("${input.rawRequest}"),
        &render_ctx,
    );
    let mut headers = Vec::new();
    if let Some(h) = request["headers"].as_object() {
        for (k, v) in h {
            headers.push((
                k.clone(),
                render(v.as_str().unwrap_or_default(), &render_ctx),
            ));
        }
    }
    steps.push(Step {
        name: "Resolve request",
        result: json!({"requestUrl": url, "requestType": method, "headers": headers.iter().map(|(k, _)| k).collect::<Vec<_>>(), "body": body}),
        error: None,
    });

    // 3. Call the service.
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
            "Execute request",
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
            "Execute request",
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
            "Execute request",
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "bad.gateway",
                format!("the remote answer is not JSON: {e}"),
            ),
        )
    })?;
    steps.push(Step {
        name: "Execute request",
        result: raw.clone(),
        error: None,
    });

    // 4. Translation map (+ defaults) and success template.
    let response = &action["config"]["response"];
    let mut translated = Map::new();
    if let Some(map) = response["translationMap"].as_object() {
        for (name, path) in map {
            let found = json_path(&raw, path.as_str().unwrap_or_default());
            let value = match found {
                Some(v) => v.clone(),
                None => match response["translationMapDefaults"].get(name) {
                    Some(Value::String(d)) => {
                        serde_json::from_str(d).unwrap_or(Value::String(d.clone()))
                    }
                    Some(d) => d.clone(),
                    None => {
                        return Err(fail(
                            steps,
                            "Translate response",
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
        name: "Translate response",
        result: Value::Object(translated.clone()),
        error: None,
    });
    let template = response["successTemplate"]
        .as_str()
        .unwrap_or("${rawResult}");
    let mut rendered = template.replace("${rawResult}", &raw.to_string());
    for (name, value) in &translated {
        let literal = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        rendered = rendered.replace(&format!("${{{name}}}"), &literal);
    }
    let out: Value = serde_json::from_str(&rendered).map_err(|e| {
        fail(
            steps,
            "Apply success template",
            ApiError::bad_request(format!("the success template does not render JSON: {e}")),
        )
    })?;
    steps.push(Step {
        name: "Apply success template",
        result: out.clone(),
        error: None,
    });

    // 5. Output against the success contract.
    let schema = &action["contract"]["output"]["successSchema"];
    let validator =
        jsonschema::draft4::new(schema).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let errors: Vec<String> = validator
        .iter_errors(&out)
        .map(|e| format!("{}: {e}", e.instance_path))
        .collect();
    if !errors.is_empty() {
        return Err(fail(
            steps,
            "Validate output against the success contract",
            ApiError::bad_request(format!(
                "the result does not match the success schema: {}",
                errors.join("; ")
            )),
        ));
    }
    steps.push(Step {
        name: "Validate output against the success contract",
        result: out.clone(),
        error: None,
    });
    Ok(out)
}

/// What a template can refer to.
struct Ctx<'a> {
    input: &'a Value,
    credentials: &'a Map<String, Value>,
}

impl Ctx<'_> {
    fn lookup(&self, reference: &str) -> Option<String> {
        let reference = reference
            .trim()
            .trim_start_matches('$')
            .trim_start_matches('{')
            .trim_end_matches('}');
        if reference == "input.rawRequest" {
            return Some(self.input.to_string());
        }
        let (scope, key) = reference.split_once('.')?;
        let value = match scope {
            "input" => self.input.get(key)?,
            "credentials" => self.credentials.get(key)?,
            _ => return None,
        };
        Some(match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    }
}

/// A minimal Velocity: `$esc.jsonString(REF)`, `$esc.url(REF)`, `${scope.key}`; anything
/// else is left as written (as Velocity leaves unknown references).
fn render(template: &str, ctx: &Ctx<'_>) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        let mut handled = false;
        for (prefix, escape) in [("$esc.jsonString(", true), ("$esc.url(", false)] {
            if let Some(after) = tail.strip_prefix(prefix)
                && let Some(end) = after.find(')')
            {
                let value = ctx.lookup(&after[..end]).unwrap_or_default();
                if escape {
                    let quoted = Value::String(value).to_string();
                    out.push_str(&quoted[1..quoted.len() - 1]);
                } else {
                    out.extend(url::form_urlencoded::byte_serialize(value.as_bytes()));
                }
                rest = &after[end + 1..];
                handled = true;
                break;
            }
        }
        if handled {
            continue;
        }
        if let Some(after) = tail.strip_prefix("${")
            && let Some(end) = after.find('}')
            && let Some(value) = ctx.lookup(&after[..end])
        {
            out.push_str(&value);
            rest = &after[end + 1..];
            continue;
        }
        out.push('$');
        rest = &tail[1..];
    }
    out.push_str(rest);
    out
}

/// JSONPath subset: `$`, `$.a.b`, `$.a[0].b`.
fn json_path<'v>(value: &'v Value, path: &str) -> Option<&'v Value> {
    let mut current = value;
    let rest = path.trim().strip_prefix('$')?;
    for part in rest.split('.').filter(|p| !p.is_empty()) {
        let (name, index) = match part.split_once('[') {
            Some((n, i)) => (n, i.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        if !name.is_empty() {
            current = current.get(name)?;
        }
        if let Some(i) = index {
            current = current.get(i)?;
        }
    }
    Some(current)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn velocity_subset() {
        let input = json!({"name": "A \"b\"", "q": "x y&z", "n": 3});
        let creds = Map::from_iter([("token".to_owned(), json!("t0k"))]);
        let ctx = Ctx {
            input: &input,
            credentials: &creds,
        };
        assert_eq!(render("${input.rawRequest}", &ctx), input.to_string());
        assert_eq!(
            render("/p/${input.n}?q=$esc.url(${input.q})", &ctx),
            "/p/3?q=x+y%26z"
        );
        assert_eq!(
            render("{\"a\": \"$esc.jsonString(${input.name})\"}", &ctx),
            "{\"a\": \"A \\\"b\\\"\"}"
        );
        assert_eq!(render("Bearer ${credentials.token}", &ctx), "Bearer t0k");
        assert_eq!(render("$5 ${unknown.x}", &ctx), "$5 ${unknown.x}");
    }

    #[test]
    fn json_path_subset() {
        let v = json!({"a": {"b": [1, {"c": "x"}]}});
        assert_eq!(json_path(&v, "$.a.b[1].c"), Some(&json!("x")));
        assert_eq!(json_path(&v, "$"), Some(&v));
        assert_eq!(json_path(&v, "$.nope"), None);
    }
}
