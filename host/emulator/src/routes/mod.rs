//! HTTP handlers, one module per API area, plus the request helpers they share.

pub(crate) mod control;
pub(crate) mod oauth;
pub(crate) mod outbound;
pub(crate) mod routing;

use serde::de::DeserializeOwned;

use crate::error::{ApiError, ApiResult};

/// Query parameters, keeping repeated keys (`contactIds=a&contactIds=b`), which
/// `axum::extract::Query` (serde_urlencoded) cannot.
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    pub fn parse(raw: Option<String>) -> Self {
        Self(
            url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
                .into_owned()
                .collect(),
        )
    }
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    pub fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .flat_map(|(_, v)| v.split(',').map(str::to_string))
            .filter(|v| !v.is_empty())
            .collect()
    }
    pub fn flag(&self, key: &str) -> ApiResult<bool> {
        match self.get(key) {
            None => Ok(false),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some(v) => Err(ApiError::invalid_value(
                key,
                format!("query parameter {key}: '{v}' is not true or false"),
            )),
        }
    }
    /// `(pageSize, pageNumber)`: defaults 25 and 1; pageSize 1–`max`.
    pub fn paging(&self, max: usize) -> ApiResult<(usize, usize)> {
        let size = self.number("pageSize", 25)?;
        let number = self.number("pageNumber", 1)?;
        check_paging(size, number, max)?;
        Ok((size, number))
    }
    fn number(&self, key: &str, default: usize) -> ApiResult<usize> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| {
                ApiError::invalid_value(
                    key,
                    format!("query parameter {key}: '{v}' is not a number"),
                )
            }),
        }
    }
}

/// Checks page size/number bounds.
pub(crate) fn check_paging(size: usize, number: usize, max: usize) -> ApiResult<()> {
    if size == 0 || size > max {
        return Err(ApiError::invalid_value(
            "pageSize",
            format!("pageSize must be between 1 and {max}, got {size}"),
        ));
    }
    if number == 0 {
        return Err(ApiError::invalid_value(
            "pageNumber",
            "pageNumber must be at least 1",
        ));
    }
    Ok(())
}

/// Parses a JSON body, answering 400 with serde's reason (which names the field and
/// position). When `what` names an SDK model (`UpdateUser`, `WritableDialerContact[]`, ...)
/// the body is first checked against it: a field the model does not have answers 400.
pub(crate) fn json<T: DeserializeOwned>(body: &[u8], what: &str) -> ApiResult<T> {
    if body.is_empty() {
        return Err(ApiError::bad_request(format!(
            "{what}: a JSON body is required"
        )));
    }
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("{what}: invalid JSON body: {e}")))?;
    if crate::sdk_models::is_model(what) {
        crate::sdk_models::check(what, &value)?;
    }
    serde_json::from_value(value)
        .map_err(|e| ApiError::bad_request(format!("{what}: invalid JSON body: {e}")))
}
