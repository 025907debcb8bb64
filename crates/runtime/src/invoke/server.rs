//! Inbound host-to-host calls: the tonic invoke service, which hands each actor call to the
//! host's router exactly as a local call, marked as forwarded once, and each service call to
//! the host's service methods.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::proto::invoke_server::{Invoke, InvokeServer};
use super::proto::{call_reply, CallReply, CallRequest, ServiceReply, ServiceRequest};
use super::wire::{self, request_from_wire};
use crate::config::wire_limit;
use crate::error::Error;
use crate::host::handle::HostHandle;
use crate::service::server::Methods;

/// The invoke service of one host.
#[derive(Debug, Clone)]
pub(crate) struct InvokeService {
    host: HostHandle,
    /// The service methods this host serves.
    methods: Arc<Methods>,
}

/// Serves the invoke service of `host` on `listener` (mutual TLS when the host has a workload
/// identity) until `stop`.
pub(crate) fn spawn(
    listener: tokio::net::TcpListener,
    host: HostHandle,
    methods: Arc<Methods>,
    stop: CancellationToken,
) -> JoinHandle<()> {
    let max_message = wire_limit(host.config().max_request_bytes);
    #[cfg(feature = "tls")]
    let tls = host
        .identity()
        .map(crate::security::WorkloadIdentity::server_config);
    let service = InvokeServer::new(InvokeService { host, methods })
        .max_decoding_message_size(max_message)
        .max_encoding_message_size(max_message);
    tokio::spawn(async move {
        // `Server::tcp_nodelay` does not apply to an incoming stream we hand over, so the
        // accepted sockets get it here; without it small replies wait ~40 ms for a delayed ACK
        // (found by the invoke_remote bench).
        let router = tonic::transport::Server::builder().add_service(service);
        #[cfg(feature = "tls")]
        let served = match tls {
            Some(config) => {
                let incoming = crate::security::tls::incoming(listener, config, stop.clone());
                router
                    .serve_with_incoming_shutdown(incoming, stop.cancelled_owned())
                    .await
            }
            None => serve_plain(router, listener, stop).await,
        };
        #[cfg(not(feature = "tls"))]
        let served = serve_plain(router, listener, stop).await;
        if let Err(e) = served {
            tracing::error!(error = %e, "the invoke service stopped");
        }
    })
}

/// Serves `router` in plain text, with `TCP_NODELAY` on every accepted socket.
async fn serve_plain(
    router: tonic::transport::server::Router,
    listener: tokio::net::TcpListener,
    stop: CancellationToken,
) -> Result<(), tonic::transport::Error> {
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    router
        .serve_with_incoming_shutdown(incoming, stop.cancelled_owned())
        .await
}

#[tonic::async_trait]
impl Invoke for InvokeService {
    async fn call(
        &self,
        request: tonic::Request<CallRequest>,
    ) -> Result<tonic::Response<CallReply>, tonic::Status> {
        let timeout = request
            .metadata()
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_grpc_timeout)
            .unwrap_or(self.host.config().call_timeout);
        let mut call = request.into_inner();
        // Taken, not cloned: the rest of the call becomes the request.
        let actor_type = std::mem::take(&mut call.actor_type);
        let actor_id = std::mem::take(&mut call.actor_id);
        let result = match request_from_wire(call, timeout) {
            Ok(request) => {
                self.host
                    .invoke_actor(&actor_type, &actor_id, request)
                    .await
            }
            Err(e) => Err(e),
        };
        let result = match result {
            Ok(payload) => call_reply::Result::Payload(payload),
            Err(e) => call_reply::Result::Failure(failure(&self.host, &actor_type, &e)),
        };
        Ok(tonic::Response::new(CallReply {
            result: Some(result),
        }))
    }

    async fn service(
        &self,
        request: tonic::Request<ServiceRequest>,
    ) -> Result<tonic::Response<ServiceReply>, tonic::Status> {
        // Who calls comes from the verified certificate of the connection (put there by the TLS
        // accept loop), never from the request's own fields or headers.
        #[cfg(feature = "tls")]
        let caller = request
            .extensions()
            .get::<crate::security::tls::PeerInfo>()
            .map(|peer| Arc::clone(&peer.identity));
        // Plain text: no connection proves who calls.
        #[cfg(not(feature = "tls"))]
        let caller = None;
        let request = request.into_inner();
        let timeout = match request.timeout_micros {
            0 => self.host.config().call_timeout,
            micros => Duration::from_micros(micros),
        };
        let reply =
            crate::service::server::serve(&self.host, &self.methods, request, timeout, caller)
                .await;
        Ok(tonic::Response::new(reply))
    }
}

fn failure(host: &HostHandle, actor_type: &str, e: &Error) -> super::proto::Failure {
    wire::to_failure(e, host.table_version(actor_type))
}

/// Parses gRPC's `grpc-timeout` header: an integer of at most 8 digits and a unit (H, M, S, m,
/// u, n).
pub(crate) fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    let (digits, unit) = value.split_at_checked(value.len().checked_sub(1)?)?;
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.checked_mul(3600)?),
        "M" => Duration::from_secs(n.checked_mul(60)?),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_parse_and_garbage_does_not() {
        assert_eq!(parse_grpc_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse_grpc_timeout("3S"), Some(Duration::from_secs(3)));
        assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        for bad in ["", "m", "12", "123456789S", "-1S", "5x"] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad:?}");
        }
    }

    /// Unreachable from the server (metadata that is not visible ASCII never becomes text),
    /// but the parser takes any `&str`.
    #[test]
    fn a_grpc_timeout_ending_in_a_multibyte_character_is_refused() {
        for bad in ["1é", "é", "5µ"] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad:?}");
        }
    }
}
