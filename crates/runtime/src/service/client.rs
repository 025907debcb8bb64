//! The caller's side of a service call: resolve the app, pick an instance, apply the resiliency
//! policy, send, measure.
//!
//! The stack for one call, outermost first (tower layers):
//!
//! ```text
//! Retry (policy; default: never-reached errors only)  -> a retry picks again
//!   Pick (resolver + round-robin, skips ejected and open-circuit instances)
//!     Breaker (policy, per instance)
//!       Timeout (policy timeout per attempt, and the call's deadline)
//!         Transport (gRPC `Invoke/Service` to the instance)
//! ```
//!
//! # Why a default retry policy
//!
//! Without a resiliency spec a call to an app with a dead instance would fail whenever
//! round-robin lands on it, although another instance could have served it. So calls whose
//! target names no retry policy get [`default_retry`]: up to 3 retries of errors that prove the
//! request never reached the app (connection refused, instance shutting down, circuit open),
//! which can never run a method twice. A spec's `DefaultRetryPolicy` or a target's own policy
//! replaces it.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use bytestring::ByteString;
use dashmap::DashMap;
use futures::future::BoxFuture;
use tokio::time::Instant;
use tower::util::ServiceExt;
use tower::{Service, ServiceBuilder};

use super::{check_method, Balancer, ServiceCall, ServiceResponse};
use crate::error::{Error, ErrorKind};
use crate::invoke::client::{Peers, RemoteError};
use crate::invoke::codec::HoldsRequest;
use crate::invoke::proto;
use crate::resiliency::{
    BreakerLayer, BreakerRegistry, BreakerState, HasDeadline, Resiliency, RetryLayer, RetryPolicy,
    Target, TimeoutLayer,
};
use crate::resolve::{split_app_id, Instance, NameResolver};
use crate::telemetry::propagation::{TraceContext, TRACEPARENT};
use crate::telemetry::{CircuitState, Metrics, Outcome, RequestKind};

/// How long an instance that refused a connection stays out of rotation. Default of
/// [`HostBuilder::ejection`](crate::HostBuilder::ejection).
pub const DEFAULT_EJECTION: Duration = Duration::from_secs(5);

/// The retry policy of targets that name none: see the module docs.
pub(crate) fn default_retry() -> Arc<RetryPolicy> {
    Arc::new(
        RetryPolicy::exponential(Duration::from_millis(10), Duration::from_millis(200))
            .max_retries(3),
    )
}

/// Everything a host needs to make service calls.
#[derive(Debug)]
pub(crate) struct Fabric {
    pub(crate) app_id: String,
    pub(crate) namespace: String,
    pub(crate) resolver: Option<Arc<dyn NameResolver>>,
    pub(crate) resiliency: Arc<Resiliency>,
    pub(crate) default_retry: Arc<RetryPolicy>,
    /// One registry per breaker policy name; keys are `app/address`.
    pub(crate) breakers: DashMap<String, BreakerRegistry, foldhash::fast::RandomState>,
    /// What calls to each target share, by the target as callers write it (at most
    /// [`MAX_ROUTES`]; calls to further targets work it out per call).
    pub(crate) routes: DashMap<String, Arc<Route>, foldhash::fast::RandomState>,
    /// This host's app id, as every request states it.
    pub(crate) caller: Bytes,
    pub(crate) balancer: Balancer,
    pub(crate) peers: Arc<Peers>,
    pub(crate) metrics: Option<Arc<Metrics>>,
    /// The spec has policies that apply to actor calls (targets or defaults).
    pub(crate) actor_policies: bool,
}

/// How many targets' [`Route`]s a host keeps. Targets come from callers (a sidecar takes them
/// from URLs), so the cache is bounded; past the bound, calls still work, a little slower.
const MAX_ROUTES: usize = 1024;

/// What every call to one target shares: the parsed app id and namespace, the names errors use,
/// and the policies.
#[derive(Debug)]
pub(crate) struct Route {
    app: ByteString,
    namespace: ByteString,
    /// `app` or `app.namespace`, for messages, metric labels, breaker keys and round-robin.
    target: Arc<str>,
    /// `app <target>`, what timeout errors name.
    label: Arc<str>,
    /// The policies, the same for every method; `None` when the target has per-method
    /// policies, which are then resolved per call.
    policies: Option<Policies>,
}

/// The resiliency policies of one call.
#[derive(Debug, Clone)]
struct Policies {
    timeout: Option<Duration>,
    retry: Arc<RetryPolicy>,
    breakers: Option<BreakerRegistry>,
}

/// The parts of a call every attempt shares.
#[derive(Debug)]
struct Outgoing {
    route: Arc<Route>,
    wire: proto::ServiceRequest,
    attempts: AtomicU32,
}

