//! How long placement takes to tell every host about a new one: one LOCK → UPDATE → UNLOCK
//! dissemination round, end to end over loopback gRPC.
//!
//! A real placement server (`coalesce_window` = 0, so a join starts its round at once) runs on
//! its own 1-worker runtime, with N = 3 or 20 fake hosts already connected. Each fake host is a
//! `PlacementClient` `Connect` stream that registers the `Counter` type and acks every order as
//! soon as it reads it. The fake hosts share a second 1-worker runtime. One timed operation:
//!
//! 1. a new fake host, whose HTTP/2 connection is already open, opens its stream and sends
//!    `Register` (time starts just before the stream is opened);
//! 2. placement sends it a `Snapshot`, then runs one round over all N + 1 hosts;
//! 3. time stops when the last of the N + 1 hosts has sent its UNLOCK ack (placement counts it
//!    a few microseconds later).
//!
//! - `join_round/{3,20}`: steps 1–3.
//! - `register_to_snapshot/{3,20}` (the baseline): step 1 until the new host has its
//!   `Snapshot`: one request and reply through placement's loop, with no round. The difference
//!   is the round itself: three phases, each sent to N + 1 hosts and acked by all of them.
//!
//! Between timed joins the new host says `Leave` and the leave round is allowed to finish
//! (untimed), so every join starts from a quiet cluster of N hosts.

// `criterion_group!` generates an undocumented `pub fn` at the crate root.
#![allow(missing_docs)]

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use tokio::runtime::Runtime;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint};
use weft_placement::proto::host_message::Body as HostBody;
use weft_placement::proto::placement_client::PlacementClient;
use weft_placement::proto::placement_message::Body;
use weft_placement::proto::{Ack, Heartbeat, HostMessage, Phase, Register};
use weft_placement::{PlacementConfig, RunningPlacement};

/// The longest any single expectation waits.
const WAIT: Duration = Duration::from_secs(10);

/// What a fake host reports, with when it happened.
#[derive(Debug, Clone, Copy)]
enum Seen {
    Snapshot(Instant),
    /// The host sent its UNLOCK ack of `round`.
    Unlocked {
        round: u64,
        at: Instant,
    },
}

/// A host that registers, heartbeats every second, acks every order at once, and reports
/// snapshots and UNLOCK acks. Dropping it closes its stream; `leave` says `Leave` first.
#[derive(Debug)]
struct FakeHost {
    seen: mpsc::UnboundedReceiver<Seen>,
    task: JoinHandle<()>,
    leave: Option<tokio::sync::oneshot::Sender<()>>,
}

impl FakeHost {
    /// Starts the host's stream over `channel`; must run on a tokio runtime.
    fn spawn(channel: Channel, host_id: &str) -> FakeHost {
        let (report, seen) = mpsc::unbounded_channel();
        let register = Register {
            host_id: host_id.to_owned(),
            app_id: "bench".to_owned(),
            namespace: "default".to_owned(),
            address: format!("{host_id}.bench:7000"),
            actor_types: vec!["Counter".to_owned()],
        };
        let (leave, on_leave) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(serve(channel, register, report, on_leave));
        FakeHost {
            seen,
            task,
            leave: Some(leave),
        }
    }

    /// Says `Leave` (placement then moves its actors at once) and waits for the stream's end.
    async fn leave(mut self) {
        if let Some(leave) = self.leave.take() {
            let _ = leave.send(());
        }
        let _ = timeout(WAIT, &mut self.task).await;
    }

    async fn next(&mut self) -> Seen {
        match timeout(WAIT, self.seen.recv()).await {
            Ok(Some(seen)) => seen,
            Ok(None) => panic!("a fake host's stream ended"),
            Err(_) => panic!("a fake host saw nothing within {WAIT:?}"),
        }
    }

    async fn snapshot(&mut self) -> Instant {
        match self.next().await {
            Seen::Snapshot(at) => at,
            other => panic!("expected a snapshot, saw {other:?}"),
        }
    }

    async fn unlocked(&mut self) -> (u64, Instant) {
        match self.next().await {
            Seen::Unlocked { round, at } => (round, at),
            other => panic!("expected an UNLOCK, saw {other:?}"),
        }
    }
}

