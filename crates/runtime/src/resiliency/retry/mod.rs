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
pub(crate) fn should_retry(policy: &RetryPolicy, error: &Error, attempt: u32) -> Option<Duration> {
    if attempt == 0 || attempt > policy.retry_limit() {
        return None;
    }
    if !policy.matching.is_retriable(error.kind()) {
        return None;
    }
    Some(backoff::delay(policy, attempt, rand::random::<f64>()))
}
