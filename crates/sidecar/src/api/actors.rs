//! Actors: calls, state, timers.
//!
//! State is written straight to the store, keyed as Dapr does (`app||type||id||key`). That is
//! safe because the app only changes an actor's state from inside that actor's turn, and Weft
//! runs one turn per actor at a time across the cluster.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use weft_runtime::state::{Condition, Operation, StateKey};
use weft_runtime::{CallOptions, Codec, Reminder, Timer};

use super::{body_error, dapr_error, runtime_error, Shared};
use crate::actors::{TimerOp, APPLY_TIMERS};
use crate::app::go_duration;

/// State keys with this prefix belong to the runtime.
const RESERVED_PREFIX: &str = "__weft";

pub(super) async fn invoke(
    State(shared): State<Shared>,
    Path((actor_type, actor_id, method)): Path<(String, String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(rejection) => return body_error(&rejection),
    };
    let ready = match shared.ready().await {
        Ok(r) => r,
        Err(response) => return response,
    };
    let options = CallOptions::default()
        .codec(Codec::Json)
        .timeout(ready.config.call_timeout);
    match ready
        .host
        .call_with(&actor_type, &actor_id, method, body, options)
        .await
    {
        Ok(reply) => (StatusCode::OK, reply).into_response(),
        Err(e) => runtime_error(&e, "ERR_ACTOR_INVOKE_METHOD"),
    }
}

pub(super) async fn state_get(
    State(shared): State<Shared>,
    Path((actor_type, actor_id, key)): Path<(String, String, String)>,
) -> Response {
    let ready = match shared.ready().await {
        Ok(r) => r,
        Err(response) => return response,
    };
    if let Err(response) = check_key(&key) {
        return response;
    }
    let key = StateKey::actor(&ready.config.app_id, &actor_type, &actor_id, &key);
    let store = match ready.host.store() {
        Ok(s) => s,
        Err(e) => return runtime_error(&e, "ERR_ACTOR_STATE_GET"),
    };
    match store.get(&key).await {
        Ok(Some(v)) => (StatusCode::OK, v.value).into_response(),
        Ok(None) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => dapr_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ERR_ACTOR_STATE_GET",
            e.to_string(),
        ),
    }
}

/// One operation of a state transaction (Dapr's shape).
#[derive(Debug, Deserialize)]
struct StateOp {
    operation: String,
    request: StateOpRequest,
}

#[derive(Debug, Deserialize)]
struct StateOpRequest {
    key: String,
    #[serde(default)]
    value: Option<serde_json::Value>,
}

fn check_key(key: &str) -> Result<(), Response> {
    if key.is_empty() || key.starts_with(RESERVED_PREFIX) {
        return Err(dapr_error(
            StatusCode::BAD_REQUEST,
            "ERR_MALFORMED_REQUEST",
            format!("invalid state key {key:?}: empty, or reserved (`{RESERVED_PREFIX}...`)"),
        ));
    }
    Ok(())
}

pub(super) async fn state_transaction(
    State(shared): State<Shared>,
    Path((actor_type, actor_id)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(rejection) => return body_error(&rejection),
    };
    let ready = match shared.ready().await {
        Ok(r) => r,
        Err(response) => return response,
    };
    let ops: Vec<StateOp> = match serde_json::from_slice(&body) {
        Ok(ops) => ops,
        Err(e) => {
            return dapr_error(
                StatusCode::BAD_REQUEST,
                "ERR_MALFORMED_REQUEST",
                format!("the state transaction is not valid JSON: {e}"),
            )
        }
    };
    let mut operations = Vec::with_capacity(ops.len());
    for op in ops {
        if let Err(response) = check_key(&op.request.key) {
            return response;
        }
        let key = StateKey::actor(
            &ready.config.app_id,
            &actor_type,
            &actor_id,
            &op.request.key,
        );
        let operation = match op.operation.as_str() {
            "upsert" => {
                let value = op.request.value.unwrap_or(serde_json::Value::Null);
                let Ok(bytes) = serde_json::to_vec(&value) else {
                    return dapr_error(
                        StatusCode::BAD_REQUEST,
                        "ERR_MALFORMED_REQUEST",
                        "state value does not encode",
                    );
                };
                Operation::Set {
                    key,
                    value: bytes.into(),
                    condition: Condition::Any,
                }
            }
            "delete" => Operation::Delete {
                key,
                condition: Condition::Any,
            },
            other => {
                return dapr_error(
                    StatusCode::BAD_REQUEST,
                    "ERR_MALFORMED_REQUEST",
                    format!("unknown state operation {other:?} (expected upsert or delete)"),
                )
            }
        };
        operations.push(operation);
    }
    let store = match ready.host.store() {
        Ok(s) => s,
        Err(e) => return runtime_error(&e, "ERR_ACTOR_STATE_TRANSACTION_SAVE"),
    };
    match store.transact(operations).await {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => dapr_error(
            match e.kind() {
                weft_runtime::state::StoreErrorKind::Invalid => StatusCode::BAD_REQUEST,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            },
            "ERR_ACTOR_STATE_TRANSACTION_SAVE",
            e.to_string(),
        ),
    }
}

