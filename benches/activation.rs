//! The cost of activating an actor: the first call to an id the host has never seen.
//!
//! - `weft_activate_fresh_actor`: each iteration calls a new actor id (`a0`, `a1`, ...) of an
//!   echo type on a `MemoryStore` host, so it pays for the table insert, the mailbox channels, the
//!   task spawn, `on_activate` and the first turn. The idle timeout is a day, so nothing is
//!   deactivated while measuring.
//! - `raw_spawn_task_roundtrip` (the baseline): each iteration creates a bounded mpsc channel
//!   (capacity 1024), spawns a tokio task owning its receiver, sends it `(payload, oneshot
//!   sender)` and awaits the reply: what an activation fundamentally costs. The task ends
//!   when the iteration drops its sender.
//!
//! Both time their loop inside a runtime task (criterion's own thread would add a cross-thread
//! wake-up of ~17 us to every iteration on a 2-core VM and hide the difference).
//!
//! Activated actors stay in memory until their host shuts down. To keep memory bounded however
//! many iterations criterion picks, every sample of the weft bench gets its own host; creating
//! it, formatting the ids and shutting it down are not timed.

// `criterion_group!` generates an undocumented `pub fn` at the crate root.
#![allow(missing_docs)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{runtime, Echo, PAYLOAD};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use weft::{ActorRegistration, Host, MemoryStore};

/// Long enough that no actor goes idle during a run.
const NEVER_IDLE: Duration = Duration::from_secs(24 * 60 * 60);

fn activation(c: &mut Criterion) {
    let rt = runtime("activation", 2);
    let payload = Bytes::from_static(PAYLOAD);

    let mut group = c.benchmark_group("activation");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));

    group.bench_function("weft_activate_fresh_actor", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let payload = payload.clone();
            async move {
                let host = Host::builder()
                    .store(MemoryStore::new())
                    .idle_timeout(NEVER_IDLE)
                    .scan_interval(NEVER_IDLE)
                    .register(ActorRegistration::new("echo", |_id| Echo))
                    .start()
                    .expect("start the host");
                let handle = host.handle();
                let ids: Vec<String> = (0..iters).map(|n| format!("a{n}")).collect();
                let expected = ids.len();
                // Timed inside a runtime task, as application code calls actors.
                let timed = handle.clone();
                let elapsed = tokio::spawn(async move {
                    let start = Instant::now();
                    for id in &ids {
                        let reply = timed
                            .call("echo", id, "echo", payload.clone())
                            .await
                            .expect("call a fresh echo actor");
                        black_box(reply);
                    }
                    start.elapsed()
                })
                .await
                .expect("the timing task ran");
                assert_eq!(handle.active_count("echo"), expected);
                host.shutdown().await.expect("shut the host down");
                elapsed
            }
        });
    });

    group.bench_function("raw_spawn_task_roundtrip", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let payload = payload.clone();
            async move {
                tokio::spawn(async move {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let (tx, mut rx) = mpsc::channel::<(Bytes, oneshot::Sender<Bytes>)>(1024);
                        tokio::spawn(async move {
                            while let Some((payload, reply)) = rx.recv().await {
                                let _ = reply.send(payload);
                            }
                        });
                        let (reply_tx, reply_rx) = oneshot::channel();
                        tx.send((payload.clone(), reply_tx))
                            .await
                            .expect("the task is running");
                        black_box(reply_rx.await.expect("the task replies"));
                    }
                    start.elapsed()
                })
                .await
                .expect("the timing task ran")
            }
        });
    });

    group.finish();
}

criterion_group!(benches, activation);
criterion_main!(benches);
