//! The CRM mapping plugins that ship inside the `dialsync` binary, built for
//! `wasm32-wasip2` by this crate's build script and embedded as bytes.
//!
//! The hostile test guest is exposed separately in [`testing`]; it is never
//! offered to users as a bundled plugin.

/// The ServiceNow plugin component.
pub const SERVICENOW: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/servicenow.wasm"));
/// The Salesforce plugin component.
pub const SALESFORCE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/salesforce.wasm"));
/// The custom-CRM plugin component.
pub const CUSTOM_CRM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/custom-crm.wasm"));

static BUNDLED: [(&str, &[u8]); 3] = [
    ("servicenow", SERVICENOW),
    ("salesforce", SALESFORCE),
    ("custom-crm", CUSTOM_CRM),
];

/// The shipped plugins as `(name, component bytes)`, in a stable order.
pub fn bundled() -> &'static [(&'static str, &'static [u8])] {
    &BUNDLED
}

/// The bundled plugin named `name`, if there is one.
pub fn by_name(name: &str) -> Option<&'static [u8]> {
    BUNDLED.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
}

/// Guests used only by tests.
pub mod testing {
    /// A plugin that loops, grows memory, traps or returns garbage on request
    /// (see `plugins/testing/hostile`).
    pub const HOSTILE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/hostile.wasm"));
}
