//! Snapshots of the core's views, so a node's start-up does not grow with the log: a start
//! loads the latest snapshot and follows the log from its position, instead of from 0.
//!
//! The feeder takes one every [`SNAPSHOT_EVERY`] events it applies (and the bench on demand),
//! serialising the views under their read locks with the position they hold, so a snapshot is
//! exactly "the views at position p". Snapshots are a cache, not a source: dropping the table
//! (or a new [`FORMAT`]) only makes the next start replay from 0.

use serde::{Deserialize, Serialize};
use simledger_eventlog::Position;
use sqlx::PgPool;

use crate::views::{EsimView, LimitsView, SessionsView, SubscriberView};

/// Reading or writing a snapshot failed: either only costs a replay from an older position.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("snapshot data: {0}")]
    Data(#[from] serde_json::Error),
}

type Result<T> = std::result::Result<T, SnapshotError>;

/// The shape of a snapshot's data; a start ignores snapshots of another format.
pub const FORMAT: i32 = 2;
/// Events applied between two snapshots.
pub const SNAPSHOT_EVERY: u64 = 500_000;
/// Snapshots kept; older ones are deleted when a new one is written.
const KEEP: i64 = 2;

#[derive(Serialize)]
pub(crate) struct SnapshotRef<'a> {
    pub subscribers: &'a SubscriberView,
    pub limits: &'a LimitsView,
    pub sessions: &'a SessionsView,
    pub esims: &'a EsimView,
}

#[derive(Deserialize)]
pub(crate) struct Snapshot {
    pub subscribers: SubscriberView,
    pub limits: LimitsView,
    pub sessions: SessionsView,
    pub esims: EsimView,
}

/// The latest snapshot of this format, with its position.
pub(crate) async fn latest(pool: &PgPool) -> Result<Option<(Position, Snapshot)>> {
    let row: Option<(i64, Vec<u8>)> = sqlx::query_as(
        "SELECT position, data FROM core_view_snapshots WHERE format = $1 ORDER BY position DESC LIMIT 1",
    )
    .bind(FORMAT)
    .fetch_optional(pool)
    .await?;
    match row {
        None => Ok(None),
        Some((position, data)) => Ok(Some((position, serde_json::from_slice(&data)?))),
    }
}

/// Stores a snapshot taken at `position` and drops all but the newest few.
pub(crate) async fn save(pool: &PgPool, position: Position, data: Vec<u8>) -> Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO core_view_snapshots (position, format, taken_at, data) VALUES ($1, $2, now(), $3) \
         ON CONFLICT (position, format) DO NOTHING",
    )
    .bind(position)
    .bind(FORMAT)
    .bind(&data)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "DELETE FROM core_view_snapshots WHERE position < (SELECT min(position) FROM \
         (SELECT position FROM core_view_snapshots ORDER BY position DESC LIMIT $1) newest)",
    )
    .bind(KEEP)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}
