//! One activation: the task that owns an actor instance and runs its turns one at a time.
//!
//! Life of an activation: created by the first call (the host inserts an `Active` slot and spawns
//! [`lifecycle::run`]), `on_activate` as the first turn, call and timer turns until it is told to go (idle
//! or shutdown), then: slot becomes `Deactivating` (new callers wait), timers stop, the mailbox
//! closes, queued calls still run, `on_deactivate` runs, and the slot is removed — only then may
//! a new activation of the same actor start. A panicking turn resets the instance to the last
//! committed state.

mod commit;
mod inbox;
pub(crate) mod lifecycle;
mod timers;
mod turn;

pub(crate) use commit::{fence, fenced_error, Pending, EPOCH_KEY};

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::future::BoxFuture;
use tokio::sync::{mpsc, watch};

use super::entry::TypeEntry;
use super::id::ActorKey;
use super::mailbox::{CallEnvelope, Envelope, Mailbox};
use crate::host::handle::HostHandle;
use crate::state::StateKey;
use timers::Timers;

/// A committed value of one state key, as this activation last saw it in the store.
#[derive(Debug, Clone)]
pub(crate) struct Cached {
    pub(crate) value: Option<Bytes>,
    pub(crate) etag: Option<crate::state::ETag>,
}

/// What an activation shares with its turns' contexts.
#[derive(Debug)]
pub(crate) struct Activation {
    pub(crate) key: ActorKey,
    pub(crate) host: HostHandle,
    pub(crate) ty: Arc<TypeEntry>,
    pub(crate) mailbox: Arc<Mailbox>,
    /// Committed state by key name; the source of ETags for the next commit.
    pub(crate) committed: Mutex<HashMap<String, Cached>>,
    /// Serialises commits (nested reentrant turns may finish while another commits).
    commit_lock: tokio::sync::Mutex<()>,
    pub(crate) timers: Timers,
    /// Set when a turn panicked or a commit failed: the instance may not match committed state.
    needs_reset: AtomicBool,
}

impl Activation {
    pub(crate) fn new(
        key: ActorKey,
        host: HostHandle,
        ty: Arc<TypeEntry>,
        mailbox: Arc<Mailbox>,
    ) -> Self {
        let timers = Timers::new(mailbox.tx.downgrade());
        Self {
            key,
            host,
            ty,
            mailbox,
            committed: Mutex::new(HashMap::new()),
            commit_lock: tokio::sync::Mutex::new(()),
            timers,
            needs_reset: AtomicBool::new(false),
        }
    }

    pub(crate) fn state_key(&self, name: &str) -> StateKey {
        StateKey::actor(
            &self.host.config().app_id,
            self.key.actor_type.as_str(),
            self.key.id.as_str(),
            name,
        )
    }
}

/// Handed to a new activation's task.
#[derive(Debug)]
pub(crate) struct ActivationStart {
    pub(crate) activation: Arc<Activation>,
    pub(crate) rx: mpsc::Receiver<Envelope>,
    pub(crate) reentrant_rx: mpsc::UnboundedReceiver<CallEnvelope>,
    /// Dropped when the task ends: waiters on `Mailbox::done` then proceed.
    pub(crate) done: watch::Sender<()>,
}

/// Spawns the task of a new activation of one registered type.
pub(crate) type Spawner = Arc<dyn Fn(ActivationStart) -> BoxFuture<'static, ()> + Send + Sync>;
