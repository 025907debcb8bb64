//! What several benches share: runtimes, the actors and the payload they call, the raw tonic
//! echo baseline, the backend/frontend service pair, the timed loop.
//!
//! Shared rather than copied so that benches meant to be compared (local, remote, service, mTLS;
//! sled and Redis turns) set up the same thing the same way.
#![allow(dead_code, unreachable_pub)] // each bench uses a part; `pub` for the benches that `mod` it

use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::measurement::WallTime;
use criterion::{black_box, BenchmarkGroup};
use futures::stream::{self, StreamExt};
use tokio::runtime::Runtime;
use weft::{
    Actor, ActorRegistration, Call, Context, Error, ErrorKind, Host, HostHandle, StateStore,
};

pub mod echo;
pub mod service;

/// The payload of every call. One size everywhere, so the benches' figures compare.
pub const PAYLOAD: &[u8; 16] = b"0123456789abcdef";

/// Calls in flight in the `_64` functions.
pub const IN_FLIGHT: usize = 64;

/// A multi-thread runtime with `workers` threads named `name`.
pub fn runtime(name: &str, workers: usize) -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name(name)
        .enable_all()
        .build()
        .expect("build a tokio runtime")
}

// ---------------------------------------------------------------------------------------------
// The actors under test.

/// Replies the payload; touches no state, so a turn commits nothing. `on_activate` is the
/// default (does nothing), so an activation costs only what the host itself does.
pub struct Echo;

impl Actor for Echo {
    async fn handle(&self, _ctx: &Context, call: Call) -> Result<Bytes, Error> {
        Ok(call.into_payload())
    }
}

/// The state key of [`Counter`].
pub const COUNTER_KEY: &str = "n";

/// Increments its counter by one per call; the counter is an 8-byte big-endian integer. Every
/// turn reads the counter and sets it, so every turn commits a state change.
pub struct Counter;

impl Actor for Counter {
    async fn handle(&self, ctx: &Context, _call: Call) -> Result<Bytes, Error> {
        let n = match ctx.state().get(COUNTER_KEY).await? {
            Some(b) => decode_counter(&b)?,
            None => 0,
        };
        let next = Bytes::copy_from_slice(&(n + 1).to_be_bytes());
        ctx.state().set(COUNTER_KEY, next.clone());
        Ok(next)
    }
}

fn decode_counter(b: &[u8]) -> Result<u64, Error> {
    let bytes = b
        .try_into()
        .map_err(|_| Error::new(ErrorKind::Internal, "the counter is not 8 bytes"))?;
    Ok(u64::from_be_bytes(bytes))
}

/// Starts a host with the `counter` type on `store` and activates counter `c1` with one call,
/// so that the bench then measures only state-changing turns of an active actor whose counter
/// is cached.
pub async fn start_counter_host(store: impl StateStore) -> Host {
    let host = Host::builder()
        .store(store)
        .register(ActorRegistration::new("counter", |_id| Counter))
        .start()
        .expect("start the host");
    let reply = host
        .handle()
        .call("counter", "c1", "incr", Bytes::new())
        .await
        .expect("warm-up call");
    assert_eq!(&reply[..], &1u64.to_be_bytes());
    host
}

/// Benches `weft_state_changing_turn`: one `incr` call to the counter `c1` of
/// [`start_counter_host`], driven by criterion's async loop on `rt`.
pub fn bench_state_changing_turn(
    group: &mut BenchmarkGroup<'_, WallTime>,
    rt: &Runtime,
    handle: &HostHandle,
) {
    group.bench_function("weft_state_changing_turn", |b| {
        b.to_async(rt).iter(|| async move {
            let reply = handle
                .call("counter", "c1", "incr", Bytes::new())
                .await
                .expect("call the counter actor");
            black_box(reply)
        });
    });
}

// ---------------------------------------------------------------------------------------------
// The timed loops.

/// Runs `iters` calls made by `call(i)` with `in_flight` calls at a time, in one task on `rt`;
/// returns the total time.
pub fn timed<F, Fut>(rt: &Runtime, iters: u64, in_flight: usize, call: F) -> Duration
where
    F: Fn(u64) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Bytes> + Send,
{
    rt.block_on(async move {
        tokio::spawn(async move {
            let start = Instant::now();
            if in_flight == 1 {
                for i in 0..iters {
                    black_box(call(i).await);
                }
            } else {
                stream::iter(0..iters)
                    .map(call)
                    .buffer_unordered(in_flight)
                    .for_each(|reply| {
                        black_box(reply);
                        std::future::ready(())
                    })
                    .await;
            }
            start.elapsed()
        })
        .await
        .expect("the timing task ran")
    })
}

/// Keeps `Duration` used when a bench uses only part of this module.
pub const SETUP_TIMEOUT: Duration = Duration::from_secs(15);
