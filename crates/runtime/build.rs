//! Compiles `proto/weft/invoke/v1/invoke.proto` with protox (pure Rust: no `protoc` needed) into
//! prost messages and the tonic client and server of the host-to-host invoke service.

use std::error::Error;

const PROTO: &str = "proto/weft/invoke/v1/invoke.proto";

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed={PROTO}");
    let descriptors = protox::compile([PROTO], ["proto"])?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        // Payloads as `bytes::Bytes`: no copy between the wire and the actor.
        .bytes(".")
        .compile_fds(descriptors)?;
    Ok(())
}
