//! The router: every actor call goes through it. It chooses local or remote, forwards at most
//! once, and applies the host's actor resiliency policies (see [`super::policy`]).
//!
//! Routing (`route`): look the actor up in the local table (no network hop). The owner is this
//! host → the local call path. Another host → forward once over gRPC. The type is locked by a
//! dissemination round → hold the call until unlocked. The owner said "moved", is shutting down,
//! or provably never got the call (connection refused) → wait for the next table change and
//! route again. This host owns the actor but holds no placement lease (see [`crate::placement::lease`]) → wait
//! until placement answers again. Everything is bounded by the call's deadline.

use std::sync::Arc;

use bytes::Bytes;

use super::client::{Expected, RemoteError};
use super::request::{Dispatch, Reply, Request};
use super::wire;
use crate::actor::call::CallOrigin;
use crate::actor::deadline::Deadline;
use crate::actor::names::check_target;
use crate::actor::table::ActivationTable;
use crate::error::{Error, ErrorKind};
use crate::placement::table::Lookup;
use crate::placement::Cluster;
use crate::service::client::Fabric;

/// Routes actor calls: to the local activation table, or to the owner's host.
#[derive(Debug, Clone)]
pub(crate) struct Router {
    pub(super) table: Arc<ActivationTable>,
    /// `None` outside a cluster: every call is local.
    pub(super) cluster: Option<Arc<Cluster>>,
    /// The host's resiliency policies, breakers and metrics.
    pub(super) fabric: Arc<Fabric>,
    /// Whether actor calls take the policed path (`fabric.actors_policed()`, fixed at start):
    /// kept here, so the fast path reads no further than the router.
    policed: bool,
}

impl Router {
    pub(crate) fn new(
        table: Arc<ActivationTable>,
        cluster: Option<Arc<Cluster>>,
        fabric: Arc<Fabric>,
    ) -> Self {
        Self {
            table,
            cluster,
            policed: fabric.actors_policed(),
            fabric,
        }
    }

    /// Routes an actor call: through placement on a cluster host, else local. No policies.
    pub(super) fn dispatch<'a>(
        &'a self,
        actor_type: &'a str,
        id: &'a str,
        request: Request,
    ) -> Result<Reply<'a>, Error> {
        match &self.cluster {
            // Boxed: a remote call's future is large.
            Some(cluster) => Ok(Reply::Waiting(Box::pin(async move {
                check_target(actor_type, id)?;
                self.route(cluster, actor_type, id, request).await
            }))),
            None => self.table.send(actor_type, id, request, None),
        }
    }

    /// Sends the call to the owner of `actor_type`/`id`; see the module docs.
    async fn route(
        &self,
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
                        return self.table.send(actor_type, id, request, None)?.await;
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
                    let wire_request = wire::call_to_wire(&request, actor_type, id, version);
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
                        Err(RemoteError::Callee(e)) if e.kind().is_owner_change() => e,
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
                Lookup::Unknown if !self.table.serves(actor_type) && cluster.tables.is_ready() => {
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
}

impl Dispatch for Router {
    /// Through the resiliency policy and metrics when the host has any for actors, else
    /// straight to [`Router::dispatch`].
    fn send<'a>(
        &'a self,
        actor_type: &'a str,
        id: &'a str,
        request: Request,
    ) -> Result<Reply<'a>, Error> {
        if self.policed {
            return Ok(Reply::Waiting(Box::pin(
                self.send_policed(actor_type, id, request),
            )));
        }
        self.dispatch(actor_type, id, request)
    }

    fn send_local<'a>(
        &'a self,
        actor_type: &'a str,
        id: &'a str,
        request: Request,
        origin: Option<Box<CallOrigin>>,
    ) -> Result<Reply<'a>, Error> {
        self.table.send(actor_type, id, request, origin)
    }
}
