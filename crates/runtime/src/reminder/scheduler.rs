//! The per-host reminder scheduler: polls each served type's due index a short horizon ahead,
//! queues what this host owns, and fires each reminder as a turn when it is due.
//!
//! Why poll an index and not keep every reminder in memory: a host then holds only what is due
//! soon, a new owner learns about moved reminders by its next poll (no re-read of all reminders
//! on a rebalance), and a reminder registered anywhere is seen everywhere through the store.
//! A local registration on the owner is queued at once, so short due times do not wait for a
//! poll.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, Semaphore};
use tokio::time::Instant;

use super::record::{index_key, now_ms, parse_record_key};
use crate::actor::ActorType;
use crate::error::{Error, ErrorKind};
use crate::host::HostHandle;
use crate::placement::table::Lookup;
use crate::state::StateKey;
use crate::telemetry::ReminderFiring;

/// How a host schedules reminders. Every field has a default.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use weft_runtime::ReminderConfig;
/// let c = ReminderConfig::default().poll_interval(Duration::from_millis(200));
/// assert_eq!(c.horizon, Duration::from_secs(2));
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct ReminderConfig {
    /// How often the host reads the due index of each actor type it serves. It bounds how soon
    /// a reminder registered elsewhere, or moved here by a rebalance, fires. Default: 1 s.
    pub poll_interval: Duration,
    /// How far ahead a poll looks; must be at least `poll_interval`, so every reminder is queued
    /// here before it is due. Default: 2 s.
    pub horizon: Duration,
    /// Index entries read per store request. Default: 1000.
    pub page_size: usize,
    /// Firings that may run at once on this host. Default: 512.
    pub max_concurrent_fires: usize,
}

impl Default for ReminderConfig {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(1),
            horizon: Duration::from_secs(2),
            page_size: 1000,
            max_concurrent_fires: 512,
        }
    }
}

impl ReminderConfig {
    /// Sets `poll_interval`, and raises `horizon` to twice it when it was shorter. Default: 1 s.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self.horizon = self.horizon.max(interval * 2);
        self
    }

    /// Sets `horizon`. Default: 2 s.
    pub fn horizon(mut self, horizon: Duration) -> Self {
        self.horizon = horizon;
        self
    }

    /// Sets `page_size`. Default: 1000.
    pub fn page_size(mut self, n: usize) -> Self {
        self.page_size = n;
        self
    }

    /// Sets `max_concurrent_fires`. Default: 512.
    pub fn max_concurrent_fires(mut self, n: usize) -> Self {
        self.max_concurrent_fires = n;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        let invalid = |m: String| Err(Error::new(ErrorKind::InvalidArgument, m));
        if self.poll_interval.is_zero() {
            return invalid("`reminders.poll_interval` is 0s; must be greater than zero".into());
        }
        if self.horizon < self.poll_interval {
            return invalid(format!(
                "`reminders.horizon` is {:?}; must be at least `poll_interval` ({:?})",
                self.horizon, self.poll_interval
            ));
        }
        if self.page_size == 0 || self.max_concurrent_fires == 0 {
            return invalid(
                "`reminders.page_size` and `max_concurrent_fires` must be greater than zero".into(),
            );
        }
        Ok(())
    }
}

/// Counters of this host's reminder firings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReminderStats {
    /// Firings whose turn ran (successfully or with an error of the callback).
    pub fired: u64,
    /// Firings found, after the turn, to repeat a period another host had already fired (two
    /// hosts both believed they owned the actor during a table change).
    pub duplicates: u64,
    /// Firings that could not run (store down, actor moving) and were retried later.
    pub retried: u64,
}

/// A reminder waiting in this host's queue.
#[derive(Debug, Clone)]
struct Queued {
    due_ms: u64,
    actor_type: ActorType,
}

#[derive(Debug, Default)]
struct Queue {
    by_due: BTreeSet<(u64, StateKey)>,
    entries: HashMap<StateKey, Queued>,
}

