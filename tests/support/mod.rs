//! Multi-host test harness: a real placement server and real hosts over loopback gRPC, in one
//! process. Each host runs on its own tokio runtime, so `kill` can drop it abruptly (sockets
//! close, no goodbye, nothing deactivates or commits), as a crashed process would.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use weft::{ClusterConfig, Host, HostBuilder, HostHandle, StateStore};
use weft_placement::{PlacementConfig, RunningPlacement};

pub mod reminders;

/// A real placement server on loopback, in this process.
pub struct TestPlacement {
    running: RunningPlacement,
    pub url: String,
    pub grpc_addr: SocketAddr,
    pub http_addr: SocketAddr,
}

impl TestPlacement {
    /// On a free port: the cluster's first placement, so without a startup grace.
    pub async fn start() -> TestPlacement {
        Self::launch(SocketAddr::from(([127, 0, 0, 1], 0)), Some(Duration::ZERO)).await
    }

    /// On a given address, to restart on the same one: with the startup grace of a restart
    /// (the faulty-host timeout), so leases granted by the previous process run out first.
    pub async fn start_on(addr: SocketAddr) -> TestPlacement {
        Self::launch(addr, None).await
    }

    async fn launch(addr: SocketAddr, startup_grace: Option<Duration>) -> TestPlacement {
        let mut config = PlacementConfig::default()
            .faulty_host_timeout(Duration::from_secs(2))
            .ack_timeout(Duration::from_secs(3))
            .lock_timeout(Duration::from_secs(5));
        config.startup_grace = startup_grace;
        let http = SocketAddr::from(([127, 0, 0, 1], 0));
        let mut last = None;
        // Restarting on the same port may race the old listener's close for a moment.
        for _ in 0..50 {
            match weft_placement::start(config.clone(), addr, Some(http)).await {
                Ok(running) => {
                    return TestPlacement {
                        url: running.grpc_uri(),
                        grpc_addr: running.grpc_addr(),
                        http_addr: running.http_addr().expect("http view"),
                        running,
                    }
                }
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("placement did not start on {addr}: {last:?}");
    }

    pub async fn stop(self) {
        self.running.shutdown().await.expect("placement shuts down");
    }

    /// Abrupt stop, as a crashed placement process: its tasks are aborted, nothing drains (a
    /// graceful [`stop`](Self::stop) waits up to 5 s for a frozen host's connection). Returns
    /// the gRPC address, to [`start_on`](Self::start_on) it again.
    pub fn crash(self) -> SocketAddr {
        self.grpc_addr
        // `running` drops here: its shutdown token is cancelled and its task set aborted.
    }

    /// The ids in `hostList` of `GET /placement/state`.
    pub async fn host_ids(&self) -> Vec<String> {
        self.state_json().await["hostList"]
            .as_array()
            .map(|hosts| {
                hosts
                    .iter()
                    .filter_map(|h| h["id"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `GET /placement/state`, parsed.
    pub async fn state_json(&self) -> serde_json::Value {
        let mut stream = tokio::net::TcpStream::connect(self.http_addr)
            .await
            .expect("http connect");
        let request = format!(
            "GET /placement/state HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.http_addr
        );
        stream
            .write_all(request.as_bytes())
            .await
            .expect("http write");
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.expect("http read");
        let text = String::from_utf8_lossy(&response);
        let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        serde_json::from_str(body.trim())
            .unwrap_or_else(|e| panic!("state is not JSON ({e}): {text}"))
    }
}

/// A host of the test cluster.
pub struct TestHost {
    pub id: String,
    pub handle: HostHandle,
    host: Option<Host>,
    rt: Option<tokio::runtime::Runtime>,
}

impl TestHost {
    /// Starts host `id` on its own runtime, joined to `placement`, with the given actors.
    pub async fn start(
        id: &str,
        placement: &str,
        store: Arc<dyn StateStore>,
        actors: impl FnOnce(HostBuilder) -> HostBuilder + Send + 'static,
    ) -> TestHost {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(format!("host-{id}"))
            .enable_all()
            .build()
            .expect("host runtime");
        let config =
            ClusterConfig::new(id, placement).heartbeat_interval(Duration::from_millis(200));
        let host = rt
            .spawn(async move {
                actors(
                    Host::builder()
                        .app_id("shop")
                        .shared_store(store)
                        .cluster(config),
                )
                .start()
            })
            .await
            .expect("host start task")
            .expect("host starts");
        let handle = host.handle();
        TestHost {
            id: id.to_owned(),
            handle,
            host: Some(host),
            rt: Some(rt),
        }
    }

    /// Waits until placement placed this host's actor types on it.
    pub async fn ready(&self) {
        self.handle
            .wait_ready(Duration::from_secs(15))
            .await
            .unwrap_or_else(|e| panic!("host {} not ready: {e}", self.id));
    }

    /// Graceful stop: actors deactivate and commit, then the host leaves placement.
    pub async fn stop(mut self) {
        if let (Some(host), Some(rt)) = (self.host.take(), self.rt.as_ref()) {
            rt.spawn(host.shutdown())
                .await
                .expect("shutdown task")
                .expect("graceful shutdown");
        }
    }

    /// Freezes the host's whole runtime for `d`, as `SIGSTOP` … `SIGCONT` would freeze its
    /// process: the runtime's only worker thread (see [`start`](Self::start)) is blocked in
    /// `std::thread::sleep`, so none of its tasks runs and nothing drives its IO or timers — no
    /// heartbeat, no turn, no answer; the kernel still accepts connections and buffers what
    /// peers send. Afterwards everything resumes where it was, every expired timer firing at
    /// once. Returns as soon as the worker is blocked.
    ///
    /// Unlike a real process pause, other hosts and placement (same process, other runtimes)
    /// run on, and a freeze only starts between two task polls, never in the middle of one.
    pub async fn freeze(&self, d: Duration) -> Frozen {
        let rt = self.rt.as_ref().expect("a running host");
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let (resumed_tx, resumed_rx) = tokio::sync::oneshot::channel();
        rt.spawn(async move {
            let _ = started_tx.send(Instant::now());
            std::thread::sleep(d);
            let _ = resumed_tx.send(Instant::now());
        });
        let started = started_rx.await.expect("the freeze task ran");
        Frozen {
            host: self.id.clone(),
            started,
            resumed: resumed_rx,
        }
    }

    /// Runs `task` on this host's runtime (frozen with it by [`freeze`](Self::freeze)).
    pub fn spawn<F>(&self, task: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        self.rt.as_ref().expect("a running host").spawn(task);
    }

    /// Abrupt death: the runtime is dropped with everything on it.
    pub fn kill(mut self) {
        if let Some(host) = self.host.take() {
            std::mem::forget(host); // no Drop logic: a crash runs none
        }
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// A freeze in progress, from [`TestHost::freeze`].
#[derive(Debug)]
pub struct Frozen {
    pub host: String,
    /// When the host's worker thread blocked.
    pub started: Instant,
    resumed: tokio::sync::oneshot::Receiver<Instant>,
}

impl Frozen {
    /// Waits until the host runs again; returns when its worker thread was released.
    pub async fn resumed(self) -> Instant {
        self.resumed.await.expect("the freeze ends")
    }
}

/// Starts counter hosts `ids` on one shared store and waits until placement placed them all.
pub async fn start_counter_hosts(
    placement: &TestPlacement,
    store: &Arc<dyn StateStore>,
    ids: &[&str],
) -> Vec<TestHost> {
    let mut hosts = Vec::new();
    for id in ids {
        hosts.push(
            TestHost::start(id, &placement.url, Arc::clone(store), |b| {
                b.actor::<Counter>()
            })
            .await,
        );
    }
    for h in &hosts {
        h.ready().await;
    }
    hosts
}

/// Who holds which activation, to catch an actor active on two hosts at once.
#[derive(Debug, Default)]
pub struct Registry {
    active: Mutex<HashMap<String, String>>,
    pub violations: Mutex<Vec<String>>,
}

impl Registry {
    pub fn activated(&self, actor: &str, host: &str) {
        let mut active = self.active.lock().unwrap();
        if let Some(other) = active.insert(actor.to_owned(), host.to_owned()) {
            if other != host {
                self.violations.lock().unwrap().push(format!(
                    "{actor} activated on {host} while active on {other}"
                ));
            }
        }
    }

    pub fn deactivated(&self, actor: &str, host: &str) {
        let mut active = self.active.lock().unwrap();
        if active.get(actor).is_some_and(|h| h == host) {
            active.remove(actor);
        }
    }

    /// A host died: its activations died with it.
    pub fn host_died(&self, host: &str) {
        self.active.lock().unwrap().retain(|_, h| h != host);
    }

    pub fn violations(&self) -> Vec<String> {
        self.violations.lock().unwrap().clone()
    }

    pub fn hosts_of(&self) -> HashMap<String, String> {
        self.active.lock().unwrap().clone()
    }
}

/// The activation registry of this test process.
pub static REGISTRY: std::sync::LazyLock<Registry> = std::sync::LazyLock::new(Registry::default);

/// A durable counter that reports its activations to [`REGISTRY`].
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Counter {
    n: u64,
}

#[weft::actor]
impl Counter {
    async fn on_activate(&self, ctx: &weft::Context) {
        REGISTRY.activated(&ctx.key().to_string(), ctx.host().host_id().unwrap_or("?"));
    }

    async fn on_deactivate(&self, ctx: &weft::Context) {
        REGISTRY.deactivated(&ctx.key().to_string(), ctx.host().host_id().unwrap_or("?"));
    }

    /// Adds one; returns the new count.
    pub async fn incr(&mut self) -> u64 {
        self.n += 1;
        self.n
    }

    /// Adds one like `incr`, reading and writing 1 ms apart, and records the turn (request
    /// `req`) in [`TURNS`]; returns the new count.
    pub async fn incr_req(&mut self, ctx: &weft::Context, req: u64) -> u64 {
        let turn = RecordedTurn {
            req,
            activation: 0,
            activated: None,
        };
        recorded_increment(ctx, &mut self.n, Duration::from_millis(1), turn).await
    }

    /// The count.
    pub async fn get(&self) -> u64 {
        self.n
    }

    /// The id of the host running this activation.
    pub async fn host(&self, ctx: &weft::Context) -> String {
        ctx.host().host_id().unwrap_or("?").to_owned()
    }

    /// Calls `incr` on another counter (an actor-to-actor call, possibly across hosts).
    pub async fn bump_other(&self, ctx: &weft::Context, other: String) -> Result<u64, String> {
        ctx.actor::<Counter>(other)
            .incr()
            .await
            .map_err(|e| e.to_string())
    }
}

/// One state-changing turn as the actor saw it, for overlap checks at the turn level.
#[derive(Debug, Clone)]
pub struct Turn {
    /// The actor key, `Type/id`.
    pub actor: String,
    pub host: String,
    /// The caller's request id.
    pub req: u64,
    /// Which activation ran it (process-wide unique; 0 when the actor does not track it).
    pub activation: u64,
    /// When that activation started (`None` when the actor does not track it).
    pub activated: Option<Instant>,
    /// The method's first statement.
    pub start: Instant,
    /// The method's last statement (the commit comes after it).
    pub end: Instant,
}

impl Turn {
    /// Both turns ran at some common instant.
    pub fn overlaps(&self, other: &Turn) -> bool {
        self.start < other.end && other.start < self.end
    }
}

/// Who runs a recorded turn (see [`Turn`]).
pub struct RecordedTurn {
    pub req: u64,
    pub activation: u64,
    pub activated: Option<Instant>,
}

/// Adds one to `value`, reading and writing it `pause` apart, and records the turn in
/// [`TURNS`]; returns the new value.
pub async fn recorded_increment(
    ctx: &weft::Context,
    value: &mut u64,
    pause: Duration,
    turn: RecordedTurn,
) -> u64 {
    let start = Instant::now();
    let read = *value;
    tokio::time::sleep(pause).await;
    *value = read + 1;
    TURNS.record(Turn {
        actor: ctx.key().to_string(),
        host: ctx.host().host_id().unwrap_or("?").to_owned(),
        req: turn.req,
        activation: turn.activation,
        activated: turn.activated,
        start,
        end: Instant::now(),
    });
    *value
}

/// Every recorded turn of this test process.
#[derive(Debug, Default)]
pub struct Turns {
    turns: Mutex<Vec<Turn>>,
}

impl Turns {
    pub fn record(&self, turn: Turn) {
        self.turns.lock().unwrap().push(turn);
    }

    /// The turns of actors whose id starts with `prefix` (as `Type/prefix…`).
    pub fn of(&self, actor_type: &str, prefix: &str) -> Vec<Turn> {
        let key = format!("{actor_type}/{prefix}");
        self.turns
            .lock()
            .unwrap()
            .iter()
            .filter(|t| t.actor.starts_with(&key))
            .cloned()
            .collect()
    }
}

/// The turn registry of this test process.
pub static TURNS: std::sync::LazyLock<Turns> = std::sync::LazyLock::new(Turns::default);

/// Pairs of turns of one actor that overlap in time.
pub fn overlapping(turns: &[Turn]) -> Vec<(Turn, Turn)> {
    let mut by_actor: HashMap<&str, Vec<&Turn>> = HashMap::new();
    for t in turns {
        by_actor.entry(&t.actor).or_default().push(t);
    }
    let mut pairs = Vec::new();
    for mut ts in by_actor.into_values() {
        ts.sort_by_key(|t| t.start);
        for (i, a) in ts.iter().enumerate() {
            for b in ts[i + 1..].iter().take_while(|b| b.start < a.end) {
                pairs.push(((*a).clone(), (*b).clone()));
            }
        }
    }
    pairs
}

/// What [`overlapping`] found, split by the rule: two ACKNOWLEDGED turns of one actor must
/// never overlap. A turn frozen half-way necessarily overlaps (in wall-clock time) with the turns
/// of the actor's next owner; that only harms if both were acknowledged.
#[derive(Debug, Default)]
pub struct Overlaps {
    /// Both turns acknowledged to their callers: a violation.
    pub acknowledged: Vec<(Turn, Turn)>,
    /// At least one of the two was not acknowledged (failed, timed out, or fenced at commit).
    pub unacknowledged: usize,
}

pub fn overlaps(turns: &[Turn], acked: &HashSet<u64>) -> Overlaps {
    let mut found = Overlaps::default();
    for (a, b) in overlapping(turns) {
        if acked.contains(&a.req) && acked.contains(&b.req) {
            found.acknowledged.push((a, b));
        } else {
            found.unacknowledged += 1;
        }
    }
    found
}

static NEXT_ACTIVATION: AtomicU64 = AtomicU64::new(1);

/// An account whose deposits record their turns in [`TURNS`] and whose activations report to
/// [`REGISTRY`].
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Account {
    balance: u64,
    /// This activation, and when it started (not state).
    #[serde(skip)]
    activation: u64,
    #[serde(skip)]
    activated: Option<Instant>,
}

#[weft::actor]
impl Account {
    async fn on_activate(&mut self, ctx: &weft::Context) {
        self.activation = NEXT_ACTIVATION.fetch_add(1, Ordering::Relaxed);
        self.activated = Some(Instant::now());
        REGISTRY.activated(&ctx.key().to_string(), ctx.host().host_id().unwrap_or("?"));
    }

    async fn on_deactivate(&self, ctx: &weft::Context) {
        REGISTRY.deactivated(&ctx.key().to_string(), ctx.host().host_id().unwrap_or("?"));
    }

    /// Adds one, reading and writing the balance 10 ms apart; returns the new balance.
    pub async fn deposit(&mut self, ctx: &weft::Context, req: u64) -> u64 {
        let turn = RecordedTurn {
            req,
            activation: self.activation,
            activated: self.activated,
        };
        recorded_increment(ctx, &mut self.balance, Duration::from_millis(10), turn).await
    }

    /// The balance.
    pub async fn balance(&self) -> u64 {
        self.balance
    }

    /// The id of the host running this activation.
    pub async fn host(&self, ctx: &weft::Context) -> String {
        ctx.host().host_id().unwrap_or("?").to_owned()
    }
}

/// The committed state of the typed actor `A` with id `id` in `store` (app `shop`): what its
/// next activation loads, whatever a stale activation still holds in memory.
pub async fn committed<A: weft::actor::TypedActor>(store: &Arc<dyn StateStore>, id: &str) -> A {
    let key = weft::state::StateKey::actor("shop", A::ACTOR_TYPE, id, weft::actor::STATE_KEY);
    match store.get(&key).await.expect("store read") {
        Some(v) => weft::Codec::Binary
            .decode(&v.value)
            .expect("stored state decodes"),
        None => A::default(),
    }
}

/// The committed count of counter `id`.
pub async fn committed_count(store: &Arc<dyn StateStore>, id: &str) -> u64 {
    committed::<Counter>(store, id).await.n
}

/// The committed balance of account `id`.
pub async fn committed_balance(store: &Arc<dyn StateStore>, id: &str) -> u64 {
    committed::<Account>(store, id).await.balance
}
