//! Without the `metrics` feature: a `Metrics` that cannot exist, with the methods the call path
//! records through. The host's `Option<Arc<Metrics>>` is then always `None`, every recording
//! site stays as it is, and the compiler knows each of them is dead.

use std::time::Duration;

use super::labels::{Outcome, ReminderFiring, RequestKind};

/// No metrics: no value of this type exists.
#[derive(Debug)]
pub(crate) enum Metrics {}

impl Metrics {
    pub(crate) fn record_request(
        &self,
        _kind: RequestKind,
        _target: &str,
        _method: &str,
        _outcome: Outcome,
        _elapsed: Duration,
    ) {
        match *self {}
    }

    pub(crate) fn record_retry(&self, _target: &str) {
        match *self {}
    }

    pub(crate) fn set_circuit_state(&self, _target: &str, _state: u8) {
        match *self {}
    }

    pub(crate) fn record_reminder(&self, _actor_type: &str, _result: ReminderFiring) {
        match *self {}
    }
}
