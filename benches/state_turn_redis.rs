//! The cost of a turn that changes state, committed to Redis (the store a cluster shares).
//!
//! - `weft_state_changing_turn`: a call to an already-active counter actor whose turn reads its
//!   8-byte counter (cached after the warm-up call) and sets it to the next value; the host
//!   commits it to a `RedisStore` (one Lua script: ETag check, fresh ETag, `HSET`).
//! - `raw_redis_set` (the baseline): one `SET key value` round trip of the same 8 bytes over the
//!   same kind of multiplexed connection (`ConnectionManager`): the floor for one write to Redis.
//!
//! Both talk to one `redis-server` on loopback started by the bench (no persistence), from the
//! same 2-worker tokio runtime. The ratio is the overhead of the call path, the conditional
//! script and the commit bookkeeping on top of one Redis round trip.

// `criterion_group!` generates an undocumented `pub fn` at the crate root.
#![allow(missing_docs)]

mod common;

use std::time::Duration;

use common::{bench_state_changing_turn, runtime, start_counter_host};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use weft::testing::RedisServer;
use weft::RedisStore;

fn state_turn_redis(c: &mut Criterion) {
    let server = RedisServer::start().expect("start redis-server (is it installed?)");
    let rt = runtime("state-turn-redis", 2);
    let host = rt.block_on(async {
        let store = RedisStore::connect(&server.url())
            .await
            .expect("connect the store");
        start_counter_host(store).await
    });
    let handle = host.handle();
    let conn = rt.block_on(async {
        let client = redis::Client::open(server.url()).expect("redis url");
        redis::aio::ConnectionManager::new(client)
            .await
            .expect("connect the baseline")
    });

    let mut group = c.benchmark_group("state_turn_redis");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));

    bench_state_changing_turn(&mut group, &rt, &handle);

    let mut n = 0u64;
    group.bench_function("raw_redis_set", |b| {
        b.to_async(&rt).iter(|| {
            n += 1;
            let value = n.to_be_bytes();
            let mut conn = conn.clone();
            async move {
                let reply: redis::Value = redis::cmd("SET")
                    .arg("weft||counter||c2||n")
                    .arg(&value[..])
                    .query_async(&mut conn)
                    .await
                    .expect("SET");
                black_box(reply)
            }
        });
    });
    group.finish();
    rt.block_on(host.shutdown()).expect("shut the host down");
    drop(conn);
    drop(server);
}

criterion_group!(benches, state_turn_redis);
criterion_main!(benches);
