//! Call deadlines that read the clock only when the instant is needed.

use std::sync::OnceLock;
use std::time::Duration;

use tokio::time::Instant;

/// When a call stops waiting for its reply: an instant, or a timeout whose clock has not
/// started yet.
///
/// Why lazy: a call made outside any turn only knows its timeout, and turning that into an
/// instant costs a clock read (~55 ns on a VM, a tenth of a whole local call). Most calls never
/// need the instant: a turn that completes on its first poll is answered long before any
/// deadline. So such a call travels as `After(timeout)`, and it becomes an instant where a
/// deadline has to be kept: on the caller's slow path (activation, full mailbox), when the call
/// waits in its activation's queue behind a running turn, and when its own turn does not
/// complete on its first poll (see `activation::Inbox::guard`). The timeout then counts from
/// that moment instead of from the caller's send; the difference is the time the call spent in
/// the mailbox while the activation was busy with turns that completed on their first poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Deadline {
    /// A fixed instant.
    At(Instant),
    /// This long after the moment the deadline is first needed.
    After(Duration),
}

impl Deadline {
    /// The instant, reading the clock if it is not fixed yet.
    pub(crate) fn instant(self) -> Instant {
        match self {
            Self::At(at) => at,
            Self::After(timeout) => after(Instant::now(), timeout),
        }
    }

    /// The instant, counting a timeout from `now`.
    pub(crate) fn instant_from(self, now: Instant) -> Instant {
        match self {
            Self::At(at) => at,
            Self::After(timeout) => after(now, timeout),
        }
    }
}

/// `now + timeout`, saturating: a timeout too large for an `Instant` (`Duration::MAX`) means no
/// deadline in practice. It must not panic: a lazy deadline is fixed inside the activation's
/// task, where a panic would end the actor for every caller.
fn after(now: Instant, timeout: Duration) -> Instant {
    now.checked_add(timeout).unwrap_or_else(|| now + FAR_FUTURE)
}

/// About 30 years: what tokio itself uses for "never".
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// A turn's deadline: fixed once, the first time the turn's code or its inbox needs it.
#[derive(Debug)]
pub(crate) struct TurnDeadline {
    deadline: Deadline,
    at: OnceLock<Instant>,
}

impl TurnDeadline {
    pub(crate) fn new(deadline: Deadline) -> Self {
        let at = OnceLock::new();
        if let Deadline::At(instant) = deadline {
            let _ = at.set(instant);
        }
        Self { deadline, at }
    }

    /// The deadline's instant; the first call fixes it.
    pub(crate) fn instant(&self) -> Instant {
        *self.at.get_or_init(|| self.deadline.instant())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_lazy_deadline_counts_from_its_first_use() {
        let turn = TurnDeadline::new(Deadline::After(Duration::from_secs(5)));
        tokio::time::advance(Duration::from_secs(2)).await;
        let first = turn.instant();
        assert_eq!(first, Instant::now() + Duration::from_secs(5));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(turn.instant(), first, "fixed by its first use");
    }

    #[tokio::test(start_paused = true)]
    async fn a_fixed_deadline_never_reads_the_clock_again() {
        let at = Instant::now() + Duration::from_secs(3);
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(TurnDeadline::new(Deadline::At(at)).instant(), at);
        let now = Instant::now();
        assert_eq!(
            Deadline::After(Duration::from_secs(1)).instant_from(now),
            now + Duration::from_secs(1)
        );
    }

    #[test]
    fn a_timeout_too_large_for_an_instant_saturates_instead_of_panicking() {
        let now = Instant::now();
        let far = Deadline::After(Duration::MAX).instant_from(now);
        assert!(
            far >= now + Duration::from_secs(86_400 * 365),
            "{:?}",
            far - now
        );
        let _ = TurnDeadline::new(Deadline::After(Duration::MAX)).instant();
    }
}
