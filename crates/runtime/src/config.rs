//! Host and actor-type settings, with their defaults and validation.

use std::time::Duration;

use crate::error::{Error, ErrorKind};

/// Reentrancy settings of an actor type.
///
/// Off by default: a call chain that comes back to an actor already waiting in it (A → B → A)
/// fails at once with [`ErrorKind::Reentrancy`] instead of deadlocking. When on, such a call runs
/// as a nested turn of the waiting actor, up to `max_stack_depth` actors deep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reentrancy {
    /// Whether calls of the same chain may re-enter. Default: false.
    pub enabled: bool,
    /// The longest call chain allowed (number of actors in it). Default: 32, as Dapr.
    pub max_stack_depth: usize,
}

impl Reentrancy {
    /// Reentrancy off (the default).
    pub const fn disabled() -> Self {
        Self {
            enabled: false,
            max_stack_depth: 32,
        }
    }

    /// Reentrancy on with the default maximum depth of 32.
    pub const fn enabled() -> Self {
        Self {
            enabled: true,
            max_stack_depth: 32,
        }
    }
}

impl Default for Reentrancy {
    fn default() -> Self {
        Self::disabled()
    }
}

/// Settings of one host. Every field has a documented default.
///
/// Build one from [`HostConfig::default`] and the setters named after its fields; the fields
/// stay readable.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use weft_runtime::{Host, HostConfig, MemoryStore};
///
/// let config = HostConfig::default()
///     .app_id("shop")
///     .call_timeout(Duration::from_secs(5))
///     .mailbox_capacity(64);
/// config.validate()?;
/// assert_eq!(config.idle_timeout, Duration::from_secs(60 * 60));
/// let builder = Host::builder().config(config).store(MemoryStore::new());
/// # let _ = builder;
/// # Ok::<(), weft_runtime::Error>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HostConfig {
    /// The app id of this host; the first part of every state key. Default: `"weft"`.
    pub app_id: String,
    /// Idle time after which an actor is deactivated. Default: 60 min (Dapr's default).
    pub idle_timeout: Duration,
    /// How often idle actors are looked for. Default: 30 s (Dapr's default).
    pub scan_interval: Duration,
    /// Deadline of a call that sets none. Default: 60 s.
    pub call_timeout: Duration,
    /// Calls that may wait in one actor's mailbox before callers wait to enqueue. Default: 1024.
    pub mailbox_capacity: usize,
    /// Reentrancy of actor types that set none. Default: off, depth 32.
    pub reentrancy: Reentrancy,
    /// How long shutdown waits for running turns and deactivations. Default: 30 s.
    pub shutdown_timeout: Duration,
    /// Owner-epoch fencing: each activation takes a new epoch for its actor in the store, and
    /// every commit is conditional on it still being the newest, so a stale activation (one that
    /// survived a move) cannot write. Costs one store write per activation. Default: off for a
    /// single host; a host joined to a placement service always fences.
    pub fencing: bool,
    /// The largest request body a call carries, in bytes: service and actor calls, on every
    /// hop (weftd's HTTP API takes the same limit from `--max-request-bytes`). The gRPC
    /// messages between hosts may be larger by [`WIRE_ALLOWANCE`] for the method name, headers
    /// and call chain. Default: 4 MiB (Dapr's).
    pub max_request_bytes: usize,
}

/// [`HostConfig::max_request_bytes`]' default: 4 MiB, as Dapr's `max-body-size`.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;

/// What a host-to-host gRPC message may carry beyond the body: method, headers (weftd's HTTP
/// server takes at most ~400 KiB of them), call chain, trace context.
pub const WIRE_ALLOWANCE: usize = 512 * 1024;

/// The gRPC message limit between hosts for bodies up to `max_request_bytes`.
pub(crate) fn wire_limit(max_request_bytes: usize) -> usize {
    max_request_bytes.saturating_add(WIRE_ALLOWANCE)
}

impl Default for HostConfig {
    fn default() -> Self {
        Self {
            app_id: "weft".to_owned(),
            idle_timeout: Duration::from_secs(60 * 60),
            scan_interval: Duration::from_secs(30),
            call_timeout: Duration::from_secs(60),
            mailbox_capacity: 1024,
            reentrancy: Reentrancy::disabled(),
            shutdown_timeout: Duration::from_secs(30),
            fencing: false,
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
        }
    }
}

impl HostConfig {
    /// Sets [`app_id`](Self::app_id). Default: `"weft"`.
    pub fn app_id(mut self, app_id: impl Into<String>) -> Self {
        self.app_id = app_id.into();
        self
    }

    /// Sets [`idle_timeout`](Self::idle_timeout). Default: 60 min.
    pub fn idle_timeout(mut self, idle_timeout: Duration) -> Self {
        self.idle_timeout = idle_timeout;
        self
    }

    /// Sets [`scan_interval`](Self::scan_interval). Default: 30 s.
    pub fn scan_interval(mut self, scan_interval: Duration) -> Self {
        self.scan_interval = scan_interval;
        self
    }

    /// Sets [`call_timeout`](Self::call_timeout). Default: 60 s.
    pub fn call_timeout(mut self, call_timeout: Duration) -> Self {
        self.call_timeout = call_timeout;
        self
    }

    /// Sets [`mailbox_capacity`](Self::mailbox_capacity). Default: 1024.
    pub fn mailbox_capacity(mut self, mailbox_capacity: usize) -> Self {
        self.mailbox_capacity = mailbox_capacity;
        self
    }

