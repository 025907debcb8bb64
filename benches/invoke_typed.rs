//! The cost of `#[actor]`: a call through the generated proxy against the untyped call path,
//! to the same actor and method, in the same group.
//!
//! - `proxy_call`: `CounterProxy::add(3)` — encode the argument, call, decode the reply, all
//!   generated.
//! - `untyped_call`: `HostHandle::call("Counter", id, "add", payload)` with the payload encoded
//!   by hand and the reply decoded by hand (what the proxy saves you from writing).
//!
//! Both time a loop inside a task on a 2-worker tokio runtime; the actor is active and its
//! method is `&self` (no state write), so the ratio is the macro's own overhead.

// `criterion_group!` generates an undocumented `pub fn` at the crate root.
#![allow(missing_docs)]

use std::time::{Duration, Instant};

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use serde::{Deserialize, Serialize};
use weft::{Codec, Host, MemoryStore};

/// A read-only adder: the benchmark's actor.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Counter {
    base: u64,
}

#[weft::actor]
impl Counter {
    /// `base + n`.
    pub async fn add(&self, n: u64) -> u64 {
        self.base + n
    }
}

fn invoke_typed(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("build the tokio runtime");
    let host = rt.block_on(async {
        let host = Host::builder()
            .store(MemoryStore::new())
            .actor::<Counter>()
            .start()
            .expect("start the host");
        let reply = host
            .handle()
            .actor::<Counter>("c1")
            .add(1)
            .await
            .expect("warm-up call");
        assert_eq!(reply, 1);
        host
    });
    let handle = host.handle();

    let mut group = c.benchmark_group("invoke_typed");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));

    group.bench_function("proxy_call", |b| {
        b.iter_custom(|iters| {
            let proxy = handle.actor::<Counter>("c1");
            rt.block_on(async move {
                tokio::spawn(async move {
                    let start = Instant::now();
                    for i in 0..iters {
                        black_box(proxy.add(black_box(i)).await.expect("call"));
                    }
                    start.elapsed()
                })
                .await
                .expect("the timing task ran")
            })
        });
    });

    group.bench_function("untyped_call", |b| {
        b.iter_custom(|iters| {
            let handle = handle.clone();
            rt.block_on(async move {
                tokio::spawn(async move {
                    let start = Instant::now();
                    for i in 0..iters {
                        let payload = Codec::Binary.encode(&black_box(i)).expect("encode");
                        let reply = handle
                            .call("Counter", "c1", "add", payload)
                            .await
                            .expect("call");
                        let n: u64 = Codec::Binary.decode(&reply).expect("decode");
                        black_box(n);
                    }
                    start.elapsed()
                })
                .await
                .expect("the timing task ran")
            })
        });
    });

    group.finish();
    rt.block_on(host.shutdown()).expect("shut the host down");
}

criterion_group!(benches, invoke_typed);
criterion_main!(benches);
