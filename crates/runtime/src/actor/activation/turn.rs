//! One turn: a call, a re-entrant call or a timer firing, run to completion inside the inbox's
//! guard, with panics caught and the turn's changes committed when it succeeds.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use futures::future::Either;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use tokio::sync::mpsc;
use tracing::instrument::Instrumented;
use tracing::{Instrument, Span};

use super::commit::fenced_error;
use super::inbox::{Inbox, Running};
use super::Activation;
use crate::actor::call::{Call, CallOrigin};
use crate::actor::context::Context;
use crate::actor::deadline::Deadline;
use crate::actor::mailbox::{CallEnvelope, TimerFire};
use crate::actor::Actor;
use crate::codec::Codec;
use crate::error::{Error, ErrorKind};

/// Runs one call turn in `ctx` (reset for it), answering its caller by the deadline; with
/// reentrancy on, also serves calls of the same chain that re-enter while it waits (each in a
/// context of its own).
pub(super) async fn serve_call<A: Actor>(
    actor: &A,
    act: &Arc<Activation>,
    call: CallEnvelope,
    ctx: &mut Context,
    inbox: &mut Inbox,
    reentrant_rx: &mut mpsc::UnboundedReceiver<CallEnvelope>,
) {
    let CallEnvelope {
        method,
        payload,
        codec,
        deadline,
        chain,
        reply,
        origin,
    } = call;
    if reply.is_closed() {
        return; // The caller stopped waiting (its deadline, or cancellation): skip the turn.
    }
    if let Some(refusal) = turn_refusal(act, &method) {
        let _ = reply.send(Err(refusal));
        return;
    }
    let span = tracing::info_span!("actor.turn", actor.type = %act.key.actor_type,
        actor.id = %act.key.id, method = %method, outcome = tracing::field::Empty);
    ctx.reset(chain, deadline);
    let ctx = &*ctx;
    let mut running = Running {
        reply: Some(reply),
        deadline: ctx.turn_deadline(),
        method: method.clone(),
    };
    let mut body = pin!(in_span(
        execute(
            act,
            ctx,
            actor.handle(
                ctx,
                Call::new(
                    method,
                    payload,
                    codec,
                    origin.map_or(CallOrigin::Call, |o| *o)
                )
            ),
        ),
        &span,
    ));
    let result = if act.ty.config.reentrancy.enabled {
        // Boxed, so this rarer path does not enlarge (and slow down) every turn's future.
        let mut body = Box::pin(with_nested_turns(body, actor, act, reentrant_rx));
        inbox.guard(body.as_mut(), Some(&mut running)).await
    } else {
        inbox.guard(body.as_mut(), Some(&mut running)).await
    };
    let result = acknowledgeable(act, &running.method, result);
    span.record("outcome", outcome(&result));
    if let Some(reply) = running.reply.take() {
        let _ = reply.send(result);
    }
}

/// Why a turn may not start: the activation was fenced (a newer one elsewhere owns the actor),
/// or this cluster host holds no placement lease (see `placement::lease`). Both are retry-safe:
/// nothing ran. Reads the clock only on a cluster host.
pub(super) fn turn_refusal(act: &Activation, method: &str) -> Option<Error> {
    if act.mailbox.fenced.load(Ordering::Acquire) {
        let fenced = fenced_error(&act.key);
        return Some(Error::new(ErrorKind::Moved, fenced.message().to_owned()));
    }
    let cluster = act.host.lapsed_lease()?;
    Some(cluster.lease.refusal(
        &cluster.host_id,
        &format_args!("turn of {}.{method}", act.key),
    ))
}

/// A turn's result as its caller may see it: a success is acknowledged only while the host
/// still holds its placement lease and the activation was not fenced meanwhile (by a write from
/// outside the turn's context, e.g. an app's state API call through weftd).
fn acknowledgeable(
    act: &Activation,
    method: &str,
    result: Result<Bytes, Error>,
) -> Result<Bytes, Error> {
    let value = result?;
    if act.mailbox.fenced.load(Ordering::Acquire) {
        return Err(fenced_error(&act.key));
    }
    match act.host.lapsed_lease() {
        Some(cluster) => Err(cluster.lease.lapsed_during(
            &cluster.host_id,
            &format_args!("turn of {}.{method}", act.key),
        )),
        None => Ok(value),
    }
}

/// The deadline of a turn that serves no call (activation, timer, deactivation): fixed at the
/// turn's start. No inbox fixes it when such a turn waits, and these turns are off the call path.
pub(super) fn own_turn_deadline(act: &Activation) -> Deadline {
    Deadline::At(Deadline::After(act.host.config().call_timeout).instant())
}

/// The context that `serve_call` resets for each call turn.
pub(super) fn turn_context(act: &Arc<Activation>) -> Context {
    Context::new(
        Arc::clone(act),
        None,
        Deadline::After(act.host.config().call_timeout),
    )
}

