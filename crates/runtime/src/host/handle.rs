//! [`HostHandle`](crate::HostHandle): what code outside the call path holds of a running host. It composes
//! nothing and routes nothing: actor calls go through the host's [`Dispatch`] (the router),
//! local activations are seen through [`LocalActors`] (the activation table). Both are trait
//! objects, so that everything below the host (actors, contexts, reminders, the invoke and
//! service servers) depends on this file and on those traits, never on their implementations.

use std::borrow::Cow;
use std::fmt;
#[cfg(feature = "metrics")]
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;

use crate::actor::deadline::Deadline;
use crate::actor::mailbox::LocalActors;
use crate::codec::Codec;
use crate::config::HostConfig;
use crate::error::{Error, ErrorKind};
use crate::invoke::request::{Dispatch, Request};
use crate::placement::table::Lookup;
use crate::placement::Cluster;
use crate::reminder::scheduler::Scheduler;
use crate::security::AccessControl;
#[cfg(feature = "tls")]
use crate::security::WorkloadIdentity;
use crate::service::call::{ServiceCall, ServiceResponse};
use crate::service::client::Fabric;
use crate::state::StateStore;
use crate::telemetry::Metrics;

/// A cheap, cloneable handle to a running host, for calling actors.
#[derive(Clone)]
pub struct HostHandle {
    pub(crate) inner: Arc<HostInner>,
}

/// The parts of a running host that handles share. Built by `HostBuilder::start`.
pub(crate) struct HostInner {
    pub(crate) config: HostConfig,
    /// `None` once the host has shut down.
    pub(crate) store: RwLock<Option<Arc<dyn StateStore>>>,
    pub(crate) cluster: Option<Arc<Cluster>>,
    /// Outgoing service calls: resolver, balancer, resiliency, metrics.
    pub(crate) fabric: Arc<Fabric>,
    /// Where other hosts reach this one, when it listens.
    pub(crate) address: Option<String>,
    #[cfg(feature = "metrics")]
    pub(crate) metrics_addr: Option<SocketAddr>,
    pub(crate) reminders: Scheduler,
    /// The workload identity: mutual TLS on every host-to-host connection.
    #[cfg(feature = "tls")]
    pub(crate) security: Option<WorkloadIdentity>,
    /// Who may call which service method.
    pub(crate) access_control: Option<Arc<AccessControl>>,
    /// The registered actor types, sorted.
    pub(crate) actor_types: Vec<String>,
    /// The call path: local or remote, under the host's actor policies.
    pub(crate) dispatch: Arc<dyn Dispatch>,
    /// This host's activations.
    pub(crate) local: Arc<dyn LocalActors>,
}

impl fmt::Debug for HostHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostHandle")
            .field("app_id", &self.inner.config.app_id)
            .field("types", &self.inner.actor_types)
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

