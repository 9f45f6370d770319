use crate::Position;

#[derive(Debug, thiserror::Error)]
pub enum EventLogError {
    #[error("stream {stream} is at version {actual}, expected {expected}")]
    Conflict { stream: String, expected: String, actual: i32 },
    /// Another worker of the same subscriber moved its checkpoint first.
    #[error("checkpoint {name} is at position {actual}, expected {expected}")]
    CheckpointMoved { name: String, expected: Position, actual: Position },
    #[error("event at position {position} has unknown type {event_type:?}")]
    UnknownEventType { position: Position, event_type: String },
    #[error("event at position {position} ({event_type}) does not match its schema: {reason}")]
    Malformed { position: Position, event_type: String, reason: String },
    /// No event at `after + 1` though the log goes on to `next`: a hole in positions, which the
    /// append path never makes (a row written by hand, a damaged table). Stopping beats
    /// skipping it silently.
    #[error("the log has no event after position {after}, yet it goes on to position {next}")]
    Gap { after: Position, next: Position },
    #[error("event payload is {size} bytes; the limit is {limit}")]
    PayloadTooLarge { size: usize, limit: usize },
    #[error("invalid event: {0}")]
    InvalidEvent(String),
    #[error("invalid append: {0}")]
    InvalidBatch(String),
    /// The group's transaction failed (database unreachable, restarting…). Nothing of it was
    /// committed, or its commit could not be confirmed: retrying is safe, appends are idempotent.
    #[error("the group commit failed: {0}")]
    CommitFailed(String),
    #[error("the appender task has stopped")]
    AppenderStopped,
    #[error("the subscription's reader task has stopped")]
    ReaderStopped,
    #[error("subscriber {name} failed: {source}")]
    Handler { name: String, source: Box<dyn std::error::Error + Send + Sync> },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The binary COPY a page of the log is read with does not parse.
    #[error("reading the log: {0}")]
    CopyFormat(#[from] crate::copy::CopyFormatError),
}

impl EventLogError {
    /// Whether retrying the same call may succeed. Only the database's verdict on the request's
    /// own data is final (SQLSTATE classes 22, data exception, and 23, integrity constraint):
    /// anything else — no connection, a database not accepting connections, a restart, a
    /// serialisation conflict, an error of a kind not known here — may pass. A retried append is
    /// safe: it is idempotent by event id.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Database(e) => !is_refusal_of_the_data(e),
            Self::AppenderStopped | Self::CommitFailed(_) => true,
            _ => false,
        }
    }
}

/// Whether the database refused the request's own data (SQLSTATE classes 22, data exception,
/// and 23, integrity constraint): the one database verdict that the same request meets again.
pub fn is_refusal_of_the_data(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.code().is_some_and(|c| c.starts_with("22") || c.starts_with("23")))
}

/// An error and its causes, `what: why: why…`, each said once: for logs and dead letters.
pub fn cause_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        let next = e.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        cause = e.source();
    }
    text
}
