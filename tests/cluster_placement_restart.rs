//! Placement restarts: while it is away hosts keep serving with their last tables; when it is
//! back on the same address, hosts reconnect, the table is rebuilt from them, calls continue.

mod support;

use std::sync::Arc;
use std::time::Duration;

use support::{start_counter_hosts, Counter, TestPlacement};
use weft::{MemoryStore, StateStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_serve_through_a_placement_restart_and_rejoin_it() {
    let placement = TestPlacement::start().await;
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
    let hosts = start_counter_hosts(&placement, &store, &["host-a", "host-b", "host-c"]).await;
    for i in 0..20 {
        hosts[i % 3]
            .handle
            .actor::<Counter>(format!("p{i}"))
            .incr()
            .await
            .unwrap();
    }

    // Placement goes away: calls still route with the last tables.
    let addr = placement.grpc_addr;
    placement.stop().await;
    for i in 0..20 {
        let n = hosts[(i + 1) % 3]
            .handle
            .actor::<Counter>(format!("p{i}"))
            .incr()
            .await
            .unwrap();
        assert_eq!(n, 2, "p{i} while placement is down");
    }

    // Placement is back on the same address, with no memory: the hosts rebuild its table.
    let placement = TestPlacement::start_on(addr).await;
    let rebuilt = async {
        loop {
            let state = placement.state_json().await;
            if state["hostList"].as_array().map_or(0, Vec::len) == 3
                && state["tableVersion"].as_u64().unwrap_or(0) >= 1
            {
                return state;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let state = tokio::time::timeout(Duration::from_secs(20), rebuilt)
        .await
        .expect("the hosts re-registered with the new placement");
    assert_eq!(
        state["hostList"].as_array().map_or(0, Vec::len),
        3,
        "{state}"
    );
    for h in &hosts {
        h.ready().await;
    }
    for i in 0..20 {
        let n = hosts[(i + 2) % 3]
            .handle
            .actor::<Counter>(format!("p{i}"))
            .incr()
            .await
            .unwrap();
        assert_eq!(n, 3, "p{i} after placement came back");
    }
    for h in hosts {
        h.stop().await;
    }
    placement.stop().await;
}
