//! simledger's HTTP interfaces.
//!
//! - `routes::ops`: `/healthz`, `/readyz`, `/metrics`.
//! - `/openapi.json` and the API docs at `/docs` (Swagger UI, served from the binary).
//! - Later: `/v1` in the Twilio Super SIM dialect, `/v1/Billing`, `/jsonrpc` (CGrateS), and the
//!   dashboard.
//!
//! Handlers stay thin: parse, call the domain, map errors through [`error::ApiError`].

pub mod error;
mod metrics_export;
pub mod routes;
mod state;

use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

pub use error::ApiError;
pub use metrics_export::prometheus_handle;
pub use state::{AppState, ReadinessCheck};

/// The most a request body may be; Twilio's own API refuses far smaller bodies than this.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "simledger",
        description = "Subscriber management and CDR billing for IoT SIM fleets. `/v1` follows the \
                       Twilio Super SIM v1 dialect; `/jsonrpc` the CGrateS JSON-RPC dialect.",
        license(name = "MIT")
    ),
    tags((name = "operations", description = "Health, readiness and metrics"))
)]
struct ApiDoc;

fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi()).merge(routes::ops::router())
}

/// The OpenAPI document of every route (what `openapi/openapi.json` holds).
pub fn openapi() -> utoipa::openapi::OpenApi {
    router().split_for_parts().1
}

/// The whole HTTP application.
pub fn app(state: AppState) -> Router {
    let (routes, api) = router().split_for_parts();
    // Rendered once; both /openapi.json and the docs page serve the same bytes.
    let spec = api.to_json().expect("the OpenAPI document serializes");
    let json = ([(axum::http::header::CONTENT_TYPE, "application/json")], spec);
    routes
        .route("/openapi.json", axum::routing::get(move || std::future::ready(json.clone())))
        .merge(SwaggerUi::new("/docs").url("/docs/openapi.json", api))
        .fallback(|| async { ApiError::NotFound("The requested resource was not found".into()) })
        .layer(tower_http::limit::RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// A bound, not yet serving, HTTP server; `port 0` picks a free port (tests).
pub struct Application {
    listener: TcpListener,
    router: Router,
}

impl Application {
    pub async fn bind(addr: SocketAddr, state: AppState) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        Ok(Self { listener, router: app(state) })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("bound listener has an address")
    }

    pub async fn serve(self, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        axum::serve(self.listener, self.router).with_graceful_shutdown(shutdown).await
    }
}
