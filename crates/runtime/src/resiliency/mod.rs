//! Resiliency: timeouts, retries and circuit breakers, configured as data.
//!
//! A [`Resiliency`] spec names policies (timeouts, retries, circuit breakers) and says which
//! targets use them: apps by app id, actors by actor type, with per-method overrides. It is
//! modelled on Dapr's resiliency spec, loads from YAML or JSON ([`Resiliency::load`]), and the
//! builder API ([`Resiliency::builder`]) fills in the very same struct. Durations are Go/Dapr
//! style strings (`"5s"`, `"100ms"`, `"1m30s"`), parsed by `humantime`.
//!
//! [`Resiliency::resolve`] turns a target and method into a [`ResolvedPolicy`]; the three tower
//! layers of [`crate::layers`] apply it:
//!
//! | layer | does |
//! | --- | --- |
//! | [`RetryLayer`] | retries what is safe to retry, with backoff, never past the request's deadline |
//! | [`BreakerLayer`] | fails fast while a target instance's circuit is open |
//! | [`TimeoutLayer`] | bounds each attempt by the policy's timeout and the request's deadline |
//!
//! Stack them outermost first: retry, then breaker, then timeout, so each attempt gets its own
//! timeout and counts once toward its instance's breaker, and a retry may go to another instance.
//!
//! # Why only "never reached the app" errors are retried by default
//!
//! A retry is only safe if the first try had no effect. Retries follow the one classification
//! of errors, [`ErrorKind::retry_class`]: [`ErrorKind::Unavailable`], [`ErrorKind::Moved`] and
//! [`ErrorKind::CircuitOpen`] prove the call never reached the callee, so retrying them cannot
//! run a method twice. [`ErrorKind::Interrupted`] and [`ErrorKind::DeadlineExceeded`] say the
//! call *may* have run: only a retry policy marked idempotent (`matching: { idempotent: true }`)
//! retries them. Errors the application returned ([`ErrorKind::ActorFailed`],
//! [`ErrorKind::NotFound`], [`ErrorKind::InvalidArgument`], ...) are answers, not failures, and
//! are never retried.
//!
//! # Why the circuit breaker ignores application errors
//!
//! A breaker protects callers from an unhealthy *instance*. An instance that answers "no such
//! method" or returns an application error is healthy: it answered. Only failures that say the
//! instance could not serve (unavailable, deadline, interrupted, internal, shutting down) count
//! toward tripping it.
//!
//! # Why counts are bounded
//!
//! Unlimited retries (Dapr's `maxRetries: -1`) turn one outage into a retry storm, so they are
//! rejected: `max_retries` must be between 0 and 100, and a retry never starts past the
//! request's deadline.
//!
//! # Examples
//! ```
//! use std::time::Duration;
//! use weft_runtime::resiliency::{Resiliency, Target};
//!
//! let spec = Resiliency::from_yaml_str(r#"
//! policies:
//!   timeouts:
//!     general: 5s
//!   retries:
//!     fast:
//!       policy: exponential
//!       initial_interval: 50ms
//!       max_interval: 1s
//!       max_retries: 3
//!   circuit_breakers:
//!     backend:
//!       max_consecutive_failures: 5
//!       open_timeout: 30s
//! targets:
//!   apps:
//!     backend:
//!       timeout: general
//!       retry: fast
//!       circuit_breaker: backend
//!       methods:
//!         report:
//!           timeout: general
//! "#)?;
//! let resolved = spec.resolve(Target::App("backend"), "checkout");
//! assert_eq!(resolved.timeout, Some(Duration::from_secs(5)));
//! assert_eq!(resolved.retry.map(|r| r.max_retries), Some(3));
//! # Ok::<(), weft_runtime::Error>(())
//! ```
//!
//! [`ErrorKind::Unavailable`]: crate::ErrorKind::Unavailable
//! [`ErrorKind::retry_class`]: crate::ErrorKind::retry_class
//! [`ErrorKind::CircuitOpen`]: crate::ErrorKind::CircuitOpen
//! [`ErrorKind::Moved`]: crate::ErrorKind::Moved
//! [`ErrorKind::Interrupted`]: crate::ErrorKind::Interrupted
//! [`ErrorKind::DeadlineExceeded`]: crate::ErrorKind::DeadlineExceeded
//! [`ErrorKind::ActorFailed`]: crate::ErrorKind::ActorFailed
//! [`ErrorKind::NotFound`]: crate::ErrorKind::NotFound
//! [`ErrorKind::InvalidArgument`]: crate::ErrorKind::InvalidArgument

pub(crate) mod breaker;
mod builder;
mod de;
pub(crate) mod deadline;
mod load;
mod policy;
mod resolve;
pub(crate) mod retry;
mod targets;
#[cfg(test)]
mod tests;
pub(crate) mod timeout;

pub use builder::ResiliencyBuilder;
pub use policy::{
    BackoffKind, BreakerPolicy, Matching, Policies, Resiliency, RetryPolicy, MAX_RETRIES_LIMIT,
};
pub use resolve::{ResolvedPolicy, Target};
pub use retry::Backoff;
pub use targets::{MethodPolicy, TargetPolicy, Targets};

// The tower middleware that applies the policies: public as `crate::layers`; plumbing (permits,
// the retry decision) stays crate-private.
pub(crate) use breaker::{BreakerLayer, BreakerRegistry, BreakerState};
pub(crate) use deadline::HasDeadline;
pub(crate) use retry::RetryLayer;
pub(crate) use timeout::TimeoutLayer;
