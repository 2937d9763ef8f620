//! The operations endpoint: `/metrics` (Prometheus text) and `/healthz`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::metrics::Metrics;

/// The routes, apart from serving them (tests call it with `oneshot`).
pub fn router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(healthz))
        .route("/status", get(status))
        .with_state(metrics)
}

async fn metrics_text(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics.render(),
    )
}

/// The inventory and policy in use, the last reload errors, refused
/// inventory events and current co-residency (JSON, see [`crate::reload`]).
async fn status(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    axum::Json(metrics.reload.status())
}

/// 200 while the last insert succeeded, 503 while ClickHouse is failing.
async fn healthz(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    if metrics.sink_up.get() == 1 {
        (StatusCode::OK, "ok\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "clickhouse inserts failing\n",
        )
    }
}
