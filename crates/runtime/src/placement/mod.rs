//! The cluster side of a host: its placement client, the local table cache, and the router that
//! sends each actor call to the host owning the actor.
//!
//! Routing (`route`): look the actor up in the local table (no network hop). The owner is this
//! host → the local call path. Another host → forward once over gRPC. The type is locked by a
//! dissemination round → hold the call until unlocked. The owner said "moved", is shutting down,
//! or provably never got the call (connection refused) → wait for the next table change and
//! route again. This host owns the actor but holds no placement lease (see [`lease`]) → wait
//! until placement answers again. Everything is bounded by the call's deadline.

pub(crate) mod client;
pub(crate) mod lease;
mod registry;
pub(crate) mod table;

pub(crate) use registry::{Members, PlacementResolver};

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use crate::actor::Deadline;
use crate::error::{Error, ErrorKind};
use crate::host::{HostHandle, Request};
use crate::invoke::client::{Expected, Peers, RemoteError};
use crate::invoke::{proto, wire};
use table::{Lookup, Tables};

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
    pub(crate) members: Members,
    pub(crate) peers: std::sync::Arc<Peers>,
    /// Until when this host may start turns of the actors placed on it.
    pub(crate) lease: lease::Lease,
    pub(crate) stop_client: CancellationToken,
    /// The placement client's task: shutdown waits for it to say `Leave`.
    pub(crate) client_task: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// Sends the call to the owner of `actor_type`/`id`; see the module docs.
pub(crate) async fn route(
    host: &HostHandle,
    cluster: &Cluster,
    actor_type: &str,
    id: &str,
    mut request: Request,
) -> Result<Bytes, Error> {
    // Every path below may wait (or go to another host): the deadline is an instant from here.
    let deadline = request.deadline.instant();
    request.deadline = Deadline::At(deadline);
    let mut changes = cluster.tables.subscribe();
    loop {
        changes.borrow_and_update();
        let waiting_for = match cluster.tables.lookup(actor_type, id) {
            Lookup::Owner { host_id, .. } if host_id == cluster.host_id => {
                if cluster.lease.is_held() {
                    return host.send_local(actor_type, id, request)?.await;
                }
                // Until placement answers again: our table may be stale, another host may own
                // the actor already.
                cluster
                    .lease
                    .refusal(&cluster.host_id, &format_args!("call to {actor_type}/{id}"))
            }
            Lookup::Owner { .. } if request.hop_count >= 1 => {
                // Forward once: the caller re-routes with its own (then newer) table.
                return Err(Error::new(
                    ErrorKind::Moved,
                    format!(
                        "{actor_type}/{id} is not on this host (host {})",
                        cluster.host_id
                    ),
                ));
            }
            Lookup::Owner {
                address,
                version,
                app_id,
                ..
            } => {
                let wire_request = to_wire(&request, actor_type, id, version);
                // Over mTLS the owner must prove it is the app placement reported.
                let expected = Expected {
                    namespace: None,
                    app_id: &app_id,
                };
                match cluster
                    .peers
                    .call(&address, Some(expected), wire_request, deadline)
                    .await
                {
                    Ok(reply) => return Ok(reply),
                    Err(RemoteError::Callee(e))
                        if matches!(e.kind(), ErrorKind::Moved | ErrorKind::ShuttingDown) =>
                    {
                        e
                    }
                    Err(RemoteError::Callee(e)) => return Err(e),
                    Err(RemoteError::Transport {
                        error,
                        never_sent: true,
                    }) => error,
                    Err(RemoteError::Transport { error, .. }) => return Err(error),
                }
            }
            Lookup::Locked(until) => {
                let until = until.min(deadline);
                tokio::select! {
                    _ = changes.changed() => {}
                    () = tokio::time::sleep_until(until) => {}
                }
                continue;
            }
            Lookup::NotReady => Error::new(
                ErrorKind::Unavailable,
                "this host has no placement table yet",
            ),
            Lookup::Unknown if !host.serves(actor_type) && cluster.tables.is_ready() => {
                return Err(Error::new(
                    ErrorKind::NotFound,
                    format!("no host of this namespace serves actor type `{actor_type}`"),
                ));
            }
            Lookup::Unknown => Error::new(
                ErrorKind::Unavailable,
                format!("actor type `{actor_type}` has no placement table yet"),
            ),
        };
        // Wait for the next table change, within the call's deadline.
        if tokio::time::timeout_at(deadline, changes.changed())
            .await
            .is_err()
        {
            return Err(Error::deadline(format!(
                "call to {actor_type}/{id} found no reachable owner before its deadline ({})",
                waiting_for.message()
            )));
        }
    }
}

fn to_wire(request: &Request, actor_type: &str, id: &str, version: u64) -> proto::CallRequest {
    proto::CallRequest {
        actor_type: actor_type.to_owned(),
        actor_id: id.to_owned(),
        method: request.method.to_string(),
        payload: request.payload.clone(),
        codec: wire::codec_to_wire(request.codec),
        hop_count: request.hop_count,
        table_version: version,
        chain: request.chain.as_ref().map(|c| proto::CallChain {
            id: c.id(),
            path: c
                .path()
                .iter()
                .map(|k| proto::ActorKey {
                    actor_type: k.actor_type.to_string(),
                    actor_id: k.id.to_string(),
                })
                .collect(),
        }),
        metadata: Default::default(),
    }
}
