//! Virtual actors: the [`Actor`] trait, the per-turn [`Context`], identities and the turn loop.
//!
//! An actor is *virtual*: it always exists, conceptually. The host activates it on its first call
//! (creating the object, then [`Actor::on_activate`], which usually loads state) and deactivates it
//! after it has been idle for a while ([`Actor::on_deactivate`]). Calls run as **turns**: at most
//! one turn runs inside an actor at any moment, so an actor's code needs no locks, while turns of
//! different actors run in parallel.
//!
//! Why `&self` and not `&mut self`: a reentrant call (A → B → A) runs a nested turn of A while A's
//! first turn is suspended waiting for B. Both turns need the actor at once, which `&mut self`
//! cannot express soundly. The runtime still guarantees turn exclusivity outside reentrancy; keep
//! the actor's durable data in [`Context::state`], and any in-memory fields behind a cheap lock
//! (never held across an `.await`). `#[actor]` generates all of this for plain `&mut self` methods.

pub(crate) mod activation;
pub(crate) mod call;
mod caller;
pub(crate) mod chain;
mod context;
pub(crate) mod deadline;
pub(crate) mod entry;
pub(crate) mod id;
pub(crate) mod mailbox;
pub mod names;
mod outside;
mod registration;
pub(crate) mod table;
pub(crate) mod timer;
pub(crate) mod typed;

pub use call::{Call, CallOrigin};
pub use caller::Caller;
pub use context::{ActorState, Context};
pub use id::{ActorId, ActorKey, ActorType};
pub use registration::ActorRegistration;
pub use timer::{Timer, MIN_PERIOD};
pub use typed::{ActorCell, ActorRef, TypedActor, STATE_KEY};

pub(crate) use chain::CallChain;
pub(crate) use deadline::{Deadline, TurnDeadline};

use std::future::Future;

use bytes::Bytes;

use crate::error::Error;

/// A virtual actor. The low-level trait: most code uses `#[weft::actor]` instead.
///
/// The host creates one instance per activation with the factory given at registration, calls
/// [`on_activate`](Actor::on_activate), then one [`handle`](Actor::handle) per turn, and
/// [`on_deactivate`](Actor::on_deactivate) before dropping it. State changes made through
/// [`Context::state`] during a turn are committed when the turn returns `Ok`, and discarded when
/// it returns `Err` or panics.
pub trait Actor: Send + Sync + Sized + 'static {
    /// Runs once when the actor is activated, as the activation's first turn. Default: nothing.
    ///
    /// # Errors
    /// An error fails the activation: the calls that caused it get the error, and the next call
    /// tries to activate again.
    fn on_activate(&self, ctx: &Context) -> impl Future<Output = Result<(), Error>> + Send {
        let _ = ctx;
        async { Ok(()) }
    }

    /// Runs once before the actor is deactivated (idle, shutdown), as its last turn. Default:
    /// nothing.
    ///
    /// # Errors
    /// An error is logged; the actor is deactivated anyway.
    fn on_deactivate(&self, ctx: &Context) -> impl Future<Output = Result<(), Error>> + Send {
        let _ = ctx;
        async { Ok(()) }
    }

    /// Runs one turn: a call of `call.method()` (or a timer callback) with its payload.
    ///
    /// # Errors
    /// Whatever the method fails with; it reaches the caller, and the turn's state changes are
    /// discarded. An unknown method should return [`ErrorKind::NotFound`](crate::ErrorKind).
    fn handle(
        &self,
        ctx: &Context,
        call: Call,
    ) -> impl Future<Output = Result<Bytes, Error>> + Send;
}
