//! The endpoints, grouped by Genesys API area; each is a thin typed wrapper over the client
//! core's attempt loop.

mod bulk;
mod campaigns;
mod contacts;
mod integrations;
mod jobs;
mod paging;
mod users;

pub use bulk::{BULK_IN_SET, BULK_UPDATE_IDS, BulkOutcome};
