//! Integrations and data actions (`/api/v2/integrations…`, SDK `IntegrationsApi` 269.0.0):
//! what `dialsync actions install` needs to find or create the Web Services Data Actions
//! integration and to create or update actions through drafts.

use reqwest::Method;
use serde_json::json;

use crate::client::{Call, GenesysClient};
use crate::error::GenesysError;
use crate::model::{
    Action, DomainEntityRef, EntityListing, Integration, PostActionInput, UpdateDraftInput,
};

use super::paging::PAGE_SIZE;

const INTEGRATIONS: &str = "/api/v2/integrations";
const INTEGRATION: &str = "/api/v2/integrations/{integrationId}";
const ACTIONS: &str = "/api/v2/integrations/actions";
const ACTION: &str = "/api/v2/integrations/actions/{actionId}";
const DRAFTS: &str = "/api/v2/integrations/actions/drafts";
const DRAFT: &str = "/api/v2/integrations/actions/{actionId}/draft";
const PUBLISH: &str = "/api/v2/integrations/actions/{actionId}/draft/publish";

/// Safety bound on pages of one action listing.
const MAX_ACTION_PAGES: u32 = 1000;

impl GenesysClient {
    /// Every integration of the org.
    pub async fn list_integrations(&self) -> Result<Vec<Integration>, GenesysError> {
        self.all_pages(INTEGRATIONS, &["api", "v2", "integrations"])
            .await
    }

    /// Creates an integration of `type_id` named `name` (Genesys creates it disabled).
    pub async fn create_integration(
        &self,
        name: &str,
        type_id: &str,
    ) -> Result<Integration, GenesysError> {
        let url = self.url(&["api", "v2", "integrations"]);
        let body = Self::json_body(
            INTEGRATIONS,
            &json!({"name": name, "integrationType": DomainEntityRef::id(type_id)}),
        )?;
        self.call_json(Call {
            method: Method::POST,
            route: INTEGRATIONS,
            url,
            body,
        })
        .await
    }

    /// Sets an integration's `intendedState` (`ENABLED`, `DISABLED`).
    pub async fn set_integration_state(
        &self,
        id: &str,
        state: &str,
    ) -> Result<Integration, GenesysError> {
        let url = self.url(&["api", "v2", "integrations", id]);
        let body = Self::json_body(INTEGRATION, &json!({"intendedState": state}))?;
        self.call_json(Call {
            method: Method::PATCH,
            route: INTEGRATION,
            url,
            body,
        })
        .await
    }

    /// Published actions of `category` (all pages), with their config.
    pub async fn list_actions(&self, category: &str) -> Result<Vec<Action>, GenesysError> {
        self.action_pages(ACTIONS, &["api", "v2", "integrations", "actions"], category)
            .await
    }

    /// Action drafts of `category` (all pages), with their config.
    pub async fn list_action_drafts(&self, category: &str) -> Result<Vec<Action>, GenesysError> {
        self.action_pages(
            DRAFTS,
            &["api", "v2", "integrations", "actions", "drafts"],
            category,
        )
        .await
    }

    async fn action_pages(
        &self,
        route: &'static str,
        segments: &[&str],
        category: &str,
    ) -> Result<Vec<Action>, GenesysError> {
        let mut all = Vec::new();
        for page in 1..=MAX_ACTION_PAGES {
            let mut url = self.url(segments);
            url.query_pairs_mut()
                .append_pair("pageSize", &PAGE_SIZE.to_string())
                .append_pair("pageNumber", &page.to_string())
                .append_pair("category", category)
                .append_pair("includeConfig", "true");
            let listing: EntityListing<Action> = self
                .call_json(Call {
                    method: Method::GET,
                    route,
                    url,
                    body: None,
                })
                .await?;
            let got = listing.entities.len();
            all.extend(listing.entities);
            if got == 0 || listing.page_count.is_none_or(|n| page >= n) {
                break;
            }
        }
        Ok(all)
    }

    /// One published action with its contract and config.
    pub async fn get_action(&self, id: &str) -> Result<Action, GenesysError> {
        let mut url = self.url(&["api", "v2", "integrations", "actions", id]);
        url.query_pairs_mut()
            .append_pair("expand", "contract")
            .append_pair("includeConfig", "true");
        self.call_json(Call {
            method: Method::GET,
            route: ACTION,
            url,
            body: None,
        })
        .await
    }

    /// One action draft with its contract and config.
    pub async fn get_action_draft(&self, id: &str) -> Result<Action, GenesysError> {
        let mut url = self.url(&["api", "v2", "integrations", "actions", id, "draft"]);
        url.query_pairs_mut()
            .append_pair("expand", "contract")
            .append_pair("includeConfig", "true");
        self.call_json(Call {
            method: Method::GET,
            route: DRAFT,
            url,
            body: None,
        })
        .await
    }

    /// Creates the draft of a new action (`POST …/actions/drafts`).
    pub async fn create_action_draft(
        &self,
        input: &PostActionInput,
    ) -> Result<Action, GenesysError> {
        let url = self.url(&["api", "v2", "integrations", "actions", "drafts"]);
        let body = Self::json_body(DRAFTS, input)?;
        self.call_json(Call {
            method: Method::POST,
            route: DRAFTS,
            url,
            body,
        })
        .await
    }

    /// Opens a draft of a published action (`POST …/actions/{id}/draft`).
    pub async fn create_draft_from_action(&self, id: &str) -> Result<Action, GenesysError> {
        let url = self.url(&["api", "v2", "integrations", "actions", id, "draft"]);
        self.call_json(Call {
            method: Method::POST,
            route: DRAFT,
            url,
            body: None,
        })
        .await
    }

    /// Changes a draft (`PATCH …/actions/{id}/draft`; `input.version` = the draft's).
    pub async fn patch_action_draft(
        &self,
        id: &str,
        input: &UpdateDraftInput,
    ) -> Result<Action, GenesysError> {
        let url = self.url(&["api", "v2", "integrations", "actions", id, "draft"]);
        let body = Self::json_body(DRAFT, input)?;
        self.call_json(Call {
            method: Method::PATCH,
            route: DRAFT,
            url,
            body,
        })
        .await
    }

    /// Publishes a draft (`POST …/actions/{id}/draft/publish` with the draft's version).
    pub async fn publish_action_draft(
        &self,
        id: &str,
        version: i64,
    ) -> Result<Action, GenesysError> {
        let url = self.url(&[
            "api",
            "v2",
            "integrations",
            "actions",
            id,
            "draft",
            "publish",
        ]);
        let body = Self::json_body(PUBLISH, &json!({ "version": version }))?;
        self.call_json(Call {
            method: Method::POST,
            route: PUBLISH,
            url,
            body,
        })
        .await
    }
}
