//! Service invocation: apps call each other's named methods by app id.
//!
//! A host with an app id exposes methods ([`HostBuilder::method`]); any host calls them with
//! [`HostHandle::invoke`] (payload in, payload out) or [`HostHandle::send`] (a full
//! [`ServiceCall`]: verb, query, headers, timeout; the full [`ServiceResponse`] back). Apps may
//! run as many instances: a call names the *app*, never an instance, and the fabric
//! (`service::client`) resolves the app's instances, picks one round-robin, and applies the host's
//! resiliency policy, tracing and metrics.
//!
//! # Why the response status is data and not always an error
//!
//! A service method may answer 404 or 500 on purpose (an HTTP app behind the Dapr sidecar does
//! all the time), and a pass-through proxy must hand that answer back as it is. So
//! [`HostHandle::send`] returns every answered call as `Ok(ServiceResponse)`, whatever its
//! status, while the convenience [`HostHandle::invoke`] turns a non-2xx status into
//! [`ErrorKind::AppError`] carrying the status and body. Errors of the fabric itself (no
//! instance, deadline, circuit open, unknown method) are always `Err`.
//!
//! [`HostBuilder::method`]: crate::HostBuilder::method
//! [`HostHandle::invoke`]: crate::HostHandle::invoke
//! [`HostHandle::send`]: crate::HostHandle::send
//! [`ErrorKind::AppError`]: crate::ErrorKind::AppError

mod balance;
pub(crate) mod call;
pub(crate) mod client;
mod request;
pub(crate) mod server;

pub use call::{ServiceCall, ServiceResponse};
pub use client::DEFAULT_EJECTION;
pub use request::ServiceRequest;

pub(crate) use balance::Balancer;

use crate::error::Error;

/// A service method: takes the request, answers with a response or an error.
pub(crate) fn check_method(method: &str) -> Result<(), Error> {
    if method.is_empty() || method.len() > 1024 || method.chars().any(char::is_control) {
        return Err(Error::new(
            crate::ErrorKind::InvalidArgument,
            format!(
                "invalid method name {:?}: must be 1 to 1024 bytes without control characters",
                truncate(method, 64)
            ),
        ));
    }
    Ok(())
}

/// At most `max` bytes of `s`, cut at a character boundary.
pub(crate) fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
