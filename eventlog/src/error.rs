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
}

impl EventLogError {
    /// Whether retrying the same call may succeed (the database was unreachable or busy). A
    /// retried append is safe: it is idempotent by event id.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Database(e) => !matches!(e, sqlx::Error::Database(_)) || is_passing(e),
            Self::AppenderStopped | Self::CommitFailed(_) => true,
            _ => false,
        }
    }
}

/// A database error that says nothing about the request: a serialisation failure or deadlock
/// (40), a lost connection (08), too few resources (53), a shutdown or restart (57), a system
/// or internal error (58, XX), a lock not available (55P03).
fn is_passing(e: &sqlx::Error) -> bool {
    let sqlx::Error::Database(d) = e else { return false };
    let code = d.code().unwrap_or_default();
    ["40", "08", "53", "57", "58", "XX"].iter().any(|class| code.starts_with(class)) || code == "55P03"
}
