//! The callee's side of a service call: check it is for this app, check the caller's verified
//! identity against the app's access control, find the method, run the handler within the
//! caller's deadline, catch its panics.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use bytestring::ByteString;
use futures::FutureExt;
use tokio::time::Instant;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;

use futures::future::BoxFuture;

use super::call::ServiceResponse;
use super::request::ServiceRequest;
use super::truncate;
use crate::error::{Error, ErrorKind};
use crate::host::handle::HostHandle;
use crate::invoke::proto;
use crate::security::{AccessControl, Action, SpiffeId};
use crate::telemetry::propagation::TraceContext;

pub(crate) type Handler =
    Arc<dyn Fn(ServiceRequest) -> BoxFuture<'static, Result<ServiceResponse, Error>> + Send + Sync>;

/// Boxes a typed handler closure.
pub(crate) fn handler<F, Fut, R>(f: F) -> Handler
where
    F: Fn(ServiceRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<R, Error>> + Send + 'static,
    R: Into<ServiceResponse>,
{
    Arc::new(move |request| f(request).map(|r| r.map(Into::into)).boxed())
}

/// The methods one host serves.
#[derive(Default, Clone)]
pub(crate) struct Methods {
    by_name: HashMap<String, Handler>,
    /// Serves every method without its own handler (a pass-through to an app, say).
    fallback: Option<Handler>,
}

impl fmt::Debug for Methods {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Methods")
            .field("methods", &self.names())
            .field("fallback", &self.fallback.is_some())
            .finish()
    }
}

impl Methods {
    /// Adds a method; `false` when the name was taken.
    pub(crate) fn insert(&mut self, name: String, handler: Handler) -> bool {
        self.by_name.insert(name, handler).is_none()
    }

    pub(crate) fn set_fallback(&mut self, handler: Handler) {
        self.fallback = Some(handler);
    }

    pub(crate) fn get(&self, name: &str) -> Option<&Handler> {
        self.by_name.get(name).or(self.fallback.as_ref())
    }

    /// The method names, sorted.
    pub(crate) fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.by_name.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }
}

/// Checks a method name: non-empty, at most 1 KiB, no control characters.
/// Serves one inbound service call; every outcome becomes a reply (never a transport error).
pub(crate) async fn serve(
    host: &HostHandle,
    methods: &Methods,
    request: proto::ServiceRequest,
    timeout: Duration,
    caller: Option<Arc<SpiffeId>>,
) -> proto::ServiceReply {
    let result = run(host, methods, request, timeout, caller).await;
    let result = match result {
        Ok(r) => proto::service_reply::Result::Response(proto::ServiceResponse {
            status: u32::from(r.status),
            headers: r
                .headers
                .into_iter()
                .map(|(name, value)| proto::Header {
                    name: name.into(),
                    value: value.into(),
                })
                .collect(),
            body: r.body,
        }),
        Err(e) => proto::service_reply::Result::Failure(crate::invoke::wire::to_failure(&e, 0)),
    };
    proto::ServiceReply {
        result: Some(result),
    }
}

async fn run(
    host: &HostHandle,
    methods: &Methods,
    request: proto::ServiceRequest,
    timeout: Duration,
    caller: Option<Arc<SpiffeId>>,
) -> Result<ServiceResponse, Error> {
    let deadline = Instant::now() + timeout;
    let fabric = host.fabric();
    if request.app_id != fabric.app_id.as_bytes()
        || request.namespace != fabric.namespace.as_bytes()
    {
        return Err(Error::new(
            ErrorKind::NotFound,
            format!(
                "this instance serves app `{}` in namespace `{}`, not `{}` in `{}` (stale name \
                 resolution?)",
                fabric.app_id,
                fabric.namespace,
                truncate(&String::from_utf8_lossy(&request.app_id), 128),
                truncate(&String::from_utf8_lossy(&request.namespace), 128)
            ),
        ));
    }
    if host.is_shutting_down() {
        return Err(Error::new(
            ErrorKind::ShuttingDown,
            format!("app `{}` instance is shutting down", fabric.app_id),
        ));
    }
    let request = Incoming::decode(request)?;
    if let Some(acl) = host.access_control() {
        authorize(
            acl,
            &fabric.app_id,
            caller.as_deref(),
            &request.method,
            request.verb(),
        )?;
    }
    let Some(handler) = methods.get(&request.method) else {
        let names = methods.names();
        return Err(Error::new(
            ErrorKind::NotFound,
            format!(
                "app `{}` has no method `{}` (it serves: {})",
                fabric.app_id,
                truncate(&request.method, 128),
                if names.is_empty() {
                    "none".to_owned()
                } else {
                    names.join(", ")
                }
            ),
        ));
    };
    let span = tracing::info_span!("invoke.serve", app.id = %fabric.app_id,
        method = %&*request.method, trace_id = tracing::field::Empty);
    if !span.is_disabled() {
        // Parsed only for a span someone records.
        if let Some(t) = request
            .traceparent
            .as_deref()
            .and_then(|v| TraceContext::parse(v).ok())
        {
            span.record("trace_id", t.trace_id_hex());
        }
    }
    let method = request.method.clone();
    let service_request = ServiceRequest {
        method: request.method,
        verb: request.verb,
        query: request.query,
        headers: request.headers,
        traceparent: request.traceparent,
        body: request.body,
        // With mTLS the caller is who its certificate says; the stated id is only believed in
        // plain-text mode, where nothing can be verified anyway.
        caller_app_id: match (&caller, host.is_secure()) {
            (Some(id), _) => Some(ByteString::from(id.app_id())),
            (None, true) => None,
            (None, false) => request.caller_app_id.filter(|c| !c.is_empty()),
        },
        caller,
        deadline,
        host: host.clone(),
    };
    let body = AssertUnwindSafe(handler(service_request)).catch_unwind();
    let mut body = std::pin::pin!(tracing::Instrument::instrument(body, span));
    // A handler that answers on its first poll needs no timer.
    let finished = match futures::poll!(body.as_mut()) {
        std::task::Poll::Ready(out) => Ok(out),
        std::task::Poll::Pending => tokio::time::timeout_at(deadline, body).await,
    };
    match finished {
        Ok(Ok(result)) => result,
        Ok(Err(panic)) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic payload".to_owned());
            tracing::error!(method = %&*method, panic = %what, "service handler panicked");
            Err(Error::new(
                ErrorKind::Internal,
                format!("method `{}` panicked: {what}", &*method),
            ))
        }
        Err(_) => Err(Error::deadline(format!(
            "method `{}` of app `{}` did not answer within the caller's deadline ({timeout:?})",
            &*method, fabric.app_id
        ))),
    }
}

