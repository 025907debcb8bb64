//! The runtime's error type: an opaque [`Error`] with an [`ErrorKind`] that callers match on.
//!
//! The kind carries the retry class ([`ErrorKind::retry_class`]): an error that proves the call
//! never reached the callee may always be retried; one after which the call may have run may be
//! retried only when running it twice is harmless; anything else is the callee's answer.
//!
//! # Why one classification
//!
//! Every place that decides whether to try a call again (retry policies, the router's re-routing,
//! reminder re-firing, the service client) asks [`ErrorKind::retry_class`], so they agree by
//! construction. A place that has its own reason to differ (a reminder firing is at-least-once,
//! so it also re-fires after a transient store failure) states the difference on top of the
//! class, next to a comment saying why.

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;

use crate::state::{StoreError, StoreErrorKind};

/// A boxed error source.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What went wrong, coarsely enough to act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// No such actor type or method on this host.
    NotFound,
    /// The request is malformed: an empty actor id, an undecodable payload, a bad setting.
    InvalidArgument,
    /// The call's deadline passed before it got its reply (including time spent waiting for the
    /// actor's turn).
    DeadlineExceeded,
    /// The target cannot take the call right now (its activation is restarting); retry later.
    Unavailable,
    /// The actor lives on another host now (placement moved it); retry after the table update.
    Moved,
    /// The call was cut off on its way (the connection to the owner broke): it may or may not
    /// have run. Retry only what is safe to run twice.
    Interrupted,
    /// The call would re-enter an actor that is already waiting in this call chain, and the actor
    /// type does not allow reentrancy, or the chain grew past the allowed depth.
    Reentrancy,
    /// A state write lost an ETag race: another writer changed the actor's state first. The
    /// turn's changes were not committed.
    Conflict,
    /// The state store failed for a reason that may pass (unreachable, timed out, an I/O
    /// error); the turn's changes were not committed. Stored data that cannot be read is
    /// [`ErrorKind::Corrupt`] instead.
    Store,
    /// The actor's method returned an error (see [`Error::app_error`]) or panicked.
    ActorFailed,
    /// The host is shutting down and takes no new calls.
    ShuttingDown,
    /// A bug in Weft: an invariant did not hold.
    Internal,
    /// The callee's access policy does not let this caller call this method.
    PermissionDenied,
    /// A service method answered with an error status (see [`Error::status`] and
    /// [`Error::app_error`] for the body).
    AppError,
    /// A circuit breaker refused the call without sending it: its target failed too often
    /// lately. The message says when the circuit lets calls through again.
    CircuitOpen,
    /// Stored data could not be read back (corrupt, or written by a foreign writer in another
    /// format). Unlike [`ErrorKind::Store`], retrying will not help.
    Corrupt,
}

/// Whether a failed call may be tried again, as far as safety goes: did it reach the callee?
///
/// | Class                        | Kinds                                                    |
/// |------------------------------|----------------------------------------------------------|
/// | [`RetryClass::NeverSent`]      | `Unavailable`, `Moved`, `ShuttingDown`, `CircuitOpen`      |
/// | [`RetryClass::IdempotentOnly`] | `Interrupted`, `DeadlineExceeded`                          |
/// | [`RetryClass::Never`]          | every other kind                                         |
///
/// # Examples
/// ```
/// use weft_runtime::{ErrorKind, RetryClass};
/// assert_eq!(ErrorKind::CircuitOpen.retry_class(), RetryClass::NeverSent);
/// assert_eq!(ErrorKind::Interrupted.retry_class(), RetryClass::IdempotentOnly);
/// assert_eq!(ErrorKind::ActorFailed.retry_class(), RetryClass::Never);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RetryClass {
    /// The call provably never reached the callee (refused, moved, shutting down, circuit
    /// open): trying again can never run it twice.
    NeverSent,
    /// The call may have run (the connection broke, the deadline passed mid-call): try again
    /// only calls that are safe to run twice.
    IdempotentOnly,
    /// The callee answered, or trying again cannot help: do not retry.
    Never,
}

impl ErrorKind {
    /// The retry class of this kind: the one classification every retry decision starts from.
    pub fn retry_class(self) -> RetryClass {
        match self {
            ErrorKind::Unavailable
            | ErrorKind::Moved
            | ErrorKind::ShuttingDown
            | ErrorKind::CircuitOpen => RetryClass::NeverSent,
            ErrorKind::Interrupted | ErrorKind::DeadlineExceeded => RetryClass::IdempotentOnly,
            ErrorKind::NotFound
            | ErrorKind::InvalidArgument
            | ErrorKind::Reentrancy
            | ErrorKind::Conflict
            | ErrorKind::Store
            | ErrorKind::Corrupt
            | ErrorKind::ActorFailed
            | ErrorKind::Internal
            | ErrorKind::PermissionDenied
            | ErrorKind::AppError => RetryClass::Never,
        }
    }

