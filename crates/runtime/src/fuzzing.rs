//! Entry points for the fuzz targets (`fuzz/`) and the decoder property tests: each runs one
//! decoder of bytes that arrive from the network the way the runtime does, and returns what it
//! made of them. Not a public API: it may change in any release.

use std::time::{Duration, SystemTime};

use prost::Message;

use crate::error::{Error, ErrorKind};
use crate::invoke::{proto, server, wire};
use crate::reminder::{parse, Moment, Reminder};
use crate::service::server::Incoming;
use crate::telemetry::propagation::TraceContext;

/// A reminder due time as [`Reminder::try_due_time`] parses it.
pub fn due_time(text: &str) -> Result<Moment, Error> {
    parse::due_time(text)
}

/// A reminder TTL as [`Reminder::try_ttl`] parses it.
pub fn ttl(text: &str) -> Result<Moment, Error> {
    parse::ttl(text)
}

/// A reminder period as [`Reminder::try_period`] parses it: the period and the repetitions.
pub fn period(text: &str) -> Result<(Duration, Option<u32>), Error> {
    parse::period(text)
}

/// `moment` resolved for a reminder registered at `now`, in ms since the Unix epoch.
pub fn resolve_ms(moment: Moment, now: SystemTime) -> Option<u64> {
    moment.resolve_ms(now)
}

/// What registration makes of a reminder at `now`, as `HostHandle::register_reminder` checks
/// and resolves it before it writes: (first due, expiry) in ms since the Unix epoch, and the
/// period in ms.
pub fn schedule(
    reminder: &Reminder,
    now: SystemTime,
) -> Result<(u64, Option<u64>, Option<u64>), Error> {
    reminder.validate()?;
    let too_far = || Error::new(ErrorKind::InvalidArgument, "too far in the future");
    let next_due_ms = reminder.due.resolve_ms(now).ok_or_else(too_far)?;
    let expires_ms = match reminder.ttl {
        Some(ttl) => Some(ttl.resolve_ms(now).ok_or_else(too_far)?),
        None => None,
    };
    if expires_ms.is_some_and(|e| e <= next_due_ms) {
        return Err(Error::new(ErrorKind::InvalidArgument, "TTL ends first"));
    }
    let period_ms = reminder
        .period
        .map(|p| u64::try_from(p.as_millis()).unwrap_or(u64::MAX).max(1));
    Ok((next_due_ms, expires_ms, period_ms))
}

/// Due time, period and TTL from `input`'s first three lines (empty: unset), parsed into a
/// reminder and resolved at the current time as registration does.
pub fn reminder_strings(input: &[u8]) -> Result<(u64, Option<u64>, Option<u64>), Error> {
    let text = String::from_utf8_lossy(input);
    let mut lines = text.split('\n');
    let mut reminder = Reminder::new("fuzz");
    if let Some(due) = lines.next().filter(|s| !s.is_empty()) {
        reminder = reminder.try_due_time(due)?;
    }
    if let Some(period) = lines.next().filter(|s| !s.is_empty()) {
        reminder = reminder.try_period(period)?;
    }
    if let Some(ttl) = lines.next().filter(|s| !s.is_empty()) {
        reminder = reminder.try_ttl(ttl)?;
    }
    schedule(&reminder, SystemTime::now())
}

/// A `grpc-timeout` header value as the invoke server reads it (metadata, then text, then
/// `parse_grpc_timeout`).
pub fn grpc_timeout(value: &[u8]) -> Option<Duration> {
    let value = http::HeaderValue::from_bytes(value).ok()?;
    let mut headers = http::HeaderMap::new();
    headers.insert("grpc-timeout", value);
    let metadata = tonic::metadata::MetadataMap::from_headers(headers);
    metadata
        .get("grpc-timeout")
        .and_then(|v| v.to_str().ok())
        .and_then(server::parse_grpc_timeout)
}

