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
    #[error("the snapshot at {position} lacks its chunk {chunk}")]
    Incomplete { position: Position, chunk: i32 },
    #[error("a snapshot of {0} bytes has more chunks than can be numbered")]
    TooLarge(usize),
}

type Result<T> = std::result::Result<T, SnapshotError>;

/// The shape of a snapshot's data; a start ignores snapshots of another format. Format 3: the
/// JSON of [`Snapshot`], stored in chunks.
pub const FORMAT: i32 = 3;
/// Events applied between two snapshots.
pub const SNAPSHOT_EVERY: u64 = 500_000;
/// Snapshots kept; older ones are deleted when a new one is written.
const KEEP: i64 = 2;
/// Bytes per stored chunk: far below a bytea's 1 GB, large enough that a million SIMs take a
/// handful of rows.
const CHUNK_BYTES: usize = 64 << 20;

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
    let Some((position, data)) = latest_bytes(pool).await? else { return Ok(None) };
    Ok(Some((position, serde_json::from_slice(&data)?)))
}

/// The latest snapshot's bytes: header and chunks in one statement, so in one database
/// snapshot (a newer snapshot saved meanwhile cannot delete chunks under the read), the chunks
/// streamed into one buffer in their order.
async fn latest_bytes(pool: &PgPool) -> Result<Option<(Position, Vec<u8>)>> {
    use futures_util::TryStreamExt;
    let mut rows = sqlx::query_as::<_, (i64, i32, Option<i32>, Option<Vec<u8>>)>(
        "WITH latest AS (SELECT position, chunks FROM core_view_snapshots WHERE format = $1 \
         ORDER BY position DESC LIMIT 1) \
         SELECT l.position, l.chunks, c.chunk, c.data FROM latest l LEFT JOIN core_view_snapshot_chunks c \
         ON c.position = l.position AND c.format = $1 ORDER BY c.chunk",
    )
    .bind(FORMAT)
    .fetch(pool);
    let (mut found, mut data) = (None, Vec::new());
    let mut next_chunk = 0;
    while let Some((position, chunks, chunk, part)) = rows.try_next().await? {
        found = Some((position, chunks));
        let (Some(chunk), Some(part)) = (chunk, part) else { continue };
        // A snapshot missing a chunk is unusable, like any unreadable one: a replay from 0.
        if chunk != next_chunk {
            return Err(SnapshotError::Incomplete { position, chunk: next_chunk });
        }
        data.extend_from_slice(&part);
        next_chunk += 1;
    }
    let Some((position, chunks)) = found else { return Ok(None) };
    if next_chunk != chunks {
        return Err(SnapshotError::Incomplete { position, chunk: next_chunk });
    }
    Ok(Some((position, data)))
}

/// Stores a snapshot taken at `position` and drops all but the newest few.
pub(crate) async fn save(pool: &PgPool, position: Position, data: Vec<u8>) -> Result<()> {
    save_in_chunks(pool, position, &data, CHUNK_BYTES).await
}

