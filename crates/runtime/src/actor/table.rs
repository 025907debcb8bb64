//! The local call path: [`ActivationTable`] holds this host's registered actor types and their
//! activations. A call finds its type, then the actor's slot: `Active` → the call goes into its
//! mailbox; absent → a new activation is inserted and spawned first; `Deactivating` → the call
//! waits until the old activation is fully gone, so an actor is never active twice on one host.
//! The whole path, including the wait for the actor's turn, is bounded by the call's deadline.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

use bytes::Bytes;
use dashmap::mapref::entry::Entry;
use futures::future::BoxFuture;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::task::TaskTracker;

use super::activation::{Activation, ActivationStart, Spawner};
use super::call::CallOrigin;
use super::chain::CallChain;
use super::deadline::Deadline;
use super::entry::TypeEntry;
use super::id::{ActorId, ActorKey, ActorType};
use super::mailbox::{CallEnvelope, DeactivateReason, Envelope, LocalActors, Mailbox, Slot};
use super::names::check_actor_id;
use crate::error::{Error, ErrorKind};
use crate::host::handle::{shutting_down, HostHandle, HostInner};
use crate::invoke::request::{ended, Reply, Request};
use crate::placement::table::Tables;
use crate::placement::Drain;

/// A registered type: its entry (settings and activations) and how to spawn an activation.
struct Registered {
    entry: Arc<TypeEntry>,
    spawner: Spawner,
}

/// This host's activations, by actor type.
pub(crate) struct ActivationTable {
    types: HashMap<ActorType, Registered, foldhash::fast::RandomState>,
    /// The host the activations belong to (their contexts hand it out). Weak: the host owns
    /// this table.
    host: Weak<HostInner>,
    /// Every activation's task: shutdown waits for them.
    tracker: TaskTracker,
    /// The runtime the host was started on: activations run there, whoever calls.
    runtime: tokio::runtime::Handle,
    /// Set when the host's shutdown begins: no new calls, no new activations.
    shutting_down: AtomicBool,
    mailbox_capacity: usize,
    /// The idle clock's origin.
    epoch: Instant,
}

