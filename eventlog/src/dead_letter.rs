//! Events a subscriber cannot apply. One bad event (an overflowing amount, a value the
//! database refuses, a panic in a fold) must not stop a worker every tenant shares, nor make
//! it hit the same event after every restart: the event is recorded here with the reason, the
//! subscriber's checkpoint moves past it, and the worker goes on. Only failures known to recur
//! are dead letters (see [`is_permanent`]); any other (the database unreachable, a peer that
//! timed out, an error of an unknown kind) makes the worker restart from its checkpoint and
//! try again, as before.

use std::any::Any;
use std::error::Error;

use sqlx::PgConnection;

use crate::checkpoint::ApplyError;
use crate::{EventLogError, RecordedEvent, Result};

/// Why a batch or an event failed, as far as what to do next is concerned.
pub(crate) enum Failure {
    /// Retrying may succeed; nothing is skipped.
    Transient(EventLogError),
    /// The same input fails the same way every time.
    Permanent(String),
}

/// A fold's own verdict that an event cannot be applied, whatever is retried: return it (as
/// [`ApplyError::Unapplicable`]) from [`crate::checkpoint::Subscriber::apply`] to have the event dead-lettered.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Unapplicable(pub String);

/// Whether `error` will recur when the same event is applied again: database data and
/// constraint errors (SQLSTATE classes 22 and 23), values that do not decode, malformed events,
/// JSON that does not parse, and a fold's own [`Unapplicable`]. Anything else — a database that
/// cannot be reached, a NATS request that timed out, an object store that throttles, an error
/// of a kind not known here — may pass, so the worker retries rather than skip the event.
pub fn is_permanent(error: &(dyn Error + 'static)) -> bool {
    let mut cause: Option<&(dyn Error + 'static)> = Some(error);
    while let Some(e) = cause {
        if let Some(apply) = e.downcast_ref::<ApplyError>() {
            return apply.is_permanent();
        }
        if let Some(db) = e.downcast_ref::<sqlx::Error>() {
            return database_is_permanent(db);
        }
        if let Some(log) = e.downcast_ref::<EventLogError>() {
            if let Some(permanent) = log_is_permanent(log) {
                return permanent;
            }
        }
        if e.downcast_ref::<Unapplicable>().is_some() || e.downcast_ref::<serde_json::Error>().is_some() {
            return true;
        }
        cause = e.source();
    }
    false
}

pub(crate) fn database_is_permanent(db: &sqlx::Error) -> bool {
    crate::error::is_refusal_of_the_data(db)
        || matches!(db, sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) | sqlx::Error::Encode(_))
}

/// `None` when the answer lies in the error's cause (a database or handler error).
pub(crate) fn log_is_permanent(log: &EventLogError) -> Option<bool> {
    match log {
        EventLogError::Database(_) | EventLogError::Handler { .. } => None,
        EventLogError::UnknownEventType { .. }
        | EventLogError::Malformed { .. }
        | EventLogError::PayloadTooLarge { .. }
        | EventLogError::InvalidEvent(_)
        | EventLogError::InvalidBatch(_) => Some(true),
        _ => Some(false),
    }
}

pub(crate) fn classify(error: ApplyError, name: &str) -> Failure {
    if error.is_permanent() {
        Failure::Permanent(crate::error::cause_chain(&error))
    } else {
        Failure::Transient(EventLogError::Handler { name: name.to_owned(), source: Box::new(error) })
    }
}

/// A panic's message, for the dead letter.
pub(crate) fn panic_message(panic: Box<dyn Any + Send>) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned());
    format!("panicked: {text}")
}

/// Records that `name` skipped `event` because of `reason`, in the caller's transaction (the
/// one that also moves the checkpoint past it).
pub(crate) async fn record(conn: &mut PgConnection, name: &str, event: &RecordedEvent, reason: &str) -> Result<()> {
    // The reason is ours, but it may quote the event's content: keep it storable and short.
    let reason: String = reason.replace('\0', "\u{FFFD}").chars().take(2000).collect();
    sqlx::query(
        "INSERT INTO dead_letters (subscriber, shard, position, event_id, event_type, reason) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (subscriber, shard, position) DO UPDATE SET reason = $6",
    )
    .bind(name)
    .bind(event.shard)
    .bind(event.position)
    .bind(event.event_id)
    .bind(event.event.event_type())
    .bind(&reason)
    .execute(conn)
    .await?;
    tracing::error!(
        subscriber = name,
        position = event.position,
        event_id = %event.event_id,
        event_type = event.event.event_type(),
        reason = %reason,
        "an event this subscriber cannot apply was dead-lettered and skipped"
    );
    metrics::counter!("simledger_dead_letters_total", "subscriber" => name.to_owned()).increment(1);
    Ok(())
}

/// A subscriber's dead letters, oldest first.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct DeadLetter {
    pub subscriber: String,
    pub shard: i32,
    pub position: i64,
    pub event_id: uuid::Uuid,
    pub event_type: String,
    pub reason: String,
    pub recorded_at: chrono::DateTime<chrono::Utc>,
}

/// Every dead letter, or `subscriber`'s only, oldest first, at most `limit`.
pub async fn list(pool: &sqlx::PgPool, subscriber: Option<&str>, limit: i64) -> Result<Vec<DeadLetter>> {
    Ok(sqlx::query_as(
        "SELECT subscriber, shard, position, event_id, event_type, reason, recorded_at FROM dead_letters \
         WHERE $1::text IS NULL OR subscriber = $1 ORDER BY recorded_at, position LIMIT $2",
    )
    .bind(subscriber)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// Forgets `subscriber`'s dead letters on `shard` (a replay applies their events again).
pub async fn clear(conn: &mut PgConnection, subscriber: &str, shard: i32) -> Result<()> {
    sqlx::query("DELETE FROM dead_letters WHERE subscriber = $1 AND shard = $2")
        .bind(subscriber)
        .bind(shard)
        .execute(conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reset() -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset")
    }

    #[test]
    fn what_recurs_is_permanent_and_what_may_pass_is_not() {
        let bad_json = serde_json::from_str::<u8>("x").unwrap_err();
        assert!(ApplyError::from(Unapplicable("overflow".into())).is_permanent());
        assert!(ApplyError::from(bad_json).is_permanent());
        assert!(ApplyError::from(sqlx::Error::Decode("bad".into())).is_permanent());
        assert!(!ApplyError::from(sqlx::Error::PoolTimedOut).is_permanent());
        assert!(!ApplyError::other("a peer", reset()).is_permanent());
        // The kind is found through what wraps it.
        assert!(ApplyError::other("the exporter", sqlx::Error::Decode("bad".into())).is_permanent());
        let handler = EventLogError::Handler {
            name: "x".into(),
            source: Box::new(ApplyError::from(Unapplicable("overflow".into()))),
        };
        assert!(ApplyError::from(handler).is_permanent());
        let handler = EventLogError::Handler { name: "x".into(), source: Box::new(ApplyError::other("NATS", reset())) };
        assert!(!ApplyError::from(handler).is_permanent());
    }

    #[test]
    fn a_dead_letter_names_the_whole_cause_chain() {
        let e = ApplyError::other("the exporter", sqlx::Error::Decode("bad amount".into()));
        let Failure::Permanent(reason) = classify(e, "x") else { panic!("permanent") };
        assert!(reason.starts_with("the exporter: ") && reason.contains("bad amount"), "{reason}");
    }
}
