//! wit-bindgen bindings of the `dialsync:plugin@0.1.0` `mapper` world.
//!
//! Most authors never touch these: [`crate::Mapper`] and [`crate::export_plugin!`]
//! wrap them. They are public for plugins that call the `genesys` imports
//! directly (`bindings::dialsync::plugin::genesys`), which only work inside the
//! host. Off `wasm32` the imports compile to stubs that must never be called.

wit_bindgen::generate!({
    world: "mapper",
    path: "../../wit/v0.1.0",
    pub_export_macro: true,
    export_macro_name: "export",
    default_bindings_module: "dialsync_plugin_sdk::bindings",
    runtime_path: "dialsync_plugin_sdk::bindings::rt",
});

/// The wit-bindgen runtime the generated code refers to, re-exported so plugin
/// crates need no direct wit-bindgen dependency.
#[doc(hidden)]
pub use wit_bindgen::rt;