    /// Sets [`reentrancy`](Self::reentrancy). Default: off, depth 32.
    pub fn reentrancy(mut self, reentrancy: Reentrancy) -> Self {
        self.reentrancy = reentrancy;
        self
    }

    /// Sets [`shutdown_timeout`](Self::shutdown_timeout). Default: 30 s.
    pub fn shutdown_timeout(mut self, shutdown_timeout: Duration) -> Self {
        self.shutdown_timeout = shutdown_timeout;
        self
    }

    /// Sets [`fencing`](Self::fencing). Default: off (a host joined to a placement service
    /// always fences).
    pub fn fencing(mut self, fencing: bool) -> Self {
        self.fencing = fencing;
        self
    }

    /// Sets [`max_request_bytes`](Self::max_request_bytes). Default: 4 MiB
    /// ([`DEFAULT_MAX_REQUEST_BYTES`]).
    pub fn max_request_bytes(mut self, max_request_bytes: usize) -> Self {
        self.max_request_bytes = max_request_bytes;
        self
    }

    /// Checks the settings; the error names the field, its value and the rule.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] describing the first invalid field.
    pub fn validate(&self) -> Result<(), Error> {
        if self.app_id.is_empty() || self.app_id.contains("||") {
            return Err(invalid(format!(
                "`app_id` is {:?}; must be non-empty and must not contain `||`",
                self.app_id
            )));
        }
        positive("idle_timeout", self.idle_timeout)?;
        positive("scan_interval", self.scan_interval)?;
        positive("call_timeout", self.call_timeout)?;
        positive("shutdown_timeout", self.shutdown_timeout)?;
        if self.mailbox_capacity == 0 {
            return Err(invalid("`mailbox_capacity` is 0; must be at least 1"));
        }
        validate_reentrancy(&self.reentrancy)
    }
}

/// Per-actor-type overrides of the host settings; `None` means "use the host's".
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use weft_runtime::{ActorTypeConfig, Reentrancy};
///
/// let config = ActorTypeConfig::default()
///     .idle_timeout(Duration::from_secs(5))
///     .reentrancy(Reentrancy::enabled());
/// assert_eq!(config.scan_interval, None);
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ActorTypeConfig {
    /// Idle time after which an actor of this type is deactivated.
    pub idle_timeout: Option<Duration>,
    /// How often this type's idle actors are looked for.
    pub scan_interval: Option<Duration>,
    /// Reentrancy of this type.
    pub reentrancy: Option<Reentrancy>,
}

/// The settings in force for one actor type: its overrides applied to the host's.
#[derive(Debug, Clone)]
pub(crate) struct EffectiveTypeConfig {
    pub(crate) idle_timeout: Duration,
    pub(crate) scan_interval: Duration,
    pub(crate) reentrancy: Reentrancy,
}

impl ActorTypeConfig {
    /// Sets [`idle_timeout`](Self::idle_timeout). Default: `None` (the host's).
    pub fn idle_timeout(mut self, idle_timeout: Duration) -> Self {
        self.idle_timeout = Some(idle_timeout);
        self
    }

    /// Sets [`scan_interval`](Self::scan_interval). Default: `None` (the host's).
    pub fn scan_interval(mut self, scan_interval: Duration) -> Self {
        self.scan_interval = Some(scan_interval);
        self
    }

    /// Sets [`reentrancy`](Self::reentrancy). Default: `None` (the host's).
    pub fn reentrancy(mut self, reentrancy: Reentrancy) -> Self {
        self.reentrancy = Some(reentrancy);
        self
    }

    pub(crate) fn resolve(&self, host: &HostConfig) -> Result<EffectiveTypeConfig, Error> {
        let resolved = EffectiveTypeConfig {
            idle_timeout: self.idle_timeout.unwrap_or(host.idle_timeout),
            scan_interval: self.scan_interval.unwrap_or(host.scan_interval),
            reentrancy: self.reentrancy.unwrap_or(host.reentrancy),
        };
        positive("idle_timeout", resolved.idle_timeout)?;
        positive("scan_interval", resolved.scan_interval)?;
        validate_reentrancy(&resolved.reentrancy)?;
        Ok(resolved)
    }
}

fn validate_reentrancy(r: &Reentrancy) -> Result<(), Error> {
    if r.max_stack_depth < 2 {
        return Err(invalid(format!(
            "`reentrancy.max_stack_depth` is {}; must be at least 2",
            r.max_stack_depth
        )));
    }
    Ok(())
}

fn positive(field: &str, d: Duration) -> Result<(), Error> {
    if d.is_zero() {
        return Err(invalid(format!(
            "`{field}` is 0s; must be greater than zero"
        )));
    }
    Ok(())
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidArgument, message.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_idle_timeout_is_rejected_with_the_field_name() {
        let c = HostConfig::default().idle_timeout(Duration::ZERO);
        let e = c.validate().unwrap_err();
        assert!(e.message().contains("`idle_timeout`"), "{e}");
    }

    #[test]
    fn type_overrides_win_over_host_defaults() {
        let host = HostConfig::default();
        let t = ActorTypeConfig::default()
            .idle_timeout(Duration::from_secs(5))
            .resolve(&host)
            .unwrap();
        assert_eq!(t.idle_timeout, Duration::from_secs(5));
        assert_eq!(t.scan_interval, host.scan_interval);
    }

    #[test]
    fn app_id_with_separator_is_rejected() {
        let c = HostConfig::default().app_id("a||b");
        assert_eq!(c.validate().unwrap_err().kind(), ErrorKind::InvalidArgument);
    }
}