impl HoldsRequest for Outgoing {
    fn request(&self) -> &proto::ServiceRequest {
        &self.wire
    }
}

/// One attempt: the shared call, its deadline, and the instance [`Pick`] chose.
#[derive(Debug, Clone)]
struct Attempt {
    call: Arc<Outgoing>,
    deadline: Instant,
    instance: Option<Picked>,
}

/// An instance chosen from a resolver's answer, without copying it.
#[derive(Debug, Clone)]
struct Picked {
    instances: Arc<[Instance]>,
    index: usize,
}

impl Picked {
    fn address(&self) -> &str {
        self.instances
            .get(self.index)
            .map_or("", |i| i.address.as_str())
    }
}

impl HasDeadline for Attempt {
    fn deadline(&self) -> Instant {
        self.deadline
    }

    fn narrow_deadline(&mut self, deadline: Instant) {
        self.deadline = deadline;
    }
}

impl Attempt {
    fn address(&self) -> &str {
        self.instance.as_ref().map_or("", Picked::address)
    }
}

/// The breaker key of an instance of an app.
fn breaker_key(app: &str, address: &str) -> String {
    format!("{app}/{address}")
}

fn attempt_breaker_key(attempt: &Attempt) -> String {
    breaker_key(&attempt.call.route.target, attempt.address())
}

impl Fabric {
    /// Whether actor calls take the policed path: the spec has policies for actors, or metrics
    /// are on. Otherwise they take the direct path, which costs nothing extra.
    pub(crate) fn actors_policed(&self) -> bool {
        self.actor_policies || self.metrics.is_some()
    }

    fn resolver(&self) -> Result<&Arc<dyn NameResolver>, Error> {
        self.resolver.as_ref().ok_or_else(|| {
            Error::new(
                ErrorKind::Unavailable,
                "this host has no name resolver to find other apps with (configure one with \
                 HostBuilder::resolver, or join a cluster)",
            )
        })
    }

    /// The instances of `target` (`app` or `app.namespace`).
    pub(crate) async fn resolve(&self, target: &str) -> Result<Arc<[Instance]>, Error> {
        let (app, namespace) = split_app_id(target, &self.namespace)?;
        self.resolver()?.resolve(app, namespace).await
    }

    /// The route of calls to `target`: cached, or worked out (and cached while there is room).
    fn route(&self, target: &str) -> Result<Arc<Route>, Error> {
        if let Some(route) = self.routes.get(target) {
            return Ok(Arc::clone(&route));
        }
        let (app, namespace) = split_app_id(target, &self.namespace)?;
        let per_method = self.resiliency.has_method_policies(Target::App(app));
        let route = Arc::new(Route {
            app: ByteString::from(app),
            namespace: ByteString::from(namespace),
            target: Arc::from(target),
            label: Arc::from(format!("app {target}")),
            policies: (!per_method).then(|| self.policies(app, "")),
        });
        if self.routes.len() < MAX_ROUTES {
            self.routes.insert(target.to_owned(), Arc::clone(&route));
        }
        Ok(route)
    }

    /// The policies for calls of `method` on `app`.
    fn policies(&self, app: &str, method: &str) -> Policies {
        let policy = self.resiliency.resolve(Target::App(app), method);
        Policies {
            timeout: policy.timeout,
            retry: policy
                .retry
                .unwrap_or_else(|| Arc::clone(&self.default_retry)),
            breakers: policy.breaker.map(|(name, p)| {
                self.breakers
                    .entry(name)
                    .or_insert_with(|| BreakerRegistry::new(p))
                    .clone()
            }),
        }
    }

    /// Sends `call`; see the module docs for the path it takes.
    pub(crate) async fn send(
        self: &Arc<Self>,
        call: ServiceCall,
        default_timeout: Duration,
    ) -> Result<ServiceResponse, Error> {
        let started = Instant::now();
        let Some(metrics) = &self.metrics else {
            return self.send_inner(call, started, default_timeout).await;
        };
        let (target, method) = (call.app_id.clone(), call.method.clone());
        let result = self.send_inner(call, started, default_timeout).await;
        metrics.record_request(
            RequestKind::Service,
            &target,
            &method,
            outcome(&result),
            started.elapsed(),
        );
        result
    }

