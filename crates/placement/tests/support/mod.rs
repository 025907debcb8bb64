//! Test-side fake hosts: register over a real loopback stream, ack orders, record what arrives.
// Each test binary uses a different part of this module.
#![allow(dead_code, unreachable_pub)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{self, timeout};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint};
use tonic::Code;
use weft_placement::proto::host_message::Body as HostBody;
use weft_placement::proto::placement_client::PlacementClient;
use weft_placement::proto::placement_message::Body;
use weft_placement::proto::{
    Ack, Heartbeat, HostMessage, Order, Phase, Register, Snapshot, TypeTable,
};
use weft_placement::{PlacementConfig, RunningPlacement};

/// The longest any single expectation waits.
pub const WAIT: Duration = Duration::from_secs(10);

/// Starts placement on a free loopback port, with HTTP too. Without a `startup_grace` in
/// `config`, none (a cluster's first placement).
pub async fn start(mut config: PlacementConfig) -> RunningPlacement {
    init_tracing();
    config.startup_grace.get_or_insert(Duration::ZERO);
    let any = "127.0.0.1:0".parse().unwrap();
    weft_placement::start(config, any, Some(any)).await.unwrap()
}

/// A `PlacementClient` over a fresh connection to `uri`.
pub async fn client(uri: &str) -> PlacementClient<Channel> {
    let channel = Endpoint::from_shared(uri.to_owned())
        .unwrap()
        .connect()
        .await
        .unwrap();
    PlacementClient::new(channel)
}

pub fn register(host_id: &str, namespace: &str, types: &[&str]) -> Register {
    Register {
        host_id: host_id.to_owned(),
        app_id: format!("app-{host_id}"),
        namespace: namespace.to_owned(),
        address: format!("{host_id}.test:7000"),
        actor_types: types.iter().map(|t| (*t).to_owned()).collect(),
    }
}

pub fn message(body: HostBody) -> HostMessage {
    HostMessage { body: Some(body) }
}

/// What a fake host saw on its stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Seen {
    Snapshot(Snapshot),
    Order(Order),
    Rejected(String),
    /// The stream ended: `Code::Ok` for a clean end.
    Ended(Code),
    /// A new stream was opened after the previous one ended.
    Reconnected,
}

/// How a fake host behaves.
#[derive(Debug, Clone)]
pub struct Behaviour {
    pub auto_ack: bool,
    pub heartbeat: Option<Duration>,
    pub reconnect: bool,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            auto_ack: true,
            heartbeat: Some(Duration::from_millis(50)),
            reconnect: false,
        }
    }
}

/// A host that registers, heartbeats, acks every order (unless told not to) and records every
/// message. Dropping it closes its stream.
#[derive(Debug)]
pub struct FakeHost {
    pub host_id: String,
    seen: mpsc::UnboundedReceiver<Seen>,
    heartbeating: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

impl FakeHost {
    pub async fn connect(uri: &str, register: Register) -> FakeHost {
        FakeHost::with(uri, register, Behaviour::default()).await
    }

    pub async fn with(uri: &str, register: Register, behaviour: Behaviour) -> FakeHost {
        let (seen_tx, seen) = mpsc::unbounded_channel();
        let heartbeating = Arc::new(AtomicBool::new(behaviour.heartbeat.is_some()));
        let host_id = register.host_id.clone();
        let task = tokio::spawn(run(
            uri.to_owned(),
            register,
            behaviour,
            heartbeating.clone(),
            seen_tx,
        ));
        FakeHost {
            host_id,
            seen,
            heartbeating,
            task,
        }
    }

    /// Stops sending heartbeats (the stream stays open).
    pub fn stop_heartbeats(&self) {
        self.heartbeating.store(false, Ordering::SeqCst);
    }

    /// The next thing seen, within [`WAIT`].
    pub async fn next(&mut self) -> Seen {
        match timeout(WAIT, self.seen.recv()).await {
            Ok(Some(seen)) => seen,
            Ok(None) => panic!("{}: fake host task ended", self.host_id),
            Err(_) => panic!("{}: nothing seen within {WAIT:?}", self.host_id),
        }
    }

    pub async fn snapshot(&mut self) -> Snapshot {
        match self.next().await {
            Seen::Snapshot(snapshot) => snapshot,
            other => panic!("{}: expected a snapshot, saw {other:?}", self.host_id),
        }
    }

    pub async fn order(&mut self, phase: Phase) -> Order {
        match self.next().await {
            Seen::Order(order) if order.phase == i32::from(phase) => order,
            other => panic!("{}: expected {phase:?}, saw {other:?}", self.host_id),
        }
    }

