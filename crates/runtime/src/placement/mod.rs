//! The cluster side of a host: its placement client, the local table cache, the lease that
//! bounds how long the host may act on a table placement no longer confirms, and the cluster
//! registry for service calls. It answers lookups; routing calls is the router's
//! (`invoke::router`).

pub(crate) mod client;
pub(crate) mod lease;
mod registry;
pub(crate) mod table;

pub(crate) use registry::{Members, PlacementResolver};

use std::net::SocketAddr;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, ErrorKind};
use crate::invoke::client::Peers;
use table::Tables;

/// How a host joins a cluster: its identity, where it listens for other hosts, and where
/// placement is.
///
/// # Examples
/// ```
/// use weft_runtime::ClusterConfig;
/// let c = ClusterConfig::new("host-a", "http://127.0.0.1:50005")
///     .listen("127.0.0.1:0".parse().unwrap());
/// assert_eq!(c.namespace, "default");
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClusterConfig {
    /// Stable id of this host (not its address): the ring hashes it, so a restart at another
    /// address does not move actors.
    pub host_id: String,
    /// The namespace; hosts only see tables of their own. Default: `"default"`.
    pub namespace: String,
    /// Where this host's invoke service listens. Default: `127.0.0.1:0` (any free port).
    pub listen: SocketAddr,
    /// The address other hosts use to reach this one. Default: the bound listen address.
    pub advertise: Option<String>,
    /// The placement service, e.g. `http://127.0.0.1:50005`.
    pub placement: String,
    /// How often the host tells placement it is alive. Default: 1 s.
    pub heartbeat_interval: Duration,
}

impl ClusterConfig {
    /// A host `host_id` using the placement service at `placement`.
    pub fn new(host_id: impl Into<String>, placement: impl Into<String>) -> Self {
        Self {
            host_id: host_id.into(),
            namespace: "default".to_owned(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            advertise: None,
            placement: placement.into(),
            heartbeat_interval: Duration::from_secs(1),
        }
    }

    /// Where to listen for other hosts. Default: `127.0.0.1:0`.
    pub fn listen(mut self, listen: SocketAddr) -> Self {
        self.listen = listen;
        self
    }

    /// The namespace. Default: `"default"`.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// The address to advertise. Default: the bound listen address.
    pub fn advertise(mut self, address: impl Into<String>) -> Self {
        self.advertise = Some(address.into());
        self
    }

    /// The heartbeat interval. Default: 1 s.
    pub fn heartbeat_interval(mut self, interval: Duration) -> Self {
        self.heartbeat_interval = interval;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        let invalid = |m: String| Err(Error::new(ErrorKind::InvalidArgument, m));
        if self.host_id.is_empty() || self.host_id.len() > 256 {
            return invalid(format!(
                "`host_id` {:?} must be 1 to 256 bytes",
                self.host_id
            ));
        }
        if !(self.placement.starts_with("http://") || self.placement.starts_with("https://")) {
            return invalid(format!(
                "`placement` is {:?}; must be a URL like http://127.0.0.1:50005",
                self.placement
            ));
        }
        if self.heartbeat_interval.is_zero() {
            return invalid("`heartbeat_interval` is 0s; must be greater than zero".to_owned());
        }
        Ok(())
    }
}

/// A running host's cluster membership.
#[derive(Debug)]
pub(crate) struct Cluster {
    pub(crate) host_id: String,
    pub(crate) address: String,
    pub(crate) tables: Tables,
    /// Every host of the cluster with its app id: the placement registry for service calls.
    pub(crate) members: std::sync::Arc<Members>,
    pub(crate) peers: std::sync::Arc<Peers>,
    /// Until when this host may start turns of the actors placed on it.
    pub(crate) lease: lease::Lease,
    /// Stops the placement client (it says `Leave` first).
    pub(crate) stop_client: CancellationToken,
}

/// What the placement client needs of the host's activations: drain the actors a new table
/// places elsewhere. Implemented by the activation table.
pub(crate) trait Drain: Send + Sync {
    /// Deactivates (finish turn, commit, `on_deactivate`) the local actors of `types` that
    /// `tables` place on another host than `host_id`, and waits until they are gone.
    fn drain_moved<'a>(
        &'a self,
        tables: &'a Tables,
        types: &'a [String],
        host_id: &'a str,
    ) -> BoxFuture<'a, ()>;
}
