//! The error of a call the breaker refused: which instance, how many failures, when to retry.

use std::time::Duration;

use crate::error::{Error, ErrorKind};
use crate::resiliency::load::show;

/// The circuit of `key` is open for `left` more. `CircuitOpen`: the call never left.
pub(crate) fn open(key: &str, failures: u32, left: Duration) -> Error {
    // Whole milliseconds, rounded up, read better than nanoseconds.
    let left_ms = u64::try_from(left.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX);
    Error::new(
        ErrorKind::CircuitOpen,
        format!(
            "circuit open for {key} ({failures} consecutive failures); retry after {}",
            show(Duration::from_millis(left_ms))
        ),
    )
}

/// The circuit of `key` is half-open and its probes are all taken.
pub(crate) fn probing(key: &str, failures: u32, probes: u32) -> Error {
    let noun = if probes == 1 { "probe" } else { "probes" };
    Error::new(
        ErrorKind::CircuitOpen,
        format!(
            "circuit open for {key} ({failures} consecutive failures); half-open with \
             {probes} {noun} in flight, retry after they finish"
        ),
    )
}
