//! What waits for an activation: its mailbox and the calls taken out of it while a turn runs,
//! and the guard that answers every waiting caller by its deadline.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, Sleep};

use crate::actor::deadline::{Deadline, TurnDeadline};
use crate::actor::id::ActorKey;
use crate::actor::mailbox::{CallEnvelope, Envelope};
use crate::error::Error;

type Reply = oneshot::Sender<Result<Bytes, Error>>;

/// The call whose turn is running. Its caller is answered at the deadline even if the turn is
/// not done (the turn then finishes, and commits if it succeeds, without a caller).
pub(super) struct Running<'a> {
    pub(super) reply: Option<Reply>,
    /// The turn's context's deadline: fixed by the inbox if the turn is still pending after its
    /// first poll, unless the turn's code needed it first.
    pub(super) deadline: &'a TurnDeadline,
    pub(super) method: std::borrow::Cow<'static, str>,
}

/// What waits for this activation: the mailbox, and calls already taken out of it while a turn
/// ran. While a turn is pending, one reusable timer keeps every waiting caller's deadline, so
/// callers on the fast path need no timer of their own (see `HostHandle::invoke`).
pub(super) struct Inbox {
    key: ActorKey,
    /// Whether this type takes re-entrant calls; if not, that channel never carries anything
    /// and is not polled (a measurable share of a turn's cost).
    reentrant: bool,
    rx: mpsc::Receiver<Envelope>,
    rx_open: bool,
    queue: VecDeque<Envelope>,
    /// Earliest deadline in `queue`; may be stale-early after pops (then it just wakes early).
    queue_deadline: Option<Instant>,
    sleep: Pin<Box<Sleep>>,
    armed: Option<Instant>,
}

impl Inbox {
    pub(super) fn new(key: ActorKey, reentrant: bool, rx: mpsc::Receiver<Envelope>) -> Self {
        Self {
            key,
            reentrant,
            rx,
            rx_open: true,
            queue: VecDeque::new(),
            queue_deadline: None,
            sleep: Box::pin(tokio::time::sleep_until(Instant::now())),
            armed: None,
        }
    }

