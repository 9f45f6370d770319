//! Every error an HTTP handler can return, mapped to Twilio's error JSON in one place:
//! `{"code": 20404, "message": "…", "more_info": "https://www.twilio.com/docs/errors/20404", "status": 404}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use simledger_eventlog::EventLogError;
use utoipa::ToSchema;

/// Twilio's error body.
#[derive(Debug, Serialize, ToSchema)]
pub struct TwilioError {
    pub code: u32,
    pub message: String,
    pub more_info: String,
    pub status: u16,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    NotFound(String),
    /// A parameter is missing, malformed or out of range (Twilio 21xxx-style codes).
    #[error("{message}")]
    InvalidParameter { code: u32, message: String },
    /// A Super SIM rule refused the request (83xxx codes).
    #[error("{message}")]
    Rule { code: u32, status: StatusCode, message: String },
    #[error("Authentication Error - invalid username")]
    Unauthorized,
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    fn parts(&self) -> (StatusCode, u32) {
        match self {
            Self::NotFound(_) => (StatusCode::NOT_FOUND, 20404),
            Self::InvalidParameter { code, .. } => (StatusCode::BAD_REQUEST, *code),
            Self::Rule { code, status, .. } => (*status, *code),
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, 20003),
            Self::Conflict(_) => (StatusCode::CONFLICT, 20409),
            Self::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, 20503),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, 20500),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.parts();
        if let Self::Internal(cause) = &self {
            // The cause stays in our logs; the client gets a generic message.
            tracing::error!(error = %cause, "request failed");
        }
        let body = TwilioError {
            code,
            message: self.to_string(),
            more_info: format!("https://www.twilio.com/docs/errors/{code}"),
            status: status.as_u16(),
        };
        let mut response = (status, axum::Json(body)).into_response();
        if matches!(self, Self::Unauthorized) {
            response
                .headers_mut()
                .insert("www-authenticate", axum::http::HeaderValue::from_static("Basic realm=\"simledger\""));
        }
        response
    }
}

impl From<EventLogError> for ApiError {
    fn from(e: EventLogError) -> Self {
        match e {
            EventLogError::Conflict { .. } => {
                Self::Conflict("The resource was changed by another request; fetch it and try again".into())
            }
            EventLogError::PayloadTooLarge { .. } | EventLogError::InvalidEvent(_) => {
                Self::InvalidParameter { code: 21211, message: e.to_string() }
            }
            other => Self::Internal(Box::new(other)),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        Self::Internal(Box::new(e))
    }
}
