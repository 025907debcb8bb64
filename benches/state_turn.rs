//! The cost of a turn that changes state, committed durably to sled.
//!
//! - `weft_state_changing_turn`: a call to an already-active counter actor whose turn reads its
//!   8-byte counter (cached after the warm-up call) and sets it to the next value with
//!   `ctx.state().set(..)`; the host commits it to a `SledStore` in a temporary directory, which
//!   includes the transaction and the durable flush.
//! - `raw_sled_insert_flush` (the baseline): `db.insert(key, value)` of the same 8-byte counter
//!   followed by `db.flush_async().await`, on a separate sled database in another temporary
//!   directory: the floor for one durable write.
//!
//! Both run on the same 2-worker multi-thread tokio runtime. The ratio weft/baseline is the
//! overhead of the call path, the conditional transaction (ETag check, fresh ETag) and the
//! commit bookkeeping on top of one flushed sled write.

// `criterion_group!` generates an undocumented `pub fn` at the crate root.
#![allow(missing_docs)]

mod common;

use std::time::Duration;

use common::{bench_state_changing_turn, runtime, start_counter_host, COUNTER_KEY};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use weft::SledStore;

fn state_turn(c: &mut Criterion) {
    let rt = runtime("state-turn", 2);
    let weft_dir = tempfile::tempdir().expect("create a temporary directory");
    let raw_dir = tempfile::tempdir().expect("create a temporary directory");

    let host = rt.block_on(async {
        let store = SledStore::open(weft_dir.path()).expect("open the weft sled store");
        start_counter_host(store).await
    });
    let handle = host.handle();

    let db = sled::open(raw_dir.path()).expect("open the baseline sled database");
    // The same key shape the host writes: `app||type||id||key`.
    let raw_key = format!("weft||counter||c1||{COUNTER_KEY}");

    let mut group = c.benchmark_group("state_turn_sled");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));

    bench_state_changing_turn(&mut group, &rt, &handle);

    let mut n = 0u64;
    group.bench_function("raw_sled_insert_flush", |b| {
        b.to_async(&rt).iter(|| {
            n += 1;
            let value = n.to_be_bytes();
            let (db, key) = (&db, raw_key.as_bytes());
            async move {
                db.insert(key, &value[..]).expect("sled insert");
                black_box(db.flush_async().await.expect("sled flush"))
            }
        });
    });

    group.finish();
    rt.block_on(host.shutdown()).expect("shut the host down");
}

criterion_group!(benches, state_turn);
criterion_main!(benches);
