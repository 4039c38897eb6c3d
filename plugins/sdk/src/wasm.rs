//! The component glue used by [`crate::export_plugin!`] on `wasm32`: a [`Host`]
//! over the real WIT imports, and the three exports delegating to a [`Mapper`].

use crate::bindings::dialsync::plugin::{host as wit_host, types as wit};
use crate::{Host, LogLevel, Mapper, PhoneError};

/// The host inside the dialsync runtime: every call is a WIT import.
pub struct WasmHost;

impl Host for WasmHost {
    fn log(&self, level: LogLevel, msg: &str) {
        wit_host::log(level.into(), msg);
    }

    fn config(&self, key: &str) -> Option<String> {
        wit_host::config(key)
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
