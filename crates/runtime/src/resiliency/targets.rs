//! The targets of a spec: which named policies apply to which apps, actor types and methods.

use std::collections::BTreeMap;

use serde::Deserialize;

/// Which policies apply to which targets.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Targets {
    /// Service invocation targets, by app id. Default: none.
    pub apps: BTreeMap<String, TargetPolicy>,
    /// Actor targets, by actor type. Default: none.
    pub actors: BTreeMap<String, TargetPolicy>,
}

/// The policies one target uses, by name, with per-method overrides.
///
/// # Examples
/// ```
/// use weft_runtime::resiliency::{MethodPolicy, TargetPolicy};
///
/// let backend = TargetPolicy::default()
///     .timeout("general")
///     .retry("fast")
///     .method("report", MethodPolicy::default().timeout("slow"));
/// assert_eq!(backend.methods["report"].timeout.as_deref(), Some("slow"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TargetPolicy {
    /// The timeout policy's name. Default: none (the default policy, if any).
    pub timeout: Option<String>,
    /// The retry policy's name. Default: none (the default policy, if any).
    pub retry: Option<String>,
    /// The circuit breaker policy's name (Dapr: `circuitBreaker`). Default: none (the default
    /// policy, if any).
    #[serde(alias = "circuitBreaker")]
    pub circuit_breaker: Option<String>,
    /// Overrides by method name: a policy named there wins over the target's. Default: none.
    pub methods: BTreeMap<String, MethodPolicy>,
}

impl TargetPolicy {
    /// Sets [`TargetPolicy::timeout`].
    pub fn timeout(mut self, name: impl Into<String>) -> Self {
        self.timeout = Some(name.into());
        self
    }

    /// Sets [`TargetPolicy::retry`].
    pub fn retry(mut self, name: impl Into<String>) -> Self {
        self.retry = Some(name.into());
        self
    }

    /// Sets [`TargetPolicy::circuit_breaker`].
    pub fn circuit_breaker(mut self, name: impl Into<String>) -> Self {
        self.circuit_breaker = Some(name.into());
        self
    }

    /// Adds an override for `method`.
    pub fn method(mut self, method: impl Into<String>, policy: MethodPolicy) -> Self {
        self.methods.insert(method.into(), policy);
        self
    }
}

/// The policies of one method, overriding its target's where set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MethodPolicy {
    /// The timeout policy's name. Default: none (the target's).
    pub timeout: Option<String>,
    /// The retry policy's name. Default: none (the target's).
    pub retry: Option<String>,
    /// The circuit breaker policy's name (Dapr: `circuitBreaker`). Default: none (the
    /// target's).
    #[serde(alias = "circuitBreaker")]
    pub circuit_breaker: Option<String>,
}

impl MethodPolicy {
    /// Sets [`MethodPolicy::timeout`].
    pub fn timeout(mut self, name: impl Into<String>) -> Self {
        self.timeout = Some(name.into());
        self
    }

    /// Sets [`MethodPolicy::retry`].
    pub fn retry(mut self, name: impl Into<String>) -> Self {
        self.retry = Some(name.into());
        self
    }

    /// Sets [`MethodPolicy::circuit_breaker`].
    pub fn circuit_breaker(mut self, name: impl Into<String>) -> Self {
        self.circuit_breaker = Some(name.into());
        self
    }
}
