//! Serde wire models for the Genesys Cloud endpoints dialsync uses (names and shapes from the
//! official SDK 269.0.0, see shared/genesys-api.md). JSON names are camelCase; unknown fields
//! are tolerated; optional fields are `Option` and left out when `None`. Models that are read,
//! edited and written back (`DialerContact`, `ContactList`, `Campaign`, `User`) keep fields this
//! crate does not model in `extra`, so a read-modify-write round trip loses nothing.

mod bulk;
mod campaign;
mod common;
mod contact;
mod contact_list;
mod dnc;
mod integration;
mod routing;
mod user;

pub use bulk::{
    ContactBulkEditRequest, ContactBulkSearchParameters, ContactsBulkOperationJob, ExportUri,
    ImportStatus, JobState,
};
pub use campaign::{Campaign, CampaignProgress};
pub use common::{Detail, DomainEntityRef, EntityListing, ErrorBody};
pub use contact::{
    AddContactsOptions, CallRecord, ColumnStatus, ConfigurationOverrides, ContactableStatus,
    DialerContact, PhoneNumberStatus, WritableDialerContact,
};
pub use contact_list::{
    ColumnType, ContactBulkSearchCriteria, ContactList, ContactListFilterClause,
    ContactListFilterPredicate, ContactListingRequest, ContactListingResponse,
    ContactPhoneNumberColumn, ContactSort, EmailColumn, FilterOperator, FilterType, SortDirection,
};
pub use dnc::{DncAction, DncPatchPhoneNumbersRequest};
pub use integration::{
    Action, Integration, PostActionInput, UpdateDraftInput, WEB_SERVICES_DATA_ACTIONS,
};
pub use routing::{
    Language, MediaUtilization, RoutingSkill, UserRoutingLanguage, UserRoutingLanguagePost,
    UserRoutingSkill, UserRoutingSkillPost, Utilization,
};
pub use user::{UpdateUser, User};
