//! The policy data model (Dapr's resiliency spec) and the retry and breaker classification of
//! errors: which [`ErrorKind`]s a retry may repeat, and which count against an instance.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::de;
use super::targets::Targets;
use crate::error::{Error, ErrorKind, RetryClass};

/// The most retries one policy may allow (`max_retries`).
pub const MAX_RETRIES_LIMIT: i64 = 100;

/// A resiliency spec: named policies plus the targets that use them.
///
/// Load one with [`Resiliency::from_yaml_str`], [`Resiliency::from_json_str`] or
/// [`Resiliency::load`], or build one with [`Resiliency::builder`]; both produce this struct and
/// both validate it. Field names are snake_case; Dapr's camelCase spellings (`maxRetries`,
/// `circuitBreakers`, ...) are accepted as aliases, and a whole Dapr `kind: Resiliency`
/// document (with `apiVersion`, `metadata`, `scopes` and `spec`) loads too.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Resiliency {
    /// App ids this spec applies to (Dapr's `scopes`); empty means every app. Default: empty.
    pub scopes: Vec<String>,
    /// The named policies. Default: none.
    pub policies: Policies,
    /// Which policies apply to which apps and actor types. Default: none.
    pub targets: Targets,
}

impl Resiliency {
    /// Whether this spec applies to the app `app_id` (its `scopes` are empty or name it).
    pub fn applies_to(&self, app_id: &str) -> bool {
        self.scopes.is_empty() || self.scopes.iter().any(|s| s == app_id)
    }
}

/// Named timeout, retry and circuit breaker policies.
///
/// A policy named `Default{Kind}Policy` or `Default{App|Actor}{Kind}Policy` (for example
/// `DefaultRetryPolicy`, `DefaultActorTimeoutPolicy`) applies to targets that name no policy of
/// that kind, as in Dapr.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policies {
    /// Timeouts by name: how long one attempt may take. Default: none.
    #[serde(deserialize_with = "de::duration_map")]
    pub timeouts: BTreeMap<String, Duration>,
    /// Retry policies by name. Default: none.
    #[serde(deserialize_with = "de::arc_map")]
    pub retries: BTreeMap<String, Arc<RetryPolicy>>,
    /// Circuit breaker policies by name (Dapr: `circuitBreakers`). Default: none.
    #[serde(alias = "circuitBreakers", deserialize_with = "de::arc_map")]
    pub circuit_breakers: BTreeMap<String, Arc<BreakerPolicy>>,
}

/// How the wait between retries grows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackoffKind {
    /// The same wait, [`RetryPolicy::duration`], before every retry.
    #[default]
    Constant,
    /// Waits growing from [`RetryPolicy::initial_interval`] by [`RetryPolicy::multiplier`] per
    /// retry, capped at [`RetryPolicy::max_interval`].
    Exponential,
}

/// A named retry policy: how long to wait between retries, how many, and which errors to retry.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use weft_runtime::resiliency::RetryPolicy;
///
/// let p = RetryPolicy::exponential(Duration::from_millis(100), Duration::from_secs(2))
///     .max_retries(5)
///     .jitter(0.5);
/// assert_eq!(p.max_retries, 5);
/// assert!(!p.matching.idempotent);
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryPolicy {
    /// `constant` or `exponential`. Default: `constant`.
    pub policy: BackoffKind,
    /// The wait before each retry of a `constant` policy. Default: 5 s (Dapr's).
    #[serde(deserialize_with = "de::duration")]
    pub duration: Duration,
    /// The wait before the first retry of an `exponential` policy (Dapr: `initialInterval`).
    /// Default: 500 ms (Dapr's).
    #[serde(alias = "initialInterval", deserialize_with = "de::duration")]
    pub initial_interval: Duration,
    /// The longest wait of an `exponential` policy (Dapr: `maxInterval`). Default: 60 s (Dapr's).
    #[serde(alias = "maxInterval", deserialize_with = "de::duration")]
    pub max_interval: Duration,
    /// Growth factor of an `exponential` policy; at least 1. Default: 1.5 (Dapr's).
    pub multiplier: f64,
    /// Retries after the first attempt, from 0 to [`MAX_RETRIES_LIMIT`] (Dapr: `maxRetries`).
    /// Dapr's `-1` (retry forever) is rejected. Default: 3.
    #[serde(alias = "maxRetries")]
    pub max_retries: i64,
    /// How much of each wait is randomized, from 0 (none) to 1 ("full jitter"): a wait `d`
    /// becomes a uniform pick in `[d × (1 − jitter), d]`, so jitter never lengthens a wait.
    /// Default: 0.2.
    pub jitter: f64,
    /// Which errors are retried. Default: only those that prove the call never reached the app.
    pub matching: Matching,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            policy: BackoffKind::Constant,
            duration: Duration::from_secs(5),
            initial_interval: Duration::from_millis(500),
            max_interval: Duration::from_secs(60),
            multiplier: 1.5,
            max_retries: 3,
            jitter: 0.2,
            matching: Matching::default(),
        }
    }
}

