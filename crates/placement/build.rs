//! Compiles `proto/weft/placement/v1/placement.proto` and `proto/weft/sentry/v1/sentry.proto` with protox (a pure-Rust protobuf
//! compiler, so no `protoc` is needed) and generates the prost messages plus the tonic client
//! and server.

use std::error::Error;

const PROTO: &str = "proto/weft/placement/v1/placement.proto";
const SENTRY: &str = "proto/weft/sentry/v1/sentry.proto";

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed={PROTO}");
    println!("cargo:rerun-if-changed={SENTRY}");
    let descriptors = protox::compile([PROTO, SENTRY], ["proto"])?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        // The RPC is named `Connect`, which would clash with the generated
        // `PlacementClient::connect(dst)` constructor: clients are built with
        // `PlacementClient::new(channel)` from a `tonic::transport::Channel` instead.
        .build_transport(false)
        .compile_fds(descriptors)?;
    Ok(())
}
