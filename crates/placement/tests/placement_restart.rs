//! Placement holds no state: after a restart on the same port, reconnecting hosts rebuild it.

mod support;

use std::time::Duration;

use support::{host_ids, register, start, table, Behaviour, FakeHost, Seen, WAIT};
use tokio::time::timeout;
use tonic::Code;
use weft_placement::PlacementConfig;

/// Skips what a reconnecting host sees until its new stream's first snapshot.
async fn next_snapshot(host: &mut FakeHost) -> weft_placement::proto::Snapshot {
    loop {
        match host.next().await {
            Seen::Snapshot(snapshot) => return snapshot,
            Seen::Ended(_) | Seen::Reconnected | Seen::Order(_) => {}
            Seen::Rejected(reason) => panic!("{}: rejected: {reason}", host.host_id),
        }
    }
}

#[tokio::test]
async fn hosts_reconnect_to_a_restarted_placement_and_tables_are_rebuilt() {
    let placement = start(PlacementConfig::default()).await;
    let grpc_addr = placement.grpc_addr();
    let uri = placement.grpc_uri();
    let reconnecting = Behaviour {
        reconnect: true,
        ..Behaviour::default()
    };
    let mut a = FakeHost::with(&uri, register("a", "", &["Cart"]), reconnecting.clone()).await;
    a.snapshot().await;
    a.round().await;
    let mut b = FakeHost::with(&uri, register("b", "", &["Cart"]), reconnecting).await;
    b.snapshot().await;
    let before = b.round().await;
    assert_eq!(a.round().await, before);
    let before = table(&before.tables, "Cart").clone();
    assert_eq!(host_ids(&before), ["a", "b"]);

    timeout(WAIT, placement.shutdown()).await.unwrap().unwrap();
    assert_eq!(a.ended().await, Code::Unavailable);
    assert_eq!(b.ended().await, Code::Unavailable);

    // Let the hosts retry against a closed port for a moment.
    tokio::time::sleep(Duration::from_millis(100)).await;
    // A restart: its first table waits out the startup grace (leases granted by the previous
    // process run out meanwhile), then holds every host that re-registered.
    let grace = Duration::from_millis(600);
    let config = PlacementConfig::default().startup_grace(grace);
    let restarted = tokio::time::Instant::now();
    let placement = weft_placement::start(config, grpc_addr, None)
        .await
        .unwrap();
    assert_eq!(placement.grpc_addr(), grpc_addr);
    let first = next_snapshot(&mut a).await;
    assert!(
        restarted.elapsed() >= grace,
        "no table within the startup grace"
    );
    assert_eq!(host_ids(table(&first.tables, "Cart")), ["a", "b"]);
    next_snapshot(&mut b).await;

    let state = timeout(
        WAIT,
        placement.wait_for_state(|s| {
            s.table("default", "Cart")
                .is_some_and(|t| t.hosts.len() == 2)
        }),
    )
    .await
    .unwrap();
    let cart = state.table("default", "Cart").unwrap();
    assert_eq!(cart.hosts, ["a", "b"]);
    assert!(
        cart.version > before.version,
        "versions keep growing across restarts: {} then {}",
        before.version,
        cart.version
    );
    assert_eq!(state.host_list.len(), 2);
    placement.shutdown().await.unwrap();
}
