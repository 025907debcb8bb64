//! The per-host reminder queue: what this host owns and is due within a short horizon, by due
//! time. It only queues: `run` polls the store into it and `fire` fires what comes due.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, Semaphore};

use super::record::now_ms;
use crate::actor::ActorType;
use crate::error::{Error, ErrorKind};
use crate::placement::table::Lookup;
use crate::placement::Cluster;
use crate::state::StateKey;
use crate::sync::lock;

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
    pub(super) config: ReminderConfig,
    queue: Mutex<Queue>,
    pub(super) in_flight: Mutex<HashSet<StateKey>>,
    pub(super) wake: Notify,
    pub(super) permits: Arc<Semaphore>,
    pub(super) fired: AtomicU64,
    pub(super) duplicates: AtomicU64,
    pub(super) retried: AtomicU64,
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
    pub(super) fn take_due(&self, now_ms: u64) -> Vec<(StateKey, ActorType)> {
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

    pub(super) fn next_due_ms(&self) -> Option<u64> {
        lock(&self.queue).by_due.first().map(|(due, _)| *due)
    }
}

/// Whether this host should fire reminders of `actor_type`/`id` now: it owns the actor per its
/// table (always, outside a cluster), and no rebalance of the type is under way.
pub(crate) fn owns(cluster: Option<&Cluster>, actor_type: &str, id: &str) -> bool {
    match cluster {
        None => true,
        Some(cluster) => matches!(cluster.tables.lookup(actor_type, id),
            Lookup::Owner { host_id, .. } if host_id == cluster.host_id),
    }
}
