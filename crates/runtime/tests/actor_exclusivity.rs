//! Turns: one at a time inside an actor, in parallel across actors.

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use common::{dec, probe, Stats};
use weft_runtime::{Host, SledStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_concurrent_calls_to_one_actor_never_overlap() {
    let dir = tempfile::tempdir().unwrap();
    let stats = Stats::new(1);
    let host = Host::builder()
        .store(SledStore::open(dir.path()).unwrap())
        .register(probe("probe", &stats))
        .start()
        .unwrap();
    let mut calls = Vec::new();
    for _ in 0..1_000 {
        let h = host.handle();
        calls.push(tokio::spawn(async move {
            h.call("probe", "one", "exclusive_incr", Bytes::new()).await
        }));
    }
    let mut replies = Vec::new();
    for c in calls {
        replies.push(dec(&c.await.unwrap().unwrap()));
    }
    replies.sort_unstable();
    // Every turn saw the previous one's committed count: 1..=1000, no lost update.
    assert_eq!(replies, (1..=1_000).collect::<Vec<u64>>());
    assert_eq!(stats.overlaps.load(Ordering::SeqCst), 0, "turns overlapped");
    assert_eq!(stats.activations(), 1);
    host.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_to_a_hundred_actors_run_concurrently() {
    let dir = tempfile::tempdir().unwrap();
    // Each turn waits at a barrier of 100: it only opens if all 100 turns are inside at once.
    let stats = Stats::new(100);
    let host = Host::builder()
        .store(SledStore::open(dir.path()).unwrap())
        .call_timeout(std::time::Duration::from_secs(20))
        .register(probe("probe", &stats))
        .start()
        .unwrap();
    let mut calls = Vec::new();
    for i in 0..100 {
        let h = host.handle();
        calls.push(tokio::spawn(async move {
            h.call("probe", &format!("a{i}"), "rendezvous", Bytes::new())
                .await
        }));
    }
    for c in calls {
        c.await
            .unwrap()
            .expect("all 100 turns must be in flight together");
    }
    assert_eq!(stats.max_parallel_actors.load(Ordering::SeqCst), 100);
    assert_eq!(stats.overlaps.load(Ordering::SeqCst), 0);
    assert_eq!(host.handle().active_count("probe"), 100);
    host.shutdown().await.unwrap();
    drop(Arc::clone(&stats));
}
