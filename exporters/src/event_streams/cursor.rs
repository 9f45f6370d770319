//! Each sink's delivery cursor (`sink_cursors`): the log position up to which every event of
//! its subscription was acknowledged by the receiver. It moves only after an acknowledgement,
//! so a crash repeats at most the request that was under way and never skips one.

use std::time::Duration;

use simledger_eventlog::Position;
use sqlx::PgPool;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub position: Position,
    /// Bumped by every rewind; an advance made from an older generation is refused.
    pub generation: i64,
}

/// The sink's cursor, created at `initial` the first time the sink is served.
pub async fn start(pool: &PgPool, sink_sid: &str, shard: i32, initial: Position) -> sqlx::Result<Cursor> {
    sqlx::query("INSERT INTO sink_cursors (sink_sid, shard, position) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
        .bind(sink_sid)
        .bind(shard)
        .bind(initial)
        .execute(pool)
        .await?;
    let (position, generation): (i64, i64) =
        sqlx::query_as("SELECT position, generation FROM sink_cursors WHERE sink_sid = $1")
            .bind(sink_sid)
            .fetch_one(pool)
            .await?;
    Ok(Cursor { position, generation })
}

/// Moves the cursor from `from` to `to` after `delivered` events were acknowledged, and clears
/// any failure. `false` when the cursor was rewound meanwhile (the caller starts again from it).
pub async fn advance(pool: &PgPool, sink_sid: &str, from: Cursor, to: Position, delivered: i64) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE sink_cursors SET position = $4, delivered = delivered + $5, failing_since = NULL, failed = false, \
         last_error = NULL, last_delivered_at = CASE WHEN $5 > 0 THEN now() ELSE last_delivered_at END, \
         updated_at = now() WHERE sink_sid = $1 AND position = $2 AND generation = $3",
    )
    .bind(sink_sid)
    .bind(from.position)
    .bind(from.generation)
    .bind(to)
    .bind(delivered)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records a failed attempt; the sink turns `failed` once attempts have kept failing for
/// `fail_after`. Returns whether it is `failed` now.
pub async fn record_failure(pool: &PgPool, sink_sid: &str, error: &str, fail_after: Duration) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "UPDATE sink_cursors SET failures = failures + 1, failing_since = COALESCE(failing_since, now()), \
         last_error = $2, failed = COALESCE(failing_since, now()) <= now() - make_interval(secs => $3), \
         updated_at = now() WHERE sink_sid = $1 RETURNING failed",
    )
    .bind(sink_sid)
    .bind(error)
    .bind(fail_after.as_secs_f64())
    .fetch_optional(pool)
    .await
    .map(|f| f.unwrap_or(false))
}

/// Sets an account's sink's cursor to `position` (a rewind, or a skip forward), so delivery
/// resumes after it. `None` when the account has no such sink or it was never served.
pub async fn rewind(
    pool: &PgPool,
    account_sid: &str,
    sink_sid: &str,
    position: Position,
) -> sqlx::Result<Option<Cursor>> {
    sqlx::query_as::<_, (i64, i64)>(
        "UPDATE sink_cursors c SET position = $3, generation = c.generation + 1, updated_at = now() \
         FROM es_sinks s WHERE s.sink_sid = c.sink_sid AND s.account_sid = $1 AND c.sink_sid = $2 \
         RETURNING c.position, c.generation",
    )
    .bind(account_sid)
    .bind(sink_sid)
    .bind(position)
    .fetch_optional(pool)
    .await
    .map(|r| r.map(|(position, generation)| Cursor { position, generation }))
}

/// A sink's delivery figures, as `/metrics` and the API show them.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct CursorStatus {
    pub sink_sid: String,
    pub position: Position,
    pub delivered: i64,
    pub failures: i64,
    pub failed: bool,
    pub last_error: Option<String>,
    pub last_delivered_at: Option<chrono::DateTime<chrono::Utc>>,
}

pub async fn status(pool: &PgPool, account_sid: &str, sink_sid: &str) -> sqlx::Result<Option<CursorStatus>> {
    sqlx::query_as(
        "SELECT c.sink_sid, c.position, c.delivered, c.failures, c.failed, c.last_error, c.last_delivered_at \
         FROM sink_cursors c JOIN es_sinks s USING (sink_sid) WHERE s.account_sid = $1 AND c.sink_sid = $2",
    )
    .bind(account_sid)
    .bind(sink_sid)
    .fetch_optional(pool)
    .await
}
