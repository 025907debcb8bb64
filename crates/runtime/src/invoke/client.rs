//! Outbound host-to-host calls: one lazily connected HTTP/2 channel per peer address.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use dashmap::DashMap;
use tokio::time::Instant;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::{Channel, Endpoint};

use super::codec::{HoldsRequest, Outbound, ServiceCodec};
use super::proto::call_reply::Result as Reply;
use super::proto::invoke_client::InvokeClient;
use super::proto::{service_reply, CallRequest};
use super::wire;
use crate::error::{Error, ErrorKind};
#[cfg(feature = "tls")]
use crate::security::tls::TlsConnector;
use crate::security::SpiffeId;
use crate::service::ServiceResponse;

/// The gRPC path of `Invoke/Service`.
const SERVICE_PATH: &str = "/weft.invoke.v1.Invoke/Service";

/// How a forwarded call failed.
#[derive(Debug)]
pub(crate) enum RemoteError {
    /// The callee answered with an error.
    Callee(Error),
    /// The call did not complete on the wire; `never_sent` when it provably did not reach the
    /// callee (connection refused), so trying again elsewhere is safe.
    Transport { error: Error, never_sent: bool },
}

/// The channels to other hosts, by address: plain HTTP/2, or mutual TLS when the host has a
/// workload identity.
/// Who the callee must be: app `app_id` in `namespace` (`None`: the caller's own namespace).
// Without the `tls` feature callers still say whom they mean, but nothing checks it.
#[cfg_attr(not(feature = "tls"), allow(dead_code))]
#[derive(Debug, Clone, Copy)]
pub(crate) struct Expected<'a> {
    pub(crate) namespace: Option<&'a str>,
    pub(crate) app_id: &'a str,
}

#[derive(Debug)]
pub(crate) struct Peers {
    /// By address, and by the identity the callee must have when one is expected.
    channels: DashMap<String, Channel, foldhash::fast::RandomState>,
    #[cfg(feature = "tls")]
    tls: Option<Arc<rustls::ClientConfig>>,
    /// This host's own SPIFFE id (mTLS): its trust domain and namespace complete the identity
    /// each callee must prove. `None`: callees are checked against the trust domain only.
    #[cfg(feature = "tls")]
    own: Option<SpiffeId>,
    /// The largest gRPC message sent or taken (see [`crate::config::wire_limit`]).
    max_message: usize,
}

impl Default for Peers {
    fn default() -> Self {
        Peers {
            channels: DashMap::default(),
            #[cfg(feature = "tls")]
            tls: None,
            #[cfg(feature = "tls")]
            own: None,
            max_message: crate::config::wire_limit(crate::config::DEFAULT_MAX_REQUEST_BYTES),
        }
    }
}

impl Peers {
    /// Channels over mutual TLS with `tls`.
    #[cfg(feature = "tls")]
    pub(crate) fn with_tls(tls: Arc<rustls::ClientConfig>) -> Self {
        Peers {
            tls: Some(tls),
            ..Peers::default()
        }
    }

    /// Checks every callee's certificate against the app the call is meant for, in the trust
    /// domain (and, for actor calls, the namespace) of `own`, this host's identity.
    #[cfg(feature = "tls")]
    pub(crate) fn expecting_peers_of(mut self, own: SpiffeId) -> Self {
        self.own = Some(own);
        self
    }

    /// The identity a callee must have for `expected`, when this host checks callees.
    #[cfg(feature = "tls")]
    fn expected_id(&self, expected: Option<Expected<'_>>) -> Result<Option<SpiffeId>, RemoteError> {
        let (Some(own), Some(expected)) = (&self.own, expected) else {
            return Ok(None);
        };
        let namespace = expected.namespace.unwrap_or(own.namespace());
        SpiffeId::new(own.trust_domain(), namespace, expected.app_id)
            .map(Some)
            .map_err(|e| RemoteError::Transport {
                error: Error::new(
                    ErrorKind::InvalidArgument,
                    format!(
                        "no identity for app {:?} in namespace {namespace:?}: {e}",
                        expected.app_id
                    ),
                ),
                never_sent: true,
            })
    }

    /// Without the `tls` feature no host checks callees.
    #[cfg(not(feature = "tls"))]
    fn expected_id(&self, _: Option<Expected<'_>>) -> Result<Option<SpiffeId>, RemoteError> {
        Ok(None)
    }

    /// Messages up to `max_message` bytes, each way.
    pub(crate) fn max_message(mut self, max_message: usize) -> Self {
        self.max_message = max_message;
        self
    }

