//! Three hosts and a real placement server over loopback: a call entering at any host reaches
//! the actor's owner, every host owns a share of the actors, no actor is active twice, and an
//! actor calls another actor on another host.

mod support;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use support::{start_counter_hosts, Counter, TestPlacement, REGISTRY};
use weft::{MemoryStore, StateStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_entering_any_host_reach_the_owner_and_actors_call_across_hosts() {
    let placement = TestPlacement::start().await;
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
    let hosts = start_counter_hosts(&placement, &store, &["host-a", "host-b", "host-c"]).await;

    // 60 counters, each incremented three times, each time entering through another host.
    for i in 0..60 {
        for k in 0..3 {
            let entry = &hosts[(i + k) % 3];
            let n = entry
                .handle
                .actor::<Counter>(format!("c{i}"))
                .incr()
                .await
                .unwrap();
            assert_eq!(n, u64::try_from(k + 1).unwrap(), "c{i} via {}", entry.id);
        }
    }
    let mut owned: HashMap<String, usize> = HashMap::new();
    for i in 0..60 {
        let id = format!("c{i}");
        let mut seen = HashSet::new();
        for h in &hosts {
            seen.insert(h.handle.actor::<Counter>(id.as_str()).host().await.unwrap());
        }
        assert_eq!(seen.len(), 1, "{id} answered from several hosts: {seen:?}");
        *owned.entry(seen.into_iter().next().unwrap()).or_default() += 1;
        assert_eq!(
            hosts[0]
                .handle
                .actor::<Counter>(id.as_str())
                .get()
                .await
                .unwrap(),
            3
        );
    }
    assert_eq!(owned.len(), 3, "every host owns some counters: {owned:?}");
    let active: usize = hosts.iter().map(|h| h.handle.active_count("Counter")).sum();
    assert_eq!(
        active, 60,
        "each counter is active exactly once in the cluster"
    );
    assert!(
        REGISTRY.violations().is_empty(),
        "{:?}",
        REGISTRY.violations()
    );

    // An actor-to-actor call between two hosts.
    let where_is = REGISTRY.hosts_of();
    let (first, first_host) = where_is
        .iter()
        .next()
        .map(|(a, h)| (a.clone(), h.clone()))
        .unwrap();
    let (second, _) = where_is.iter().find(|(_, h)| **h != first_host).unwrap();
    let first_id = first.rsplit('/').next().unwrap().to_owned();
    let second_id = second.rsplit('/').next().unwrap().to_owned();
    let bumped = hosts[2]
        .handle
        .actor::<Counter>(first_id.as_str())
        .bump_other(second_id.clone())
        .await
        .unwrap();
    assert_eq!(
        bumped,
        Ok(4),
        "{first_id} on {first_host} bumped {second_id} on another host"
    );

    // The operators' view lists the three hosts.
    let state = placement.state_json().await;
    let hosts_listed = state["hostList"].as_array().map_or(0, Vec::len);
    assert_eq!(hosts_listed, 3, "{state}");

    for h in hosts {
        h.stop().await;
    }
    placement.stop().await;
}
