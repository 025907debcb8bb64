//! An activation's timers: not persisted, each a task that puts firings into the mailbox.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use tokio::task::AbortHandle;

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

use crate::actor::mailbox::{Envelope, TimerFire};
use crate::actor::timer::Timer;
use crate::error::Error;
use crate::sync::lock;
use tokio::sync::mpsc;

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

/// An activation's timers, by name.
#[derive(Debug)]
pub(crate) struct Timers {
    entries: Mutex<HashMap<String, TimerEntry>>,
    generation: AtomicU64,
    /// The activation's mailbox, where firings go; weak, so timers never keep it open.
    tx: mpsc::WeakSender<Envelope>,
}

impl Timers {
    pub(super) fn new(tx: mpsc::WeakSender<Envelope>) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(0),
            tx,
        }
    }

    pub(crate) fn register(&self, timer: Timer) -> Result<(), Error> {
        timer.validate()?;
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        let tx = self.tx.clone();
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
        if let Some(old) = lock(&self.entries).insert(timer.name, entry) {
            old.abort.abort();
        }
        Ok(())
    }

    pub(crate) fn unregister(&self, name: &str) -> bool {
        match lock(&self.entries).remove(name) {
            Some(t) => {
                t.abort.abort();
                true
            }
            None => false,
        }
    }

    pub(crate) fn names(&self) -> Vec<String> {
        lock(&self.entries).keys().cloned().collect()
    }

    pub(super) fn cancel_all(&self) {
        for (_, t) in lock(&self.entries).drain() {
            t.abort.abort();
        }
    }

    /// The callback and data of a timer firing, or None when the firing is stale.
    pub(super) fn take_fire(
        &self,
        fire: &TimerFire,
    ) -> Option<(std::borrow::Cow<'static, str>, Bytes)> {
        let mut timers = lock(&self.entries);
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
}
