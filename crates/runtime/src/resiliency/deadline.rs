//! The deadline a request carries, as the retry and timeout layers see it.

use tokio::time::Instant;

/// A request that carries its deadline: the instant after which its caller no longer waits.
///
/// [`RetryLayer`](super::RetryLayer) never starts a retry past it and
/// [`TimeoutLayer`](super::TimeoutLayer) bounds each attempt by it.
///
/// # Examples
/// ```
/// use tokio::time::Instant;
/// use weft_runtime::layers::HasDeadline;
///
/// #[derive(Clone)]
/// struct Ping { deadline: Instant }
///
/// impl HasDeadline for Ping {
///     fn deadline(&self) -> Instant { self.deadline }
///     fn narrow_deadline(&mut self, deadline: Instant) { self.deadline = deadline; }
/// }
/// ```
pub trait HasDeadline {
    /// The instant after which the caller no longer waits for this request.
    fn deadline(&self) -> Instant;

    /// Called by [`TimeoutLayer`](super::TimeoutLayer) with an earlier deadline for this
    /// attempt (its policy timeout ends before the request's own deadline). A request that sends
    /// its deadline to the callee should store it, so the callee gives up when the caller does.
    /// The default ignores it.
    fn narrow_deadline(&mut self, deadline: Instant) {
        let _ = deadline;
    }
}
