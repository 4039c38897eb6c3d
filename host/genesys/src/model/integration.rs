//! Integrations and data actions (SDK models `Integration`, `CreateIntegrationRequest`,
//! `Action`, `PostActionInput`, `UpdateDraftInput`, `PublishDraftInput`;
//! PureCloudPlatformClientV2 269.0.0). An action's `config` and `contract` are kept as JSON:
//! dialsync builds them (server/export.rs) and compares them whole.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::DomainEntityRef;

/// The integration type of Web Services Data Actions (as the public Terraform provider's
/// `genesyscloud_integration` examples name it).
pub const WEB_SERVICES_DATA_ACTIONS: &str = "custom-rest-actions";

/// An installed integration.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Integration {
    /// Integration id (the `integrationId` of its actions).
    pub id: String,
    /// Name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its type (`{id: "custom-rest-actions"}` for Web Services Data Actions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub integration_type: Option<DomainEntityRef>,
    /// `ENABLED`, `DISABLED` or `DELETED`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intended_state: Option<String>,
}

/// A data action (published, or a draft).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Action {
    /// Action id.
    pub id: String,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Category.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// The integration holding it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub integration_id: Option<String>,
    /// Version (send it back to PATCH or publish a draft).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    /// Whether inputs/outputs are hidden from logs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secure: Option<bool>,
    /// `ActionConfig` (only with `includeConfig=true`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<Value>,
    /// `ActionContract` (only with `expand=contract`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contract: Option<Value>,
}

/// Body of `POST /api/v2/integrations/actions[/drafts]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostActionInput {
    /// Category (≤ 256 characters).
    pub category: String,
    /// Name (≤ 256 characters).
    pub name: String,
    /// The Web Services Data Actions integration.
    pub integration_id: String,
    /// `ActionConfig`.
    pub config: Value,
    /// `ActionContractInput` (`{input: {inputSchema}, output: {successSchema}}`).
    pub contract: Value,
    /// Secure action.
    pub secure: bool,
}

/// Body of `PATCH /api/v2/integrations/actions/{id}/draft`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateDraftInput {
    /// Category.
    pub category: String,
    /// Name.
    pub name: String,
    /// `ActionConfig`.
    pub config: Value,
    /// `ActionContractInput`.
    pub contract: Value,
    /// Secure action.
    pub secure: bool,
    /// The draft's current version.
    pub version: i64,
}