/// The reminder state a host shares between its scheduler task, its firings and its API.
#[derive(Debug)]
pub(crate) struct Scheduler {
    config: ReminderConfig,
    queue: Mutex<Queue>,
    in_flight: Mutex<HashSet<StateKey>>,
    wake: Notify,
    permits: Arc<Semaphore>,
    pub(super) fired: AtomicU64,
    pub(super) duplicates: AtomicU64,
    retried: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(super) fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Scheduler {
    pub(crate) fn new(config: ReminderConfig) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(config.max_concurrent_fires)),
            config,
            queue: Mutex::default(),
            in_flight: Mutex::default(),
            wake: Notify::new(),
            fired: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            retried: AtomicU64::new(0),
        }
    }

    pub(crate) fn stats(&self) -> ReminderStats {
        ReminderStats {
            fired: self.fired.load(Ordering::Relaxed),
            duplicates: self.duplicates.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
        }
    }

    /// Queues `key` to fire at `due_ms` if that is within the horizon (later ones are found by
    /// a poll), replacing an earlier queued time.
    pub(crate) fn enqueue(&self, key: StateKey, actor_type: ActorType, due_ms: u64) {
        if due_ms > now_ms().saturating_add(ms(self.config.horizon)) {
            self.dequeue(&key);
            return;
        }
        let mut q = lock(&self.queue);
        if let Some(old) = q.entries.get(&key) {
            if old.due_ms == due_ms {
                return;
            }
            let old_due = old.due_ms;
            q.by_due.remove(&(old_due, key.clone()));
        }
        q.by_due.insert((due_ms, key.clone()));
        q.entries.insert(key, Queued { due_ms, actor_type });
        drop(q);
        self.wake.notify_one();
    }

    pub(crate) fn dequeue(&self, key: &StateKey) {
        let mut q = lock(&self.queue);
        if let Some(old) = q.entries.remove(key) {
            q.by_due.remove(&(old.due_ms, key.clone()));
        }
    }

    /// Takes every queued reminder due by `now_ms`.
    fn take_due(&self, now_ms: u64) -> Vec<(StateKey, ActorType)> {
        let mut q = lock(&self.queue);
        let mut out = Vec::new();
        while let Some((due, key)) = q.by_due.first().cloned() {
            if due > now_ms {
                break;
            }
            q.by_due.pop_first();
            if let Some(entry) = q.entries.remove(&key) {
                out.push((key, entry.actor_type));
            }
        }
        out
    }

    fn next_due_ms(&self) -> Option<u64> {
        lock(&self.queue).by_due.first().map(|(due, _)| *due)
    }
}

/// The scheduler task of a host: runs until the host aborts it at shutdown.
pub(crate) async fn run(host: HostHandle) {
    let poll_every = host.reminders().config.poll_interval;
    let mut next_poll = Instant::now();
    loop {
        if Instant::now() >= next_poll {
            poll(&host).await;
            next_poll = Instant::now() + poll_every;
        }
        let now = now_ms();
        for (key, actor_type) in host.reminders().take_due(now) {
            start_firing(&host, key, actor_type);
        }
        let scheduler = host.reminders();
        let wake_at = match scheduler.next_due_ms() {
            Some(due) => {
                next_poll.min(Instant::now() + Duration::from_millis(due.saturating_sub(now)))
            }
            None => next_poll,
        };
        tokio::select! {
            () = tokio::time::sleep_until(wake_at) => {}
            () = scheduler.wake.notified() => {}
        }
    }
}

/// Whether this host should fire reminders of `actor_type`/`id` now: it owns the actor per its
/// table (always, outside a cluster), and no rebalance of the type is under way.
pub(crate) fn owns(host: &HostHandle, actor_type: &str, id: &str) -> bool {
    match host.cluster() {
        None => true,
        Some(cluster) => matches!(cluster.tables.lookup(actor_type, id),
            Lookup::Owner { host_id, .. } if host_id == cluster.host_id),
    }
}

/// Reads each served type's due index up to the horizon and queues what this host owns.
async fn poll(host: &HostHandle) {
    let scheduler = host.reminders();
    let Ok(store) = host.store() else { return };
    let app = host.config().app_id.clone();
    let until = now_ms().saturating_add(ms(scheduler.config.horizon));
    let page = scheduler.config.page_size;
    for actor_type in host.actor_types() {
        let index = index_key(&app, &actor_type);
        let ty = ActorType::from(actor_type.as_str());
        let mut offset = 0;
        loop {
            let entries = match store.scan_index(&index, until, offset, page).await {
                Ok(entries) => entries,
                Err(e) => {
                    tracing::warn!(actor.type = %actor_type, error = %e, "reminder poll failed; retrying at the next poll");
                    break;
                }
            };
            for entry in &entries {
                let Some((id, _)) = parse_record_key(&app, &actor_type, &entry.member) else {
                    continue;
                };
                if owns(host, &actor_type, id)
                    && !lock(&scheduler.in_flight).contains(&entry.member)
                {
                    scheduler.enqueue(entry.member.clone(), ty.clone(), entry.score);
                }
            }
            if entries.len() < page {
                break;
            }
            offset += entries.len();
        }
    }
}

/// Spawns one firing, unless the reminder is firing already.
fn start_firing(host: &HostHandle, key: StateKey, actor_type: ActorType) {
    let scheduler = host.reminders();
    if !lock(&scheduler.in_flight).insert(key.clone()) {
        return;
    }
    let host = host.clone();
    let permits = Arc::clone(&scheduler.permits);
    tokio::spawn(async move {
        let _permit = permits.acquire_owned().await;
        if let Err(e) = super::fire::fire(&host, &key, &actor_type).await {
            tracing::warn!(reminder = %key, error = %e, "reminder firing failed; retrying");
            host.reminders().retried.fetch_add(1, Ordering::Relaxed);
            if let Some(metrics) = host.metrics() {
                metrics.record_reminder(actor_type.as_str(), ReminderFiring::Retried);
            }
            let retry_at = now_ms().saturating_add(ms(host.reminders().config.poll_interval));
            host.reminders().enqueue(key.clone(), actor_type, retry_at);
        }
        lock(&host.reminders().in_flight).remove(&key);
    });
}