/// Polls `outer` while running re-entrant calls (same chain, coming back to this actor) as
/// nested turns; returns `outer`'s result once it and every nested turn are done.
async fn with_nested_turns<A: Actor, T>(
    outer: impl Future<Output = T>,
    actor: &A,
    act: &Arc<Activation>,
    reentrant_rx: &mut mpsc::UnboundedReceiver<CallEnvelope>,
) -> T {
    futures::pin_mut!(outer);
    let mut nested = FuturesUnordered::new();
    let out = loop {
        tokio::select! {
            biased;
            out = &mut outer => break out,
            Some(()) = nested.next(), if !nested.is_empty() => {}
            Some(c) = reentrant_rx.recv() => nested.push(nested_turn(actor, act, c)),
        }
    };
    while nested.next().await.is_some() {}
    out
}

/// A re-entrant turn. Its caller keeps its own deadline (re-entrant calls take the timed path).
async fn nested_turn<A: Actor>(actor: &A, act: &Arc<Activation>, call: CallEnvelope) {
    let CallEnvelope {
        method,
        payload,
        codec,
        deadline,
        chain,
        reply,
        origin,
    } = call;
    if reply.is_closed() {
        return;
    }
    if let Some(refusal) = turn_refusal(act, &method) {
        let _ = reply.send(Err(refusal));
        return;
    }
    let call_method = method.clone();
    let span = tracing::info_span!("actor.turn", actor.type = %act.key.actor_type,
        actor.id = %act.key.id, method = %method, reentrant = true, outcome = tracing::field::Empty);
    let ctx = Context::new(Arc::clone(act), chain, deadline);
    let result = in_span(
        execute(
            act,
            &ctx,
            actor.handle(
                &ctx,
                Call::new(
                    method,
                    payload,
                    codec,
                    origin.map_or(CallOrigin::Call, |o| *o),
                ),
            ),
        ),
        &span,
    )
    .await;
    let result = acknowledgeable(act, &call_method, result);
    span.record("outcome", outcome(&result));
    let _ = reply.send(result);
}

pub(super) async fn serve_timer<A: Actor>(
    actor: &A,
    act: &Arc<Activation>,
    fire: &TimerFire,
    inbox: &mut Inbox,
) {
    let Some((callback, data)) = act.timers.take_fire(fire) else {
        return;
    };
    if let Some(refusal) = turn_refusal(act, &callback) {
        tracing::debug!(actor = %act.key, timer = %fire.name, error = %refusal, "timer firing skipped");
        return;
    }
    let deadline = own_turn_deadline(act);
    let span = tracing::info_span!("actor.timer", actor.type = %act.key.actor_type,
        actor.id = %act.key.id, timer = %fire.name, method = %callback, outcome = tracing::field::Empty);
    let ctx = Context::new(Arc::clone(act), None, deadline);
    let call = Call::new(
        callback,
        data,
        Codec::Binary,
        CallOrigin::Timer(fire.name.clone()),
    );
    let body = pin!(in_span(execute(act, &ctx, actor.handle(&ctx, call)), &span));
    let result = inbox.guard(body, None).await;
    span.record("outcome", outcome(&result));
    if let Err(e) = result {
        tracing::warn!(parent: &span, error = %e, "timer callback failed");
    }
}

/// Runs a turn body, catching panics, and commits its state changes if it succeeded.
pub(super) async fn execute(
    act: &Activation,
    ctx: &Context,
    body: impl Future<Output = Result<Bytes, Error>>,
) -> Result<Bytes, Error> {
    match AssertUnwindSafe(body).catch_unwind().await {
        Ok(Ok(value)) => {
            if ctx.has_pending() {
                // Boxed: the commit's future is large, and this future is moved on every turn.
                Box::pin(act.commit(ctx.take_pending())).await?;
            }
            Ok(value)
        }
        // Pending changes die with the context: nothing is committed.
        Ok(Err(e)) => Err(e),
        Err(panic) => {
            act.needs_reset.store(true, Ordering::Release);
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic payload".to_owned());
            tracing::error!(actor = %act.key, panic = %what, "actor turn panicked");
            Err(Error::new(
                ErrorKind::ActorFailed,
                format!(
                    "turn of {} panicked ({what}); its changes were discarded and the actor \
                     restarts from its last committed state",
                    act.key
                ),
            ))
        }
    }
}

/// `work` inside `span`, or bare when no subscriber wants the span: `Instrumented` costs a
/// turn even around a disabled span (its enter and exit on every poll, one more future layer).
fn in_span<F: Future>(work: F, span: &Span) -> Either<F, Instrumented<F>> {
    if span.is_disabled() {
        Either::Left(work)
    } else {
        Either::Right(work.instrument(span.clone()))
    }
}

fn outcome(result: &Result<Bytes, Error>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(e) if e.kind() == ErrorKind::ActorFailed => "actor_error",
        Err(_) => "error",
    }
}
