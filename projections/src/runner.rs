use std::time::Duration;

use simledger_eventlog::checkpoint;
use simledger_eventlog::{EventLog, EventLogError, Position};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::{Projection, ProjectionError, Subscriber};

const BATCH: i64 = 2000;

/// A projection running in the background, and how far it has got.
pub struct ProjectionHandle {
    pub name: &'static str,
    pub progress: watch::Receiver<Position>,
    pub task: JoinHandle<()>,
}

impl ProjectionHandle {
    /// Waits until the projection has applied `position` (read-your-writes).
    pub async fn reached(&self, position: Position) -> bool {
        self.progress.clone().wait_for(|p| *p >= position).await.is_ok()
    }
}

/// Runs a projection for ever, restarting it from its checkpoint after a failure. A batch that
/// failed was rolled back with its checkpoint, so the restart applies it again, once.
pub fn spawn<P: Projection + Clone + Send>(log: EventLog, name: &'static str, projection: P) -> ProjectionHandle {
    spawn_subscriber(log, name, projection, P::BATCH)
}

/// [`spawn`] for any checkpointed subscriber (the deciders too), `batch` events at a time.
pub fn spawn_subscriber<S: Subscriber + Clone + Send + 'static>(
    log: EventLog,
    name: &'static str,
    subscriber: S,
    batch: i64,
) -> ProjectionHandle {
    let (tx, progress) = watch::channel(0);
    let task = tokio::spawn(async move {
        let mut backoff = Duration::from_millis(100);
        loop {
            let run = checkpoint::run_checkpointed(log.clone(), subscriber.clone(), batch, tx.clone()).await;
            match run {
                // Another worker (another process, or a replay) moved the checkpoint: normal.
                Err(EventLogError::CheckpointMoved { actual, .. }) => {
                    tracing::debug!(projection = name, position = actual, "another worker advanced; resuming from it");
                    backoff = Duration::from_millis(10);
                }
                Err(e) => {
                    tracing::error!(projection = name, error = %simledger_eventlog::error::cause_chain(&e), "projection stopped; restarting from its checkpoint");
                    metrics::counter!("simledger_projection_restarts_total", "projection" => name).increment(1);
                }
                Ok(()) => {}
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(10));
        }
    });
    ProjectionHandle { name, progress, task }
}

/// Rebuilds a projection from position 0 in one transaction: its tables are emptied and every
/// event re-applied, so readers see the old tables until the new ones are complete. A live
/// worker of the same projection fails its next checkpoint advance and resumes after the replay.
///
/// An event the projection cannot apply is dead-lettered, as in a live run; the projection's
/// earlier dead letters go, since their events are applied again.
pub async fn replay<P: Projection + Clone>(log: &EventLog, projection: P) -> Result<Position, ProjectionError> {
    let mut tx = log.pool().begin().await?;
    let name = projection.name().to_owned();
    checkpoint::rewind(&mut tx, &name, log.shard()).await?;
    simledger_eventlog::dead_letter::clear(&mut tx, &name, log.shard()).await?;
    let tables = P::TABLES.join(", ");
    sqlx::query(&format!("TRUNCATE {tables}")).execute(&mut *tx).await?;
    let mut worker = projection.clone();
    let mut at = 0;
    // The next page is read while this one is applied.
    let mut pages = log.pages(0, BATCH);
    while let Some(events) = pages.next().await? {
        let to = events.last().map_or(at, |e| e.position);
        checkpoint::apply_or_dead_letter(&mut tx, &projection, &mut worker, &events).await?;
        at = to;
    }
    checkpoint::advance(&mut tx, &name, log.shard(), 0, at).await?;
    tx.commit().await?;
    Ok(at)
}

/// Every row of a projection's tables as sorted JSON text: two states compare equal exactly when
/// the tables hold the same rows (what a replay must reproduce).
pub async fn snapshot<P: Projection>(pool: &sqlx::PgPool) -> Result<Vec<String>, ProjectionError> {
    let mut out = Vec::new();
    for table in P::TABLES {
        // Table names are the projection's own constants, never input.
        let rows: Vec<String> = sqlx::query_scalar(&format!("SELECT row_to_json(t)::text FROM {table} t ORDER BY 1"))
            .fetch_all(pool)
            .await?;
        out.push(format!("{table}: {rows:?}"));
    }
    Ok(out)
}
