//! simledger's HTTP interfaces.
//!
//! - `v1`: Twilio's Super SIM v1 API (`/v1/Sims`, `/v1/Fleets`, …), HTTP Basic auth.
//! - `operator`: simledger's own inventory and account endpoints under `/operator`.
//! - `routes::ops`: `/healthz`, `/readyz`, `/metrics`.
//! - `/openapi.json` and the API docs at `/docs` (Swagger UI, served from the binary).
//! - `dashboard`: the operator's and customers' dashboard under `/dashboard`.
//! - `/v1/Billing`: CDRs and CDR exporters (CGrateS's model, REST).
//! - `jsonrpc`: `POST /jsonrpc`, CGrateS's JSON-RPC dialect, on the main listener and on a
//!   CGrateS-style listener of its own ([`jsonrpc_app`]).
//!
//! Handlers stay thin: parse, call the domain, map errors through [`error::ApiError`].

pub mod dashboard;
pub mod error;
pub mod extract;
pub mod jsonrpc;
mod metrics_export;
pub mod operator;
mod rate_limit;
pub mod routes;
mod state;
pub mod v1;

use std::net::SocketAddr;

use axum::response::IntoResponse;
use axum::Router;
use tokio::net::TcpListener;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

pub use error::ApiError;
pub use extract::LoginLimits;
pub use metrics_export::prometheus_handle;
pub use state::{AppState, ReadinessCheck, DEFAULT_RATE_LIMIT};

/// The most a request body may be; Twilio's own API refuses far smaller bodies than this.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// How long a request may take to produce its answer.
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Requests handled at once by one listener.
pub const MAX_IN_FLIGHT: usize = 512;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "simledger",
        description = "Subscriber management and CDR billing for IoT SIM fleets. `/v1` follows the \
                       Twilio Super SIM v1 dialect; `/jsonrpc` the CGrateS JSON-RPC dialect.",
        license(name = "MIT")
    ),
    modifiers(&BasicAuth),
    tags(
        (name = "operations", description = "Health, readiness and metrics"),
        (name = "Sims", description = "Twilio Super SIM v1: SIMs, their billing periods and IP addresses"),
        (name = "Fleets", description = "Twilio Super SIM v1: Fleets"),
        (name = "NetworkAccessProfiles", description = "Twilio Super SIM v1: Network Access Profiles"),
        (name = "Networks", description = "Twilio Super SIM v1: the network catalogue"),
        (name = "SmsCommands", description = "Twilio Super SIM v1: SMS to and from SIMs"),
        (name = "IpCommands", description = "Twilio Super SIM v1: UDP datagrams to SIMs"),
        (name = "ESimProfiles", description = "Twilio Super SIM v1: eSIM profiles at simledger's SM-DP+"),
        (name = "UsageRecords", description = "Twilio Super SIM v1: data use, priced at the operator's rates"),
        (name = "SettingsUpdates", description = "Twilio Super SIM v1: over-the-air settings updates"),
        (name = "EventStreams", description = "Twilio Event Streams v1: sinks (webhook, Kinesis), subscriptions, \
                                               event types and their schemas"),
        (name = "Billing", description = "simledger's CGrateS-style billing: CDRs in order-ID order"),
        (name = "operator", description = "simledger's own, not Twilio's: accounts and SIM inventory"),
        (name = "dashboard", description = "simledger's dashboard: sign-in, and the JSON its pages read (a session \
                                           cookie, not Basic auth; writes only from the dashboard's own origin)"),
    )
)]
struct ApiDoc;

/// Twilio's security scheme name, so generated clients match.
struct BasicAuth;

impl utoipa::Modify for BasicAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "accountSid_authToken",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
        );
        components.add_security_scheme(
            "dashboardSession",
            SecurityScheme::ApiKey(utoipa::openapi::security::ApiKey::Cookie(
                utoipa::openapi::security::ApiKeyValue::new(dashboard::session::COOKIE),
            )),
        );
    }
}

fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(routes::ops::router())
        .merge(v1::router())
        .merge(operator::router())
        .merge(dashboard::router())
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
    let routes = routes
        .route("/openapi.json", axum::routing::get(move || std::future::ready(json.clone())))
        .merge(SwaggerUi::new("/docs").url("/docs/openapi.json", api))
        .merge(jsonrpc::router(jsonrpc::Exposure::Main))
        .merge(dashboard::pages_router())
        .fallback(|| async { ApiError::NotFound("The requested resource was not found".into()) })
        .layer(axum::middleware::from_fn(extract::refuse_nul_in_path));
    with_common_layers(routes, state)
}

/// The CGrateS-style listener: `/jsonrpc` alone (`--jsonrpc-listen`).
pub fn jsonrpc_app(state: AppState, exposure: jsonrpc::Exposure) -> Router {
    with_common_layers(jsonrpc::router(exposure), state)
}

fn with_common_layers(routes: Router<AppState>, state: AppState) -> Router {
    routes
        .layer(tower_http::limit::RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        // A request that has not produced its answer in time (30 s unless the state says
        // otherwise) is answered 503 (Twilio's JSON)
        // and its work dropped (a streamed body, once started, is not cut); at most
        // MAX_IN_FLIGHT requests are handled at once, the rest wait their turn instead of
        // exhausting the database pool.
        .layer(axum::middleware::from_fn_with_state(state.clone(), answer_in_time))
        .layer(tower::limit::ConcurrencyLimitLayer::new(MAX_IN_FLIGHT))
        // A bug in one handler answers that request with Twilio's 500 JSON, not a dropped
        // connection, and leaves the process serving.
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            ApiError::Internal("a request handler panicked".into()).into_response()
        }))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

async fn answer_in_time(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    match tokio::time::timeout(state.request_timeout, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::Unavailable("The request took too long to answer; try again".into()).into_response(),
    }
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

    /// The CGrateS-style JSON-RPC listener; without credentials when `addr` is loopback.
    pub async fn bind_jsonrpc(addr: SocketAddr, state: AppState) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let exposure = if listener.local_addr()?.ip().is_loopback() {
            jsonrpc::Exposure::Loopback
        } else {
            jsonrpc::Exposure::Remote
        };
        Ok(Self { listener, router: jsonrpc_app(state, exposure) })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("bound listener has an address")
    }

    pub async fn serve(self, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        // With the peer's address, so failed logins can be throttled per source.
        let service = self.router.into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(self.listener, service).with_graceful_shutdown(shutdown).await
    }
}