async fn save_in_chunks(pool: &PgPool, position: Position, data: &[u8], chunk_bytes: usize) -> Result<()> {
    let chunks: Vec<&[u8]> = data.chunks(chunk_bytes.max(1)).collect();
    let count = i32::try_from(chunks.len()).map_err(|_| SnapshotError::TooLarge(data.len()))?;
    let mut tx = pool.begin().await?;
    let fresh = sqlx::query(
        "INSERT INTO core_view_snapshots (position, format, taken_at, data, chunks) VALUES ($1, $2, now(), '', $3) \
         ON CONFLICT (position, format) DO NOTHING",
    )
    .bind(position)
    .bind(FORMAT)
    .bind(count)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    // One of this position is stored already: the views at a position are the same whoever
    // wrote them.
    if fresh {
        for (i, chunk) in chunks.iter().enumerate() {
            sqlx::query(
                "INSERT INTO core_view_snapshot_chunks (position, format, chunk, data) VALUES ($1, $2, $3, $4)",
            )
            .bind(position)
            .bind(FORMAT)
            .bind(i as i32)
            .bind(chunk)
            .execute(&mut *tx)
            .await?;
        }
    }
    // The newest few of this format are kept, and so is any row of another format at or after
    // the oldest of them: an older build beside this one (a rolling upgrade) still starts from
    // its own, and those below are of no use to anyone. Ranking all formats together would let
    // an older build's rows near the head push out the snapshot just written.
    sqlx::query(
        "DELETE FROM core_view_snapshots WHERE position < (SELECT min(position) FROM \
         (SELECT position FROM core_view_snapshots WHERE format = $2 ORDER BY position DESC LIMIT $1) newest)",
    )
    .bind(KEEP)
    .bind(FORMAT)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use simledger_services::testing::TestDatabase;

    #[tokio::test]
    async fn a_snapshot_larger_than_a_chunk_reads_back_byte_for_byte() {
        let db = TestDatabase::new().await;
        let pool = db.pool().await;
        let data: Vec<u8> = (0..10_007u32).map(|i| (i % 251) as u8).collect();

        save_in_chunks(&pool, 42, &data, 1_000).await.unwrap();

        let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM core_view_snapshot_chunks WHERE position = 42")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(stored, 11, "ten full chunks and the rest");
        assert_eq!(latest_bytes(&pool).await.unwrap(), Some((42, data)));
    }

    #[tokio::test]
    async fn the_newest_snapshots_are_kept_with_their_chunks_and_older_ones_go_whole() {
        let db = TestDatabase::new().await;
        let pool = db.pool().await;
        for position in [10, 20, 30] {
            save_in_chunks(&pool, position, format!("snapshot at {position}").as_bytes(), 4).await.unwrap();
        }
        // The same position again (another node's feeder) changes nothing.
        save_in_chunks(&pool, 30, b"another", 4).await.unwrap();

        let kept: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT s.position, (SELECT count(*) FROM core_view_snapshot_chunks c WHERE c.position = s.position) \
             FROM core_view_snapshots s ORDER BY s.position",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        assert_eq!(kept, vec![(20, 4), (30, 4)]);
        let orphans: i64 = sqlx::query_scalar("SELECT count(*) FROM core_view_snapshot_chunks WHERE position = 10")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(orphans, 0);
        assert_eq!(latest_bytes(&pool).await.unwrap(), Some((30, b"snapshot at 30".to_vec())));
    }

    /// After an upgrade, the previous format's snapshots sit near the head while this format's
    /// first ones are taken far behind it (its views replay from 0): those must stay.
    #[tokio::test]
    async fn an_older_formats_snapshots_ahead_do_not_push_out_this_formats() {
        let db = TestDatabase::new().await;
        let pool = db.pool().await;
        for position in [4_500_000i64, 5_000_000] {
            sqlx::query(
                "INSERT INTO core_view_snapshots (position, format, taken_at, data) VALUES ($1, $2, now(), 'old')",
            )
            .bind(position)
            .bind(FORMAT - 1)
            .execute(&pool)
            .await
            .unwrap();
        }

        save_in_chunks(&pool, 500_000, b"first", 4).await.unwrap();
        assert_eq!(latest_bytes(&pool).await.unwrap(), Some((500_000, b"first".to_vec())));
        save_in_chunks(&pool, 1_000_000, b"second", 4).await.unwrap();
        save_in_chunks(&pool, 1_500_000, b"third", 4).await.unwrap();

        let rows = stored(&pool).await;
        let old = FORMAT - 1;
        assert_eq!(rows, vec![(1_000_000, FORMAT), (1_500_000, FORMAT), (4_500_000, old), (5_000_000, old)]);

        // Once this format has passed them, the older rows go.
        save_in_chunks(&pool, 5_500_000, b"fourth", 4).await.unwrap();
        save_in_chunks(&pool, 6_000_000, b"fifth", 4).await.unwrap();
        let rows = stored(&pool).await;
        assert_eq!(rows, vec![(5_500_000, FORMAT), (6_000_000, FORMAT)]);
    }

    /// (position, format) of every stored snapshot.
    async fn stored(pool: &PgPool) -> Vec<(i64, i32)> {
        sqlx::query_as("SELECT position, format FROM core_view_snapshots ORDER BY position")
            .fetch_all(pool)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_snapshot_missing_a_chunk_is_unusable_not_misread() {
        let db = TestDatabase::new().await;
        let pool = db.pool().await;
        save_in_chunks(&pool, 7, b"0123456789", 3).await.unwrap();
        sqlx::query("DELETE FROM core_view_snapshot_chunks WHERE position = 7 AND chunk = 1")
            .execute(&pool)
            .await
            .unwrap();

        assert!(matches!(latest_bytes(&pool).await, Err(SnapshotError::Incomplete { position: 7, chunk: 1 })));
    }
}
