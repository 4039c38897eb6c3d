//! Genesys `ErrorBody` answers. Handlers return [`ApiError`]; the outer middleware
//! (`gate::outer`) fills in `contextId` (= the `ININ-Correlation-Id` header) and turns
//! any other non-2xx without a body (axum's 404/405) into an `ErrorBody` too.
//!
//! The fields are those of the SDK's `ErrorBody` model (PureCloudPlatformClientV2 269.0.0,
//! `models/error_body.py`: message, code, status, entityId, entityName, messageWithParams,
//! messageParams, contextId, details, errors, limit) and `Detail` (errorCode, fieldName,
//! entityId, entityName). `messageWithParams` is the message with `{name}` placeholders that
//! `messageParams` fills, as Genesys sends it.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

/// One entry of `ErrorBody.details`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Detail {
    /// Machine code of this detail.
    pub error_code: String,
    /// The offending field (JSON path-ish, e.g. `[3].data.Phone`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field_name: Option<String>,
    /// The entity concerned, e.g. a contact id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entity_id: Option<String>,
    /// The kind or name of that entity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_name: Option<String>,
}

/// `Limit`: the named org limit a request exceeded (`ErrorBody.limit`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Limit {
    /// Limit key, e.g. `client.credentials.token.rate.per.minute`.
    pub key: String,
    /// Limit namespace, e.g. `platform.api`.
    pub namespace: String,
    /// The limit's value.
    pub value: i64,
}

/// The Genesys `ErrorBody` model.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// Human-readable text.
    pub message: String,
    /// Dotted machine code (`bad.request`, `not.found`, ...).
    pub code: String,
    /// HTTP status.
    pub status: u16,
    /// The entity concerned (e.g. the user whose version conflicted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_id: Option<String>,
    /// The kind or name of that entity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_name: Option<String>,
    /// `message` with `{param}` placeholders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_with_params: Option<String>,
    /// The values of the placeholders.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub message_params: BTreeMap<String, String>,
    /// Correlation id, equal to the `ININ-Correlation-Id` header.
    pub context_id: String,
    /// Field-level details.
    pub details: Vec<Detail>,
    /// Nested errors.
    pub errors: Vec<ErrorBody>,
    /// The org limit that was exceeded, if one was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<Limit>,
}

impl ErrorBody {
    /// The answer body for `e` under correlation id `context_id`.
    pub(crate) fn from_api(e: &ApiError, context_id: &str) -> Self {
        Self {
            message: e.message.clone(),
            code: e.code.clone(),
            status: e.status.as_u16(),
            entity_id: e.more.entity_id.clone(),
            entity_name: e.more.entity_name.clone(),
            message_with_params: e.more.message_with_params.clone(),
            message_params: e.more.message_params.clone(),
            context_id: context_id.to_owned(),
            details: e.details.clone(),
            errors: Vec::new(),
            limit: e.more.limit.clone(),
        }
    }
}

/// `ErrorBody` fields only some errors carry.
#[derive(Clone, Debug, Default)]
pub struct ErrorMore {
    /// `ErrorBody.entityId`.
    pub entity_id: Option<String>,
    /// `ErrorBody.entityName`.
    pub entity_name: Option<String>,
    /// `ErrorBody.messageWithParams`.
    pub message_with_params: Option<String>,
    /// `ErrorBody.messageParams`.
    pub message_params: BTreeMap<String, String>,
    /// `ErrorBody.limit`.
    pub limit: Option<Limit>,
}

/// An error answer from a handler.
#[derive(Clone, Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Genesys code.
    pub code: String,
    /// Message.
    pub message: String,
    /// Details.
    pub details: Vec<Detail>,
    /// The less common `ErrorBody` fields (boxed to keep results small).
    pub more: Box<ErrorMore>,
    /// Extra headers (e.g. `Retry-After`).
    pub headers: Vec<(&'static str, String)>,
}

