//! Security: workload identity (SPIFFE certificates from the Sentry), mutual TLS between hosts,
//! and access control.
//!
//! With [`HostBuilder::security`](crate::HostBuilder::security), a host serves and calls other
//! hosts over mutual TLS only (TLS 1.3, rustls with ring). Its certificate comes from the
//! Sentry (`weft-sentry`, see [`weft_placement::sentry`]) and names it
//! `spiffe://<trust domain>/ns/<namespace>/<app id>`; a background task renews it at ~70% of
//! its lifetime and swaps it into the TLS configs in place, so connections already open keep
//! running and new handshakes present the new certificate. A peer is accepted when its chain
//! leads to the trust bundle, it is within its validity, and its SPIFFE id is of the same
//! trust domain.
//!
//! The callee learns who calls from the verified certificate of the connection, never from
//! anything the caller writes in the request ([`ServiceRequest::caller`]), and checks it
//! against the app's [`AccessControl`] before the method runs.
//!
//! Without `security` a host talks plain text and says so with a warning at start: fine on a
//! laptop, never in production.
//!
//! [`ServiceRequest::caller`]: crate::ServiceRequest::caller

mod authz;
#[cfg(feature = "tls")]
mod identity;
#[cfg(feature = "tls")]
pub(crate) mod tls;

pub use authz::{AccessControl, Action, Decision};
#[cfg(feature = "tls")]
pub use identity::{SecurityConfig, WorkloadIdentity, DEFAULT_TRUST_DOMAIN};
pub use weft_placement::sentry::SpiffeId;

#[cfg(all(feature = "tls", any(test, feature = "test-util")))]
pub(crate) use identity::roots_of as identity_roots;

/// An error and its sources on one line (tonic's transport errors say little at the top).
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}
