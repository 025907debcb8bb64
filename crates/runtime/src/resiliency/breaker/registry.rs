//! The breaker state machine and the registry that keeps one per instance.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use dashmap::DashMap;
use tokio::time::Instant;

use super::{error, BreakerState};
use crate::error::Error;
use crate::resiliency::policy::BreakerPolicy;

/// Circuit breakers of many instances under one [`BreakerPolicy`]; cheap to clone (shared).
///
/// # Examples
/// ```
/// use std::sync::Arc;
/// use weft_runtime::layers::{BreakerLayer, BreakerRegistry, BreakerState};
/// use weft_runtime::resiliency::BreakerPolicy;
///
/// let breakers = BreakerRegistry::new(Arc::new(BreakerPolicy::trip_after(2)));
/// // Calls through this layer count toward their instance's circuit in `breakers`.
/// let layer = BreakerLayer::new(breakers.clone(), |instance: &String| instance.clone());
/// # let _ = layer;
/// assert_eq!(breakers.state("backend/1"), BreakerState::Closed);
/// assert_eq!(breakers.consecutive_failures("backend/1"), 0);
/// ```
#[derive(Debug, Clone)]
pub struct BreakerRegistry {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    policy: Arc<BreakerPolicy>,
    /// Only instances with failures or a tripped circuit; absent means closed and clean.
    entries: DashMap<String, Entry>,
    /// Numbers half-open periods, so a probe's result is not applied to a later period.
    generations: AtomicU64,
}

#[derive(Debug)]
struct Entry {
    failures: u32,
    phase: Phase,
}

#[derive(Debug)]
enum Phase {
    Closed {
        since: Instant,
    },
    Open {
        until: Instant,
    },
    HalfOpen {
        generation: u64,
        admitted: u32,
        succeeded: u32,
    },
}

/// Leave to make one call through an instance's circuit. Report the call's outcome with
/// [`Permit::record`]; a permit dropped unrecorded (the call was cancelled) counts as neither
/// success nor failure.
#[derive(Debug)]
#[must_use = "record the call's outcome with `Permit::record`"]
pub(crate) struct Permit {
    registry: BreakerRegistry,
    key: String,
    /// `Some(generation)` for a half-open probe.
    probe: Option<u64>,
    recorded: bool,
}

impl BreakerRegistry {
    /// An empty registry: every instance starts closed.
    pub fn new(policy: Arc<BreakerPolicy>) -> Self {
        Self {
            shared: Arc::new(Shared {
                policy,
                entries: DashMap::new(),
                generations: AtomicU64::new(0),
            }),
        }
    }

    /// The policy every circuit here follows.
    pub fn policy(&self) -> &BreakerPolicy {
        &self.shared.policy
    }

    /// The state of `key`'s circuit now. An open circuit whose timeout has passed reports
    /// [`BreakerState::HalfOpen`]: the next call will be a probe.
    pub fn state(&self, key: &str) -> BreakerState {
        let now = Instant::now();
        match self.shared.entries.get(key).as_deref() {
            None => BreakerState::Closed,
            Some(entry) => phase_state(&entry.phase, now),
        }
    }

    /// Every instance whose circuit is not closed and clean, with its state: for metrics.
    pub fn states(&self) -> Vec<(String, BreakerState)> {
        let now = Instant::now();
        self.shared
            .entries
            .iter()
            .map(|e| (e.key().clone(), phase_state(&e.phase, now)))
            .collect()
    }

    /// Consecutive failures counted for `key` (0 for a clean instance).
    pub fn consecutive_failures(&self, key: &str) -> u32 {
        self.shared.entries.get(key).map_or(0, |e| e.failures)
    }

    /// Forgets `key` (an instance that left): its circuit is closed and clean again.
    pub fn remove(&self, key: &str) {
        self.shared.entries.remove(key);
    }

    /// Leave to call `key`, or the error to fail fast with.
    ///
    /// # Errors
    /// [`ErrorKind::CircuitOpen`](crate::ErrorKind::CircuitOpen) while the circuit is open
    /// ("circuit open for backend/1 (5 consecutive failures); retry after 20s"), or half-open
    /// with all its probes in flight.
    pub(crate) fn try_acquire(&self, key: impl Into<String>) -> Result<Permit, Error> {
        let key = key.into();
        let probe = match self.shared.entries.get_mut(key.as_str()) {
            None => None,
            Some(mut entry) => {
                let now = Instant::now();
                let failures = entry.failures;
                if let Phase::Open { until } = entry.phase {
                    if now < until {
                        return Err(error::open(
                            &key,
                            failures,
                            until.saturating_duration_since(now),
                        ));
                    }
                    let generation = self.shared.generations.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(instance = %key, "circuit half-open");
                    entry.phase = Phase::HalfOpen {
                        generation,
                        admitted: 0,
                        succeeded: 0,
                    };
                }
                match &mut entry.phase {
                    Phase::Closed { .. } => None,
                    Phase::HalfOpen {
                        generation,
                        admitted,
                        ..
                    } => {
                        let max = self.shared.policy.max_requests.max(1);
                        if *admitted >= max {
                            return Err(error::probing(&key, failures, *admitted));
                        }
                        *admitted += 1;
                        Some(*generation)
                    }
                    // INVARIANT: an open entry became half-open above or returned.
                    Phase::Open { .. } => None,
                }
            }
        };
        Ok(Permit {
            registry: self.clone(),
            key,
            probe,
            recorded: false,
        })
    }

