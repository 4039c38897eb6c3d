//! The sandboxed runtime for dialsync mapping plugins.
//!
//! A plugin is a `wasm32-wasip2` component implementing the
//! `dialsync:plugin@0.1.0` `mapper` world (wit/v0.1.0/plugin.wit). One
//! [`Runtime`] per process owns the wasmtime engine (pooling allocator, fuel,
//! epoch interruption) and a cache of compiled plugins keyed by sha256;
//! [`Runtime::load`] turns bytes plus the admin's config into a
//! [`LoadedPlugin`], whose [`LoadedPlugin::map`] validates records against the
//! plugin's input schema, runs the guest in a fresh, limited store and
//! validates every change it returns. Guests get WASI with nothing in it (no
//! files, env, args or network) and only the `host` and `genesys` imports.
//!
//! A guest that traps, loops, exhausts memory or returns garbage costs its own
//! records a [`RecordOutcome::Failed`] naming the plugin and the limit; the
//! host carries on.

mod bindings;
mod capture;
mod engine;
mod error;
mod limits;
mod model;
mod plugin;
mod port;
mod runtime;
mod state;
mod utc_time;
mod validate;

pub use error::{ActionError, PluginError};
pub use limits::{CompileCache, Limits};
pub use model::{
    ActionInfo, ContactChange, EXTERNAL_ID_COLUMN, FailureKind, FieldError, LogLine, Operation,
    Phone, PluginFailure, PluginInfo, RecordOutcome,
};
pub use plugin::{CallStats, LoadedPlugin, MAX_METERED_BATCH, MapReport};
pub use port::{GenesysPort, PortContact, PortError};
pub use runtime::{CacheStats, Runtime};
