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
#[cfg(feature = "tls")]
use crate::security::tls::HandshakeFailed;

/// The wire code of `kind` (`Failure.kind`). These numbers are part of the protocol: hosts of
/// different versions must read each other's, so a code never changes and is never reused; a
/// new kind takes the next free number. 0 is "unspecified" on the wire.
fn kind_code(kind: ErrorKind) -> u32 {
    match kind {
        ErrorKind::NotFound => 1,
        ErrorKind::InvalidArgument => 2,
        ErrorKind::DeadlineExceeded => 3,
        ErrorKind::Unavailable => 4,
        ErrorKind::Moved => 5,
        ErrorKind::Interrupted => 6,
        ErrorKind::Reentrancy => 7,
        ErrorKind::Conflict => 8,
        ErrorKind::Store => 9,
        ErrorKind::ActorFailed => 10,
        ErrorKind::ShuttingDown => 11,
        ErrorKind::Internal => 12,
        ErrorKind::PermissionDenied => 13,
        ErrorKind::AppError => 14,
        ErrorKind::CircuitOpen => 15,
        ErrorKind::Corrupt => 16,
    }
}

/// The kind of wire code `code`; 0 and codes this version does not know (a newer peer's kinds)
/// are [`ErrorKind::Internal`], which no one retries.
fn code_kind(code: u32) -> ErrorKind {
    match code {
        1 => ErrorKind::NotFound,
        2 => ErrorKind::InvalidArgument,
        3 => ErrorKind::DeadlineExceeded,
        4 => ErrorKind::Unavailable,
        5 => ErrorKind::Moved,
        6 => ErrorKind::Interrupted,
        7 => ErrorKind::Reentrancy,
        8 => ErrorKind::Conflict,
        9 => ErrorKind::Store,
        10 => ErrorKind::ActorFailed,
        11 => ErrorKind::ShuttingDown,
        12 => ErrorKind::Internal,
        13 => ErrorKind::PermissionDenied,
        14 => ErrorKind::AppError,
        15 => ErrorKind::CircuitOpen,
        16 => ErrorKind::Corrupt,
        _ => ErrorKind::Internal,
    }
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
/// callee accepted the connection (`HandshakeFailed`, feature `tls`). Everything else is ambiguous and is not retried: a reset *or* a broken pipe fails
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
            #[cfg(feature = "tls")]
            {
                never_sent |= io
                    .get_ref()
                    .is_some_and(|inner| inner.is::<HandshakeFailed>());
            }
        }
        if let Some(h) = e.downcast_ref::<hyper::Error>() {
            never_sent |= h.is_canceled();
        }
        // The peer refused the stream before it processed anything (RFC 9113 §8.7).
        if let Some(h2) = e.downcast_ref::<h2::Error>() {
            never_sent |= h2.reason() == Some(h2::Reason::REFUSED_STREAM);
        }
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

    /// The wire codes of the kinds, as literals: hosts of other versions read these numbers.
    const PINNED: [(ErrorKind, u32); 16] = [
        (ErrorKind::NotFound, 1),
        (ErrorKind::InvalidArgument, 2),
        (ErrorKind::DeadlineExceeded, 3),
        (ErrorKind::Unavailable, 4),
        (ErrorKind::Moved, 5),
        (ErrorKind::Interrupted, 6),
        (ErrorKind::Reentrancy, 7),
        (ErrorKind::Conflict, 8),
        (ErrorKind::Store, 9),
        (ErrorKind::ActorFailed, 10),
        (ErrorKind::ShuttingDown, 11),
        (ErrorKind::Internal, 12),
        (ErrorKind::PermissionDenied, 13),
        (ErrorKind::AppError, 14),
        (ErrorKind::CircuitOpen, 15),
        (ErrorKind::Corrupt, 16),
    ];

    #[test]
    fn the_wire_codes_of_error_kinds_never_change() {
        for (kind, code) in PINNED {
            assert_eq!(kind_code(kind), code, "{kind}");
            assert_eq!(code_kind(code), kind, "{code}");
        }
        // Every kind has its pinned code.
        for kind in crate::error::ALL_KINDS {
            assert!(
                PINNED.iter().any(|(k, _)| *k == kind),
                "{kind} has no pinned code"
            );
        }
    }

    #[test]
    fn every_kind_survives_the_wire() {
        for kind in crate::error::ALL_KINDS {
            let e = from_failure(to_failure(&Error::new(kind, "m"), 0));
            assert_eq!(e.kind(), kind);
            assert_eq!(e.message(), "m");
        }
    }

    #[tokio::test]
    async fn circuit_open_crosses_the_wire_intact() {
        use crate::resiliency::{BreakerPolicy, BreakerRegistry};
        let breakers = BreakerRegistry::new(std::sync::Arc::new(BreakerPolicy::trip_after(1)));
        let permit = breakers.try_acquire("backend/1").unwrap();
        permit.record::<()>(&Err(Error::new(ErrorKind::Unavailable, "refused")));
        let sent = breakers.try_acquire("backend/1").unwrap_err();
        assert_eq!(sent.kind(), ErrorKind::CircuitOpen);
        let received = from_failure(to_failure(&sent, 0));
        assert_eq!(received.kind(), ErrorKind::CircuitOpen);
        assert_eq!(received.message(), sent.message());
        assert!(
            received.message().starts_with("circuit open for "),
            "{received}"
        );
        assert!(received.is_retryable(), "the call never left: {received}");
    }

    #[test]
    fn a_refused_stream_is_never_sent_and_another_reset_is_not() {
        use std::sync::Arc;
        let status_with = |reason: h2::Reason| {
            let mut status = tonic::Status::unavailable("stream reset");
            status.set_source(Arc::new(h2::Error::from(reason)));
            status
        };
        let (error, never_sent) = from_status(&status_with(h2::Reason::REFUSED_STREAM), "h");
        assert!(never_sent);
        assert_eq!(error.kind(), ErrorKind::Unavailable);
        // Deeper in the chain, as tonic's transport error wraps hyper's, which wraps h2's.
        #[derive(Debug)]
        struct Wrapper(h2::Error);
        impl std::fmt::Display for Wrapper {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("transport error")
            }
        }
        impl std::error::Error for Wrapper {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let mut status = tonic::Status::unavailable("transport error");
        status.set_source(Arc::new(Wrapper(h2::Error::from(
            h2::Reason::REFUSED_STREAM,
        ))));
        assert!(from_status(&status, "h").1);
        // Any other reset may come after the callee ran the call.
        let (error, never_sent) = from_status(&status_with(h2::Reason::CANCEL), "h");
        assert!(!never_sent);
        assert_eq!(error.kind(), ErrorKind::Interrupted);
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
    #[cfg(feature = "tls")]
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
        assert_eq!(code_kind(17), ErrorKind::Internal);
        assert_eq!(code_kind(999), ErrorKind::Internal);
        assert_eq!(code_kind(u32::MAX), ErrorKind::Internal);
        let e = from_failure(proto::Failure {
            kind: 4242,
            message: "from a newer host".to_owned(),
            app_error: None,
            table_version: 0,
            status: 0,
        });
        assert_eq!(e.kind(), ErrorKind::Internal);
        assert!(!e.is_retryable());
        assert!(codec_from_wire(7).is_err());
    }
}
