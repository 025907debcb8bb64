//! Mailboxes: what travels to an activation, and the table slot that points to it.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::call::CallOrigin;
use super::chain::CallChain;
use super::deadline::Deadline;
use crate::codec::Codec;
use crate::error::Error;
use crate::state::ETag;
use bytes::Bytes;
use tokio::sync::{mpsc, oneshot, watch};

/// One call on its way to a turn.
#[derive(Debug)]
pub(crate) struct CallEnvelope {
    pub(crate) method: Cow<'static, str>,
    pub(crate) payload: Bytes,
    pub(crate) codec: Codec,
    pub(crate) deadline: Deadline,
    pub(crate) chain: Option<CallChain>,
    pub(crate) reply: oneshot::Sender<Result<Bytes, Error>>,
    /// `None` for a call; a reminder firing (which also runs as a call turn) says so here.
    /// Boxed: the envelope is moved several times per call, and past ~128 bytes every move
    /// becomes a `memcpy` call (measured: ~290 instructions per call).
    pub(crate) origin: Option<Box<CallOrigin>>,
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
    /// The idle scanner found it idle after this many call turns; the activation obeys only if
    /// no call turn ran since.
    Idle(u64),
    /// The host is shutting down.
    Shutdown,
    /// A commit found a newer owner epoch: another activation owns the actor now.
    Fenced,
    /// Placement moved the actor to another host.
    Rebalance,
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
    /// Call turns served so far (written by the activation only).
    uses: AtomicU64,
    /// Resolves (with an error) once the activation has fully ended.
    pub(crate) done: watch::Receiver<()>,
    /// The idle scanner's bookkeeping: the `uses` it saw last, and since when (ms since the
    /// host's epoch) it has not changed. A counter instead of a clock read per call.
    scanned_uses: AtomicU64,
    unchanged_since_ms: AtomicU64,
    /// The owner epoch this activation took (the ETag of the actor's epoch key), when fencing.
    /// Here rather than in the activation, so that writes from outside a turn's `Context` (an
    /// app's state API through weftd) carry it too.
    pub(crate) epoch: Mutex<Option<ETag>>,
    /// Set when a write found a newer owner epoch: this activation must go, writing nothing.
    pub(crate) fenced: AtomicBool,
}

impl Mailbox {
    pub(crate) fn new(
        tx: mpsc::Sender<Envelope>,
        reentrant_tx: mpsc::UnboundedSender<CallEnvelope>,
        now_ms: u64,
        done: watch::Receiver<()>,
    ) -> Self {
        Self {
            tx,
            reentrant_tx,
            done,
            uses: AtomicU64::new(0),
            scanned_uses: AtomicU64::new(0),
            unchanged_since_ms: AtomicU64::new(now_ms),
            epoch: Mutex::new(None),
            fenced: AtomicBool::new(false),
        }
    }

    /// Records one served call turn. Only the activation's task writes `uses`.
    pub(crate) fn touch(&self) {
        let n = self.uses.load(Ordering::Relaxed);
        self.uses.store(n.wrapping_add(1), Ordering::Relaxed);
    }

    pub(crate) fn uses(&self) -> u64 {
        self.uses.load(Ordering::Relaxed)
    }

    /// For the idle scanner: `Some(uses)` when no call turn ran for at least `idle_ms`.
    pub(crate) fn idle_check(&self, now_ms: u64, idle_ms: u64) -> Option<u64> {
        let uses = self.uses();
        if uses != self.scanned_uses.load(Ordering::Relaxed) {
            self.scanned_uses.store(uses, Ordering::Relaxed);
            self.unchanged_since_ms.store(now_ms, Ordering::Relaxed);
            return None;
        }
        let since = self.unchanged_since_ms.load(Ordering::Relaxed);
        (now_ms.saturating_sub(since) >= idle_ms).then_some(uses)
    }
}

/// An entry of an actor type's activation table.
#[derive(Debug)]
pub(crate) enum Slot {
    /// Running: send calls here.
    Active(Arc<Mailbox>),
    /// Finishing its last turns (which may still write state); a new activation must wait
    /// until the activation dropped the sender of the mailbox's `done`.
    Deactivating(Arc<Mailbox>),
}

impl Slot {
    pub(crate) fn is_mailbox(&self, mailbox: &Arc<Mailbox>) -> bool {
        matches!(self, Slot::Active(m) if Arc::ptr_eq(m, mailbox))
    }

    /// The activation's mailbox, running or deactivating.
    pub(crate) fn mailbox(&self) -> &Arc<Mailbox> {
        match self {
            Slot::Active(m) | Slot::Deactivating(m) => m,
        }
    }
}

/// What the rest of the host sees of its activation table (`actor::table`): a narrow view, so
/// that the handle does not depend on the table.
pub(crate) trait LocalActors: Send + Sync + std::fmt::Debug {
    /// Whether the host's shutdown has begun.
    fn is_shutting_down(&self) -> bool;

    /// The number of active actors of `actor_type` on this host.
    fn active_count(&self, actor_type: &str) -> usize;

    /// The mailbox of actor `actor_type`/`id` if it has an activation here (active or
    /// deactivating); `None` when this host does not serve the type at all.
    fn mailbox(&self, actor_type: &str, id: &str) -> Option<Option<Arc<Mailbox>>>;
}
