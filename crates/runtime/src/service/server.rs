//! The callee's side of a service call: check it is for this app, check the caller's verified
//! identity against the app's access control, find the method, run the handler within the
//! caller's deadline, catch its panics.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use tokio::time::Instant;

use super::{truncate, ServiceRequest, ServiceResponse};
use crate::error::{Error, ErrorKind};
use crate::host::HostHandle;
use crate::invoke::proto;
use crate::security::{AccessControl, Action, SpiffeId};
use crate::telemetry::propagation::{TraceContext, TRACEPARENT};

/// Serves one inbound service call; every outcome becomes a reply (never a transport error).
pub(crate) async fn serve(
    host: &HostHandle,
    request: proto::ServiceRequest,
    timeout: Duration,
    caller: Option<Arc<SpiffeId>>,
) -> proto::ServiceReply {
    let result = run(host, request, timeout, caller).await;
    let result = match result {
        Ok(r) => proto::service_reply::Result::Response(proto::ServiceResponse {
            status: u32::from(r.status),
            headers: r
                .headers
                .into_iter()
                .map(|(name, value)| proto::Header { name, value })
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
    request: proto::ServiceRequest,
    timeout: Duration,
    caller: Option<Arc<SpiffeId>>,
) -> Result<ServiceResponse, Error> {
    let deadline = Instant::now() + timeout;
    let fabric = host.fabric();
    if request.app_id != fabric.app_id || request.namespace != fabric.namespace {
        return Err(Error::new(
            ErrorKind::NotFound,
            format!(
                "this instance serves app `{}` in namespace `{}`, not `{}` in `{}` (stale name \
                 resolution?)",
                fabric.app_id,
                fabric.namespace,
                truncate(&request.app_id, 128),
                truncate(&request.namespace, 128)
            ),
        ));
    }
    if host.is_shutting_down() {
        return Err(Error::new(
            ErrorKind::ShuttingDown,
            format!("app `{}` instance is shutting down", fabric.app_id),
        ));
    }
    if let Some(acl) = host.access_control() {
        authorize(acl, &fabric.app_id, caller.as_deref(), &request)?;
    }
    let methods = host.methods();
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
    let headers: Vec<(String, String)> = request
        .headers
        .into_iter()
        .map(|h| (h.name, h.value))
        .collect();
    let span = tracing::info_span!("invoke.serve", app.id = %fabric.app_id,
        method = %request.method, trace_id = tracing::field::Empty);
    if !span.is_disabled() {
        // Parsed only for a span someone records.
        if let Some(t) = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(TRACEPARENT))
            .and_then(|(_, v)| TraceContext::parse(v).ok())
        {
            span.record("trace_id", t.trace_id_hex());
        }
    }
    let method = request.method.clone();
    let service_request = ServiceRequest {
        method: request.method,
        verb: request.verb,
        query: request.query,
        headers,
        body: request.body,
        // With mTLS the caller is who its certificate says; the stated id is only believed in
        // plain-text mode, where nothing can be verified anyway.
        caller_app_id: match (&caller, host.is_secure()) {
            (Some(id), _) => Some(id.app_id().to_owned()),
            (None, true) => None,
            (None, false) => Some(request.caller_app_id).filter(|c| !c.is_empty()),
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
            tracing::error!(method = %method, panic = %what, "service handler panicked");
            Err(Error::new(
                ErrorKind::Internal,
                format!("method `{method}` panicked: {what}"),
            ))
        }
        Err(_) => Err(Error::deadline(format!(
            "method `{method}` of app `{}` did not answer within the caller's deadline ({timeout:?})",
            fabric.app_id
        ))),
    }
}

/// Applies the app's access control to one call; a denial is logged on `weft::audit`.
fn authorize(
    acl: &AccessControl,
    app_id: &str,
    caller: Option<&SpiffeId>,
    request: &proto::ServiceRequest,
) -> Result<(), Error> {
    let verb = if request.verb.is_empty() {
        "POST"
    } else {
        request.verb.as_str()
    };
    let decision = acl.decide(caller, &request.method, verb);
    let who = caller.map_or_else(|| "an unidentified caller".to_owned(), ToString::to_string);
    let method = truncate(&request.method, 128);
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
