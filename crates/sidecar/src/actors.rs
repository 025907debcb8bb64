//! The app's actor types as Weft actors: every turn is an HTTP call to the app.
//!
//! # How timer registrations reach their actor
//!
//! Weft timers belong to an activation. A Dapr app registers them over HTTP, usually while one
//! of the actor's turns is running (its method called the sidecar before answering), so the
//! registration must not wait for the actor's turn. weftd therefore takes one of two paths:
//!
//! - The actor has an activation on this host: the change is queued for it
//!   ([`TimerRequests`], at most [`MAX_PENDING_PER_ACTOR`] changes per actor and
//!   [`MAX_PENDING_ACTORS`] actors), the running turn applies the queue when the app's answer
//!   comes back, and a turn the API starts in the background applies it otherwise (never
//!   awaited: awaiting it from inside a turn of the same actor would deadlock). If that turn
//!   fails (the actor moved), the queue is dropped.
//! - Otherwise (another host owns the actor, or it is not active): the change travels as an
//!   actor call ([`TIMER_CHANGE`]) to the owner, routed like any call, and the owner's weftd
//!   applies it in that turn. An actor type that no host serves is refused at once.
//!
//! Nothing is queued for an actor that has no activation here, so nothing waits without bound.

use std::time::Duration;

use bytes::Bytes;
use dashmap::DashMap;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use weft_runtime::{Actor, CallOrigin, Context, Error, ErrorKind, Timer};

use crate::app::AppChannel;

/// The method name of the turn that only applies queued timer registrations.
pub(crate) const APPLY_TIMERS: &str = "__weftd_apply_timers";

/// The method name of a timer change sent to the actor's owner ([`TimerChange`], JSON).
pub(crate) const TIMER_CHANGE: &str = "__weftd_timer_change";

/// Queued timer changes one actor may have.
pub(crate) const MAX_PENDING_PER_ACTOR: usize = 64;

/// Actors that may have queued timer changes at once.
pub(crate) const MAX_PENDING_ACTORS: usize = 10_000;

/// A queued timer change.
#[derive(Debug)]
pub(crate) enum TimerOp {
    Register(Timer),
    Unregister(String),
}

/// A timer change as it travels to the actor's owner: the registration as the app sent it
/// (Dapr's timer body), or `None` to unregister.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct TimerChange {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) registration: Option<String>,
}

/// Timer changes waiting for a turn of their actor, by `(type, id)`.
#[derive(Debug, Default)]
pub(crate) struct TimerRequests {
    pending: DashMap<(String, String), Vec<TimerOp>>,
}

impl TimerRequests {
    /// Queues a change for the actor.
    ///
    /// # Errors
    /// Why nothing was queued: the actor already has [`MAX_PENDING_PER_ACTOR`] changes queued,
    /// or [`MAX_PENDING_ACTORS`] actors have some.
    pub(crate) fn push(&self, actor_type: &str, id: &str, op: TimerOp) -> Result<(), String> {
        let key = (actor_type.to_owned(), id.to_owned());
        if !self.pending.contains_key(&key) && self.pending.len() >= MAX_PENDING_ACTORS {
            return Err(format!(
                "{MAX_PENDING_ACTORS} actors already have timer changes queued"
            ));
        }
        let mut ops = self.pending.entry(key).or_default();
        if ops.len() >= MAX_PENDING_PER_ACTOR {
            return Err(format!(
                "{actor_type}/{id} already has {MAX_PENDING_PER_ACTOR} timer changes queued"
            ));
        }
        ops.push(op);
        Ok(())
    }

    /// Drops the queued changes of an actor (its applying turn failed).
    pub(crate) fn discard(&self, actor_type: &str, id: &str) -> usize {
        self.pending
            .remove(&(actor_type.to_owned(), id.to_owned()))
            .map_or(0, |(_, ops)| ops.len())
    }

    /// Applies the queued changes of the turn's actor.
    fn apply(&self, ctx: &Context) {
        let key = (ctx.actor_type().to_string(), ctx.id().to_string());
        let Some((_, ops)) = self.pending.remove(&key) else {
            return;
        };
        for op in ops {
            apply_op(ctx, op);
        }
    }
}

