//! Subscriber checkpoints, committed in the same transaction as the subscriber's own writes, so
//! a crash leaves either both or neither: a batch is applied exactly once.

use std::future::Future;

use sqlx::PgConnection;
use tokio::sync::{mpsc, watch};

use crate::{EventLog, EventLogError, Position, RecordedEvent, Result};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

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
    ) -> impl Future<Output = std::result::Result<(), BoxError>> + Send;
}

/// Runs `subscriber` from its checkpoint for ever: catch up, then follow live. Each batch and
/// its checkpoint commit together. `progress` is told the position reached after each commit
/// (read-your-writes waits on it).
pub async fn run_checkpointed<S: Subscriber>(
    log: EventLog,
    mut subscriber: S,
    batch: i64,
    progress: watch::Sender<Position>,
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
    let mut batches = ReadAhead::start(log.subscribe(start, batch).await?);
    let mut at = start;
    loop {
        let (events, to) = batches.next().await?;
        let mut tx = log.pool().begin().await?;
        claim(&mut tx, &name, shard, at).await?;
        subscriber
            .apply(&mut tx, &events)
            .await
            .map_err(|source| EventLogError::Handler { name: name.clone(), source })?;
        advance(&mut tx, &name, shard, at, to).await?;
        tx.commit().await?;
        at = to;
        metrics::gauge!("simledger_subscriber_position", "subscriber" => name.clone()).set(to as f64);
        progress.send_replace(to);
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
    fn start(mut subscription: crate::Subscription) -> Self {
        let (tx, batches) = mpsc::channel(1);
        let reader = tokio::spawn(async move {
            loop {
                let next = subscription.next_batch().await.map(|events| (events, subscription.position()));
                let failed = next.is_err();
                if tx.send(next).await.is_err() || failed {
                    return;
                }
            }
        });
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
