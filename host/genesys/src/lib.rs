//! The typed Genesys Cloud client: the only code in dialsync that speaks HTTP to Genesys.
//!
//! One [`GenesysClient`] per org handles OAuth client credentials (cached, refreshed ahead of
//! expiry and once on 401, single-flight), the org's shared rate budget (paced token bucket,
//! bounded concurrency, whole-org pause on 429) and the retry classes of the design. Endpoints
//! and models follow the official SDK (shared/genesys-api.md); wire models live in [`model`].
#![deny(missing_docs)]

mod api;
mod backoff;
mod bucket;
mod budget;
mod client;
mod consistency;
mod endpoint;
mod error;
pub mod model;
mod secret;
mod settings;
mod shared_budget;
mod stats;
mod token;

pub use api::{BULK_IN_SET, BULK_UPDATE_IDS, BulkOutcome};
pub use client::GenesysClient;
pub use endpoint::{Endpoint, REGIONS};
pub use error::{ApiFailure, GenesysError, RetryClass};
pub use model::{
    AddContactsOptions, Campaign, CampaignProgress, ContactList, ContactListingRequest,
    ContactListingResponse, DialerContact, Language, RoutingSkill, UpdateUser, User,
    UserRoutingLanguage, UserRoutingLanguagePost, UserRoutingSkill, UserRoutingSkillPost,
    Utilization, WritableDialerContact,
};
pub use secret::Secret;
pub use settings::{OrgSettings, RetryPolicy};
pub use shared_budget::{BudgetFuture, SharedRateBudget};
pub use stats::ClientStats;
pub use token::TokenState;
