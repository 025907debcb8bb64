//! Circuit breakers, one per target instance: closed, open after consecutive failures,
//! half-open after a while to let probes test the instance, closed again when they succeed.
//!
//! The state lives in a [`BreakerRegistry`] keyed by instance (any string: `"backend/10.0.0.7:50051"`).
//! Only instances that are failing or tripped have an entry, so the registry stays as small as
//! the set of unhealthy instances. [`BreakerLayer`] puts a registry in front of a service;
//! [`BreakerRegistry::state`] lets other code (a load balancer ejecting instances) read the same
//! state directly.

mod error;
mod future;
mod layer;
mod registry;

pub use future::BreakerFuture;
pub use layer::{Breaker, BreakerLayer};
pub use registry::BreakerRegistry;

/// The state of one instance's circuit, for routing decisions and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BreakerState {
    /// Calls go through; consecutive failures are being counted.
    Closed,
    /// Calls fail fast until the open timeout passes.
    Open,
    /// A limited number of probe calls go through to test the instance.
    HalfOpen,
}

impl BreakerState {
    /// `"closed"`, `"open"` or `"half_open"`: a metrics label value.
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

impl std::fmt::Display for BreakerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
