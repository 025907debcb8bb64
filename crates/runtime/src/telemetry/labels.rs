//! The values of the metrics' labels (and of the `outcome` field of service-call spans):
//! plain enums, so that the call path names them with or without the `metrics` feature.

/// What kind of call a request was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestKind {
    /// A call to a virtual actor.
    Actor,
    /// A service invocation (a method of an app, by app id).
    Service,
}

impl RequestKind {
    /// The label value: `actor` or `service`.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestKind::Actor => "actor",
            RequestKind::Service => "service",
        }
    }
}

/// How a request ended, as recorded in the `outcome` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// The call succeeded.
    Ok,
    /// The target's handler returned an error (or an error status).
    AppError,
    /// The call's deadline passed.
    DeadlineExceeded,
    /// The circuit to the target was open: the call failed fast.
    CircuitOpen,
    /// No instance of the target was available.
    NoInstance,
    /// The target was unavailable (connection refused, shutting down, moved).
    Unavailable,
    /// The call was not permitted.
    PermissionDenied,
    /// The request was malformed, or the target or method does not exist.
    InvalidRequest,
    /// Any other failure.
    Error,
}

impl Outcome {
    /// The label value, in snake case (`ok`, `app_error`, `deadline_exceeded`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::AppError => "app_error",
            Outcome::DeadlineExceeded => "deadline_exceeded",
            Outcome::CircuitOpen => "circuit_open",
            Outcome::NoInstance => "no_instance",
            Outcome::Unavailable => "unavailable",
            Outcome::PermissionDenied => "permission_denied",
            Outcome::InvalidRequest => "invalid_request",
            Outcome::Error => "error",
        }
    }
}

/// The state of a circuit breaker, as recorded in `weft_circuit_state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum CircuitState {
    /// Calls flow (0).
    Closed = 0,
    /// One probe call is let through (1).
    HalfOpen = 1,
    /// Calls fail fast (2).
    Open = 2,
}

impl From<CircuitState> for u8 {
    fn from(s: CircuitState) -> u8 {
        s as u8
    }
}

/// What became of one reminder firing, as `weft_reminder_firings_total` counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReminderFiring {
    /// The callback's turn ran (successfully or not).
    Fired,
    /// The turn repeated a period another host had already fired (at-least-once delivery
    /// during a table change).
    Duplicate,
    /// The firing could not run (store down, actor moving) and is tried again later.
    Retried,
}

impl ReminderFiring {
    /// The `result` label.
    pub fn as_str(self) -> &'static str {
        match self {
            ReminderFiring::Fired => "fired",
            ReminderFiring::Duplicate => "duplicate",
            ReminderFiring::Retried => "retried",
        }
    }
}
