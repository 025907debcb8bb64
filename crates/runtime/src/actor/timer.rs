//! Timers: per-activation, not persisted, firing as turns.

use std::borrow::Cow;
use std::time::Duration;

use bytes::Bytes;

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

    /// Payload passed to the callback. Default: empty.
    pub fn data(mut self, data: Bytes) -> Self {
        self.data = data;
        self
    }

    /// The timer's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}
