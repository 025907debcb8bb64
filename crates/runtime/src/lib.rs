//! weft-runtime: hosts, virtual actors, durable state and the invocation fabric.
//!
//! ```
//! use bytes::Bytes;
//! use weft_runtime::{Actor, ActorRegistration, Call, Context, Error, ErrorKind, Host, MemoryStore};
//!
//! /// Counts, durably: the count lives in the actor's state.
//! struct Counter;
//!
//! impl Actor for Counter {
//!     async fn handle(&self, ctx: &Context, call: Call) -> Result<Bytes, Error> {
//!         let n = match ctx.state().get("n").await? {
//!             Some(b) => u64::from_be_bytes(b[..].try_into().map_err(|_| {
//!                 Error::new(ErrorKind::Internal, "bad counter bytes")
//!             })?),
//!             None => 0,
//!         };
//!         match call.method() {
//!             "incr" => {
//!                 ctx.state().set("n", Bytes::copy_from_slice(&(n + 1).to_be_bytes()));
//!                 Ok(Bytes::copy_from_slice(&(n + 1).to_be_bytes()))
//!             }
//!             other => Err(Error::new(ErrorKind::NotFound, format!("no method {other}"))),
//!         }
//!     }
//! }
//!
//! # #[tokio::main] async fn main() -> Result<(), Error> {
//! let host = Host::builder()
//!     .store(MemoryStore::new())
//!     .register(ActorRegistration::new("counter", |_id| Counter))
//!     .start()?;
//! let reply = host.handle().call("counter", "c1", "incr", Bytes::new()).await?;
//! assert_eq!(&reply[..], &1u64.to_be_bytes());
//! host.shutdown().await?;
//! # Ok(()) }
//! ```
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod actor;
pub mod codec;
pub mod config;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod host;
mod invoke;
pub mod layers;
mod placement;
pub mod reminder;
pub mod resiliency;
pub mod resolve;
pub mod security;
pub mod service;
pub mod state;
mod sync;
pub mod telemetry;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;

pub use actor::{
    Actor, ActorId, ActorKey, ActorRegistration, ActorState, ActorType, Call, CallOrigin, Context,
    Timer,
};
pub use codec::Codec;
pub use config::{ActorTypeConfig, HostConfig, Reentrancy};
pub use error::{Error, ErrorKind, RetryClass};
pub use host::{CallOptions, Host, HostBuilder, HostHandle};
pub use placement::ClusterConfig;
pub use reminder::{Reminder, ReminderConfig, ReminderInfo, ReminderOutcome, ReminderStats};
pub use service::{ServiceCall, ServiceRequest, ServiceResponse};
#[cfg(feature = "redis")]
pub use state::RedisStore;
#[cfg(feature = "sled")]
pub use state::SledStore;
pub use state::{MemoryStore, StateStore};

/// What `#[weft::actor]`-generated code uses. Not a public API: it may change in any release.
#[doc(hidden)]
pub mod __private {
    pub use crate::actor::typed::{app_error, decode_args, encode_reply, unknown_method};
    pub use bytes::Bytes;
    pub use serde;
}
