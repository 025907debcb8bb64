//! Entry points for the fuzz targets (`fuzz/`) and the decoder property tests: each runs one
//! decoder of a Dapr API body the way its handler does, and returns what it made of it (or
//! the HTTP status the app would get). Not a public API: it may change in any release.

use std::time::Duration;

use axum::body::Bytes;
use weft_runtime::{Reminder, Timer};

use crate::api::actors::{duration, ReminderBody, StateOp, TimerBody};
use crate::api::parse_json;

/// A state transaction body as `state_transaction` reads it: the changes (`None`: delete).
pub fn state_transaction(body: &[u8]) -> Result<Vec<(String, Option<Bytes>)>, u16> {
    let ops: Vec<StateOp> = parse_json(body, "the state transaction").map_err(status)?;
    ops.into_iter()
        .map(StateOp::into_change)
        .collect::<Result<Vec<_>, _>>()
        .map_err(status)
}

/// A reminder body as `reminder_register` reads it, before the host checks and resolves it
/// (`weft_runtime::fuzzing::schedule`).
pub fn reminder_body(body: &[u8]) -> Result<Reminder, u16> {
    let parsed: ReminderBody = parse_json(body, "the reminder").map_err(status)?;
    // Dapr answers 500 for a registration it could not make, a bad duration included.
    parsed
        .into_reminder("fuzz".to_owned(), Bytes::copy_from_slice(body))
        .map_err(|_| 500)
}

/// A timer body as `timer_register` reads it (its steps, repeated here: keep them in step).
pub fn timer_body(body: &[u8]) -> Result<Timer, u16> {
    let parsed: TimerBody = parse_json(body, "the timer").map_err(status)?;
    let due = duration("dueTime", &parsed.due_time).map_err(status)?;
    let period = duration("period", &parsed.period).map_err(status)?;
    if period.is_some_and(|p| p.is_zero()) {
        return Err(400);
    }
    let mut timer = Timer::new("fuzz", parsed.callback)
        .due(due.unwrap_or_default())
        .data(Bytes::copy_from_slice(body));
    if let Some(p) = period {
        timer = timer.period(p);
    }
    Ok(timer)
}

/// A Go duration of the app's config (`actorIdleTimeout`, ...) and of timer bodies.
pub fn go_duration(text: &str) -> Option<Duration> {
    crate::app::go_duration(text)
}

fn status(response: axum::response::Response) -> u16 {
    response.status().as_u16()
}
