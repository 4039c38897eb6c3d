//! Host-side bindings for the `dialsync:plugin@0.1.0` `mapper` world, generated
//! by wasmtime's `bindgen!` from the WIT contract. Every import and export is
//! async so a guest can call Genesys through the host and so epoch interruption
//! can yield to the executor.

wasmtime::component::bindgen!({
    path: "../../wit/v0.1.0",
    world: "mapper",
    imports: { default: async },
    exports: { default: async },
});
