//! Timeouts: each attempt ends at the earlier of its policy timeout and the request's own
//! deadline, and the caller gets a [`DeadlineExceeded`](crate::ErrorKind::DeadlineExceeded)
//! error naming the target.
//!
//! The timeout bounds one attempt; the request's deadline bounds the whole call (all its
//! retries), which is why [`RetryLayer`](super::RetryLayer) sits outside this layer.

mod error;
mod future;
mod layer;

pub use future::TimeoutFuture;
pub use layer::{Timeout, TimeoutLayer};
