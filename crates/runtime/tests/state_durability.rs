//! Per-turn durable state on real sled files: commit on success, nothing on failure or panic,
//! survival across deactivation and restart, ETag conflicts between writers.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::{dec, probe, Stats};
use weft_runtime::state::StateKey;
use weft_runtime::{ErrorKind, Host, SledStore, StateStore};

fn sled_host(dir: &std::path::Path, stats: &Arc<Stats>) -> Host {
    Host::builder()
        .app_id("shop")
        .store(SledStore::open(dir).unwrap())
        .register(probe("probe", stats))
        .start()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_survives_deactivation_and_a_full_host_restart() {
    let dir = tempfile::tempdir().unwrap();
    let stats = Stats::new(1);
    let host = sled_host(dir.path(), &stats);
    let h = host.handle();
    for id in ["a", "b", "c"] {
        for _ in 0..3 {
            h.call("probe", id, "incr", Bytes::new()).await.unwrap();
        }
    }
    host.shutdown().await.unwrap();
    assert_eq!(stats.deactivations(), 3);

    // A new host process-equivalent: new store handle on the same directory.
    let stats = Stats::new(1);
    let host = sled_host(dir.path(), &stats);
    let h = host.handle();
    for id in ["a", "b", "c"] {
        let n = h.call("probe", id, "get", Bytes::new()).await.unwrap();
        assert_eq!(dec(&n), 3, "actor {id}");
    }
    // The key scheme is Dapr's: app||type||id||key, and on_deactivate's write was committed.
    let raw = h
        .store()
        .unwrap()
        .get(&StateKey::raw("shop||probe||a||deactivated"))
        .await
        .unwrap()
        .expect("on_deactivate committed its state");
    assert_eq!(dec(&raw.value), 1);
    host.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_turn_commits_nothing_and_the_host_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let stats = Stats::new(1);
    let host = sled_host(dir.path(), &stats);
    let h = host.handle();
    h.call("probe", "x", "incr", Bytes::new()).await.unwrap();
    let err = h
        .call("probe", "x", "fail_after_write", Bytes::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ActorFailed);
    assert_eq!(err.message(), "refused on purpose");
    let n = h.call("probe", "x", "get", Bytes::new()).await.unwrap();
    assert_eq!(dec(&n), 1, "the failed turn's write was discarded");
    let stored = h
        .store()
        .unwrap()
        .get(&StateKey::raw("shop||probe||x||n"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(dec(&stored.value), 1);
    assert_eq!(stats.activations(), 1, "an error does not reset the actor");
    host.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_turn_commits_nothing_and_the_actor_resumes_from_committed_state() {
    let dir = tempfile::tempdir().unwrap();
    let stats = Stats::new(1);
    let host = sled_host(dir.path(), &stats);
    let h = host.handle();
    h.call("probe", "x", "incr", Bytes::new()).await.unwrap();
    h.call("probe", "x", "incr", Bytes::new()).await.unwrap();
    let err = h
        .call("probe", "x", "panic_after_write", Bytes::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ActorFailed);
    assert!(err.message().contains("panicked"), "{err}");
    assert!(err.message().contains("probe panics on purpose"), "{err}");
    // Same actor, next call: the committed 2, not the panicking turn's 777.
    let n = h.call("probe", "x", "incr", Bytes::new()).await.unwrap();
    assert_eq!(dec(&n), 3);
    assert_eq!(
        stats.activations(),
        2,
        "the instance was recreated from committed state"
    );
    // Other actors were never disturbed.
    h.call("probe", "y", "incr", Bytes::new()).await.unwrap();
    host.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_of_one_actor_get_an_etag_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn StateStore> = Arc::new(SledStore::open(dir.path()).unwrap());
    let stats = Stats::new(1);
    // Two hosts that both (wrongly) activate probe/x on one shared store: the situation the
    // placement service prevents, and ETags detect when it happens anyway.
    let start = || {
        Host::builder()
            .app_id("shop")
            .shared_store(Arc::clone(&store))
            .call_timeout(Duration::from_secs(10))
            .register(probe("probe", &stats))
            .start()
            .unwrap()
    };
    let (one, two) = (start(), start());
    let (h1, h2) = (one.handle(), two.handle());
    // Both activations read n (absent), so both will commit on "still absent".
    assert_eq!(
        dec(&h1.call("probe", "x", "get", Bytes::new()).await.unwrap()),
        0
    );
    assert_eq!(
        dec(&h2.call("probe", "x", "get", Bytes::new()).await.unwrap()),
        0
    );
    assert_eq!(
        dec(&h2.call("probe", "x", "incr", Bytes::new()).await.unwrap()),
        1
    );
    let err = h1
        .call("probe", "x", "incr", Bytes::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert!(err.message().contains("shop||probe||x||n"), "{err}");
    // The loser reloads from the store and carries on from the winner's value.
    assert_eq!(
        dec(&h1.call("probe", "x", "incr", Bytes::new()).await.unwrap()),
        2
    );
    // Now h2's cached view is stale: its write is refused rather than overwriting 2 with 2.
    let err = h2
        .call("probe", "x", "incr", Bytes::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert_eq!(
        dec(&h2.call("probe", "x", "incr", Bytes::new()).await.unwrap()),
        3
    );
    one.shutdown().await.unwrap();
    two.shutdown().await.unwrap();
}
