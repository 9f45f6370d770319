use tokio::sync::watch;

use crate::tail::{TailHandle, Taken};
use crate::{EventLog, EventLogError, Position, RecordedEvent, Result};

/// Follows the log from a position: reads in batches while behind, then waits for the
/// appender's `NOTIFY` instead of polling.
///
/// It takes the shared listener's counter (see `wakeups.rs`) *before* its first read, so an
/// append that commits between a read that came back empty and the wait still wakes it: the
/// hand-over from catch-up to live has no gap, and since every read starts after the last
/// position delivered, no duplicate either.
///
/// Live, it takes its events from the log's shared tail (see `tail.rs`), which read them once
/// for every subscription of the process; behind the tail's window, or while the tail fails, it
/// reads the table itself.
pub struct Subscription {
    log: EventLog,
    wakeups: watch::Receiver<u64>,
    tail: TailHandle,
    position: Position,
    batch: i64,
    table_reads: u64,
}

impl Subscription {
    pub(crate) async fn start(log: EventLog, after: Position, batch: i64) -> Result<Self> {
        let mut wakeups = log.wakeups().await?;
        wakeups.borrow_and_update();
        let tail = log.tail(wakeups.clone()).await?;
        Ok(Self { log, wakeups, tail, position: after, batch: batch.max(1), table_reads: 0 })
    }

    /// How many times it read the table rather than the shared tail (a catch-up, or a tail
    /// that fails).
    pub fn table_reads(&self) -> u64 {
        self.table_reads
    }

    /// The last position delivered.
    pub fn position(&self) -> Position {
        self.position
    }

    /// The next events after [`Self::position`]; waits when there are none yet.
    pub async fn next_batch(&mut self) -> Result<Vec<RecordedEvent>> {
        loop {
            // Seen before the look, so a move of the tail after it ends the wait below.
            self.tail.seen();
            match self.tail.take(self.position, self.batch) {
                Taken::Events(events) => {
                    if let Some(last) = events.last() {
                        self.position = last.position;
                    }
                    return Ok(events);
                }
                Taken::Wait => {
                    if !self.tail.moved().await {
                        return Err(EventLogError::ReaderStopped);
                    }
                    continue;
                }
                Taken::ReadTable => {}
            }
            // A prepared SELECT, not a COPY: subscribers are stopped at any point (a restart, a
            // replay taking over), and a SELECT cut short leaves its connection fit to reuse.
            self.table_reads += 1;
            let read = crate::read::read_next(self.log.pool(), self.log.shard(), self.position, self.batch).await?;
            if let Some((last, _)) = read.last() {
                self.position = last.position;
                return Ok(read.into_iter().map(|(event, _)| event).collect());
            }
            // Seen before the read above: a commit since then has moved it.
            if self.wakeups.changed().await.is_err() {
                return Err(EventLogError::ReaderStopped);
            }
        }
    }
}
