//! Timers: per-activation, not persisted, firing as turns.

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use bytes::Bytes;

use crate::error::{Error, ErrorKind};
use crate::reminder::parse::{self, Moment};

pub use crate::reminder::parse::MIN_PERIOD;

/// Refuses a period under [`MIN_PERIOD`] (`what` names the timer or reminder).
pub(crate) fn check_period(what: &str, period: Duration) -> Result<(), Error> {
    if period < MIN_PERIOD {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("{what}: period {period:?} is shorter than the minimum of {MIN_PERIOD:?}"),
        ));
    }
    Ok(())
}

/// A timer: after `due`, and then every `period` if set, the actor's `callback` method runs as
/// a turn with `data` as its payload.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use weft_runtime::Timer;
/// let t = Timer::new("tick", "on_tick").due(Duration::from_millis(10)).period(Duration::from_secs(1));
/// assert_eq!(t.name(), "tick");
/// ```
#[derive(Debug, Clone)]
pub struct Timer {
    pub(crate) name: String,
    pub(crate) callback: Cow<'static, str>,
    pub(crate) due: Duration,
    pub(crate) period: Option<Duration>,
    /// Firings left, if limited.
    pub(crate) repetitions: Option<u32>,
    /// How long after registration the timer stops, if it does.
    pub(crate) ttl: Option<Duration>,
    pub(crate) data: Bytes,
}

impl Timer {
    /// A one-shot timer named `name` calling method `callback` at once (see [`Timer::due`]).
    pub fn new(name: impl Into<String>, callback: impl Into<Cow<'static, str>>) -> Self {
        Self {
            name: name.into(),
            callback: callback.into(),
            due: Duration::ZERO,
            period: None,
            repetitions: None,
            ttl: None,
            data: Bytes::new(),
        }
    }

    /// Delay before the first firing. Default: 0.
    pub fn due(mut self, due: Duration) -> Self {
        self.due = due;
        self
    }

    /// Interval between firings; without one the timer fires once. Default: none.
    pub fn period(mut self, period: Duration) -> Self {
        self.period = Some(period);
        self
    }

    /// How many times the timer fires at most (with a period). Default: until unregistered.
    pub fn repetitions(mut self, n: u32) -> Self {
        self.repetitions = Some(n);
        self
    }

    /// How long after registration the timer stops firing. Default: never.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// The due time from Dapr's formats, as for reminders: an ISO 8601 duration (`PT10S`), a Go
    /// duration (`10s`), or an RFC 3339 time (`2030-01-02T15:04:05Z`; a past one is due at once).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] naming the text and the accepted formats.
    pub fn try_due_time(mut self, text: &str) -> Result<Self, Error> {
        self.due = after_now(parse::due_time(text)?);
        Ok(self)
    }

    /// The period from Dapr's formats, as for reminders: an ISO 8601 duration with optional
    /// repetitions (`R5/PT10S`: five firings, 10 s apart) or a Go duration (`1m30s`).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] naming the text; also for a zero period or `R0`.
    pub fn try_period(mut self, text: &str) -> Result<Self, Error> {
        let (period, repetitions) = parse::period(text)?;
        self.period = Some(period);
        if repetitions.is_some() {
            self.repetitions = repetitions;
        }
        Ok(self)
    }

    /// The TTL from Dapr's formats: a duration (ISO 8601 or Go) after registration, or an
    /// RFC 3339 time.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] naming the text and the accepted formats.
    pub fn try_ttl(mut self, text: &str) -> Result<Self, Error> {
        self.ttl = Some(after_now(parse::ttl(text)?));
        Ok(self)
    }

    /// Payload passed to the callback. Default: empty.
    pub fn data(mut self, data: Bytes) -> Self {
        self.data = data;
        self
    }

    /// The timer's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Checks the timer as registering it will: a name, a period of at least [`MIN_PERIOD`],
    /// at least one repetition, and a due time and TTL the clock can represent.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] naming the timer and what is wrong.
    pub fn validate(&self) -> Result<(), Error> {
        let invalid = |why: String| Err(Error::new(ErrorKind::InvalidArgument, why));
        if self.name.is_empty() {
            return invalid("timer name must be non-empty".to_owned());
        }
        let what = format!("timer {:?}", self.name);
        if let Some(p) = self.period {
            check_period(&what, p)?;
        }
        if self.repetitions == Some(0) {
            return invalid(format!("{what}: repetitions must be at least 1"));
        }
        let now = tokio::time::Instant::now();
        for (field, d) in [("due time", Some(self.due)), ("TTL", self.ttl)] {
            if d.is_some_and(|d| now.checked_add(d).is_none()) {
                return invalid(format!(
                    "{what}: the {field} {d:?} lies past what the clock can represent"
                ));
            }
        }
        Ok(())
    }
}

/// The delay from now to `moment` (zero for a moment in the past; `Duration::MAX` for one past
/// what the clock represents, which [`Timer::validate`] then refuses).
fn after_now(moment: Moment) -> Duration {
    match moment {
        Moment::After(d) => d,
        Moment::At(t) => t
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    }
}