impl ApiError {
    /// Builds an error with no details.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
            details: Vec::new(),
            more: Box::default(),
            headers: Vec::new(),
        }
    }
    /// Builds an error whose message is `template` with `{name}` placeholders filled from
    /// `params` (both are sent: `messageWithParams` and `messageParams`).
    pub fn with_params(
        status: StatusCode,
        code: &str,
        template: &str,
        params: &[(&str, String)],
    ) -> Self {
        let mut message = template.to_owned();
        for (k, v) in params {
            message = message.replace(&format!("{{{k}}}"), v);
        }
        let mut e = Self::new(status, code, message);
        e.more.message_with_params = Some(template.to_owned());
        e.more.message_params = params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        e
    }
    /// Sets `entityId`/`entityName`.
    pub fn entity(mut self, id: &str, name: &str) -> Self {
        self.more.entity_id = Some(id.to_owned());
        self.more.entity_name = Some(name.to_owned());
        self
    }
    /// Sets `limit`.
    pub fn limit(mut self, key: &str, namespace: &str, value: i64) -> Self {
        self.more.limit = Some(Limit {
            key: key.to_owned(),
            namespace: namespace.to_owned(),
            value,
        });
        self
    }
    /// 400 `bad.request`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad.request", message)
    }
    /// 400 `invalid.value` naming a field.
    pub fn invalid_value(field: impl Into<String>, message: impl Into<String>) -> Self {
        let field = field.into();
        Self::new(StatusCode::BAD_REQUEST, "invalid.value", message).with_detail(
            "invalid.value",
            Some(field),
            None,
        )
    }
    /// 404 `not.found`.
    pub fn not_found(what: &str, id: &str) -> Self {
        Self::with_params(
            StatusCode::NOT_FOUND,
            "not.found",
            "The requested resource was not found: {entityName} '{entityId}'",
            &[("entityName", what.to_owned()), ("entityId", id.to_owned())],
        )
        .entity(id, what)
    }
    /// 409 version conflict.
    pub fn version_conflict(what: &str, id: &str, given: i64, current: i64) -> Self {
        Self::with_params(
            StatusCode::CONFLICT,
            "general.conflict",
            "The version supplied ({given}) for {entityName} '{entityId}' does not match the current version ({current})",
            &[
                ("given", given.to_string()),
                ("entityName", what.to_owned()),
                ("entityId", id.to_owned()),
                ("current", current.to_string()),
            ],
        )
        .entity(id, what)
    }
    /// Adds a detail.
    pub fn with_detail(
        mut self,
        code: &str,
        field: Option<String>,
        entity: Option<String>,
    ) -> Self {
        self.details.push(Detail {
            error_code: code.into(),
            field_name: field,
            entity_id: entity,
            entity_name: None,
        });
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = self.status.into_response();
        resp.extensions_mut().insert(self);
        resp
    }
}

/// Handler result.
pub type ApiResult<T> = Result<T, ApiError>;

/// Default code and message for a bare status (404/405 from routing, etc.).
pub fn default_for(status: StatusCode) -> (&'static str, &'static str) {
    match status.as_u16() {
        400 => (
            "bad.request",
            "The request could not be understood by the server due to malformed syntax.",
        ),
        401 => (
            "authentication.required",
            "No authentication bearer token specified in authorization header.",
        ),
        404 => ("not.found", "The requested resource was not found."),
        405 => (
            "method.not.allowed",
            "HTTP method not allowed for this resource.",
        ),
        413 => (
            "request.entity.too.large",
            "The request is over the size limit.",
        ),
        415 => (
            "unsupported.media.type",
            "Unsupported Media Type - Unsupported or incorrect media type, such as an incorrect Content-Type value in the header.",
        ),
        422 => ("bad.request", "The request body could not be parsed."),
        503 => (
            "service.unavailable",
            "Service Unavailable - The server is currently unavailable (because it is overloaded or down for maintenance).",
        ),
        _ => (
            "internal.server.error",
            "The server encountered an unexpected condition which prevented it from fulfilling the request.",
        ),
    }
}
