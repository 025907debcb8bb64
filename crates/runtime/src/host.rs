//! The [`Host`]: registered actor types, their activations, the state store, and the call path.
//!
//! A call (`HostHandle::call`) finds the type's activation table, then the actor's slot:
//! `Active` → the call goes into its mailbox; absent → a new activation is inserted and spawned
//! first; `Deactivating` → the call waits until the old activation is fully gone, so an actor is
//! never active twice on one host. The whole path, including the wait for the actor's turn, is
//! bounded by the call's deadline.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{self, Poll};
use std::time::Duration;

use bytes::Bytes;
use dashmap::mapref::entry::Entry;
use futures::future::BoxFuture;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::actor::activation::{Activation, ActivationStart};
use crate::actor::mailbox::{DeactivateReason, Mailbox};
use crate::actor::names::{check_actor_id, check_target};
use crate::actor::{
    ActorId, ActorKey, ActorRef, ActorRegistration, ActorType, CallChain, CallEnvelope, CallOrigin,
    Caller, Deadline, Envelope, Slot, TypeEntry, TypedActor,
};
use crate::codec::Codec;
use crate::config::wire_limit;
use crate::config::{HostConfig, Reentrancy};
use crate::error::{Error, ErrorKind};
use crate::invoke::client::Peers;
use crate::invoke::proto::invoke_server::InvokeServer;
use crate::invoke::server::InvokeService;
use crate::placement::{Cluster, ClusterConfig};
use crate::reminder::{self, ReminderConfig};
use crate::resiliency::Resiliency;
use crate::resolve::NameResolver;
use crate::security::{AccessControl, WorkloadIdentity};
use crate::service::client::Fabric;
use crate::service::{Methods, ServiceCall, ServiceRequest, ServiceResponse};
use crate::state::StateStore;
use crate::telemetry::Metrics;

/// Builds a [`Host`]. Every setting has a default; a state store is required.
///
/// # Examples
/// ```
/// use bytes::Bytes;
/// use weft_runtime::{Actor, ActorRegistration, Call, Context, Error, Host, MemoryStore};
///
/// struct Echo;
/// impl Actor for Echo {
///     async fn handle(&self, _ctx: &Context, call: Call) -> Result<Bytes, Error> {
///         Ok(call.into_payload())
///     }
/// }
///
/// # #[tokio::main] async fn main() -> Result<(), Error> {
/// let host = Host::builder()
///     .store(MemoryStore::new())
///     .register(ActorRegistration::new("echo", |_id| Echo))
///     .start()?;
/// let reply = host.handle().call("echo", "e1", "say", Bytes::from_static(b"hi")).await?;
/// assert_eq!(&reply[..], b"hi");
/// host.shutdown().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Default)]
pub struct HostBuilder {
    config: HostConfig,
    store: Option<Arc<dyn StateStore>>,
    registrations: Vec<ActorRegistration>,
    cluster: Option<ClusterConfig>,
    fabric: FabricSettings,
    reminders: ReminderConfig,
}

/// The service-invocation settings of a builder.
#[derive(Debug, Default)]
struct FabricSettings {
    methods: Methods,
    duplicate_method: Option<String>,
    listen: Option<SocketAddr>,
    namespace: Option<String>,
    resolver: Option<Arc<dyn NameResolver>>,
    resiliency: Option<Resiliency>,
    metrics_addr: Option<SocketAddr>,
    http_limits: weft_http::Limits,
    ejection: Option<Duration>,
    security: Option<WorkloadIdentity>,
    access_control: Option<AccessControl>,
}

impl HostBuilder {
    /// The app id; the first part of every state key. Default: `"weft"`.
    pub fn app_id(mut self, app_id: impl Into<String>) -> Self {
        self.config.app_id = app_id.into();
        self
    }

    /// The state store. Required: `SledStore` is the embedded default, `MemoryStore` for tests.
    pub fn store(mut self, store: impl StateStore) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// A state store already shared with other components.
    pub fn shared_store(mut self, store: Arc<dyn StateStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Idle time before an actor is deactivated. Default: 60 min.
    pub fn idle_timeout(mut self, idle_timeout: Duration) -> Self {
        self.config.idle_timeout = idle_timeout;
        self
    }

    /// How often idle actors are looked for. Default: 30 s.
    pub fn scan_interval(mut self, scan_interval: Duration) -> Self {
        self.config.scan_interval = scan_interval;
        self
    }

    /// Deadline of calls that set none. Default: 60 s.
    pub fn call_timeout(mut self, call_timeout: Duration) -> Self {
        self.config.call_timeout = call_timeout;
        self
    }

    /// The largest request body of a call, on every hop between hosts (see
    /// [`HostConfig::max_request_bytes`]). Default: 4 MiB.
    pub fn max_request_bytes(mut self, max_request_bytes: usize) -> Self {
        self.config.max_request_bytes = max_request_bytes;
        self
    }

    /// Capacity of each actor's mailbox. Default: 1024.
    pub fn mailbox_capacity(mut self, capacity: usize) -> Self {
        self.config.mailbox_capacity = capacity;
        self
    }

    /// Reentrancy of actor types that set none. Default: off.
    pub fn reentrancy(mut self, reentrancy: Reentrancy) -> Self {
        self.config.reentrancy = reentrancy;
        self
    }

    /// How long [`Host::shutdown`] waits for activations to finish. Default: 30 s.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.config.shutdown_timeout = timeout;
        self
    }

    /// Owner-epoch fencing of state writes (see [`HostConfig::fencing`]). Default: off.
    pub fn fencing(mut self, fencing: bool) -> Self {
        self.config.fencing = fencing;
        self
    }

    /// Joins a cluster: the host registers with placement, serves the actors placement assigns
    /// to it, forwards calls for other actors to their owners, and fences its state writes.
    /// Default: a single host.
    pub fn cluster(mut self, cluster: ClusterConfig) -> Self {
        self.cluster = Some(cluster);
        self
    }

    /// How this host schedules reminders (poll interval, horizon). Default:
    /// [`ReminderConfig::default`].
    pub fn reminders(mut self, reminders: ReminderConfig) -> Self {
        self.reminders = reminders;
        self
    }

    /// All settings at once.
    pub fn config(mut self, config: HostConfig) -> Self {
        self.config = config;
        self
    }

    /// Registers the `#[weft::actor]` type `A` with the host's settings.
    pub fn actor<A: TypedActor>(self) -> Self {
        self.register(ActorRegistration::typed::<A>())
    }

