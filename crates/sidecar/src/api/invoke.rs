//! Service invocation: `/v1.0/invoke/{app-id}/method/{method...}` and the `dapr-app-id` header
//! form. The verb, query string, headers and body travel to the target app's instance as they
//! came; the app's status, headers and body come back as they were answered.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use weft_runtime::ServiceCall;

use super::{dapr_error, runtime_error, Reply, Shared};
use crate::app::is_end_to_end;

/// Headers that address the sidecar, not the app.
fn is_forwarded(name: &str) -> bool {
    is_end_to_end(name)
        && !name.eq_ignore_ascii_case("dapr-app-id")
        && !name.eq_ignore_ascii_case("dapr-api-token")
}

pub(super) async fn by_path(
    State(shared): State<Shared>,
    Path((app_id, method)): Path<(String, String)>,
    verb: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Reply {
    invoke(shared, app_id, method, verb, uri, headers, body).await
}

/// Any other path: invocation when a `dapr-app-id` header names the target, else 404.
pub(super) async fn by_header(
    State(shared): State<Shared>,
    verb: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Reply {
    let Some(app_id) = headers
        .get("dapr-app-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
    else {
        return Err(dapr_error(
            StatusCode::NOT_FOUND,
            "ERR_NOT_FOUND",
            format!("no such API: {verb} {}", uri.path()),
        ));
    };
    let method = uri.path().trim_start_matches('/').to_owned();
    invoke(shared, app_id, method, verb, uri, headers, body).await
}

async fn invoke(
    shared: Shared,
    app_id: String,
    method: String,
    verb: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Reply {
    let (body, ready) = shared.prepare(body).await?;
    let mut call = ServiceCall::new(app_id, method)
        .verb(verb.as_str())
        .query(uri.query().unwrap_or(""))
        .body(body)
        .timeout(ready.config.call_timeout);
    for (name, value) in &headers {
        if let (true, Ok(value)) = (is_forwarded(name.as_str()), value.to_str()) {
            call = call.header(name.as_str(), value);
        }
    }
    let reply = ready
        .host
        .send(call)
        .await
        .map_err(|e| runtime_error(&e, "ERR_DIRECT_INVOKE"))?;
    let status = StatusCode::from_u16(reply.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, reply.body().clone()).into_response();
    for (name, value) in reply.headers() {
        if let (Ok(n), Ok(v)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) {
            if is_end_to_end(n.as_str()) {
                response.headers_mut().append(n, v);
            }
        }
    }
    Ok(response)
}
