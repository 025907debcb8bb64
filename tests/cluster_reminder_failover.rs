//! Reminders in a cluster on a shared Redis: the owner of the reminders' actors is killed, and
//! the reminders fire on the survivor soon after placement's table update; unregistering then
//! stops them everywhere.

mod support;

use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use support::{TestHost, TestPlacement};
use weft::testing::RedisServer;
use weft::{
    Actor, ActorRegistration, Call, CallOrigin, Context, Error, ErrorKind, RedisStore, Reminder,
    ReminderConfig, StateStore,
};

/// Every reminder turn of this test process: (host id, actor id, when).
static FIRED: LazyLock<Mutex<Vec<(String, String, Instant)>>> = LazyLock::new(Mutex::default);

struct Beeper;

impl Actor for Beeper {
    async fn handle(&self, ctx: &Context, call: Call) -> Result<Bytes, Error> {
        match call.origin() {
            CallOrigin::Reminder(_) => {
                let host = ctx.host().host_id().unwrap_or("?").to_owned();
                FIRED
                    .lock()
                    .unwrap()
                    .push((host, ctx.id().to_string(), Instant::now()));
                Ok(Bytes::new())
            }
            _ => Err(Error::new(ErrorKind::NotFound, "reminders only")),
        }
    }
}

fn fired_since(t: Instant) -> Vec<(String, String)> {
    FIRED
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, _, at)| *at >= t)
        .map(|(h, id, _)| (h.clone(), id.clone()))
        .collect()
}

async fn start_host(id: &str, placement: &TestPlacement, store: &Arc<dyn StateStore>) -> TestHost {
    TestHost::start(id, &placement.url, Arc::clone(store), |b| {
        b.reminders(ReminderConfig::default().poll_interval(Duration::from_millis(100)))
            .register(ActorRegistration::new("beeper", |_id| Beeper))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reminders_of_a_killed_owner_fire_on_the_survivor_and_unregister_stops_them() {
    let redis = tokio::task::spawn_blocking(RedisServer::start)
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("{e}"));
    let store: Arc<dyn StateStore> = Arc::new(RedisStore::connect(&redis.url()).await.unwrap());
    let placement = TestPlacement::start().await;
    let mut hosts = vec![
        start_host("host-a", &placement, &store).await,
        start_host("host-b", &placement, &store).await,
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
            .register_reminder("beeper", id, reminder)
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
            .unregister_reminder("beeper", id, "beep")
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
