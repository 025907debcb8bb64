//! Inbound host-to-host calls: the tonic invoke service, which hands each actor call to the
//! host's router exactly as a local call, marked as forwarded once, and each service call to
//! the host's service methods.

use std::sync::Arc;
use std::time::Duration;

use super::proto::invoke_server::Invoke;
use super::proto::{call_reply, CallReply, CallRequest, ServiceReply, ServiceRequest};
use super::wire;
use crate::actor::{ActorId, ActorKey, ActorType, CallChain, Deadline};
use crate::error::Error;
use crate::host::{HostHandle, Request};
use crate::security::tls::PeerInfo;

/// The runtime's request for an inbound `Invoke/Call`: its codec, call chain and `timeout`,
/// marked as forwarded once more.
///
/// # Errors
/// [`crate::ErrorKind::InvalidArgument`] for a codec the runtime does not know.
pub(crate) fn request_from_wire(call: CallRequest, timeout: Duration) -> Result<Request, Error> {
    let codec = wire::codec_from_wire(call.codec)?;
    let chain = call.chain.map(|c| {
        let path = c
            .path
            .into_iter()
            .map(|k| ActorKey::new(ActorType::from(k.actor_type), ActorId::from(k.actor_id)))
            .collect();
        CallChain::from_parts(c.id, path)
    });
    Ok(Request {
        method: call.method.into(),
        payload: call.payload,
        codec,
        deadline: Deadline::After(timeout),
        chain,
        hop_count: call.hop_count.saturating_add(1),
    })
}

/// The invoke service of one host.
#[derive(Debug, Clone)]
pub(crate) struct InvokeService {
    pub(crate) host: HostHandle,
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
        let caller = request
            .extensions()
            .get::<PeerInfo>()
            .map(|peer| Arc::clone(&peer.identity));
        let request = request.into_inner();
        let timeout = match request.timeout_micros {
            0 => self.host.config().call_timeout,
            micros => Duration::from_micros(micros),
        };
        let reply = crate::service::server::serve(&self.host, request, timeout, caller).await;
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
