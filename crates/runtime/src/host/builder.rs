//! [`HostBuilder`](crate::HostBuilder): the settings of a host. `start` (in `start.rs`) composes its parts.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::Host;
use crate::actor::{ActorRegistration, TypedActor};
use crate::config::{HostConfig, Reentrancy};
use crate::error::Error;
use crate::placement::ClusterConfig;
use crate::reminder::ReminderConfig;
use crate::resiliency::Resiliency;
use crate::resolve::NameResolver;
use crate::security::AccessControl;
#[cfg(feature = "tls")]
use crate::security::WorkloadIdentity;
use crate::service::server::Methods;
use crate::service::{ServiceRequest, ServiceResponse};
use crate::state::StateStore;

/// Builds a [`Host`](crate::Host). Every setting has a default; a state store is required.
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
    pub(super) config: HostConfig,
    pub(super) store: Option<Arc<dyn StateStore>>,
    pub(super) registrations: Vec<ActorRegistration>,
    pub(super) cluster: Option<ClusterConfig>,
    pub(super) fabric: FabricSettings,
    pub(super) reminders: ReminderConfig,
}

/// The service-invocation settings of a builder.
#[derive(Debug, Default)]
pub(super) struct FabricSettings {
    pub(super) methods: Methods,
    pub(super) duplicate_method: Option<String>,
    pub(super) listen: Option<SocketAddr>,
    pub(super) namespace: Option<String>,
    pub(super) resolver: Option<Arc<dyn NameResolver>>,
    pub(super) resiliency: Option<Resiliency>,
    #[cfg(feature = "metrics")]
    pub(super) metrics_addr: Option<SocketAddr>,
    #[cfg(feature = "metrics")]
    pub(super) http_limits: weft_http::Limits,
    pub(super) ejection: Option<Duration>,
    #[cfg(feature = "tls")]
    pub(super) security: Option<WorkloadIdentity>,
    pub(super) access_control: Option<AccessControl>,
}

impl Host {
    /// A new builder.
    pub fn builder() -> HostBuilder {
        HostBuilder::default()
    }
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

    /// How long [`Host::shutdown`](crate::Host::shutdown) waits for activations to finish. Default: 30 s.
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
    /// [`ServiceRequest`](crate::ServiceRequest) and answering something that converts into a [`ServiceResponse`](crate::ServiceResponse)).
    /// Other apps call it by this host's app id; the host listens at [`HostBuilder::listen`](crate::HostBuilder::listen)
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
            .insert(name.clone(), crate::service::server::handler(handler))
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
            .set_fallback(crate::service::server::handler(handler));
        self
    }

    /// Listens for calls from other hosts at `addr` (port 0 picks a free port; see
    /// [`HostHandle::address`](crate::HostHandle::address)). Not needed in a cluster, which
    /// listens at its own address. Defaults to not listening.
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

    /// Serves Prometheus metrics at `http://{addr}/metrics` (see
    /// [`HostHandle::metrics_addr`](crate::HostHandle::metrics_addr)).
    /// Defaults to no metrics (and no cost for them on the call path). Feature `metrics`.
    #[cfg(feature = "metrics")]
    pub fn metrics(mut self, addr: SocketAddr) -> Self {
        self.fabric.metrics_addr = Some(addr);
        self
    }

    /// The connection limits of this host's HTTP endpoints (metrics): header-read and idle
    /// timeouts and a connection cap. Defaults to [`weft_http::Limits::default`]. Feature
    /// `metrics`.
    #[cfg(feature = "metrics")]
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
    /// at start. Feature `tls`.
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
    #[cfg(feature = "tls")]
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
}
