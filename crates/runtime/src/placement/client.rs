//! The host's side of the placement stream: register, heartbeat, follow the dissemination
//! rounds (lock → update, drain → unlock), reconnect with backoff. While placement is away the
//! host keeps serving with its last tables.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use weft_placement::proto::host_message::Body as HostBody;
use weft_placement::proto::placement_client::PlacementClient;
use weft_placement::proto::placement_message::Body as PlacementBody;
use weft_placement::proto::{Ack, Heartbeat, HostMessage, Order, Phase, Register};

use super::ClusterConfig;
use crate::host::HostHandle;
use crate::security::tls::TlsConnector;

const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Runs until `stop` is cancelled.
pub(crate) async fn run(
    host: HostHandle,
    config: ClusterConfig,
    advertise: String,
    stop: CancellationToken,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let outcome = tokio::select! {
            () = stop.cancelled() => return,
            outcome = session(&host, &config, &advertise, &stop, &mut backoff) => outcome,
        };
        if let Err(why) = outcome {
            tracing::warn!(placement = %config.placement, error = %why,
                retry_in = ?backoff, "placement stream lost; serving with the last tables");
        }
        if let Some(cluster) = host.cluster() {
            cluster.tables.unlock_all();
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One connection to placement, until it breaks.
async fn session(
    host: &HostHandle,
    config: &ClusterConfig,
    advertise: &str,
    stop: &CancellationToken,
    backoff: &mut Duration,
) -> Result<(), String> {
    let Some(cluster) = host.cluster() else {
        return Err("not a cluster host".to_owned());
    };
    let endpoint = tonic::transport::Endpoint::from_shared(config.placement.clone())
        .map_err(|e| format!("bad placement address: {e}"))?
        .connect_timeout(Duration::from_secs(2))
        .http2_keep_alive_interval(Duration::from_secs(5))
        .keep_alive_timeout(Duration::from_secs(5));
    // With a workload identity the stream is mutual TLS: placement's certificate must chain to
    // the trust bundle and be of the trust domain, and it sees ours.
    let channel = match host.identity() {
        Some(identity) => {
            endpoint
                .connect_with_connector(TlsConnector::new(identity.client_config()))
                .await
        }
        None => endpoint.connect().await,
    }
    .map_err(|e| format!("cannot connect: {}", crate::security::error_chain(&e)))?;
    // The rpc is named `Connect`, which shadows the generated `PlacementClient::connect(dst)`.
    let mut client = PlacementClient::new(channel);
    let (tx, rx) = mpsc::channel(64);
    let register = Register {
        host_id: config.host_id.clone(),
        app_id: host.config().app_id.clone(),
        namespace: config.namespace.clone(),
        address: advertise.to_owned(),
        actor_types: host.actor_types(),
    };
    send(&tx, HostBody::Register(register)).await?;
    let mut inbound = client
        .connect(ReceiverStream::new(rx))
        .await
        .map_err(|e| format!("placement refused the stream: {e}"))?
        .into_inner();
    let mut heartbeat = tokio::time::interval(config.heartbeat_interval);
    loop {
        tokio::select! {
            () = stop.cancelled() => return Ok(()),
            _ = heartbeat.tick() => send(&tx, HostBody::Heartbeat(Heartbeat {})).await?,
            message = inbound.message() => {
                let message = message.map_err(|e| format!("stream failed: {e}"))?
                    .ok_or_else(|| "placement closed the stream".to_owned())?;
                match message.body {
                    Some(PlacementBody::Snapshot(snapshot)) => {
                        cluster.tables.snapshot(snapshot.tables);
                        *backoff = Duration::from_millis(100);
                        tracing::info!(placement = %config.placement, "joined placement");
                    }
                    Some(PlacementBody::Order(order)) => {
                        let ack = follow(host, &cluster, order).await;
                        send(&tx, HostBody::Ack(ack)).await?;
                    }
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

/// Carries out one phase of a round and returns its acknowledgement.
async fn follow(host: &HostHandle, cluster: &Arc<super::Cluster>, order: Order) -> Ack {
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
            host.drain_moved(&changed, &cluster.host_id).await;
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
