//! Host-side bindings for the `dialsync:plugin@0.1.0` `mapper` world, generated
//! by wasmtime's `bindgen!` from the WIT contract. Exports are async so epoch
//! interruption can yield to the executor, and so are the `genesys` imports
//! (they wait on the network). The `host` imports (log, config,
//! normalize-phone) answer at once: they are plain calls, which skips the
//! fiber hand-off an async import costs on every phone of every record.

wasmtime::component::bindgen!({
    path: "../../wit/v0.1.0",
    world: "mapper",
    imports: { "dialsync:plugin/genesys": async },
    exports: { default: async },
});
