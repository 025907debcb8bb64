//! What a service call carries: [`ServiceCall`] (caller side), [`ServiceRequest`] (callee side),
//! [`ServiceResponse`] (both).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use bytestring::ByteString;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::time::Instant;

use crate::error::{Error, ErrorKind};
use crate::host::HostHandle;
use crate::security::SpiffeId;
use crate::telemetry::propagation::{TraceContext, TRACEPARENT};

/// A request's verb: `POST` when the caller gave none (as Dapr assumes).
pub(crate) fn verb_or_post(verb: &str) -> &str {
    if verb.is_empty() {
        "POST"
    } else {
        verb
    }
}

/// Finds a header by name, ignoring ASCII case (as HTTP does).
fn find<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// A call to a method of an app, built by the caller and sent with
/// [`HostHandle::send`](crate::HostHandle::send).
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use weft_runtime::ServiceCall;
///
/// let call = ServiceCall::new("backend.prod", "api/items")
///     .verb("GET")
///     .query("page=2")
///     .header("x-request-id", "42")
///     .timeout(Duration::from_secs(2));
/// assert_eq!(call.app_id(), "backend.prod");
/// ```
#[derive(Debug, Clone)]
pub struct ServiceCall {
    pub(crate) app_id: String,
    pub(crate) method: String,
    pub(crate) verb: String,
    pub(crate) query: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Bytes,
    pub(crate) timeout: Option<Duration>,
}

impl ServiceCall {
    /// A call of `method` on app `app_id` (`app` or `app.namespace`), verb POST, empty body.
    pub fn new(app_id: impl Into<String>, method: impl Into<String>) -> Self {
        Self {
            app_id: app_id.into(),
            method: method.into(),
            verb: String::new(),
            query: String::new(),
            headers: Vec::new(),
            body: Bytes::new(),
            timeout: None,
        }
    }

    /// The HTTP verb, for HTTP-shaped methods. Defaults to `POST`.
    pub fn verb(mut self, verb: impl Into<String>) -> Self {
        self.verb = verb.into();
        self
    }

    /// The raw query string (without `?`). Defaults to empty.
    pub fn query(mut self, query: impl Into<String>) -> Self {
        self.query = query.into();
        self
    }

    /// Adds a request header. A `traceparent` header set here continues that trace.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The request body. Defaults to empty.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// A JSON body, with `content-type: application/json`.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] when `value` does not serialize.
    pub fn json<T: Serialize + ?Sized>(self, value: &T) -> Result<Self, Error> {
        let body = serde_json::to_vec(value).map_err(|e| {
            Error::new(
                ErrorKind::InvalidArgument,
                format!("cannot encode the request body as JSON: {e}"),
            )
        })?;
        Ok(self.header("content-type", "application/json").body(body))
    }

    /// How long the caller waits, retries included. Defaults to the host's `call_timeout`
    /// (or the resiliency policy's timeout per attempt, whichever ends first).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Continues the trace of `parent` (the caller's own incoming request, say).
    pub fn trace(self, parent: &TraceContext) -> Self {
        self.header(TRACEPARENT, parent.to_header())
    }

    /// The target app (`app` or `app.namespace`).
    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    /// The method.
    pub fn method(&self) -> &str {
        &self.method
    }
}

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
    /// own, read with [`ServiceRequest::trace`] or `header("traceparent")`.
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
    /// to [`ServiceCall::trace`] so calls made while handling this one join the trace.
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

/// A service method's answer: status, headers, body.
///
/// # Examples
/// ```
/// use weft_runtime::ServiceResponse;
/// let ok = ServiceResponse::from("hello");
/// assert_eq!((ok.status(), &ok.body()[..]), (200, &b"hello"[..]));
/// let missing = ServiceResponse::with_status(404, "no such item");
/// assert!(!missing.is_success());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceResponse {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Bytes,
}

impl ServiceResponse {
    /// Status 200 with `body`.
    pub fn ok(body: impl Into<Bytes>) -> Self {
        Self::with_status(200, body)
    }

    /// `status` with `body`.
    pub fn with_status(status: u16, body: impl Into<Bytes>) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// Status 200 with `value` as JSON.
    ///
    /// # Errors
    /// [`ErrorKind::Internal`] when `value` does not serialize.
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<Self, Error> {
        let body = serde_json::to_vec(value).map_err(|e| {
            Error::new(
                ErrorKind::Internal,
                format!("cannot encode the response as JSON: {e}"),
            )
        })?;
        Ok(Self::ok(body).header("content-type", "application/json"))
    }

    /// Adds a response header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The response headers.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// One header, by case-insensitive name.
    pub fn header_value(&self, name: &str) -> Option<&str> {
        find(&self.headers, name)
    }

    /// The body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The body, consumed.
    pub fn into_body(self) -> Bytes {
        self.body
    }

    /// The body decoded from JSON.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] when the body is not valid JSON of `T`.
    pub fn decode_json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.body).map_err(|e| {
            Error::new(
                ErrorKind::InvalidArgument,
                format!("malformed response body: {e}"),
            )
        })
    }
}

impl From<Bytes> for ServiceResponse {
    fn from(body: Bytes) -> Self {
        Self::ok(body)
    }
}

impl From<&'static str> for ServiceResponse {
    fn from(body: &'static str) -> Self {
        Self::ok(body)
    }
}

impl From<String> for ServiceResponse {
    fn from(body: String) -> Self {
        Self::ok(body)
    }
}

impl From<Vec<u8>> for ServiceResponse {
    fn from(body: Vec<u8>) -> Self {
        Self::ok(body)
    }
}