impl fmt::Debug for ActivationTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActivationTable")
            .field("types", &self.types.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// What to do after one look at an actor's slot.
enum Step {
    Sent,
    WaitForRoom(Arc<Mailbox>, CallEnvelope),
    WaitForDeactivation(watch::Receiver<()>, CallEnvelope),
    Stale(Arc<Mailbox>, CallEnvelope),
    Activate(CallEnvelope),
}

impl ActivationTable {
    /// A table of `types` for the host behind `host`.
    pub(crate) fn new(
        types: Vec<(TypeEntry, Spawner)>,
        host: Weak<HostInner>,
        runtime: tokio::runtime::Handle,
        mailbox_capacity: usize,
    ) -> Self {
        let types = types
            .into_iter()
            .map(|(entry, spawner)| {
                let entry = Arc::new(entry);
                (entry.name.clone(), Registered { entry, spawner })
            })
            .collect();
        Self {
            types,
            host,
            tracker: TaskTracker::new(),
            runtime,
            shutting_down: AtomicBool::new(false),
            mailbox_capacity,
            epoch: Instant::now(),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Sends a call (or a turn of `origin`) to an actor of this host: checks it, then puts it
    /// into the actor's mailbox on the fast path, or hands back the slow path as the reply's
    /// future.
    pub(crate) fn send<'a>(
        &'a self,
        actor_type: &'a str,
        id: &'a str,
        request: Request,
        origin: Option<Box<CallOrigin>>,
    ) -> Result<Reply<'a>, Error> {
        let Request {
            method,
            payload,
            codec,
            deadline,
            chain,
            hop_count: _,
        } = request;
        if self.shutting_down.load(Ordering::Acquire) {
            return Err(shutting_down());
        }
        let Some(registered) = self.types.get(actor_type) else {
            return Err(unknown_type(actor_type, self.types.keys()));
        };
        check_actor_id(id)?;
        let ty = &registered.entry;
        let reentrant = match &chain {
            None => false,
            Some(chain) => check_chain(ty, actor_type, id, chain)?,
        };
        let (reply_tx, reply_rx) = oneshot::channel();
        let envelope = CallEnvelope {
            method,
            payload,
            codec,
            deadline,
            chain,
            reply: reply_tx,
            origin,
        };
        // Fast path: the actor is active and its mailbox has room. Its activation answers by
        // the deadline (see `activation::Inbox::guard`), so this caller needs no timer, nor
        // even the deadline as an instant.
        let envelope = if reentrant {
            envelope
        } else {
            match try_send_active(ty, id, envelope)? {
                None => {
                    return Ok(Reply::Mailbox {
                        reply: reply_rx,
                        actor_type,
                        id,
                    })
                }
                Some(envelope) => envelope,
            }
        };
        Ok(Reply::Waiting(Box::pin(self.invoke_queued(
            registered, actor_type, id, envelope, reentrant, reply_rx,
        ))))
    }

    /// The slow paths of `send_local` (activation, full mailbox, deactivating actor,
    /// re-entrant call): bounded by the call's deadline with a timer of the caller's own.
    async fn invoke_queued(
        &self,
        ty: &Registered,
        actor_type: &str,
        id: &str,
        mut envelope: CallEnvelope,
        reentrant: bool,
        reply_rx: oneshot::Receiver<Result<Bytes, Error>>,
    ) -> Result<Bytes, Error> {
        let deadline = envelope.deadline.instant();
        envelope.deadline = Deadline::At(deadline);
        let what = DeadlineText {
            actor_type,
            id,
            method: envelope.method.clone(),
        };
        let call = async {
            self.enqueue(ty, id, envelope, reentrant).await?;
            reply_rx.await.map_err(|_| ended(actor_type, id))?
        };
        match tokio::time::timeout_at(deadline, call).await {
            Ok(result) => result,
            Err(_) => Err(Error::deadline(what)),
        }
    }

    /// Puts a call into the actor's mailbox, activating the actor first if needed.
    async fn enqueue(
        &self,
        registered: &Registered,
        id: &str,
        mut envelope: CallEnvelope,
        reentrant: bool,
    ) -> Result<(), Error> {
        let ty = &registered.entry;
        loop {
            let step = match ty.table.get(id) {
                None => Step::Activate(envelope),
                Some(slot) => match slot.value() {
                    Slot::Deactivating(m) => Step::WaitForDeactivation(m.done.clone(), envelope),
                    Slot::Active(mailbox) if reentrant => {
                        match mailbox.reentrant_tx.send(envelope) {
                            Ok(()) => Step::Sent,
                            Err(e) => Step::Stale(Arc::clone(mailbox), e.0),
                        }
                    }
                    Slot::Active(mailbox) => match mailbox.tx.try_send(Envelope::Call(envelope)) {
                        Ok(()) => Step::Sent,
                        Err(TrySendError::Full(e)) => {
                            Step::WaitForRoom(Arc::clone(mailbox), into_call(e)?)
                        }
                        Err(TrySendError::Closed(e)) => {
                            Step::Stale(Arc::clone(mailbox), into_call(e)?)
                        }
                    },
                },
            };
            envelope = match step {
                Step::Sent => return Ok(()),
                Step::Activate(e) => {
                    self.activate(registered, id)?;
                    e
                }
                Step::WaitForDeactivation(mut done, e) => {
                    // Resolves with an error once the old activation drops its sender.
                    let _ = done.changed().await;
                    e
                }
                Step::WaitForRoom(mailbox, e) => match mailbox.tx.send(Envelope::Call(e)).await {
                    Ok(()) => return Ok(()),
                    Err(e) => into_call(e.0)?,
                },
                Step::Stale(mailbox, e) => {
                    // A mailbox that closed without its slot moving on: its task is gone.
                    ty.table.remove_if(id, |_, slot| slot.is_mailbox(&mailbox));
                    tokio::task::yield_now().await;
                    e
                }
            };
            if self.shutting_down.load(Ordering::Acquire) {
                return Err(shutting_down());
            }
        }
    }

    /// Inserts and spawns a new activation of `id`, unless another caller just did.
    fn activate(&self, registered: &Registered, id: &str) -> Result<(), Error> {
        let ty = &registered.entry;
        let Some(host) = self.host.upgrade() else {
            return Err(shutting_down());
        };
        let (tx, rx) = mpsc::channel(self.mailbox_capacity);
        let (reentrant_tx, reentrant_rx) = mpsc::unbounded_channel();
        let (done_tx, done_rx) = watch::channel(());
        let mailbox = Arc::new(Mailbox::new(tx, reentrant_tx, self.now_ms(), done_rx));
        let actor_id = ActorId::from(id);
        match ty.table.entry(actor_id.clone()) {
            Entry::Occupied(_) => return Ok(()),
            Entry::Vacant(v) => {
                v.insert(Slot::Active(Arc::clone(&mailbox)));
            }
        }
        // Checked after inserting: either shutdown sees this slot, or we see its flag.
        if self.shutting_down.load(Ordering::SeqCst) {
            ty.table.remove_if(id, |_, slot| slot.is_mailbox(&mailbox));
            return Err(shutting_down());
        }
        let key = ActorKey::new(ty.name.clone(), actor_id);
        tracing::debug!(actor = %key, "activating");
        let host = HostHandle { inner: host };
        let activation = Arc::new(Activation::new(key, host, Arc::clone(ty), mailbox));
        let start = ActivationStart {
            activation,
            rx,
            reentrant_rx,
            done: done_tx,
        };
        self.tracker
            .spawn_on((registered.spawner)(start), &self.runtime);
        Ok(())
    }

    /// Shutdown begins: calls are refused from now on, and no actor activates any more.
    pub(crate) fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }

    /// Starts one idle scanner per type; they run until aborted.
    pub(crate) fn spawn_idle_scanners(self: &Arc<Self>) -> Vec<JoinHandle<()>> {
        self.types
            .values()
            .map(|r| tokio::spawn(scan_idle(Arc::clone(self), Arc::clone(&r.entry))))
            .collect()
    }

    /// Shutdown: how many actors are active, and the future that asks each to deactivate
    /// (finish its turns, commit, `on_deactivate`) and waits until every activation task has
    /// ended.
    pub(crate) fn deactivate_all(&self) -> (usize, impl Future<Output = ()> + '_) {
        let mailboxes: Vec<Arc<Mailbox>> = self
            .types
            .values()
            .flat_map(|r| {
                r.entry
                    .table
                    .iter()
                    .filter_map(|slot| match slot.value() {
                        Slot::Active(m) => Some(Arc::clone(m)),
                        Slot::Deactivating(_) => None,
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        let count = mailboxes.len();
        let all = async move {
            for mailbox in mailboxes {
                let _ = mailbox
                    .tx
                    .send(Envelope::Deactivate(DeactivateReason::Shutdown))
                    .await;
            }
            self.tracker.close();
            self.tracker.wait().await;
        };
        (count, all)
    }
}

impl ActivationTable {
    /// Whether this host serves `actor_type`.
    pub(crate) fn serves(&self, actor_type: &str) -> bool {
        self.types.contains_key(actor_type)
    }
}

impl LocalActors for ActivationTable {
    fn active_count(&self, actor_type: &str) -> usize {
        self.types.get(actor_type).map_or(0, |r| {
            r.entry
                .table
                .iter()
                .filter(|s| matches!(s.value(), Slot::Active(_)))
                .count()
        })
    }

    fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }

    fn mailbox(&self, actor_type: &str, id: &str) -> Option<Option<Arc<Mailbox>>> {
        let r = self.types.get(actor_type)?;
        Some(r.entry.table.get(id).map(|slot| Arc::clone(slot.mailbox())))
    }
}

impl Drain for ActivationTable {
    /// Deactivates (finish turn, commit, `on_deactivate`) the local actors of `types` that
    /// `tables` place on another host than `host_id`, and waits until they are gone.
    fn drain_moved<'a>(
        &'a self,
        tables: &'a Tables,
        types: &'a [String],
        host_id: &'a str,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let mut moving = Vec::new();
            for actor_type in types {
                let Some(r) = self.types.get(actor_type.as_str()) else {
                    continue;
                };
                for slot in r.entry.table.iter() {
                    if let Slot::Active(mailbox) = slot.value() {
                        let owner = tables.owner_id(actor_type, slot.key().as_str());
                        if owner.as_deref() != Some(host_id) {
                            moving.push(Arc::clone(mailbox));
                        }
                    }
                }
            }
            if !moving.is_empty() {
                tracing::info!(actors = moving.len(), "draining actors placed elsewhere");
            }
            let waits = moving.into_iter().map(|mailbox| async move {
                let mut done = mailbox.done.clone();
                let _ = mailbox
                    .tx
                    .send(Envelope::Deactivate(DeactivateReason::Rebalance))
                    .await;
                // Resolves with an error once the activation dropped its `done` sender.
                while done.changed().await.is_ok() {}
            });
            futures::future::join_all(waits).await;
        })
    }
}

