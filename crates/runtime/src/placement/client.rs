//! The host's side of the placement stream: register, heartbeat, renew the lease with every
//! answer, follow the dissemination rounds (lock → update, drain → unlock), drain on a snapshot
//! too, reconnect with backoff, say `Leave` on shutdown. While placement is away the host keeps
//! serving with its last tables for as long as its lease holds (see [`super::lease`]).
//!
//! Orders and snapshots are carried out one at a time, in order, but beside the stream: a drain
//! that waits for long turns does not stop heartbeats (and so the lease) of the whole host.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use weft_placement::proto::host_message::Body as HostBody;
use weft_placement::proto::placement_client::PlacementClient;
use weft_placement::proto::placement_message::Body as PlacementBody;
use weft_placement::proto::{Ack, Heartbeat, HostMessage, Leave, Order, Phase, Register};

use super::{Cluster, ClusterConfig, Drain};
#[cfg(feature = "tls")]
use crate::security::tls::TlsConnector;
#[cfg(feature = "tls")]
use crate::security::WorkloadIdentity;

const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What a host's placement client works with.
pub(crate) struct Follower {
    pub(crate) cluster: Arc<Cluster>,
    pub(crate) config: ClusterConfig,
    /// The host's app id and actor types, as it registers them.
    pub(crate) app_id: String,
    pub(crate) actor_types: Vec<String>,
    /// Mutual TLS towards placement, when the host has a workload identity.
    #[cfg(feature = "tls")]
    pub(crate) identity: Option<WorkloadIdentity>,
    /// The host's activations, drained when a table places them elsewhere.
    pub(crate) drain: Arc<dyn Drain>,
}

