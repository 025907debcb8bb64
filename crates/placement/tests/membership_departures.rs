//! Hosts leaving: closed streams, silent hosts, hosts that never ack, replaced streams.

mod support;

use std::time::{Duration, Instant};

use support::{host_ids, register, start, table, Behaviour, FakeHost, WAIT};
use tokio::time::timeout;
use tonic::Code;
use weft_placement::proto::Phase;
use weft_placement::PlacementConfig;

/// Connects `host_id` serving `types` and consumes its snapshot and first round.
async fn joined(uri: &str, host_id: &str, types: &[&str]) -> FakeHost {
    let mut host = FakeHost::connect(uri, register(host_id, "", types)).await;
    host.snapshot().await;
    host.round().await;
    host
}

/// `b` (serving `Cart`) registered with `address`, after `a` joined.
fn b_at(address: String) -> weft_placement::proto::Register {
    weft_placement::proto::Register {
        address,
        ..register("b", "", &["Cart"])
    }
}

#[tokio::test]
async fn a_dead_host_whose_stream_closes_is_removed_at_once() {
    let config = PlacementConfig::default().faulty_host_timeout(Duration::from_secs(3));
    let placement = start(config).await;
    let uri = placement.grpc_uri();
    let mut a = joined(&uri, "a", &["Cart"]).await;
    // Nothing listens at b's address any more: its process is gone.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = closed.local_addr().unwrap().to_string();
    drop(closed);
    let b = FakeHost::connect(&uri, b_at(address)).await;
    let update = a.round().await;
    assert_eq!(host_ids(table(&update.tables, "Cart")), ["a", "b"]);

    let closed_at = Instant::now();
    drop(b);
    let update = a.round().await;
    let waited = closed_at.elapsed();
    assert_eq!(host_ids(table(&update.tables, "Cart")), ["a"]);
    assert!(
        waited < Duration::from_secs(2),
        "a refused probe needs no wait for the lease: {waited:?}"
    );
    let state = placement.snapshot();
    let ids: Vec<&str> = state.host_list.iter().map(|h| h.id.as_str()).collect();
    assert_eq!(ids, ["a"]);
    assert_eq!(state.table("default", "Cart").unwrap().hosts, ["a"]);
    placement.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_live_host_whose_stream_breaks_keeps_its_actors_until_its_lease_ran_out() {
    let timeout_ = Duration::from_millis(1500);
    let config = PlacementConfig::default().faulty_host_timeout(timeout_);
    let placement = start(config).await;
    let uri = placement.grpc_uri();
    let mut a = joined(&uri, "a", &["Cart"]).await;
    // b's process still listens (alive, but its stream to placement broke).
    let alive = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = alive.local_addr().unwrap().to_string();
    // b never heartbeats: its only lease is granted when it registers, after this instant.
    let before_grant = Instant::now();
    let b = FakeHost::connect(&uri, b_at(address)).await;
    a.round().await;

    drop(b);
    let update = a.round().await;
    let waited = before_grant.elapsed();
    assert_eq!(host_ids(table(&update.tables, "Cart")), ["a"]);
    assert!(
        waited >= timeout_,
        "b's actors moved {waited:?} after its last lease; its lease may still have held"
    );
    drop(alive);
    placement.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_host_that_stops_heartbeating_is_removed_after_the_faulty_host_timeout() {
    let config = PlacementConfig::default().faulty_host_timeout(Duration::from_millis(300));
    let placement = start(config).await;
    let uri = placement.grpc_uri();
    let mut a = joined(&uri, "a", &["Cart"]).await;
    let mut b = FakeHost::connect(&uri, register("b", "", &["Cart"])).await;
    b.snapshot().await;
    b.round().await;
    a.round().await;

    b.stop_heartbeats();
    let silent_since = Instant::now();
    assert_eq!(b.ended().await, Code::Unavailable);
    let waited = silent_since.elapsed();
    assert!(
        waited >= Duration::from_millis(250),
        "removed after {waited:?}"
    );
    let update = a.round().await;
    assert_eq!(host_ids(table(&update.tables, "Cart")), ["a"]);
    // `a` keeps heartbeating and stays.
    a.assert_quiet(Duration::from_millis(600)).await;
    assert!(placement.snapshot().host("a").is_some());
    placement.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_host_that_never_acks_is_evicted_and_the_round_completes_for_the_others() {
    let config = PlacementConfig::default()
        .ack_timeout(Duration::from_millis(300))
        .lock_timeout(Duration::from_secs(1));
    let placement = start(config).await;
    let uri = placement.grpc_uri();
    let mut a = joined(&uri, "a", &["Cart"]).await;
    let first = placement
        .snapshot()
        .table("default", "Cart")
        .unwrap()
        .version;

    let mute = Behaviour {
        auto_ack: false,
        ..Behaviour::default()
    };
    let mut b = FakeHost::with(&uri, register("b", "", &["Cart"]), mute).await;
    b.snapshot().await;
    let lock_b = b.order(Phase::Lock).await;
    let lock_a = a.order(Phase::Lock).await;
    assert_eq!(lock_a, lock_b);
    let abandoned = table(&lock_a.tables, "Cart").version;
    assert!(abandoned > first);

    assert_eq!(b.ended().await, Code::Aborted);
    let restarted = a.round().await;
    assert!(restarted.round > lock_a.round);
    let cart = table(&restarted.tables, "Cart");
    assert_eq!(host_ids(cart), ["a"]);
    assert!(
        cart.version > abandoned,
        "a restarted round still grows versions"
    );

    let state = timeout(
        WAIT,
        placement.wait_for_state(|s| {
            s.table("default", "Cart")
                .is_some_and(|t| t.version == cart.version)
        }),
    )
    .await
    .unwrap();
    assert!(state.host("b").is_none());
    placement.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_second_stream_of_the_same_host_replaces_the_first() {
    let placement = start(PlacementConfig::default()).await;
    let uri = placement.grpc_uri();
    let mut first = joined(&uri, "a", &["Cart"]).await;
    let cart = placement
        .snapshot()
        .table("default", "Cart")
        .unwrap()
        .clone();

    let mut moved = register("a", "", &["Cart"]);
    moved.address = "a.elsewhere:7000".to_owned();
    let mut second = FakeHost::connect(&uri, moved).await;
    assert_eq!(first.ended().await, Code::Aborted);
    let snapshot = second.snapshot().await;
    assert_eq!(host_ids(table(&snapshot.tables, "Cart")), ["a"]);
    // The address changed, so the table is disseminated again.
    let update = second.round().await;
    let new_cart = table(&update.tables, "Cart");
    assert_eq!(new_cart.hosts[0].address, "a.elsewhere:7000");
    assert!(new_cart.version > cart.version);

    let state = placement.snapshot();
    assert_eq!(state.host_list.len(), 1);
    assert_eq!(state.host("a").unwrap().name, "a.elsewhere:7000");
    placement.shutdown().await.unwrap();
}
