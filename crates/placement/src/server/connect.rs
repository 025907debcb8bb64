//! The `Connect` RPC: one task per host stream, turning what the host sends into [`Event`]s.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::time;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status, Streaming};
use tracing::{debug, field, info_span, warn, Instrument, Span};

use crate::dissemination::Event;
use crate::link::HostLink;
use crate::membership::{ConnId, RegisterRules, Registration};
use crate::proto::host_message::Body;
use crate::proto::placement_server::Placement;
use crate::proto::{HostMessage, Phase, PlacementMessage};
use crate::sentry::SpiffeId;
use crate::server::tls::PeerIdentity;
use crate::spans;
use crate::PlacementConfig;

/// The gRPC service: accepts streams and hands them to [`HostStream`] tasks.
#[derive(Debug)]
pub(crate) struct ConnectService {
    events: mpsc::Sender<Event>,
    next_conn: AtomicU64,
    config: Arc<PlacementConfig>,
    shutdown: CancellationToken,
}

impl ConnectService {
    pub(crate) fn new(
        events: mpsc::Sender<Event>,
        config: Arc<PlacementConfig>,
        shutdown: CancellationToken,
    ) -> Self {
        ConnectService {
            events,
            next_conn: AtomicU64::new(1),
            config,
            shutdown,
        }
    }
}

#[tonic::async_trait]
impl Placement for ConnectService {
    type ConnectStream = ReceiverStream<Result<PlacementMessage, Status>>;

    async fn connect(
        &self,
        request: Request<Streaming<HostMessage>>,
    ) -> Result<Response<Self::ConnectStream>, Status> {
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let (link, rx) = HostLink::new(&self.shutdown);
        let remote = request.remote_addr();
        let identity = request
            .extensions()
            .get::<PeerIdentity>()
            .and_then(|p| p.0.clone());
        let span = info_span!(spans::STREAM, conn, ?remote, host.id = field::Empty);
        let stream = HostStream {
            conn,
            inbound: request.into_inner(),
            link,
            events: self.events.clone(),
            config: Arc::clone(&self.config),
            identity,
        };
        tokio::spawn(stream.run().instrument(span));
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

/// Reads one host's stream: `Register` first, then heartbeats and acks until it ends.
#[derive(Debug)]
struct HostStream {
    conn: ConnId,
    inbound: Streaming<HostMessage>,
    link: HostLink,
    events: mpsc::Sender<Event>,
    config: Arc<PlacementConfig>,
    /// The SPIFFE id of the stream's client certificate (mTLS).
    identity: Option<Arc<SpiffeId>>,
}

impl HostStream {
    async fn run(mut self) {
        let Some(registration) = self.read_register().await else {
            return;
        };
        Span::current().record("host.id", registration.host_id.as_str());
        let register = Event::Register {
            conn: self.conn,
            registration,
            link: self.link.clone(),
        };
        if self.events.send(register).await.is_err() {
            return;
        }
        self.relay().await;
        let _ = self.events.send(Event::Closed { conn: self.conn }).await;
    }

    /// The first message, which must be a valid `Register`; anything else is rejected.
    async fn read_register(&mut self) -> Option<Registration> {
        let first = tokio::select! {
            () = self.link.closed() => return None,
            first = time::timeout(self.config.faulty_host_timeout, self.inbound.message()) => first,
        };
        let register = match first {
            Err(_elapsed) => {
                let timeout = humantime::format_duration(self.config.faulty_host_timeout);
                self.link.reject(&format!("no Register within {timeout}"));
                return None;
            }
            Ok(Err(status)) => {
                let reason = format!("could not read the first message: {}", status.message());
                self.link.reject(&reason);
                return None;
            }
            Ok(Ok(None)) => {
                debug!("stream closed before Register");
                return None;
            }
            Ok(Ok(Some(HostMessage {
                body: Some(Body::Register(register)),
            }))) => register,
            Ok(Ok(Some(HostMessage { body }))) => {
                let got = body_name(body.as_ref());
                let reason = format!("the first message must be Register, got {got}");
                self.link.reject(&reason);
                return None;
            }
        };
        let rules = RegisterRules {
            config: &self.config,
            identity: self.identity.as_deref(),
        };
        match Registration::try_from_register(register, rules) {
            Ok(registration) => Some(registration),
            Err(reason) => {
                warn!(target: "weft::audit", identity = ?self.identity, %reason, "Register refused");
                self.link.reject(&reason);
                None
            }
        }
    }

    /// Forwards heartbeats and acks until the host closes, breaks or misbehaves, or placement
    /// closes the stream.
    async fn relay(&mut self) {
        loop {
            let next = tokio::select! {
                () = self.link.closed() => return,
                next = self.inbound.message() => next,
            };
            let body = match next {
                Ok(Some(message)) => message.body,
                Ok(None) => {
                    debug!("host closed its stream");
                    return;
                }
                Err(status) => {
                    debug!(%status, "host stream broke");
                    return;
                }
            };
            let event = match body {
                Some(Body::Heartbeat(h)) => Event::Heartbeat {
                    conn: self.conn,
                    seq: h.seq,
                },
                Some(Body::Leave(_)) => Event::Leave { conn: self.conn },
                Some(Body::Ack(ack)) => match Phase::try_from(ack.phase) {
                    Ok(phase) if phase != Phase::Unspecified => Event::Ack {
                        conn: self.conn,
                        round: ack.round,
                        phase,
                    },
                    _ => {
                        warn!(
                            round = ack.round,
                            phase = ack.phase,
                            "ack without a known phase; ignored"
                        );
                        continue;
                    }
                },
                Some(Body::Register(_)) => {
                    self.link
                        .reject("Register was already received on this stream");
                    return;
                }
                None => {
                    warn!("message without a known body; ignored");
                    continue;
                }
            };
            if self.events.send(event).await.is_err() {
                return;
            }
        }
    }
}

fn body_name(body: Option<&Body>) -> &'static str {
    match body {
        Some(Body::Register(_)) => "Register",
        Some(Body::Heartbeat(_)) => "Heartbeat",
        Some(Body::Ack(_)) => "Ack",
        Some(Body::Leave(_)) => "Leave",
        None => "a message without a known body",
    }
}
