//! The [`Context`] a turn runs with: identity, host handle, state, timers, outgoing calls.

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use tokio::time::Instant;

use super::activation::{Activation, Cached, Pending};
use super::caller::Caller;
use super::names::check_state_key;
use super::timer::Timer;
use super::{ActorId, ActorKey, ActorType, CallChain, Deadline, TurnDeadline};
use crate::codec::Codec;
use crate::error::Error;
#[cfg(doc)]
use crate::error::ErrorKind;
use crate::host::handle::HostHandle;
use crate::state::StateKey;
use crate::sync::lock;

/// What one turn sees of its actor and host.
///
/// A `Context` lives for one turn. State changes made through [`Context::state`] are pending
/// until the turn returns `Ok`; then the host commits them in one store transaction.
pub struct Context {
    activation: Arc<Activation>,
    chain: Option<CallChain>,
    deadline: TurnDeadline,
    pending: Mutex<Pending>,
    /// Set by the first change: a turn that made none skips the commit without locking.
    changed: AtomicBool,
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("actor", &self.activation.key)
            .field("deadline", &self.deadline.instant())
            .finish_non_exhaustive()
    }
}

impl Context {
    pub(crate) fn new(
        activation: Arc<Activation>,
        chain: Option<CallChain>,
        deadline: Deadline,
    ) -> Self {
        Self {
            activation,
            chain,
            deadline: TurnDeadline::new(deadline),
            pending: Mutex::new(Pending::default()),
            changed: AtomicBool::new(false),
        }
    }

    /// Makes this context the next turn's: that call's chain and deadline, no changes. Cheaper
    /// than a new context on every call turn: no reference count to bump on the activation.
    pub(crate) fn reset(&mut self, chain: Option<CallChain>, deadline: Deadline) {
        self.chain = chain;
        self.deadline = TurnDeadline::new(deadline);
        let pending = self
            .pending
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        if !pending.is_empty() {
            // A failed or panicked turn's changes: never committed.
            *pending = Pending::default();
        }
        self.pending.clear_poison();
        *self.changed.get_mut() = false;
    }

    /// This actor's id.
    pub fn id(&self) -> &ActorId {
        &self.activation.key.id
    }

    /// This actor's type.
    pub fn actor_type(&self) -> &ActorType {
        &self.activation.key.actor_type
    }

    /// This actor's type and id.
    pub fn key(&self) -> &ActorKey {
        &self.activation.key
    }

    /// The host this actor runs on, for calls that should not belong to this turn's call chain.
    pub fn host(&self) -> &HostHandle {
        &self.activation.host
    }

    /// When the call that started this turn stops waiting for it.
    ///
    /// A call made outside any turn carries only its timeout until an instant is needed; its
    /// timeout then counts from the turn's start at the latest (from the first of: this method,
    /// the turn still running after its first poll, the call waiting in the actor's queue).
    pub fn deadline(&self) -> Instant {
        self.deadline.instant()
    }

    pub(crate) fn turn_deadline(&self) -> &TurnDeadline {
        &self.deadline
    }

    /// The id of the call chain this turn belongs to, if it was called by another actor's turn.
    /// Every hop of one chain carries the same id (Dapr's reentrancy id).
    pub fn call_chain_id(&self) -> Option<u64> {
        self.chain.as_ref().map(CallChain::id)
    }