    /// Serves the service method `name` with `handler` (any `async` closure taking a
    /// [`ServiceRequest`] and answering something that converts into a [`ServiceResponse`]).
    /// Other apps call it by this host's app id; the host listens at [`HostBuilder::listen`]
    /// (or its cluster address).
    ///
    /// # Examples
    /// ```
    /// use weft_runtime::{Error, Host, ServiceRequest, ServiceResponse};
    ///
    /// let builder = Host::builder()
    ///     .app_id("backend")
    ///     .listen("127.0.0.1:0".parse().unwrap())
    ///     .method("greet", |req: ServiceRequest| async move {
    ///         let name = String::from_utf8_lossy(req.body()).into_owned();
    ///         Ok::<_, Error>(ServiceResponse::ok(format!("hello, {name}")))
    ///     });
    /// # let _ = builder;
    /// ```
    pub fn method<F, Fut, R>(mut self, name: impl Into<String>, handler: F) -> Self
    where
        F: Fn(ServiceRequest) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<R, Error>> + Send + 'static,
        R: Into<ServiceResponse>,
    {
        let name = name.into();
        if !self
            .fabric
            .methods
            .insert(name.clone(), crate::service::handler(handler))
        {
            self.fabric.duplicate_method.get_or_insert(name);
        }
        self
    }

    /// Serves every method that has no handler of its own with `handler` (a pass-through to an
    /// app behind a sidecar, say).
    pub fn fallback_method<F, Fut, R>(mut self, handler: F) -> Self
    where
        F: Fn(ServiceRequest) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<R, Error>> + Send + 'static,
        R: Into<ServiceResponse>,
    {
        self.fabric
            .methods
            .set_fallback(crate::service::handler(handler));
        self
    }

