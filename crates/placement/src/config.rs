//! Placement settings: every knob has a default and `validate()` names what is wrong.

use std::fmt;
use std::time::Duration;

/// Placement service settings. Every field has a documented default.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use weft_placement::PlacementConfig;
///
/// let config = PlacementConfig::default()
///     .faulty_host_timeout(Duration::from_secs(2))
///     .startup_grace(Duration::ZERO);
/// config.validate()?;
/// assert_eq!(config.ack_timeout, Duration::from_secs(5));
/// # Ok::<(), weft_placement::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PlacementConfig {
    /// Virtual nodes per host on each actor type's ring. Default: 100. Must be at least 1.
    pub replication_factor: u32,
    /// A host that sends nothing (no heartbeat, no ack) for this long is removed, as if its
    /// stream had closed. Also bounds the wait for a new stream's `Register`. Default: 5 s.
    pub faulty_host_timeout: Duration,
    /// A host that does not acknowledge a round's phase within this long is evicted and the
    /// round restarts without it. Default: 5 s.
    pub ack_timeout: Duration,
    /// Membership changes arriving within this window of the first one are disseminated in one
    /// round per namespace. Default: 50 ms. May be zero.
    pub coalesce_window: Duration,
    /// Sent with every LOCK: the longest a host holds calls without hearing the next phase,
    /// after which it unlocks by itself. Default: 10 s. Must be greater than `ack_timeout`.
    pub lock_timeout: Duration,
    /// How long a freshly started placement waits before it disseminates any table: hosts
    /// register meanwhile (and keep serving with their last tables), and every lease that a
    /// previous placement process granted runs out before an actor can move. `None` (the
    /// default) means `faulty_host_timeout`. Zero is safe only for a cluster's very first start
    /// (tests use it to start quickly).
    pub startup_grace: Option<Duration>,
    /// The most actor types one host may register. Default: 1024.
    pub max_actor_types_per_host: usize,
    /// The longest app id, namespace or actor type name a host may register, in bytes (host
    /// ids: at most 256). Default: 1024.
    pub max_name_bytes: usize,
    /// The longest address a host may register, in bytes. Default: 512.
    pub max_address_bytes: usize,
}

impl Default for PlacementConfig {
    fn default() -> Self {
        PlacementConfig {
            replication_factor: 100,
            faulty_host_timeout: Duration::from_secs(5),
            ack_timeout: Duration::from_secs(5),
            coalesce_window: Duration::from_millis(50),
            lock_timeout: Duration::from_secs(10),
            startup_grace: None,
            max_actor_types_per_host: 1024,
            max_name_bytes: 1024,
            max_address_bytes: 512,
        }
    }
}

impl PlacementConfig {
    /// Sets [`replication_factor`](Self::replication_factor). Default: 100.
    pub fn replication_factor(mut self, replication_factor: u32) -> Self {
        self.replication_factor = replication_factor;
        self
    }

    /// Sets [`faulty_host_timeout`](Self::faulty_host_timeout). Default: 5 s.
    pub fn faulty_host_timeout(mut self, faulty_host_timeout: Duration) -> Self {
        self.faulty_host_timeout = faulty_host_timeout;
        self
    }

    /// Sets [`ack_timeout`](Self::ack_timeout). Default: 5 s.
    pub fn ack_timeout(mut self, ack_timeout: Duration) -> Self {
        self.ack_timeout = ack_timeout;
        self
    }

    /// Sets [`coalesce_window`](Self::coalesce_window). Default: 50 ms.
    pub fn coalesce_window(mut self, coalesce_window: Duration) -> Self {
        self.coalesce_window = coalesce_window;
        self
    }

    /// Sets [`lock_timeout`](Self::lock_timeout). Default: 10 s.
    pub fn lock_timeout(mut self, lock_timeout: Duration) -> Self {
        self.lock_timeout = lock_timeout;
        self
    }

    /// Sets [`startup_grace`](Self::startup_grace). Default: `None` (`faulty_host_timeout`).
    pub fn startup_grace(mut self, startup_grace: Duration) -> Self {
        self.startup_grace = Some(startup_grace);
        self
    }

    /// Sets [`max_actor_types_per_host`](Self::max_actor_types_per_host). Default: 1024.
    pub fn max_actor_types_per_host(mut self, max_actor_types_per_host: usize) -> Self {
        self.max_actor_types_per_host = max_actor_types_per_host;
        self
    }

    /// Sets [`max_name_bytes`](Self::max_name_bytes). Default: 1024.
    pub fn max_name_bytes(mut self, max_name_bytes: usize) -> Self {
        self.max_name_bytes = max_name_bytes;
        self
    }

