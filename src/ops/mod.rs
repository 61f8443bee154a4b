//! Operations: Prometheus `/metrics`, `/healthz` and `/readyz`, served on
//! their own listener (`ops.listen`), apart from the chat HTTP server, which
//! may face the internet for Slack and Discord.

pub mod health;
pub mod metrics;

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use tokio::sync::watch;
use tracing::warn;

use crate::clock::SharedClock;
use crate::store::Store;

/// How long a scrape waits for the store's counts before rendering without them.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(3);
/// How often recorded histogram samples are folded into buckets between scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(10);

/// What the ops endpoints read.
#[derive(Clone)]
struct Ops {
    store: Store,
    clock: SharedClock,
}

/// The ops endpoints: `GET /metrics`, `GET /healthz`, `GET /readyz`.
pub fn router(store: Store, clock: SharedClock) -> Router {
    Router::new()
        .route("/metrics", get(metrics_page))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(Ops { store, clock })
}

/// 200 while the process is up.
async fn healthz() -> Response {
    (StatusCode::OK, axum::Json(json!({ "status": "ok" }))).into_response()
}

/// 200 when the database answers and is at this build's migrations, else
/// 503 with the reason.
async fn readyz(State(ops): State<Ops>) -> Response {
    match health::readiness(&ops.store, health::READY_TIMEOUT).await {
        Ok(()) => (StatusCode::OK, axum::Json(json!({ "status": "ready" }))).into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({ "status": "not ready", "reason": e.to_string() })),
        )
            .into_response(),
    }
}

/// The Prometheus text page; the store's gauges are read now.
async fn metrics_page(State(ops): State<Ops>) -> Response {
    let now = ops.clock.now();
    match tokio::time::timeout(SCRAPE_TIMEOUT, metrics::refresh_from_store(&ops.store, now)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => warn!(error = %e, "metrics: could not read the store's counts"),
        Err(_) => warn!("metrics: the store did not answer within 3 s; counts are stale"),
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics::render(),
    )
        .into_response()
}

/// Folds recorded histogram samples into their buckets every few seconds
/// until `stop` turns true, so memory stays bounded when nobody scrapes.
pub async fn upkeep(mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(UPKEEP_EVERY) => metrics::run_upkeep(),
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}
