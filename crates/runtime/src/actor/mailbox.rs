//! Mailboxes: what travels to an activation, and the table slot that points to it.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use super::CallChain;
use crate::codec::Codec;
use crate::error::Error;

/// One call on its way to a turn.
#[derive(Debug)]
pub(crate) struct CallEnvelope {
    pub(crate) method: Cow<'static, str>,
    pub(crate) payload: Bytes,
    pub(crate) codec: Codec,
    pub(crate) deadline: Instant,
    pub(crate) chain: Option<CallChain>,
    pub(crate) reply: oneshot::Sender<Result<Bytes, Error>>,
}

/// A timer firing; stale when the timer was replaced or removed since (generation differs).
#[derive(Debug)]
pub(crate) struct TimerFire {
    pub(crate) name: String,
    pub(crate) generation: u64,
}

/// Why an activation should end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeactivateReason {
    /// The idle scanner found it idle; the activation re-checks before obeying.
    Idle,
    /// The host is shutting down.
    Shutdown,
}

/// Everything an activation's task receives through its mailbox.
#[derive(Debug)]
pub(crate) enum Envelope {
    Call(CallEnvelope),
    Timer(TimerFire),
    Deactivate(DeactivateReason),
}

/// The sending side of one activation.
#[derive(Debug)]
pub(crate) struct Mailbox {
    pub(crate) tx: mpsc::Sender<Envelope>,
    /// Calls that re-enter this actor from its own call chain; served even mid-turn.
    pub(crate) reentrant_tx: mpsc::UnboundedSender<CallEnvelope>,
    /// Milliseconds since the host's epoch at which the last call turn ended.
    last_used_ms: AtomicU64,
}

impl Mailbox {
    pub(crate) fn new(
        tx: mpsc::Sender<Envelope>,
        reentrant_tx: mpsc::UnboundedSender<CallEnvelope>,
        now_ms: u64,
    ) -> Self {
        Self {
            tx,
            reentrant_tx,
            last_used_ms: AtomicU64::new(now_ms),
        }
    }

    pub(crate) fn touch(&self, now_ms: u64) {
        self.last_used_ms.store(now_ms, Ordering::Relaxed);
    }

    pub(crate) fn idle_ms(&self, now_ms: u64) -> u64 {
        now_ms.saturating_sub(self.last_used_ms.load(Ordering::Relaxed))
    }
}

/// An entry of an actor type's activation table.
#[derive(Debug)]
pub(crate) enum Slot {
    /// Running: send calls here.
    Active(Arc<Mailbox>),
    /// Finishing its last turns; a new activation must wait until the sender side is dropped.
    Deactivating(watch::Receiver<()>),
}

impl Slot {
    pub(crate) fn is_mailbox(&self, mailbox: &Arc<Mailbox>) -> bool {
        matches!(self, Slot::Active(m) if Arc::ptr_eq(m, mailbox))
    }
}