    /// A whole round: LOCK, UPDATE and UNLOCK of one round id; returns the UPDATE.
    pub async fn round(&mut self) -> Order {
        let lock = self.order(Phase::Lock).await;
        let update = self.order(Phase::Update).await;
        let unlock = self.order(Phase::Unlock).await;
        assert_eq!(lock.round, update.round);
        assert_eq!(lock.round, unlock.round);
        let names = |o: &Order| -> Vec<(String, u64)> {
            o.tables
                .iter()
                .map(|t| (t.actor_type.clone(), t.version))
                .collect()
        };
        assert_eq!(
            names(&lock),
            names(&update),
            "LOCK and UPDATE name the same tables"
        );
        assert_eq!(names(&unlock), names(&update));
        update
    }

    pub async fn ended(&mut self) -> Code {
        match self.next().await {
            Seen::Ended(code) => code,
            other => panic!(
                "{}: expected the stream to end, saw {other:?}",
                self.host_id
            ),
        }
    }

    /// Asserts nothing arrives for `quiet`.
    pub async fn assert_quiet(&mut self, quiet: Duration) {
        if let Ok(Some(seen)) = timeout(quiet, self.seen.recv()).await {
            panic!("{}: expected nothing, saw {seen:?}", self.host_id);
        }
    }
}

impl Drop for FakeHost {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The table of `actor_type` in `tables`.
pub fn table<'t>(tables: &'t [TypeTable], actor_type: &str) -> &'t TypeTable {
    tables
        .iter()
        .find(|t| t.actor_type == actor_type)
        .unwrap_or_else(|| panic!("no table for {actor_type} in {tables:?}"))
}

/// Host ids of a table, in order.
pub fn host_ids(table: &TypeTable) -> Vec<&str> {
    table.hosts.iter().map(|h| h.host_id.as_str()).collect()
}

async fn run(
    uri: String,
    register: Register,
    behaviour: Behaviour,
    heartbeating: Arc<AtomicBool>,
    seen: mpsc::UnboundedSender<Seen>,
) {
    let mut first = true;
    loop {
        if !first {
            let _ = seen.send(Seen::Reconnected);
        }
        first = false;
        let Some(channel) = connect_with_retries(&uri).await else {
            return;
        };
        serve_once(channel, &register, &behaviour, &heartbeating, &seen).await;
        if !behaviour.reconnect {
            return;
        }
        time::sleep(Duration::from_millis(50)).await;
    }
}

async fn connect_with_retries(uri: &str) -> Option<Channel> {
    let endpoint = Endpoint::from_shared(uri.to_owned()).ok()?;
    for _ in 0..200 {
        if let Ok(channel) = endpoint.connect().await {
            return Some(channel);
        }
        time::sleep(Duration::from_millis(50)).await;
    }
    None
}

async fn serve_once(
    channel: Channel,
    register: &Register,
    behaviour: &Behaviour,
    heartbeating: &Arc<AtomicBool>,
    seen: &mpsc::UnboundedSender<Seen>,
) {
    let (tx, rx) = mpsc::channel(64);
    let _ = tx.send(message(HostBody::Register(register.clone()))).await;
    let mut client = PlacementClient::new(channel);
    let mut inbound = match client.connect(ReceiverStream::new(rx)).await {
        Ok(response) => response.into_inner(),
        Err(status) => {
            let _ = seen.send(Seen::Ended(status.code()));
            return;
        }
    };
    // Heartbeats run inside this task, so aborting the task ends the whole stream.
    let period = behaviour.heartbeat.unwrap_or(Duration::from_secs(3600));
    let mut tick = time::interval(period);
    loop {
        let next = tokio::select! {
            next = inbound.message() => next,
            _ = tick.tick() => {
                if behaviour.heartbeat.is_some() && heartbeating.load(Ordering::SeqCst) {
                    let _ = tx.send(message(HostBody::Heartbeat(Heartbeat::default()))).await;
                }
                continue;
            }
        };
        match next {
            Ok(Some(msg)) => match msg.body {
                Some(Body::Snapshot(s)) => {
                    let _ = seen.send(Seen::Snapshot(s));
                }
                Some(Body::Order(order)) => {
                    let ack = Ack {
                        round: order.round,
                        phase: order.phase,
                    };
                    let _ = seen.send(Seen::Order(order));
                    if behaviour.auto_ack {
                        let _ = tx.send(message(HostBody::Ack(ack))).await;
                    }
                }
                Some(Body::Rejected(r)) => {
                    let _ = seen.send(Seen::Rejected(r.reason));
                }
                // The member list (the service registry) is not what these tests look at.
                Some(Body::Members(_) | Body::Lease(_)) | None => {}
            },
            Ok(None) => {
                let _ = seen.send(Seen::Ended(Code::Ok));
                break;
            }
            Err(status) => {
                let _ = seen.send(Seen::Ended(status.code()));
                break;
            }
        }
    }
}

/// Logs to the test output when `RUST_LOG` is set.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}
