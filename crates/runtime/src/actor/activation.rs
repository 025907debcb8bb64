//! One activation: the task that owns an actor instance and runs its turns one at a time.
//!
//! Life of an activation: created by the first call (the host inserts an `Active` slot and spawns
//! [`run`]), `on_activate` as the first turn, call and timer turns until it is told to go (idle
//! or shutdown), then: slot becomes `Deactivating` (new callers wait), timers stop, the mailbox
//! closes, queued calls still run, `on_deactivate` runs, and the slot is removed — only then may
//! a new activation of the same actor start. A panicking turn resets the instance to the last
//! committed state.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;

use bytes::Bytes;
use futures::future::Either;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::AbortHandle;
use tokio::time::{Instant, Sleep};
use tracing::instrument::Instrumented;
use tracing::{Instrument, Span};

use super::context::{lock, Context};
use super::mailbox::{DeactivateReason, Mailbox, TimerFire};
use super::names::check_state_key;
use super::{
    Actor, ActorId, ActorKey, Call, CallEnvelope, CallOrigin, Deadline, Envelope, Slot, Timer,
    TurnDeadline, TypeEntry,
};
use crate::codec::Codec;
use crate::error::{Error, ErrorKind};
use crate::host::HostHandle;
use crate::state::{Condition, Operation, StateKey};

/// A committed value of one state key, as this activation last saw it in the store.
#[derive(Debug, Clone)]
pub(crate) struct Cached {
    pub(crate) value: Option<Bytes>,
    pub(crate) etag: Option<crate::state::ETag>,
}

#[derive(Debug)]
struct TimerEntry {
    generation: u64,
    callback: std::borrow::Cow<'static, str>,
    data: Bytes,
    /// Firings left (`None`: until unregistered); the entry goes with its last one.
    left: Option<u32>,
    /// When the timer stops firing, by its TTL.
    expires: Option<tokio::time::Instant>,
    abort: AbortHandle,
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
    timers: Mutex<HashMap<String, TimerEntry>>,
    timer_generation: AtomicU64,
    /// Set when a turn panicked or a commit failed: the instance may not match committed state.
    needs_reset: AtomicBool,
    weak_tx: mpsc::WeakSender<Envelope>,
}

