//! The retry layer and service.

use std::sync::Arc;
use std::task::{Context, Poll};

use tower::{Layer, Service};

use super::future::RetryFuture;
use crate::error::Error;
use crate::resiliency::deadline::HasDeadline;
use crate::resiliency::policy::RetryPolicy;

/// Wraps a service in [`Retry`] with one retry policy.
///
/// # Examples
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use tower::Layer;
/// use weft_runtime::layers::RetryLayer;
/// use weft_runtime::resiliency::RetryPolicy;
///
/// let layer = RetryLayer::new(Arc::new(RetryPolicy::constant(Duration::from_millis(50))));
/// # let _ = layer;
/// ```
#[derive(Debug, Clone)]
pub struct RetryLayer {
    policy: Arc<RetryPolicy>,
}

impl RetryLayer {
    /// A layer retrying per `policy`.
    pub fn new(policy: Arc<RetryPolicy>) -> Self {
        Self { policy }
    }
}

impl<S> Layer<S> for RetryLayer {
    type Service = Retry<S>;

    fn layer(&self, inner: S) -> Retry<S> {
        Retry::new(inner, Arc::clone(&self.policy))
    }
}

/// Retries failed calls of the inner service per a [`RetryPolicy`].
///
/// Each retry waits its backoff (with `tokio::time`), calls a clone of the inner service once it
/// is ready, and sends a clone of the request. Retries stop at the first success, at an error
/// the policy does not retry (returned unchanged), when `max_retries` are used, or when the
/// next retry would start at or past the request's [`HasDeadline::deadline`]; in the last two
/// cases the last error is returned with its kind, its message extended by the attempt count
/// ("...; gave up after 3 attempts (retries exhausted)") and the original as its source. The
/// attempt number is recorded in the `attempt` field of the current tracing span, if it has
/// one.
#[derive(Debug, Clone)]
pub struct Retry<S> {
    inner: S,
    policy: Arc<RetryPolicy>,
}

impl<S> Retry<S> {
    /// Wraps `inner`, retrying per `policy`.
    pub fn new(inner: S, policy: Arc<RetryPolicy>) -> Self {
        Self { inner, policy }
    }

    /// The retry policy.
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S, Req> Service<Req> for Retry<S>
where
    S: Service<Req, Error = Error> + Clone,
    Req: Clone + HasDeadline,
{
    type Response = S::Response;
    type Error = Error;
    type Future = RetryFuture<S, Req>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        // The readied service takes this call; its clone is what later retries ready and call.
        let clone = self.inner.clone();
        let mut service = std::mem::replace(&mut self.inner, clone);
        let future = service.call(request.clone());
        RetryFuture::new(future, service, request, Arc::clone(&self.policy))
    }
}