    /// Listens for calls from other hosts at `addr` (port 0 picks a free port; see
    /// [`HostHandle::address`]). Not needed in a cluster, which listens at its own address.
    /// Defaults to not listening.
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.fabric.listen = Some(addr);
        self
    }

    /// The namespace of this app. Defaults to the cluster's namespace, else `"default"`.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.fabric.namespace = Some(namespace.into());
        self
    }

    /// How this host finds the instances of the apps it calls. Defaults to the placement
    /// registry in a cluster (every host registered with its app id), else none (service calls
    /// then fail with a clear error).
    pub fn resolver(mut self, resolver: impl NameResolver) -> Self {
        self.fabric.resolver = Some(Arc::new(resolver));
        self
    }

    /// Timeouts, retries and circuit breakers for this host's outgoing calls. Defaults to none:
    /// the call's deadline only, and retries of errors that prove the request never reached the
    /// callee (see [`crate::service`]).
    pub fn resiliency(mut self, spec: Resiliency) -> Self {
        self.fabric.resiliency = Some(spec);
        self
    }

    /// Serves Prometheus metrics at `http://{addr}/metrics` (see [`HostHandle::metrics_addr`]).
    /// Defaults to no metrics (and no cost for them on the call path).
    pub fn metrics(mut self, addr: SocketAddr) -> Self {
        self.fabric.metrics_addr = Some(addr);
        self
    }

    /// The connection limits of this host's HTTP endpoints (metrics): header-read and idle
    /// timeouts and a connection cap. Defaults to [`weft_http::Limits::default`].
    pub fn http_limits(mut self, limits: weft_http::Limits) -> Self {
        self.fabric.http_limits = limits;
        self
    }

    /// How long an instance that could not be reached stays out of round-robin. Defaults to
    /// 5 s.
    pub fn ejection(mut self, ejection: Duration) -> Self {
        self.fabric.ejection = Some(ejection);
        self
    }

    /// Mutual TLS with this workload identity for every host-to-host connection (the invoke
    /// server and the channels to other hosts): see [`crate::security`]. Its SPIFFE id must
    /// name this host's app id and namespace. Defaults to none: plain text, logged as a warning
    /// at start.
    ///
    /// # Examples
    /// ```no_run
    /// use weft_runtime::security::{SecurityConfig, WorkloadIdentity};
    /// use weft_runtime::Host;
    ///
    /// # async fn run() -> Result<(), weft_runtime::Error> {
    /// let config = SecurityConfig::from_files("127.0.0.1:50003", "ca.crt", "join-token")?;
    /// let identity = WorkloadIdentity::fetch(&config, "default", "backend").await?;
    /// let host = Host::builder()
    ///     .app_id("backend")
    ///     .security(identity)
    ///     .listen("127.0.0.1:7001".parse().unwrap())
    ///     .start()?;
    /// # Ok(()) }
    /// ```
    pub fn security(mut self, identity: WorkloadIdentity) -> Self {
        self.fabric.security = Some(identity);
        self
    }

    /// Checks every inbound service call against `acl` before its method runs (see
    /// [`AccessControl`]). Callers are identified by their certificates, so this wants
    /// [`security`](Self::security); in plain-text mode every caller gets the policy's top-level
    /// default action. Defaults to none: every caller may call every method.
    pub fn access_control(mut self, acl: AccessControl) -> Self {
        self.fabric.access_control = Some(acl);
        self
    }

    /// Registers an actor type.
    pub fn register(mut self, registration: ActorRegistration) -> Self {
        self.registrations.push(registration);
        self
    }

    /// Validates the settings and starts the host (its idle scanners). Must be called inside a
    /// tokio runtime.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] for an invalid setting, a missing store, or an actor type
    /// registered twice.
    pub fn start(mut self) -> Result<Host, Error> {
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
        let store = match self.store {
            Some(store) => store,
            // A host serving only service methods keeps no state.
            None if self.registrations.is_empty() => Arc::new(crate::state::MemoryStore::new()),
            None => {
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    "no state store configured: call .store(SledStore::open(dir)?) or \
                     .store(MemoryStore::new()) on the host builder",
                ))
            }
        };
        let mut types = HashMap::with_hasher(foldhash::fast::RandomState::default());
        for registration in self.registrations {
            let entry = registration.into_entry(&self.config)?;
            let name = entry.name.clone();
            if types.insert(name.clone(), Arc::new(entry)).is_some() {
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    format!("actor type `{name}` is registered twice"),
                ));
            }
        }
        let listen = match (&self.cluster, self.fabric.listen) {
            (Some(_), Some(_)) => {
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    "both .listen(..) and a cluster are configured: a cluster host listens at \
                     its ClusterConfig::listen address",
                ))
            }
            (Some(c), None) => Some(c.listen),
            (None, listen) => listen,
        };
        let (listener, bound) = match listen {
            Some(addr) => {
                let (l, a) = bind(addr, "other hosts")?;
                (Some(l), Some(a))
            }
            None => (None, None),
        };
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            Error::new(
                ErrorKind::InvalidArgument,
                "Host::start must be called inside a tokio runtime",
            )
        })?;
        let namespace = self
            .fabric
            .namespace
            .clone()
            .or_else(|| self.cluster.as_ref().map(|c| c.namespace.clone()))
            .unwrap_or_else(|| crate::resolve::DEFAULT_NAMESPACE.to_owned());
        let peers = match &self.fabric.security {
            Some(identity) => {
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
                Arc::new(
                    Peers::with_tls(identity.client_config())
                        .expecting_peers_of(id.clone())
                        .max_message(wire_limit(self.config.max_request_bytes)),
                )
            }
            None => {
                if listener.is_some() || self.cluster.is_some() || self.fabric.resolver.is_some() {
                    tracing::warn!(app_id = %self.config.app_id,
                        "SECURITY IS OFF: host-to-host calls are plain text, unauthenticated and \
                         unencrypted; use HostBuilder::security outside local development");
                }
                Arc::new(Peers::default().max_message(wire_limit(self.config.max_request_bytes)))
            }
        };
        let cluster = match (&self.cluster, bound) {
            (Some(c), Some(bound)) => Some(Arc::new(Cluster {
                host_id: c.host_id.clone(),
                address: c.advertise.clone().unwrap_or_else(|| bound.to_string()),
                tables: Default::default(),
                members: Default::default(),
                peers: Arc::clone(&peers),
                lease: Default::default(),
                stop_client: CancellationToken::new(),
                client_task: std::sync::Mutex::new(None),
            })),
            _ => None,
        };
        let address = match &cluster {
            Some(c) => Some(c.address.clone()),
            None => bound.map(|b| b.to_string()),
        };
        let settings = self.fabric;
        let metrics = settings
            .metrics_addr
            .map(|addr| bind(addr, "metrics").map(|l| (l, Arc::new(Metrics::new()))))
            .transpose()?;
        let resolver: Option<Arc<dyn NameResolver>> = match (settings.resolver, &cluster) {
            (Some(r), _) => Some(r),
            (None, Some(c)) => Some(Arc::new(crate::placement::PlacementResolver::new(
                Arc::clone(c),
            ))),
            (None, None) => None,
        };
        let fabric = Arc::new(Fabric {
            app_id: self.config.app_id.clone(),
            namespace,
            resolver,
            actor_policies: settings
                .resiliency
                .as_ref()
                .is_some_and(crate::invoke::policy::has_actor_policies),
            resiliency: Arc::new(settings.resiliency.unwrap_or_default()),
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
            metrics: metrics.as_ref().map(|(_, m)| Arc::clone(m)),
        });
        let inner = Arc::new(HostInner {
            runtime,
            cluster: cluster.clone(),
            config: self.config,
            store: std::sync::RwLock::new(Some(store)),
            types,
            epoch: Instant::now(),
            tracker: TaskTracker::new(),
            shutting_down: AtomicBool::new(false),
            methods: settings.methods,
            fabric,
            address,
            metrics_addr: None,
            stop_servers: CancellationToken::new(),
            reminders: reminder::Scheduler::new(self.reminders),
            security: settings.security,
            access_control: settings.access_control.map(Arc::new),
        });
        let mut inner = inner;
        if let Some(((listener, local), metrics)) = metrics {
            let stop = inner.stop_servers.clone();
            let listener = tokio::net::TcpListener::from_std(listener)
                .map_err(|e| Error::new(ErrorKind::Unavailable, format!("listener: {e}")))?;
            crate::telemetry::http::serve_metrics_on(
                listener,
                metrics,
                settings.http_limits,
                stop.cancelled_owned(),
            );
            if let Some(inner) = Arc::get_mut(&mut inner) {
                inner.metrics_addr = Some(local);
            }
        }
        let handle = HostHandle { inner };
        let scanners = handle
            .inner
            .types
            .values()
            .map(|ty| tokio::spawn(scan_idle(handle.clone(), Arc::clone(ty))))
            .chain([tokio::spawn(reminder::run(handle.clone()))])
            .collect();
        if let Some(listener) = listener {
            let listener = tokio::net::TcpListener::from_std(listener)
                .map_err(|e| Error::new(ErrorKind::Unavailable, format!("listener: {e}")))?;
            let max_message = wire_limit(handle.config().max_request_bytes);
            let service = InvokeServer::new(InvokeService {
                host: handle.clone(),
            })
            .max_decoding_message_size(max_message)
            .max_encoding_message_size(max_message);
            let stop = handle.inner.stop_servers.clone();
            let tls = handle
                .inner
                .security
                .as_ref()
                .map(WorkloadIdentity::server_config);
            tokio::spawn(async move {
                // `Server::tcp_nodelay` does not apply to an incoming stream we hand over, so
                // the accepted sockets get it here; without it small replies wait ~40 ms for a
                // delayed ACK (found by the invoke_remote bench).
                let router = tonic::transport::Server::builder().add_service(service);
                let served = match tls {
                    Some(config) => {
                        let incoming =
                            crate::security::tls::incoming(listener, config, stop.clone());
                        router
                            .serve_with_incoming_shutdown(incoming, stop.cancelled_owned())
                            .await
                    }
                    None => {
                        let incoming = tonic::transport::server::TcpIncoming::from(listener)
                            .with_nodelay(Some(true));
                        router
                            .serve_with_incoming_shutdown(incoming, stop.cancelled_owned())
                            .await
                    }
                };
                if let Err(e) = served {
                    tracing::error!(error = %e, "the invoke service stopped");
                }
            });
        }
        if let (Some(cluster), Some(config)) = (cluster, self.cluster) {
            let client = tokio::spawn(crate::placement::client::run(
                handle.clone(),
                config,
                cluster.address.clone(),
                cluster.stop_client.clone(),
            ));
            *cluster
                .client_task
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(client);
            tracing::info!(host_id = %cluster.host_id, address = %cluster.address, "cluster host listening");
        }
        tracing::info!(app_id = %handle.inner.config.app_id,
            types = ?handle.inner.types.keys().collect::<Vec<_>>(),
            methods = ?handle.inner.methods.names(),
            address = ?handle.inner.address, "host started");
        Ok(Host { handle, scanners })
    }
}