impl RetryPolicy {
    /// A constant policy waiting `interval` before each retry; other fields at their defaults.
    pub fn constant(interval: Duration) -> Self {
        Self {
            policy: BackoffKind::Constant,
            duration: interval,
            ..Self::default()
        }
    }

    /// An exponential policy from `initial` up to `max`; other fields at their defaults.
    pub fn exponential(initial: Duration, max: Duration) -> Self {
        Self {
            policy: BackoffKind::Exponential,
            initial_interval: initial,
            max_interval: max,
            ..Self::default()
        }
    }

    /// Sets [`RetryPolicy::max_retries`].
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = i64::from(retries);
        self
    }

    /// Sets [`RetryPolicy::jitter`].
    pub fn jitter(mut self, jitter: f64) -> Self {
        self.jitter = jitter;
        self
    }

    /// Sets [`RetryPolicy::multiplier`].
    pub fn multiplier(mut self, multiplier: f64) -> Self {
        self.multiplier = multiplier;
        self
    }

    /// Marks the calls this policy applies to as idempotent (see [`Matching::idempotent`]).
    pub fn idempotent(mut self) -> Self {
        self.matching.idempotent = true;
        self
    }

    /// The retry count as a number, clamped to `0..=MAX_RETRIES_LIMIT` (for a policy that was
    /// never validated).
    pub(crate) fn retry_limit(&self) -> u32 {
        u32::try_from(self.max_retries.clamp(0, MAX_RETRIES_LIMIT)).unwrap_or(0)
    }
}

/// Which errors a retry policy retries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Matching {
    /// The calls are safe to run twice: also retry errors after which the call may have run
    /// ([`ErrorKind::Interrupted`], and [`ErrorKind::DeadlineExceeded`] of one attempt while the
    /// call's own deadline has time left). Default: false.
    pub idempotent: bool,
}

impl Matching {
    /// Whether an error of `kind` may be retried under this matching: by its
    /// [`RetryClass`](crate::RetryClass), [`NeverSent`](crate::RetryClass::NeverSent) always
    /// ([`ErrorKind::Unavailable`], [`ErrorKind::Moved`], [`ErrorKind::CircuitOpen`]),
    /// [`IdempotentOnly`](crate::RetryClass::IdempotentOnly) only when idempotent
    /// ([`ErrorKind::Interrupted`], [`ErrorKind::DeadlineExceeded`]), and
    /// [`Never`](crate::RetryClass::Never) never.
    ///
    /// One exception: [`ErrorKind::ShuttingDown`] is never-sent but not retried here. The one
    /// that reaches a retry layer is this host's own (the router re-routes a callee's, and the
    /// service client reports a callee's as [`ErrorKind::Unavailable`]), so a retry would only
    /// meet the same refusal.
    pub fn is_retriable(&self, kind: ErrorKind) -> bool {
        match kind.retry_class() {
            RetryClass::NeverSent => kind != ErrorKind::ShuttingDown,
            RetryClass::IdempotentOnly => self.idempotent,
            RetryClass::Never => false,
        }
    }
}