/// Runs until `stop` is cancelled.
pub(crate) async fn run(follower: Follower, stop: CancellationToken) {
    let host = &follower;
    let config = &follower.config;
    let mut backoff = Duration::from_millis(100);
    loop {
        // The session watches `stop` itself, so that it can say `Leave` before it ends.
        let outcome = session(host, &stop, &mut backoff).await;
        if stop.is_cancelled() {
            return;
        }
        if let Err(why) = outcome {
            tracing::warn!(placement = %config.placement, error = %why,
                retry_in = ?backoff, "placement stream lost; serving with the last tables while the lease holds");
        }
        host.cluster.tables.unlock_all();
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One connection to placement, until it breaks.
async fn session(
    host: &Follower,
    stop: &CancellationToken,
    backoff: &mut Duration,
) -> Result<(), String> {
    let (cluster, config) = (&host.cluster, &host.config);
    let endpoint = tonic::transport::Endpoint::from_shared(config.placement.clone())
        .map_err(|e| format!("bad placement address: {e}"))?
        .connect_timeout(Duration::from_secs(2))
        .http2_keep_alive_interval(Duration::from_secs(5))
        .keep_alive_timeout(Duration::from_secs(5));
    // With a workload identity the stream is mutual TLS: placement's certificate must chain to
    // the trust bundle and be of the trust domain, and it sees ours.
    #[cfg(feature = "tls")]
    let connect = async {
        match &host.identity {
            Some(identity) => {
                endpoint
                    .connect_with_connector(TlsConnector::new(identity.client_config()))
                    .await
            }
            None => endpoint.connect().await,
        }
    };
    #[cfg(not(feature = "tls"))]
    let connect = endpoint.connect();
    let channel = tokio::select! {
        () = stop.cancelled() => return Ok(()),
        channel = connect => channel,
    }
    .map_err(|e| format!("cannot connect: {}", crate::security::error_chain(&e)))?;
    // The rpc is named `Connect`, which shadows the generated `PlacementClient::connect(dst)`.
    let mut client = PlacementClient::new(channel);
    let (tx, rx) = mpsc::channel(64);
    let register = Register {
        host_id: config.host_id.clone(),
        app_id: host.app_id.clone(),
        namespace: config.namespace.clone(),
        address: cluster.address.clone(),
        actor_types: host.actor_types.clone(),
    };
    // Heartbeats in flight: (seq, when sent); a lease runs from its heartbeat's sending.
    let mut sent: VecDeque<(u64, Instant)> = VecDeque::new();
    let mut seq = 0;
    sent.push_back((seq, Instant::now()));
    send(&tx, HostBody::Register(register)).await?;
    let open = client.connect(ReceiverStream::new(rx));
    let mut inbound = tokio::select! {
        () = stop.cancelled() => return Ok(()),
        opened = open => opened,
    }
    .map_err(|e| format!("placement refused the stream: {e}"))?
    .into_inner();
    let mut interval = config.heartbeat_interval;
    let mut heartbeat = tokio::time::interval(interval);
    // Orders and snapshots waiting for the one being carried out (`work`).
    let mut queue: VecDeque<Task> = VecDeque::new();
    // The latest answer that could not renew a lapsed lease: it revives it once a fresh table
    // is in and drained (our tables may be stale: others may own our actors now).
    let mut revive: Option<(Instant, Duration)> = None;
    // This session's snapshot is in and drained. From then on an answer revives a lapsed lease
    // at once: while this stream lives, placement has not given our actors away (it would have
    // evicted us, closing the stream, first).
    let mut fresh = false;
    let mut work: Option<Work<'_>> = None;
    loop {
        if work.is_none() {
            if let Some(next) = queue.pop_front() {
                work = Some(carry_out(host, next));
            }
        }
        tokio::select! {
            () = stop.cancelled() => {
                leave(tx, inbound).await;
                return Ok(());
            }
            _ = heartbeat.tick() => {
                seq += 1;
                sent.push_back((seq, Instant::now()));
                // Answers come in order; more than a few outstanding means placement is gone.
                while sent.len() > 64 {
                    sent.pop_front();
                }
                send(&tx, HostBody::Heartbeat(Heartbeat { seq })).await?;
            }
            ack = async {
                match work.as_mut() {
                    Some(w) => w.await,
                    None => std::future::pending().await,
                }
            }, if work.is_some() => {
                work = None;
                match ack {
                    Done::Ack(ack) => send(&tx, HostBody::Ack(ack)).await?,
                    Done::FreshTable => {
                        fresh = true;
                        if let Some((at, duration)) = revive.take() {
                            revive_lease(cluster, at, duration);
                        }
                    }
                }
            }
            message = inbound.message() => {
                let message = message.map_err(|e| format!("stream failed: {e}"))?
                    .ok_or_else(|| "placement closed the stream".to_owned())?;
                match message.body {
                    Some(PlacementBody::Lease(lease)) => {
                        while sent.front().is_some_and(|(s, _)| *s < lease.heartbeat) {
                            sent.pop_front();
                        }
                        let Some(&(_, at)) = sent.front().filter(|(s, _)| *s == lease.heartbeat) else {
                            continue;
                        };
                        let duration = Duration::from_millis(lease.duration_ms);
                        let renewed = cluster.lease.renew(at, duration);
                        if !renewed && fresh {
                            revive_lease(cluster, at, duration);
                        } else if !renewed {
                            if revive.is_none() {
                                tracing::info!("no placement lease: waiting for a fresh table before serving");
                            }
                            revive = Some((at, duration));
                        }
                        // Renew well within the lease, whatever the configured interval.
                        let wanted = config.heartbeat_interval.min(duration / 3).max(Duration::from_millis(10));
                        if wanted != interval {
                            interval = wanted;
                            heartbeat = tokio::time::interval(interval);
                            heartbeat.reset();
                        }
                    }
                    Some(PlacementBody::Snapshot(snapshot)) => {
                        *backoff = Duration::from_millis(100);
                        queue.push_back(Task::Snapshot(snapshot));
                    }
                    Some(PlacementBody::Order(order)) => queue.push_back(Task::Order(order)),
                    Some(PlacementBody::Members(members)) => {
                        cluster.members.replace(members.members);
                    }
                    Some(PlacementBody::Rejected(r)) => {
                        return Err(format!("placement rejected this host: {}", r.reason));
                    }
                    None => tracing::warn!("empty message from placement; ignored"),
                }
            }
        }
    }
}

/// Gives a lapsed lease back (see `fresh` in [`session`]) and wakes calls waiting for it.
fn revive_lease(cluster: &Cluster, at: Instant, duration: Duration) {
    if cluster.lease.revive(at, duration) {
        tracing::info!(lease = ?duration, "placement lease held");
        cluster.tables.touch();
    }
}

/// An order or snapshot being carried out.
type Work<'a> = Pin<Box<dyn Future<Output = Done> + Send + 'a>>;

/// What placement asked for, carried out in order.
enum Task {
    Order(Order),
    Snapshot(weft_placement::proto::Snapshot),
}

/// How a piece of work ended.
enum Done {
    /// An order, with its acknowledgement to send.
    Ack(Ack),
    /// A snapshot: fresh tables are in, and what they place elsewhere is drained.
    FreshTable,
}

fn carry_out(host: &Follower, task: Task) -> Work<'_> {
    let cluster = &host.cluster;
    match task {
        Task::Order(order) => Box::pin(async move { Done::Ack(follow(host, order).await) }),
        Task::Snapshot(snapshot) => Box::pin(async move {
            cluster.tables.snapshot(snapshot.tables);
            tracing::info!(placement = %host.config.placement, "joined placement");
            // A rejoin: whatever we still run that the tables now place elsewhere goes, before
            // we take part in any round (its acks come after this).
            host.drain
                .drain_moved(&cluster.tables, &host.actor_types, &cluster.host_id)
                .await;
            Done::FreshTable
        }),
    }
}

/// Says `Leave` (every activation is gone: placement may move our actors at once), ends our
/// half of the stream, and waits briefly for placement to end its half.
async fn leave(
    tx: mpsc::Sender<HostMessage>,
    mut inbound: tonic::Streaming<weft_placement::proto::PlacementMessage>,
) {
    let _ = send(&tx, HostBody::Leave(Leave {})).await;
    drop(tx);
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        while let Ok(Some(_)) = inbound.message().await {}
    })
    .await;
}

/// Carries out one phase of a round and returns its acknowledgement.
async fn follow(host: &Follower, order: Order) -> Ack {
    let cluster = &host.cluster;
    let phase = Phase::try_from(order.phase).unwrap_or(Phase::Unspecified);
    let span = tracing::debug_span!("placement.round", round = order.round, phase = ?phase,
        types = order.tables.len());
    let _enter = span.enter();
    match phase {
        Phase::Lock => {
            let timeout = Duration::from_millis(order.lock_timeout_ms.clamp(100, 120_000));
            cluster.tables.lock(&order.tables, Instant::now() + timeout);
        }
        Phase::Update => {
            let changed = cluster.tables.update(order.tables);
            drop(_enter);
            // Only after every actor we no longer own has finished its turn, committed and
            // deactivated do we acknowledge: the new owner cannot activate it before.
            host.drain
                .drain_moved(&cluster.tables, &changed, &cluster.host_id)
                .await;
        }
        Phase::Unlock => cluster.tables.unlock(&order.tables),
        Phase::Unspecified => {
            tracing::warn!(round = order.round, "order without a phase; acknowledged")
        }
    }
    Ack {
        round: order.round,
        phase: order.phase,
    }
}

async fn send(tx: &mpsc::Sender<HostMessage>, body: HostBody) -> Result<(), String> {
    tx.send(HostMessage { body: Some(body) })
        .await
        .map_err(|_| "the stream to placement closed".to_owned())
}
