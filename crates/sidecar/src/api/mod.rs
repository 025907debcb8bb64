//! Dapr's sidecar HTTP API (v1.0) on `--dapr-http-port`.
//!
//! | path | verbs | what |
//! | --- | --- | --- |
//! | `/v1.0/invoke/{app-id}/method/{method...}` | any | service invocation |
//! | any path with a `dapr-app-id` header | any | service invocation, header form |
//! | `/v1.0/actors/{type}/{id}/method/{method}` | any | actor call |
//! | `/v1.0/actors/{type}/{id}/state` | PUT, POST | transactional actor state |
//! | `/v1.0/actors/{type}/{id}/state/{key}` | GET | one actor state key |
//! | `/v1.0/actors/{type}/{id}/reminders/{name}` | PUT, POST, GET, DELETE | actor reminders |
//! | `/v1.0/actors/{type}/{id}/timers/{name}` | PUT, POST, DELETE | actor timers |
//! | `/v1.0/healthz`, `/v1.0/healthz/outbound`, `/v1.0/metadata` | GET | health and metadata |
//!
//! Errors have Dapr's body, `{"errorCode": "...", "message": "..."}`, and status.

// Handlers return an error `Response` early (the axum idiom); it is built once per request.
#![allow(clippy::result_large_err)]

pub(crate) mod actors;
mod invoke;
mod meta;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use weft_runtime::{Error, ErrorKind, HostHandle};

use crate::actors::TimerRequests;
use crate::app::API_TOKEN_HEADER;
use crate::config::Config;
use crate::config::Secret;

/// Everything the handlers need once the host runs.
#[derive(Debug)]
pub(crate) struct Ready {
    pub(crate) host: HostHandle,
    pub(crate) config: Config,
    pub(crate) timers: Arc<TimerRequests>,
    pub(crate) actor_types: Vec<String>,
}

/// The handlers' state: the host, once it has started.
#[derive(Debug, Clone)]
pub(crate) struct Shared {
    pub(crate) ready: watch::Receiver<Option<Arc<Ready>>>,
}

/// How long a request that arrives during start-up waits for the host.
const STARTUP_WAIT: Duration = Duration::from_secs(30);

impl Shared {
    /// The running host, waiting for it during start-up.
    async fn ready(&self) -> Result<Arc<Ready>, Response> {
        let mut ready = self.ready.clone();
        let found = tokio::time::timeout(STARTUP_WAIT, async {
            ready
                .wait_for(Option::is_some)
                .await
                .ok()
                .and_then(|r| r.clone())
        })
        .await;
        found.ok().flatten().ok_or_else(not_ready)
    }

    /// The request's body and the running host, for handlers that take a body.
    ///
    /// The body is checked first: a body that could not be read is answered at once, even
    /// during start-up, instead of after waiting up to [`STARTUP_WAIT`] for the host.
    async fn prepare(
        &self,
        body: Result<Bytes, BytesRejection>,
    ) -> Result<(Bytes, Arc<Ready>), Response> {
        let body = body.map_err(|rejection| body_error(&rejection))?;
        Ok((body, self.ready().await?))
    }

    fn is_ready(&self) -> bool {
        self.ready.borrow().is_some()
    }
}

/// What a handler answers. The error arm is a finished Dapr error response, so that a handler
/// can end early with `?`; axum sends either arm as it is.
type Reply = Result<Response, Response>;

fn not_ready() -> Response {
    dapr_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "ERR_HEALTH_NOT_READY",
        "weftd is still starting (waiting for the app's configuration or for placement)",
    )
}

/// A Dapr error response.
pub(crate) fn dapr_error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let body = serde_json::json!({ "errorCode": code, "message": message.into() });
    (status, axum::Json(body)).into_response()
}

/// A Dapr `400 ERR_MALFORMED_REQUEST`: the request itself is wrong, so resending it can't help.
fn malformed(message: impl Into<String>) -> Response {
    dapr_error(StatusCode::BAD_REQUEST, "ERR_MALFORMED_REQUEST", message)
}

/// A JSON body read as `T`. `what` names the body in the error ("the timer"), because Dapr's
/// clients show the message to the app's developer as it is.
pub(crate) fn parse_json<T: DeserializeOwned>(body: &[u8], what: &str) -> Result<T, Response> {
    serde_json::from_slice(body).map_err(|e| malformed(format!("{what} is not valid JSON: {e}")))
}

