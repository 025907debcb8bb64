//! Host-to-host actor calls: the gRPC invoke service, its client pool, and the one mapping
//! between [`Error`](crate::Error) and the wire.

pub(crate) mod client;
pub(crate) mod codec;
pub(crate) mod policy;
pub(crate) mod request;
pub(crate) mod router;
pub(crate) mod server;
pub(crate) mod wire;

/// Generated from `proto/weft/invoke/v1/invoke.proto`.
#[allow(
    missing_docs,
    unreachable_pub,
    clippy::all,
    clippy::pedantic,
    missing_debug_implementations
)]
pub(crate) mod proto {
    tonic::include_proto!("weft.invoke.v1");
}