/// Per-call options of [`HostHandle::call_with`](crate::HostHandle::call_with).
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
        self.inner.dispatch.send(actor_type, id, request)?.await
    }

    /// As [`HostHandle::call`](crate::HostHandle::call), with this call's own timeout.
    ///
    /// # Errors
    /// As [`HostHandle::call`](crate::HostHandle::call).
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

    /// As [`HostHandle::call`](crate::HostHandle::call), with per-call options (timeout, codec of the payload).
    ///
    /// # Errors
    /// As [`HostHandle::call`](crate::HostHandle::call).
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
        self.inner.dispatch.send(actor_type, id, request)?.await
    }

    /// The number of active actors of `actor_type` on this host.
    pub fn active_count(&self, actor_type: &str) -> usize {
        self.inner.local.active_count(actor_type)
    }

    /// The host's settings.
    pub fn config(&self) -> &HostConfig {
        &self.inner.config
    }

    /// The host's state store.
    ///
    /// # Errors
    /// [`ErrorKind::ShuttingDown`] after [`Host::shutdown`](crate::Host::shutdown), which
    /// releases the store.
    pub fn store(&self) -> Result<Arc<dyn StateStore>, Error> {
        self.inner.store()
    }

    /// On a cluster host whose placement lease has lapsed: its cluster side (for the refusal's
    /// wording). `None` on a single host, or while the lease holds.
    pub(crate) fn lapsed_lease(&self) -> Option<&Cluster> {
        self.inner.cluster.as_deref().filter(|c| !c.lease.is_held())
    }

    pub(crate) fn cluster(&self) -> Option<&Cluster> {
        self.inner.cluster.as_deref()
    }

    pub(crate) fn reminders(&self) -> &Scheduler {
        &self.inner.reminders
    }

    /// The actor types registered on this host.
    pub fn actor_types(&self) -> Vec<String> {
        self.inner.actor_types.clone()
    }

    pub(crate) fn serves(&self, actor_type: &str) -> bool {
        self.inner.actor_types.iter().any(|t| t == actor_type)
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
    /// [`HostBuilder::listen`](crate::HostBuilder::listen)).
    pub fn address(&self) -> Option<&str> {
        self.inner.address.as_deref()
    }

    /// Where this host serves `/metrics`, if it does
    /// ([`HostBuilder::metrics`](crate::HostBuilder::metrics)). Feature `metrics`.
    #[cfg(feature = "metrics")]
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.inner.metrics_addr
    }

    /// This host's metrics, if it keeps them
    /// ([`HostBuilder::metrics`](crate::HostBuilder::metrics)). Feature `metrics`.
    #[cfg(feature = "metrics")]
    pub fn metrics(&self) -> Option<&Arc<Metrics>> {
        self.inner.fabric.metrics.as_ref()
    }

    /// Without the `metrics` feature: always `None`, for the recording sites.
    #[cfg(not(feature = "metrics"))]
    pub(crate) fn metrics(&self) -> Option<&Arc<Metrics>> {
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
    /// - [`ErrorKind::DeadlineExceeded`], [`ErrorKind::Unavailable`] (no reachable instance),
    ///   [`ErrorKind::CircuitOpen`], [`ErrorKind::Interrupted`] (the connection broke mid-call: it may have
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
    /// As [`HostHandle::invoke`](crate::HostHandle::invoke); [`ErrorKind::InvalidArgument`] when the reply is not JSON of
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

    /// Sends a full [`ServiceCall`](crate::ServiceCall) and returns the full response, whatever its status.
    ///
    /// # Errors
    /// As [`HostHandle::invoke`](crate::HostHandle::invoke), except that a non-2xx status is an `Ok` response.
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
    /// within the ejection period; see [`HostBuilder::ejection`](crate::HostBuilder::ejection)).
    pub fn is_ejected(&self, address: &str) -> bool {
        self.inner.fabric.balancer.is_ejected(address)
    }

    pub(crate) fn fabric(&self) -> &Arc<Fabric> {
        &self.inner.fabric
    }

    /// The workload identity this host serves and calls with, when security is on. Feature
    /// `tls`.
    #[cfg(feature = "tls")]
    pub fn identity(&self) -> Option<&WorkloadIdentity> {
        self.inner.security.as_ref()
    }

    /// Whether host-to-host connections are mutual TLS.
    #[cfg(feature = "tls")]
    pub(crate) fn is_secure(&self) -> bool {
        self.inner.security.is_some()
    }

    /// Without the `tls` feature host-to-host connections are plain text.
    #[cfg(not(feature = "tls"))]
    pub(crate) fn is_secure(&self) -> bool {
        false
    }

    pub(crate) fn access_control(&self) -> Option<&AccessControl> {
        self.inner.access_control.as_deref()
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        self.inner.local.is_shutting_down()
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
                    && !types
                        .iter()
                        .any(|t| matches!(cluster.tables.lookup(t, "_"), Lookup::Locked(_)))
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

    /// Every actor call that arrives as a request (from another host, or a reminder) enters
    /// here.
    pub(crate) async fn invoke_actor(
        &self,
        actor_type: &str,
        id: &str,
        request: Request,
    ) -> Result<Bytes, Error> {
        self.inner.dispatch.send(actor_type, id, request)?.await
    }

    /// The host's call path, for callers that build their own [`Request`].
    pub(crate) fn dispatch(&self) -> &dyn Dispatch {
        &*self.inner.dispatch
    }

    /// This host's activations.
    pub(crate) fn local(&self) -> &dyn LocalActors {
        &*self.inner.local
    }
}

/// The error of a call made while the host shuts down.
pub(crate) fn shutting_down() -> Error {
    Error::new(
        ErrorKind::ShuttingDown,
        "the host is shutting down and takes no new calls",
    )
}