    /// The actor's durable state, as seen by this turn.
    pub fn state(&self) -> ActorState<'_> {
        ActorState { ctx: self }
    }

    /// Calls `method` of another actor (or this one, when reentrancy allows) as part of this
    /// turn's call chain. The call inherits this turn's deadline, capped by the host's default
    /// call timeout.
    ///
    /// # Errors
    /// As [`HostHandle::call`]; in addition [`ErrorKind::Reentrancy`] when the call would come
    /// back to an actor waiting in this chain and its type does not allow reentrancy.
    pub async fn call(
        &self,
        actor_type: &str,
        id: &str,
        method: impl Into<Cow<'static, str>>,
        payload: Bytes,
    ) -> Result<Bytes, Error> {
        let request = self.caller().request(method.into(), payload, Codec::Binary);
        self.activation
            .host
            .dispatch()
            .send(actor_type, id, request)?
            .await
    }

    /// The caller for calls made as part of this turn: they carry this turn's call chain and
    /// deadline.
    pub fn caller(&self) -> Caller {
        Caller::in_chain(
            self.activation.host.clone(),
            CallChain::extend(self.chain.as_ref(), &self.activation.key),
            self.deadline.instant(),
        )
    }

    /// Registers (or replaces) a timer of this activation. Timers fire as turns while the actor
    /// is active; they are not persisted and do not keep the actor from being deactivated.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] when the name is empty.
    pub fn register_timer(&self, timer: Timer) -> Result<(), Error> {
        self.activation.timers.register(timer)
    }

    /// Removes a timer. Returns whether it existed.
    pub fn unregister_timer(&self, name: &str) -> bool {
        self.activation.timers.unregister(name)
    }

    /// The names of this activation's timers.
    pub fn timer_names(&self) -> Vec<String> {
        self.activation.timers.names()
    }

    /// Whether this turn changed any state (cheaper than `take_pending` on a turn that did not).
    pub(crate) fn has_pending(&self) -> bool {
        self.changed.load(Ordering::Acquire)
    }

    pub(crate) fn take_pending(&self) -> Pending {
        self.changed.store(false, Ordering::Release);
        std::mem::take(&mut *lock(&self.pending))
    }

    fn stage(&self, key: String, value: Option<Bytes>) {
        lock(&self.pending).insert(key, value);
        self.changed.store(true, Ordering::Release);
    }
}

/// The actor's key/value state as one turn sees it: this turn's pending changes over the
/// activation's committed cache over the store.
///
/// Keys are short names (`"items"`); the store key is `app||type||id||name`.
#[derive(Debug, Clone, Copy)]
pub struct ActorState<'a> {
    ctx: &'a Context,
}

impl ActorState<'_> {
    /// Reads a key: this turn's own change if any, else the committed value (loaded from the
    /// store on first use and cached for the activation's lifetime).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] for a key that breaks [`names`](super::names)' rule;
    /// [`ErrorKind::Store`] when the store fails.
    pub async fn get(&self, key: &str) -> Result<Option<Bytes>, Error> {
        check_state_key(key)?;
        if let Some(v) = lock(&self.ctx.pending).get(key) {
            return Ok(v.clone());
        }
        let act = &self.ctx.activation;
        if let Some(c) = lock(&act.committed).get(key) {
            return Ok(c.value.clone());
        }
        let loaded = act.host.store()?.get(&act.state_key(key)).await?;
        let mut committed = lock(&act.committed);
        // A commit of this activation may have cached a newer value while we were loading.
        let entry = committed
            .entry(key.to_owned())
            .or_insert_with(|| match loaded {
                Some(v) => Cached {
                    value: Some(v.value),
                    etag: Some(v.etag),
                },
                None => Cached {
                    value: None,
                    etag: None,
                },
            });
        Ok(entry.value.clone())
    }

    /// Whether a key has a value.
    ///
    /// # Errors
    /// As [`ActorState::get`].
    pub async fn contains(&self, key: &str) -> Result<bool, Error> {
        Ok(self.get(key).await?.is_some())
    }

    /// Sets a key; committed when the turn succeeds.
    ///
    /// # Panics
    /// Never; a key that breaks [`names`](super::names)' rule (an empty one, say) fails the
    /// turn when it commits.
    pub fn set(&self, key: impl Into<String>, value: Bytes) {
        self.ctx.stage(key.into(), Some(value));
    }

    /// Removes a key; committed when the turn succeeds.
    pub fn delete(&self, key: impl Into<String>) {
        self.ctx.stage(key.into(), None);
    }

    /// Whether this turn has uncommitted changes.
    pub fn has_changes(&self) -> bool {
        !lock(&self.ctx.pending).is_empty()
    }

    /// The store key of a state key of this actor.
    pub fn store_key(&self, key: &str) -> StateKey {
        self.ctx.activation.state_key(key)
    }
}
