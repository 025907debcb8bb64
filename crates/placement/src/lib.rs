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

mod config;
mod dissemination;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod http;
mod link;
mod membership;
#[doc(hidden)]
pub mod process;
pub mod proto;
pub mod ring;
pub mod sentry;
mod server;
mod spans;
mod state;
#[doc(hidden)]
pub mod tls;

pub use config::{ConfigError, PlacementConfig};
pub use error::{Error, ErrorKind};
pub use server::{start, PlacementServer, RunningPlacement, DEFAULT_GRPC_ADDR};
pub use state::{HostState, PlacementState, TableState};
