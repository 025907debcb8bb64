//! The app's actor types as Weft actors: every turn is an HTTP call to the app.
//!
//! # Why timer registrations are queued
//!
//! Weft timers belong to an activation and are registered from inside a turn. A Dapr app
//! registers them over HTTP, usually while one of the actor's turns is running (its method
//! called the sidecar before answering). So the timers API queues the registration for the
//! actor ([`TimerRequests`]); the running turn applies the queue when the app's answer comes
//! back, still inside the turn. A registration made outside any turn is applied by a turn the
//! API starts for it in the background (never awaited: awaiting it from inside a turn of the
//! same actor would deadlock).

use std::time::Duration;

use bytes::Bytes;
use dashmap::DashMap;
use tokio::time::Instant;
use weft_runtime::{Actor, CallOrigin, Context, Error, Timer};

use crate::app::AppChannel;

/// The method name of the turn that only applies queued timer registrations.
pub(crate) const APPLY_TIMERS: &str = "__weftd_apply_timers";

/// A queued timer change.
#[derive(Debug)]
pub(crate) enum TimerOp {
    Register(Timer),
    Unregister(String),
}

/// Timer changes waiting for a turn of their actor, by `(type, id)`.
#[derive(Debug, Default)]
pub(crate) struct TimerRequests {
    pending: DashMap<(String, String), Vec<TimerOp>>,
}

impl TimerRequests {
    pub(crate) fn push(&self, actor_type: &str, id: &str, op: TimerOp) {
        self.pending
            .entry((actor_type.to_owned(), id.to_owned()))
            .or_default()
            .push(op);
    }

    /// Applies the queued changes of the turn's actor.
    fn apply(&self, ctx: &Context) {
        let key = (ctx.actor_type().to_string(), ctx.id().to_string());
        let Some((_, ops)) = self.pending.remove(&key) else {
            return;
        };
        for op in ops {
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
    }
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