    /// Whether a callee's refusal of this kind says the actor's owner may have changed (it
    /// moved, or its host is leaving), so the router sends the call again after the next table
    /// update. Only never-sent kinds qualify, since that sends the call a second time; other
    /// never-sent refusals (an activation restarting, an open circuit) are the callee's answer,
    /// for the caller's retry policy to judge.
    pub(crate) fn is_owner_change(self) -> bool {
        self.retry_class() == RetryClass::NeverSent
            && matches!(self, ErrorKind::Moved | ErrorKind::ShuttingDown)
    }
}

impl ErrorKind {
    fn describe(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not found",
            ErrorKind::InvalidArgument => "invalid argument",
            ErrorKind::DeadlineExceeded => "deadline exceeded",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Moved => "moved",
            ErrorKind::Interrupted => "interrupted",
            ErrorKind::Reentrancy => "reentrancy",
            ErrorKind::Conflict => "state conflict",
            ErrorKind::Store => "state store error",
            ErrorKind::ActorFailed => "actor failed",
            ErrorKind::ShuttingDown => "shutting down",
            ErrorKind::Internal => "internal error",
            ErrorKind::PermissionDenied => "permission denied",
            ErrorKind::AppError => "app error",
            ErrorKind::CircuitOpen => "circuit open",
            ErrorKind::Corrupt => "corrupt data",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// An error from the Weft runtime or from an actor.
///
/// # Examples
/// ```
/// use weft_runtime::{Error, ErrorKind};
/// let e = Error::new(ErrorKind::InvalidArgument, "quantity must be positive");
/// assert_eq!(e.kind(), ErrorKind::InvalidArgument);
/// assert_eq!(e.to_string(), "invalid argument: quantity must be positive");
/// ```
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: ErrorKind,
    message: Cow<'static, str>,
    app_error: Option<Bytes>,
    status: Option<u16>,
    source: Option<BoxError>,
}

impl Error {
    /// A new error of `kind` with a message that says what failed.
    pub fn new(kind: ErrorKind, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            inner: Box::new(Inner {
                kind,
                message: message.into(),
                app_error: None,
                status: None,
                source: None,
            }),
        }
    }

    /// An application error raised by an actor method: `payload` is the encoded error value,
    /// which typed callers decode, and `message` a human-readable summary.
    pub fn app(payload: Bytes, message: impl Into<Cow<'static, str>>) -> Self {
        let mut e = Self::new(ErrorKind::ActorFailed, message);
        e.inner.app_error = Some(payload);
        e
    }

    /// A service method's error status: `status` (400..=599) and the response body.
    pub fn app_status(status: u16, body: Bytes, message: impl Into<Cow<'static, str>>) -> Self {
        let mut e = Self::new(ErrorKind::AppError, message);
        e.inner.app_error = Some(body);
        e.inner.status = Some(status);
        e
    }

    /// The status a service method answered with, for [`ErrorKind::AppError`].
    pub fn status(&self) -> Option<u16> {
        self.inner.status
    }

    /// Attaches the underlying cause.
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.inner.source = Some(source.into());
        self
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The message, without the kind prefix.
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// The encoded application error, when an actor method returned one.
    pub fn app_error(&self) -> Option<&Bytes> {
        self.inner.app_error.as_ref()
    }

    /// The retry class of this error's kind (see [`ErrorKind::retry_class`]).
    pub fn retry_class(&self) -> RetryClass {
        self.inner.kind.retry_class()
    }

    /// Whether retrying the same call is always safe: it provably never reached the callee
    /// ([`RetryClass::NeverSent`]).
    pub fn is_retryable(&self) -> bool {
        self.retry_class() == RetryClass::NeverSent
    }

    pub(crate) fn deadline(what: impl fmt::Display) -> Self {
        Self::new(ErrorKind::DeadlineExceeded, what.to_string())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.inner.kind)
            .field("message", &self.inner.message);
        if let Some(app) = &self.inner.app_error {
            d.field("app_error_bytes", &app.len());
        }
        if let Some(source) = &self.inner.source {
            d.field("source", source);
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.inner.kind, self.inner.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

/// Keeps what the store said: a conflict, an invalid request, a failure that may pass
/// ([`ErrorKind::Store`]) or data that cannot be read ([`ErrorKind::Corrupt`]).
impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        let kind = match e.kind() {
            StoreErrorKind::Conflict => ErrorKind::Conflict,
            StoreErrorKind::Invalid => ErrorKind::InvalidArgument,
            StoreErrorKind::Corrupt => ErrorKind::Corrupt,
            StoreErrorKind::Unavailable | StoreErrorKind::Backend => ErrorKind::Store,
        };
        Error::new(kind, e.to_string()).with_source(e)
    }
}

