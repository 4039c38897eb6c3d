//! dialsync-crm-emulator: local stand-ins for the CRMs dialsync reads from, built like
//! the Genesys emulator (`dialsync-emulator`): an axum app on a loopback port, seedable
//! fault injection, and a control API under `/_emulator/` (plus the same operations as
//! Rust methods) to create, change and delete records the way users of the CRM would.
//!
//! - [`servicenow`]: the Table API (`/api/now/table/{table}`), Basic auth and OAuth
//!   (`/oauth_token.do`), encoded queries, `sysparm_fields`, offset paging with `Link`
//!   and `X-Total-Count` headers, and `sys_audit_delete` rows for deleted records.
//! - [`salesforce`]: the OAuth token endpoint (`/services/oauth2/token`, answering
//!   `access_token` + `instance_url`), `GET /services/data/vXX.X/sobjects/{object}/{id}`,
//!   and `query` / `queryAll` (a SOQL subset) paged by `nextRecordsUrl`, with deleted
//!   records (`IsDeleted: true`) visible through `queryAll` only.
//! - [`pubsub`]: the Salesforce Pub/Sub API (gRPC): `GetTopic`, `GetSchema` and
//!   `Subscribe` with flow control and replay presets, serving Avro Change Data Capture
//!   events for the org's Contact changes, with GAP/overflow injection and stream drops.
//!
//! Wire formats follow the vendors' documentation; each module names its sources.

mod access;
pub mod faults;
pub mod pubsub;
pub mod salesforce;
pub mod server;
pub mod servicenow;

pub use faults::Faults;
pub use server::{CrmEmulatorError, Running};