struct DeadlineText<'a> {
    actor_type: &'a str,
    id: &'a str,
    method: Cow<'static, str>,
}

impl fmt::Display for DeadlineText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "call to {}/{}.{} got no reply before its deadline",
            self.actor_type, self.id, self.method
        )
    }
}

/// Sends to the actor's mailbox if it is active and has room; gives the call back otherwise.
fn try_send_active(
    ty: &TypeEntry,
    id: &str,
    envelope: CallEnvelope,
) -> Result<Option<CallEnvelope>, Error> {
    let Some(slot) = ty.table.get(id) else {
        return Ok(Some(envelope));
    };
    let Slot::Active(mailbox) = slot.value() else {
        return Ok(Some(envelope));
    };
    match mailbox.tx.try_send(Envelope::Call(envelope)) {
        Ok(()) => Ok(None),
        Err(e) => into_call(e.into_inner()).map(Some),
    }
}

fn into_call(envelope: Envelope) -> Result<CallEnvelope, Error> {
    match envelope {
        Envelope::Call(call) => Ok(call),
        _ => Err(Error::new(
            ErrorKind::Internal,
            "a non-call envelope came back from a send",
        )),
    }
}

/// Decides whether a call made within `chain` may go to `actor_type`/`id`, and whether it re-enters.
fn check_chain(
    ty: &TypeEntry,
    actor_type: &str,
    id: &str,
    chain: &CallChain,
) -> Result<bool, Error> {
    let limits = ty.config.reentrancy;
    if chain.depth() >= limits.max_stack_depth {
        return Err(Error::new(
            ErrorKind::Reentrancy,
            format!(
                "call chain {} is deeper than the maximum of {} actors",
                chain.describe_with(actor_type, id),
                limits.max_stack_depth
            ),
        ));
    }
    if !chain.contains(actor_type, id) {
        return Ok(false);
    }
    if !limits.enabled {
        return Err(Error::new(
            ErrorKind::Reentrancy,
            format!(
                "call cycle {} would deadlock: {actor_type}/{id} is already waiting in this call \
                 chain and reentrancy is disabled for actor type `{actor_type}`",
                chain.describe_with(actor_type, id)
            ),
        ));
    }
    Ok(true)
}

