//! Owner-epoch fencing: two activations of one actor (forced here by two hosts on one store,
//! bypassing placement) → the stale one's commit is refused, it deactivates itself, and the
//! current owner's commits go through.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::{dec, probe, Stats};
use weft_runtime::state::StateKey;
use weft_runtime::{ErrorKind, Host, SledStore, StateStore};

fn host(store: &Arc<dyn StateStore>, stats: &Arc<Stats>) -> Host {
    Host::builder()
        .app_id("shop")
        .shared_store(Arc::clone(store))
        .fencing(true)
        .register(probe("probe", stats))
        .start()
        .unwrap()
}

/// Waits (bounded) until the fenced activation of `probe/x` on `host` is gone: it deactivates
/// itself right after the refused write.
async fn deactivates_within_5s(host: &weft_runtime::HostHandle) {
    let gone = async {
        while host.active_count("probe") != 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), gone)
        .await
        .expect("the fenced activation deactivated itself");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_activation_cannot_commit_and_deactivates_itself() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn StateStore> = Arc::new(SledStore::open(dir.path()).unwrap());
    let stats = Stats::new(1);
    let (old, new) = (host(&store, &stats), host(&store, &stats));
    let (h_old, h_new) = (old.handle(), new.handle());

    assert_eq!(
        dec(&h_old
            .call("probe", "x", "incr", Bytes::new())
            .await
            .unwrap()),
        1
    );
    // A second activation elsewhere takes a newer owner epoch.
    assert_eq!(
        dec(&h_new.call("probe", "x", "get", Bytes::new()).await.unwrap()),
        1
    );

    // The stale activation's turn runs, but its commit is refused.
    let err = h_old
        .call("probe", "x", "incr", Bytes::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert!(err.message().contains("fenced"), "{err}");
    // The current owner's commit goes through, from the last committed value.
    assert_eq!(
        dec(&h_new
            .call("probe", "x", "incr", Bytes::new())
            .await
            .unwrap()),
        2
    );
    let stored = store
        .get(&StateKey::actor("shop", "probe", "x", "n"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        dec(&stored.value),
        2,
        "nothing of the stale turn was written"
    );

    // The fenced activation is gone from the old host (bounded wait: it deactivates right
    // after the refused turn).
    deactivates_within_5s(&h_old).await;
    assert_eq!(h_new.active_count("probe"), 1);

    // Its epoch counter moved twice: one per activation.
    let epoch = store
        .get(&StateKey::actor("shop", "probe", "x", "__weft_epoch"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(dec(&epoch.value), 2);
    old.shutdown().await.unwrap();
    new.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_activation_cannot_write_state_from_outside_its_turns_context() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn StateStore> = Arc::new(SledStore::open(dir.path()).unwrap());
    let stats = Stats::new(1);
    let (old, new) = (host(&store, &stats), host(&store, &stats));
    let (h_old, h_new) = (old.handle(), new.handle());
    let key = StateKey::actor("shop", "probe", "x", "app");
    let write = |v: &'static str| vec![("app".to_owned(), Some(Bytes::from_static(v.as_bytes())))];

    // No activation here: nothing to write through.
    let err = h_old
        .write_actor_state("probe", "x", write("early"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Moved, "{err}");
    assert!(store.get(&key).await.unwrap().is_none());

    // The owner's activation writes (as an app behind weftd does during the actor's turn).
    h_old.call("probe", "x", "get", Bytes::new()).await.unwrap();
    h_old
        .write_actor_state("probe", "x", write("one"))
        .await
        .unwrap();
    assert_eq!(&store.get(&key).await.unwrap().unwrap().value[..], b"one");

    // A newer activation elsewhere takes the owner epoch: the stale one's write is refused
    // before it reaches the store, and the stale activation goes.
    h_new.call("probe", "x", "get", Bytes::new()).await.unwrap();
    let err = h_old
        .write_actor_state("probe", "x", write("stale"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert!(err.message().contains("fenced"), "{err}");
    assert_eq!(&store.get(&key).await.unwrap().unwrap().value[..], b"one");
    deactivates_within_5s(&h_old).await;

    // The current owner writes; reserved keys are refused whoever asks.
    h_new
        .write_actor_state("probe", "x", write("two"))
        .await
        .unwrap();
    assert_eq!(&store.get(&key).await.unwrap().unwrap().value[..], b"two");
    let reserved = vec![("__weft_epoch".to_owned(), Some(Bytes::from_static(b"0")))];
    let err = h_new
        .write_actor_state("probe", "x", reserved)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    old.shutdown().await.unwrap();
    new.shutdown().await.unwrap();
}
