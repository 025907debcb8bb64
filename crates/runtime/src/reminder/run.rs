//! The scheduler task of a host: polls each served type's due index a short horizon ahead,
//! queues what this host owns, and fires each reminder as a turn when it is due.
//!
//! Why poll an index and not keep every reminder in memory: a host then holds only what is due
//! soon, a new owner learns about moved reminders by its next poll (no re-read of all reminders
//! on a rebalance), and a reminder registered anywhere is seen everywhere through the store.
//! A local registration on the owner is queued at once, so short due times do not wait for a
//! poll.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::record::{index_key, now_ms, parse_record_key};
use super::scheduler::{ms, owns};
use crate::actor::id::ActorType;
use crate::host::handle::HostHandle;
use crate::state::StateKey;
use crate::sync::lock;
use crate::telemetry::ReminderFiring;

/// The scheduler task of a host: runs until the host aborts it at shutdown.
pub(crate) async fn run(host: HostHandle) {
    let poll_every = host.reminders().config.poll_interval;
    let mut next_poll = Instant::now();
    loop {
        if Instant::now() >= next_poll {
            poll(&host).await;
            next_poll = Instant::now() + poll_every;
        }
        let now = now_ms();
        for (key, actor_type) in host.reminders().take_due(now) {
            start_firing(&host, key, actor_type);
        }
        let scheduler = host.reminders();
        let wake_at = match scheduler.next_due_ms() {
            Some(due) => {
                next_poll.min(Instant::now() + Duration::from_millis(due.saturating_sub(now)))
            }
            None => next_poll,
        };
        tokio::select! {
            () = tokio::time::sleep_until(wake_at) => {}
            () = scheduler.wake.notified() => {}
        }
    }
}

/// Reads each served type's due index up to the horizon and queues what this host owns.
async fn poll(host: &HostHandle) {
    let scheduler = host.reminders();
    let Ok(store) = host.store() else { return };
    let app = host.config().app_id.clone();
    let until = now_ms().saturating_add(ms(scheduler.config.horizon));
    let page = scheduler.config.page_size;
    for actor_type in host.actor_types() {
        let index = index_key(&app, &actor_type);
        let ty = ActorType::from(actor_type.as_str());
        let mut offset = 0;
        loop {
            let entries = match store.scan_index(&index, until, offset, page).await {
                Ok(entries) => entries,
                Err(e) => {
                    tracing::warn!(actor.type = %actor_type, error = %e, "reminder poll failed; retrying at the next poll");
                    break;
                }
            };
            for entry in &entries {
                let Some((id, _)) = parse_record_key(&app, &actor_type, &entry.member) else {
                    continue;
                };
                if owns(host.cluster(), &actor_type, id)
                    && !lock(&scheduler.in_flight).contains(&entry.member)
                {
                    scheduler.enqueue(entry.member.clone(), ty.clone(), entry.score);
                }
            }
            if entries.len() < page {
                break;
            }
            offset += entries.len();
        }
    }
}

/// Spawns one firing, unless the reminder is firing already.
fn start_firing(host: &HostHandle, key: StateKey, actor_type: ActorType) {
    let scheduler = host.reminders();
    if !lock(&scheduler.in_flight).insert(key.clone()) {
        return;
    }
    let host = host.clone();
    let permits = Arc::clone(&scheduler.permits);
    tokio::spawn(async move {
        let _permit = permits.acquire_owned().await;
        if let Err(e) = super::fire::fire(&host, &key, &actor_type).await {
            tracing::warn!(reminder = %key, error = %e, "reminder firing failed; retrying");
            host.reminders().retried.fetch_add(1, Ordering::Relaxed);
            if let Some(metrics) = host.metrics() {
                metrics.record_reminder(actor_type.as_str(), ReminderFiring::Retried);
            }
            let retry_at = now_ms().saturating_add(ms(host.reminders().config.poll_interval));
            host.reminders().enqueue(key.clone(), actor_type, retry_at);
        }
        lock(&host.reminders().in_flight).remove(&key);
    });
}
