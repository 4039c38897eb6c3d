//! The Salesforce Pub/Sub API, `eventbus.v1`: messages, the `PubSub` gRPC client
//! (used by dialsync's subscriber) and server trait (implemented by the CRM emulator),
//! generated at build time from `proto/pubsub_api.proto`, vendored from
//! github.com/forcedotcom/pub-sub-api (CC0 1.0).
//!
//! Every call carries the org's session in gRPC metadata: `accesstoken` (the OAuth
//! access token), `instanceurl` (the token answer's `instance_url`) and `tenantid` (the
//! org id) — see the Pub/Sub API guide, "Supported Authentication Methods".

#![allow(missing_docs, clippy::all)]

/// Package `eventbus.v1`.
pub mod eventbus {
    /// Version 1 of the API.
    pub mod v1 {
        tonic::include_proto!("eventbus.v1");
    }
}

pub use eventbus::v1::*;

/// The public Pub/Sub API endpoint (`api.pubsub.salesforce.com:7443`, or
/// `api.deu.pubsub.salesforce.com:7443` for Hyperforce Germany).
pub const DEFAULT_ENDPOINT: &str = "https://api.pubsub.salesforce.com:7443";
