//! A Python actor (the SDK's `Actor` class with `DaprActor` on FastAPI) on weftd: state, a
//! timer, a reminder, deactivation and reactivation from state, called through `ActorProxy`; and the
//! cross-language calls: Python → a Rust `#[actor]`, Rust → the Python actor.

mod support;

use std::time::Duration;

use bytes::Bytes;
use support::{free_port, placement, python_app, run_json, wait_for_port, Weftd};
use weft::{CallOptions, ClusterConfig, Codec, Host, MemoryStore};

const LIMIT: Duration = Duration::from_secs(60);

/// A Rust counter, called from Python.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Counter {
    n: i64,
}

#[weft::actor]
impl Counter {
    /// Adds `by`; returns the new count.
    pub async fn incr(&mut self, by: i64) -> i64 {
        self.n += by;
        self.n
    }

    /// The count.
    pub async fn get(&self) -> i64 {
        self.n
    }
}

async fn get_demo(host: &weft::HostHandle) -> serde_json::Value {
    let reply = host
        .call_with(
            "DemoActor",
            "p1",
            "Get",
            Bytes::new(),
            CallOptions::default().codec(Codec::Json),
        )
        .await
        .expect("Rust calls the Python actor");
    serde_json::from_slice(&reply).expect("JSON from the Python actor")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_actors_keep_state_tick_timers_and_call_rust_actors_and_back() {
    let (placement, address) = placement().await;
    let rust = Host::builder()
        .app_id("rust-app")
        .store(MemoryStore::new())
        .actor::<Counter>()
        .cluster(
            ClusterConfig::new("rust-1", format!("http://{address}"))
                .heartbeat_interval(Duration::from_millis(200)),
        )
        .start()
        .unwrap();
    let app_port = free_port();
    let mut sidecar = Weftd::start("pyapp", Some(app_port), &address, &[]);
    let _app = python_app(
        "actor-app",
        "actor_app.py",
        &[&app_port.to_string()],
        sidecar.http_port,
    );
    wait_for_port(app_port, LIMIT).await;
    sidecar.ready(LIMIT).await;
    rust.handle().wait_ready(LIMIT).await.unwrap();
    let r = rust.handle();
    // Until the Rust host's tables place DemoActor (weftd registered it).
    let start = std::time::Instant::now();
    while r.table_version("DemoActor") == 0 {
        assert!(start.elapsed() < LIMIT, "DemoActor never placed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let out = run_json("actor_client.py", &[], sidecar.http_port, LIMIT).await;
    assert_eq!(out["incr"], serde_json::json!([2, 5]), "{out}");
    let ticks = &out["ticks"];
    assert!(
        ticks["while_running"].as_i64().unwrap() >= 3,
        "the timer ticked: {ticks}"
    );
    assert_eq!(
        ticks["after_stop"], ticks["later"],
        "the timer stopped: {ticks}"
    );
    let reminders = &out["reminders"];
    assert!(
        reminders["while_running"].as_i64().unwrap() >= 2,
        "the reminder fired: {reminders}"
    );
    assert_eq!(
        reminders["after_stop"], reminders["later"],
        "unregistered: {reminders}"
    );
    assert_eq!(
        reminders["first"], "r1:ping",
        "the reminder's data reached the app"
    );
    assert_eq!(out["bad_period"]["status"], 500, "{}", out["bad_period"]);
    assert_eq!(
        out["bad_period"]["body"]["errorCode"],
        "ERR_ACTOR_REMINDER_CREATE"
    );
    assert!(out["bad_period"]["body"]["message"]
        .as_str()
        .unwrap()
        .contains("every tuesday"));
    assert_eq!(out["bad_json"]["status"], 400, "{}", out["bad_json"]);
    assert_eq!(
        out["bad_json"]["body"]["errorCode"],
        "ERR_MALFORMED_REQUEST"
    );
    assert_eq!(out["rust_incr"], 5, "Python → Rust actor: {out}");
    assert_eq!(
        out["python_calls_rust"], 15,
        "Python actor → Rust actor: {out}"
    );
    assert_eq!(out["rust_get"], 15);

    // Rust → the Python actor.
    let reply = r
        .call_with(
            "DemoActor",
            "p1",
            "Incr",
            Bytes::from_static(b"4"),
            CallOptions::default().codec(Codec::Json),
        )
        .await
        .unwrap();
    assert_eq!(&reply[..], b"9");
    let before = get_demo(&r).await;
    assert_eq!(before["count"], 9, "{before}");
    assert_eq!(before["activations"], 1, "{before}");

    // Idle for longer than the app's actorIdleTimeout (2 s): weftd deactivates it (DELETE to
    // the app); the next call activates it anew, from its state.
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let start = std::time::Instant::now();
    loop {
        assert!(start.elapsed() < LIMIT, "DemoActor/p1 never deactivated");
        tokio::time::sleep(Duration::from_millis(250)).await;
        let meta = client
            .get(format!("{}/metadata", sidecar.base()))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let meta: serde_json::Value = serde_json::from_slice(&meta).unwrap();
        if meta["actors"][0]["count"] == 0 {
            break;
        }
    }
    let after = get_demo(&r).await;
    assert_eq!(after["count"], 9, "state survived deactivation: {after}");
    assert_eq!(after["activations"], 2, "activated anew: {after}");

    rust.shutdown().await.unwrap();
    placement.shutdown().await.unwrap();
}
