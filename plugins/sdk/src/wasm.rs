//! The component glue used by [`crate::export_plugin!`] on `wasm32`: a [`Host`]
//! over the real WIT imports, and the three exports delegating to a [`Mapper`].

use std::cell::RefCell;
use std::collections::HashMap;

use crate::bindings::dialsync::plugin::{host as wit_host, types as wit};
use crate::{Host, LogLevel, Mapper, PhoneError};

thread_local! {
    /// Configuration values already read in this instance.
    static CONFIG: RefCell<HashMap<String, Option<String>>> = RefCell::new(HashMap::new());
}

/// The host inside the dialsync runtime: every call is a WIT import.
pub struct WasmHost;

impl Host for WasmHost {
    fn log(&self, level: LogLevel, msg: &str) {
        wit_host::log(level.into(), msg);
    }

    /// Each key crosses into the host once per instance: the host gives every
    /// call a fresh instance, and the configuration cannot change during a call,
    /// so a mapper that reads its configuration per record (like custom-crm)
    /// pays one host call per key per batch instead of one per record.
    fn config(&self, key: &str) -> Option<String> {
        CONFIG.with(|cache| {
            if let Some(value) = cache.borrow().get(key) {
                return value.clone();
            }
            let value = wit_host::config(key);
            cache.borrow_mut().insert(key.to_owned(), value.clone());
            value
        })
    }

    fn normalize_phone(&self, raw: &str, region: Option<&str>) -> Result<String, PhoneError> {
        wit_host::normalize_phone(raw, region).map_err(Into::into)
    }
}

/// The `describe` export.
pub fn describe<M: Mapper>() -> wit::PluginInfo {
    M::describe(&WasmHost).into()
}

/// The `map` export.
pub fn map<M: Mapper>(records: &[String]) -> Vec<wit::MapOutcome> {
    crate::map_batch::<M, _>(&WasmHost, records)
        .into_iter()
        .map(Into::into)
        .collect()
}

/// The `action` export.
pub fn action<M: Mapper>(name: &str, input: &str) -> Result<String, wit::ActionError> {
    crate::run_action::<M>(&WasmHost, name, input).map_err(Into::into)
}
