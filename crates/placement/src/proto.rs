//! The placement protocol (`weft.placement.v1`), generated from
//! `proto/weft/placement/v1/placement.proto` at build time.
//!
//! The comments of the `.proto` file are the contract; they are carried over to the generated
//! items. The service side is [`placement_server::PlacementServer`]; hosts use
//! [`placement_client::PlacementClient`], built over a channel they configure themselves
//! (the RPC is named `Connect`, so the generated `PlacementClient::connect(dst)` constructor
//! is not generated: it would clash with the RPC method):
//!
//! ```no_run
//! use tokio_stream::wrappers::ReceiverStream;
//! use weft_placement::proto::host_message::Body;
//! use weft_placement::proto::placement_client::PlacementClient;
//! use weft_placement::proto::{HostMessage, Register};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let channel = tonic::transport::Endpoint::from_static("http://127.0.0.1:50005")
//!     .connect()
//!     .await?;
//! let mut client = PlacementClient::new(channel);
//! let (tx, rx) = tokio::sync::mpsc::channel(16);
//! let register = Register {
//!     host_id: "host-1".into(),
//!     app_id: "shop".into(),
//!     namespace: String::new(),
//!     address: "10.0.0.7:7000".into(),
//!     actor_types: vec!["Cart".into()],
//! };
//! tx.send(HostMessage { body: Some(Body::Register(register)) }).await?;
//! let mut from_placement = client.connect(ReceiverStream::new(rx)).await?.into_inner();
//! while let Some(message) = from_placement.message().await? {
//!     // Snapshot, then Orders: ack each with `Ack { round, phase }` on `tx`.
//!     # let _ = message;
//! }
//! # Ok(())
//! # }
//! ```
#![allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]

tonic::include_proto!("weft.placement.v1");