/// A named circuit breaker policy.
///
/// Closed, the circuit lets calls through and counts consecutive failures; at
/// `max_consecutive_failures` it opens and fails calls fast for `open_timeout`; then it is
/// half-open and lets `max_requests` probes through: once they all succeed it closes, and any
/// failure opens it again.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BreakerPolicy {
    /// Consecutive failures that open the circuit; at least 1. Dapr's `trip` expression is
    /// accepted too: `trip: consecutiveFailures > 4` means 5. Default: 5.
    #[serde(
        alias = "maxConsecutiveFailures",
        alias = "trip",
        deserialize_with = "de::trip"
    )]
    pub max_consecutive_failures: u32,
    /// How long an open circuit stays open before it lets probes through (Dapr: `timeout`).
    /// Default: 60 s (Dapr's).
    #[serde(
        alias = "openTimeout",
        alias = "timeout",
        deserialize_with = "de::duration"
    )]
    pub open_timeout: Duration,
    /// While closed, the failure count resets after this long without tripping; zero means
    /// never (Dapr's `interval`). Default: 0.
    #[serde(deserialize_with = "de::duration")]
    pub interval: Duration,
    /// Probes let through while half-open; the circuit closes once that many have succeeded
    /// (Dapr: `maxRequests`). Default: 1.
    #[serde(alias = "maxRequests")]
    pub max_requests: u32,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        Self {
            max_consecutive_failures: 5,
            open_timeout: Duration::from_secs(60),
            interval: Duration::ZERO,
            max_requests: 1,
        }
    }
}

impl BreakerPolicy {
    /// A policy that trips after `failures` consecutive failures; other fields at their
    /// defaults.
    pub fn trip_after(failures: u32) -> Self {
        Self {
            max_consecutive_failures: failures,
            ..Self::default()
        }
    }

    /// Sets [`BreakerPolicy::open_timeout`].
    pub fn open_timeout(mut self, timeout: Duration) -> Self {
        self.open_timeout = timeout;
        self
    }

    /// Sets [`BreakerPolicy::interval`].
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Sets [`BreakerPolicy::max_requests`].
    pub fn max_requests(mut self, probes: u32) -> Self {
        self.max_requests = probes;
        self
    }

    /// Whether `error` counts against the instance's health.
    ///
    /// Failures: [`ErrorKind::Unavailable`], [`ErrorKind::DeadlineExceeded`],
    /// [`ErrorKind::Interrupted`], [`ErrorKind::Internal`], [`ErrorKind::ShuttingDown`],
    /// [`ErrorKind::CircuitOpen`]. Answers, which prove the instance healthy: application errors
    /// ([`ErrorKind::ActorFailed`], [`ErrorKind::AppError`]), [`ErrorKind::NotFound`],
    /// [`ErrorKind::InvalidArgument`], [`ErrorKind::PermissionDenied`],
    /// [`ErrorKind::Moved`] (placement moved the actor), reentrancy, state conflicts, store
    /// errors and corrupt data.
    pub fn is_failure(&self, error: &Error) -> bool {
        match error.kind() {
            ErrorKind::Unavailable
            | ErrorKind::DeadlineExceeded
            | ErrorKind::Interrupted
            | ErrorKind::Internal
            | ErrorKind::ShuttingDown => true,
            // As when it was reported as `Unavailable`: one passed on from further down means
            // the instance cannot serve the call now. (A breaker's own refusal is never
            // recorded: the call never got a permit.)
            ErrorKind::CircuitOpen => true,
            ErrorKind::NotFound
            | ErrorKind::InvalidArgument
            | ErrorKind::Moved
            | ErrorKind::Reentrancy
            | ErrorKind::Conflict
            | ErrorKind::Store
            | ErrorKind::Corrupt
            | ErrorKind::ActorFailed
            | ErrorKind::PermissionDenied
            | ErrorKind::AppError => false,
        }
    }
}
