//! `HostBuilder::start`: composes a host's parts in named steps: the store, the activation
//! table, the router, the handle, then the tasks (idle scanners, reminders, the invoke and
//! metrics servers, the placement client).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use tokio_util::sync::CancellationToken;

use super::builder::HostBuilder;
use super::handle::{HostHandle, HostInner};
use super::Host;
use crate::actor::activation::Spawner;
use crate::actor::entry::TypeEntry;
use crate::actor::table::ActivationTable;
use crate::config::wire_limit;
use crate::error::{Error, ErrorKind};
use crate::invoke::client::Peers;
use crate::invoke::router::Router;
use crate::placement::client::Follower;
use crate::placement::{Cluster, Drain, PlacementResolver};
use crate::reminder::scheduler::Scheduler;
use crate::resolve::NameResolver;
use crate::service::client::Fabric;
use crate::state::StateStore;
use crate::telemetry::Metrics;

impl HostBuilder {
    /// Validates the settings and starts the host (its idle scanners). Must be called inside a
    /// tokio runtime.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] for an invalid setting, a missing store, or an actor type
    /// registered twice.
    pub fn start(mut self) -> Result<Host, Error> {
        self.validate()?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            Error::new(
                ErrorKind::InvalidArgument,
                "Host::start must be called inside a tokio runtime",
            )
        })?;
        let store = self.take_store()?;
        let types = self.registered_types()?;
        let listener = self
            .listen_address()?
            .map(|a| bind(a, "other hosts"))
            .transpose()?;
        let namespace = self.resolved_namespace();
        let peers = self.peers(&namespace, listener.is_some())?;
        let cluster = self.cluster_side(listener.as_ref().map(|(_, a)| *a), &peers);
        let metrics = self.metrics_side()?;
        let fabric =
            self.service_fabric(namespace, &cluster, peers, metrics.as_ref().map(|(_, m)| m));
        let address = match &cluster {
            Some(c) => Some(c.address.clone()),
            None => listener.as_ref().map(|(_, a)| a.to_string()),
        };
        let mut actor_types: Vec<String> = types.iter().map(|(t, _)| t.name.to_string()).collect();
        actor_types.sort_unstable();
        let settings = self.fabric;
        let mut table = None;
        let inner = Arc::new_cyclic(|weak| {
            let local = Arc::new(ActivationTable::new(
                types,
                weak.clone(),
                runtime,
                self.config.mailbox_capacity,
            ));
            let router = Router::new(Arc::clone(&local), cluster.clone(), Arc::clone(&fabric));
            table = Some(Arc::clone(&local));
            HostInner {
                config: self.config,
                store: RwLock::new(Some(store)),
                cluster: cluster.clone(),
                fabric,
                address,
                #[cfg(feature = "metrics")]
                metrics_addr: metrics.as_ref().map(|((_, a), _)| *a),
                reminders: Scheduler::new(self.reminders),
                #[cfg(feature = "tls")]
                security: settings.security,
                access_control: settings.access_control.map(Arc::new),
                actor_types,
                dispatch: Arc::new(router),
                local,
            }
        });
        let table = table.ok_or_else(|| Error::new(ErrorKind::Internal, "no activation table"))?;
        let handle = HostHandle { inner };
        let stop_servers = CancellationToken::new();
        let mut background = table.spawn_idle_scanners();
        background.push(tokio::spawn(crate::reminder::run::run(handle.clone())));
        let mut servers = Vec::new();
        #[cfg(feature = "metrics")]
        if let Some(((listener, _), metrics)) = metrics {
            let listener = tokio::net::TcpListener::from_std(listener)
                .map_err(|e| Error::new(ErrorKind::Unavailable, format!("listener: {e}")))?;
            servers.push(crate::telemetry::http::serve_metrics_on(
                listener,
                metrics,
                settings.http_limits,
                stop_servers.clone().cancelled_owned(),
            ));
        }
        if let Some((listener, _)) = listener {
            let listener = tokio::net::TcpListener::from_std(listener)
                .map_err(|e| Error::new(ErrorKind::Unavailable, format!("listener: {e}")))?;
            servers.push(crate::invoke::server::spawn(
                listener,
                handle.clone(),
                Arc::new(settings.methods.clone()),
                stop_servers.clone(),
            ));
        }
        let placement_client = match (cluster, self.cluster) {
            (Some(cluster), Some(config)) => {
                tracing::info!(host_id = %cluster.host_id, address = %cluster.address, "cluster host listening");
                let stop = cluster.stop_client.clone();
                let follower = Follower {
                    cluster,
                    config,
                    app_id: handle.config().app_id.clone(),
                    actor_types: handle.actor_types(),
                    #[cfg(feature = "tls")]
                    identity: handle.identity().cloned(),
                    drain: Arc::clone(&table) as Arc<dyn Drain>,
                };
                Some(tokio::spawn(crate::placement::client::run(follower, stop)))
            }
            _ => None,
        };
        tracing::info!(app_id = %handle.config().app_id,
            types = ?handle.actor_types(),
            methods = ?settings.methods.names(),
            address = ?handle.address(), "host started");
        Ok(Host {
            handle,
            table,
            background,
            servers,
            placement_client,
            stop_servers,
        })
    }

    /// The metrics registry and its bound listener, when the host serves metrics.
    #[cfg(feature = "metrics")]
    fn metrics_side(&self) -> Result<Option<(Bound, Arc<Metrics>)>, Error> {
        self.fabric
            .metrics_addr
            .map(|addr| bind(addr, "metrics").map(|l| (l, Arc::new(Metrics::new()))))
            .transpose()
    }

    /// Without the `metrics` feature a host keeps no metrics.
    #[cfg(not(feature = "metrics"))]
    fn metrics_side(&self) -> Result<Option<(Bound, Arc<Metrics>)>, Error> {
        Ok(None)
    }

    /// Checks the settings; a cluster host always fences.
    fn validate(&mut self) -> Result<(), Error> {
        if let Some(cluster) = &self.cluster {
            cluster.validate()?;
            // Actors move between hosts: every activation must be fenced.
            self.config.fencing = true;
        }
        self.config.validate()?;
        self.reminders.validate()?;
        if let Some(name) = &self.fabric.duplicate_method {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("service method `{name}` is registered twice"),
            ));
        }
        Ok(())
    }

    fn take_store(&mut self) -> Result<Arc<dyn StateStore>, Error> {
        match self.store.take() {
            Some(store) => Ok(store),
            // A host serving only service methods keeps no state.
            None if self.registrations.is_empty() => Ok(Arc::new(crate::state::MemoryStore::new())),
            None => Err(Error::new(
                ErrorKind::InvalidArgument,
                "no state store configured: call .store(SledStore::open(dir)?) or \
                 .store(MemoryStore::new()) on the host builder",
            )),
        }
    }

    /// The registered types, each once.
    fn registered_types(&mut self) -> Result<Vec<(TypeEntry, Spawner)>, Error> {
        let mut seen = HashMap::new();
        let mut types = Vec::with_capacity(self.registrations.len());
        for registration in std::mem::take(&mut self.registrations) {
            let (entry, spawner) = registration.into_entry(&self.config)?;
            if seen.insert(entry.name.clone(), ()).is_some() {
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    format!("actor type `{}` is registered twice", entry.name),
                ));
            }
            types.push((entry, spawner));
        }
        Ok(types)
    }

    /// Where the host listens for other hosts: its cluster address, or `listen`.
    fn listen_address(&self) -> Result<Option<SocketAddr>, Error> {
        match (&self.cluster, self.fabric.listen) {
            (Some(_), Some(_)) => Err(Error::new(
                ErrorKind::InvalidArgument,
                "both .listen(..) and a cluster are configured: a cluster host listens at \
                 its ClusterConfig::listen address",
            )),
            (Some(c), None) => Ok(Some(c.listen)),
            (None, listen) => Ok(listen),
        }
    }

    fn resolved_namespace(&self) -> String {
        self.fabric
            .namespace
            .clone()
            .or_else(|| self.cluster.as_ref().map(|c| c.namespace.clone()))
            .unwrap_or_else(|| crate::resolve::DEFAULT_NAMESPACE.to_owned())
    }

    /// The channels to other hosts: mutual TLS with the workload identity (which must be this
    /// app's), else plain text, with a warning when the host talks to others at all.
    fn peers(&self, namespace: &str, listens: bool) -> Result<Arc<Peers>, Error> {
        let max_message = wire_limit(self.config.max_request_bytes);
        #[cfg(feature = "tls")]
        if let Some(identity) = &self.fabric.security {
            return self.secure_peers(identity, namespace, max_message);
        }
        // Only a workload identity is checked against the namespace.
        #[cfg(not(feature = "tls"))]
        let _ = namespace;
        if listens || self.cluster.is_some() || self.fabric.resolver.is_some() {
            tracing::warn!(app_id = %self.config.app_id,
                "SECURITY IS OFF: host-to-host calls are plain text, unauthenticated and \
                 unencrypted; {PLAIN_TEXT_HINT}");
        }
        Ok(Arc::new(Peers::default().max_message(max_message)))
    }

    /// Channels over mutual TLS with `identity`, which must be this app's in `namespace`.
    #[cfg(feature = "tls")]
    fn secure_peers(
        &self,
        identity: &crate::security::WorkloadIdentity,
        namespace: &str,
        max_message: usize,
    ) -> Result<Arc<Peers>, Error> {
        let id = identity.spiffe_id();
        if id.app_id() != self.config.app_id || id.namespace() != namespace {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "the workload identity {id} is not app `{}` in namespace `{namespace}`",
                    self.config.app_id
                ),
            ));
        }
        Ok(Arc::new(
            Peers::with_tls(identity.client_config())
                .expecting_peers_of(id.clone())
                .max_message(max_message),
        ))
    }

    /// The cluster side of a cluster host that listens at `bound`.
    fn cluster_side(&self, bound: Option<SocketAddr>, peers: &Arc<Peers>) -> Option<Arc<Cluster>> {
        let (c, bound) = (self.cluster.as_ref()?, bound?);
        Some(Arc::new(Cluster {
            host_id: c.host_id.clone(),
            address: c.advertise.clone().unwrap_or_else(|| bound.to_string()),
            tables: Default::default(),
            members: Default::default(),
            peers: Arc::clone(peers),
            lease: Default::default(),
            stop_client: CancellationToken::new(),
        }))
    }

    /// Outgoing service calls: the resolver (placement's registry in a cluster), balancer,
    /// resiliency and metrics.
    fn service_fabric(
        &mut self,
        namespace: String,
        cluster: &Option<Arc<Cluster>>,
        peers: Arc<Peers>,
        metrics: Option<&Arc<Metrics>>,
    ) -> Arc<Fabric> {
        let settings = &mut self.fabric;
        let resolver: Option<Arc<dyn NameResolver>> = match (settings.resolver.take(), cluster) {
            (Some(r), _) => Some(r),
            (None, Some(c)) => Some(Arc::new(PlacementResolver::new(Arc::clone(&c.members)))),
            (None, None) => None,
        };
        let resiliency = settings.resiliency.take();
        Arc::new(Fabric {
            app_id: self.config.app_id.clone(),
            namespace,
            resolver,
            actor_policies: resiliency
                .as_ref()
                .is_some_and(crate::invoke::policy::has_actor_policies),
            resiliency: Arc::new(resiliency.unwrap_or_default()),
            default_retry: crate::service::client::default_retry(),
            breakers: Default::default(),
            routes: Default::default(),
            caller: bytes::Bytes::from(self.config.app_id.clone()),
            balancer: crate::service::Balancer::new(
                settings
                    .ejection
                    .unwrap_or(crate::service::client::DEFAULT_EJECTION),
            ),
            peers,
            metrics: metrics.cloned(),
        })
    }
}

/// What the plain-text warning advises.
#[cfg(feature = "tls")]
const PLAIN_TEXT_HINT: &str = "use HostBuilder::security outside local development";
#[cfg(not(feature = "tls"))]
const PLAIN_TEXT_HINT: &str =
    "build weft with its `tls` feature and use HostBuilder::security outside local development";

/// A bound listener and its address.
type Bound = (std::net::TcpListener, SocketAddr);

/// Binds a listener (non-blocking, for tokio) and returns it with its bound address.
fn bind(addr: SocketAddr, what: &str) -> Result<Bound, Error> {
    // Not `Unavailable`: a bad address or a port in use does not pass by retrying.
    let listener = std::net::TcpListener::bind(addr).map_err(|e| {
        Error::new(
            ErrorKind::InvalidArgument,
            format!("cannot listen on {addr} for {what}: {e}"),
        )
    })?;
    let bound = listener
        .local_addr()
        .and_then(|a| listener.set_nonblocking(true).map(|()| a))
        .map_err(|e| Error::new(ErrorKind::Unavailable, format!("listener on {addr}: {e}")))?;
    Ok((listener, bound))
}