fn unknown_type<'a>(actor_type: &str, known: impl Iterator<Item = &'a ActorType>) -> Error {
    let mut known: Vec<&str> = known.map(ActorType::as_str).collect();
    known.sort_unstable();
    Error::new(
        ErrorKind::NotFound,
        format!(
            "unknown actor type `{actor_type}`; this host serves: {}",
            if known.is_empty() {
                "no actor types".to_owned()
            } else {
                known.join(", ")
            }
        ),
    )
}

/// Deactivates this type's idle actors every `scan_interval`.
async fn scan_idle(table: Arc<ActivationTable>, ty: Arc<TypeEntry>) {
    let mut interval = tokio::time::interval(ty.config.scan_interval);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let idle_ms = u64::try_from(ty.config.idle_timeout.as_millis()).unwrap_or(u64::MAX);
    loop {
        interval.tick().await;
        let now = table.now_ms();
        for slot in ty.table.iter() {
            if let Slot::Active(mailbox) = slot.value() {
                if let Some(uses) = mailbox.idle_check(now, idle_ms) {
                    // A full mailbox means the actor is busy, not idle.
                    let _ = mailbox
                        .tx
                        .try_send(Envelope::Deactivate(DeactivateReason::Idle(uses)));
                }
            }
        }
    }
}
