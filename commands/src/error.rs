use simledger_eventlog::{EventLogError, Position};

/// Why a command was refused. Codes are Twilio's: 83xxx for Super SIM rules.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("The requested resource {what} {id} was not found")]
    NotFound { what: &'static str, id: String },
    #[error("Invalid parameter {param}: {message}")]
    InvalidParameter { param: &'static str, message: String },
    #[error("{message}")]
    Rule { code: u32, message: String },
    #[error("{0}")]
    Conflict(String),
    /// Mandatory fields left out (CGrateS's `MANDATORY_IE_MISSING`).
    #[error("Missing required parameter {}", .0.join(", "))]
    Missing(Vec<&'static str>),
    /// Billing refused the change; the text is CGrateS's (`INSUFFICIENT_CREDIT`, …).
    #[error("{0}")]
    Refused(String),
    /// The thing was recorded before (CGrateS's `ERR_EXISTS`).
    #[error("{0}")]
    Duplicate(String),
    #[error("the change was recorded at position {0} but is not visible yet")]
    NotVisible(Position),
    #[error(transparent)]
    EventLog(#[from] EventLogError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

impl CommandError {
    pub(crate) fn rule(code: u32, message: impl Into<String>) -> Self {
        Self::Rule { code, message: message.into() }
    }

    pub(crate) fn invalid(param: &'static str, message: impl Into<String>) -> Self {
        Self::InvalidParameter { param, message: message.into() }
    }
}

/// A SID read back from our own tables: one that does not parse is damage, not input.
pub(crate) fn stored_sid<K: simledger_ids::SidKind>(text: &str) -> Result<simledger_ids::Sid<K>, CommandError> {
    simledger_ids::Sid::parse(text).map_err(|e| CommandError::Database(sqlx::Error::Decode(e.into())))
}
