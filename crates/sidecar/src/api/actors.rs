//! Actors: calls, state, timers.
//!
//! State is keyed as Dapr does (`app||type||id||key`). Writes go through the actor's activation
//! on this host (`HostHandle::write_actor_state`): the app saves an actor's state from inside
//! that actor's turn, which runs here, and the write carries the activation's owner epoch. A
//! sidecar that is not (or no longer) the owner — its activation was moved, drained or fenced,
//! or it lost its placement lease while paused — has the write refused before it reaches the
//! store, and the turn fails with it. Reads go to the store.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use weft_runtime::state::StateKey;
use weft_runtime::{CallOptions, Codec, Reminder, Timer};

use super::{dapr_error, malformed, parse_json, runtime_error, Ready, Reply, Shared};
use crate::actors::{TimerOp, APPLY_TIMERS};
use crate::app::go_duration;

/// State keys with this prefix belong to the runtime.
const RESERVED_PREFIX: &str = "__weft";

pub(super) async fn invoke(
    State(shared): State<Shared>,
    Path((actor_type, actor_id, method)): Path<(String, String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Reply {
    let (body, ready) = shared.prepare(body).await?;
    let options = CallOptions::default()
        .codec(Codec::Json)
        .timeout(ready.config.call_timeout);
    let reply = ready
        .host
        .call_with(&actor_type, &actor_id, method, body, options)
        .await
        .map_err(|e| runtime_error(&e, "ERR_ACTOR_INVOKE_METHOD"))?;
    Ok((StatusCode::OK, reply).into_response())
}

pub(super) async fn state_get(
    State(shared): State<Shared>,
    Path((actor_type, actor_id, key)): Path<(String, String, String)>,
) -> Reply {
    let ready = shared.ready().await?;
    check_key(&key)?;
    let key = StateKey::actor(&ready.config.app_id, &actor_type, &actor_id, &key);
    let store = ready
        .host
        .store()
        .map_err(|e| runtime_error(&e, "ERR_ACTOR_STATE_GET"))?;
    match store.get(&key).await {
        Ok(Some(v)) => Ok((StatusCode::OK, v.value).into_response()),
        Ok(None) => Ok(StatusCode::NO_CONTENT.into_response()),
        Err(e) => Err(dapr_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ERR_ACTOR_STATE_GET",
            e.to_string(),
        )),
    }
}

/// One operation of a state transaction (Dapr's shape).
#[derive(Debug, Deserialize)]
pub(crate) struct StateOp {
    operation: String,
    request: StateOpRequest,
}

#[derive(Debug, Deserialize)]
struct StateOpRequest {
    key: String,
    #[serde(default)]
    value: Option<serde_json::Value>,
}

impl StateOp {
    /// The change to the actor's key (`None`: delete), or a 400 for a key or operation the app
    /// may not use.
    pub(crate) fn into_change(self) -> Result<(String, Option<Bytes>), Response> {
        check_key(&self.request.key)?;
        let key = self.request.key;
        match self.operation.as_str() {
            "upsert" => {
                let value = self.request.value.unwrap_or(serde_json::Value::Null);
                let bytes = serde_json::to_vec(&value)
                    .map_err(|_| malformed("state value does not encode"))?;
                Ok((key, Some(bytes.into())))
            }
            "delete" => Ok((key, None)),
            other => Err(malformed(format!(
                "unknown state operation {other:?} (expected upsert or delete)"
            ))),
        }
    }
}

/// Refuses an empty key, and the runtime's own keys, which the app must not overwrite.
fn check_key(key: &str) -> Result<(), Response> {
    if key.is_empty() || key.starts_with(RESERVED_PREFIX) {
        return Err(malformed(format!(
            "invalid state key {key:?}: empty, or reserved (`{RESERVED_PREFIX}...`)"
        )));
    }
    Ok(())
}

pub(super) async fn state_transaction(
    State(shared): State<Shared>,
    Path((actor_type, actor_id)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Reply {
    let (body, ready) = shared.prepare(body).await?;
    let ops: Vec<StateOp> = parse_json(&body, "the state transaction")?;
    // Every operation is checked before the store sees any, so a bad one writes nothing.
    let changes = ops
        .into_iter()
        .map(StateOp::into_change)
        .collect::<Result<Vec<_>, _>>()?;
    ready
        .host
        .write_actor_state(&actor_type, &actor_id, changes)
        .await
        .map_err(|e| runtime_error(&e, "ERR_ACTOR_STATE_TRANSACTION_SAVE"))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A timer registration (Dapr's shape).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TimerBody {
    #[serde(default)]
    pub(crate) callback: String,
    #[serde(default)]
    pub(crate) due_time: String,
    #[serde(default)]
    pub(crate) period: String,
}

/// A timer's `field` as a duration; `None` when the app left it empty.
pub(crate) fn duration(field: &str, value: &str) -> Result<Option<Duration>, Response> {
    if value.is_empty() {
        return Ok(None);
    }
    go_duration(value).map(Some).ok_or_else(|| {
        malformed(format!(
            "invalid {field} {value:?}: expected a duration like 5s, 1m30s or 0h0m5s0ms"
        ))
    })
}

pub(super) async fn timer_register(
    State(shared): State<Shared>,
    Path((actor_type, actor_id, name)): Path<(String, String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Reply {
    let (body, ready) = shared.prepare(body).await?;
    let parsed: TimerBody = parse_json(&body, "the timer")?;
    // dueTime is checked first: when both are wrong, the app hears about dueTime.
    let due = duration("dueTime", &parsed.due_time)?;
    let period = duration("period", &parsed.period)?;
    if period.is_some_and(|p| p.is_zero()) {
        return Err(malformed("the timer's period must be greater than zero"));
    }
    // The firing sends the app this registration, as Dapr does (callback, data, due, period).
    let mut timer = Timer::new(name, parsed.callback)
        .due(due.unwrap_or_default())
        .data(body);
    if let Some(p) = period {
        timer = timer.period(p);
    }
    Ok(change_timers(
        &ready,
        actor_type,
        actor_id,
        TimerOp::Register(timer),
    ))
}

pub(super) async fn timer_unregister(
    State(shared): State<Shared>,
    Path((actor_type, actor_id, name)): Path<(String, String, String)>,
) -> Reply {
    let ready = shared.ready().await?;
    Ok(change_timers(
        &ready,
        actor_type,
        actor_id,
        TimerOp::Unregister(name),
    ))
}

/// Queues a timer change for the actor and has it applied: the answer, 204, does not wait for
/// the change to take effect (see [`poke`]).
fn change_timers(ready: &Ready, actor_type: String, actor_id: String, op: TimerOp) -> Response {
    ready.timers.push(&actor_type, &actor_id, op);
    poke(&ready.host, actor_type, actor_id);
    StatusCode::NO_CONTENT.into_response()
}

/// Starts (without waiting) a turn that applies the actor's queued timer changes; see
/// `crate::actors` for why it is never awaited.
fn poke(host: &weft_runtime::HostHandle, actor_type: String, actor_id: String) {
    let host = host.clone();
    tokio::spawn(async move {
        if let Err(e) = host
            .call(&actor_type, &actor_id, APPLY_TIMERS, Bytes::new())
            .await
        {
            tracing::warn!(actor = %format!("{actor_type}/{actor_id}"), error = %e, "applying timer changes failed");
        }
    });
}

/// A reminder registration (Dapr's shape); `data` is kept as the app sent it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ReminderBody {
    #[serde(default)]
    due_time: String,
    #[serde(default)]
    period: String,
    #[serde(default)]
    ttl: String,
}

impl ReminderBody {
    /// The reminder `name` this registration describes, carrying `data`, the registration as the
    /// app sent it: the firing sends it back (data, dueTime, period), as Dapr does.
    ///
    /// # Errors
    ///
    /// A due time, period or TTL that does not parse.
    pub(crate) fn into_reminder(
        self,
        name: String,
        data: Bytes,
    ) -> Result<Reminder, weft_runtime::Error> {
        let mut r = Reminder::new(name).data(data);
        if !self.due_time.is_empty() {
            r = r.try_due_time(&self.due_time)?;
        }
        if !self.period.is_empty() {
            r = r.try_period(&self.period)?;
        }
        if !self.ttl.is_empty() {
            r = r.try_ttl(&self.ttl)?;
        }
        Ok(r)
    }
}

pub(super) async fn reminder_register(
    State(shared): State<Shared>,
    Path((actor_type, actor_id, name)): Path<(String, String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Reply {
    let (body, ready) = shared.prepare(body).await?;
    let parsed: ReminderBody = parse_json(&body, "the reminder")?;
    // Dapr answers 500 for a registration it could not make, a bad duration included.
    let create_failed = |e: weft_runtime::Error| {
        dapr_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ERR_ACTOR_REMINDER_CREATE",
            e.to_string(),
        )
    };
    let reminder = parsed.into_reminder(name, body).map_err(create_failed)?;
    ready
        .host
        .register_reminder(&actor_type, &actor_id, reminder)
        .await
        .map_err(create_failed)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(super) async fn reminder_get(
    State(shared): State<Shared>,
    Path((actor_type, actor_id, name)): Path<(String, String, String)>,
) -> Reply {
    let ready = shared.ready().await?;
    match ready.host.get_reminder(&actor_type, &actor_id, &name).await {
        Ok(Some(info)) => {
            let registered: serde_json::Value =
                serde_json::from_slice(&info.data).unwrap_or(serde_json::Value::Null);
            let body = serde_json::json!({
                "dueTime": registered.get("dueTime").cloned().unwrap_or_default(),
                "period": registered.get("period").cloned().unwrap_or_default(),
                "data": registered.get("data").cloned().unwrap_or_default(),
                "ttl": registered.get("ttl").cloned().unwrap_or_default(),
            });
            Ok(axum::Json(body).into_response())
        }
        Ok(None) => Err(dapr_error(
            StatusCode::NOT_FOUND,
            "ERR_ACTOR_REMINDER_GET",
            format!("no reminder {name:?} for {actor_type}/{actor_id}"),
        )),
        Err(e) => Err(runtime_error(&e, "ERR_ACTOR_REMINDER_GET")),
    }
}

pub(super) async fn reminder_unregister(
    State(shared): State<Shared>,
    Path((actor_type, actor_id, name)): Path<(String, String, String)>,
) -> Reply {
    let ready = shared.ready().await?;
    ready
        .host
        .unregister_reminder(&actor_type, &actor_id, &name)
        .await
        .map_err(|e| runtime_error(&e, "ERR_ACTOR_REMINDER_DELETE"))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