/// Every kind, for tests that go over all of them.
#[cfg(test)]
pub(crate) const ALL_KINDS: [ErrorKind; 16] = [
    ErrorKind::NotFound,
    ErrorKind::InvalidArgument,
    ErrorKind::DeadlineExceeded,
    ErrorKind::Unavailable,
    ErrorKind::Moved,
    ErrorKind::Interrupted,
    ErrorKind::Reentrancy,
    ErrorKind::Conflict,
    ErrorKind::Store,
    ErrorKind::ActorFailed,
    ErrorKind::ShuttingDown,
    ErrorKind::Internal,
    ErrorKind::PermissionDenied,
    ErrorKind::AppError,
    ErrorKind::CircuitOpen,
    ErrorKind::Corrupt,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_kinds_lists_every_kind_once() {
        // A new kind fails to compile here until it gets a place in ALL_KINDS.
        let position = |kind: ErrorKind| match kind {
            ErrorKind::NotFound => 0,
            ErrorKind::InvalidArgument => 1,
            ErrorKind::DeadlineExceeded => 2,
            ErrorKind::Unavailable => 3,
            ErrorKind::Moved => 4,
            ErrorKind::Interrupted => 5,
            ErrorKind::Reentrancy => 6,
            ErrorKind::Conflict => 7,
            ErrorKind::Store => 8,
            ErrorKind::ActorFailed => 9,
            ErrorKind::ShuttingDown => 10,
            ErrorKind::Internal => 11,
            ErrorKind::PermissionDenied => 12,
            ErrorKind::AppError => 13,
            ErrorKind::CircuitOpen => 14,
            ErrorKind::Corrupt => 15,
        };
        for (i, kind) in ALL_KINDS.into_iter().enumerate() {
            assert_eq!(position(kind), i, "{kind}");
        }
    }

    #[test]
    fn every_kind_has_the_retry_class_of_the_documented_table() {
        use ErrorKind as K;
        use RetryClass::{IdempotentOnly, Never, NeverSent};
        let table = [
            (K::NotFound, Never),
            (K::InvalidArgument, Never),
            (K::DeadlineExceeded, IdempotentOnly),
            (K::Unavailable, NeverSent),
            (K::Moved, NeverSent),
            (K::Interrupted, IdempotentOnly),
            (K::Reentrancy, Never),
            (K::Conflict, Never),
            (K::Store, Never),
            (K::ActorFailed, Never),
            (K::ShuttingDown, NeverSent),
            (K::Internal, Never),
            (K::PermissionDenied, Never),
            (K::AppError, Never),
            (K::CircuitOpen, NeverSent),
            (K::Corrupt, Never),
        ];
        assert_eq!(table.len(), ALL_KINDS.len());
        for (kind, class) in table {
            assert_eq!(kind.retry_class(), class, "{kind}");
        }
    }

    #[test]
    fn an_error_is_retryable_exactly_when_its_kind_is_never_sent() {
        for kind in ALL_KINDS {
            let e = Error::new(kind, "m");
            assert_eq!(e.retry_class(), kind.retry_class(), "{kind}");
            assert_eq!(
                e.is_retryable(),
                kind.retry_class() == RetryClass::NeverSent,
                "{kind}"
            );
        }
    }

    #[test]
    fn the_router_re_routes_only_never_sent_refusals_that_say_the_owner_changed() {
        for kind in ALL_KINDS {
            if kind.is_owner_change() {
                assert_eq!(kind.retry_class(), RetryClass::NeverSent, "{kind}");
            }
            assert_eq!(
                kind.is_owner_change(),
                matches!(kind, ErrorKind::Moved | ErrorKind::ShuttingDown),
                "{kind}"
            );
        }
    }

    #[test]
    fn store_errors_keep_transient_and_permanent_apart_when_converted() {
        let cases = [
            (StoreErrorKind::Unavailable, ErrorKind::Store),
            (StoreErrorKind::Backend, ErrorKind::Store),
            (StoreErrorKind::Corrupt, ErrorKind::Corrupt),
            (StoreErrorKind::Invalid, ErrorKind::InvalidArgument),
            (StoreErrorKind::Conflict, ErrorKind::Conflict),
        ];
        for (store_kind, kind) in cases {
            let store_error = StoreError::new(store_kind, "get", "failed");
            let transient = store_error.is_transient();
            let e = Error::from(store_error);
            assert_eq!(e.kind(), kind, "{store_kind:?}");
            // Exactly the transient failures become the kind that says "may pass".
            assert_eq!(transient, e.kind() == ErrorKind::Store, "{store_kind:?}");
            assert!(e.message().contains("state store get failed"), "{e}");
        }
    }
}