impl Drop for FakeHost {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn message(body: HostBody) -> HostMessage {
    HostMessage { body: Some(body) }
}

async fn serve(
    channel: Channel,
    register: Register,
    report: mpsc::UnboundedSender<Seen>,
    mut on_leave: tokio::sync::oneshot::Receiver<()>,
) {
    let (tx, rx) = mpsc::channel(64);
    let _ = tx.send(message(HostBody::Register(register))).await;
    let mut inbound = match PlacementClient::new(channel)
        .connect(ReceiverStream::new(rx))
        .await
    {
        Ok(response) => response.into_inner(),
        Err(_) => return,
    };
    let mut heartbeat = tokio::time::interval(Duration::from_secs(1));
    loop {
        let next = tokio::select! {
            _ = &mut on_leave => {
                let _ = tx.send(message(HostBody::Leave(Default::default()))).await;
                return;
            }
            next = inbound.message() => next,
            _ = heartbeat.tick() => {
                let _ = tx.send(message(HostBody::Heartbeat(Heartbeat::default()))).await;
                continue;
            }
        };
        let Ok(Some(msg)) = next else {
            return;
        };
        match msg.body {
            Some(Body::Snapshot(_)) => {
                let _ = report.send(Seen::Snapshot(Instant::now()));
            }
            Some(Body::Order(order)) => {
                let ack = Ack {
                    round: order.round,
                    phase: order.phase,
                };
                let _ = tx.send(message(HostBody::Ack(ack))).await;
                if order.phase == i32::from(Phase::Unlock) {
                    let _ = report.send(Seen::Unlocked {
                        round: order.round,
                        at: Instant::now(),
                    });
                }
            }
            Some(Body::Rejected(_) | Body::Members(_) | Body::Lease(_)) | None => {}
        }
    }
}

async fn connect(uri: &str) -> Channel {
    Endpoint::from_shared(uri.to_owned())
        .expect("placement's URI")
        .tcp_nodelay(true)
        .connect()
        .await
        .expect("connect to placement")
}

/// One join's timings, from just before the new host opened its stream.
#[derive(Debug, Clone, Copy)]
struct Join {
    snapshot: Duration,
    round: Duration,
}

/// N hosts in a quiet cluster, and a counter for the ids of joining hosts.
struct Cluster {
    uri: String,
    hosts: Vec<FakeHost>,
    joins: u64,
}

impl Cluster {
    async fn start(placement: &RunningPlacement, hosts: usize) -> Cluster {
        let uri = placement.grpc_uri();
        let mut cluster = Cluster {
            uri,
            hosts: Vec::new(),
            joins: 0,
        };
        for i in 0..hosts {
            let channel = connect(&cluster.uri).await;
            let mut host = FakeHost::spawn(channel, &format!("host-{i:02}"));
            host.snapshot().await;
            // Every host already there takes part in the round this join starts.
            for h in &mut cluster.hosts {
                h.unlocked().await;
            }
            host.unlocked().await;
            cluster.hosts.push(host);
        }
        cluster
    }

    /// A new host joins (timed), then leaves again (untimed).
    async fn join(&mut self) -> Join {
        self.joins += 1;
        let channel = connect(&self.uri).await;
        let start = Instant::now();
        let mut joiner = FakeHost::spawn(channel, &format!("joiner-{}", self.joins));
        let snapshot = joiner.snapshot().await - start;
        let (round, mut last) = joiner.unlocked().await;
        for host in &mut self.hosts {
            let (theirs, at) = host.unlocked().await;
            assert_eq!(theirs, round, "every host saw the join's round");
            last = last.max(at);
        }
        let join = Join {
            snapshot,
            round: last - start,
        };
        joiner.leave().await;
        for host in &mut self.hosts {
            let (leave, _) = host.unlocked().await;
            assert!(leave > round, "the leave round follows the join round");
        }
        join
    }
}

fn runtime(name: &str) -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name(name)
        .enable_all()
        .build()
        .expect("build a tokio runtime")
}

fn placement_rounds(c: &mut Criterion) {
    let config = PlacementConfig::default()
        .coalesce_window(Duration::ZERO)
        // Generous: only the stream closing should remove a host during the run.
        .faulty_host_timeout(Duration::from_secs(30))
        .startup_grace(Duration::ZERO);
    let placement_rt = runtime("placement");
    let hosts_rt = runtime("fake-hosts");

    let mut group = c.benchmark_group("placement_rounds");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));

    for hosts in [3, 20] {
        let placement = placement_rt
            .block_on(weft_placement::start(
                config.clone(),
                "127.0.0.1:0".parse().expect("a socket address"),
                None,
            ))
            .expect("start placement");
        let cluster = hosts_rt.block_on(Cluster::start(&placement, hosts));
        // The timed loop runs in a task on the hosts' runtime; the cluster travels with it.
        let mut cluster = Some(cluster);
        let mut measure = |iters: u64, pick: fn(Join) -> Duration| -> Duration {
            let mut moved = cluster.take().expect("the cluster is here between samples");
            let (total, moved) = hosts_rt
                .block_on(hosts_rt.spawn(async move {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        total += pick(moved.join().await);
                    }
                    (total, moved)
                }))
                .expect("the timing task ran");
            cluster = Some(moved);
            total
        };
        group.bench_function(BenchmarkId::new("join_round", hosts), |b| {
            b.iter_custom(|iters| measure(iters, |j| j.round));
        });
        group.bench_function(BenchmarkId::new("register_to_snapshot", hosts), |b| {
            b.iter_custom(|iters| measure(iters, |j| j.snapshot));
        });
        hosts_rt.block_on(async { drop(cluster) });
        placement_rt
            .block_on(placement.shutdown())
            .expect("placement shuts down");
    }
    group.finish();
}

criterion_group!(benches, placement_rounds);
criterion_main!(benches);
