//! Reminders: persistent, per-actor wake-ups that survive deactivation, host loss and
//! rebalancing.
//!
//! A reminder belongs to an actor (type, id) and has a name. When it is due, the host that owns
//! the actor *now* (per its placement table; on a single host, that host) runs the reminder's
//! callback method as a turn of the actor, activating it if needed, with
//! [`CallOrigin::Reminder`](crate::CallOrigin::Reminder) and the reminder's data as the payload.
//! A reminder turn counts as use of the actor: it resets its idle time (timer turns do not).
//!
//! # Storage
//! One record per reminder, under the actor's key `app||type||id||__weft_reminder||name`, plus
//! one entry in a per-type sorted index (`app||type||__weft_reminders`, score = next due time in
//! ms since the Unix epoch), written in the same store transaction as the record. A host polls
//! the index of each type it serves for entries due within a short horizon; it never reads all
//! reminders, and a rebalance reads nothing at all (the new owner simply starts taking the
//! entries the old one no longer takes). Registering or firing one reminder rewrites one small
//! record, never a list of all reminders (the failure mode of Dapr's state-store reminders).
//!
//! # Guarantees
//! - **Never early**: a firing runs at or after its due time.
//! - **At least once**: the record advances only *after* the turn ran; a host that dies in
//!   between leaves the period to the next owner, which fires it again.
//! - **Coalescing**: periods missed while no host could fire them (the owner was down) are one
//!   firing, after which the schedule continues from the next period boundary in the future.
//! - **No double firing by a rebalance**: the record is advanced with an ETag-conditioned write.
//!   A host whose write loses finds the period already fired by another host; that rare
//!   duplicate (two hosts both believing they owned the actor during a table change) is counted
//!   in [`HostHandle::reminder_stats`](crate::HostHandle::reminder_stats).
//! - Repetitions and TTL end a reminder (a relative TTL counts from registration, and no firing
//!   starts at or after the expiry); unregistering removes it for every host at once.
//! - Due times are wall-clock instants (ms since the Unix epoch) shared through the store, so
//!   the hosts' clocks must be synchronised (NTP): a host whose clock runs ahead fires early by
//!   its skew.
//!
//! # Cancelling from the callback
//! A callback can end its reminder by its return value: reply [`ReminderOutcome::Cancel`] (with
//! the low-level [`Actor`](crate::Actor) trait: `Ok(ReminderOutcome::Cancel.into_reply())`; from
//! an `#[actor]` method, return `ReminderOutcome` and the macro's encoding is recognised too).
//! Its state changes still commit. Calling [`Context::unregister_reminder`](crate::Context)
//! from the callback works as well.

mod api;
mod fire;
pub(crate) mod parse;
mod record;
pub(crate) mod run;
pub(crate) mod scheduler;

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::codec::Codec;
use crate::error::{Error, ErrorKind};

pub use parse::Moment;
pub use scheduler::{ReminderConfig, ReminderStats};

/// The method a reminder calls when it names none (Dapr's `ReceiveReminder` callback).
pub const DEFAULT_CALLBACK: &str = "receive_reminder";

/// A reminder to register: what to call, when, how often, until when.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use weft_runtime::Reminder;
/// // Every 10 s, 5 times, starting in 1 s; from Dapr-style strings:
/// let r = Reminder::new("poll")
///     .try_due_time("1s")?
///     .try_period("R5/PT10S")?;
/// assert_eq!(r.period_duration(), Some(Duration::from_secs(10)));
/// assert_eq!(r.repetition_count(), Some(5));
/// assert!(Reminder::new("x").try_period("every day").is_err());
/// # Ok::<(), weft_runtime::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Reminder {
    pub(crate) name: String,
    pub(crate) callback: Cow<'static, str>,
    pub(crate) due: Moment,
    pub(crate) period: Option<Duration>,
    pub(crate) repetitions: Option<u32>,
    pub(crate) ttl: Option<Moment>,
    pub(crate) data: Bytes,
}

