//! Health and metadata.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::{dapr_error, Reply, Shared};

/// `GET /v1.0/healthz`: 204 once the host runs (app configuration read, cluster joined).
pub(super) async fn healthz(State(shared): State<Shared>) -> Response {
    if shared.is_ready() {
        StatusCode::NO_CONTENT.into_response()
    } else {
        dapr_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ERR_HEALTH_NOT_READY",
            "weftd is not ready",
        )
    }
}

/// `GET /v1.0/healthz/outbound`: 204 as soon as the API serves (apps may wait for it before
/// they serve their own endpoints, so it must not wait for them).
pub(super) async fn healthz_outbound() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// `GET /v1.0/metadata`: the app id, the actor types hosted here with their active counts.
pub(super) async fn metadata(State(shared): State<Shared>) -> Reply {
    let ready = shared.ready().await?;
    let actors: Vec<serde_json::Value> = ready
        .actor_types
        .iter()
        .map(|t| serde_json::json!({ "type": t, "count": ready.host.active_count(t) }))
        .collect();
    let body = serde_json::json!({
        "id": ready.config.app_id,
        "runtimeVersion": format!("weftd {}", env!("CARGO_PKG_VERSION")),
        "actors": actors,
        "extended": {
            "namespace": ready.config.namespace,
            "hostAddress": ready.host.address().unwrap_or(""),
        },
        "appConnectionProperties": {
            "port": ready.config.app_port,
            "protocol": "http",
        },
    });
    Ok(axum::Json(body).into_response())
}
