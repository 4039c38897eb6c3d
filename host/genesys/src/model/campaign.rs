//! Outbound campaigns (read only in dialsync: which campaigns use a list, and their progress).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::DomainEntityRef;

/// An outbound campaign.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Campaign {
    /// Campaign id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Campaign name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Optimistic-lock version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    /// The contact list it dials.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_list: Option<DomainEntityRef>,
    /// Its queue.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue: Option<DomainEntityRef>,
    /// `agentless|preview|power|predictive|progressive|external`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dialing_mode: Option<String>,
    /// `on|stopping|off|complete|invalid|forced_off|forced_stopping`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub campaign_status: Option<String>,
    /// DNC lists it honours.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dnc_lists: Option<Vec<DomainEntityRef>>,
    /// Stays on after contacts are depleted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub always_running: Option<bool>,
    /// API URI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub self_uri: Option<String>,
    /// Fields this crate does not model, kept for round trips.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl Campaign {
    /// True while the dialer may be using the campaign's list (`on` or `stopping`).
    pub fn is_running(&self) -> bool {
        matches!(
            self.campaign_status.as_deref(),
            Some("on" | "stopping" | "forced_stopping")
        )
    }
}

/// `GET /api/v2/outbound/campaigns/{id}/progress`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CampaignProgress {
    /// The campaign.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub campaign: Option<DomainEntityRef>,
    /// Its contact list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_list: Option<DomainEntityRef>,
    /// Contacts called so far.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number_of_contacts_called: Option<u64>,
    /// Contacts messaged so far.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number_of_contacts_messaged: Option<u64>,
    /// Contacts in the list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_number_of_contacts: Option<u64>,
    /// Percentage done.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percentage: Option<f64>,
    /// Skipped contacts by reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number_of_contacts_skipped: Option<BTreeMap<String, u64>>,
}