impl Activation {
    pub(crate) fn new(
        key: ActorKey,
        host: HostHandle,
        ty: Arc<TypeEntry>,
        mailbox: Arc<Mailbox>,
    ) -> Self {
        let weak_tx = mailbox.tx.downgrade();
        Self {
            key,
            host,
            ty,
            mailbox,
            committed: Mutex::new(HashMap::new()),
            commit_lock: tokio::sync::Mutex::new(()),
            timers: Mutex::new(HashMap::new()),
            timer_generation: AtomicU64::new(0),
            needs_reset: AtomicBool::new(false),
            weak_tx,
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

    pub(crate) fn register_timer(&self, timer: Timer) -> Result<(), Error> {
        timer.validate()?;
        let generation = self.timer_generation.fetch_add(1, Ordering::Relaxed) + 1;
        let tx = self.weak_tx.clone();
        let name = timer.name.clone();
        let (due, period, mut left) = (timer.due, timer.period, timer.repetitions);
        // validate() checked that both instants are representable.
        let now = tokio::time::Instant::now();
        let expires = timer.ttl.and_then(|ttl| now.checked_add(ttl));
        let task = tokio::spawn(async move {
            tokio::time::sleep(due).await;
            loop {
                if expires.is_some_and(|e| tokio::time::Instant::now() >= e) {
                    return;
                }
                let Some(tx) = tx.upgrade() else { return };
                let fire = TimerFire {
                    name: name.clone(),
                    generation,
                };
                if tx.send(Envelope::Timer(fire)).await.is_err() {
                    return;
                }
                drop(tx);
                left = left.map(|n| n.saturating_sub(1));
                match period {
                    Some(p) if left != Some(0) => tokio::time::sleep(p).await,
                    _ => return,
                }
            }
        });
        let entry = TimerEntry {
            generation,
            callback: timer.callback,
            data: timer.data,
            // Firings the entry still takes: the firing task sends no more than this.
            left: match period {
                Some(_) => timer.repetitions,
                None => Some(1),
            },
            expires,
            abort: task.abort_handle(),
        };
        if let Some(old) = lock(&self.timers).insert(timer.name, entry) {
            old.abort.abort();
        }
        Ok(())
    }

    pub(crate) fn unregister_timer(&self, name: &str) -> bool {
        match lock(&self.timers).remove(name) {
            Some(t) => {
                t.abort.abort();
                true
            }
            None => false,
        }
    }

    pub(crate) fn timer_names(&self) -> Vec<String> {
        lock(&self.timers).keys().cloned().collect()
    }

    fn cancel_timers(&self) {
        for (_, t) in lock(&self.timers).drain() {
            t.abort.abort();
        }
    }

    /// The callback and data of a timer firing, or None when the firing is stale.
    fn take_timer_fire(&self, fire: &TimerFire) -> Option<(std::borrow::Cow<'static, str>, Bytes)> {
        let mut timers = lock(&self.timers);
        let entry = timers.get(&fire.name)?;
        if entry.generation != fire.generation {
            return None;
        }
        if entry
            .expires
            .is_some_and(|e| tokio::time::Instant::now() >= e)
        {
            timers.remove(&fire.name);
            return None;
        }
        let out = (entry.callback.clone(), entry.data.clone());
        let entry = timers.get_mut(&fire.name)?;
        entry.left = entry.left.map(|n| n.saturating_sub(1));
        if entry.left == Some(0) {
            timers.remove(&fire.name);
        }
        Some(out)
    }

    /// Commits a turn's pending changes in one transaction, conditional on the ETags this
    /// activation last saw. On failure nothing is committed and the affected keys are dropped
    /// from the cache, so the next read sees the store.
    async fn commit(&self, ctx: &Context) -> Result<(), Error> {
        let pending = ctx.take_pending();
        if pending.is_empty() {
            return Ok(());
        }
        // Sorted, so a transaction's key order is deterministic.
        let pending: BTreeMap<String, Option<Bytes>> = pending.into_iter().collect();
        for key in pending.keys() {
            check_state_key(key)?;
        }
        let _serial = self.commit_lock.lock().await;
        let store = self.host.store()?;
        // Keys this activation never read: learn their ETags first.
        let unknown: Vec<&String> = {
            let committed = lock(&self.committed);
            pending
                .keys()
                .filter(|k| !committed.contains_key(*k))
                .collect()
        };
        if !unknown.is_empty() {
            let keys: Vec<StateKey> = unknown.iter().map(|k| self.state_key(k)).collect();
            let found = store.bulk_get(&keys).await?;
            let mut committed = lock(&self.committed);
            for (name, v) in unknown.into_iter().zip(found) {
                committed.entry(name.clone()).or_insert(Cached {
                    etag: v.as_ref().map(|v| v.etag),
                    value: v.map(|v| v.value),
                });
            }
        }
        if self.mailbox.fenced.load(Ordering::Acquire) {
            return Err(fenced_error(&self.key));
        }
        let epoch = *lock(&self.mailbox.epoch);
        let epoch_key = self.state_key(EPOCH_KEY);
        let mut ops: Vec<Operation> = {
            let committed = lock(&self.committed);
            pending
                .iter()
                .map(|(name, value)| {
                    let condition = Condition::from_seen(committed.get(name).and_then(|c| c.etag));
                    let key = self.state_key(name);
                    match value {
                        Some(v) => Operation::Set {
                            key,
                            value: v.clone(),
                            condition,
                        },
                        None => Operation::Delete { key, condition },
                    }
                })
                .collect()
        };
        if let Some(epoch) = epoch {
            ops.push(Operation::Check {
                key: epoch_key.clone(),
                condition: Condition::Matches(epoch),
            });
        }
        match store.transact(ops).await {
            Ok(etags) => {
                let mut committed = lock(&self.committed);
                for ((name, value), etag) in pending.into_iter().zip(etags) {
                    committed.insert(name, Cached { value, etag });
                }
                Ok(())
            }
            Err(e) if epoch.is_some() && e.is_conflict() && e.key() == Some(&epoch_key) => {
                Err(fence(&self.mailbox, &self.key))
            }
            Err(e) => {
                let mut committed = lock(&self.committed);
                for name in pending.keys() {
                    committed.remove(name);
                }
                drop(committed);
                self.needs_reset.store(true, Ordering::Release);
                Err(Error::from(e))
            }
        }
    }
}

/// Marks the activation behind `mailbox` fenced: a newer activation took the owner epoch.
pub(crate) fn fence(mailbox: &Mailbox, key: &ActorKey) -> Error {
    if !mailbox.fenced.swap(true, Ordering::AcqRel) {
        tracing::warn!(actor = %key, "fenced: a newer activation took the owner epoch; deactivating");
        // Also when no turn is running (a write from outside one): the activation goes now. A
        // full mailbox has turns queued, after each of which the activation checks the flag.
        let _ = mailbox
            .tx
            .try_send(Envelope::Deactivate(DeactivateReason::Fenced));
    }
    fenced_error(key)
}

pub(crate) fn fenced_error(key: &ActorKey) -> Error {
    Error::new(
        ErrorKind::Conflict,
        format!(
            "{key} was fenced: a newer activation of it (elsewhere) took its owner epoch, so \
             this activation's writes are refused and it deactivates"
        ),
    )
}

/// The state key holding an actor's owner epoch (a counter bumped by every fenced activation).
pub(crate) const EPOCH_KEY: &str = "__weft_epoch";

impl Activation {
    /// Takes a new owner epoch for this actor: read the counter, write it + 1 conditional on
    /// what was read; retried when another activation raced us.
    async fn take_epoch(&self) -> Result<(), Error> {
        let store = self.host.store()?;
        let key = self.state_key(EPOCH_KEY);
        for _ in 0..8 {
            let current = store.get(&key).await?;
            let (n, condition) = match &current {
                Some(v) => (
                    <[u8; 8]>::try_from(&v.value[..]).map_or(0, u64::from_be_bytes),
                    Condition::Matches(v.etag),
                ),
                None => (0, Condition::Absent),
            };
            let next = Bytes::copy_from_slice(&n.wrapping_add(1).to_be_bytes());
            match store.set(&key, next, condition).await {
                Ok(etag) => {
                    *lock(&self.mailbox.epoch) = Some(etag);
                    return Ok(());
                }
                Err(e) if e.is_conflict() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::new(
            ErrorKind::Conflict,
            format!(
                "{}: could not take the owner epoch: other activations keep taking it",
                self.key
            ),
        ))
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

type Factory<A> = Arc<dyn Fn(&ActorId) -> A + Send + Sync>;
type Reply = oneshot::Sender<Result<Bytes, Error>>;

/// The call whose turn is running. Its caller is answered at the deadline even if the turn is
/// not done (the turn then finishes, and commits if it succeeds, without a caller).
struct Running<'a> {
    reply: Option<Reply>,
    /// The turn's context's deadline: fixed by the inbox if the turn is still pending after its
    /// first poll, unless the turn's code needed it first.
    deadline: &'a TurnDeadline,
    method: std::borrow::Cow<'static, str>,
}

/// What waits for this activation: the mailbox, and calls already taken out of it while a turn
/// ran. While a turn is pending, one reusable timer keeps every waiting caller's deadline, so
/// callers on the fast path need no timer of their own (see `HostHandle::invoke`).
struct Inbox {
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
    fn new(key: ActorKey, reentrant: bool, rx: mpsc::Receiver<Envelope>) -> Self {
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
    fn next<'a>(
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
    fn push(&mut self, mut envelope: Envelope) {
        if let Envelope::Call(call) = &mut envelope {
            let deadline = call.deadline.instant();
            call.deadline = Deadline::At(deadline);
            self.queue_deadline = Some(self.queue_deadline.map_or(deadline, |d| d.min(deadline)));
        }
        self.queue.push_back(envelope);
    }

    fn close(&mut self) {
        self.rx.close();
    }

    /// Runs `work` to completion while keeping deadlines: the running call's caller is answered
    /// when its deadline passes, and calls that arrive meanwhile are queued and failed at theirs.
    /// Work that completes on its first poll costs no timer and no clock read.
    ///
    /// `work` is pinned by the caller: moved into this future it would be copied once more on
    /// every turn.
    fn guard<'a, 'r, F: Future>(
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
struct Guard<'a, 'r, F> {
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

/// The activation task.
pub(crate) async fn run<A: Actor>(factory: Factory<A>, start: ActivationStart) {
    let ActivationStart {
        activation: act,
        rx,
        mut reentrant_rx,
        done: _done,
    } = start;
    let mut inbox = Inbox::new(act.key.clone(), act.ty.config.reentrancy.enabled, rx);
    let mut actor = Arc::new(factory(&act.key.id));
    if let Err(e) = inbox.guard(pin!(activate(&*actor, &act)), None).await {
        fail_activation(&act, inbox, reentrant_rx, e).await;
        return;
    }
    // Every call turn's context: reset, not made anew, per call.
    let mut turn_ctx = turn_context(&act);
    let reason = loop {
        let Some(envelope) = inbox.next(&mut reentrant_rx).await else {
            // Unreachable while our slot holds a sender; treat as a shutdown.
            break DeactivateReason::Shutdown;
        };
        match envelope {
            Envelope::Call(call) => {
                serve_call(
                    &*actor,
                    &act,
                    call,
                    &mut turn_ctx,
                    &mut inbox,
                    &mut reentrant_rx,
                )
                .await;
                act.mailbox.touch();
            }
            Envelope::Timer(fire) => serve_timer(&*actor, &act, &fire, &mut inbox).await,
            Envelope::Deactivate(DeactivateReason::Idle(uses)) if uses != act.mailbox.uses() => {
                continue
            }
            Envelope::Deactivate(reason) => break reason,
        }
        if act.mailbox.fenced.load(Ordering::Acquire) {
            break DeactivateReason::Fenced;
        }
        // A plain load first: the swap is a locked instruction, and a reset is rare.
        if act.needs_reset.load(Ordering::Acquire) && act.needs_reset.swap(false, Ordering::AcqRel)
        {
            // The instance may hold changes that were never committed: start it afresh from
            // the committed state, as a new activation would.
            act.cancel_timers();
            actor = Arc::new(factory(&act.key.id));
            if let Err(e) = inbox.guard(pin!(activate(&*actor, &act)), None).await {
                tracing::warn!(actor = %act.key, error = %e, "re-activation after a failed turn failed");
                fail_activation(&act, inbox, reentrant_rx, e).await;
                return;
            }
        }
    };
    deactivate(&*actor, &act, inbox, reentrant_rx, reason).await;
}

async fn activate<A: Actor>(actor: &A, act: &Arc<Activation>) -> Result<(), Error> {
    if let Some(refusal) = turn_refusal(act, "on_activate") {
        return Err(refusal);
    }
    if act.host.config().fencing {
        act.take_epoch().await?;
    }
    let deadline = own_turn_deadline(act);
    let ctx = Context::new(Arc::clone(act), None, deadline);
    let span = tracing::debug_span!("actor.activate", actor.type = %act.key.actor_type, actor.id = %act.key.id);
    execute(
        act,
        &ctx,
        actor.on_activate(&ctx).map(|r| r.map(|()| Bytes::new())),
    )
    .instrument(span)
    .await
    .map(drop)
}

/// Runs one call turn in `ctx` (reset for it), answering its caller by the deadline; with
/// reentrancy on, also serves calls of the same chain that re-enter while it waits (each in a
/// context of its own).
async fn serve_call<A: Actor>(
    actor: &A,
    act: &Arc<Activation>,
    call: CallEnvelope,
    ctx: &mut Context,
    inbox: &mut Inbox,
    reentrant_rx: &mut mpsc::UnboundedReceiver<CallEnvelope>,
) {
    let CallEnvelope {
        method,
        payload,
        codec,
        deadline,
        chain,
        reply,
        origin,
    } = call;
    if reply.is_closed() {
        return; // The caller stopped waiting (its deadline, or cancellation): skip the turn.
    }
    if let Some(refusal) = turn_refusal(act, &method) {
        let _ = reply.send(Err(refusal));
        return;
    }
    let span = tracing::info_span!("actor.turn", actor.type = %act.key.actor_type,
        actor.id = %act.key.id, method = %method, outcome = tracing::field::Empty);
    ctx.reset(chain, deadline);
    let ctx = &*ctx;
    let mut running = Running {
        reply: Some(reply),
        deadline: ctx.turn_deadline(),
        method: method.clone(),
    };
    let mut body = pin!(in_span(
        execute(
            act,
            ctx,
            actor.handle(
                ctx,
                Call::new(
                    method,
                    payload,
                    codec,
                    origin.map_or(CallOrigin::Call, |o| *o)
                )
            ),
        ),
        &span,
    ));
    let result = if act.ty.config.reentrancy.enabled {
        // Boxed, so this rarer path does not enlarge (and slow down) every turn's future.
        let mut body = Box::pin(with_nested_turns(body, actor, act, reentrant_rx));
        inbox.guard(body.as_mut(), Some(&mut running)).await
    } else {
        inbox.guard(body.as_mut(), Some(&mut running)).await
    };
    let result = acknowledgeable(act, &running.method, result);
    span.record("outcome", outcome(&result));
    if let Some(reply) = running.reply.take() {
        let _ = reply.send(result);
    }
}

/// Why a turn may not start: the activation was fenced (a newer one elsewhere owns the actor),
/// or this cluster host holds no placement lease (see `placement::lease`). Both are retry-safe:
/// nothing ran. Reads the clock only on a cluster host.
fn turn_refusal(act: &Activation, method: &str) -> Option<Error> {
    if act.mailbox.fenced.load(Ordering::Acquire) {
        let fenced = fenced_error(&act.key);
        return Some(Error::new(ErrorKind::Moved, fenced.message().to_owned()));
    }
    let cluster = act.host.lapsed_lease()?;
    Some(cluster.lease.refusal(
        &cluster.host_id,
        &format_args!("turn of {}.{method}", act.key),
    ))
}

/// A turn's result as its caller may see it: a success is acknowledged only while the host
/// still holds its placement lease and the activation was not fenced meanwhile (by a write from
/// outside the turn's context, e.g. an app's state API call through weftd).
fn acknowledgeable(
    act: &Activation,
    method: &str,
    result: Result<Bytes, Error>,
) -> Result<Bytes, Error> {
    let value = result?;
    if act.mailbox.fenced.load(Ordering::Acquire) {
        return Err(fenced_error(&act.key));
    }
    match act.host.lapsed_lease() {
        Some(cluster) => Err(cluster.lease.lapsed_during(
            &cluster.host_id,
            &format_args!("turn of {}.{method}", act.key),
        )),
        None => Ok(value),
    }
}

/// The deadline of a turn that serves no call (activation, timer, deactivation): fixed at the
/// turn's start. No inbox fixes it when such a turn waits, and these turns are off the call path.
fn own_turn_deadline(act: &Activation) -> Deadline {
    Deadline::At(Deadline::After(act.host.config().call_timeout).instant())
}

/// The context that `serve_call` resets for each call turn.
fn turn_context(act: &Arc<Activation>) -> Context {
    Context::new(
        Arc::clone(act),
        None,
        Deadline::After(act.host.config().call_timeout),
    )
}

/// Polls `outer` while running re-entrant calls (same chain, coming back to this actor) as
/// nested turns; returns `outer`'s result once it and every nested turn are done.
async fn with_nested_turns<A: Actor, T>(
    outer: impl Future<Output = T>,
    actor: &A,
    act: &Arc<Activation>,
    reentrant_rx: &mut mpsc::UnboundedReceiver<CallEnvelope>,
) -> T {
    futures::pin_mut!(outer);
    let mut nested = FuturesUnordered::new();
    let out = loop {
        tokio::select! {
            biased;
            out = &mut outer => break out,
            Some(()) = nested.next(), if !nested.is_empty() => {}
            Some(c) = reentrant_rx.recv() => nested.push(nested_turn(actor, act, c)),
        }
    };
    while nested.next().await.is_some() {}
    out
}

/// A re-entrant turn. Its caller keeps its own deadline (re-entrant calls take the timed path).
async fn nested_turn<A: Actor>(actor: &A, act: &Arc<Activation>, call: CallEnvelope) {
    let CallEnvelope {
        method,
        payload,
        codec,
        deadline,
        chain,
        reply,
        origin,
    } = call;
    if reply.is_closed() {
        return;
    }
    if let Some(refusal) = turn_refusal(act, &method) {
        let _ = reply.send(Err(refusal));
        return;
    }
    let call_method = method.clone();
    let span = tracing::info_span!("actor.turn", actor.type = %act.key.actor_type,
        actor.id = %act.key.id, method = %method, reentrant = true, outcome = tracing::field::Empty);
    let ctx = Context::new(Arc::clone(act), chain, deadline);
    let result = in_span(
        execute(
            act,
            &ctx,
            actor.handle(
                &ctx,
                Call::new(
                    method,
                    payload,
                    codec,
                    origin.map_or(CallOrigin::Call, |o| *o),
                ),
            ),
        ),
        &span,
    )
    .await;
    let result = acknowledgeable(act, &call_method, result);
    span.record("outcome", outcome(&result));
    let _ = reply.send(result);
}

async fn serve_timer<A: Actor>(
    actor: &A,
    act: &Arc<Activation>,
    fire: &TimerFire,
    inbox: &mut Inbox,
) {
    let Some((callback, data)) = act.take_timer_fire(fire) else {
        return;
    };
    if let Some(refusal) = turn_refusal(act, &callback) {
        tracing::debug!(actor = %act.key, timer = %fire.name, error = %refusal, "timer firing skipped");
        return;
    }
    let deadline = own_turn_deadline(act);
    let span = tracing::info_span!("actor.timer", actor.type = %act.key.actor_type,
        actor.id = %act.key.id, timer = %fire.name, method = %callback, outcome = tracing::field::Empty);
    let ctx = Context::new(Arc::clone(act), None, deadline);
    let call = Call::new(
        callback,
        data,
        Codec::Binary,
        CallOrigin::Timer(fire.name.clone()),
    );
    let body = pin!(in_span(execute(act, &ctx, actor.handle(&ctx, call)), &span));
    let result = inbox.guard(body, None).await;
    span.record("outcome", outcome(&result));
    if let Err(e) = result {
        tracing::warn!(parent: &span, error = %e, "timer callback failed");
    }
}

/// Runs a turn body, catching panics, and commits its state changes if it succeeded.
async fn execute(
    act: &Activation,
    ctx: &Context,
    body: impl Future<Output = Result<Bytes, Error>>,
) -> Result<Bytes, Error> {
    match AssertUnwindSafe(body).catch_unwind().await {
        Ok(Ok(value)) => {
            if ctx.has_pending() {
                // Boxed: the commit's future is large, and this future is moved on every turn.
                Box::pin(act.commit(ctx)).await?;
            }
            Ok(value)
        }
        // Pending changes die with the context: nothing is committed.
        Ok(Err(e)) => Err(e),
        Err(panic) => {
            act.needs_reset.store(true, Ordering::Release);
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic payload".to_owned());
            tracing::error!(actor = %act.key, panic = %what, "actor turn panicked");
            Err(Error::new(
                ErrorKind::ActorFailed,
                format!(
                    "turn of {} panicked ({what}); its changes were discarded and the actor \
                     restarts from its last committed state",
                    act.key
                ),
            ))
        }
    }
}

/// `work` inside `span`, or bare when no subscriber wants the span: `Instrumented` costs a
/// turn even around a disabled span (its enter and exit on every poll, one more future layer).
fn in_span<F: Future>(work: F, span: &Span) -> Either<F, Instrumented<F>> {
    if span.is_disabled() {
        Either::Left(work)
    } else {
        Either::Right(work.instrument(span.clone()))
    }
}

fn outcome(result: &Result<Bytes, Error>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(e) if e.kind() == ErrorKind::ActorFailed => "actor_error",
        Err(_) => "error",
    }
}

/// Ends an activation cleanly: see the module docs for the order of steps.
async fn deactivate<A: Actor>(
    actor: &A,
    act: &Arc<Activation>,
    mut inbox: Inbox,
    mut reentrant_rx: mpsc::UnboundedReceiver<CallEnvelope>,
    reason: DeactivateReason,
) {
    if let Some(mut slot) = act.ty.table.get_mut(act.key.id.as_str()) {
        if slot.is_mailbox(&act.mailbox) {
            *slot = Slot::Deactivating(Arc::clone(&act.mailbox));
        }
    }
    act.cancel_timers();
    inbox.close();
    reentrant_rx.close();
    // Calls queued before the close still get their turn, in order.
    let mut turn_ctx = turn_context(act);
    while let Some(envelope) = inbox.next(&mut reentrant_rx).await {
        if let Envelope::Call(call) = envelope {
            serve_call(
                actor,
                act,
                call,
                &mut turn_ctx,
                &mut inbox,
                &mut reentrant_rx,
            )
            .await;
        }
    }
    // A fenced activation runs `on_deactivate` too (an app behind weftd drops its cached state
    // there), but nothing it writes is committed: the fence refuses it before the store.
    {
        let deadline = own_turn_deadline(act);
        let ctx = Context::new(Arc::clone(act), None, deadline);
        let span = tracing::debug_span!("actor.deactivate", actor.type = %act.key.actor_type,
            actor.id = %act.key.id, reason = ?reason);
        let body = pin!(execute(
            act,
            &ctx,
            actor.on_deactivate(&ctx).map(|r| r.map(|()| Bytes::new())),
        )
        .instrument(span));
        if let Err(e) = inbox.guard(body, None).await {
            tracing::warn!(actor = %act.key, error = %e, "on_deactivate failed; deactivating anyway");
        }
    }
    act.ty.table.remove_if(
        act.key.id.as_str(),
        |_, slot| matches!(slot, Slot::Deactivating(m) if Arc::ptr_eq(m, &act.mailbox)),
    );
    // `run` drops the `done` sender when it returns, right after this.
}

/// The activation could not start: its slot goes, and every queued call gets the reason.
async fn fail_activation(
    act: &Arc<Activation>,
    mut inbox: Inbox,
    mut reentrant_rx: mpsc::UnboundedReceiver<CallEnvelope>,
    error: Error,
) {
    act.cancel_timers();
    act.ty
        .table
        .remove_if(act.key.id.as_str(), |_, slot| slot.is_mailbox(&act.mailbox));
    inbox.close();
    reentrant_rx.close();
    let message = format!("activation of {} failed: {}", act.key, error.message());
    while let Some(envelope) = inbox.next(&mut reentrant_rx).await {
        if let Envelope::Call(call) = envelope {
            let _ = call
                .reply
                .send(Err(Error::new(error.kind(), message.clone())));
        }
    }
}
