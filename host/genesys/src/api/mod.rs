//! The endpoints, grouped by Genesys API area; each is a thin typed wrapper over the client
//! core's attempt loop.

mod campaigns;
mod contacts;
mod paging;
mod users;
