//! Bad input and stuck actors get clear errors, never hangs or panics.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{enc, probe, Stats};
use weft_runtime::{ErrorKind, Host, MemoryStore};

fn host(stats: &std::sync::Arc<Stats>) -> Host {
    Host::builder()
        .store(MemoryStore::new())
        .register(probe("probe", stats))
        .start()
        .unwrap()
}

#[tokio::test]
async fn an_unknown_actor_type_names_the_known_ones() {
    let stats = Stats::new(1);
    let host = host(&stats);
    let err = host
        .handle()
        .call("nope", "1", "get", Bytes::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.message().contains("unknown actor type `nope`"), "{err}");
    assert!(err.message().contains("probe"), "{err}");
    assert_eq!(stats.activations(), 0);
    host.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_unknown_method_is_not_found_and_the_actor_keeps_serving() {
    let stats = Stats::new(1);
    let host = host(&stats);
    let h = host.handle();
    let err = h
        .call("probe", "1", "frobnicate", Bytes::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.message().contains("frobnicate"), "{err}");
    h.call("probe", "1", "incr", Bytes::new()).await.unwrap();
    host.shutdown().await.unwrap();
}

#[tokio::test]
async fn empty_and_separator_ids_are_invalid() {
    let stats = Stats::new(1);
    let host = host(&stats);
    for id in ["", "a||b"] {
        let err = host
            .handle()
            .call("probe", id, "get", Bytes::new())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{id:?}: {err}");
    }
    assert_eq!(stats.activations(), 0);
    host.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_behind_a_stuck_actor_fails_at_its_deadline() {
    let stats = Stats::new(1);
    let host = host(&stats);
    let h = host.handle();
    let stuck = {
        let h = h.clone();
        tokio::spawn(async move {
            h.call_with_timeout("probe", "s", "sleep_ms", enc(1_500), Duration::from_secs(5))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let err = h
        .call_with_timeout(
            "probe",
            "s",
            "get",
            Bytes::new(),
            Duration::from_millis(200),
        )
        .await
        .unwrap_err();
    let waited = started.elapsed();
    assert_eq!(err.kind(), ErrorKind::DeadlineExceeded, "{err}");
    assert!(err.message().contains("probe/s.get"), "{err}");
    assert!(
        waited >= Duration::from_millis(200) && waited < Duration::from_millis(1_200),
        "{waited:?}"
    );
    // A different actor is not held up by the stuck one.
    h.call_with_timeout(
        "probe",
        "other",
        "get",
        Bytes::new(),
        Duration::from_millis(500),
    )
    .await
    .unwrap();
    stuck.await.unwrap().unwrap();
    host.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn deadlines_of_calls_to_an_active_actor_count_from_the_call() {
    let stats = Stats::new(1);
    let host = host(&stats);
    let h = host.handle();
    // Active: the calls below take the fast path, with no timer of the caller's own; the
    // activation keeps their deadlines, fixing each when it is first needed.
    h.call("probe", "s", "get", Bytes::new()).await.unwrap();
    let start = tokio::time::Instant::now();
    let stuck = {
        let h = h.clone();
        tokio::spawn(async move {
            let result = h
                .call_with_timeout(
                    "probe",
                    "s",
                    "sleep_ms",
                    enc(10_000),
                    Duration::from_secs(1),
                )
                .await;
            (result, start.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let queued = h
        .call_with_timeout(
            "probe",
            "s",
            "get",
            Bytes::new(),
            Duration::from_millis(300),
        )
        .await
        .unwrap_err();
    assert_eq!(queued.kind(), ErrorKind::DeadlineExceeded, "{queued}");
    assert!(
        queued.message().contains("waited past its deadline"),
        "{queued}"
    );
    assert_eq!(
        start.elapsed(),
        Duration::from_millis(400),
        "100 ms + its 300 ms timeout"
    );

    let (running, elapsed) = stuck.await.unwrap();
    let running = running.unwrap_err();
    assert_eq!(running.kind(), ErrorKind::DeadlineExceeded, "{running}");
    assert!(running.message().contains("did not finish"), "{running}");
    assert_eq!(elapsed, Duration::from_secs(1), "exactly its timeout");
    host.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_timeout_too_large_for_the_clock_means_no_deadline() {
    let stats = Stats::new(1);
    let host = host(&stats);
    let h = host.handle();
    // Slow path (activation), then fast path (active), then a turn pending past its first poll:
    // each fixes the deadline somewhere else, and none may overflow the clock.
    for method in ["get", "get", "sleep_ms"] {
        h.call_with_timeout("probe", "big", method, enc(1), Duration::MAX)
            .await
            .unwrap();
    }
    host.shutdown().await.unwrap();
}

#[tokio::test]
async fn building_a_host_with_actors_but_without_a_store_says_how_to_fix_it() {
    let stats = Stats::new(1);
    let err = Host::builder()
        .register(probe("probe", &stats))
        .start()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.message().contains("no state store"), "{err}");
    // A host that only serves service methods keeps no state and needs no store.
    let services_only = Host::builder().app_id("frontend").start().unwrap();
    services_only.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_type_registered_twice_is_rejected() {
    let stats = Stats::new(1);
    let err = Host::builder()
        .store(MemoryStore::new())
        .register(probe("probe", &stats))
        .register(probe("probe", &stats))
        .start()
        .unwrap_err();
    assert!(err.message().contains("registered twice"), "{err}");
}

#[tokio::test]
async fn calls_after_shutdown_began_are_refused() {
    let stats = Stats::new(1);
    let host = host(&stats);
    let h = host.handle();
    h.call("probe", "1", "incr", Bytes::new()).await.unwrap();
    host.shutdown().await.unwrap();
    let err = h
        .call("probe", "1", "incr", Bytes::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ShuttingDown);
    assert_eq!(stats.deactivations(), 1);
}

#[tokio::test]
async fn a_port_in_use_fails_the_start_with_an_error_no_retry_loop_repeats() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let stats = Stats::new(1);
    let err = Host::builder()
        .store(MemoryStore::new())
        .register(probe("probe", &stats))
        .listen(addr)
        .start()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert!(!err.is_retryable(), "{err}");
    assert!(
        err.message().contains(&format!("cannot listen on {addr}")),
        "{err}"
    );
}
