//! The runtime's error type: an opaque [`Error`] with an [`ErrorKind`] that callers match on.
//!
//! The kind carries the retry class (see [`Error::is_retryable`]): an error that proves the actor's
//! turn never started may be retried; anything after that may not, because the turn may have
//! had effects.

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
    /// The state store failed; the turn's changes were not committed.
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

    /// Whether retrying the same call is safe: the actor's turn provably never started.
    pub fn is_retryable(&self) -> bool {
        matches!(self.inner.kind, ErrorKind::Unavailable | ErrorKind::Moved)
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

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        let kind = if e.is_conflict() {
            ErrorKind::Conflict
        } else if e.kind() == StoreErrorKind::Invalid {
            ErrorKind::InvalidArgument
        } else {
            ErrorKind::Store
        };
        Error::new(kind, e.to_string()).with_source(e)
    }
}
