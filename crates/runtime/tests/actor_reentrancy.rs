//! Reentrancy: A → B → A fails clearly when off, runs as a nested turn when on.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{dec, probe, Stats};
use weft_runtime::{ErrorKind, Host, MemoryStore, Reentrancy};

fn route(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_cycle_without_reentrancy_fails_at_once_with_a_clear_error() {
    let stats = Stats::new(1);
    let host = Host::builder()
        .store(MemoryStore::new())
        .call_timeout(Duration::from_secs(30))
        .register(probe("a", &stats))
        .register(probe("b", &stats))
        .start()
        .unwrap();
    let h = host.handle();
    let started = Instant::now();
    // a/1 -> b/1 -> a/1: a/1 is waiting for b/1, so a/1 cannot take b/1's call.
    let err = h
        .call("a", "1", "call", route("b/1/call;a/1/get"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Reentrancy, "{err}");
    assert!(err.message().contains("a/1 -> b/1 -> a/1"), "{err}");
    assert!(err.message().contains("reentrancy is disabled"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the cycle must fail at once, not at the 30 s deadline"
    );
    // Nobody is stuck afterwards, and the failed chain committed nothing.
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
    assert_eq!(stats.overlaps.load(std::sync::atomic::Ordering::SeqCst), 0);
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