/// Binds a listener (non-blocking, for tokio) and returns it with its bound address.
fn bind(addr: SocketAddr, what: &str) -> Result<(std::net::TcpListener, SocketAddr), Error> {
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

/// A running host: its actor types and their activations.
///
/// Dropping a `Host` stops its idle scanners but not running activations; call
/// [`Host::shutdown`] to end it gracefully.
#[derive(Debug)]
pub struct Host {
    handle: HostHandle,
    scanners: Vec<JoinHandle<()>>,
}

impl Host {
    /// A new builder.
    pub fn builder() -> HostBuilder {
        HostBuilder::default()
    }

    /// A cheap, cloneable handle for calling actors.
    pub fn handle(&self) -> HostHandle {
        self.handle.clone()
    }

    /// Shuts down gracefully: no new calls are taken; every activation finishes its running and
    /// queued turns, runs `on_deactivate` and commits; then the store is flushed.
    ///
    /// # Errors
    /// [`ErrorKind::DeadlineExceeded`] when activations did not finish within the shutdown
    /// timeout; [`ErrorKind::Store`] when the final flush fails.
    pub async fn shutdown(mut self) -> Result<(), Error> {
        let inner = Arc::clone(&self.handle.inner);
        inner.shutting_down.store(true, Ordering::SeqCst);
        for scanner in self.scanners.drain(..) {
            scanner.abort();
        }
        let deadline = Instant::now() + inner.config.shutdown_timeout;
        let mailboxes: Vec<Arc<Mailbox>> = inner
            .types
            .values()
            .flat_map(|ty| {
                ty.table
                    .iter()
                    .filter_map(|slot| match slot.value() {
                        Slot::Active(m) => Some(Arc::clone(m)),
                        Slot::Deactivating(_) => None,
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        let count = mailboxes.len();
        let ask = async {
            for mailbox in mailboxes {
                let _ = mailbox
                    .tx
                    .send(Envelope::Deactivate(DeactivateReason::Shutdown))
                    .await;
            }
            inner.tracker.close();
            inner.tracker.wait().await;
        };
        if tokio::time::timeout_at(deadline, ask).await.is_err() {
            return Err(Error::deadline(format!(
                "shutdown: activations still running after {:?} (of {count} asked to stop)",
                inner.config.shutdown_timeout
            )));
        }
        if let Some(cluster) = &inner.cluster {
            // Our actors are deactivated and committed: now leave placement (its next round
            // moves them elsewhere, at once: we say `Leave`, so it need not wait for our lease).
            cluster.stop_client.cancel();
            let client = cluster
                .client_task
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take();
            if let Some(client) = client {
                let _ = tokio::time::timeout(Duration::from_secs(2), client).await;
            }
        }
        // ...and stop serving other hosts.
        inner.stop_servers.cancel();
        let store = inner.store()?;
        store.flush().await?;
        // Release the store, so its resources (sled's directory lock) are freed even while
        // handles to this host live on: a new host may open the same directory.
        drop(store);
        inner
            .store
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        tracing::info!(deactivated = count, "host shut down");
        Ok(())
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        for scanner in &self.scanners {
            scanner.abort();
        }
    }
}

/// A cheap, cloneable handle to a running host, for calling actors.
#[derive(Clone)]
pub struct HostHandle {
    inner: Arc<HostInner>,
}

struct HostInner {
    config: HostConfig,
    /// `None` once the host has shut down.
    store: std::sync::RwLock<Option<Arc<dyn StateStore>>>,
    types: HashMap<ActorType, Arc<TypeEntry>, foldhash::fast::RandomState>,
    epoch: Instant,
    tracker: TaskTracker,
    shutting_down: AtomicBool,
    cluster: Option<Arc<Cluster>>,
    /// The runtime the host was started on: activations run there, whoever calls.
    runtime: tokio::runtime::Handle,
    /// The service methods this host serves.
    methods: Methods,
    /// Outgoing service calls: resolver, balancer, resiliency, metrics.
    fabric: Arc<Fabric>,
    /// Where other hosts reach this one, when it listens.
    address: Option<String>,
    metrics_addr: Option<SocketAddr>,
    /// Stops the invoke and metrics servers.
    stop_servers: CancellationToken,
    reminders: reminder::Scheduler,
    /// The workload identity: mutual TLS on every host-to-host connection.
    security: Option<WorkloadIdentity>,
    /// Who may call which service method.
    access_control: Option<Arc<AccessControl>>,
}

impl fmt::Debug for HostHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostHandle")
            .field("app_id", &self.inner.config.app_id)
            .field("types", &self.inner.types.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl HostInner {
    fn store(&self) -> Result<Arc<dyn StateStore>, Error> {
        self.store
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::ShuttingDown,
                    "the host has shut down and released its state store",
                )
            })
    }
}

/// Per-call options of [`HostHandle::call_with`].
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use weft_runtime::{CallOptions, Codec};
/// let o = CallOptions::default().timeout(Duration::from_secs(2)).codec(Codec::Json);
/// # let _ = o;
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct CallOptions {
    timeout: Option<Duration>,
    codec: Codec,
}

impl CallOptions {
    /// How long the caller waits for the reply. Default: the host's `call_timeout`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The codec of the payload, and of the reply. Default: [`Codec::Binary`].
    pub fn codec(mut self, codec: Codec) -> Self {
        self.codec = codec;
        self
    }
}

/// One call on its way in, before it has found its actor.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub(crate) method: Cow<'static, str>,
    pub(crate) payload: Bytes,
    pub(crate) codec: Codec,
    /// Fixed (an instant) as soon as a timer or another host needs it; see [`Deadline`].
    pub(crate) deadline: Deadline,
    pub(crate) chain: Option<CallChain>,
    /// How many hosts forwarded this call already (at most one).
    pub(crate) hop_count: u32,
}

/// The reply to a call that [`HostHandle::send_actor`] sent (or is sending).
pub(crate) enum Reply<'a> {
    /// The call is in the active actor's mailbox; its activation answers on `reply`, by the
    /// call's deadline.
    Mailbox {
        reply: oneshot::Receiver<Result<Bytes, Error>>,
        actor_type: &'a str,
        id: &'a str,
    },
    /// A slow path (activation, a full mailbox, placement, another host) that sends the call
    /// and waits for its reply, within the call's deadline.
    Waiting(BoxFuture<'a, Result<Bytes, Error>>),
}

impl Future for Reply<'_> {
    type Output = Result<Bytes, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut task::Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            Reply::Mailbox {
                reply,
                actor_type,
                id,
            } => Pin::new(reply)
                .poll(cx)
                .map(|reply| reply.unwrap_or_else(|_| Err(ended(actor_type, id)))),
            Reply::Waiting(waiting) => waiting.as_mut().poll(cx),
        }
    }
}

