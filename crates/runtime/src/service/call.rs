//! The caller's side of a service call: the [`ServiceCall`] it sends and the
//! [`ServiceResponse`] it gets back (also what a handler answers).

use std::time::Duration;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, ErrorKind};
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
pub(super) fn find<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
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