fn apply_op(ctx: &Context, op: TimerOp) {
    match op {
        TimerOp::Register(timer) => {
            let name = timer.name().to_owned();
            if let Err(e) = ctx.register_timer(timer) {
                tracing::warn!(actor = %ctx.key(), timer = %name, error = %e, "timer rejected");
            }
        }
        TimerOp::Unregister(name) => {
            ctx.unregister_timer(&name);
        }
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
    #[serde(default)]
    ttl: String,
}

/// The timer `name` that a registration body (Dapr's shape) describes. Due time, period and TTL
/// take the reminders' formats, as in Dapr: Go durations (`1m30s`), ISO 8601 durations
/// (`PT1M30S`, and `R5/PT10S` for five firings), RFC 3339 times for the due time and TTL. The
/// firing sends the app `body` back (callback, data, due time, period), as Dapr does.
///
/// # Errors
/// [`weft_runtime::ErrorKind::InvalidArgument`] for a body that is not such JSON, a time that
/// does not parse, or a timer the runtime refuses (a period under
/// [`weft_runtime::actor::MIN_PERIOD`], a due time past what the clock represents).
pub(crate) fn timer_from_body(name: String, body: Bytes) -> Result<Timer, weft_runtime::Error> {
    let parsed: TimerBody = serde_json::from_slice(&body).map_err(|e| {
        weft_runtime::Error::new(
            weft_runtime::ErrorKind::InvalidArgument,
            format!("the timer is not valid JSON: {e}"),
        )
    })?;
    // dueTime is read first: when both are wrong, the app hears about dueTime.
    let mut timer = Timer::new(name, parsed.callback).data(body);
    if !parsed.due_time.is_empty() {
        timer = timer.try_due_time(&parsed.due_time)?;
    }
    if !parsed.period.is_empty() {
        timer = timer.try_period(&parsed.period)?;
    }
    if !parsed.ttl.is_empty() {
        timer = timer.try_ttl(&parsed.ttl)?;
    }
    timer.validate()?;
    Ok(timer)
}

/// Applies a [`TimerChange`] that came to this owner as a call.
fn apply_change(ctx: &Context, payload: &[u8]) -> Result<Bytes, Error> {
    let change: TimerChange = serde_json::from_slice(payload).map_err(|e| {
        Error::new(
            ErrorKind::InvalidArgument,
            format!("malformed timer change: {e}"),
        )
    })?;
    match change.registration {
        Some(body) => {
            let timer = timer_from_body(change.name, Bytes::from(body))?;
            ctx.register_timer(timer)?;
        }
        None => {
            ctx.unregister_timer(&change.name);
        }
    }
    Ok(Bytes::new())
}

/// One actor of the app: its turns, timer and reminder firings and deactivation go to the app.
#[derive(Debug)]
pub(crate) struct AppActor {
    pub(crate) app: AppChannel,
    pub(crate) timers: std::sync::Arc<TimerRequests>,
}

impl Actor for AppActor {
    async fn handle(&self, ctx: &Context, call: weft_runtime::Call) -> Result<Bytes, Error> {
        let actor_type = ctx.actor_type().to_string();
        let id = ctx.id().to_string();
        let timeout = ctx
            .deadline()
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1));
        let result = match call.origin() {
            CallOrigin::Call if call.method() == APPLY_TIMERS => Ok(Bytes::new()),
            CallOrigin::Call if call.method() == TIMER_CHANGE => apply_change(ctx, call.payload()),
            CallOrigin::Call => {
                let method = call.method().to_owned();
                let segments = ["actors", &actor_type, &id, "method", &method];
                self.app
                    .actor_put(&segments, call.into_payload(), timeout)
                    .await
            }
            CallOrigin::Timer(name) => {
                let name = name.clone();
                let segments = ["actors", &actor_type, &id, "method", "timer", &name];
                self.app
                    .actor_put(&segments, call.into_payload(), timeout)
                    .await
            }
            CallOrigin::Reminder(name) => {
                let name = name.clone();
                let segments = ["actors", &actor_type, &id, "method", "remind", &name];
                // Whatever the app answers, the reminder stays (cancelling is by unregistering).
                self.app
                    .actor_put(&segments, call.into_payload(), timeout)
                    .await
                    .map(|_| Bytes::new())
            }
            other => {
                tracing::warn!(actor = %ctx.key(), origin = ?other, "a firing weftd does not forward");
                Ok(Bytes::new())
            }
        };
        self.timers.apply(ctx);
        result
    }

    async fn on_deactivate(&self, ctx: &Context) -> Result<(), Error> {
        self.app
            .deactivate(ctx.actor_type().as_str(), ctx.id().as_str())
            .await
    }
}
