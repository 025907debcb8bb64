//! Reminders move with rebalancing: a host joins, placement moves some actors to it, and their
//! reminders then fire there — and only there — without anything being re-read or re-registered.

mod support;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use support::reminders::{fired_since, start_recorder_host, start_redis_store, RECORDER_TYPE};
use support::TestPlacement;
use weft::Reminder;

/// Hosts each actor's reminder fired on since `t`.
fn hosts_since(t: Instant) -> HashMap<String, HashSet<String>> {
    let mut out: HashMap<String, HashSet<String>> = HashMap::new();
    for (host, id) in fired_since(t) {
        out.entry(id).or_default().insert(host);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reminders_follow_their_actors_when_a_host_joins() {
    let (_redis, store) = start_redis_store().await;
    let placement = TestPlacement::start().await;
    let a = start_recorder_host("host-a", &placement, &store).await;
    a.ready().await;
    let ids: Vec<String> = (0..16).map(|i| format!("t{i}")).collect();
    for id in &ids {
        let reminder = Reminder::new("tick").period(Duration::from_millis(150));
        a.handle
            .register_reminder(RECORDER_TYPE, id, reminder)
            .await
            .unwrap();
    }
    let start = Instant::now();
    let deadline = start + Duration::from_secs(10);
    while hosts_since(start).len() < ids.len() {
        assert!(
            Instant::now() < deadline,
            "not every reminder fired on host-a"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let b = start_recorder_host("host-b", &placement, &store).await;
    b.ready().await;
    a.ready().await;
    let joined = Instant::now();
    // Wait until the table settled and every reminder fired since on its owner only.
    let deadline = joined + Duration::from_secs(15);
    let settled = loop {
        tokio::time::sleep(Duration::from_millis(600)).await;
        let since = Instant::now();
        tokio::time::sleep(Duration::from_millis(600)).await;
        let seen = hosts_since(since);
        let single = seen.len() == ids.len() && seen.values().all(|h| h.len() == 1);
        if single {
            break seen;
        }
        assert!(
            Instant::now() < deadline,
            "reminders did not settle on one host each: {seen:?}"
        );
    };
    let on_b = settled.values().filter(|h| h.contains("host-b")).count();
    assert!(
        on_b > 0 && on_b < ids.len(),
        "with two hosts, both should own some of 16 actors: {on_b} on host-b"
    );
    // Each actor's reminder fires on its placement owner.
    for (id, hosts) in &settled {
        let owner = a
            .handle
            .call(RECORDER_TYPE, id, "host", Bytes::new())
            .await
            .unwrap();
        let owner = String::from_utf8_lossy(&owner).into_owned();
        assert_eq!(hosts, &HashSet::from([owner]), "{id}");
    }
    let (sa, sb) = (a.handle.reminder_stats(), b.handle.reminder_stats());
    eprintln!(
        "{on_b} of {} reminders moved to host-b; stats host-a {sa:?}, host-b {sb:?}",
        ids.len()
    );
    assert!(sb.fired > 0);
    b.stop().await;
    a.stop().await;
    placement.stop().await;
}
