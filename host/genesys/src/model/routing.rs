//! Routing skills, languages and agent utilization (unversioned endpoints).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An org routing skill (`GET /api/v2/routing/skills`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoutingSkill {
    /// Skill id.
    pub id: String,
    /// Skill name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `active|inactive|deleted`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// API URI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub self_uri: Option<String>,
}

/// An org routing language (`GET /api/v2/routing/languages`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Language {
    /// Language id.
    pub id: String,
    /// Language name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `active|inactive|deleted`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// API URI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub self_uri: Option<String>,
}

/// A skill assigned to a user.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserRoutingSkill {
    /// Skill id.
    pub id: String,
    /// Skill name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// 0.0–5.0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proficiency: Option<f64>,
    /// `active|inactive|deleted`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// URI of the skill.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skill_uri: Option<String>,
}

/// A skill assignment to send.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserRoutingSkillPost {
    /// Skill id.
    pub id: String,
    /// 0.0–5.0.
    pub proficiency: f64,
}

/// A language assigned to a user.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserRoutingLanguage {
    /// Language id.
    pub id: String,
    /// Language name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// 0.0–5.0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proficiency: Option<f64>,
    /// `active|inactive|deleted`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// URI of the language.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language_uri: Option<String>,
}

/// A language assignment to send.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserRoutingLanguagePost {
    /// Language id.
    pub id: String,
    /// 0.0–5.0.
    pub proficiency: f64,
}

/// Capacity for one media type.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaUtilization {
    /// Concurrent interactions of this type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maximum_capacity: Option<u32>,
    /// Media types that may interrupt this one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interruptable_media_types: Option<Vec<String>>,
    /// Count non-ACD interactions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include_non_acd: Option<bool>,
}

/// Agent utilization (`/api/v2/routing/users/{id}/utilization`): the GET answer
/// (`AgentMaxUtilizationResponse`, with `level`) and the PUT body (`UtilizationRequest`; the
/// client leaves `level` out when sending). Media types left out of a PUT revert to the org
/// default.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Utilization {
    /// Media type (`call`, `chat`, `email`, `callback`, `message`) → capacity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub utilization: Option<BTreeMap<String, MediaUtilization>>,
    /// Label id → capacity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label_utilizations: Option<BTreeMap<String, Value>>,
    /// Max inbound calls.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_inbound_calls: Option<u32>,
    /// `Agent` (custom) or `Organization` (org default); read only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
}