/// A timer registration (Dapr's shape).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TimerBody {
    #[serde(default)]
    callback: String,
    #[serde(default)]
    due_time: String,
    #[serde(default)]
    period: String,
}

fn duration(field: &str, value: &str) -> Result<Option<Duration>, Response> {
    if value.is_empty() {
        return Ok(None);
    }
    go_duration(value).map(Some).ok_or_else(|| {
        dapr_error(
            StatusCode::BAD_REQUEST,
            "ERR_MALFORMED_REQUEST",
            format!("invalid {field} {value:?}: expected a duration like 5s, 1m30s or 0h0m5s0ms"),
        )
    })
}

pub(super) async fn timer_register(
    State(shared): State<Shared>,
    Path((actor_type, actor_id, name)): Path<(String, String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(rejection) => return body_error(&rejection),
    };
    let ready = match shared.ready().await {
        Ok(r) => r,
        Err(response) => return response,
    };
    let parsed: TimerBody = match serde_json::from_slice(&body) {
        Ok(t) => t,
        Err(e) => {
            return dapr_error(
                StatusCode::BAD_REQUEST,
                "ERR_MALFORMED_REQUEST",
                format!("the timer is not valid JSON: {e}"),
            )
        }
    };
    let (due, period) = match (
        duration("dueTime", &parsed.due_time),
        duration("period", &parsed.period),
    ) {
        (Ok(d), Ok(p)) => (d, p),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    if period.is_some_and(|p| p.is_zero()) {
        return dapr_error(
            StatusCode::BAD_REQUEST,
            "ERR_MALFORMED_REQUEST",
            "the timer's period must be greater than zero",
        );
    }
    // The firing sends the app this registration, as Dapr does (callback, data, due, period).
    let mut timer = Timer::new(name, parsed.callback)
        .due(due.unwrap_or_default())
        .data(body);
    if let Some(p) = period {
        timer = timer.period(p);
    }
    ready
        .timers
        .push(&actor_type, &actor_id, TimerOp::Register(timer));
    poke(&ready.host, actor_type, actor_id);
    StatusCode::NO_CONTENT.into_response()
}

pub(super) async fn timer_unregister(
    State(shared): State<Shared>,
    Path((actor_type, actor_id, name)): Path<(String, String, String)>,
) -> Response {
    let ready = match shared.ready().await {
        Ok(r) => r,
        Err(response) => return response,
    };
    ready
        .timers
        .push(&actor_type, &actor_id, TimerOp::Unregister(name));
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
struct ReminderBody {
    #[serde(default)]
    due_time: String,
    #[serde(default)]
    period: String,
    #[serde(default)]
    ttl: String,
}

pub(super) async fn reminder_register(
    State(shared): State<Shared>,
    Path((actor_type, actor_id, name)): Path<(String, String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(rejection) => return body_error(&rejection),
    };
    let ready = match shared.ready().await {
        Ok(r) => r,
        Err(response) => return response,
    };
    let parsed: ReminderBody = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return dapr_error(
                StatusCode::BAD_REQUEST,
                "ERR_MALFORMED_REQUEST",
                format!("the reminder is not valid JSON: {e}"),
            )
        }
    };
    // The firing sends the app this registration back (data, dueTime, period), as Dapr does.
    let reminder = (|| {
        let mut r = Reminder::new(name).data(body.clone());
        if !parsed.due_time.is_empty() {
            r = r.try_due_time(&parsed.due_time)?;
        }
        if !parsed.period.is_empty() {
            r = r.try_period(&parsed.period)?;
        }
        if !parsed.ttl.is_empty() {
            r = r.try_ttl(&parsed.ttl)?;
        }
        Ok::<_, weft_runtime::Error>(r)
    })();
    let result = match reminder {
        Ok(r) => {
            ready
                .host
                .register_reminder(&actor_type, &actor_id, r)
                .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => dapr_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ERR_ACTOR_REMINDER_CREATE",
            e.to_string(),
        ),
    }
}

pub(super) async fn reminder_get(
    State(shared): State<Shared>,
    Path((actor_type, actor_id, name)): Path<(String, String, String)>,
) -> Response {
    let ready = match shared.ready().await {
        Ok(r) => r,
        Err(response) => return response,
    };
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
            axum::Json(body).into_response()
        }
        Ok(None) => dapr_error(
            StatusCode::NOT_FOUND,
            "ERR_ACTOR_REMINDER_GET",
            format!("no reminder {name:?} for {actor_type}/{actor_id}"),
        ),
        Err(e) => runtime_error(&e, "ERR_ACTOR_REMINDER_GET"),
    }
}

pub(super) async fn reminder_unregister(
    State(shared): State<Shared>,
    Path((actor_type, actor_id, name)): Path<(String, String, String)>,
) -> Response {
    let ready = match shared.ready().await {
        Ok(r) => r,
        Err(response) => return response,
    };
    match ready
        .host
        .unregister_reminder(&actor_type, &actor_id, &name)
        .await
    {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => runtime_error(&e, "ERR_ACTOR_REMINDER_DELETE"),
    }
}
