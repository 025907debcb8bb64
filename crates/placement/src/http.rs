//! The HTTP side: `GET /placement/state` (Dapr's shape) and `GET /healthz`.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use tokio::sync::watch;

use crate::state::PlacementState;

/// Routes of the HTTP listener.
pub(crate) fn router(state: watch::Receiver<PlacementState>) -> Router {
    Router::new()
        .route("/placement/state", get(placement_state))
        .route("/healthz", get(healthz))
        .with_state(state)
}

async fn placement_state(
    State(state): State<watch::Receiver<PlacementState>>,
) -> Json<PlacementState> {
    Json(state.borrow().clone())
}

async fn healthz() -> &'static str {
    "ok"
}
