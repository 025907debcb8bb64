//! Actors: calls, state, timers.
//!
//! State is keyed as Dapr does (`app||type||id||key`). Writes go through the actor's activation
//! on this host (`HostHandle::write_actor_state`): the app saves an actor's state from inside
//! that actor's turn, which runs here, and the write carries the activation's owner epoch. A
//! sidecar that is not (or no longer) the owner — its activation was moved, drained or fenced,
//! or it lost its placement lease while paused — has the write refused before it reaches the
//! store, and the turn fails with it. Reads go to the store.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use weft_runtime::actor::names;
use weft_runtime::{CallOptions, Codec, Reminder};

use super::{dapr_error, malformed, parse_json, runtime_error, Ready, Reply, Shared};
use crate::actors::{timer_from_body, TimerChange, TimerOp, APPLY_TIMERS, TIMER_CHANGE};
use crate::app::check_path_segment;

/// Actor methods with this prefix are weftd's own (timer changes); the API does not call them.
const RESERVED_METHOD_PREFIX: &str = "__weft";

/// Checks the parts of an actor path that reach the app as URL segments (type, id, and the
/// method, timer or reminder name): the runtime's rule for names (`weft_runtime::actor::names`),
/// and no `.`/`..` segment, which the app's URL would resolve. Answers 400 before any
/// activation is made.
fn check_app_path(actor_type: &str, actor_id: &str, last: (&str, &str)) -> Result<(), Response> {
    let refuse = |e: weft_runtime::Error| malformed(e.message().to_owned());
    names::check_actor_type(actor_type).map_err(refuse)?;
    names::check_actor_id(actor_id).map_err(refuse)?;
    for (what, value) in [
        ("actor type", actor_type),
        ("actor id", actor_id),
        (last.0, last.1),
    ] {
        check_path_segment(what, value).map_err(refuse)?;
    }
    Ok(())
}

pub(super) async fn invoke(
    State(shared): State<Shared>,
    Path((actor_type, actor_id, method)): Path<(String, String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Reply {
    check_app_path(&actor_type, &actor_id, ("method", &method))?;
    if method.starts_with(RESERVED_METHOD_PREFIX) {
        return Err(malformed(format!(
            "method {method:?} is reserved: `{RESERVED_METHOD_PREFIX}...` methods belong to weftd"
        )));
    }
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
    match ready
        .host
        .read_actor_state(&actor_type, &actor_id, &key)
        .await
    {
        Ok(Some(v)) => Ok((StatusCode::OK, v).into_response()),
        Ok(None) => Ok(StatusCode::NO_CONTENT.into_response()),
        Err(e) => Err(runtime_error(&e, "ERR_ACTOR_STATE_GET")),
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
    /// The change to the actor's key (`None`: delete), or a 400 for an unknown operation. Keys
    /// are checked by `HostHandle::write_actor_state`, all of them before any is written.
    pub(crate) fn into_change(self) -> Result<(String, Option<Bytes>), Response> {
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

pub(super) async fn timer_register(
    State(shared): State<Shared>,
    Path((actor_type, actor_id, name)): Path<(String, String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Reply {
    check_app_path(&actor_type, &actor_id, ("timer name", &name))?;
    let (body, ready) = shared.prepare(body).await?;
    let timer = timer_from_body(name.clone(), body.clone()).map_err(|e| malformed(e.message()))?;
    let registration =
        String::from_utf8(body.to_vec()).map_err(|_| malformed("the timer is not UTF-8 JSON"))?;
    let change = TimerChange {
        name,
        registration: Some(registration),
    };
    change_timer(
        &ready,
        actor_type,
        actor_id,
        TimerOp::Register(timer),
        change,
        "ERR_ACTOR_TIMER_CREATE",
    )
    .await
}

pub(super) async fn timer_unregister(
    State(shared): State<Shared>,
    Path((actor_type, actor_id, name)): Path<(String, String, String)>,
) -> Reply {
    check_app_path(&actor_type, &actor_id, ("timer name", &name))?;
    let ready = shared.ready().await?;
    let change = TimerChange {
        name: name.clone(),
        registration: None,
    };
    change_timer(
        &ready,
        actor_type,
        actor_id,
        TimerOp::Unregister(name),
        change,
        "ERR_ACTOR_TIMER_DELETE",
    )
    .await
}

/// Has a timer change applied to the actor (see `crate::actors` for the two paths): queued
/// for an activation of this host, else sent to the owner and awaited. Answers 204 once the
/// change is queued or applied.
async fn change_timer(
    ready: &Arc<Ready>,
    actor_type: String,
    actor_id: String,
    op: TimerOp,
    change: TimerChange,
    code: &str,
) -> Reply {
    if ready.host.is_active_here(&actor_type, &actor_id) {
        ready
            .timers
            .push(&actor_type, &actor_id, op)
            .map_err(|why| dapr_error(StatusCode::TOO_MANY_REQUESTS, code, why))?;
        poke(ready, actor_type, actor_id);
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let payload = serde_json::to_vec(&change)
        .map_err(|e| dapr_error(StatusCode::INTERNAL_SERVER_ERROR, code, e.to_string()))?;
    let options = CallOptions::default()
        .codec(Codec::Json)
        .timeout(ready.config.call_timeout);
    ready
        .host
        .call_with(
            &actor_type,
            &actor_id,
            TIMER_CHANGE,
            payload.into(),
            options,
        )
        .await
        .map_err(|e| runtime_error(&e, code))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Starts (without waiting) a turn that applies the actor's queued timer changes; see
/// `crate::actors` for why it is never awaited. Whatever that turn did not apply (it failed, or
/// ran on another host because the actor moved) is dropped, so nothing stays queued.
fn poke(ready: &Arc<Ready>, actor_type: String, actor_id: String) {
    let ready = Arc::clone(ready);
    tokio::spawn(async move {
        let outcome = ready
            .host
            .call(&actor_type, &actor_id, APPLY_TIMERS, Bytes::new())
            .await;
        let dropped = ready.timers.discard(&actor_type, &actor_id);
        if let Err(e) = outcome {
            tracing::warn!(actor = %format!("{actor_type}/{actor_id}"), error = %e, dropped, "applying timer changes failed");
        } else if dropped > 0 {
            tracing::warn!(actor = %format!("{actor_type}/{actor_id}"), dropped, "timer changes dropped: the actor left this host");
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
    pub(crate) period: String,
    #[serde(default)]
    pub(crate) ttl: String,
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
    check_app_path(&actor_type, &actor_id, ("reminder name", &name))?;
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