/// What to do after one look at an actor's slot.
enum Step {
    Sent,
    WaitForRoom(Arc<Mailbox>, CallEnvelope),
    WaitForDeactivation(watch::Receiver<()>, CallEnvelope),
    Stale(Arc<Mailbox>, CallEnvelope),
    Activate(CallEnvelope),
}

impl HostHandle {
    /// Calls `method` of actor `actor_type`/`id` with an encoded payload, activating the actor if
    /// needed, and waits for the reply until the host's default call timeout.
    ///
    /// # Errors
    /// - [`ErrorKind::NotFound`]: the type is not registered here, or the actor has no such
    ///   method;
    /// - [`ErrorKind::InvalidArgument`]: an empty id or one containing `||`;
    /// - [`ErrorKind::DeadlineExceeded`]: no reply in time (also when the actor stays busy);
    /// - [`ErrorKind::ActorFailed`]: the method failed or panicked;
    /// - [`ErrorKind::Conflict`] / [`ErrorKind::Store`]: the turn's state could not be committed;
    /// - [`ErrorKind::ShuttingDown`].
    pub async fn call(
        &self,
        actor_type: &str,
        id: &str,
        method: impl Into<Cow<'static, str>>,
        payload: Bytes,
    ) -> Result<Bytes, Error> {
        let request = Request {
            method: method.into(),
            payload,
            codec: Codec::Binary,
            deadline: Deadline::After(self.inner.config.call_timeout),
            chain: None,
            hop_count: 0,
        };
        // Not `invoke_actor`: this future then holds the small `Reply`, not the request as well.
        self.send_actor(actor_type, id, request)?.await
    }

    /// As [`HostHandle::call`], with this call's own timeout.
    ///
    /// # Errors
    /// As [`HostHandle::call`].
    pub async fn call_with_timeout(
        &self,
        actor_type: &str,
        id: &str,
        method: impl Into<Cow<'static, str>>,
        payload: Bytes,
        timeout: Duration,
    ) -> Result<Bytes, Error> {
        let options = CallOptions::default().timeout(timeout);
        self.call_with(actor_type, id, method, payload, options)
            .await
    }

    /// As [`HostHandle::call`], with per-call options (timeout, codec of the payload).
    ///
    /// # Errors
    /// As [`HostHandle::call`].
    pub async fn call_with(
        &self,
        actor_type: &str,
        id: &str,
        method: impl Into<Cow<'static, str>>,
        payload: Bytes,
        options: CallOptions,
    ) -> Result<Bytes, Error> {
        let timeout = options.timeout.unwrap_or(self.inner.config.call_timeout);
        let request = Request {
            method: method.into(),
            payload,
            codec: options.codec,
            deadline: Deadline::After(timeout),
            chain: None,
            hop_count: 0,
        };
        self.send_actor(actor_type, id, request)?.await
    }

    /// A typed proxy for actor `id` of the `#[weft::actor]` type `A`.
    pub fn actor<A: TypedActor>(&self, id: impl Into<ActorId>) -> A::Proxy {
        A::Proxy::from(ActorRef::new(Caller::host(self.clone()), id))
    }

    /// The number of active actors of `actor_type` on this host.
    pub fn active_count(&self, actor_type: &str) -> usize {
        self.inner.types.get(actor_type).map_or(0, |ty| {
            ty.table
                .iter()
                .filter(|s| matches!(s.value(), Slot::Active(_)))
                .count()
        })
    }

    /// The host's settings.
    pub fn config(&self) -> &HostConfig {
        &self.inner.config
    }

    /// The host's state store.
    ///
    /// # Errors
    /// [`ErrorKind::ShuttingDown`] after [`Host::shutdown`], which releases the store.
    pub fn store(&self) -> Result<Arc<dyn StateStore>, Error> {
        self.inner.store()
    }

    /// On a cluster host whose placement lease has lapsed: its cluster side (for the refusal's
    /// wording). `None` on a single host, or while the lease holds.
    pub(crate) fn lapsed_lease(&self) -> Option<&Cluster> {
        self.inner.cluster.as_deref().filter(|c| !c.lease.is_held())
    }

    /// The activation table entry of `actor_type`, if this host serves it.
    pub(crate) fn type_entry(&self, actor_type: &str) -> Option<&Arc<TypeEntry>> {
        self.inner.types.get(actor_type)
    }

    pub(crate) fn cluster(&self) -> Option<Arc<Cluster>> {
        self.inner.cluster.clone()
    }

    pub(crate) fn reminders(&self) -> &reminder::Scheduler {
        &self.inner.reminders
    }

    /// The actor types registered on this host.
    pub fn actor_types(&self) -> Vec<String> {
        let mut types: Vec<String> = self.inner.types.keys().map(|t| t.to_string()).collect();
        types.sort_unstable();
        types
    }

    pub(crate) fn serves(&self, actor_type: &str) -> bool {
        self.inner.types.contains_key(actor_type)
    }

    /// This host's placement table version for `actor_type` (0 outside a cluster).
    pub fn table_version(&self, actor_type: &str) -> u64 {
        self.inner
            .cluster
            .as_ref()
            .map_or(0, |c| c.tables.version(actor_type))
    }

    /// This host's id in its cluster, if it is in one.
    pub fn host_id(&self) -> Option<&str> {
        self.inner.cluster.as_ref().map(|c| c.host_id.as_str())
    }

    /// The address other hosts reach this one at, if it listens (in a cluster, or with
    /// [`HostBuilder::listen`]).
    pub fn address(&self) -> Option<&str> {
        self.inner.address.as_deref()
    }

