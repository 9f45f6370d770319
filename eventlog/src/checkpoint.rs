//! Subscriber checkpoints, committed in the same transaction as the subscriber's own writes, so
//! a crash leaves either both or neither: a batch is applied exactly once.

use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;

use sqlx::PgConnection;
use tokio::sync::{mpsc, watch};

use crate::dead_letter::{self, Failure};
use crate::{EventLog, EventLogError, Position, RecordedEvent, Result};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why a [`Subscriber`] could not apply a batch. The kind decides what happens next: an error
/// that recurs on the same input makes the event a dead letter, any other restarts the worker
/// from its checkpoint ([`ApplyError::is_permanent`]).
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("database")]
    Database(#[from] sqlx::Error),
    #[error("event log")]
    Log(#[from] EventLogError),
    #[error("JSON")]
    Json(#[from] serde_json::Error),
    /// The fold's own verdict on an event.
    #[error(transparent)]
    Unapplicable(#[from] dead_letter::Unapplicable),
    /// Anything else, named by what failed: a service the subscriber calls (NATS, an object
    /// store, a customer's URL), a document it writes.
    #[error("{what}")]
    Other {
        what: &'static str,
        #[source]
        source: BoxError,
    },
}

impl ApplyError {
    /// Names a failure of another kind: `what` failed because of `source`.
    pub fn other(what: &'static str, source: impl Into<BoxError>) -> Self {
        Self::Other { what, source: source.into() }
    }

    /// Whether applying the same events again fails the same way.
    pub fn is_permanent(&self) -> bool {
        match self {
            Self::Database(db) => dead_letter::database_is_permanent(db),
            Self::Log(log) => match dead_letter::log_is_permanent(log) {
                Some(permanent) => permanent,
                None => std::error::Error::source(log).is_some_and(dead_letter::is_permanent),
            },
            Self::Json(_) | Self::Unapplicable(_) => true,
            Self::Other { source, .. } => dead_letter::is_permanent(&**source),
        }
    }
}

/// The position `name` has consumed up to on `shard` (0 if it never ran).
pub async fn load(conn: &mut PgConnection, name: &str, shard: i32) -> Result<Position> {
    Ok(sqlx::query_scalar("SELECT position FROM checkpoints WHERE name = $1 AND shard = $2")
        .bind(name)
        .bind(shard)
        .fetch_optional(conn)
        .await?
        .unwrap_or(0))
}

/// Locks `name`'s checkpoint for the caller's transaction and checks it is still at `at`. A batch
/// takes this lock before applying anything, so two workers of one subscriber take turns: the
/// second waits for the first to commit, then finds the checkpoint moved and resumes from it,
/// instead of applying the same events and failing on its own tables.
pub async fn claim(conn: &mut PgConnection, name: &str, shard: i32, at: Position) -> Result<()> {
    let stored: Option<i64> =
        sqlx::query_scalar("SELECT position FROM checkpoints WHERE name = $1 AND shard = $2 FOR UPDATE")
            .bind(name)
            .bind(shard)
            .fetch_optional(&mut *conn)
            .await?;
    let actual = stored.unwrap_or(0);
    if actual != at {
        return Err(EventLogError::CheckpointMoved { name: name.to_owned(), expected: at, actual });
    }
    Ok(())
}

/// Moves `name` from `from` to `to` inside the caller's transaction. Fails with a conflict if the
/// stored checkpoint is not `from` (another instance of the same subscriber got there first), so
/// two workers of one projection can never both apply a batch.
pub async fn advance(conn: &mut PgConnection, name: &str, shard: i32, from: Position, to: Position) -> Result<()> {
    claim(&mut *conn, name, shard, from).await?;
    sqlx::query(
        "INSERT INTO checkpoints (name, shard, position, updated_at) VALUES ($1, $2, $3, now()) \
         ON CONFLICT (name, shard) DO UPDATE SET position = EXCLUDED.position, updated_at = now()",
    )
    .bind(name)
    .bind(shard)
    .bind(to)
    .execute(conn)
    .await?;
    Ok(())
}

/// [`advance`] for a caller whose transaction already holds the checkpoint by [`claim`] at
/// `from`: one statement, which still refuses a checkpoint that is not at `from`.
pub async fn advance_claimed(
    conn: &mut PgConnection,
    name: &str,
    shard: i32,
    from: Position,
    to: Position,
) -> Result<()> {
    let moved = sqlx::query(
        "UPDATE checkpoints SET position = $4, updated_at = now() WHERE name = $1 AND shard = $2 AND position = $3",
    )
    .bind(name)
    .bind(shard)
    .bind(from)
    .bind(to)
    .execute(&mut *conn)
    .await?;
    if moved.rows_affected() != 1 {
        let actual = load(conn, name, shard).await?;
        return Err(EventLogError::CheckpointMoved { name: name.to_owned(), expected: from, actual });
    }
    Ok(())
}

/// Sets `name`'s checkpoint back to 0 inside the caller's transaction (a replay). The row stays
/// locked until that transaction ends, so a live worker of the same subscriber waits, then fails
/// its next advance and resumes from wherever the replay left the checkpoint.
pub async fn rewind(conn: &mut PgConnection, name: &str, shard: i32) -> Result<()> {
    sqlx::query(
        "INSERT INTO checkpoints (name, shard, position) VALUES ($1, $2, 0) \
         ON CONFLICT (name, shard) DO UPDATE SET position = 0, updated_at = now()",
    )
    .bind(name)
    .bind(shard)
    .execute(conn)
    .await?;
    Ok(())
}

/// Something that consumes the log and keeps its own tables.
pub trait Subscriber: Send {
    /// The checkpoint's name; stable across releases.
    fn name(&self) -> &str;

    /// Applies a batch in order, writing only through `tx` (the transaction that will also hold
    /// the checkpoint).
    fn apply(
        &mut self,
        tx: &mut PgConnection,
        events: &[RecordedEvent],
    ) -> impl Future<Output = std::result::Result<(), ApplyError>> + Send;
}

/// Runs `subscriber` from its checkpoint for ever: catch up, then follow live. Each batch and
/// its checkpoint commit together. `progress` is told the position reached after each commit
/// (read-your-writes waits on it).
///
/// A batch that fails for good (see [`dead_letter::is_permanent`]; a panic counts) is applied
/// again one event at a time, each by a fresh clone of `subscriber` (the failed one may hold
/// half-applied state): the event that still fails is dead-lettered and skipped, the others
/// are applied. A failure that may pass is returned, and the caller restarts from the
/// checkpoint.
///
/// Its processor time, reading included, counts to the subscriber's name (`simledger_cputime`).
pub async fn run_checkpointed<S: Subscriber + Clone>(
    log: EventLog,
    subscriber: S,
    batch: i64,
    progress: watch::Sender<Position>,
) -> Result<()> {
    let stage = simledger_cputime::stage(subscriber.name());
    simledger_cputime::metered(stage, follow(log, subscriber, batch, progress, stage)).await
}

async fn follow<S: Subscriber + Clone>(
    log: EventLog,
    subscriber: S,
    batch: i64,
    progress: watch::Sender<Position>,
    stage: &'static str,
) -> Result<()> {
    let shard = log.shard();
    let name = subscriber.name().to_owned();
    let mut conn = log.pool().acquire().await?;
    // The row exists from the start, so that `claim` always has something to lock.
    sqlx::query("INSERT INTO checkpoints (name, shard, position) VALUES ($1, $2, 0) ON CONFLICT DO NOTHING")
        .bind(&name)
        .bind(shard)
        .execute(&mut *conn)
        .await?;
    let start = load(&mut conn, &name, shard).await?;
    drop(conn);
    progress.send_replace(start);
    let mut batches = ReadAhead::start(stage, log.subscribe(start, batch).await?);
    let mut worker = subscriber.clone();
    let mut at = start;
    loop {
        let (events, to) = batches.next().await?;
        match apply_committed(&log, &mut worker, &name, at, &events, to).await {
            Ok(()) => {}
            Err(Failure::Transient(e)) => return Err(e),
            Err(Failure::Permanent(reason)) => {
                tracing::warn!(subscriber = %name, from = at, to, %reason, "a batch failed; applying it event by event");
                worker = subscriber.clone();
                for event in &events {
                    let one = std::slice::from_ref(event);
                    match apply_committed(&log, &mut worker, &name, at, one, event.position).await {
                        Ok(()) => {}
                        Err(Failure::Transient(e)) => return Err(e),
                        Err(Failure::Permanent(reason)) => {
                            worker = subscriber.clone();
                            let mut tx = log.pool().begin().await?;
                            claim(&mut tx, &name, shard, at).await?;
                            dead_letter::record(&mut tx, &name, event, &reason).await?;
                            advance_claimed(&mut tx, &name, shard, at, event.position).await?;
                            tx.commit().await?;
                        }
                    }
                    at = event.position;
                }
                if at < to {
                    let mut tx = log.pool().begin().await?;
                    advance(&mut tx, &name, shard, at, to).await?;
                    tx.commit().await?;
                }
            }
        }
        at = to;
        metrics::gauge!("simledger_subscriber_position", "subscriber" => name.clone()).set(to as f64);
        progress.send_replace(to);
    }
}

/// Applies `events` and moves the checkpoint from `at` to `to` in one transaction.
async fn apply_committed<S: Subscriber>(
    log: &EventLog,
    subscriber: &mut S,
    name: &str,
    at: Position,
    events: &[RecordedEvent],
    to: Position,
) -> std::result::Result<(), Failure> {
    let shard = log.shard();
    let mut tx = log.pool().begin().await.map_err(|e| Failure::Transient(e.into()))?;
    claim(&mut tx, name, shard, at).await.map_err(Failure::Transient)?;
    apply_guarded(subscriber, &mut tx, events, name).await?;
    advance_claimed(&mut tx, name, shard, at, to).await.map_err(Failure::Transient)?;
    tx.commit().await.map_err(|e| Failure::Transient(e.into()))
}

/// Applies `events` inside the caller's transaction `tx` as [`run_checkpointed`] does, for a
/// run that is one transaction (a replay): a batch that fails for good is rolled back to a
/// savepoint and applied event by event by fresh clones of `template`, and the event that
/// still fails is dead-lettered. `worker` is the subscriber applying, replaced by a clone of
/// `template` after any failure.
pub async fn apply_or_dead_letter<S: Subscriber + Clone>(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    template: &S,
    worker: &mut S,
    events: &[RecordedEvent],
) -> Result<()> {
    let name = template.name().to_owned();
    let mut savepoint = sqlx::Acquire::begin(&mut *tx).await?;
    match apply_guarded(worker, &mut savepoint, events, &name).await {
        Ok(()) => return Ok(savepoint.commit().await?),
        Err(Failure::Transient(e)) => return Err(e),
        Err(Failure::Permanent(_)) => savepoint.rollback().await?,
    }
    *worker = template.clone();
    for event in events {
        let mut savepoint = sqlx::Acquire::begin(&mut *tx).await?;
        match apply_guarded(worker, &mut savepoint, std::slice::from_ref(event), &name).await {
            Ok(()) => savepoint.commit().await?,
            Err(Failure::Transient(e)) => return Err(e),
            Err(Failure::Permanent(reason)) => {
                savepoint.rollback().await?;
                *worker = template.clone();
                dead_letter::record(&mut *tx, &name, event, &reason).await?;
            }
        }
    }
    Ok(())
}

/// Applies a batch, turning an error or a panic into a [`Failure`].
pub(crate) async fn apply_guarded<S: Subscriber>(
    subscriber: &mut S,
    tx: &mut PgConnection,
    events: &[RecordedEvent],
    name: &str,
) -> std::result::Result<(), Failure> {
    match AssertUnwindSafe(subscriber.apply(tx, events)).catch_unwind().await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(dead_letter::classify(e, name)),
        Err(panic) => Err(Failure::Permanent(dead_letter::panic_message(panic))),
    }
}

/// A batch and the position it ends at.
type Batch = (Vec<RecordedEvent>, Position);

/// Reads the next batch while the current one is applied, so a subscriber that is behind does
/// not wait for the database twice per batch. One batch is read ahead at most; the reader stops
/// with its owner.
struct ReadAhead {
    batches: mpsc::Receiver<Result<Batch>>,
    reader: tokio::task::JoinHandle<()>,
}

impl ReadAhead {
    /// Its reading counts to the subscriber's own processor time (`stage`).
    fn start(stage: &'static str, mut subscription: crate::Subscription) -> Self {
        let (tx, batches) = mpsc::channel(1);
        let reader = tokio::spawn(simledger_cputime::metered(stage, async move {
            loop {
                let next = subscription.next_batch().await.map(|events| (events, subscription.position()));
                let failed = next.is_err();
                if tx.send(next).await.is_err() || failed {
                    return;
                }
            }
        }));
        Self { batches, reader }
    }

    async fn next(&mut self) -> Result<Batch> {
        self.batches.recv().await.ok_or(EventLogError::ReaderStopped)?
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        self.reader.abort();
    }
}
