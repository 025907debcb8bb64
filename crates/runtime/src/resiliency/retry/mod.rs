//! Retries: the backoff schedule, the decision whether to retry an error, and the tower layer.
//!
//! A retry is decided per error by [`should_retry`]: only errors the policy's [`Matching`]
//! allows (by default those that prove the call never reached the app), only while retries are
//! left, and [`Retry`] adds the last rule: never start a retry past the request's deadline.
//! Retry counts are bounded per policy; a budget shared across calls (tower's) would bound them
//! across a whole outage too, and can sit on top of this.
//!
//! [`Matching`]: super::Matching

mod backoff;
mod error;
mod future;
mod layer;

use std::time::Duration;

pub use backoff::Backoff;
pub use future::RetryFuture;
pub use layer::{Retry, RetryLayer};

use super::policy::RetryPolicy;
use crate::error::Error;

/// Whether to retry after `attempt` attempts (1 = the first call) failed with `error`, and if
/// so how long to wait first.
///
/// `None` when the error is not retriable under the policy's [`Matching`](super::Matching) or
/// the policy's `max_retries` are used up. The wait is the policy's backoff for this retry,
/// jittered; the caller still has to check it against the request's deadline, as [`Retry`]
/// does.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use weft_runtime::{Error, ErrorKind};
/// use weft_runtime::resiliency::{should_retry, RetryPolicy};
///
/// let policy = RetryPolicy::constant(Duration::from_millis(100)).max_retries(2).jitter(0.0);
/// let unavailable = Error::new(ErrorKind::Unavailable, "connection refused");
/// assert_eq!(should_retry(&policy, &unavailable, 1), Some(Duration::from_millis(100)));
/// assert_eq!(should_retry(&policy, &unavailable, 3), None); // two retries used
/// let app = Error::new(ErrorKind::ActorFailed, "out of stock");
/// assert_eq!(should_retry(&policy, &app, 1), None);
/// ```
pub fn should_retry(policy: &RetryPolicy, error: &Error, attempt: u32) -> Option<Duration> {
    if attempt == 0 || attempt > policy.retry_limit() {
        return None;
    }
    if !policy.matching.is_retriable(error.kind()) {
        return None;
    }
    Some(backoff::delay(policy, attempt, rand::random::<f64>()))
}