    /// Sets [`max_address_bytes`](Self::max_address_bytes). Default: 512.
    pub fn max_address_bytes(mut self, max_address_bytes: usize) -> Self {
        self.max_address_bytes = max_address_bytes;
        self
    }

    /// Checks every constraint documented on the fields.
    ///
    /// # Errors
    ///
    /// The first violated constraint, naming the field, its value and the rule.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.replication_factor == 0 {
            return Err(ConfigError::new(
                "`replication_factor` is 0; must be at least 1",
            ));
        }
        for (name, value) in [
            ("faulty_host_timeout", self.faulty_host_timeout),
            ("ack_timeout", self.ack_timeout),
            ("lock_timeout", self.lock_timeout),
        ] {
            if value.is_zero() {
                return Err(ConfigError::new(format!(
                    "`{name}` is 0s; must be greater than zero"
                )));
            }
        }
        if self.lock_timeout <= self.ack_timeout {
            return Err(ConfigError::new(format!(
                "`lock_timeout` is {}; must be greater than `ack_timeout` ({}), or hosts would \
                 unlock by themselves while placement still waits for acknowledgements",
                humantime::format_duration(self.lock_timeout),
                humantime::format_duration(self.ack_timeout),
            )));
        }
        Ok(())
    }

    /// The ownership lease placement grants hosts: 3/4 of `faulty_host_timeout`.
    ///
    /// # Why 3/4
    ///
    /// A host sends a heartbeat at real time `S` and, once answered, may start turns until
    /// `S + lease` on its own clock. Placement received that heartbeat at `R >= S` and hands the
    /// host's actors to another host no earlier than `R + faulty_host_timeout` on its clock
    /// (silence), or than `grant + faulty_host_timeout` after a stream that ended without
    /// `Leave` (`grant >= R`). With clocks whose rates differ by at most `rho`, the host stops by
    /// `S + lease * (1 + rho)` and the next owner starts after `S + timeout * (1 - rho)`. A lease
    /// of `0.75 * timeout` keeps them apart for any `rho` below 14%; with a realistic `rho` (NTP
    /// slews monotonic clocks by at most 0.05%) it leaves a quarter of the timeout (1.25 s by
    /// default) for a stall between a host's lease check and the start of its turn. Longer
    /// stalls (a pause right after the check) are caught by the owner epoch in the store: the
    /// stale turn's writes are refused.
    pub fn lease_duration(&self) -> Duration {
        self.faulty_host_timeout * 3 / 4
    }

    /// [`startup_grace`](Self::startup_grace), its default applied.
    pub fn effective_startup_grace(&self) -> Duration {
        self.startup_grace.unwrap_or(self.faulty_host_timeout)
    }

    /// `lock_timeout` in whole milliseconds, as carried by `Order.lock_timeout_ms`.
    pub(crate) fn lock_timeout_ms(&self) -> u64 {
        u64::try_from(self.lock_timeout.as_millis()).unwrap_or(u64::MAX)
    }
}

/// A [`PlacementConfig`] that breaks one of its documented constraints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    message: String,
}

impl ConfigError {
    fn new(message: impl Into<String>) -> Self {
        ConfigError {
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(PlacementConfig::default().validate(), Ok(()));
    }

    #[test]
    fn zero_replication_factor_is_rejected() {
        let config = PlacementConfig {
            replication_factor: 0,
            ..PlacementConfig::default()
        };
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("`replication_factor` is 0"), "{err}");
    }

    #[test]
    fn zero_timeouts_are_rejected() {
        let config = PlacementConfig {
            ack_timeout: Duration::ZERO,
            ..PlacementConfig::default()
        };
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("`ack_timeout` is 0s"), "{err}");
    }

    #[test]
    fn lock_timeout_must_exceed_ack_timeout() {
        let config = PlacementConfig {
            lock_timeout: Duration::from_secs(3),
            ..PlacementConfig::default()
        };
        let err = config.validate().unwrap_err().to_string();
        assert!(
            err.starts_with("`lock_timeout` is 3s; must be greater than `ack_timeout` (5s)"),
            "{err}"
        );
    }

    #[test]
    fn zero_coalesce_window_is_allowed() {
        let config = PlacementConfig {
            coalesce_window: Duration::ZERO,
            ..PlacementConfig::default()
        };
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn lock_timeout_is_sent_in_milliseconds() {
        assert_eq!(PlacementConfig::default().lock_timeout_ms(), 10_000);
    }
}