impl Reminder {
    /// A one-shot reminder named `name`, due at once, calling [`DEFAULT_CALLBACK`].
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            callback: Cow::Borrowed(DEFAULT_CALLBACK),
            due: Moment::After(Duration::ZERO),
            period: None,
            repetitions: None,
            ttl: None,
            data: Bytes::new(),
        }
    }

    /// The actor method the reminder calls. Default: [`DEFAULT_CALLBACK`]. With `#[actor]`,
    /// any method of the actor; [`Reminder::args`] sets its arguments.
    pub fn callback(mut self, method: impl Into<Cow<'static, str>>) -> Self {
        self.callback = method.into();
        self
    }

    /// Delay before the first firing. Default: 0.
    pub fn due(mut self, due: Duration) -> Self {
        self.due = Moment::After(due);
        self
    }

    /// The instant of the first firing.
    pub fn due_at(mut self, at: SystemTime) -> Self {
        self.due = Moment::At(at);
        self
    }

    /// Interval between firings; without one the reminder fires once. Default: none.
    pub fn period(mut self, period: Duration) -> Self {
        self.period = Some(period);
        self
    }

    /// How many times the reminder fires in all. Default: until unregistered (or its TTL).
    pub fn repetitions(mut self, n: u32) -> Self {
        self.repetitions = Some(n);
        self
    }

    /// The reminder ends this long after registration: no firing starts at or after that
    /// instant. Default: never.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(Moment::After(ttl));
        self
    }

    /// The reminder ends at this instant. Default: never.
    pub fn expires_at(mut self, at: SystemTime) -> Self {
        self.ttl = Some(Moment::At(at));
        self
    }

    /// The payload passed to the callback. Default: empty.
    pub fn data(mut self, data: Bytes) -> Self {
        self.data = data;
        self
    }

    /// The callback's arguments, encoded for an `#[actor]` method ([`Codec::Binary`]): `()` for
    /// none, the value for one, a tuple for several.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] when the value cannot be encoded.
    pub fn args<T: Serialize + ?Sized>(self, args: &T) -> Result<Self, Error> {
        let data = Codec::Binary.encode(args)?;
        Ok(self.data(data))
    }

    /// The due time from Dapr's formats: an ISO 8601 duration (`PT10S`), a Go duration (`10s`),
    /// or an RFC 3339 time (`2030-01-02T15:04:05Z`).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] naming the text and the accepted formats.
    pub fn try_due_time(mut self, text: &str) -> Result<Self, Error> {
        self.due = parse::due_time(text)?;
        Ok(self)
    }

    /// The period from Dapr's formats: an ISO 8601 duration with optional repetitions
    /// (`R5/PT10S`: five firings, 10 s apart) or a Go duration (`1m30s`).
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
        self.ttl = Some(parse::ttl(text)?);
        Ok(self)
    }

    /// The reminder's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The period, if the reminder repeats.
    pub fn period_duration(&self) -> Option<Duration> {
        self.period
    }

    /// The number of firings, if limited.
    pub fn repetition_count(&self) -> Option<u32> {
        self.repetitions
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        let invalid = |m: String| Err(Error::new(ErrorKind::InvalidArgument, m));
        crate::actor::names::check_reminder_name(&self.name)?;
        if self.callback.is_empty() {
            return invalid(format!(
                "reminder {:?}: callback must be non-empty",
                self.name
            ));
        }
        if self.period.is_some_and(|p| p.is_zero()) {
            return invalid(format!(
                "reminder {:?}: period must be greater than zero",
                self.name
            ));
        }
        if let Some(p) = self.period {
            crate::actor::timer::check_period(&format!("reminder {:?}", self.name), p)?;
        }
        match self.repetitions {
            Some(0) => invalid(format!(
                "reminder {:?}: repetitions must be at least 1",
                self.name
            )),
            Some(n) if n > 1 && self.period.is_none() => invalid(format!(
                "reminder {:?}: {n} repetitions need a period",
                self.name
            )),
            _ => Ok(()),
        }
    }
}

/// A registered reminder, as [`Context::get_reminder`](crate::Context) returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReminderInfo {
    /// The reminder's name.
    pub name: String,
    /// The method it calls.
    pub callback: String,
    /// When it fires next.
    pub next_due: SystemTime,
    /// Its period, if it repeats.
    pub period: Option<Duration>,
    /// Firings left, if limited.
    pub remaining: Option<u32>,
    /// When it ends, if it has a TTL.
    pub expires: Option<SystemTime>,
    /// Its payload.
    pub data: Bytes,
    /// How many times it has fired.
    pub fired: u64,
}

/// What a reminder's callback tells the host about its reminder, through its reply.
///
/// # Examples
/// ```
/// use weft_runtime::ReminderOutcome;
/// let reply = ReminderOutcome::Cancel.into_reply();
/// assert_eq!(ReminderOutcome::from_reply(&reply), ReminderOutcome::Cancel);
/// assert_eq!(ReminderOutcome::from_reply(b"anything else"), ReminderOutcome::Keep);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReminderOutcome {
    /// Keep the reminder on its schedule. Any reply other than `Cancel` means this.
    #[default]
    Keep,
    /// End the reminder now (the turn's state changes still commit).
    Cancel,
}

/// The reply bytes that mean [`ReminderOutcome::Cancel`].
const CANCEL_MARKER: &str = "__weft_reminder_cancel";
const KEEP_MARKER: &str = "__weft_reminder_keep";

impl ReminderOutcome {
    /// The reply a low-level [`Actor`](crate::Actor) callback returns for this outcome.
    pub fn into_reply(self) -> Bytes {
        Bytes::from_static(self.marker().as_bytes())
    }

    fn marker(self) -> &'static str {
        match self {
            ReminderOutcome::Keep => KEEP_MARKER,
            ReminderOutcome::Cancel => CANCEL_MARKER,
        }
    }

    /// Reads a callback's reply: `Cancel` when it is the cancel marker, raw or as an `#[actor]`
    /// method returning `ReminderOutcome` encodes it (either codec); `Keep` otherwise.
    pub fn from_reply(reply: &[u8]) -> Self {
        let is_cancel = reply == CANCEL_MARKER.as_bytes()
            || Codec::Binary
                .decode::<String>(reply)
                .is_ok_and(|s| s == CANCEL_MARKER)
            || Codec::Json
                .decode::<String>(reply)
                .is_ok_and(|s| s == CANCEL_MARKER);
        if is_cancel {
            ReminderOutcome::Cancel
        } else {
            ReminderOutcome::Keep
        }
    }
}

impl Serialize for ReminderOutcome {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.marker())
    }
}

impl<'de> Deserialize<'de> for ReminderOutcome {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(if s == CANCEL_MARKER {
            ReminderOutcome::Cancel
        } else {
            ReminderOutcome::Keep
        })
    }
}

#[cfg(test)]
mod tests;
