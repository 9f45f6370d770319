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
    #[error("Authenticate")]
    Unauthorized,
    /// Authenticated, but this account may not use the endpoint (`/operator` for a customer).
    #[error("This account may not use this endpoint")]
    Forbidden,
    /// The account's request rate is exceeded; retry after this many seconds.
    #[error("Too Many Requests")]
    TooManyRequests(u64),
    #[error("The request body is larger than {0} bytes")]
    TooLarge(usize),
    #[error("The request body must be application/x-www-form-urlencoded or application/json")]
    UnsupportedMediaType,
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Twilio's code for a missing, unknown or malformed parameter.
pub const INVALID_PARAMETER: u32 = 20001;

impl ApiError {
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::InvalidParameter { code: INVALID_PARAMETER, message: message.into() }
    }

    pub fn missing(param: &str, in_body: bool) -> Self {
        let place = if in_body { "in the post body" } else { "in the query string" };
        Self::invalid(format!("Missing required parameter {param} {place}"))
    }

    /// Twilio's not-found message names the resource's path.
    pub fn not_found(path: impl std::fmt::Display) -> Self {
        Self::NotFound(format!("The requested resource {path} was not found"))
    }

    fn parts(&self) -> (StatusCode, u32) {
        match self {
            Self::NotFound(_) => (StatusCode::NOT_FOUND, 20404),
            Self::InvalidParameter { code, .. } => (StatusCode::BAD_REQUEST, *code),
            Self::Rule { code, status, .. } => (*status, *code),
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, 20003),
            Self::Forbidden => (StatusCode::FORBIDDEN, 20403),
            Self::TooManyRequests(_) => (StatusCode::TOO_MANY_REQUESTS, 20429),
            Self::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, 20001),
            Self::UnsupportedMediaType => (StatusCode::UNSUPPORTED_MEDIA_TYPE, 20001),
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
        if let Self::TooManyRequests(seconds) = &self {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, (*seconds).max(1).into());
        }
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

impl From<simledger_commands::CommandError> for ApiError {
    fn from(e: simledger_commands::CommandError) -> Self {
        use simledger_commands::CommandError as C;
        match e {
            C::NotFound { .. } => Self::NotFound(e.to_string()),
            C::InvalidParameter { .. } => Self::invalid(e.to_string()),
            C::Rule { code, message } => Self::Rule { code, status: StatusCode::BAD_REQUEST, message },
            C::Conflict(m) | C::Duplicate(m) => Self::Conflict(m),
            C::Missing(params) => Self::missing(&params.join(", "), true),
            C::Refused(m) => Self::invalid(m),
            C::NotVisible(_) => Self::Unavailable(e.to_string()),
            C::EventLog(inner) => inner.into(),
            C::Database(inner) => inner.into(),
        }
    }
}

/// The `/v1/Billing` mirror of the CGrateS methods: the same failures, as Twilio words them.
impl From<crate::jsonrpc::RpcError> for ApiError {
    fn from(e: crate::jsonrpc::RpcError) -> Self {
        use crate::jsonrpc::RpcError as R;
        match e {
            R::NotFound => Self::NotFound("The requested resource was not found".into()),
            R::Exists => Self::Conflict("The resource exists; send Overwrite to replace it".into()),
            R::Missing(fields) => Self::invalid(format!("Missing required parameter {}", fields.join(" "))),
            R::Unauthorized => Self::Forbidden,
            // Logged with its cause where it happened; the caller learns nothing of our database.
            R::Internal => Self::Internal(Box::new(e)),
            R::Code(message) | R::Refused(message) => Self::invalid(message),
            R::NoSuchMethod(_) => Self::invalid(e.to_string()),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        Self::Internal(Box::new(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jsonrpc::RpcError;

    /// One failure, two dialects: CGrateS's bare string and Twilio's status and code.
    #[test]
    fn a_billing_failure_reads_as_cgrates_words_it_and_as_twilio_answers_it() {
        let cases = [
            (RpcError::NotFound, "NOT_FOUND", StatusCode::NOT_FOUND),
            (RpcError::Exists, "ERR_EXISTS", StatusCode::CONFLICT),
            (
                RpcError::missing(&["Account", "BalanceType"]),
                "MANDATORY_IE_MISSING: [Account BalanceType]",
                StatusCode::BAD_REQUEST,
            ),
            (RpcError::Unauthorized, "UNAUTHORIZED", StatusCode::FORBIDDEN),
            (RpcError::Code("INSUFFICIENT_CREDIT".into()), "INSUFFICIENT_CREDIT", StatusCode::BAD_REQUEST),
            (RpcError::server("not a timing"), "SERVER_ERROR: not a timing", StatusCode::BAD_REQUEST),
            (RpcError::Internal, "SERVER_ERROR: internal error", StatusCode::INTERNAL_SERVER_ERROR),
        ];
        for (error, cgrates, status) in cases {
            assert_eq!(error.to_string(), cgrates);
            assert_eq!(ApiError::from(error).parts().0, status, "{cgrates}");
        }
    }

    #[test]
    fn a_database_failure_is_internal_in_both_dialects_and_carries_no_database_text() {
        let refused =
            simledger_commands::CommandError::Database(sqlx::Error::Protocol("relation \"x\" does not exist".into()));
        let rpc = RpcError::from(refused);
        assert_eq!(rpc.to_string(), "SERVER_ERROR: internal error");
        let api = ApiError::from(rpc);
        assert_eq!(api.parts().0, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!api.to_string().contains("relation"), "{api}");
    }
}