    /// Where this host serves `/metrics`, if it does ([`HostBuilder::metrics`]).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.inner.metrics_addr
    }

    /// This host's metrics, if it keeps them ([`HostBuilder::metrics`]).
    pub fn metrics(&self) -> Option<&Arc<Metrics>> {
        self.inner.fabric.metrics.as_ref()
    }

    /// Calls `method` of app `app_id` (`app` or `app.namespace`) with `body` and returns the
    /// response body. The call goes to one instance of the app, round-robin, under this host's
    /// resiliency policy and call timeout.
    ///
    /// # Errors
    /// - [`ErrorKind::AppError`]: the method answered a non-2xx status ([`Error::status`], and
    ///   the body in [`Error::app_error`]);
    /// - [`ErrorKind::NotFound`]: no such app (no instances) or no such method;
    /// - [`ErrorKind::InvalidArgument`]: a malformed app id or method, or the method rejected
    ///   the payload;
    /// - [`ErrorKind::DeadlineExceeded`], [`ErrorKind::Unavailable`] (no reachable instance,
    ///   circuit open), [`ErrorKind::Interrupted`] (the connection broke mid-call: it may have
    ///   run), [`ErrorKind::PermissionDenied`].
    pub async fn invoke(
        &self,
        app_id: &str,
        method: &str,
        body: impl Into<Bytes>,
    ) -> Result<Bytes, Error> {
        let response = self
            .send(ServiceCall::new(app_id, method).body(body))
            .await?;
        if response.is_success() {
            return Ok(response.into_body());
        }
        let status = response.status();
        let preview = String::from_utf8_lossy(&response.body()[..response.body().len().min(200)])
            .into_owned();
        Err(Error::app_status(
            status,
            response.into_body(),
            format!("method `{method}` of app `{app_id}` answered {status}: {preview}"),
        ))
    }

    /// Calls `method` of app `app_id` with `request` as JSON and decodes the JSON reply.
    ///
    /// # Errors
    /// As [`HostHandle::invoke`]; [`ErrorKind::InvalidArgument`] when the reply is not JSON of
    /// `Resp`.
    pub async fn invoke_json<Req, Resp>(
        &self,
        app_id: &str,
        method: &str,
        request: &Req,
    ) -> Result<Resp, Error>
    where
        Req: serde::Serialize + ?Sized,
        Resp: serde::de::DeserializeOwned,
    {
        let call = ServiceCall::new(app_id, method).json(request)?;
        let response = self.send(call).await?;
        if !response.is_success() {
            let status = response.status();
            return Err(Error::app_status(
                status,
                response.into_body(),
                format!("method `{method}` of app `{app_id}` answered {status}"),
            ));
        }
        response.decode_json()
    }

    /// Sends a full [`ServiceCall`] and returns the full response, whatever its status.
    ///
    /// # Errors
    /// As [`HostHandle::invoke`], except that a non-2xx status is an `Ok` response.
    pub async fn send(&self, call: ServiceCall) -> Result<ServiceResponse, Error> {
        if self.is_shutting_down() {
            return Err(shutting_down());
        }
        self.inner
            .fabric
            .send(call, self.inner.config.call_timeout)
            .await
    }

    /// The instances of app `app_id` (`app` or `app.namespace`) as this host's resolver sees
    /// them now.
    ///
    /// # Errors
    /// [`ErrorKind::NotFound`] for an app without instances; [`ErrorKind::InvalidArgument`] for a
    /// malformed app id; [`ErrorKind::Unavailable`] without a resolver or when it fails.
    pub async fn resolve_instances(
        &self,
        app_id: &str,
    ) -> Result<Vec<crate::resolve::Instance>, Error> {
        Ok(self.inner.fabric.resolve(app_id).await?.to_vec())
    }

    /// Whether round-robin currently skips the instance at `address` (it failed to take a call
    /// within the ejection period; see [`HostBuilder::ejection`]).
    pub fn is_ejected(&self, address: &str) -> bool {
        self.inner.fabric.balancer.is_ejected(address)
    }

    pub(crate) fn fabric(&self) -> &Arc<Fabric> {
        &self.inner.fabric
    }

    pub(crate) fn methods(&self) -> &Methods {
        &self.inner.methods
    }

    /// The workload identity this host serves and calls with, when security is on.
    pub fn identity(&self) -> Option<&WorkloadIdentity> {
        self.inner.security.as_ref()
    }

    /// Whether host-to-host connections are mutual TLS.
    pub(crate) fn is_secure(&self) -> bool {
        self.inner.security.is_some()
    }

    pub(crate) fn access_control(&self) -> Option<&AccessControl> {
        self.inner.access_control.as_deref()
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        self.inner.shutting_down.load(Ordering::Acquire)
    }

    /// Waits until this host has its placement tables and appears in the table of every actor
    /// type it serves (so calls route to it). Immediate outside a cluster.
    ///
    /// # Errors
    /// [`ErrorKind::DeadlineExceeded`] when that did not happen within `timeout`.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<(), Error> {
        let Some(cluster) = &self.inner.cluster else {
            return Ok(());
        };
        let mut changes = cluster.tables.subscribe();
        let types = self.actor_types();
        let ready = async {
            loop {
                changes.borrow_and_update();
                if cluster.tables.is_ready()
                    && types
                        .iter()
                        .all(|t| cluster.tables.serves(t, &cluster.host_id))
                    && !types.iter().any(|t| {
                        matches!(
                            cluster.tables.lookup(t, "_"),
                            crate::placement::table::Lookup::Locked(_)
                        )
                    })
                {
                    return;
                }
                if changes.changed().await.is_err() {
                    return;
                }
            }
        };
        tokio::time::timeout(timeout, ready).await.map_err(|_| {
            Error::deadline(format!(
                "host {} did not join placement within {timeout:?}",
                cluster.host_id
            ))
        })
    }

    /// Deactivates (finish turn, commit, `on_deactivate`) the local actors of `types` that the
    /// current table places on another host, and waits until they are gone.
    pub(crate) async fn drain_moved(&self, types: &[String], host_id: &str) {
        let Some(cluster) = &self.inner.cluster else {
            return;
        };
        let mut moving = Vec::new();
        for actor_type in types {
            let Some(ty) = self.inner.types.get(actor_type.as_str()) else {
                continue;
            };
            for slot in ty.table.iter() {
                if let Slot::Active(mailbox) = slot.value() {
                    let owner = cluster.tables.owner_id(actor_type, slot.key().as_str());
                    if owner.as_deref() != Some(host_id) {
                        moving.push(Arc::clone(mailbox));
                    }
                }
            }
        }
        if !moving.is_empty() {
            tracing::info!(actors = moving.len(), "draining actors placed elsewhere");
        }
        let waits = moving.into_iter().map(|mailbox| async move {
            let mut done = mailbox.done.clone();
            let _ = mailbox
                .tx
                .send(Envelope::Deactivate(DeactivateReason::Rebalance))
                .await;
            // Resolves with an error once the activation dropped its `done` sender.
            while done.changed().await.is_ok() {}
        });
        futures::future::join_all(waits).await;
    }

    pub(crate) fn now_ms(&self) -> u64 {
        u64::try_from(self.inner.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Every actor call enters here.
    pub(crate) async fn invoke_actor(
        &self,
        actor_type: &str,
        id: &str,
        request: Request,
    ) -> Result<Bytes, Error> {
        self.send_actor(actor_type, id, request)?.await
    }

    /// Sends an actor call and gives back the future of its reply: through the resiliency
    /// policy and metrics when the host has any for actors (see [`crate::invoke::policy`]),
    /// else straight to [`HostHandle::dispatch_actor`]. Callers run the reply inside their own
    /// future (calls stay lazy), which then holds only the small [`Reply`], not the request.
    pub(crate) fn send_actor<'a>(
        &'a self,
        actor_type: &'a str,
        id: &'a str,
        request: Request,
    ) -> Result<Reply<'a>, Error> {
        if self.inner.fabric.actors_policed() {
            return Ok(Reply::Waiting(Box::pin(
                self.invoke_actor_policed(actor_type, id, request),
            )));
        }
        self.dispatch_actor(actor_type, id, request)
    }

    /// Routes an actor call: through placement on a cluster host, else local.
    pub(crate) fn dispatch_actor<'a>(
        &'a self,
        actor_type: &'a str,
        id: &'a str,
        request: Request,
    ) -> Result<Reply<'a>, Error> {
        match &self.inner.cluster {
            // Boxed: a remote call's future is large.
            Some(cluster) => Ok(Reply::Waiting(Box::pin(async move {
                check_target(actor_type, id)?;
                crate::placement::route(self, cluster, actor_type, id, request).await
            }))),
            None => self.send_local(actor_type, id, request),
        }
    }

    /// Sends a call to an actor of this host: checks it, then puts it into the actor's mailbox
    /// on the fast path, or hands back the slow path as the reply's future.
    pub(crate) fn send_local<'a>(
        &'a self,
        actor_type: &'a str,
        id: &'a str,
        request: Request,
    ) -> Result<Reply<'a>, Error> {
        self.send_local_as(actor_type, id, request, None)
    }

    /// A turn of `origin` (a reminder) on an actor of this host, and its reply.
    pub(crate) async fn invoke_local_as(
        &self,
        actor_type: &str,
        id: &str,
        request: Request,
        origin: CallOrigin,
    ) -> Result<Bytes, Error> {
        self.send_local_as(actor_type, id, request, Some(Box::new(origin)))?
            .await
    }

    /// As `send_local`, for a turn of `origin` (`None`: a call).
    pub(crate) fn send_local_as<'a>(
        &'a self,
        actor_type: &'a str,
        id: &'a str,
        request: Request,
        origin: Option<Box<CallOrigin>>,
    ) -> Result<Reply<'a>, Error> {
        let Request {
            method,
            payload,
            codec,
            deadline,
            chain,
            hop_count: _,
        } = request;
        let inner = &self.inner;
        if inner.shutting_down.load(Ordering::Acquire) {
            return Err(shutting_down());
        }
        let Some(ty) = inner.types.get(actor_type) else {
            return Err(unknown_type(actor_type, inner.types.keys()));
        };
        check_actor_id(id)?;
        let reentrant = match &chain {
            None => false,
            Some(chain) => check_chain(ty, actor_type, id, chain)?,
        };
        let (reply_tx, reply_rx) = oneshot::channel();
        let envelope = CallEnvelope {
            method,
            payload,
            codec,
            deadline,
            chain,
            reply: reply_tx,
            origin,
        };
        // Fast path: the actor is active and its mailbox has room. Its activation answers by
        // the deadline (see `activation::Inbox::guard`), so this caller needs no timer, nor
        // even the deadline as an instant.
        let envelope = if reentrant {
            envelope
        } else {
            match try_send_active(ty, id, envelope)? {
                None => {
                    return Ok(Reply::Mailbox {
                        reply: reply_rx,
                        actor_type,
                        id,
                    })
                }
                Some(envelope) => envelope,
            }
        };
        Ok(Reply::Waiting(Box::pin(self.invoke_queued(
            ty, actor_type, id, envelope, reentrant, reply_rx,
        ))))
    }

    /// The slow paths of `send_local` (activation, full mailbox, deactivating actor,
    /// re-entrant call): bounded by the call's deadline with a timer of the caller's own.
    async fn invoke_queued(
        &self,
        ty: &Arc<TypeEntry>,
        actor_type: &str,
        id: &str,
        mut envelope: CallEnvelope,
        reentrant: bool,
        reply_rx: oneshot::Receiver<Result<Bytes, Error>>,
    ) -> Result<Bytes, Error> {
        let deadline = envelope.deadline.instant();
        envelope.deadline = Deadline::At(deadline);
        let what = DeadlineText {
            actor_type,
            id,
            method: envelope.method.clone(),
        };
        let call = async {
            self.enqueue(ty, id, envelope, reentrant).await?;
            reply_rx.await.map_err(|_| ended(actor_type, id))?
        };
        match tokio::time::timeout_at(deadline, call).await {
            Ok(result) => result,
            Err(_) => Err(Error::deadline(what)),
        }
    }

    /// Puts a call into the actor's mailbox, activating the actor first if needed.
    async fn enqueue(
        &self,
        ty: &Arc<TypeEntry>,
        id: &str,
        mut envelope: CallEnvelope,
        reentrant: bool,
    ) -> Result<(), Error> {
        loop {
            let step = match ty.table.get(id) {
                None => Step::Activate(envelope),
                Some(slot) => match slot.value() {
                    Slot::Deactivating(m) => Step::WaitForDeactivation(m.done.clone(), envelope),
                    Slot::Active(mailbox) if reentrant => {
                        match mailbox.reentrant_tx.send(envelope) {
                            Ok(()) => Step::Sent,
                            Err(e) => Step::Stale(Arc::clone(mailbox), e.0),
                        }
                    }
                    Slot::Active(mailbox) => match mailbox.tx.try_send(Envelope::Call(envelope)) {
                        Ok(()) => Step::Sent,
                        Err(TrySendError::Full(e)) => {
                            Step::WaitForRoom(Arc::clone(mailbox), into_call(e)?)
                        }
                        Err(TrySendError::Closed(e)) => {
                            Step::Stale(Arc::clone(mailbox), into_call(e)?)
                        }
                    },
                },
            };
            envelope = match step {
                Step::Sent => return Ok(()),
                Step::Activate(e) => {
                    self.activate(ty, id)?;
                    e
                }
                Step::WaitForDeactivation(mut done, e) => {
                    // Resolves with an error once the old activation drops its sender.
                    let _ = done.changed().await;
                    e
                }
                Step::WaitForRoom(mailbox, e) => match mailbox.tx.send(Envelope::Call(e)).await {
                    Ok(()) => return Ok(()),
                    Err(e) => into_call(e.0)?,
                },
                Step::Stale(mailbox, e) => {
                    // A mailbox that closed without its slot moving on: its task is gone.
                    ty.table.remove_if(id, |_, slot| slot.is_mailbox(&mailbox));
                    tokio::task::yield_now().await;
                    e
                }
            };
            if self.inner.shutting_down.load(Ordering::Acquire) {
                return Err(shutting_down());
            }
        }
    }

    /// Inserts and spawns a new activation of `id`, unless another caller just did.
    fn activate(&self, ty: &Arc<TypeEntry>, id: &str) -> Result<(), Error> {
        let inner = &self.inner;
        let (tx, rx) = mpsc::channel(inner.config.mailbox_capacity);
        let (reentrant_tx, reentrant_rx) = mpsc::unbounded_channel();
        let (done_tx, done_rx) = watch::channel(());
        let mailbox = Arc::new(Mailbox::new(tx, reentrant_tx, self.now_ms(), done_rx));
        let actor_id = ActorId::from(id);
        match ty.table.entry(actor_id.clone()) {
            Entry::Occupied(_) => return Ok(()),
            Entry::Vacant(v) => {
                v.insert(Slot::Active(Arc::clone(&mailbox)));
            }
        }
        // Checked after inserting: either shutdown sees this slot, or we see its flag.
        if inner.shutting_down.load(Ordering::SeqCst) {
            ty.table.remove_if(id, |_, slot| slot.is_mailbox(&mailbox));
            return Err(shutting_down());
        }
        let key = ActorKey::new(ty.name.clone(), actor_id);
        tracing::debug!(actor = %key, "activating");
        let activation = Arc::new(Activation::new(key, self.clone(), Arc::clone(ty), mailbox));
        let start = ActivationStart {
            activation,
            rx,
            reentrant_rx,
            done: done_tx,
        };
        inner.tracker.spawn_on((ty.spawner)(start), &inner.runtime);
        Ok(())
    }
}