    async fn send_inner(
        self: &Arc<Self>,
        call: ServiceCall,
        started: Instant,
        default_timeout: Duration,
    ) -> Result<ServiceResponse, Error> {
        let route = self.route(&call.app_id)?;
        check_method(&call.method)?;
        let deadline = started + call.timeout.unwrap_or(default_timeout);
        let policies = match &route.policies {
            Some(policies) => policies.clone(),
            None => self.policies(&route.app, &call.method),
        };
        let ServiceCall {
            app_id: _,
            method,
            verb,
            query,
            mut headers,
            body,
            timeout: _,
        } = call;
        // Continue the caller's trace, or start one: the callee sees a child of it.
        let parent = headers
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(TRACEPARENT))
            .map(|i| headers.swap_remove(i).1)
            .and_then(|h| TraceContext::parse(&h).ok());
        let trace = parent.map_or_else(TraceContext::new_root, |p| p.child());
        let span = tracing::info_span!("invoke.remote", app.id = %route.target, method = %method,
            trace_id = %trace.trace_id_hex(), outcome = tracing::field::Empty);
        let outgoing = Arc::new(Outgoing {
            wire: proto::ServiceRequest {
                app_id: route.app.as_bytes().clone(),
                namespace: route.namespace.as_bytes().clone(),
                method: method.into(),
                verb: verb.into(),
                query: query.into(),
                headers: headers
                    .into_iter()
                    .map(|(name, value)| proto::Header {
                        name: name.into(),
                        value: value.into(),
                    })
                    .collect(),
                body,
                caller_app_id: self.caller.clone(),
                traceparent: trace.to_header().into(),
                // Appended per attempt, from the time left then (`invoke::codec`).
                timeout_micros: 0,
            },
            route,
            attempts: AtomicU32::new(0),
        });
        let label = Arc::clone(&outgoing.route.label);
        let attempt = Attempt {
            call: outgoing,
            deadline,
            instance: None,
        };
        let Policies {
            timeout,
            retry,
            breakers,
        } = policies;
        let stack = ServiceBuilder::new()
            .layer(RetryLayer::new(retry))
            .layer_fn(|inner| Pick {
                inner,
                fabric: Arc::clone(self),
                registry: breakers.clone(),
            })
            .option_layer(
                breakers
                    .clone()
                    .map(|r| BreakerLayer::new(r, attempt_breaker_key)),
            )
            .layer(TimeoutLayer::new(label, timeout))
            .service(Transport {
                peers: Arc::clone(&self.peers),
            });
        let result = tracing::Instrument::instrument(stack.oneshot(attempt), span.clone()).await;
        span.record("outcome", outcome(&result).as_str());
        result
    }
}

/// What the metrics call a call's result.
fn outcome(result: &Result<ServiceResponse, Error>) -> Outcome {
    match result {
        Ok(r) if r.is_success() => Outcome::Ok,
        Ok(_) => Outcome::AppError,
        Err(e) => match e.kind() {
            ErrorKind::DeadlineExceeded => Outcome::DeadlineExceeded,
            ErrorKind::CircuitOpen => Outcome::CircuitOpen,
            ErrorKind::Unavailable | ErrorKind::ShuttingDown | ErrorKind::Interrupted => {
                Outcome::Unavailable
            }
            ErrorKind::PermissionDenied => Outcome::PermissionDenied,
            ErrorKind::NotFound if e.message().starts_with("no instances") => Outcome::NoInstance,
            ErrorKind::NotFound | ErrorKind::InvalidArgument => Outcome::InvalidRequest,
            ErrorKind::AppError | ErrorKind::ActorFailed => Outcome::AppError,
            _ => Outcome::Error,
        },
    }
}

/// Chooses the instance of each attempt, and ejects instances that could not be reached.
#[derive(Clone)]
struct Pick<S> {
    inner: S,
    fabric: Arc<Fabric>,
    registry: Option<BreakerRegistry>,
}

impl<S> Service<Attempt> for Pick<S>
where
    S: Service<Attempt, Response = ServiceResponse, Error = Error> + Clone + Send + 'static,
    S::Future: Send,
{
    type Response = ServiceResponse;
    type Error = Error;
    type Future = BoxFuture<'static, Result<ServiceResponse, Error>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut attempt: Attempt) -> Self::Future {
        let inner = self.inner.clone();
        let fabric = Arc::clone(&self.fabric);
        let registry = self.registry.clone();
        Box::pin(async move {
            let call = Arc::clone(&attempt.call);
            let route = &call.route;
            if call.attempts.fetch_add(1, Ordering::Relaxed) > 0 {
                if let Some(metrics) = &fabric.metrics {
                    metrics.record_retry(&route.target);
                }
            }
            let resolver = fabric.resolver()?;
            let instances = match resolver.resolve_now(&route.app, &route.namespace) {
                Some(answer) => answer?,
                None => resolver.resolve(&route.app, &route.namespace).await?,
            };
            let is_open = |i: &Instance| {
                registry.as_ref().is_some_and(|r| {
                    r.state(&breaker_key(&route.target, &i.address)) == BreakerState::Open
                })
            };
            let index = fabric
                .balancer
                .pick(&route.target, &instances, is_open)
                .ok_or_else(|| crate::resolve::no_instances(&route.app, &route.namespace))?;
            let picked = Picked { instances, index };
            attempt.instance = Some(picked.clone());
            let result = inner.oneshot(attempt).await;
            let address = picked.address();
            match &result {
                Ok(_) => fabric.balancer.restore(address),
                Err(e) if is_unreachable(e) => fabric.balancer.eject(address),
                Err(_) => {}
            }
            if let (Some(metrics), Some(registry)) = (&fabric.metrics, &registry) {
                let key = breaker_key(&route.target, address);
                let state = match registry.state(&key) {
                    BreakerState::Closed => CircuitState::Closed,
                    BreakerState::HalfOpen => CircuitState::HalfOpen,
                    BreakerState::Open => CircuitState::Open,
                };
                metrics.set_circuit_state(&key, state.into());
            }
            result
        })
    }
}

