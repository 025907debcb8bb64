//! The error of an attempt that ran out of time: which target, which limit, how long.

use std::time::Duration;

use crate::error::{Error, ErrorKind};
use crate::resiliency::load::show;

/// Which limit ended an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Limit {
    /// The resiliency policy's timeout, this long.
    Policy(Duration),
    /// The request's own deadline.
    Deadline,
}

/// The attempt on `target` ran out of time after `elapsed`.
pub(crate) fn elapsed(target: &str, limit: Limit, elapsed: Duration) -> Error {
    let message = match limit {
        Limit::Policy(timeout) => {
            format!(
                "call to {target} timed out after {} (resiliency timeout)",
                show(timeout)
            )
        }
        Limit::Deadline if elapsed.is_zero() => {
            format!("call to {target} not sent: its deadline had already passed")
        }
        Limit::Deadline => format!(
            "call to {target} passed its deadline after {}",
            show(round_ms(elapsed))
        ),
    };
    Error::new(ErrorKind::DeadlineExceeded, message)
}

fn round_ms(d: Duration) -> Duration {
    Duration::from_millis(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
