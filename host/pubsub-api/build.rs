//! Generates the Pub/Sub API client and server from `proto/pubsub_api.proto` with
//! `protox` (a pure-Rust protobuf compiler, so no `protoc` is needed) and
//! `tonic-prost-build`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/pubsub_api.proto");
    let descriptors = protox::compile(["pubsub_api.proto"], ["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}
