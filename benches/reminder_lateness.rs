//! Firing lateness of 10,000 reminders scheduled on one host: how long after its due time each
//! reminder's turn started, as p50 / p99 / max, on each store.
//!
//! Not a criterion loop (one run is 10,000 samples already): the 10,000 one-shot reminders are
//! registered through `HostHandle::register_reminder` (64 at a time) with due times spread
//! evenly over a 2 s window that starts 3 s after the first registration; the actor records
//! `now - due` (wall clock, ms) in its reminder turn. Registration queues reminders that are due
//! within the horizon; the rest are found by the poller, which reads the due index every 200 ms
//! (over the wire on Redis). Each firing then reads its record, runs the turn and advances
//! (here: deletes) the record and its index entry in one transaction.
//! `cargo bench --bench reminder_lateness` prints the figures; a reminder firing early fails it.

#![allow(missing_docs)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::StreamExt;
use weft::testing::RedisServer;
use weft::{
    Actor, ActorRegistration, Call, CallOrigin, Context, Error, Host, MemoryStore, RedisStore,
    Reminder, ReminderConfig, SledStore, StateStore,
};

const REMINDERS: usize = 10_000;

fn now_ms() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis()),
    )
    .unwrap_or(u64::MAX)
}

/// Records the lateness of each reminder turn; the reminder's data is its due time in ms.
struct Probe {
    lateness_ms: Arc<Mutex<Vec<i64>>>,
}

impl Actor for Probe {
    async fn handle(&self, _ctx: &Context, call: Call) -> Result<Bytes, Error> {
        if let CallOrigin::Reminder(_) = call.origin() {
            let due = <[u8; 8]>::try_from(&call.payload()[..]).map_or(0, u64::from_be_bytes);
            let late = i64::try_from(now_ms()).unwrap_or(i64::MAX)
                - i64::try_from(due).unwrap_or(i64::MAX);
            self.lateness_ms.lock().unwrap().push(late);
        }
        Ok(Bytes::new())
    }
}

/// The `per_mille`-th value of a sorted, non-empty sample (nearest rank).
fn percentile(sorted: &[i64], per_mille: usize) -> i64 {
    let rank = (sorted.len() - 1) * per_mille / 1000;
    sorted[rank.min(sorted.len() - 1)]
}

async fn run(name: &str, store: Arc<dyn StateStore>) {
    let lateness = Arc::new(Mutex::new(Vec::with_capacity(REMINDERS)));
    let probe_log = Arc::clone(&lateness);
    let host = Host::builder()
        .shared_store(store)
        .reminders(ReminderConfig::default().poll_interval(Duration::from_millis(200)))
        .register(ActorRegistration::new("probe", move |_id| Probe {
            lateness_ms: Arc::clone(&probe_log),
        }))
        .start()
        .expect("start the host");
    let h = host.handle();
    let start = now_ms() + 3_000;
    let window_ms = 2_000u64;
    let registering = Instant::now();
    futures::stream::iter(0..REMINDERS)
        .map(|i| {
            let h = h.clone();
            async move {
                let due = start + window_ms * i as u64 / REMINDERS as u64;
                let due_at = UNIX_EPOCH + Duration::from_millis(due);
                let reminder = Reminder::new("r")
                    .due_at(due_at)
                    .data(Bytes::copy_from_slice(&due.to_be_bytes()));
                h.register_reminder("probe", &format!("p{i}"), reminder)
                    .await
                    .expect("register");
            }
        })
        .buffer_unordered(64)
        .collect::<Vec<()>>()
        .await;
    let registered_in = registering.elapsed();
    let deadline = Instant::now() + Duration::from_secs(60);
    while lateness.lock().unwrap().len() < REMINDERS {
        assert!(
            Instant::now() < deadline,
            "not every reminder fired within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut sorted = lateness.lock().unwrap().clone();
    sorted.sort_unstable();
    assert!(sorted[0] >= 0, "a reminder fired {} ms early", -sorted[0]);
    println!(
        "reminder_lateness/{name}: {REMINDERS} reminders (registered in {registered_in:?}, due over \
         {window_ms} ms): lateness p50 {} ms, p99 {} ms, max {} ms; stats {:?}",
        percentile(&sorted, 500),
        percentile(&sorted, 990),
        sorted[sorted.len() - 1],
        h.reminder_stats()
    );
    host.shutdown().await.expect("shutdown");
}

fn main() {
    // `cargo test --benches` runs bench binaries with `--bench` absent: keep that fast.
    if !std::env::args().any(|a| a == "--bench") {
        println!("reminder_lateness: run with `cargo bench --bench reminder_lateness`");
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        run("memory", Arc::new(MemoryStore::new())).await;
        let dir = tempfile::tempdir().expect("tempdir");
        let sled = SledStore::open(dir.path().join("s")).expect("sled");
        run("sled", Arc::new(sled)).await;
        let server = tokio::task::spawn_blocking(RedisServer::start)
            .await
            .expect("join")
            .expect("start redis-server (is it installed?)");
        let redis = RedisStore::connect(&server.url()).await.expect("connect");
        run("redis", Arc::new(redis)).await;
    });
}
