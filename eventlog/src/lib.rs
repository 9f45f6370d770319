//! The event log: one append-only table in PostgreSQL that every other part of simledger reads.
//!
//! - [`EventLog::append`] is idempotent by `event_id`, checks optimistic concurrency per stream,
//!   and group-commits concurrent callers into one transaction.
//! - Positions are gap-free and in commit order per shard (see the `log_shards` migration), so a
//!   reader that has seen position N will never later find a new event below N, and
//!   "everything after N" is a stable set.
//! - [`EventLog::read`] reads in position order; [`Subscription`] catches up and then follows the
//!   log live, woken by `NOTIFY`; [`checkpoint::run_checkpointed`] commits a subscriber's own
//!   writes and its checkpoint in one transaction.

mod append;
pub mod catalog;
pub mod cgr;
pub mod checkpoint;
pub mod copy;
pub mod dead_letter;
mod envelope;
pub mod error;
pub mod networks;
pub mod places;
mod read;
mod wakeups;
pub use read::Pages;
pub mod stream_types;
mod subscribe;
mod tail;

pub use append::{profile, AppendProfile, Appended, ExpectedVersion, MAX_GROUP_EVENTS};
pub use catalog::Event;
pub use envelope::{holds_nul, time_ordered_id, Metadata, NewEvent, RecordedEvent, MAX_PAYLOAD_BYTES};
pub use error::EventLogError;
pub use subscribe::Subscription;

use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};

/// A position in one shard's log: 1, 2, 3, … with no gaps. 0 means "before the first event".
pub type Position = i64;

/// The one shard that exists today. Positions, checkpoints and cursors carry the shard in their
/// keys already, so accounts can later be spread over shards without a schema change.
pub const DEFAULT_SHARD: i32 = 0;

/// The `NOTIFY` channel an appender signals on after each commit (payload: the new head).
pub const NOTIFY_CHANNEL: &str = "simledger_log";

pub type Result<T, E = EventLogError> = std::result::Result<T, E>;

/// Handle on the log. Cheap to clone; all clones share one group-commit appender.
#[derive(Clone)]
pub struct EventLog {
    pool: PgPool,
    shard: i32,
    appender: mpsc::Sender<append::Request>,
    /// The one `LISTEN` every subscription of this handle and its clones waits on.
    wakeups: std::sync::Arc<wakeups::Wakeups>,
    /// The newest events, read once for every subscription of this handle and its clones.
    tail: std::sync::Arc<tail::Tail>,
}

impl EventLog {
    /// Opens the log on a migrated database and starts its group-commit appender task.
    pub fn new(pool: PgPool) -> Self {
        let (tx, rx) = mpsc::channel(4096);
        tokio::spawn(simledger_cputime::metered("append", append::run_appender(pool.clone(), DEFAULT_SHARD, rx)));
        Self { pool, shard: DEFAULT_SHARD, appender: tx, wakeups: Default::default(), tail: Default::default() }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub fn shard(&self) -> i32 {
        self.shard
    }

    /// Appends `events` atomically. Concurrent callers' appends are committed in no promised
    /// order among them (small ones may go before a large one queued earlier); each caller's
    /// own appends, awaited in turn, land in the order it made them.
    ///
    /// Events whose `event_id` is already in the log are not appended again; their original
    /// position is reported with `duplicate: true`. `expected` is checked against the stream's
    /// current version when there is anything new to append (all events must then share one
    /// stream); a mismatch is [`EventLogError::Conflict`] and appends nothing.
    pub async fn append(&self, events: Vec<NewEvent>, expected: ExpectedVersion) -> Result<Vec<Appended>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        if !matches!(expected, ExpectedVersion::Any) && events.iter().any(|e| e.stream != events[0].stream) {
            return Err(EventLogError::InvalidBatch(
                "an expected version applies to one stream; this batch spans several".into(),
            ));
        }
        let (reply, answer) = oneshot::channel();
        self.appender
            .send(append::Request { events, expected, reply })
            .await
            .map_err(|_| EventLogError::AppenderStopped)?;
        answer.await.map_err(|_| EventLogError::AppenderStopped)?
    }

    /// Up to `limit` events after `after`, in position order.
    pub async fn read(&self, after: Position, limit: i64) -> Result<Vec<RecordedEvent>> {
        read::read(&self.pool, self.shard, after, limit).await
    }

    /// [`Self::read`] with a prepared `SELECT` instead of a `COPY`: cheaper for the few events
    /// a live reader wants, slower for pages of thousands.
    pub async fn read_few(&self, after: Position, limit: i64) -> Result<Vec<RecordedEvent>> {
        read::read_few(&self.pool, self.shard, after, limit).await
    }

    /// The log after `after`, in pages of `page` events, each read while the previous one is
    /// worked on (replays and catch-ups).
    pub fn pages(&self, after: Position, page: i64) -> read::Pages {
        read::Pages::start(self.pool.clone(), self.shard, after, page)
    }

    /// The events of the given types after `after`, looking at most `span` positions ahead and
    /// never past the head; returns them and the position up to which the log was looked at
    /// (a reader that wants only some types resumes from there).
    pub async fn read_types(
        &self,
        after: Position,
        span: i64,
        types: &[String],
    ) -> Result<(Vec<RecordedEvent>, Position)> {
        read::read_types(&self.pool, self.shard, after, span, types).await
    }

    /// The last position recorded before `t` (0 if none).
    pub async fn position_before(&self, t: chrono::DateTime<chrono::Utc>) -> Result<Position> {
        read::position_before(&self.pool, self.shard, t).await
    }

    /// The events of one stream after `after_version`, in order.
    pub async fn read_stream(&self, stream: &str, after_version: i32) -> Result<Vec<RecordedEvent>> {
        read::read_stream(&self.pool, stream, after_version).await
    }

    /// The events at these positions, in position order (an index's lookups, not a scan).
    pub async fn read_at(&self, positions: &[Position]) -> Result<Vec<RecordedEvent>> {
        read::read_at(&self.pool, self.shard, positions).await
    }

    /// The event with this id, if the log holds it (how a retried command finds its first run).
    pub async fn find(&self, event_id: uuid::Uuid) -> Result<Option<RecordedEvent>> {
        read::find(&self.pool, event_id).await
    }

    /// The events with these ids that the log holds, in position order, in one read.
    pub async fn find_all(&self, event_ids: &[uuid::Uuid]) -> Result<Vec<RecordedEvent>> {
        read::find_all(&self.pool, event_ids).await
    }

    /// The last committed position (0 for an empty log).
    pub async fn head(&self) -> Result<Position> {
        read::head(&self.pool, self.shard).await
    }

    /// Follows the log from just after `after`: catch-up reads, then live.
    /// A counter that moves after every commit (and after the shared listener lost and
    /// regained its connection), live once this returns.
    pub(crate) async fn wakeups(&self) -> Result<tokio::sync::watch::Receiver<u64>> {
        self.wakeups.subscribe(&self.pool).await
    }

    /// The shared tail, started if no subscription holds it; it follows the log on `wakeups`.
    pub(crate) async fn tail(&self, wakeups: tokio::sync::watch::Receiver<u64>) -> Result<tail::TailHandle> {
        self.tail.handle(&self.pool, self.shard, wakeups).await
    }

    pub async fn subscribe(&self, after: Position, batch: i64) -> Result<Subscription> {
        Subscription::start(self.clone(), after, batch).await
    }
}
