//! Reentrancy: A → B → A fails clearly when off, runs as a nested turn when on, and lets only
//! the chain back in, never a caller from outside it.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{call_route, dec, probe, Stats};
use tokio::sync::{mpsc, Semaphore};
use weft_runtime::state::StateKey;
use weft_runtime::{
    Actor, ActorId, ActorRegistration, Call, Context, Error, ErrorKind, Host, HostHandle,
    MemoryStore, Reentrancy,
};

fn route(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

/// An actor whose every call reports that it started (on `entered`), waits until the test
/// opens the gate, then calls the route in its payload (as the probe's `call`).
struct Gate {
    entered: mpsc::UnboundedSender<()>,
    open: Arc<Semaphore>,
}

impl Actor for Gate {
    async fn handle(&self, ctx: &Context, call: Call) -> Result<Bytes, Error> {
        let _ = self.entered.send(());
        let _open = self
            .open
            .acquire()
            .await
            .map_err(|_| Error::new(ErrorKind::Internal, "the gate was dropped"))?;
        call_route(ctx, call.payload()).await
    }
}

/// The committed count of probe `actor_type`/`id` in app `shop`'s store, if any.
async fn committed_n(h: &HostHandle, actor_type: &str, id: &str) -> Option<u64> {
    h.store()
        .unwrap()
        .get(&StateKey::raw(format!("shop||{actor_type}||{id}||n")))
        .await
        .unwrap()
        .map(|v| dec(&v.value))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_cycle_without_reentrancy_fails_at_once_with_a_clear_error() {
    let stats = Stats::new(1);
    let host = Host::builder()
        .app_id("shop")
        .store(MemoryStore::new())
        .call_timeout(Duration::from_secs(30))
        .register(probe("a", &stats))
        .register(probe("b", &stats))
        .start()
        .unwrap();
    let h = host.handle();
    h.call("a", "1", "incr", Bytes::new()).await.unwrap();
    let started = Instant::now();
    // a/1 -> b/1 -> a/1: a/1 is waiting for b/1, so a/1 cannot take b/1's call. a/1 and b/1
    // each write n + 1 before their call.
    let err = h
        .call(
            "a",
            "1",
            "incr_then_call",
            route("b/1/incr_then_call;a/1/get"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Reentrancy, "{err}");
    assert!(err.message().contains("a/1 -> b/1 -> a/1"), "{err}");
    assert!(err.message().contains("reentrancy is disabled"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the cycle must fail at once, not at the 30 s deadline"
    );
    // The failed chain committed nothing: both writes died with their failed turns, in the
    // store and in what the actors serve.
    assert_eq!(
        committed_n(&h, "a", "1").await,
        Some(1),
        "a/1's write was kept"
    );
    assert_eq!(
        committed_n(&h, "b", "1").await,
        None,
        "b/1's write was kept"
    );
    assert_eq!(
        dec(&h.call("a", "1", "get", Bytes::new()).await.unwrap()),
        1
    );
    assert_eq!(
        dec(&h.call("b", "1", "get", Bytes::new()).await.unwrap()),
        0
    );
    // Nobody is stuck afterwards.
    h.call("a", "1", "incr", Bytes::new()).await.unwrap();
    h.call("b", "1", "incr", Bytes::new()).await.unwrap();
    // A chain without a cycle works: a/1 -> b/1 -> b/2.
    let reply = h
        .call("a", "1", "call", route("b/1/call;b/2/incr"))
        .await
        .unwrap();
    assert_eq!(dec(&reply), 1);
    host.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_reentrancy_a_call_back_into_a_waiting_actor_runs_as_a_nested_turn() {
    let stats = Stats::new(1);
    let host = Host::builder()
        .store(MemoryStore::new())
        .call_timeout(Duration::from_secs(10))
        .reentrancy(Reentrancy::enabled())
        .register(probe("a", &stats))
        .register(probe("b", &stats))
        .start()
        .unwrap();
    let h = host.handle();
    h.call("a", "1", "incr", Bytes::new()).await.unwrap();
    // a/1 -> b/1 -> a/1.get: the nested turn of a/1 answers while its outer turn waits.
    let reply = h
        .call("a", "1", "call", route("b/1/call;a/1/get"))
        .await
        .unwrap();
    assert_eq!(dec(&reply), 1);
    // A nested turn's state change is committed.
    h.call("a", "1", "call", route("b/1/call;a/1/incr"))
        .await
        .unwrap();
    let n = h.call("a", "1", "get", Bytes::new()).await.unwrap();
    assert_eq!(dec(&n), 2);
    host.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_reentrancy_a_caller_outside_the_chain_still_waits_for_the_turn() {
    let stats = Stats::new(1);
    let (entered_tx, mut entered) = mpsc::unbounded_channel();
    let open = Arc::new(Semaphore::new(0));
    let gate_open = Arc::clone(&open);
    let host = Host::builder()
        .store(MemoryStore::new())
        .call_timeout(Duration::from_secs(10))
        .reentrancy(Reentrancy::enabled())
        .register(probe("a", &stats))
        .register(ActorRegistration::new("g", move |_id: &ActorId| Gate {
            entered: entered_tx.clone(),
            open: Arc::clone(&gate_open),
        }))
        .start()
        .unwrap();
    let h = host.handle();
    // a/1 -> g/1, which holds until the gate opens, then calls back into a/1 (a nested turn).
    let chain = tokio::spawn({
        let h = h.clone();
        async move { h.call("a", "1", "call", route("g/1/hold;a/1/get")).await }
    });
    tokio::time::timeout(Duration::from_secs(5), entered.recv())
        .await
        .expect("g/1 is held within 5 s")
        .expect("the gate is alive");
    // a/1's turn is waiting for g/1: a call from outside its chain must wait for that turn.
    let mut outsider = tokio::spawn({
        let h = h.clone();
        async move { h.call("a", "1", "incr", Bytes::new()).await }
    });
    let early = tokio::time::timeout(Duration::from_millis(300), &mut outsider).await;
    assert!(
        early.is_err(),
        "a call from outside the chain ran while a/1's turn waited: {early:?}"
    );
    open.add_permits(1);
    let seen = tokio::time::timeout(Duration::from_secs(5), chain)
        .await
        .expect("the chain ends once the gate opens")
        .unwrap()
        .unwrap();
    assert_eq!(
        dec(&seen),
        0,
        "the chain's nested get ran before the outside incr"
    );
    let n = tokio::time::timeout(Duration::from_secs(5), outsider)
        .await
        .expect("the outside call runs after the turn")
        .unwrap()
        .unwrap();
    assert_eq!(dec(&n), 1);
    host.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reentrancy_stops_at_the_maximum_depth() {
    let stats = Stats::new(1);
    let host = Host::builder()
        .store(MemoryStore::new())
        .register(probe("a", &stats).reentrancy(Reentrancy {
            enabled: true,
            max_stack_depth: 3,
        }))
        .start()
        .unwrap();
    let h = host.handle();
    let err = h.call("a", "1", "recurse", Bytes::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Reentrancy, "{err}");
    assert!(err.message().contains("maximum of 3"), "{err}");
    // The actor still serves afterwards.
    h.call("a", "1", "incr", Bytes::new()).await.unwrap();
    host.shutdown().await.unwrap();
}
