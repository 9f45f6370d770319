//! Operations endpoints: liveness, readiness, Prometheus metrics.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(healthz)).routes(routes!(readyz)).routes(routes!(metrics))
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok`
    status: &'static str,
}

/// The process is up and serving HTTP.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`
    status: &'static str,
    /// `ok`, or why PostgreSQL cannot be used.
    postgres: String,
    /// `ok`, or the state of the NATS connection.
    nats: String,
    /// The event log's head position.
    log_position: Option<i64>,
    /// Components' own checks, `ok` or `failing` (e.g. `core_publisher`: the nodes can publish).
    checks: std::collections::BTreeMap<&'static str, &'static str>,
}

/// Whether this instance can serve: PostgreSQL answers and NATS is connected.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses(
    (status = 200, body = Readiness, description = "ready"),
    (status = 503, body = Readiness, description = "a dependency is down"),
))]
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let (postgres, log_position) = match state.log().head().await {
        Ok(head) => ("ok".to_owned(), Some(head)),
        Err(e) => (e.to_string(), None),
    };
    let nats = match &state.nats {
        Some(client) => match client.connection_state() {
            async_nats::connection::State::Connected => "ok".to_owned(),
            other => format!("{other:?}").to_lowercase(),
        },
        None => "not connected".to_owned(),
    };
    let checks: std::collections::BTreeMap<_, _> =
        state.checks.iter().map(|(name, check)| (*name, if check() { "ok" } else { "failing" })).collect();
    let ready = postgres == "ok" && nats == "ok" && checks.values().all(|v| *v == "ok");
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = Readiness { status: if ready { "ready" } else { "not_ready" }, postgres, nats, log_position, checks };
    (status, Json(body))
}

/// Prometheus text exposition of every metric the process records.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses(
    (status = 200, content_type = "text/plain", body = String)
))]
async fn metrics() -> impl IntoResponse {
    let handle = crate::prometheus_handle();
    handle.run_upkeep();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render())
}
