//! The cost of one local call to an already-active actor.
//!
//! - `weft_call_active_actor`: `HostHandle::call(type, id, "echo", payload)` to an echo actor
//!   that is already active (warmed up by one call first), on a `MemoryStore` host. The turn
//!   makes no state changes, so nothing is committed.
//! - `raw_mpsc_oneshot` (the baseline): a spawned tokio task receives `(payload, oneshot
//!   sender)` from a bounded `tokio::sync::mpsc` channel (capacity 1024) and replies the payload;
//!   the measured op is send plus awaiting the reply. This is the floor a mailbox-and-reply call
//!   path cannot go below.
//!
//! Both run on the same 2-worker multi-thread tokio runtime with a 16-byte payload, so the
//! ratio weft/baseline is the overhead of the call path (type lookup, id validation, deadline,
//! table lookup, turn bookkeeping).
//!
//! The timed loop runs *inside* a task on the runtime (`iter_custom`), as application code
//! calling actors does. Driving each call from criterion's thread instead would add a
//! cross-thread wake-up (~17 µs on a 2-core VM) to both sides and hide the difference.

// `criterion_group!` generates an undocumented `pub fn` at the crate root.
#![allow(missing_docs)]

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{runtime, Echo, PAYLOAD};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use tokio::sync::{mpsc, oneshot};
use weft::{ActorRegistration, Host, MemoryStore};

fn invoke_local(c: &mut Criterion) {
    let rt = runtime("invoke-local", 2);
    let payload = Bytes::from_static(PAYLOAD);

    let host = rt.block_on(async {
        let host = Host::builder()
            .store(MemoryStore::new())
            .register(ActorRegistration::new("echo", |_id| Echo))
            .start()
            .expect("start the host");
        // Activate the actor, so only calls to an active actor are measured.
        let reply = host
            .handle()
            .call("echo", "e1", "echo", payload.clone())
            .await
            .expect("warm-up call");
        assert_eq!(reply, payload);
        host
    });
    let handle = host.handle();

    let (tx, mut rx) = mpsc::channel::<(Bytes, oneshot::Sender<Bytes>)>(1024);
    rt.spawn(async move {
        while let Some((payload, reply)) = rx.recv().await {
            let _ = reply.send(payload);
        }
    });

    let mut group = c.benchmark_group("invoke_local");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));

    group.bench_function("weft_call_active_actor", |b| {
        b.iter_custom(|iters| {
            let (handle, payload) = (handle.clone(), payload.clone());
            rt.block_on(async move {
                tokio::spawn(async move {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let reply = handle
                            .call("echo", "e1", "echo", payload.clone())
                            .await
                            .expect("call the echo actor");
                        black_box(reply);
                    }
                    start.elapsed()
                })
                .await
                .expect("the timing task ran")
            })
        });
    });

    group.bench_function("raw_mpsc_oneshot", |b| {
        b.iter_custom(|iters| {
            let (tx, payload) = (tx.clone(), payload.clone());
            rt.block_on(async move {
                tokio::spawn(async move {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let (reply_tx, reply_rx) = oneshot::channel();
                        tx.send((payload.clone(), reply_tx))
                            .await
                            .expect("the echo task is running");
                        black_box(reply_rx.await.expect("the echo task replies"));
                    }
                    start.elapsed()
                })
                .await
                .expect("the timing task ran")
            })
        });
    });

    group.finish();
    drop(tx);
    rt.block_on(host.shutdown()).expect("shut the host down");
}

criterion_group!(benches, invoke_local);
criterion_main!(benches);
