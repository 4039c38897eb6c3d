//! Turns a data-action contract into the `PostActionInput` (SDK model, PureCloudPlatformClientV2
//! 269.0.0) of a custom action of a Web Services Data Actions integration, as
//! `POST /api/v2/integrations/actions` takes it: written by `dialsync actions install`, or
//! by `dialsync actions export --integration-id` for admins who post it themselves.
//!
//! The request sends the whole input as the body (`${input.rawRequest}`) to
//! `<base>/v1/actions/<name>`; the response passes dialsync's JSON through unchanged
//! (`${rawResult}`), with a translation map naming each output field for Architect.
//! `integrationId` is the integration whose credential holds the dialsync token (User
//! Defined credential with a `token` field for bearer; the Basic Auth credential type for
//! basic) — a real id, so the file imports as it is.

use serde_json::{Map, Value, json};

use super::contracts::Contract;

/// The category the exported actions are filed under.
pub const CATEGORY: &str = "dialsync";

/// How the integration's credential reaches dialsync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialStyle {
    /// User Defined credential with a `token` field → `Authorization: Bearer ${credentials.token}`.
    Bearer,
    /// Basic Auth credential type: Genesys adds `Authorization: Basic ...` itself.
    Basic,
}

/// The `PostActionInput` JSON for `contract` on integration `integration_id`, calling
/// dialsync at `base_url`.
pub fn post_action_input(
    contract: &Contract,
    base_url: &str,
    style: CredentialStyle,
    integration_id: &str,
) -> Value {
    let mut headers = Map::new();
    headers.insert("Content-Type".into(), json!("application/json"));
    headers.insert("Accept".into(), json!("application/json"));
    if style == CredentialStyle::Bearer {
        headers.insert("Authorization".into(), json!("Bearer ${credentials.token}"));
    }
    let translation: Map<String, Value> = contract
        .output
        .get("properties")
        .and_then(Value::as_object)
        .map(|props| {
            props
                .keys()
                .map(|k| (k.clone(), json!(format!("$.{k}"))))
                .collect()
        })
        .unwrap_or_default();
    json!({
        "name": format!("dialsync {}", contract.name),
        "category": CATEGORY,
        "integrationId": integration_id,
        "secure": false,
        "contract": {
            "input": { "inputSchema": contract.input },
            "output": { "successSchema": contract.output },
        },
        "config": {
            "timeoutSeconds": 60,
            "request": {
                "requestUrlTemplate": format!("{}/v1/actions/{}", base_url.trim_end_matches('/'), contract.name),
                "requestType": "POST",
                "headers": headers,
                "requestTemplate": "${input.rawRequest}",
            },
            "response": {
                "translationMap": translation,
                "translationMapDefaults": {},
                "successTemplate": "${rawResult}",
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::contracts::builtins;

    #[test]
    fn export_has_the_genesys_shape() {
        let c = &builtins()[0];
        let v = post_action_input(
            c,
            "https://dialsync.example.com/",
            CredentialStyle::Bearer,
            "int-1",
        );
        assert_eq!(v["integrationId"], "int-1");
        assert_eq!(v["name"], "dialsync sync-record");
        assert_eq!(
            v["config"]["request"]["requestUrlTemplate"],
            "https://dialsync.example.com/v1/actions/sync-record"
        );
        assert_eq!(
            v["config"]["request"]["requestTemplate"],
            "${input.rawRequest}"
        );
        assert_eq!(v["config"]["response"]["successTemplate"], "${rawResult}");
        assert_eq!(
            v["config"]["response"]["translationMap"]["outcome"],
            "$.outcome"
        );
        assert_eq!(
            v["contract"]["input"]["inputSchema"]["$schema"],
            "http://json-schema.org/draft-04/schema#"
        );
        let basic = post_action_input(c, "http://x", CredentialStyle::Basic, "int-1");
        assert!(
            basic["config"]["request"]["headers"]
                .get("Authorization")
                .is_none()
        );
    }
}
