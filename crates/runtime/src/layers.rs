//! The tower middleware behind [resiliency policies](crate::resiliency), for composing your own
//! service stacks.
//!
//! A host applies these layers itself, from its [`Resiliency`](crate::resiliency::Resiliency)
//! spec, to every service and actor call; use them directly only to put the same behaviour in
//! front of a service of your own. Stack them outermost first: retry, then breaker, then
//! timeout, so each attempt gets its own timeout and counts once toward its instance's breaker.
//! Requests carry their deadline through [`HasDeadline`].
//!
//! # Examples
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use tokio::time::Instant;
//! use tower::ServiceBuilder;
//! use weft_runtime::layers::{BreakerLayer, BreakerRegistry, HasDeadline, RetryLayer, TimeoutLayer};
//! use weft_runtime::resiliency::{BreakerPolicy, RetryPolicy};
//! use weft_runtime::Error;
//!
//! #[derive(Clone)]
//! struct Ping { instance: String, deadline: Instant }
//!
//! impl HasDeadline for Ping {
//!     fn deadline(&self) -> Instant { self.deadline }
//! }
//!
//! let breakers = BreakerRegistry::new(Arc::new(BreakerPolicy::trip_after(5)));
//! let service = ServiceBuilder::new()
//!     .layer(RetryLayer::new(Arc::new(RetryPolicy::constant(Duration::from_millis(50)))))
//!     .layer(BreakerLayer::new(breakers, |p: &Ping| p.instance.clone()))
//!     .layer(TimeoutLayer::new("app backend", Some(Duration::from_secs(5))))
//!     .service_fn(|_p: Ping| async { Ok::<_, Error>("pong") });
//! # let _ = service;
//! ```

pub use crate::resiliency::breaker::{
    Breaker, BreakerFuture, BreakerLayer, BreakerRegistry, BreakerState,
};
pub use crate::resiliency::deadline::HasDeadline;
pub use crate::resiliency::retry::{Retry, RetryFuture, RetryLayer};
pub use crate::resiliency::timeout::{Timeout, TimeoutFuture, TimeoutLayer};