/// The instance could not serve at all: refused, broken connection, shutting down. (Not an
/// open circuit: the call never left, so it says nothing new about the instance.)
fn is_unreachable(e: &Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::Unavailable | ErrorKind::Interrupted | ErrorKind::ShuttingDown
    )
}

/// Sends one attempt to its instance over gRPC.
#[derive(Debug, Clone)]
struct Transport {
    peers: Arc<Peers>,
}

impl Service<Attempt> for Transport {
    type Response = ServiceResponse;
    type Error = Error;
    type Future = BoxFuture<'static, Result<ServiceResponse, Error>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, attempt: Attempt) -> Self::Future {
        let peers = Arc::clone(&self.peers);
        Box::pin(async move {
            let call = Arc::clone(&attempt.call);
            match peers
                .service(attempt.address(), call, attempt.deadline)
                .await
            {
                Ok(response) => Ok(response),
                Err(RemoteError::Callee(e)) => Err(from_callee(e)),
                Err(RemoteError::Transport { error, .. }) => Err(error),
            }
        })
    }
}

/// A callee's error as this caller reports it. An instance shutting down never ran the handler
/// (never sent, like any [`ErrorKind::ShuttingDown`]); to this caller that is an unavailable
/// instance, which a retry may replace with another. As `ShuttingDown` it would not be retried:
/// retry policies read that kind as this host's own shutdown (see
/// [`Matching::is_retriable`](crate::resiliency::Matching::is_retriable)).
fn from_callee(e: Error) -> Error {
    if e.kind() == ErrorKind::ShuttingDown {
        Error::new(ErrorKind::Unavailable, e.message().to_owned())
    } else {
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{RetryClass, ALL_KINDS};
    use crate::resiliency::retry::should_retry;

    #[test]
    fn the_default_service_retry_retries_by_retry_class() {
        let policy = default_retry();
        for kind in ALL_KINDS {
            let retried = should_retry(&policy, &Error::new(kind, "m"), 1).is_some();
            let expected = match kind.retry_class() {
                // This host's own shutdown: see `from_callee` for a callee's.
                _ if kind == ErrorKind::ShuttingDown => false,
                RetryClass::NeverSent => true,
                RetryClass::IdempotentOnly | RetryClass::Never => false,
            };
            assert_eq!(retried, expected, "{kind}");
        }
    }

    #[test]
    fn a_callee_shutting_down_is_reported_as_a_retriable_unavailable_instance() {
        let e = from_callee(Error::new(ErrorKind::ShuttingDown, "host is shutting down"));
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert_eq!(e.message(), "host is shutting down");
        assert!(should_retry(&default_retry(), &e, 1).is_some());
        for kind in ALL_KINDS
            .into_iter()
            .filter(|k| *k != ErrorKind::ShuttingDown)
        {
            assert_eq!(from_callee(Error::new(kind, "m")).kind(), kind);
        }
    }

    #[test]
    fn an_open_circuit_is_told_by_its_kind_and_does_not_eject_the_instance() {
        let open = Error::new(ErrorKind::CircuitOpen, "circuit open for backend/1");
        assert_eq!(outcome(&Err(open)), Outcome::CircuitOpen);
        assert!(!is_unreachable(&Error::new(ErrorKind::CircuitOpen, "m")));
        // The message no longer decides: an unavailable instance that says "circuit open"
        // is still an unavailable instance.
        let look_alike = Error::new(ErrorKind::Unavailable, "circuit open, says the app");
        assert_eq!(outcome(&Err(look_alike)), Outcome::Unavailable);
        assert!(is_unreachable(&Error::new(
            ErrorKind::Unavailable,
            "circuit open"
        )));
    }
}
