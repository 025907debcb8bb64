//! Round-robin over an app's instances, skipping the ones recently ejected.
//!
//! # Why ejection lives here and not only in the circuit breaker
//!
//! The breaker is policy: it exists only where a resiliency spec configures one. Ejection is the
//! balancer's own hygiene and always on: an instance whose connection was refused is skipped for
//! a while ([`Balancer::new`]'s `ejection`), so a dead instance costs one failed connect per
//! ejection period instead of one per call, and comes back by itself once the period ends (a
//! restarted instance gets traffic again without anyone restarting the callers).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use dashmap::DashMap;
use tokio::time::Instant;

use crate::resolve::Instance;

/// Picks instances round-robin per app and keeps the ejection list.
#[derive(Debug)]
pub(crate) struct Balancer {
    /// The next position per `app/namespace`.
    cursors: DashMap<String, AtomicUsize, foldhash::fast::RandomState>,
    /// Ejected instance addresses, until when.
    ejected: DashMap<String, Instant, foldhash::fast::RandomState>,
    /// How many entries `ejected` has, so that the usual case (none) costs one load instead of
    /// a look at every shard of the map. Updated after the map, so it may briefly lag: a call
    /// then sees an ejection a moment late, which is harmless.
    ejected_count: AtomicUsize,
    ejection: Duration,
}

impl Balancer {
    pub(crate) fn new(ejection: Duration) -> Self {
        Self {
            cursors: DashMap::default(),
            ejected: DashMap::default(),
            ejected_count: AtomicUsize::new(0),
            ejection,
        }
    }

    /// The index in `instances` of the next instance of `app` after the last one picked,
    /// skipping ejected instances and those `is_open` (circuit open) says to skip. When every
    /// instance is skipped, the one whose ejection ends first is tried anyway: a refused connect
    /// is cheap, and a recovered instance is found sooner.
    pub(crate) fn pick(
        &self,
        app: &str,
        instances: &[Instance],
        is_open: impl Fn(&Instance) -> bool,
    ) -> Option<usize> {
        if instances.is_empty() {
            return None;
        }
        let start = match self.cursors.get(app) {
            Some(cursor) => cursor.fetch_add(1, Ordering::Relaxed),
            None => self
                .cursors
                .entry(app.to_owned())
                .or_insert_with(|| AtomicUsize::new(0))
                .fetch_add(1, Ordering::Relaxed),
        };
        let n = instances.len();
        let now = (self.ejected_count.load(Ordering::Relaxed) > 0).then(Instant::now);
        let ejected_until = |i: &Instance| now.and_then(|now| self.ejected_until(&i.address, now));
        // Round-robin over the healthy instances (not "the next healthy after the cursor", which
        // would hand a skipped instance's share to its neighbour).
        let healthy = |i: &Instance| ejected_until(i).is_none() && !is_open(i);
        let count = instances.iter().filter(|i| healthy(i)).count();
        if count > 0 {
            return instances
                .iter()
                .enumerate()
                .filter(|(_, i)| healthy(i))
                .nth(start % count)
                .map(|(index, _)| index);
        }
        // Every instance is ejected or open: the ejected one that comes back first, else (all
        // open) the next in turn, whose breaker then answers with its clear error.
        instances
            .iter()
            .enumerate()
            .filter_map(|(index, i)| Some((index, ejected_until(i)?)))
            .min_by_key(|(_, until)| *until)
            .map(|(index, _)| index)
            .or(Some(start % n))
    }

    fn ejected_until(&self, address: &str, now: Instant) -> Option<Instant> {
        if self.ejected_count.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let until = *self.ejected.get(address)?;
        if until > now {
            return Some(until);
        }
        if self.ejected.remove_if(address, |_, u| *u <= now).is_some() {
            self.ejected_count.fetch_sub(1, Ordering::Relaxed);
        }
        None
    }

    /// Takes `address` out of rotation for the ejection period.
    pub(crate) fn eject(&self, address: &str) {
        let until = Instant::now() + self.ejection;
        if self.ejected.insert(address.to_owned(), until).is_none() {
            self.ejected_count.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(instance = %address, ejection = ?self.ejection, "instance ejected after a failed call");
        }
    }

    /// A successful call: the instance is healthy.
    pub(crate) fn restore(&self, address: &str) {
        if self.ejected_count.load(Ordering::Relaxed) > 0 && self.ejected.remove(address).is_some()
        {
            self.ejected_count.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Whether `address` is ejected now.
    pub(crate) fn is_ejected(&self, address: &str) -> bool {
        self.ejected_until(address, Instant::now()).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instances(n: usize) -> Vec<Instance> {
        (0..n)
            .map(|i| Instance {
                app_id: "backend".into(),
                namespace: "default".into(),
                address: format!("127.0.0.1:{}", 1000 + i),
            })
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn round_robin_spreads_evenly_and_skips_ejected_until_the_period_ends() {
        let b = Balancer::new(Duration::from_secs(5));
        let all = instances(3);
        let mut counts = [0usize; 3];
        for _ in 0..300 {
            counts[b.pick("backend", &all, |_| false).unwrap()] += 1;
        }
        assert_eq!(counts, [100, 100, 100]);

        b.eject(&all[1].address);
        let mut counts = [0usize; 3];
        for _ in 0..100 {
            counts[b.pick("backend", &all, |_| false).unwrap()] += 1;
        }
        assert_eq!(counts, [50, 0, 50], "the survivors share evenly");
        tokio::time::advance(Duration::from_secs(6)).await;
        assert!(!b.is_ejected(&all[1].address));
        let picked: Vec<_> = (0..3)
            .map(|_| all[b.pick("backend", &all, |_| false).unwrap()].clone())
            .collect();
        assert!(picked.contains(&all[1]), "back in rotation after ejection");
    }

    #[tokio::test(start_paused = true)]
    async fn all_ejected_still_tries_the_one_that_comes_back_first() {
        let b = Balancer::new(Duration::from_secs(5));
        let all = instances(2);
        b.eject(&all[1].address);
        tokio::time::advance(Duration::from_secs(1)).await;
        b.eject(&all[0].address);
        assert_eq!(b.pick("backend", &all, |_| false), Some(1));
        assert_eq!(b.pick("backend", &[], |_| false), None);
    }

    #[tokio::test]
    async fn open_circuits_are_skipped() {
        let b = Balancer::new(Duration::from_secs(5));
        let all = instances(3);
        for _ in 0..6 {
            let i = b.pick("backend", &all, |i| i == &all[0]).unwrap();
            assert_ne!(i, 0);
        }
    }
}
