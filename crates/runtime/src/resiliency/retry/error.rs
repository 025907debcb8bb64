//! The error a caller sees when retrying gave up: the last attempt's error, saying how many
//! attempts were made and why no more.

use crate::error::Error;

/// Why a retriable error was not retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GiveUp {
    /// The policy's `max_retries` were used.
    Exhausted,
    /// The next retry would start at or past the request's deadline.
    Deadline,
}

/// The last attempt's error, of the same kind, with the attempt count and the reason appended;
/// the last error stays reachable as its source.
pub(crate) fn gave_up(last: Error, attempts: u32, why: GiveUp) -> Error {
    let noun = if attempts == 1 { "attempt" } else { "attempts" };
    let reason = match why {
        GiveUp::Exhausted => "retries exhausted",
        GiveUp::Deadline => "no time left before the deadline for another",
    };
    let message = format!(
        "{}; gave up after {attempts} {noun} ({reason})",
        last.message()
    );
    Error::new(last.kind(), message).with_source(last)
}
