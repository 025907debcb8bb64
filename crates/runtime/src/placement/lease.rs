//! The host's ownership lease: how long it may still start and acknowledge turns of the actors
//! its table places on it.
//!
//! Placement answers every heartbeat (and the `Register`) with a lease of `duration`, counted
//! here from when the host *sent* that heartbeat, on this host's monotonic clock. Placement never
//! hands this host's actors to another host before `faulty_host_timeout` after it granted the
//! lease, which is longer than `duration` by a margin for clock rates and stalls (see
//! `weft_placement::PlacementConfig::lease_duration`). So a host that was paused (SIGSTOP, a
//! long GC-like stall, a VM freeze), partitioned from placement or starved finds its lease
//! lapsed when it runs again, and starts nothing until placement answered it again — by then
//! with a table that says who owns what now.
//!
//! A lapsed lease is not revived by just any answer: while it was lapsed, placement may have
//! given this host's actors to others (evicting it, which closes its stream), so the tables may
//! be stale. On a new stream it is revived only once placement's `Snapshot` is in and every
//! activation that table places elsewhere is drained; on the same stream after that, by the next
//! answer (placement has not evicted us, so it gave nothing away). See `client.rs`.
//!
//! The check reads the clock at the moment it is made: a timer that flips a flag could fire
//! after a resumed host already started turns.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::error::{Error, ErrorKind};

/// The lease; cheap to check from any thread.
#[derive(Debug)]
pub(crate) struct Lease {
    /// The origin of `until`.
    base: Instant,
    /// Nanoseconds after `base` until which the lease holds; 0: never held.
    until: AtomicU64,
    /// The duration placement last granted, in milliseconds (for messages).
    granted_ms: AtomicU64,
}

impl Default for Lease {
    fn default() -> Self {
        Self {
            base: Instant::now(),
            until: AtomicU64::new(0),
            granted_ms: AtomicU64::new(0),
        }
    }
}

impl Lease {
    fn nanos(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.base).as_nanos()).unwrap_or(u64::MAX)
    }

    /// Whether the lease holds now.
    pub(crate) fn is_held(&self) -> bool {
        self.nanos(Instant::now()) < self.until.load(Ordering::Acquire)
    }

    /// Extends a lease that still holds to `duration` after `sent_at` (never shortens it).
    /// Returns `false`, changing nothing, when it has lapsed (or was never held): then only
    /// [`revive`](Self::revive) may give it back.
    pub(crate) fn renew(&self, sent_at: Instant, duration: Duration) -> bool {
        let until = self.nanos(sent_at + duration);
        self.record(duration);
        self.until
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |current| {
                (self.nanos(Instant::now()) < current).then_some(current.max(until))
            })
            .is_ok()
    }

    /// Gives the lease back after it lapsed, once the host has a fresh table and drained what
    /// it places elsewhere. Returns whether it holds now.
    pub(crate) fn revive(&self, sent_at: Instant, duration: Duration) -> bool {
        self.record(duration);
        self.until
            .fetch_max(self.nanos(sent_at + duration), Ordering::AcqRel);
        self.is_held()
    }

    fn record(&self, duration: Duration) {
        let ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        self.granted_ms.store(ms, Ordering::Relaxed);
    }

    /// The error for a turn that may not start: retry-safe (nothing ran), as for a moved actor.
    pub(crate) fn refusal(&self, host_id: &str, what: &dyn std::fmt::Display) -> Error {
        Error::new(
            ErrorKind::Moved,
            format!(
                "{what} did not start: host {host_id} holds no placement lease (it has not heard \
                 from placement within its {} ms lease), so it cannot confirm it still owns the \
                 actor",
                self.granted_ms.load(Ordering::Relaxed)
            ),
        )
    }

    /// The error for a turn that ran but may not be acknowledged: the lease lapsed meanwhile,
    /// so another host may own the actor already. Not retry-safe: the turn ran, and its state
    /// changes may be committed.
    pub(crate) fn lapsed_during(&self, host_id: &str, what: &dyn std::fmt::Display) -> Error {
        Error::new(
            ErrorKind::Interrupted,
            format!(
                "{what} ran, but host {host_id} lost its placement lease meanwhile, so the turn \
                 is not acknowledged (its state changes may or may not be committed)"
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_lease_runs_from_when_the_heartbeat_was_sent() {
        let lease = Lease::default();
        assert!(!lease.is_held(), "no lease before placement answered");
        let sent = Instant::now();
        tokio::time::advance(Duration::from_millis(300)).await;
        assert!(
            !lease.renew(sent, Duration::from_secs(1)),
            "nothing to renew yet"
        );
        assert!(!lease.is_held());
        assert!(
            lease.revive(sent, Duration::from_secs(1)),
            "held once revived"
        );
        tokio::time::advance(Duration::from_millis(699)).await;
        assert!(lease.is_held());
        tokio::time::advance(Duration::from_millis(2)).await;
        assert!(!lease.is_held(), "1 s after sending, not after the answer");
    }

    #[tokio::test(start_paused = true)]
    async fn an_older_answer_never_shortens_the_lease() {
        let lease = Lease::default();
        let first = Instant::now();
        tokio::time::advance(Duration::from_millis(500)).await;
        let second = Instant::now();
        assert!(lease.revive(second, Duration::from_secs(1)));
        assert!(lease.renew(first, Duration::from_secs(1)));
        tokio::time::advance(Duration::from_millis(900)).await;
        assert!(lease.is_held());
    }

    #[tokio::test(start_paused = true)]
    async fn a_lapsed_lease_is_not_renewed_by_a_later_answer() {
        let lease = Lease::default();
        assert!(lease.revive(Instant::now(), Duration::from_secs(1)));
        // Paused past the lease; then placement answers a heartbeat sent after the resume.
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(!lease.renew(Instant::now(), Duration::from_secs(1)));
        assert!(
            !lease.is_held(),
            "stale tables: a fresh table must come first"
        );
    }
}
