//! Virtual lifetime: activation on first call, idle deactivation, hooks, timers.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{dec, enc, probe, Stats};
use weft_runtime::{Host, MemoryStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_call_activates_once_and_idle_actors_are_deactivated() {
    let stats = Stats::new(1);
    let host = Host::builder()
        .store(MemoryStore::new())
        .register(
            probe("probe", &stats)
                .idle_timeout(Duration::from_millis(300))
                .scan_interval(Duration::from_millis(50)),
        )
        .start()
        .unwrap();
    let h = host.handle();
    assert_eq!(stats.activations(), 0, "nothing is active before a call");
    for _ in 0..5 {
        h.call("probe", "a", "incr", Bytes::new()).await.unwrap();
    }
    h.call("probe", "b", "incr", Bytes::new()).await.unwrap();
    assert_eq!(
        stats.activations(),
        2,
        "one activation per actor, not per call"
    );
    assert_eq!(h.active_count("probe"), 2);

    stats.wait_deactivations(2).await;
    assert_eq!(h.active_count("probe"), 0);
    // on_deactivate ran as a committed turn.
    let deactivated = h.call("probe", "a", "get", Bytes::new()).await.unwrap();
    assert_eq!(dec(&deactivated), 5, "state survived deactivation");
    assert_eq!(stats.activations(), 3, "the next call reactivated it");
    host.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_actor_in_use_is_not_deactivated() {
    let stats = Stats::new(1);
    let host = Host::builder()
        .store(MemoryStore::new())
        .idle_timeout(Duration::from_millis(200))
        .scan_interval(Duration::from_millis(20))
        .register(probe("probe", &stats))
        .start()
        .unwrap();
    let h = host.handle();
    // Calls every 50 ms for 600 ms: three idle timeouts long, never idle for one.
    for _ in 0..12 {
        h.call("probe", "busy", "incr", Bytes::new()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(stats.activations(), 1);
    assert_eq!(stats.deactivations(), 0);
    host.shutdown().await.unwrap();
    assert_eq!(stats.deactivations(), 1, "shutdown deactivates");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timers_fire_while_active_and_stop_on_deactivation() {
    let stats = Stats::new(1);
    let host = Host::builder()
        .store(MemoryStore::new())
        .register(
            probe("probe", &stats)
                .idle_timeout(Duration::from_millis(400))
                .scan_interval(Duration::from_millis(50)),
        )
        .start()
        .unwrap();
    let h = host.handle();
    h.call("probe", "t", "start_timer", enc(20)).await.unwrap();
    // The timer's turns do not count as use: the actor still goes idle and is deactivated.
    stats.wait_deactivations(1).await;
    let ticks_at_deactivation = stats.ticks();
    assert!(
        ticks_at_deactivation >= 5,
        "a 20 ms timer should fire several times in 400 ms, fired {ticks_at_deactivation}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        stats.ticks(),
        ticks_at_deactivation,
        "the timer fired after deactivation"
    );
    assert_eq!(
        h.active_count("probe"),
        0,
        "the timer did not reactivate the actor"
    );
    host.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unregistered_timer_stops_firing() {
    let stats = Stats::new(1);
    let host = Host::builder()
        .store(MemoryStore::new())
        .register(probe("probe", &stats))
        .start()
        .unwrap();
    let h = host.handle();
    h.call("probe", "t", "start_timer", enc(10)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let existed = h
        .call("probe", "t", "stop_timer", Bytes::new())
        .await
        .unwrap();
    assert_eq!(dec(&existed), 1);
    let after_stop = stats.ticks();
    assert!(after_stop >= 2, "fired {after_stop} times in 100 ms");
    tokio::time::sleep(Duration::from_millis(100)).await;
    // At most one firing that was already queued when the timer was removed.
    assert!(stats.ticks() <= after_stop + 1);
    host.shutdown().await.unwrap();
}
