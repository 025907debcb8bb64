//! The breaker layer and service.

use std::fmt;
use std::task::{Context, Poll};

use tower::{Layer, Service};

use super::future::BreakerFuture;
use super::registry::BreakerRegistry;
use crate::error::Error;

/// Wraps a service in [`Breaker`]: calls go through the circuit of the instance that `key`
/// names for each request.
///
/// # Examples
/// ```
/// use std::sync::Arc;
/// use weft_runtime::layers::{BreakerLayer, BreakerRegistry};
/// use weft_runtime::resiliency::BreakerPolicy;
///
/// struct Request { instance: String }
///
/// let breakers = BreakerRegistry::new(Arc::new(BreakerPolicy::trip_after(5)));
/// let layer = BreakerLayer::new(breakers.clone(), |r: &Request| r.instance.clone());
/// # let _ = layer;
/// ```
#[derive(Clone)]
pub struct BreakerLayer<K> {
    registry: BreakerRegistry,
    key: K,
}

impl<K> BreakerLayer<K> {
    /// A layer using `registry`'s circuits, keyed by `key(&request)`.
    pub fn new(registry: BreakerRegistry, key: K) -> Self {
        Self { registry, key }
    }
}

impl<K> fmt::Debug for BreakerLayer<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BreakerLayer")
            .field("registry", &self.registry)
            .finish_non_exhaustive()
    }
}

impl<S, K: Clone> Layer<S> for BreakerLayer<K> {
    type Service = Breaker<S, K>;

    fn layer(&self, inner: S) -> Breaker<S, K> {
        Breaker {
            inner,
            registry: self.registry.clone(),
            key: self.key.clone(),
        }
    }
}

/// Fails calls fast while their instance's circuit is open, and reports each call's outcome to
/// its circuit.
///
/// A refused call never reaches the inner service and fails with
/// [`ErrorKind::CircuitOpen`](crate::ErrorKind::CircuitOpen): "circuit open for backend/1 (5
/// consecutive failures); retry after 20s". The call never left, so it is safe to retry, and a
/// retry may pick another instance.
#[derive(Clone)]
pub struct Breaker<S, K> {
    inner: S,
    registry: BreakerRegistry,
    key: K,
}

impl<S, K> Breaker<S, K> {
    /// Wraps `inner` with `registry`'s circuits, keyed by `key(&request)`.
    pub fn new(inner: S, registry: BreakerRegistry, key: K) -> Self {
        Self {
            inner,
            registry,
            key,
        }
    }

    /// The registry holding the circuits.
    pub fn registry(&self) -> &BreakerRegistry {
        &self.registry
    }
}

impl<S: fmt::Debug, K> fmt::Debug for Breaker<S, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Breaker")
            .field("inner", &self.inner)
            .field("registry", &self.registry)
            .finish_non_exhaustive()
    }
}

impl<S, K, Req> Service<Req> for Breaker<S, K>
where
    S: Service<Req, Error = Error>,
    K: Fn(&Req) -> String,
{
    type Response = S::Response;
    type Error = Error;
    type Future = BreakerFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        match self.registry.try_acquire((self.key)(&request)) {
            Ok(permit) => BreakerFuture::running(self.inner.call(request), permit),
            Err(refused) => BreakerFuture::refused(refused),
        }
    }
}
