//! The dialsync plugin SDK: everything a mapping plugin author needs.
//!
//! A plugin maps one CRM's records to Genesys Cloud contact changes. It is a
//! `wasm32-wasip2` component implementing the `mapper` world of
//! `wit/v0.1.0/plugin.wit`. With this SDK an author writes plain Rust:
//!
//! 1. implement [`Mapper`] (describe the plugin, map one JSON record to a
//!    [`MapOutcome`]), using the [`Host`] for configuration, logging and phone
//!    normalisation;
//! 2. call [`export_plugin!`]`(MyMapper)` once — on `wasm32` it exports the
//!    component functions over the real host imports; natively it expands to
//!    nothing;
//! 3. unit-test natively with the `native` feature's [`NativeHost`] (same mapping
//!    code, real phone normalisation).
//!
//! Helpers for the rules every plugin must follow live here too: a
//! [`ChangeBuilder`] that collects every field error of a record and normalises
//! phones through the host, stable [`external_id`]s, UTC timestamps ([`time`]), JSON pointers ([`json`]),
//! ServiceNow value shapes ([`servicenow`]) and Salesforce 18-char Ids
//! ([`salesforce`]).

// Lets the generated bindings name this crate by its external path, which is also
// the path the `export!` macro uses when it expands inside a plugin crate.
extern crate self as dialsync_plugin_sdk;

pub mod bindings;
mod convert;
mod external_id;
mod host;
pub mod json;
mod mapper;
#[cfg(feature = "native")]
mod native;
pub mod record;
pub mod salesforce;
pub mod servicenow;
pub mod time;
mod types;
#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod wasm;

pub use external_id::{ExternalIdError, external_id};
pub use host::{Host, LogLevel, PhoneError};
pub use mapper::{Mapper, map_batch, run_action};
#[cfg(feature = "native")]
pub use native::{NativeHost, check_expected, contact_change_json};
pub use record::{ChangeBuilder, MAX_COLUMN_CHARS};
pub use serde_json;
pub use types::{
    ActionError, ActionInfo, ContactChange, FieldError, MapOutcome, Operation, Phone, PluginInfo,
};

/// Exports a [`Mapper`] implementation as the component's `mapper` world.
///
/// On `wasm32` this implements the generated `Guest` trait by delegating to the
/// mapper with a host that calls the real imports; on other targets it expands to
/// nothing, so the same crate also builds natively for its unit tests.
///
/// ```ignore
/// struct MyMapper;
/// impl dialsync_plugin_sdk::Mapper for MyMapper { /* ... */ }
/// dialsync_plugin_sdk::export_plugin!(MyMapper);
/// ```
#[macro_export]
macro_rules! export_plugin {
    ($mapper:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct DialsyncGuest;
            impl $crate::bindings::Guest for DialsyncGuest {
                fn describe() -> $crate::bindings::dialsync::plugin::types::PluginInfo {
                    $crate::wasm::describe::<$mapper>()
                }
                fn map(
                    records: ::std::vec::Vec<::std::string::String>,
                ) -> ::std::vec::Vec<$crate::bindings::dialsync::plugin::types::MapOutcome>
                {
                    $crate::wasm::map::<$mapper>(&records)
                }
                fn action(
                    name: ::std::string::String,
                    input: ::std::string::String,
                ) -> ::std::result::Result<
                    ::std::string::String,
                    $crate::bindings::dialsync::plugin::types::ActionError,
                > {
                    $crate::wasm::action::<$mapper>(&name, &input)
                }
            }
    $crate::bindings::export!(DialsyncGuest with_types_in $crate::bindings);
        };
    };
}