    fn on_success(&self, key: &str, probe: Option<u64>) {
        let mut closed = false;
        if let Some(mut entry) = self.shared.entries.get_mut(key) {
            let max = self.shared.policy.max_requests.max(1);
            match (&mut entry.phase, probe) {
                (Phase::Closed { .. }, None) => closed = true,
                (
                    Phase::HalfOpen {
                        generation,
                        succeeded,
                        ..
                    },
                    Some(g),
                ) if *generation == g => {
                    *succeeded += 1;
                    if *succeeded >= max {
                        tracing::info!(instance = %key, "circuit closed");
                        closed = true;
                    }
                }
                // A result from before the circuit last changed state: stale, ignore it.
                _ => {}
            }
            if closed {
                entry.failures = 0;
                entry.phase = Phase::Closed {
                    since: Instant::now(),
                };
            }
        }
        if closed {
            // Separate from the guard above: removing under it would deadlock on the shard.
            self.shared.entries.remove_if(key, |_, e| {
                e.failures == 0 && matches!(e.phase, Phase::Closed { .. })
            });
        }
    }

    fn on_failure(&self, key: &str, probe: Option<u64>) {
        if probe.is_some() && !self.shared.entries.contains_key(key) {
            return; // The instance was removed while its probe ran.
        }
        let now = Instant::now();
        let policy = &self.shared.policy;
        let mut guard = self.shared.entries.entry(key.to_owned()).or_insert(Entry {
            failures: 0,
            phase: Phase::Closed { since: now },
        });
        let entry = &mut *guard;
        let trip = match (&mut entry.phase, probe) {
            (Phase::Closed { since }, None) => {
                if !policy.interval.is_zero()
                    && now.saturating_duration_since(*since) >= policy.interval
                {
                    entry.failures = 0;
                    *since = now;
                }
                entry.failures = entry.failures.saturating_add(1);
                entry.failures >= policy.max_consecutive_failures.max(1)
            }
            (Phase::HalfOpen { generation, .. }, Some(g)) if *generation == g => {
                entry.failures = entry.failures.saturating_add(1);
                true
            }
            _ => false,
        };
        if trip {
            let until = now.checked_add(policy.open_timeout).unwrap_or(now);
            tracing::info!(instance = %key, failures = entry.failures, "circuit open");
            entry.phase = Phase::Open { until };
        }
    }

    fn on_release(&self, key: &str, probe: Option<u64>) {
        let Some(g) = probe else { return };
        if let Some(mut entry) = self.shared.entries.get_mut(key) {
            if let Phase::HalfOpen {
                generation,
                admitted,
                ..
            } = &mut entry.phase
            {
                if *generation == g {
                    *admitted = admitted.saturating_sub(1);
                }
            }
        }
    }
}

fn phase_state(phase: &Phase, now: Instant) -> BreakerState {
    match phase {
        Phase::Closed { .. } => BreakerState::Closed,
        Phase::Open { until } if now < *until => BreakerState::Open,
        Phase::Open { .. } | Phase::HalfOpen { .. } => BreakerState::HalfOpen,
    }
}

impl Permit {
    /// Reports the call's outcome: a success, or an error that does or does not count against
    /// the instance ([`BreakerPolicy::is_failure`]; an application error is an answer, so it
    /// counts as a success).
    pub(crate) fn record<T>(mut self, outcome: &Result<T, Error>) {
        self.recorded = true;
        let failed = match outcome {
            Ok(_) => false,
            Err(e) => self.registry.shared.policy.is_failure(e),
        };
        if failed {
            self.registry.on_failure(&self.key, self.probe);
        } else {
            self.registry.on_success(&self.key, self.probe);
        }
    }

    /// Whether this call is a half-open probe.
    #[cfg(test)]
    pub(crate) fn is_probe(&self) -> bool {
        self.probe.is_some()
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.recorded {
            self.registry.on_release(&self.key, self.probe);
        }
    }
}
