//! Span names for every cross-host hop, and the keys of their fields.
//!
//! Use these constants in `#[tracing::instrument(name = ...)]` and `tracing::info_span!` so that
//! span names stay consistent across the runtime (see STYLE.md §8).

/// Outbound invocation: a caller sending an actor or service call to another host.
pub const INVOKE_REMOTE: &str = "invoke.remote";
/// Inbound invocation: a host serving a call that arrived from another host.
pub const INVOKE_SERVE: &str = "invoke.serve";
/// One turn of an actor: the handling of one call by its activation.
pub const ACTOR_TURN: &str = "actor.turn";
/// A placement lookup: finding the host that owns an actor.
pub const PLACEMENT_LOOKUP: &str = "placement.lookup";
/// A placement dissemination round: a new table being spread to the hosts.
pub const PLACEMENT_ROUND: &str = "placement.round";
/// A call to the state store.
pub const STATE_STORE: &str = "state.store";
/// A reminder firing.
pub const REMINDER_FIRE: &str = "reminder.fire";

/// Span field keys.
pub mod fields {
    /// The actor type of the call.
    pub const ACTOR_TYPE: &str = "actor.type";
    /// The actor id of the call.
    pub const ACTOR_ID: &str = "actor.id";
    /// The target app id of a service call.
    pub const APP_ID: &str = "app.id";
    /// The method called.
    pub const METHOD: &str = "method";
    /// The host (address) the call goes to or came from.
    pub const HOST: &str = "host";
    /// The attempt number (1 for the first try, then one more per retry).
    pub const ATTEMPT: &str = "attempt";
    /// The call's outcome (see [`Outcome`](crate::telemetry::Outcome)).
    pub const OUTCOME: &str = "outcome";
    /// The W3C trace id, as 32 lowercase hex digits.
    pub const TRACE_ID: &str = "trace_id";
    /// The state-store operation (get, set, delete, transaction).
    pub const STORE_OP: &str = "store.op";
    /// The name of a reminder.
    pub const REMINDER: &str = "reminder";
}