/// The text fields of a received call, checked to be UTF-8 and kept as views of the message.
pub(crate) struct Incoming {
    method: ByteString,
    verb: ByteString,
    query: ByteString,
    headers: Vec<(String, String)>,
    traceparent: Option<ByteString>,
    body: bytes::Bytes,
    caller_app_id: Option<ByteString>,
}

impl Incoming {
    pub(crate) fn decode(request: proto::ServiceRequest) -> Result<Self, Error> {
        let method = text("method", request.method)?;
        let headers = request
            .headers
            .into_iter()
            .map(|h| {
                Ok((
                    text("header name", h.name)?.to_string(),
                    text("header value", h.value)?.to_string(),
                ))
            })
            .collect::<Result<_, Error>>()?;
        Ok(Incoming {
            method,
            verb: text("verb", request.verb)?,
            query: text("query", request.query)?,
            headers,
            traceparent: Some(text("traceparent", request.traceparent)?).filter(|t| !t.is_empty()),
            body: request.body,
            caller_app_id: Some(text("caller app id", request.caller_app_id)?),
        })
    }

    fn verb(&self) -> &str {
        super::call::verb_or_post(&self.verb)
    }
}

/// A text field of the request, which must be UTF-8.
fn text(what: &str, bytes: bytes::Bytes) -> Result<ByteString, Error> {
    ByteString::try_from(bytes).map_err(|_| {
        Error::new(
            ErrorKind::InvalidArgument,
            format!("the call's {what} is not UTF-8"),
        )
    })
}

/// Applies the app's access control to one call; a denial is logged on `weft::audit`.
fn authorize(
    acl: &AccessControl,
    app_id: &str,
    caller: Option<&SpiffeId>,
    method: &str,
    verb: &str,
) -> Result<(), Error> {
    let decision = acl.decide(caller, method, verb);
    let who = caller.map_or_else(|| "an unidentified caller".to_owned(), ToString::to_string);
    let method = truncate(method, 128);
    let verb = truncate(verb, 16);
    match decision.action {
        Action::Allow => {
            tracing::debug!(target: "weft::audit", app_id = %app_id, caller = %who,
                method = %method, verb = %verb, rule = %decision.reason, "call allowed");
            Ok(())
        }
        Action::Deny => {
            tracing::warn!(target: "weft::audit", app_id = %app_id, caller = %who,
                method = %method, verb = %verb, rule = %decision.reason, "call denied");
            Err(Error::new(
                ErrorKind::PermissionDenied,
                format!(
                    "app `{app_id}` does not allow {who} to call `{verb} {method}` ({})",
                    decision.reason
                ),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn request() -> proto::ServiceRequest {
        proto::ServiceRequest {
            app_id: Bytes::from_static(b"backend"),
            namespace: Bytes::from_static(b"default"),
            method: Bytes::from_static(b"api/items"),
            verb: Bytes::from_static(b"GET"),
            query: Bytes::from_static(b"page=2"),
            headers: vec![proto::Header {
                name: Bytes::from_static(b"x-id"),
                value: Bytes::from_static(b"42"),
            }],
            body: Bytes::from_static(b"{}"),
            caller_app_id: Bytes::from_static(b"frontend"),
            traceparent: Bytes::new(),
            timeout_micros: 0,
        }
    }

    #[test]
    fn text_fields_decode_as_views_and_bad_utf8_is_a_clear_error() {
        let ok = Incoming::decode(request()).unwrap();
        assert_eq!(
            (&*ok.method, ok.verb(), &*ok.query),
            ("api/items", "GET", "page=2")
        );
        assert_eq!(ok.headers, [("x-id".to_owned(), "42".to_owned())]);
        assert!(ok.traceparent.is_none(), "an empty field is no trace");

        let bad = [0xff, 0xfe];
        type Set = fn(&mut proto::ServiceRequest, Bytes);
        let cases: [(&str, Set); 4] = [
            ("method", |r, b| r.method = b),
            ("verb", |r, b| r.verb = b),
            ("header value", |r, b| r.headers[0].value = b),
            ("traceparent", |r, b| r.traceparent = b),
        ];
        for (what, set) in cases {
            let mut r = request();
            set(&mut r, Bytes::copy_from_slice(&bad));
            let Err(e) = Incoming::decode(r) else {
                panic!("{what}: invalid UTF-8 accepted");
            };
            assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{what}");
            assert!(e.message().contains(what), "{what}: {e}");
        }
    }
}
