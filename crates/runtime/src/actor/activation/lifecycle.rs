//! The life of an activation: `on_activate`, call and timer turns until it is told to go, then
//! an orderly deactivation (see the module docs of [`super`]).

use std::pin::pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use futures::FutureExt;
use tokio::sync::mpsc;
use tracing::Instrument;

use super::inbox::Inbox;
use super::turn::{
    execute, own_turn_deadline, serve_call, serve_timer, turn_context, turn_refusal,
};
use super::{Activation, ActivationStart};
use crate::actor::context::Context;
use crate::actor::id::ActorId;
use crate::actor::mailbox::{CallEnvelope, DeactivateReason, Envelope, Slot};
use crate::actor::Actor;
use crate::error::Error;

type Factory<A> = Arc<dyn Fn(&ActorId) -> A + Send + Sync>;

/// The activation task.
pub(crate) async fn run<A: Actor>(factory: Factory<A>, start: ActivationStart) {
    let ActivationStart {
        activation: act,
        rx,
        mut reentrant_rx,
        done: _done,
    } = start;
    let mut inbox = Inbox::new(act.key.clone(), act.ty.config.reentrancy.enabled, rx);
    let mut actor = Arc::new(factory(&act.key.id));
    if let Err(e) = inbox.guard(pin!(activate(&*actor, &act)), None).await {
        fail_activation(&act, inbox, reentrant_rx, e).await;
        return;
    }
    // Every call turn's context: reset, not made anew, per call.
    let mut turn_ctx = turn_context(&act);
    let reason = loop {
        let Some(envelope) = inbox.next(&mut reentrant_rx).await else {
            // Unreachable while our slot holds a sender; treat as a shutdown.
            break DeactivateReason::Shutdown;
        };
        match envelope {
            Envelope::Call(call) => {
                serve_call(
                    &*actor,
                    &act,
                    call,
                    &mut turn_ctx,
                    &mut inbox,
                    &mut reentrant_rx,
                )
                .await;
                act.mailbox.touch();
            }
            Envelope::Timer(fire) => serve_timer(&*actor, &act, &fire, &mut inbox).await,
            Envelope::Deactivate(DeactivateReason::Idle(uses)) if uses != act.mailbox.uses() => {
                continue
            }
            Envelope::Deactivate(reason) => break reason,
        }
        if act.mailbox.fenced.load(Ordering::Acquire) {
            break DeactivateReason::Fenced;
        }
        // A plain load first: the swap is a locked instruction, and a reset is rare.
        if act.needs_reset.load(Ordering::Acquire) && act.needs_reset.swap(false, Ordering::AcqRel)
        {
            // The instance may hold changes that were never committed: start it afresh from
            // the committed state, as a new activation would.
            act.timers.cancel_all();
            actor = Arc::new(factory(&act.key.id));
            if let Err(e) = inbox.guard(pin!(activate(&*actor, &act)), None).await {
                tracing::warn!(actor = %act.key, error = %e, "re-activation after a failed turn failed");
                fail_activation(&act, inbox, reentrant_rx, e).await;
                return;
            }
        }
    };
    deactivate(&*actor, &act, inbox, reentrant_rx, reason).await;
}

async fn activate<A: Actor>(actor: &A, act: &Arc<Activation>) -> Result<(), Error> {
    if let Some(refusal) = turn_refusal(act, "on_activate") {
        return Err(refusal);
    }
    if act.host.config().fencing {
        act.take_epoch().await?;
    }
    let deadline = own_turn_deadline(act);
    let ctx = Context::new(Arc::clone(act), None, deadline);
    let span = tracing::debug_span!("actor.activate", actor.type = %act.key.actor_type, actor.id = %act.key.id);
    execute(
        act,
        &ctx,
        actor.on_activate(&ctx).map(|r| r.map(|()| Bytes::new())),
    )
    .instrument(span)
    .await
    .map(drop)
}

/// Ends an activation cleanly: see the module docs for the order of steps.
async fn deactivate<A: Actor>(
    actor: &A,
    act: &Arc<Activation>,
    mut inbox: Inbox,
    mut reentrant_rx: mpsc::UnboundedReceiver<CallEnvelope>,
    reason: DeactivateReason,
) {
    if let Some(mut slot) = act.ty.table.get_mut(act.key.id.as_str()) {
        if slot.is_mailbox(&act.mailbox) {
            *slot = Slot::Deactivating(Arc::clone(&act.mailbox));
        }
    }
    act.timers.cancel_all();
    inbox.close();
    reentrant_rx.close();
    // Calls queued before the close still get their turn, in order.
    let mut turn_ctx = turn_context(act);
    while let Some(envelope) = inbox.next(&mut reentrant_rx).await {
        if let Envelope::Call(call) = envelope {
            serve_call(
                actor,
                act,
                call,
                &mut turn_ctx,
                &mut inbox,
                &mut reentrant_rx,
            )
            .await;
        }
    }
    // A fenced activation runs `on_deactivate` too (an app behind weftd drops its cached state
    // there), but nothing it writes is committed: the fence refuses it before the store.
    {
        let deadline = own_turn_deadline(act);
        let ctx = Context::new(Arc::clone(act), None, deadline);
        let span = tracing::debug_span!("actor.deactivate", actor.type = %act.key.actor_type,
            actor.id = %act.key.id, reason = ?reason);
        let body = pin!(execute(
            act,
            &ctx,
            actor.on_deactivate(&ctx).map(|r| r.map(|()| Bytes::new())),
        )
        .instrument(span));
        if let Err(e) = inbox.guard(body, None).await {
            tracing::warn!(actor = %act.key, error = %e, "on_deactivate failed; deactivating anyway");
        }
    }
    act.ty.table.remove_if(
        act.key.id.as_str(),
        |_, slot| matches!(slot, Slot::Deactivating(m) if Arc::ptr_eq(m, &act.mailbox)),
    );
    // `run` drops the `done` sender when it returns, right after this.
}

/// The activation could not start: its slot goes, and every queued call gets the reason.
async fn fail_activation(
    act: &Arc<Activation>,
    mut inbox: Inbox,
    mut reentrant_rx: mpsc::UnboundedReceiver<CallEnvelope>,
    error: Error,
) {
    act.timers.cancel_all();
    act.ty
        .table
        .remove_if(act.key.id.as_str(), |_, slot| slot.is_mailbox(&act.mailbox));
    inbox.close();
    reentrant_rx.close();
    let message = format!("activation of {} failed: {}", act.key, error.message());
    while let Some(envelope) = inbox.next(&mut reentrant_rx).await {
        if let Envelope::Call(call) = envelope {
            let _ = call
                .reply
                .send(Err(Error::new(error.kind(), message.clone())));
        }
    }
}
