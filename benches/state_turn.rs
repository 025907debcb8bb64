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

use std::time::Duration;

use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use tokio::runtime::Runtime;
use weft::{Actor, ActorRegistration, Call, Context, Error, ErrorKind, Host, SledStore};

/// The state key of the counter.
const KEY: &str = "n";

/// Increments its counter by one per call; the counter is an 8-byte big-endian integer.
struct Counter;

impl Actor for Counter {
    async fn handle(&self, ctx: &Context, _call: Call) -> Result<Bytes, Error> {
        let n = match ctx.state().get(KEY).await? {
            Some(b) => decode(&b)?,
            None => 0,
        };
        let next = Bytes::copy_from_slice(&(n + 1).to_be_bytes());
        ctx.state().set(KEY, next.clone());
        Ok(next)
    }
}

fn decode(b: &[u8]) -> Result<u64, Error> {
    let bytes = b
        .try_into()
        .map_err(|_| Error::new(ErrorKind::Internal, "the counter is not 8 bytes"))?;
    Ok(u64::from_be_bytes(bytes))
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("build the tokio runtime")
}

fn state_turn(c: &mut Criterion) {
    let rt = runtime();
    let weft_dir = tempfile::tempdir().expect("create a temporary directory");
    let raw_dir = tempfile::tempdir().expect("create a temporary directory");

    let host = rt.block_on(async {
        let store = SledStore::open(weft_dir.path()).expect("open the weft sled store");
        let host = Host::builder()
            .store(store)
            .register(ActorRegistration::new("counter", |_id| Counter))
            .start()
            .expect("start the host");
        // Activate the actor and load its counter, so only state-changing turns are measured.
        let reply = host
            .handle()
            .call("counter", "c1", "incr", Bytes::new())
            .await
            .expect("warm-up call");
        assert_eq!(&reply[..], &1u64.to_be_bytes());
        host
    });
    let handle = host.handle();

    let db = sled::open(raw_dir.path()).expect("open the baseline sled database");
    // The same key shape the host writes: `app||type||id||key`.
    let raw_key = format!("weft||counter||c1||{KEY}");

    let mut group = c.benchmark_group("state_turn_sled");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));

    group.bench_function("weft_state_changing_turn", |b| {
        b.to_async(&rt).iter(|| {
            let handle = &handle;
            async move {
                let reply = handle
                    .call("counter", "c1", "incr", Bytes::new())
                    .await
                    .expect("call the counter actor");
                black_box(reply)
            }
        });
    });

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
