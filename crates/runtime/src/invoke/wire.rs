//! The only mapping between the runtime and the wire of invoke.proto: errors (`Failure`),
//! codecs, and actor calls with their call chains.

use std::time::Duration;

use super::proto;
use super::request::Request;
use crate::actor::chain::CallChain;
use crate::actor::deadline::Deadline;
use crate::actor::id::{ActorId, ActorKey, ActorType};
use crate::codec::Codec;
use crate::error::{Error, ErrorKind};
use crate::security::tls::HandshakeFailed;

const KINDS: [ErrorKind; 14] = [
    ErrorKind::NotFound,
    ErrorKind::InvalidArgument,
    ErrorKind::DeadlineExceeded,
    ErrorKind::Unavailable,
    ErrorKind::Moved,
    ErrorKind::Interrupted,
    ErrorKind::Reentrancy,
    ErrorKind::Conflict,
    ErrorKind::Store,
    ErrorKind::ActorFailed,
    ErrorKind::ShuttingDown,
    ErrorKind::Internal,
    ErrorKind::PermissionDenied,
    ErrorKind::AppError,
];

fn kind_code(kind: ErrorKind) -> u32 {
    // Index + 1: 0 is "unspecified" on the wire. Anything unknown maps to Internal (12).
    KINDS
        .iter()
        .position(|k| *k == kind)
        .and_then(|i| u32::try_from(i + 1).ok())
        .unwrap_or(12)
}

fn code_kind(code: u32) -> ErrorKind {
    usize::try_from(code)
        .ok()
        .and_then(|c| c.checked_sub(1))
        .and_then(|i| KINDS.get(i).copied())
        .unwrap_or(ErrorKind::Internal)
}

/// An error as it leaves the callee.
pub(crate) fn to_failure(error: &Error, table_version: u64) -> proto::Failure {
    proto::Failure {
        kind: kind_code(error.kind()),
        message: error.message().to_owned(),
        app_error: error.app_error().cloned(),
        table_version,
        status: error.status().map_or(0, u32::from),
    }
}

/// An error as the caller sees it.
pub(crate) fn from_failure(failure: proto::Failure) -> Error {
    let kind = code_kind(failure.kind);
    match failure.app_error {
        Some(app) if kind == ErrorKind::ActorFailed => Error::app(app, failure.message),
        Some(body) if kind == ErrorKind::AppError => {
            let status = u16::try_from(failure.status).unwrap_or(500);
            Error::app_status(status, body, failure.message)
        }
        _ => Error::new(kind, failure.message),
    }
}

pub(crate) fn codec_to_wire(codec: Codec) -> i32 {
    match codec {
        Codec::Json => proto::Codec::Json as i32,
        _ => proto::Codec::Binary as i32,
    }
}

pub(crate) fn codec_from_wire(codec: i32) -> Result<Codec, Error> {
    match proto::Codec::try_from(codec) {
        Ok(proto::Codec::Binary) => Ok(Codec::Binary),
        Ok(proto::Codec::Json) => Ok(Codec::Json),
        Err(_) => Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("unknown codec {codec} in a forwarded call"),
        )),
    }
}

/// The wire form of a call to actor `actor_type`/`id`, routed by table `version`.
pub(crate) fn call_to_wire(
    request: &Request,
    actor_type: &str,
    id: &str,
    version: u64,
) -> proto::CallRequest {
    proto::CallRequest {
        actor_type: actor_type.to_owned(),
        actor_id: id.to_owned(),
        method: request.method.to_string(),
        payload: request.payload.clone(),
        codec: codec_to_wire(request.codec),
        hop_count: request.hop_count,
        table_version: version,
        chain: request.chain.as_ref().map(|c| proto::CallChain {
            id: c.id(),
            path: c
                .path()
                .iter()
                .map(|k| proto::ActorKey {
                    actor_type: k.actor_type.to_string(),
                    actor_id: k.id.to_string(),
                })
                .collect(),
        }),
        metadata: Default::default(),
    }
}

