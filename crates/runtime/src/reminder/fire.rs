//! One reminder firing: read the record, run the turn if it is due and ours, then advance the
//! record (or end it) with a write conditional on the ETag read before the turn.

use std::sync::atomic::Ordering;

use tokio::time::Instant;

use super::record::{index_key, now_ms, parse_record_key, Record};
use super::scheduler::owns;
use super::ReminderOutcome;
use crate::actor::{ActorType, CallOrigin, Deadline};
use crate::codec::Codec;
use crate::error::{Error, ErrorKind, RetryClass};
use crate::host::handle::HostHandle;
use crate::invoke::request::Request;
use crate::state::{Condition, Operation, StateKey, StateStore};
use crate::telemetry::ReminderFiring;

/// Whether a failed reminder turn should be tried again: it may not have run (the actor was
/// moving, busy past the deadline, or its host unreachable), or it could not commit, for reasons
/// that pass. At least once: a turn that did run but reported one of these runs again.
pub(super) fn is_transient(e: &Error) -> bool {
    match e.retry_class() {
        // A firing is at-least-once, so it counts as idempotent.
        RetryClass::NeverSent | RetryClass::IdempotentOnly => true,
        // Not committed, for reasons that pass: a lost ETag race, or a store failure that may
        // pass (`Store`; data that cannot be read is `Corrupt`, and a retry would not help).
        RetryClass::Never => matches!(e.kind(), ErrorKind::Store | ErrorKind::Conflict),
    }
}

/// One firing: read the record, run the turn if it is due and ours, then advance the record
/// (or end it) with a write conditional on the ETag read before the turn.
pub(super) async fn fire(
    host: &HostHandle,
    key: &StateKey,
    actor_type: &ActorType,
) -> Result<(), Error> {
    let store = host.store()?;
    let app = &host.config().app_id;
    let index = index_key(app, actor_type.as_str());
    let Some((id, name)) = parse_record_key(app, actor_type.as_str(), key) else {
        return Ok(());
    };
    let Some(stored) = store.get(key).await? else {
        // Unregistered: drop its index entry, unless it was registered again meanwhile.
        drop_entry(&*store, &index, key, Condition::Absent).await;
        return Ok(());
    };
    let record = match Record::decode(&stored.value) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(reminder = %key, error = %e, "unreadable reminder record; it no longer fires");
            drop_entry(&*store, &index, key, Condition::Matches(stored.etag)).await;
            return Ok(());
        }
    };
    let condition = Condition::Matches(stored.etag);
    let now = now_ms();
    if record.is_expired(now) {
        end(&*store, &index, key, condition).await?;
        return Ok(());
    }
    if record.next_due_ms > now {
        // Moved later since it was queued (never fire early).
        host.reminders()
            .enqueue(key.clone(), actor_type.clone(), record.next_due_ms);
        return Ok(());
    }
    if !owns(host.cluster(), actor_type.as_str(), id) {
        return Ok(());
    }
    let request = Request {
        method: record.callback.clone().into(),
        payload: record.data.clone().into(),
        codec: Codec::Binary,
        deadline: Deadline::At(Instant::now() + host.config().call_timeout),
        chain: None,
        hop_count: 0,
    };
    let span = tracing::info_span!("reminder.fire", actor.type = %actor_type, actor.id = %id, reminder = %name);
    let origin = CallOrigin::Reminder(name.to_owned());
    let result = tracing::Instrument::instrument(
        async {
            host.dispatch()
                .send_local(actor_type.as_str(), id, request, Some(Box::new(origin)))?
                .await
        },
        span,
    )
    .await;
    let outcome = match result {
        Ok(reply) => ReminderOutcome::from_reply(&reply),
        Err(e) if is_transient(&e) => return Err(e),
        Err(e) => {
            tracing::warn!(reminder = %key, error = %e, "reminder callback failed; the reminder goes on");
            ReminderOutcome::Keep
        }
    };
    let scheduler = host.reminders();
    scheduler.fired.fetch_add(1, Ordering::Relaxed);
    if let Some(metrics) = host.metrics() {
        metrics.record_reminder(actor_type.as_str(), ReminderFiring::Fired);
    }
    let next = match outcome {
        ReminderOutcome::Cancel => None,
        ReminderOutcome::Keep => record.after_firing(now),
    };
    let written = match &next {
        Some(next) => {
            let ops = vec![
                Operation::Set {
                    key: key.clone(),
                    value: next.encode()?,
                    condition,
                },
                Operation::IndexAdd {
                    index: index.clone(),
                    member: key.clone(),
                    score: next.next_due_ms,
                },
            ];
            store.transact(ops).await.map(drop)
        }
        None => end(&*store, &index, key, condition).await,
    };
    match written {
        Ok(()) => {
            if let Some(next) = next {
                scheduler.enqueue(key.clone(), actor_type.clone(), next.next_due_ms);
            }
            Ok(())
        }
        Err(e) if e.is_conflict() => {
            // Changed while the turn ran: unregistered or replaced (fine), or advanced by
            // another host that fired the same period (a duplicate).
            if let Ok(Some(now_stored)) = store.get(key).await {
                if let Ok(r) = Record::decode(&now_stored.value) {
                    if r.fired > record.fired {
                        scheduler.duplicates.fetch_add(1, Ordering::Relaxed);
                        if let Some(metrics) = host.metrics() {
                            metrics.record_reminder(actor_type.as_str(), ReminderFiring::Duplicate);
                        }
                        tracing::warn!(reminder = %key, "reminder period fired twice (another host fired it too)");
                    }
                    scheduler.enqueue(key.clone(), actor_type.clone(), r.next_due_ms);
                }
            }
            Ok(())
        }
        // The turn ran but its advance was not recorded: it fires again (at least once).
        Err(e) => Err(e.into()),
    }
}

/// Deletes the record (if it still has the ETag read) and its index entry.
async fn end(
    store: &dyn StateStore,
    index: &StateKey,
    key: &StateKey,
    condition: Condition,
) -> Result<(), crate::state::StoreError> {
    let ops = vec![
        Operation::Delete {
            key: key.clone(),
            condition,
        },
        Operation::IndexRemove {
            index: index.clone(),
            member: key.clone(),
        },
    ];
    store.transact(ops).await.map(drop)
}

/// Removes an index entry whose record is gone or unreadable, if the record is still as seen.
async fn drop_entry(store: &dyn StateStore, index: &StateKey, key: &StateKey, seen: Condition) {
    let ops = vec![
        Operation::Check {
            key: key.clone(),
            condition: seen,
        },
        Operation::IndexRemove {
            index: index.clone(),
            member: key.clone(),
        },
    ];
    if let Err(e) = store.transact(ops).await {
        if !e.is_conflict() {
            tracing::debug!(reminder = %key, error = %e, "could not drop a stale reminder index entry");
        }
    }
}
