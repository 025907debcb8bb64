//! Which policies apply to one call: the method's override, else the target's, else a Dapr
//! default policy.

use std::sync::Arc;
use std::time::Duration;

use super::policy::{BreakerPolicy, Resiliency, RetryPolicy};
use super::targets::TargetPolicy;

/// What a call is addressed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target<'a> {
    /// A service invocation to the app with this app id.
    App(&'a str),
    /// An actor call to an actor of this type.
    Actor(&'a str),
}

/// The policies that apply to one call, from [`Resiliency::resolve`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResolvedPolicy {
    /// How long one attempt may take, if a timeout applies.
    pub timeout: Option<Duration>,
    /// The retry policy, if one applies.
    pub retry: Option<Arc<RetryPolicy>>,
    /// The circuit breaker policy and its name, if one applies.
    pub breaker: Option<(String, Arc<BreakerPolicy>)>,
}

/// One kind of policy: its field on a target and its name in Dapr's default policy names.
#[derive(Clone, Copy)]
enum Kind {
    Timeout,
    Retry,
    CircuitBreaker,
}

impl Kind {
    /// Dapr's default policy names for this kind on `target`, most specific first.
    fn default_names(self, target: Target<'_>) -> [&'static str; 2] {
        match (target, self) {
            (Target::App(_), Kind::Timeout) => ["DefaultAppTimeoutPolicy", "DefaultTimeoutPolicy"],
            (Target::App(_), Kind::Retry) => ["DefaultAppRetryPolicy", "DefaultRetryPolicy"],
            (Target::App(_), Kind::CircuitBreaker) => [
                "DefaultAppCircuitBreakerPolicy",
                "DefaultCircuitBreakerPolicy",
            ],
            (Target::Actor(_), Kind::Timeout) => {
                ["DefaultActorTimeoutPolicy", "DefaultTimeoutPolicy"]
            }
            (Target::Actor(_), Kind::Retry) => ["DefaultActorRetryPolicy", "DefaultRetryPolicy"],
            (Target::Actor(_), Kind::CircuitBreaker) => [
                "DefaultActorCircuitBreakerPolicy",
                "DefaultCircuitBreakerPolicy",
            ],
        }
    }
}

impl Resiliency {
    /// The policies for a call of `method` on `target`.
    ///
    /// For each kind of policy (timeout, retry, circuit breaker) the first that names one wins:
    /// the target's `methods.<method>` override, the target itself, the policy named
    /// `Default{App|Actor}{Kind}Policy`, then `Default{Kind}Policy` (Dapr's default policies).
    /// A name with no policy behind it resolves to none; [`Resiliency::validate`] rejects such
    /// specs, and the loaders and builder run it.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use weft_runtime::resiliency::{MethodPolicy, Resiliency, Target, TargetPolicy};
    ///
    /// let spec = Resiliency::builder()
    ///     .timeout("general", Duration::from_secs(5))
    ///     .timeout("slow", Duration::from_secs(60))
    ///     .actor("cart", TargetPolicy::default()
    ///         .timeout("general")
    ///         .method("checkout", MethodPolicy::default().timeout("slow")))
    ///     .build()?;
    /// let at = |m| spec.resolve(Target::Actor("cart"), m).timeout;
    /// assert_eq!(at("add"), Some(Duration::from_secs(5)));
    /// assert_eq!(at("checkout"), Some(Duration::from_secs(60)));
    /// # Ok::<(), weft_runtime::Error>(())
    /// ```
    pub fn resolve(&self, target: Target<'_>, method: &str) -> ResolvedPolicy {
        let target_policy = match target {
            Target::App(id) => self.targets.apps.get(id),
            Target::Actor(ty) => self.targets.actors.get(ty),
        };
        let name_of = |kind| self.policy_name(target, target_policy, method, kind);
        let policies = &self.policies;
        ResolvedPolicy {
            timeout: name_of(Kind::Timeout).and_then(|n| policies.timeouts.get(n).copied()),
            retry: name_of(Kind::Retry).and_then(|n| policies.retries.get(n).cloned()),
            breaker: name_of(Kind::CircuitBreaker).and_then(|n| {
                let policy = policies.circuit_breakers.get(n)?;
                Some((n.to_owned(), Arc::clone(policy)))
            }),
        }
    }

    /// Whether `target` has per-method overrides: only then do its policies depend on the
    /// method, and callers that cache the policies per target must resolve per call.
    pub(crate) fn has_method_policies(&self, target: Target<'_>) -> bool {
        let target_policy = match target {
            Target::App(id) => self.targets.apps.get(id),
            Target::Actor(ty) => self.targets.actors.get(ty),
        };
        target_policy.is_some_and(|tp| !tp.methods.is_empty())
    }

    fn policy_name<'s>(
        &'s self,
        target: Target<'_>,
        target_policy: Option<&'s TargetPolicy>,
        method: &str,
        kind: Kind,
    ) -> Option<&'s str> {
        let pick = |p: (&'s Option<String>, &'s Option<String>, &'s Option<String>)| match kind {
            Kind::Timeout => p.0.as_deref(),
            Kind::Retry => p.1.as_deref(),
            Kind::CircuitBreaker => p.2.as_deref(),
        };
        if let Some(tp) = target_policy {
            if let Some(mp) = tp.methods.get(method) {
                if let Some(name) = pick((&mp.timeout, &mp.retry, &mp.circuit_breaker)) {
                    return Some(name);
                }
            }
            if let Some(name) = pick((&tp.timeout, &tp.retry, &tp.circuit_breaker)) {
                return Some(name);
            }
        }
        kind.default_names(target)
            .into_iter()
            .find_map(|name| self.policy_key(kind, name))
    }

    /// The stored key equal to `name`, if a policy of `kind` has that name.
    fn policy_key(&self, kind: Kind, name: &str) -> Option<&str> {
        let p = &self.policies;
        match kind {
            Kind::Timeout => p.timeouts.get_key_value(name).map(|(k, _)| k.as_str()),
            Kind::Retry => p.retries.get_key_value(name).map(|(k, _)| k.as_str()),
            Kind::CircuitBreaker => p
                .circuit_breakers
                .get_key_value(name)
                .map(|(k, _)| k.as_str()),
        }
    }
}
