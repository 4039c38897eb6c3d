//! Genesys `ErrorBody` answers. Handlers return [`ApiError`]; the outer middleware
//! (`gate::outer`) fills in `contextId` (= the `ININ-Correlation-Id` header) and turns
//! any other non-2xx without a body (axum's 404/405) into an `ErrorBody` too.

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
    /// Correlation id, equal to the `ININ-Correlation-Id` header.
    pub context_id: String,
    /// Field-level details.
    pub details: Vec<Detail>,
    /// Nested errors.
    pub errors: Vec<ErrorBody>,
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
            headers: Vec::new(),
        }
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
        Self::new(
            StatusCode::NOT_FOUND,
            "not.found",
            format!("The requested resource was not found: {what} '{id}'"),
        )
    }
    /// 409 version conflict.
    pub fn version_conflict(what: &str, id: &str, given: i64, current: i64) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "general.conflict",
            format!(
                "The version supplied ({given}) for {what} '{id}' does not match the current version ({current})"
            ),
        )
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
