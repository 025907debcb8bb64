//! weft-placement: the placement service of Weft, and its protocol.
//!
//! Hosts keep one bidirectional gRPC stream to placement ([`proto`]). From those streams alone
//! placement knows which hosts serve which actor types, builds one versioned table per
//! (namespace, actor type), and disseminates table changes in acknowledged LOCK → UPDATE →
//! UNLOCK rounds. Every host computes actor owners from a table with the same [`ring::Ring`].
//!
//! # Examples
//!
//! Start placement on free ports, look at its state, stop it:
//!
//! ```
//! use weft_placement::{PlacementConfig, PlacementServer};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), weft_placement::Error> {
//! let running = PlacementServer::builder()
//!     .config(PlacementConfig::default())
//!     .grpc_addr("127.0.0.1:0".parse().unwrap())
//!     .start()
//!     .await?;
//! assert!(running.snapshot().host_list.is_empty());
//! running.shutdown().await?;
//! # Ok(())
//! # }
//! ```
//!
//! A host finds an actor's owner from the table it received:
//!
//! ```
//! use weft_placement::proto::TypeTable;
//! use weft_placement::ring::Ring;
//!
//! fn owner_address(table: &TypeTable, actor_id: &str) -> Option<String> {
//!     Ring::from_table(table).owner(actor_id).map(|h| h.address.clone())
//! }
//! ```
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

// Without default features only what hosts share with placement is built: the protocol
// (`proto`), the ring, and the SPIFFE id; `sentry` adds the CA, certificate checks and the TLS
// accept loop, `server` the placement service itself.
#[cfg(feature = "server")]
mod config;
#[cfg(feature = "server")]
mod dissemination;
#[cfg(feature = "sentry")]
mod error;
#[cfg(feature = "server")]
#[doc(hidden)]
pub mod fuzzing;
#[cfg(feature = "server")]
mod http;
#[cfg(feature = "server")]
mod link;
#[cfg(feature = "server")]
mod membership;
#[cfg(feature = "server")]
#[doc(hidden)]
pub mod process;
pub mod proto;
pub mod ring;
pub mod sentry;
#[cfg(feature = "server")]
mod server;
#[cfg(feature = "server")]
mod spans;
#[cfg(feature = "server")]
mod state;
#[cfg(feature = "sentry")]
#[doc(hidden)]
pub mod tls;

#[cfg(feature = "server")]
pub use config::{ConfigError, PlacementConfig};
#[cfg(feature = "sentry")]
pub use error::{Error, ErrorKind};
#[cfg(feature = "server")]
pub use server::{start, PlacementServer, RunningPlacement, DEFAULT_GRPC_ADDR};
#[cfg(feature = "server")]
pub use state::{HostState, PlacementState, TableState};
