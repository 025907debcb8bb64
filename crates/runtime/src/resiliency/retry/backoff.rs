//! The backoff schedule: constant or exponential waits, capped, jittered, bounded in count.

use std::time::Duration;

use crate::resiliency::policy::{BackoffKind, RetryPolicy};

/// The waits before each retry of a [`RetryPolicy`], in order: `max_retries` of them.
///
/// Constant policies wait `duration` each time; exponential ones `initial_interval ×
/// multiplier^(n−1)` before retry `n`, capped at `max_interval`. Each wait `d` is then
/// jittered to a uniform pick in `[d × (1 − jitter), d]`, so a wait never exceeds the cap.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use weft_runtime::resiliency::{Backoff, RetryPolicy};
///
/// let policy = RetryPolicy::exponential(Duration::from_millis(100), Duration::from_millis(300))
///     .multiplier(2.0)
///     .max_retries(4)
///     .jitter(0.0);
/// let waits: Vec<_> = Backoff::new(&policy).map(|d| d.as_millis()).collect();
/// assert_eq!(waits, [100, 200, 300, 300]);
/// ```
#[derive(Debug, Clone)]
pub struct Backoff {
    policy: RetryPolicy,
    next_retry: u32,
    limit: u32,
}

impl Backoff {
    /// The schedule of `policy`.
    pub fn new(policy: &RetryPolicy) -> Self {
        Self {
            policy: policy.clone(),
            next_retry: 1,
            limit: policy.retry_limit(),
        }
    }

    /// The wait before retry `retry` (1-based) without jitter: the schedule's upper bound.
    pub fn nominal(&self, retry: u32) -> Duration {
        nominal(&self.policy, retry)
    }
}

impl Iterator for Backoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        if self.next_retry > self.limit {
            return None;
        }
        let d = delay(&self.policy, self.next_retry, rand::random::<f64>());
        self.next_retry += 1;
        Some(d)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = usize::try_from(self.limit.saturating_sub(self.next_retry - 1)).unwrap_or(0);
        (left, Some(left))
    }
}

impl ExactSizeIterator for Backoff {}

/// The wait before retry `retry` (1-based), jittered with `unit`, a pick from `[0, 1)`.
pub(crate) fn delay(policy: &RetryPolicy, retry: u32, unit: f64) -> Duration {
    let d = nominal(policy, retry);
    let jitter = if policy.jitter.is_finite() {
        policy.jitter.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let unit = if unit.is_finite() {
        unit.clamp(0.0, 1.0)
    } else {
        0.0
    };
    // The factor is within [0, 1], so the product neither overflows nor goes negative.
    d.mul_f64(1.0 - jitter * unit)
}

/// The wait before retry `retry` (1-based), before jitter.
fn nominal(policy: &RetryPolicy, retry: u32) -> Duration {
    match policy.policy {
        BackoffKind::Constant => policy.duration,
        BackoffKind::Exponential => {
            let cap = policy.max_interval;
            let exponent = i32::try_from(retry.saturating_sub(1)).unwrap_or(i32::MAX);
            let secs = policy.initial_interval.as_secs_f64() * policy.multiplier.powi(exponent);
            // NaN, infinite and negative values (an unvalidated policy) fall back to the cap.
            if secs.is_nan() || secs >= cap.as_secs_f64() {
                cap
            } else {
                Duration::try_from_secs_f64(secs).unwrap_or(cap)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn constant_backoff_waits_the_same_each_time() {
        let p = RetryPolicy::constant(ms(250)).max_retries(3).jitter(0.0);
        assert_eq!(
            Backoff::new(&p).collect::<Vec<_>>(),
            [ms(250), ms(250), ms(250)]
        );
    }

    #[test]
    fn exponential_backoff_grows_by_the_multiplier_until_the_cap() {
        let p = RetryPolicy::exponential(ms(100), ms(1000))
            .multiplier(2.0)
            .max_retries(6)
            .jitter(0.0);
        let waits: Vec<_> = Backoff::new(&p).collect();
        assert_eq!(
            waits,
            [ms(100), ms(200), ms(400), ms(800), ms(1000), ms(1000)]
        );
    }

    #[test]
    fn exponential_backoff_default_multiplier_is_one_and_a_half() {
        let p = RetryPolicy::exponential(ms(100), ms(10_000))
            .max_retries(3)
            .jitter(0.0);
        assert_eq!(
            Backoff::new(&p).collect::<Vec<_>>(),
            [ms(100), ms(150), ms(225)]
        );
    }

    #[test]
    fn huge_exponents_stay_at_the_cap() {
        let p = RetryPolicy::exponential(ms(100), ms(5000)).multiplier(10.0);
        assert_eq!(Backoff::new(&p).nominal(u32::MAX), ms(5000));
        assert_eq!(delay(&p, 400, 0.0), ms(5000));
    }

    #[test]
    fn backoff_yields_exactly_max_retries_waits() {
        for n in [0, 1, 5, 100] {
            let p = RetryPolicy::constant(ms(1)).max_retries(n);
            let b = Backoff::new(&p);
            assert_eq!(b.len(), usize::try_from(n).unwrap());
            assert_eq!(b.count(), usize::try_from(n).unwrap());
        }
    }

    #[test]
    fn unvalidated_counts_are_clamped() {
        let mut p = RetryPolicy::constant(ms(1));
        p.max_retries = -1;
        assert_eq!(Backoff::new(&p).count(), 0);
        p.max_retries = 1_000_000;
        assert_eq!(Backoff::new(&p).count(), 100);
    }

    #[test]
    fn jitter_stays_within_its_fraction_below_the_nominal_wait() {
        let p = RetryPolicy::exponential(ms(100), ms(400))
            .multiplier(2.0)
            .max_retries(5)
            .jitter(0.2);
        for _ in 0..200 {
            for (i, d) in Backoff::new(&p).enumerate() {
                let nominal = [100, 200, 400, 400, 400][i];
                assert!(d <= ms(nominal), "retry {i}: {d:?} above {nominal}ms");
                assert!(
                    d >= ms(nominal * 8 / 10),
                    "retry {i}: {d:?} below 80% of {nominal}ms"
                );
            }
        }
    }

    #[test]
    fn full_jitter_spans_zero_to_the_nominal_wait() {
        let p = RetryPolicy::constant(ms(1000)).jitter(1.0);
        assert_eq!(delay(&p, 1, 0.0), ms(1000));
        assert_eq!(delay(&p, 1, 0.5), ms(500));
        assert!(delay(&p, 1, 0.999_999) < ms(1));
    }

    #[test]
    fn jitter_actually_varies_the_waits() {
        let p = RetryPolicy::constant(ms(1000)).max_retries(50).jitter(0.5);
        let waits: Vec<_> = Backoff::new(&p).collect();
        assert!(
            waits.iter().any(|d| *d != waits[0]),
            "50 jittered waits all equal"
        );
    }
}