struct DeadlineText<'a> {
    actor_type: &'a str,
    id: &'a str,
    method: Cow<'static, str>,
}

impl fmt::Display for DeadlineText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "call to {}/{}.{} got no reply before its deadline",
            self.actor_type, self.id, self.method
        )
    }
}

/// Sends to the actor's mailbox if it is active and has room; gives the call back otherwise.
fn try_send_active(
    ty: &TypeEntry,
    id: &str,
    envelope: CallEnvelope,
) -> Result<Option<CallEnvelope>, Error> {
    let Some(slot) = ty.table.get(id) else {
        return Ok(Some(envelope));
    };
    let Slot::Active(mailbox) = slot.value() else {
        return Ok(Some(envelope));
    };
    match mailbox.tx.try_send(Envelope::Call(envelope)) {
        Ok(()) => Ok(None),
        Err(e) => into_call(e.into_inner()).map(Some),
    }
}

fn ended(actor_type: &str, id: &str) -> Error {
    Error::new(
        ErrorKind::Internal,
        format!("the activation of {actor_type}/{id} ended without replying"),
    )
}

fn into_call(envelope: Envelope) -> Result<CallEnvelope, Error> {
    match envelope {
        Envelope::Call(call) => Ok(call),
        _ => Err(Error::new(
            ErrorKind::Internal,
            "a non-call envelope came back from a send",
        )),
    }
}

