//! Reading every page of a `…EntityListing` (`pageSize`/`pageNumber`/`pageCount`).

use reqwest::Method;
use serde::de::DeserializeOwned;

use crate::client::{Call, GenesysClient};
use crate::error::GenesysError;
use crate::model::EntityListing;

/// Largest page Genesys serves.
pub(crate) const PAGE_SIZE: u32 = 100;
/// Safety bound on pages read by one listing (10 000 × 100 entities).
const MAX_PAGES: u32 = 10_000;

impl GenesysClient {
    /// GETs every page of a listing at `segments` and concatenates the entities.
    pub(crate) async fn all_pages<T: DeserializeOwned>(
        &self,
        route: &'static str,
        segments: &[&str],
    ) -> Result<Vec<T>, GenesysError> {
        let mut all = Vec::new();
        for page in 1..=MAX_PAGES {
            let mut url = self.url(segments);
            url.query_pairs_mut()
                .append_pair("pageSize", &PAGE_SIZE.to_string())
                .append_pair("pageNumber", &page.to_string());
            let listing: EntityListing<T> = self
                .call_json(Call {
                    method: Method::GET,
                    route,
                    url,
                    body: None,
                })
                .await?;
            let got = listing.entities.len();
            all.extend(listing.entities);
            let last = match listing.page_count {
                Some(count) => page >= count,
                None => got < PAGE_SIZE as usize,
            };
            if last || got == 0 {
                break;
            }
        }
        Ok(all)
    }
}
