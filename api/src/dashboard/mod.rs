//! The operator's and customers' dashboard under `/dashboard`: sign-in with `/v1` credentials,
//! then the fleet, a live event feed, SIM pages, usage, billing and exports, in a browser.
//!
//! - `session`: sign-in and sign-out, the session cookie, the same-origin rule for writes;
//! - `data`: the JSON endpoints the pages read (`/dashboard/api/…`, tag `dashboard`), each
//!   from the `dashboard` projection's aggregates or one SIM's rows by key;
//! - `feed`: the live feed, Server-Sent Events from one shared tail of the log, resumable
//!   from the last position a browser saw;
//! - `pages`: the HTML, script and style, compiled into the binary (nothing is fetched).

pub mod data;
pub mod feed;
pub mod pages;
pub mod session;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::{ApiError, AppState};

pub use feed::FeedHub;
pub use session::Session;

/// Why a dashboard request was refused; answered in Twilio's JSON error shape, like `/v1`, but
/// without `WWW-Authenticate` (which would make a browser ask for Basic credentials).
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    #[error("Sign in to the dashboard")]
    SignedOut,
    #[error("This request must come from the dashboard's own page")]
    CrossOrigin,
    #[error("{0} was not found")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("Too many requests; retry in {0} s")]
    TooManyRequests(u64),
    #[error("Too many live feeds are open; close one and retry")]
    TooManyFeeds,
    #[error("Another read of the event log for this account is under way; retry shortly")]
    Busy,
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("event log error")]
    EventLog(#[from] simledger_eventlog::EventLogError),
}

impl From<simledger_commands::CommandError> for DashboardError {
    fn from(e: simledger_commands::CommandError) -> Self {
        Self::Api(e.into())
    }
}

impl DashboardError {
    fn into_api(self) -> ApiError {
        let rule = |code, status, message: String| ApiError::Rule { code, status, message };
        match self {
            Self::SignedOut => rule(20003, StatusCode::UNAUTHORIZED, self.to_string()),
            Self::CrossOrigin => rule(20403, StatusCode::FORBIDDEN, self.to_string()),
            Self::NotFound(_) => rule(20404, StatusCode::NOT_FOUND, self.to_string()),
            Self::Invalid(message) => ApiError::invalid(message),
            Self::TooManyRequests(wait) => ApiError::TooManyRequests(wait),
            Self::TooManyFeeds | Self::Busy => rule(20429, StatusCode::TOO_MANY_REQUESTS, self.to_string()),
            Self::Api(e) => e,
            Self::Database(e) => {
                tracing::error!(error = %e, "dashboard query failed");
                ApiError::Internal("database error".into())
            }
            Self::EventLog(e) => {
                tracing::error!(error = %e, "dashboard log read failed");
                ApiError::Internal("event log error".into())
            }
        }
    }
}

impl IntoResponse for DashboardError {
    fn into_response(self) -> Response {
        let mut response = self.into_api().into_response();
        response.headers_mut().remove("www-authenticate");
        response.headers_mut().insert(axum::http::header::CACHE_CONTROL, "no-store".parse().expect("header"));
        response
    }
}

/// The documented routes: sign-in, sign-out and the JSON endpoints.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(session::sign_in))
        .routes(routes!(session::sign_out))
        .routes(routes!(data::session_info))
        .routes(routes!(data::overview))
        .routes(routes!(data::sims))
        .routes(routes!(data::sim, data::update_sim))
        .routes(routes!(data::sim_usage))
        .routes(routes!(data::send_sms))
        .routes(routes!(data::fleets))
        .routes(routes!(data::usage))
        .routes(routes!(data::billing))
        .routes(routes!(data::exports))
        .routes(routes!(data::events))
        .routes(routes!(feed::stream))
}

/// The pages and their assets (HTML, not part of the API document).
pub fn pages_router() -> axum::Router<AppState> {
    pages::router()
}