/// Decides whether a call made within `chain` may go to `actor_type`/`id`, and whether it re-enters.
fn check_chain(
    ty: &TypeEntry,
    actor_type: &str,
    id: &str,
    chain: &CallChain,
) -> Result<bool, Error> {
    let limits = ty.config.reentrancy;
    if chain.depth() >= limits.max_stack_depth {
        return Err(Error::new(
            ErrorKind::Reentrancy,
            format!(
                "call chain {} is deeper than the maximum of {} actors",
                chain.describe_with(actor_type, id),
                limits.max_stack_depth
            ),
        ));
    }
    if !chain.contains(actor_type, id) {
        return Ok(false);
    }
    if !limits.enabled {
        return Err(Error::new(
            ErrorKind::Reentrancy,
            format!(
                "call cycle {} would deadlock: {actor_type}/{id} is already waiting in this call \
                 chain and reentrancy is disabled for actor type `{actor_type}`",
                chain.describe_with(actor_type, id)
            ),
        ));
    }
    Ok(true)
}

fn unknown_type<'a>(actor_type: &str, known: impl Iterator<Item = &'a ActorType>) -> Error {
    let mut known: Vec<&str> = known.map(ActorType::as_str).collect();
    known.sort_unstable();
    Error::new(
        ErrorKind::NotFound,
        format!(
            "unknown actor type `{actor_type}`; this host serves: {}",
            if known.is_empty() {
                "no actor types".to_owned()
            } else {
                known.join(", ")
            }
        ),
    )
}

fn shutting_down() -> Error {
    Error::new(
        ErrorKind::ShuttingDown,
        "the host is shutting down and takes no new calls",
    )
}

/// Deactivates this type's idle actors every `scan_interval`.
async fn scan_idle(host: HostHandle, ty: Arc<TypeEntry>) {
    let mut interval = tokio::time::interval(ty.config.scan_interval);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let idle_ms = u64::try_from(ty.config.idle_timeout.as_millis()).unwrap_or(u64::MAX);
    loop {
        interval.tick().await;
        let now = host.now_ms();
        for slot in ty.table.iter() {
            if let Slot::Active(mailbox) = slot.value() {
                if let Some(uses) = mailbox.idle_check(now, idle_ms) {
                    // A full mailbox means the actor is busy, not idle.
                    let _ = mailbox
                        .tx
                        .try_send(Envelope::Deactivate(DeactivateReason::Idle(uses)));
                }
            }
        }
    }
}
