//! Where reminders fire: an actor that logs each of its reminder turns with the host it ran on,
//! and hosts that serve it on one shared Redis store (a cluster's reminders live in the shared
//! store, so any host can fire any of them once placement gives it the actor).

use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use weft::testing::RedisServer;
use weft::{
    Actor, ActorRegistration, Call, CallOrigin, Context, Error, ErrorKind, RedisStore,
    ReminderConfig, StateStore,
};

use super::{TestHost, TestPlacement};

/// The actor type [`start_recorder_host`] registers [`Recorder`] as.
pub const RECORDER_TYPE: &str = "recorder";

/// Every reminder turn of this test process: (host id, actor id, when). One log for the whole
/// process, because the hosts of a test all run in it and a test compares their turns.
static FIRED: LazyLock<Mutex<Vec<(String, String, Instant)>>> = LazyLock::new(Mutex::default);

/// Logs each of its reminder turns (see [`fired_since`]). A `host` call answers the id of the
/// host running the actor, i.e. its owner as the routed call path sees it; other calls fail.
pub struct Recorder;

impl Actor for Recorder {
    async fn handle(&self, ctx: &Context, call: Call) -> Result<Bytes, Error> {
        let host = ctx.host().host_id().unwrap_or("?").to_owned();
        match call.origin() {
            CallOrigin::Reminder(_) => {
                FIRED
                    .lock()
                    .unwrap()
                    .push((host, ctx.id().to_string(), Instant::now()));
                Ok(Bytes::new())
            }
            _ if call.method() == "host" => Ok(Bytes::from(host)),
            _ => Err(Error::new(ErrorKind::NotFound, "no such method")),
        }
    }
}

/// (host id, actor id) of every reminder turn since `t`, oldest first.
pub fn fired_since(t: Instant) -> Vec<(String, String)> {
    FIRED
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, _, at)| *at >= t)
        .map(|(h, id, _)| (h.clone(), id.clone()))
        .collect()
}

/// Starts a `redis-server` and connects a store to it. The server stops when dropped, so keep
/// it as long as the store.
pub async fn start_redis_store() -> (RedisServer, Arc<dyn StateStore>) {
    // Starting the server waits for it to accept connections: off the runtime's threads.
    let redis = tokio::task::spawn_blocking(RedisServer::start)
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("{e}"));
    let store: Arc<dyn StateStore> = Arc::new(RedisStore::connect(&redis.url()).await.unwrap());
    (redis, store)
}

/// Starts host `id` serving [`Recorder`] on `store`, joined to `placement`. It polls the
/// reminder store every 100 ms, so a reminder that moved to it fires there soon after the
/// table update.
pub async fn start_recorder_host(
    id: &str,
    placement: &TestPlacement,
    store: &Arc<dyn StateStore>,
) -> TestHost {
    TestHost::start(id, &placement.url, Arc::clone(store), |b| {
        b.reminders(ReminderConfig::default().poll_interval(Duration::from_millis(100)))
            .register(ActorRegistration::new(RECORDER_TYPE, |_id| Recorder))
    })
    .await
}
