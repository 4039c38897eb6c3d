//! Outbound campaigns (`/api/v2/outbound/campaigns…`): which campaigns dial a list, and their
//! progress (dialsync soft-deletes while a campaign runs on the list).

use reqwest::Method;

use crate::client::{Call, GenesysClient};
use crate::error::GenesysError;
use crate::model::{Campaign, CampaignProgress};

impl GenesysClient {
    /// Every campaign (all pages).
    pub async fn list_campaigns(&self) -> Result<Vec<Campaign>, GenesysError> {
        self.all_pages(
            "/api/v2/outbound/campaigns",
            &["api", "v2", "outbound", "campaigns"],
        )
        .await
    }

    /// One campaign.
    pub async fn get_campaign(&self, id: &str) -> Result<Campaign, GenesysError> {
        let url = self.url(&["api", "v2", "outbound", "campaigns", id]);
        let route = "/api/v2/outbound/campaigns/{campaignId}";
        self.call_json(Call {
            method: Method::GET,
            route,
            url,
            body: None,
        })
        .await
    }

    /// A campaign's progress.
    pub async fn get_campaign_progress(&self, id: &str) -> Result<CampaignProgress, GenesysError> {
        let url = self.url(&["api", "v2", "outbound", "campaigns", id, "progress"]);
        let route = "/api/v2/outbound/campaigns/{campaignId}/progress";
        self.call_json(Call {
            method: Method::GET,
            route,
            url,
            body: None,
        })
        .await
    }
}