/// A body that could not be read (too large, broken), as a Dapr error.
pub(crate) fn body_error(rejection: &BytesRejection) -> Response {
    let status = rejection.status();
    let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
        "ERR_REQUEST_TOO_LARGE"
    } else {
        "ERR_MALFORMED_REQUEST"
    };
    dapr_error(status, code, rejection.body_text())
}

/// A runtime error as a Dapr error with `code` for failures of the call itself.
pub(crate) fn runtime_error(e: &Error, code: &str) -> Response {
    let status = match e.kind() {
        ErrorKind::InvalidArgument => StatusCode::BAD_REQUEST,
        ErrorKind::PermissionDenied => StatusCode::FORBIDDEN,
        ErrorKind::NotFound if e.message().contains("has no method") => StatusCode::NOT_FOUND,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let code = match e.kind() {
        ErrorKind::InvalidArgument => "ERR_MALFORMED_REQUEST",
        ErrorKind::PermissionDenied => "ERR_PERMISSION_DENIED",
        _ => code,
    };
    dapr_error(status, code, e.to_string())
}

/// The paths that need no API token, as in Dapr: exactly these, compared whole.
const TOKEN_EXEMPT: [&str; 2] = ["/v1.0/healthz", "/v1.0/healthz/outbound"];

/// Refuses a request without the API token (401, Dapr's error shape), except on the health
/// paths. The path is compared whole: a query or a path that merely contains `/healthz` is
/// not exempt.
async fn require_token(
    axum::extract::State(token): axum::extract::State<Arc<Secret>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let exempt = TOKEN_EXEMPT.contains(&request.uri().path());
    let presented = request
        .headers()
        .get(API_TOKEN_HEADER)
        .is_some_and(|v| token.matches(v.as_bytes()));
    if exempt || presented {
        return next.run(request).await;
    }
    dapr_error(
        StatusCode::UNAUTHORIZED,
        "ERR_UNAUTHORIZED",
        "missing or invalid dapr-api-token header (this sidecar has DAPR_API_TOKEN set)",
    )
}

/// The router of the Dapr HTTP API; with `api_token`, every path but the health ones needs it.
pub(crate) fn router(
    shared: Shared,
    max_request_bytes: usize,
    api_token: Option<Secret>,
) -> Router {
    let router = Router::new()
        .route(
            "/v1.0/invoke/{app_id}/method/{*method}",
            any(invoke::by_path),
        )
        .route(
            "/v1.0/actors/{actor_type}/{actor_id}/method/{method}",
            any(actors::invoke),
        )
        .route(
            "/v1.0/actors/{actor_type}/{actor_id}/state",
            post(actors::state_transaction).put(actors::state_transaction),
        )
        .route(
            "/v1.0/actors/{actor_type}/{actor_id}/state/{key}",
            get(actors::state_get),
        )
        .route(
            "/v1.0/actors/{actor_type}/{actor_id}/reminders/{name}",
            post(actors::reminder_register)
                .put(actors::reminder_register)
                .get(actors::reminder_get)
                .delete(actors::reminder_unregister),
        )
        .route(
            "/v1.0/actors/{actor_type}/{actor_id}/timers/{name}",
            post(actors::timer_register)
                .put(actors::timer_register)
                .delete(actors::timer_unregister),
        )
        .route("/v1.0/healthz", get(meta::healthz))
        .route("/v1.0/healthz/outbound", get(meta::healthz_outbound))
        .route("/v1.0/metadata", get(meta::metadata))
        .fallback(invoke::by_header)
        .layer(axum::extract::DefaultBodyLimit::max(max_request_bytes))
        .with_state(shared);
    match api_token {
        Some(token) => router.layer(axum::middleware::from_fn_with_state(
            Arc::new(token),
            require_token,
        )),
        None => router,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn answer(kind: ErrorKind, code: &str) -> (StatusCode, serde_json::Value) {
        let response = runtime_error(&Error::new(kind, "m"), code);
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn an_open_circuit_answers_as_an_unavailable_target_did() {
        for code in ["ERR_DIRECT_INVOKE", "ERR_ACTOR_INVOKE_METHOD"] {
            let (status, body) = answer(ErrorKind::CircuitOpen, code).await;
            let (unavailable_status, unavailable_body) = answer(ErrorKind::Unavailable, code).await;
            assert_eq!(status, unavailable_status, "{code}");
            assert_eq!(body["errorCode"], unavailable_body["errorCode"], "{code}");
            assert_eq!(body["errorCode"], code);
            assert_eq!(body["message"], "circuit open: m");
        }
    }
}
