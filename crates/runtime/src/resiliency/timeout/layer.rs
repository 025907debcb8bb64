//! The timeout layer and service.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;
use tower::{Layer, Service};

use super::error::Limit;
use super::future::TimeoutFuture;
use crate::error::Error;
use crate::resiliency::deadline::HasDeadline;

/// Wraps a service in [`Timeout`].
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use weft_runtime::layers::TimeoutLayer;
///
/// // The resolved policy's timeout, for calls to the app `backend`.
/// let layer = TimeoutLayer::new("app backend", Some(Duration::from_secs(5)));
/// # let _ = layer;
/// ```
#[derive(Debug, Clone)]
pub struct TimeoutLayer {
    target: Arc<str>,
    timeout: Option<Duration>,
}

impl TimeoutLayer {
    /// A layer bounding calls to `target` (named in errors) by `timeout` and by each request's
    /// deadline; with no timeout, by the deadline alone.
    pub fn new(target: impl Into<Arc<str>>, timeout: Option<Duration>) -> Self {
        Self {
            target: target.into(),
            timeout,
        }
    }
}

impl<S> Layer<S> for TimeoutLayer {
    type Service = Timeout<S>;

    fn layer(&self, inner: S) -> Timeout<S> {
        Timeout {
            inner,
            target: Arc::clone(&self.target),
            timeout: self.timeout,
        }
    }
}

/// Bounds each call by the earlier of the policy timeout and the request's
/// [`HasDeadline::deadline`].
///
/// When the policy timeout ends first, the request is told through
/// [`HasDeadline::narrow_deadline`], so a callee that receives the deadline gives up with the
/// caller. A call whose deadline has already passed is not sent. Running out of time fails the
/// call with [`ErrorKind::DeadlineExceeded`](crate::ErrorKind::DeadlineExceeded): "call to app
/// backend timed out after 5s (resiliency timeout)" or "call to app backend passed its deadline
/// after 2s"; the inner call is dropped.
#[derive(Debug, Clone)]
pub struct Timeout<S> {
    inner: S,
    target: Arc<str>,
    timeout: Option<Duration>,
}

impl<S> Timeout<S> {
    /// Wraps `inner`, bounding calls to `target` by `timeout` and by each request's deadline.
    pub fn new(inner: S, target: impl Into<Arc<str>>, timeout: Option<Duration>) -> Self {
        Self {
            inner,
            target: target.into(),
            timeout,
        }
    }
}

impl<S, Req> Service<Req> for Timeout<S>
where
    S: Service<Req, Error = Error>,
    Req: HasDeadline,
{
    type Response = S::Response;
    type Error = Error;
    type Future = TimeoutFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Req) -> Self::Future {
        let now = Instant::now();
        let own = request.deadline();
        let policy_end = self.timeout.and_then(|t| Some((now.checked_add(t)?, t)));
        let (deadline, limit) = match policy_end {
            Some((end, t)) if end < own => {
                request.narrow_deadline(end);
                (end, Limit::Policy(t))
            }
            _ => (own, Limit::Deadline),
        };
        let target = Arc::clone(&self.target);
        if deadline <= now {
            return TimeoutFuture::expired(target, limit);
        }
        TimeoutFuture::running(self.inner.call(request), deadline, target, limit, now)
    }
}