    /// The pooled channel to `address` whose server proved to be `expected` (over mTLS); a bad
    /// address fails before anything is sent.
    fn channel(
        &self,
        address: &str,
        expected: Option<Expected<'_>>,
    ) -> Result<Channel, RemoteError> {
        let expected = self.expected_id(expected)?;
        let key = match &expected {
            Some(id) => format!("{address} {id}"),
            None => address.to_owned(),
        };
        if let Some(channel) = self.channels.get(&key) {
            return Ok(channel.clone());
        }
        let endpoint = Endpoint::from_shared(format!("http://{address}"))
            .map_err(|e| RemoteError::Transport {
                error: Error::new(
                    ErrorKind::InvalidArgument,
                    format!("bad host address {address:?}: {e}"),
                ),
                never_sent: true,
            })?
            .connect_timeout(Duration::from_secs(2))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(10))
            .keep_alive_timeout(Duration::from_secs(5));
        #[cfg(feature = "tls")]
        let channel = match &self.tls {
            Some(tls) => endpoint.connect_with_connector_lazy(
                TlsConnector::new(Arc::clone(tls)).expecting(expected),
            ),
            None => endpoint.connect_lazy(),
        };
        #[cfg(not(feature = "tls"))]
        let channel = endpoint.connect_lazy();
        self.channels.insert(key, channel.clone());
        Ok(channel)
    }

    /// Sends one call to the host at `address`, bounded by `deadline`.
    pub(crate) async fn call(
        &self,
        address: &str,
        expected: Option<Expected<'_>>,
        request: CallRequest,
        deadline: Instant,
    ) -> Result<Bytes, RemoteError> {
        let mut client = InvokeClient::new(self.channel(address, expected)?)
            .max_decoding_message_size(self.max_message)
            .max_encoding_message_size(self.max_message);
        let mut request = tonic::Request::new(request);
        request.set_timeout(deadline.saturating_duration_since(Instant::now()));
        match client.call(request).await {
            Ok(reply) => match reply.into_inner().result {
                Some(Reply::Payload(payload)) => Ok(payload),
                Some(Reply::Failure(failure)) => {
                    Err(RemoteError::Callee(wire::from_failure(failure)))
                }
                None => Err(RemoteError::Callee(Error::new(
                    ErrorKind::Internal,
                    format!("host {address} sent an empty reply"),
                ))),
            },
            Err(status) => {
                let (error, never_sent) = wire::from_status(&status, address);
                Err(RemoteError::Transport { error, never_sent })
            }
        }
    }

    /// Sends one service call to the instance at `address`, bounded by `deadline`, which
    /// travels in the request. The request is encoded from the shared `request`, not copied.
    pub(crate) async fn service<R: HoldsRequest>(
        &self,
        address: &str,
        request: Arc<R>,
        deadline: Instant,
    ) -> Result<ServiceResponse, RemoteError> {
        // The callee must be the app the call names, in the namespace it names.
        let service = request.request();
        let text = |b: &[u8]| std::str::from_utf8(b).unwrap_or_default().to_owned();
        let (namespace, app_id) = (text(&service.namespace), text(&service.app_id));
        let expected = Expected {
            namespace: Some(&namespace),
            app_id: &app_id,
        };
        let channel = self.channel(address, Some(expected))?;
        let left = deadline.saturating_duration_since(Instant::now());
        let outbound = Outbound {
            request,
            // At least 1 µs: 0 would mean "the callee's default".
            timeout_micros: u64::try_from(left.as_micros()).unwrap_or(u64::MAX).max(1),
        };
        // The generated client's `service` without its per-call method extension, which costs
        // two allocations and serves only interceptors, of which there are none.
        let mut grpc = tonic::client::Grpc::new(channel)
            .max_decoding_message_size(self.max_message)
            .max_encoding_message_size(self.max_message);
        if let Err(e) = grpc.ready().await {
            // The request never left: the channel could not take it.
            return Err(RemoteError::Transport {
                error: Error::new(
                    ErrorKind::Unavailable,
                    format!("the channel to host {address} is closed: {e}"),
                ),
                never_sent: true,
            });
        }
        let sent = grpc
            .unary(
                tonic::Request::new(outbound),
                PathAndQuery::from_static(SERVICE_PATH),
                ServiceCodec::default(),
            )
            .await;
        match sent {
            Ok(reply) => match reply.into_inner().result {
                Some(service_reply::Result::Response(r)) => Ok(ServiceResponse {
                    status: u16::try_from(r.status).unwrap_or(500),
                    headers: r
                        .headers
                        .into_iter()
                        .map(|h| Ok((utf8(h.name, address)?, utf8(h.value, address)?)))
                        .collect::<Result<_, _>>()?,
                    body: r.body,
                }),
                Some(service_reply::Result::Failure(failure)) => {
                    Err(RemoteError::Callee(wire::from_failure(failure)))
                }
                None => Err(RemoteError::Callee(Error::new(
                    ErrorKind::Internal,
                    format!("instance {address} sent an empty reply"),
                ))),
            },
            Err(status) => {
                let (error, never_sent) = wire::from_status(&status, address);
                Err(RemoteError::Transport { error, never_sent })
            }
        }
    }
}

/// A response header's name or value, which must be UTF-8.
fn utf8(bytes: Bytes, address: &str) -> Result<String, RemoteError> {
    String::from_utf8(bytes.into()).map_err(|_| {
        RemoteError::Callee(Error::new(
            ErrorKind::Internal,
            format!("instance {address} sent a response header that is not UTF-8"),
        ))
    })
}
