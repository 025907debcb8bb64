//! Reminders in a cluster on a shared Redis: the owner of the reminders' actors is killed, and
//! the reminders fire on the survivor soon after placement's table update; unregistering then
//! stops them everywhere.

mod support;

use std::time::{Duration, Instant};

use support::reminders::{fired_since, start_recorder_host, start_redis_store, RECORDER_TYPE};
use support::TestPlacement;
use weft::Reminder;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reminders_of_a_killed_owner_fire_on_the_survivor_and_unregister_stops_them() {
    let (_redis, store) = start_redis_store().await;
    let placement = TestPlacement::start().await;
    let mut hosts = vec![
        start_recorder_host("host-a", &placement, &store).await,
        start_recorder_host("host-b", &placement, &store).await,
    ];
    for h in &hosts {
        h.ready().await;
    }

    // Twelve actors with a 200 ms reminder each, registered through either host.
    let ids: Vec<String> = (0..12).map(|i| format!("b{i}")).collect();
    for (i, id) in ids.iter().enumerate() {
        let reminder = Reminder::new("beep").try_period("200ms").unwrap();
        hosts[i % 2]
            .handle
            .register_reminder(RECORDER_TYPE, id, reminder)
            .await
            .unwrap();
    }
    let start = Instant::now();
    let deadline = start + Duration::from_secs(10);
    let owner_of = loop {
        let fired = fired_since(start);
        let all = ids.iter().all(|id| fired.iter().any(|(_, f)| f == id));
        if all {
            break fired;
        }
        assert!(
            Instant::now() < deadline,
            "not every reminder fired: {fired:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Each reminder fires only on its actor's owner.
    for id in &ids {
        let on: std::collections::HashSet<&str> = owner_of
            .iter()
            .filter(|(_, f)| f == id)
            .map(|(h, _)| h.as_str())
            .collect();
        assert_eq!(on.len(), 1, "{id} fired on {on:?}");
    }
    // Kill the host owning the most reminder actors.
    let count = |h: &str| {
        ids.iter()
            .filter(|id| owner_of.iter().any(|(o, f)| o == h && f == *id))
            .count()
    };
    let victim = if count("host-a") >= count("host-b") {
        "host-a"
    } else {
        "host-b"
    };
    let victims: Vec<String> = ids
        .iter()
        .filter(|id| owner_of.iter().any(|(o, f)| o == victim && f == *id))
        .cloned()
        .collect();
    assert!(!victims.is_empty());
    let index = hosts.iter().position(|h| h.id == victim).unwrap();
    hosts.remove(index).kill();
    let killed = Instant::now();
    let survivor = hosts.pop().unwrap();

    // Every one of the victim's reminders fires on the survivor, soon after the table update
    // (faulty-host timeout 2 s + a poll).
    let deadline = killed + Duration::from_secs(15);
    loop {
        let fired = fired_since(killed);
        let moved = victims
            .iter()
            .all(|id| fired.iter().any(|(h, f)| f == id && *h == survivor.id));
        if moved {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the killed host's reminders did not fire on {}: {fired:?}",
            survivor.id
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let failover = killed.elapsed();

    // Unregister through the survivor: nothing fires any more (a firing already running when
    // it was unregistered may still land).
    for id in &ids {
        assert!(survivor
            .handle
            .unregister_reminder(RECORDER_TYPE, id, "beep")
            .await
            .unwrap());
    }
    let unregistered = Instant::now();
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let late = fired_since(unregistered + Duration::from_millis(500));
    assert!(late.is_empty(), "fired after unregistering: {late:?}");
    let stats = survivor.handle.reminder_stats();
    eprintln!(
        "{} reminders of {victim} fired on {} {failover:?} after the kill; survivor stats {stats:?}",
        victims.len(),
        survivor.id
    );
    survivor.stop().await;
    placement.stop().await;
}