    /// The next envelope: re-entrant calls first, then what was queued, then the mailbox. `None`
    /// once the mailbox is closed and empty.
    ///
    /// A poll function rather than an `async fn`: the activation waits here between any two
    /// calls, and one future layer fewer is measurable per call.
    pub(super) fn next<'a>(
        &'a mut self,
        reentrant_rx: &'a mut mpsc::UnboundedReceiver<CallEnvelope>,
    ) -> impl Future<Output = Option<Envelope>> + 'a {
        std::future::poll_fn(move |cx| self.poll_next(cx, reentrant_rx))
    }

    fn poll_next(
        &mut self,
        cx: &mut std::task::Context<'_>,
        reentrant_rx: &mut mpsc::UnboundedReceiver<CallEnvelope>,
    ) -> Poll<Option<Envelope>> {
        if self.reentrant {
            // A closed re-entrant channel (deactivation) just has nothing more to give.
            if let Poll::Ready(Some(call)) = reentrant_rx.poll_recv(cx) {
                return Poll::Ready(Some(Envelope::Call(call)));
            }
        }
        if let Some(envelope) = self.queue.pop_front() {
            if self.queue.is_empty() {
                self.queue_deadline = None;
            }
            return Poll::Ready(Some(envelope));
        }
        self.rx.poll_recv(cx)
    }

    /// Queues an envelope taken out of the mailbox while a turn runs. A call's deadline is
    /// fixed here (its timeout starts now, if it was not fixed yet), so it is kept while it waits.
    pub(super) fn push(&mut self, mut envelope: Envelope) {
        if let Envelope::Call(call) = &mut envelope {
            let deadline = call.deadline.instant();
            call.deadline = Deadline::At(deadline);
            self.queue_deadline = Some(self.queue_deadline.map_or(deadline, |d| d.min(deadline)));
        }
        self.queue.push_back(envelope);
    }

    pub(super) fn close(&mut self) {
        self.rx.close();
    }

    /// Runs `work` to completion while keeping deadlines: the running call's caller is answered
    /// when its deadline passes, and calls that arrive meanwhile are queued and failed at theirs.
    /// Work that completes on its first poll costs no timer and no clock read.
    ///
    /// `work` is pinned by the caller: moved into this future it would be copied once more on
    /// every turn.
    pub(super) fn guard<'a, 'r, F: Future>(
        &'a mut self,
        work: Pin<&'a mut F>,
        running: Option<&'a mut Running<'r>>,
    ) -> Guard<'a, 'r, F> {
        Guard {
            inbox: self,
            work,
            running,
        }
    }

    /// Answers every caller whose deadline has passed.
    fn expire(&mut self, running: Option<&mut Running<'_>>) {
        let now = Instant::now();
        if let Some(r) = running {
            if r.deadline.instant() <= now {
                if let Some(reply) = r.reply.take() {
                    let _ = reply.send(Err(Error::deadline(format!(
                        "the turn of {}.{} did not finish before the call's deadline (it goes \
                         on, and commits if it succeeds)",
                        self.key, r.method
                    ))));
                }
            }
        }
        let mut earliest: Option<Instant> = None;
        self.queue.retain_mut(|envelope| match envelope {
            // Queued calls had their deadlines fixed by `push`.
            Envelope::Call(call) if call.deadline.instant_from(now) <= now => {
                let (tx, _) = oneshot::channel();
                let reply = std::mem::replace(&mut call.reply, tx);
                let _ = reply.send(Err(Error::deadline(format!(
                    "call to {}.{} waited past its deadline for the actor's turn",
                    self.key, call.method
                ))));
                false
            }
            Envelope::Call(call) => {
                let deadline = call.deadline.instant_from(now);
                earliest = Some(earliest.map_or(deadline, |d| d.min(deadline)));
                true
            }
            _ => true,
        });
        self.queue_deadline = earliest;
    }
}

/// The future of [`Inbox::guard`]. Hand-written rather than an `async fn` with `select!`: it
/// sits between the mailbox and every turn, and each future layer there costs every call.
pub(super) struct Guard<'a, 'r, F> {
    inbox: &'a mut Inbox,
    work: Pin<&'a mut F>,
    running: Option<&'a mut Running<'r>>,
}

impl<F: Future> Future for Guard<'_, '_, F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<F::Output> {
        // Every field is a reference: `Guard` is `Unpin`.
        let this = self.get_mut();
        let inbox = &mut *this.inbox;
        loop {
            // The work first, and again after anything below happened (`select!`'s `biased`).
            if let Poll::Ready(out) = this.work.as_mut().poll(cx) {
                return Poll::Ready(out);
            }
            // Pending: fix and arm the earliest deadline among the running call (its lazy
            // deadline counts from now) and the queued ones.
            let running_deadline = this
                .running
                .as_ref()
                .filter(|r| r.reply.is_some())
                .map(|r| r.deadline.instant());
            let next = match (running_deadline, inbox.queue_deadline) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            if let Some(deadline) = next {
                if inbox.armed != Some(deadline) {
                    inbox.sleep.as_mut().reset(deadline);
                    inbox.armed = Some(deadline);
                }
            }
            if inbox.rx_open {
                match inbox.rx.poll_recv(cx) {
                    Poll::Ready(Some(envelope)) => {
                        inbox.push(envelope);
                        continue;
                    }
                    Poll::Ready(None) => {
                        inbox.rx_open = false;
                        continue;
                    }
                    Poll::Pending => {}
                }
            }
            if next.is_some() && inbox.sleep.as_mut().poll(cx).is_ready() {
                inbox.armed = None;
                inbox.expire(this.running.as_deref_mut());
                continue;
            }
            return Poll::Pending;
        }
    }
}
