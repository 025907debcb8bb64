//! The callee's side of a service call: the [`ServiceRequest`](crate::ServiceRequest) its handler sees.

use std::sync::Arc;

use bytes::Bytes;
use bytestring::ByteString;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use super::call::{find, verb_or_post};
use crate::error::{Error, ErrorKind};
use crate::host::handle::HostHandle;
use crate::security::SpiffeId;
use crate::telemetry::propagation::{TraceContext, TRACEPARENT};

/// A service call as the callee's handler sees it.
///
/// The text fields are views of the received message, not copies of it.
#[derive(Debug, Clone)]
pub struct ServiceRequest {
    pub(crate) method: ByteString,
    pub(crate) verb: ByteString,
    pub(crate) query: ByteString,
    /// The headers except `traceparent`, which travels in its own field.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) traceparent: Option<ByteString>,
    pub(crate) body: Bytes,
    pub(crate) caller_app_id: Option<ByteString>,
    pub(crate) caller: Option<Arc<SpiffeId>>,
    pub(crate) deadline: Instant,
    pub(crate) host: HostHandle,
}

impl ServiceRequest {
    /// A request as a handler would receive it from a caller without an app id: for testing
    /// handlers, and for code that serves calls it got another way. Deadline: the host's call
    /// timeout from now.
    pub fn new(
        host: &HostHandle,
        method: impl Into<String>,
        verb: impl Into<String>,
        body: impl Into<Bytes>,
    ) -> Self {
        Self {
            method: ByteString::from(method.into()),
            verb: ByteString::from(verb.into()),
            query: ByteString::new(),
            headers: Vec::new(),
            traceparent: None,
            body: body.into(),
            caller_app_id: None,
            caller: None,
            deadline: Instant::now() + host.config().call_timeout,
            host: host.clone(),
        }
    }

    /// The method called.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The HTTP verb (`POST` when the caller gave none).
    pub fn verb(&self) -> &str {
        verb_or_post(&self.verb)
    }

    /// The raw query string, without `?`.
    pub fn query(&self) -> &str {
        &self.query
    }

    /// The request headers, except `traceparent`: the trace context travels in a field of its
    /// own, read with [`ServiceRequest::trace`](crate::ServiceRequest::trace) or `header("traceparent")`.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// One header, by case-insensitive name (`traceparent` included).
    pub fn header(&self, name: &str) -> Option<&str> {
        if name.eq_ignore_ascii_case(TRACEPARENT) {
            return self.traceparent.as_deref();
        }
        find(&self.headers, name)
    }

    /// The request body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The body decoded from JSON.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] naming the method when the body is not valid JSON of `T`;
    /// returned from a handler with `?`, the caller gets exactly that error.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.body).map_err(|e| {
            Error::new(
                ErrorKind::InvalidArgument,
                format!("malformed payload for method `{}`: {e}", &*self.method),
            )
        })
    }

    /// The caller's app id. With security on, the app id of the caller's verified certificate
    /// (whatever the caller wrote in the request); in plain-text mode, what the caller stated,
    /// which nothing verifies. `None` for a caller without one.
    pub fn caller_app_id(&self) -> Option<&str> {
        self.caller_app_id.as_deref()
    }

    /// The caller's verified identity: the SPIFFE id of its certificate (`None` in plain-text
    /// mode and for calls from this host itself).
    pub fn caller(&self) -> Option<&SpiffeId> {
        self.caller.as_deref()
    }

    /// When the caller stops waiting; the handler is cancelled then.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The trace this call belongs to (its `traceparent`), if it carries a valid one. Pass it
    /// to [`ServiceCall::trace`](crate::ServiceCall::trace) so calls made while handling this
    /// one join the trace.
    pub fn trace(&self) -> Option<TraceContext> {
        self.traceparent
            .as_deref()
            .and_then(|h| TraceContext::parse(h).ok())
    }

    /// The host serving this call, for calls to other apps and actors.
    pub fn host(&self) -> &HostHandle {
        &self.host
    }
}
