//! Rounds: a joining host's snapshot and round, scoping, sorting, coalescing, namespaces.

mod support;

use std::time::Duration;

use support::{host_ids, register, start, table, FakeHost};
use tokio::time::timeout;
use weft_placement::proto::Phase;
use weft_placement::PlacementConfig;

#[tokio::test]
async fn registering_host_gets_a_snapshot_then_a_round_for_its_types() {
    let placement = start(PlacementConfig::default()).await;
    let uri = placement.grpc_uri();

    let mut a = FakeHost::connect(&uri, register("a", "", &["Order", "Cart"])).await;
    assert!(a.snapshot().await.tables.is_empty());
    let lock = a.order(Phase::Lock).await;
    assert_eq!(lock.lock_timeout_ms, 10_000);
    assert_eq!(lock.tables.len(), 2);
    assert!(lock.tables.iter().all(|t| t.hosts.is_empty()));
    let update = a.order(Phase::Update).await;
    assert_eq!(update.round, lock.round);
    let cart = table(&update.tables, "Cart").clone();
    assert_eq!(cart.namespace, "default");
    assert_eq!(cart.replication_factor, 100);
    assert_eq!(host_ids(&cart), ["a"]);
    assert_eq!(cart.hosts[0].address, "a.test:7000");
    assert_eq!(cart.hosts[0].app_id, "app-a");
    assert_eq!(table(&lock.tables, "Cart").version, cart.version);
    let unlock = a.order(Phase::Unlock).await;
    assert_eq!(unlock.round, lock.round);

    let mut b = FakeHost::connect(&uri, register("b", "", &["Cart"])).await;
    let seen_by_b = b.snapshot().await;
    assert_eq!(host_ids(table(&seen_by_b.tables, "Cart")), ["a"]);
    let order_version = table(&seen_by_b.tables, "Order").version;

    let update = a.round().await;
    assert!(update.round > lock.round);
    assert_eq!(update.tables.len(), 1, "only Cart changed: {update:?}");
    let cart2 = table(&update.tables, "Cart");
    assert!(cart2.version > cart.version, "versions grow");
    assert_eq!(host_ids(cart2), ["a", "b"]);
    assert_eq!(b.round().await, update);

    let state = timeout(
        support::WAIT,
        placement.wait_for_state(|s| {
            s.table("default", "Cart")
                .is_some_and(|t| t.hosts.len() == 2)
        }),
    )
    .await
    .unwrap();
    assert_eq!(
        state.table("default", "Order").unwrap().version,
        order_version
    );
    placement.shutdown().await.unwrap();
}

#[tokio::test]
async fn three_hosts_are_listed_sorted_and_untouched_types_keep_their_version() {
    let placement = start(PlacementConfig::default()).await;
    let uri = placement.grpc_uri();

    let mut c = FakeHost::connect(&uri, register("c", "", &["Common"])).await;
    c.snapshot().await;
    c.round().await;

    let mut a = FakeHost::connect(&uri, register("a", "", &["Common", "OnlyA"])).await;
    a.snapshot().await;
    let update = a.round().await;
    assert_eq!(c.round().await, update);
    assert_eq!(host_ids(table(&update.tables, "Common")), ["a", "c"]);
    let only_a = table(&update.tables, "OnlyA").version;

    let mut b = FakeHost::connect(&uri, register("b", "", &["Common"])).await;
    b.snapshot().await;
    let update = b.round().await;
    assert_eq!(a.round().await, update);
    assert_eq!(c.round().await, update);
    assert_eq!(update.tables.len(), 1, "OnlyA is not part of the round");
    assert_eq!(host_ids(table(&update.tables, "Common")), ["a", "b", "c"]);

    let state = timeout(
        support::WAIT,
        placement.wait_for_state(|s| {
            s.table("default", "Common")
                .is_some_and(|t| t.hosts.len() == 3)
        }),
    )
    .await
    .unwrap();
    let ids: Vec<&str> = state.host_list.iter().map(|h| h.id.as_str()).collect();
    assert_eq!(ids, ["a", "b", "c"]);
    assert_eq!(
        state.table("default", "Common").unwrap().hosts,
        ["a", "b", "c"]
    );
    assert_eq!(state.table("default", "OnlyA").unwrap().version, only_a);
    placement.shutdown().await.unwrap();
}

#[tokio::test]
async fn registrations_within_the_coalesce_window_make_one_round() {
    let config = PlacementConfig::default().coalesce_window(Duration::from_millis(500));
    let placement = start(config).await;
    let uri = placement.grpc_uri();

    let (mut a, mut b, mut c) = tokio::join!(
        FakeHost::connect(&uri, register("a", "", &["Cart"])),
        FakeHost::connect(&uri, register("b", "", &["Cart"])),
        FakeHost::connect(&uri, register("c", "", &["Cart"])),
    );
    for host in [&mut a, &mut b, &mut c] {
        assert!(host.snapshot().await.tables.is_empty());
    }
    let update = a.round().await;
    assert_eq!(host_ids(table(&update.tables, "Cart")), ["a", "b", "c"]);
    assert_eq!(b.round().await, update);
    assert_eq!(c.round().await, update);
    for host in [&mut a, &mut b, &mut c] {
        host.assert_quiet(Duration::from_millis(300)).await;
    }
    placement.shutdown().await.unwrap();
}

#[tokio::test]
async fn namespaces_do_not_share_rounds_or_snapshots() {
    let placement = start(PlacementConfig::default()).await;
    let uri = placement.grpc_uri();

    let mut a = FakeHost::connect(&uri, register("a", "blue", &["Cart"])).await;
    a.snapshot().await;
    a.round().await;

    let mut b = FakeHost::connect(&uri, register("b", "green", &["Cart"])).await;
    assert!(
        b.snapshot().await.tables.is_empty(),
        "blue's tables stay in blue"
    );
    let update = b.round().await;
    let cart = table(&update.tables, "Cart");
    assert_eq!(cart.namespace, "green");
    assert_eq!(host_ids(cart), ["b"]);
    a.assert_quiet(Duration::from_millis(200)).await;
    placement.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_caller_without_actor_types_gets_tables_and_takes_part_in_rounds() {
    let placement = start(PlacementConfig::default()).await;
    let uri = placement.grpc_uri();

    let mut server = FakeHost::connect(&uri, register("server", "", &["Cart"])).await;
    server.snapshot().await;
    server.round().await;

    let mut caller = FakeHost::connect(&uri, register("caller", "", &[])).await;
    let snapshot = caller.snapshot().await;
    assert_eq!(host_ids(table(&snapshot.tables, "Cart")), ["server"]);
    // Its own registration changes no ring: no round.
    caller.assert_quiet(Duration::from_millis(200)).await;

    let _second = FakeHost::connect(&uri, register("server-2", "", &["Cart"])).await;
    let update = caller.round().await;
    assert_eq!(
        host_ids(table(&update.tables, "Cart")),
        ["server", "server-2"]
    );
    placement.shutdown().await.unwrap();
}
