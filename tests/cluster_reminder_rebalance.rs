//! Reminders move with rebalancing: a host joins, placement moves some actors to it, and their
//! reminders then fire there — and only there — without anything being re-read or re-registered.

mod support;

use std::collections::{HashMap, HashSet};
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

struct Ticker;

impl Actor for Ticker {
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
            // Where this actor lives, through the routed call path.
            _ if call.method() == "host" => {
                Ok(Bytes::from(ctx.host().host_id().unwrap_or("?").to_owned()))
            }
            _ => Err(Error::new(ErrorKind::NotFound, "no such method")),
        }
    }
}

/// Hosts each actor's reminder fired on since `t`.
fn hosts_since(t: Instant) -> HashMap<String, HashSet<String>> {
    let mut out: HashMap<String, HashSet<String>> = HashMap::new();
    for (host, id, at) in FIRED.lock().unwrap().iter() {
        if *at >= t {
            out.entry(id.clone()).or_default().insert(host.clone());
        }
    }
    out
}

async fn start_host(id: &str, placement: &TestPlacement, store: &Arc<dyn StateStore>) -> TestHost {
    TestHost::start(id, &placement.url, Arc::clone(store), |b| {
        b.reminders(ReminderConfig::default().poll_interval(Duration::from_millis(100)))
            .register(ActorRegistration::new("ticker", |_id| Ticker))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reminders_follow_their_actors_when_a_host_joins() {
    let redis = tokio::task::spawn_blocking(RedisServer::start)
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("{e}"));
    let store: Arc<dyn StateStore> = Arc::new(RedisStore::connect(&redis.url()).await.unwrap());
    let placement = TestPlacement::start().await;
    let a = start_host("host-a", &placement, &store).await;
    a.ready().await;
    let ids: Vec<String> = (0..16).map(|i| format!("t{i}")).collect();
    for id in &ids {
        let reminder = Reminder::new("tick").period(Duration::from_millis(150));
        a.handle
            .register_reminder("ticker", id, reminder)
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

    let b = start_host("host-b", &placement, &store).await;
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
            .call("ticker", id, "host", Bytes::new())
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
