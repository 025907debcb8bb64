//! The builder: the same [`Resiliency`] struct a policy file fills in, from code.

use std::sync::Arc;
use std::time::Duration;

use super::policy::{BreakerPolicy, Resiliency, RetryPolicy};
use super::targets::TargetPolicy;
use crate::error::Error;

/// Builds a [`Resiliency`] spec from code; [`ResiliencyBuilder::build`] validates it exactly as
/// the loaders do.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use weft_runtime::resiliency::{BreakerPolicy, Resiliency, RetryPolicy, Target, TargetPolicy};
///
/// let spec = Resiliency::builder()
///     .timeout("general", Duration::from_secs(5))
///     .retry("fast", RetryPolicy::constant(Duration::from_millis(100)).max_retries(3))
///     .circuit_breaker("instance", BreakerPolicy::trip_after(5))
///     .app("backend", TargetPolicy::default()
///         .timeout("general")
///         .retry("fast")
///         .circuit_breaker("instance"))
///     .build()?;
/// let resolved = spec.resolve(Target::App("backend"), "get");
/// assert_eq!(resolved.breaker.map(|(name, _)| name).as_deref(), Some("instance"));
/// # Ok::<(), weft_runtime::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct ResiliencyBuilder {
    spec: Resiliency,
}

impl Resiliency {
    /// A builder for a spec with no policies and no targets.
    pub fn builder() -> ResiliencyBuilder {
        ResiliencyBuilder::default()
    }
}

impl ResiliencyBuilder {
    /// Adds (or replaces) the timeout policy `name`.
    pub fn timeout(mut self, name: impl Into<String>, timeout: Duration) -> Self {
        self.spec.policies.timeouts.insert(name.into(), timeout);
        self
    }

    /// Adds (or replaces) the retry policy `name`.
    pub fn retry(mut self, name: impl Into<String>, policy: RetryPolicy) -> Self {
        self.spec
            .policies
            .retries
            .insert(name.into(), Arc::new(policy));
        self
    }

    /// Adds (or replaces) the circuit breaker policy `name`.
    pub fn circuit_breaker(mut self, name: impl Into<String>, policy: BreakerPolicy) -> Self {
        self.spec
            .policies
            .circuit_breakers
            .insert(name.into(), Arc::new(policy));
        self
    }

    /// Sets the policies of calls to the app `app_id`.
    pub fn app(mut self, app_id: impl Into<String>, policy: TargetPolicy) -> Self {
        self.spec.targets.apps.insert(app_id.into(), policy);
        self
    }

    /// Sets the policies of calls to actors of type `actor_type`.
    pub fn actor(mut self, actor_type: impl Into<String>, policy: TargetPolicy) -> Self {
        self.spec.targets.actors.insert(actor_type.into(), policy);
        self
    }

    /// Restricts the spec to these app ids (Dapr's `scopes`). Default: every app.
    pub fn scopes<I, S>(mut self, app_ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.spec.scopes = app_ids.into_iter().map(Into::into).collect();
        self
    }

    /// Validates and returns the spec.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) as
    /// [`Resiliency::validate`].
    pub fn build(self) -> Result<Resiliency, Error> {
        self.spec.validate()?;
        Ok(self.spec)
    }
}