/// The runtime's request for an inbound `Invoke/Call`: its codec, call chain and `timeout`,
/// marked as forwarded once more.
///
/// # Errors
/// [`crate::ErrorKind::InvalidArgument`] for a codec the runtime does not know.
pub(crate) fn request_from_wire(
    call: proto::CallRequest,
    timeout: Duration,
) -> Result<Request, Error> {
    let codec = codec_from_wire(call.codec)?;
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

/// A transport failure of a forwarded call, and whether the request provably never reached
/// the callee, so that trying again (after a table update) is safe.
///
/// Never sent: no connection could be made (refused, not connected), hyper canceled the request
/// before it started writing it (the connection closed while it was queued; hyper's own pool
/// retries exactly these), HTTP/2 refused the stream, or the TLS handshake failed before the
/// callee accepted the connection ([`HandshakeFailed`]). Everything else is ambiguous and is not retried: a reset *or* a broken pipe fails
/// every stream of the connection, including requests the peer already received and ran before
/// it died (found by the chaos test: retrying on `EPIPE` applied an increment twice).
pub(crate) fn from_status(status: &tonic::Status, target: &str) -> (Error, bool) {
    use std::io::ErrorKind as Io;
    use tonic::Code;
    let mut never_sent = false;
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(status);
    while let Some(e) = cause {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            never_sent |= matches!(
                io.kind(),
                Io::ConnectionRefused | Io::NotConnected | Io::AddrNotAvailable
            );
            // A TLS failure before the callee accepted the connection (a handshake racing a
            // certificate renewal, a refused certificate): no request bytes reached the app.
            never_sent |= io
                .get_ref()
                .is_some_and(|inner| inner.is::<HandshakeFailed>());
        }
        if let Some(h) = e.downcast_ref::<hyper::Error>() {
            never_sent |= h.is_canceled();
        }
        never_sent |= format!("{e:?}").contains("REFUSED_STREAM");
        cause = e.source();
    }
    let kind = match status.code() {
        _ if never_sent => ErrorKind::Unavailable,
        Code::DeadlineExceeded | Code::Cancelled => ErrorKind::DeadlineExceeded,
        Code::InvalidArgument => ErrorKind::InvalidArgument,
        Code::NotFound | Code::Unimplemented => ErrorKind::NotFound,
        Code::PermissionDenied | Code::Unauthenticated => ErrorKind::PermissionDenied,
        _ => ErrorKind::Interrupted,
    };
    (
        Error::new(
            kind,
            format!("call to host {target} failed: {}", status.message()),
        ),
        never_sent,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn every_kind_survives_the_wire() {
        for kind in KINDS {
            let e = from_failure(to_failure(&Error::new(kind, "m"), 0));
            assert_eq!(e.kind(), kind);
            assert_eq!(e.message(), "m");
        }
    }

    #[test]
    fn app_errors_keep_their_payload() {
        let e = from_failure(to_failure(
            &Error::app(Bytes::from_static(b"\x01\x02"), "bad"),
            0,
        ));
        assert_eq!(e.kind(), ErrorKind::ActorFailed);
        assert_eq!(e.app_error().map(|b| &b[..]), Some(&b"\x01\x02"[..]));
    }

    #[test]
    fn tls_handshake_failures_are_never_sent_and_other_tls_errors_are_not() {
        use std::sync::Arc;
        let tls = || {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                rustls::Error::AlertReceived(rustls::AlertDescription::BadCertificate),
            )
        };
        let mut status = tonic::Status::unavailable("transport error");
        status.set_source(Arc::new(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            HandshakeFailed(tls()),
        )));
        let (error, never_sent) = from_status(&status, "h");
        assert!(never_sent);
        assert_eq!(error.kind(), ErrorKind::Unavailable);
        // The same TLS error once the callee had accepted the connection: ambiguous.
        let mut status = tonic::Status::unavailable("transport error");
        status.set_source(Arc::new(tls()));
        let (error, never_sent) = from_status(&status, "h");
        assert!(!never_sent);
        assert_eq!(error.kind(), ErrorKind::Interrupted);
    }

    #[test]
    fn unknown_codes_are_internal() {
        assert_eq!(code_kind(0), ErrorKind::Internal);
        assert_eq!(code_kind(999), ErrorKind::Internal);
        assert!(codec_from_wire(7).is_err());
    }
}
