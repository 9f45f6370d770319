//! The log's newest events, read once and shared by every subscription of a handle and its
//! clones.
//!
//! A process runs a dozen subscribers that follow the log live (projections, deciders,
//! dispatchers, the core's views). Each used to read and decode every new event itself: a
//! dozen `SELECT`s of the same rows, each turning every `jsonb` into text on the server and
//! parsing it again here. `simledger bench ingest`'s processor-time breakdown showed those reads
//! as most of what the subscribers and Postgres spent per event. The tail reads each event once,
//! keeps the newest [`WINDOW`] of them in memory, and hands copies to the subscriptions whose
//! position lies inside it.
//!
//! It holds only what a read found committed, in position order with no gap, exactly what a
//! subscription's own read would have returned, so a subscription served from it behaves as
//! one that read the table. A subscription behind the window (a catch-up) reads the table as
//! before, and so does every subscription while the tail is failing.

use std::collections::VecDeque;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::{watch, OnceCell};

use crate::{Position, RecordedEvent, Result};

/// Events the tail keeps. A subscriber further behind than this reads the table.
pub(crate) const WINDOW: usize = 16_384;

/// Events the tail reads at a time.
const READ: i64 = 2_000;

/// What the tail holds: the events after `after`, in order.
#[derive(Default)]
struct Window {
    after: Position,
    events: VecDeque<Arc<RecordedEvent>>,
}

impl Window {
    fn end(&self) -> Position {
        self.after + self.events.len() as Position
    }
}

/// Where the tail is: the last position it holds while it reads without failing, `None` while
/// it fails (subscriptions then read the table themselves).
pub(crate) type TailState = Option<Position>;

#[derive(Clone)]
pub(crate) struct TailHandle {
    window: Arc<RwLock<Window>>,
    state: watch::Receiver<TailState>,
}

/// What a subscription at some position gets from the tail.
pub(crate) enum Taken {
    /// The events after its position, at most the batch asked for.
    Events(Vec<RecordedEvent>),
    /// It is at the tail's end: the next events come through the tail, so wait for it to move.
    Wait,
    /// Its position is outside the window, or the tail is failing: read the table.
    ReadTable,
}

impl TailHandle {
    pub(crate) fn take(&self, after: Position, limit: i64) -> Taken {
        if self.state.borrow().is_none() {
            return Taken::ReadTable;
        }
        let shared: Vec<Arc<RecordedEvent>> = {
            let window = self.window.read().unwrap_or_else(|poisoned| poisoned.into_inner());
            if after == window.end() {
                return Taken::Wait;
            }
            if after < window.after || after > window.end() {
                return Taken::ReadTable;
            }
            let from = (after - window.after) as usize;
            window.events.range(from..).take(limit.max(1) as usize).cloned().collect()
        };
        // Copied outside the lock, so the tail never waits for a subscriber's copy.
        Taken::Events(shared.iter().map(|e| RecordedEvent::clone(e)).collect())
    }

    /// Waits until the tail moves or starts or stops failing; `false` once it has stopped.
    pub(crate) async fn moved(&mut self) -> bool {
        self.state.changed().await.is_ok()
    }

    /// Marks the current state seen, before the subscription looks at the window.
    pub(crate) fn seen(&mut self) {
        self.state.borrow_and_update();
    }
}

/// The tail of one handle and its clones, started by the first subscription.
#[derive(Default)]
pub(crate) struct Tail {
    started: OnceCell<TailHandle>,
}

impl Tail {
    pub(crate) async fn handle(&self, pool: &PgPool, shard: i32, wakeups: watch::Receiver<u64>) -> Result<TailHandle> {
        let handle = self
            .started
            .get_or_try_init(|| async {
                let head = crate::read::head(pool, shard).await?;
                let window = Arc::new(RwLock::new(Window { after: head, events: VecDeque::new() }));
                let (state, rx) = watch::channel(Some(head));
                tokio::spawn(simledger_cputime::metered(
                    "log_tail",
                    follow(pool.clone(), shard, wakeups, window.clone(), state),
                ));
                Ok::<_, crate::EventLogError>(TailHandle { window, state: rx })
            })
            .await?;
        Ok(handle.clone())
    }
}

/// Reads the log into the window for as long as anyone holds the tail's state (a handle or a
/// subscription). It holds no handle of the log itself, which would keep it alive for ever.
async fn follow(
    pool: PgPool,
    shard: i32,
    mut wakeups: watch::Receiver<u64>,
    window: Arc<RwLock<Window>>,
    state: watch::Sender<TailState>,
) {
    let mut backoff = Duration::from_millis(50);
    loop {
        // Taken before the read: a commit after the read has moved it.
        wakeups.borrow_and_update();
        let end = window.read().unwrap_or_else(|poisoned| poisoned.into_inner()).end();
        let read = async {
            let events = crate::read::read_few(&pool, shard, end, READ).await?;
            if events.is_empty() {
                if let Some(head) = crate::read::hole_after(&pool, shard, end).await? {
                    return Err(crate::EventLogError::Gap { after: end, next: head });
                }
            }
            Ok(events)
        };
        match read.await {
            Ok(events) if events.is_empty() => {
                state.send_if_modified(|s| s.replace(end) != Some(end));
                backoff = Duration::from_millis(50);
                tokio::select! {
                    changed = wakeups.changed() => if changed.is_err() { return },
                    _ = state.closed() => return,
                }
            }
            Ok(events) => {
                let new_end = {
                    let mut window = window.write().unwrap_or_else(|poisoned| poisoned.into_inner());
                    window.events.extend(events.into_iter().map(Arc::new));
                    let over = window.events.len().saturating_sub(WINDOW);
                    window.events.drain(..over);
                    window.after += over as Position;
                    window.end()
                };
                state.send_replace(Some(new_end));
                backoff = Duration::from_millis(50);
                if state.is_closed() {
                    return;
                }
            }
            Err(e) => {
                // Subscriptions read the table meanwhile, and meet the same failure there.
                tracing::warn!(error = %crate::error::cause_chain(&e), "the log's shared tail cannot read; subscriptions read the table");
                state.send_replace(None);
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = state.closed() => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}
