#![doc = include_str!("../README.md")]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

// Actors: the trait and the `#[weft::actor]` macro, what a turn sees, and the ids.
pub use weft_macros::actor;
pub use weft_runtime::actor::ActorRef;
pub use weft_runtime::{
    Actor, ActorId, ActorKey, ActorRegistration, ActorState, ActorType, Call, CallOrigin, Codec,
    Context, Timer,
};

// Hosts: build one, run it, call into it.
pub use weft_runtime::{CallOptions, Host, HostBuilder, HostHandle};

// Settings: `Default` (or `new`) plus setters named after each knob.
pub use weft_runtime::{ActorTypeConfig, ClusterConfig, HostConfig, Reentrancy, ReminderConfig};

// Durable reminders.
pub use weft_runtime::{Reminder, ReminderInfo, ReminderOutcome, ReminderStats};

// Service invocation between apps.
pub use weft_runtime::{ServiceCall, ServiceRequest, ServiceResponse};

// Durable state: the store trait and the stores that ship with weft (sled and Redis behind their
// features).
#[cfg(feature = "redis")]
pub use weft_runtime::RedisStore;
#[cfg(feature = "sled")]
pub use weft_runtime::SledStore;
pub use weft_runtime::{MemoryStore, StateStore};

// Errors.
pub use weft_runtime::{Error, ErrorKind};

// Modules reached through paths: `weft::state::StateKey`, `weft::resiliency::Resiliency`,
// `weft::security::WorkloadIdentity`, `weft::layers::RetryLayer`, ...
pub use weft_runtime::{actor, layers, resiliency, resolve, security, state, telemetry};

/// Test support for your tests (feature `test-util`): the [`StateStore`] conformance suite
/// ([`testing::conformance`]) for stores of your own, and fakes.
#[cfg(feature = "test-util")]
pub use weft_runtime::testing;

/// What `#[weft::actor]`-generated code uses. Not a public API: it may change in any release.
#[doc(hidden)]
pub use weft_runtime::__private;