/// An inbound `Invoke/Call` request decoded and converted into the runtime's request as the
/// invoke server does; the hop count the call will carry.
pub fn call_request(timeout_header: &[u8], message: &[u8]) -> Result<u32, Error> {
    let mut call = proto::CallRequest::decode(message).map_err(undecodable)?;
    let timeout = grpc_timeout(timeout_header).unwrap_or(Duration::from_secs(60));
    let actor_type = std::mem::take(&mut call.actor_type);
    let actor_id = std::mem::take(&mut call.actor_id);
    let request = wire::request_from_wire(call, timeout)?;
    if let Some(chain) = &request.chain {
        std::hint::black_box(chain.describe_with(&actor_type, &actor_id));
    }
    Ok(request.hop_count)
}

/// An inbound `Invoke/Service` request decoded and checked as the service server does; the
/// deadline it gets (`None`: the callee's default).
pub fn service_request(message: &[u8]) -> Result<Option<Duration>, Error> {
    let request = proto::ServiceRequest::decode(message).map_err(undecodable)?;
    let timeout = match request.timeout_micros {
        0 => None,
        micros => Some(Duration::from_micros(micros)),
    };
    std::hint::black_box(Incoming::decode(request)?);
    Ok(timeout)
}

/// A reply to an outbound `Invoke/Call` decoded as the invoke client does: the payload, or the
/// callee's error.
pub fn call_reply(message: &[u8]) -> Result<bytes::Bytes, Error> {
    let reply = proto::CallReply::decode(message).map_err(undecodable)?;
    match reply.result {
        Some(proto::call_reply::Result::Payload(payload)) => Ok(payload),
        Some(proto::call_reply::Result::Failure(failure)) => Err(wire::from_failure(failure)),
        None => Err(Error::new(ErrorKind::Internal, "empty reply")),
    }
}

/// A reply to an outbound `Invoke/Service` decoded as the invoke client does: the status, or
/// the callee's error.
pub fn service_reply(message: &[u8]) -> Result<u16, Error> {
    let reply = proto::ServiceReply::decode(message).map_err(undecodable)?;
    match reply.result {
        Some(proto::service_reply::Result::Response(r)) => {
            for h in r.headers {
                String::from_utf8(h.name.into()).map_err(|_| not_utf8())?;
                String::from_utf8(h.value.into()).map_err(|_| not_utf8())?;
            }
            Ok(u16::try_from(r.status).unwrap_or(500))
        }
        Some(proto::service_reply::Result::Failure(failure)) => Err(wire::from_failure(failure)),
        None => Err(Error::new(ErrorKind::Internal, "empty reply")),
    }
}

/// A `Failure` decoded and mapped to the caller's error, then back to the wire as a callee
/// would send it: (the caller's kind, the wire code it maps back to).
pub fn failure(message: &[u8]) -> Result<(ErrorKind, u32), Error> {
    let failure = proto::Failure::decode(message).map_err(undecodable)?;
    let error = wire::from_failure(failure);
    Ok((error.kind(), wire::to_failure(&error, 0).kind))
}

/// A W3C `traceparent` as calls carry it; the header it writes back.
pub fn traceparent(value: &str) -> Option<String> {
    TraceContext::parse(value).ok().map(|t| t.to_header())
}

/// Every host-to-host decoder above on `input`: its first byte is the length of a
/// `grpc-timeout` value (mod 16), the rest one message.
pub fn host_wire(input: &[u8]) {
    let Some((&n, rest)) = input.split_first() else {
        return;
    };
    let (header, message) = rest.split_at(usize::from(n % 16).min(rest.len()));
    let _ = call_request(header, message);
    let _ = service_request(message);
    let _ = call_reply(message);
    let _ = service_reply(message);
    let _ = failure(message);
    let _ = traceparent(&String::from_utf8_lossy(message));
}

fn undecodable(e: prost::DecodeError) -> Error {
    Error::new(ErrorKind::InvalidArgument, format!("undecodable: {e}"))
}

fn not_utf8() -> Error {
    Error::new(ErrorKind::Internal, "a response header that is not UTF-8")
}

/// The host-to-host messages (`invoke.proto`), to build inputs from.
pub mod proto_messages {
    pub use crate::invoke::proto::*;
}
