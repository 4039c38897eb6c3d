//! Typed errors from loading a plugin and running its actions.

use crate::model::FieldError;

/// Why a plugin could not be loaded (or the runtime could not start).
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The bytes are not a WebAssembly component (e.g. a core module or not wasm at all).
    #[error("not a WebAssembly component: {0}")]
    NotAComponent(String),
    /// The component could not be compiled.
    #[error("the component does not compile: {0}")]
    Compile(String),
    /// The component does not implement `dialsync:plugin/mapper@0.1.0`
    /// (missing exports, unknown imports, other WIT version).
    #[error("the component is not a dialsync:plugin@0.1.0 `mapper`: {0}")]
    WrongWorld(String),
    /// Instantiating the plugin or calling `describe` failed.
    #[error("plugin `describe` failed: {0}")]
    Describe(String),
    /// `describe` returned something unusable (bad JSON, missing `externalId` column, ...).
    #[error("plugin {plugin}: invalid description: {message}")]
    InvalidInfo {
        /// `name@version`.
        plugin: String,
        /// What is wrong.
        message: String,
    },
    /// One of the plugin's schemas is not a valid JSON Schema.
    #[error("plugin {plugin}: its {which} is not a valid JSON Schema: {message}")]
    InvalidSchema {
        /// `name@version`.
        plugin: String,
        /// `input schema`, `config schema` or `action <name> input schema`.
        which: String,
        /// The schema error.
        message: String,
    },
    /// The configuration does not validate against the plugin's config schema.
    #[error("plugin {plugin}: invalid configuration: {}", join(errors))]
    InvalidConfig {
        /// `name@version`.
        plugin: String,
        /// One entry per problem, with JSON pointers into the config.
        errors: Vec<FieldError>,
    },
    /// The runtime (engine, pooling allocator) could not be set up.
    #[error("plugin runtime: {0}")]
    Runtime(String),
}

/// Why a plugin data action failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ActionError {
    /// `bad-input`, `not-found`, `unavailable`, `plugin-failed` or a plugin-specific code.
    pub code: String,
    /// Details.
    pub message: String,
}

fn join(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}
