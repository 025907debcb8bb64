//! Entry points for the fuzz targets (`fuzz/`) and the decoder property tests: each runs one
//! decoder of a Dapr API body the way its handler does, and returns what it made of it (or
//! the HTTP status the app would get). Not a public API: it may change in any release.

use std::time::Duration;

use axum::body::Bytes;
use weft_runtime::{Reminder, Timer};

use crate::api::actors::{ReminderBody, StateOp};
use crate::api::parse_json;

/// A state transaction body as `state_transaction` reads it, with the key checks that
/// `HostHandle::write_actor_state` makes before it writes: the changes (`None`: delete).
pub fn state_transaction(body: &[u8]) -> Result<Vec<(String, Option<Bytes>)>, u16> {
    let ops: Vec<StateOp> = parse_json(body, "the state transaction").map_err(status)?;
    let changes = ops
        .into_iter()
        .map(StateOp::into_change)
        .collect::<Result<Vec<_>, _>>()
        .map_err(status)?;
    if changes
        .iter()
        .any(|(key, _)| weft_runtime::actor::names::check_state_key(key).is_err())
    {
        return Err(400);
    }
    Ok(changes)
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

/// A timer body as `timer_register` reads it (`timer_from_body`): 400 when it is refused.
pub fn timer_body(body: &[u8]) -> Result<Timer, u16> {
    crate::actors::timer_from_body("fuzz".to_owned(), Bytes::copy_from_slice(body)).map_err(|_| 400)
}

/// A Go duration of the app's config (`actorIdleTimeout`, ...).
pub fn go_duration(text: &str) -> Option<Duration> {
    crate::app::go_duration(text)
}

fn status(response: axum::response::Response) -> u16 {
    response.status().as_u16()
}
