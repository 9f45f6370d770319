//! The log's newest events, read once and shared by every subscription of a handle and its
//! clones.
//!
//! A process runs a dozen subscribers that follow the log live (projections, deciders,
//! dispatchers, the core's views). Each used to read and decode every new event itself: a
//! dozen `SELECT`s of the same rows, each turning every `jsonb` into text on the server and
//! parsing it again here. `simledger bench ingest`'s processor-time breakdown showed those reads
//! as most of what the subscribers and Postgres spent per event. The tail reads each event once,
//! keeps the newest of them in memory (at most [`WINDOW`] events and [`WINDOW_BYTES`] of their
//! JSON), and hands copies to the subscriptions whose position lies inside that window.
//!
//! It holds only what a read found committed, in position order with no gap, exactly what a
//! subscription's own read would have returned, so a subscription served from it behaves as
//! one that read the table. A subscription behind the window (a catch-up) reads the table as
//! before, and so does every subscription while the tail is failing.
//!
//! The tail runs while a subscription holds it, and stops when the last one is gone; the next
//! subscription starts it again, from the head.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::watch;

use crate::{Position, RecordedEvent};

/// Most events the tail keeps. A subscriber further behind reads the table.
pub(crate) const WINDOW: usize = 16_384;

/// Most bytes of stored JSON the tail keeps, whatever the events' size.
pub(crate) const WINDOW_BYTES: usize = 64 << 20;

/// Events the tail reads at a time.
const READ: i64 = 2_000;

/// What the tail holds: the events after `after`, in order, with their sizes.
#[derive(Default)]
struct Window {
    after: Position,
    events: VecDeque<(Arc<RecordedEvent>, usize)>,
    bytes: usize,
}

impl Window {
    fn end(&self) -> Position {
        self.after + self.events.len() as Position
    }

    /// Adds the events read after the end, and lets the oldest go beyond the budget.
    fn extend(&mut self, read: Vec<(RecordedEvent, usize)>) {
        for (event, size) in read {
            self.bytes += size;
            self.events.push_back((Arc::new(event), size));
        }
        while self.events.len() > WINDOW || self.bytes > WINDOW_BYTES {
            let Some((_, size)) = self.events.pop_front() else { break };
            self.bytes -= size;
            self.after += 1;
        }
    }
}

/// Where the tail is: the last position it holds while it reads without failing, `None` while
/// it fails (subscriptions then read the table themselves).
type TailState = Option<Position>;

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
    /// Its position is outside the window, or the tail is not reading: read the table.
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
            window.events.range(from..).take(limit.max(1) as usize).map(|(e, _)| e.clone()).collect()
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

/// The running tail's window and the sender of its state, from which each new subscription
/// takes a receiver. Only subscriptions hold receivers, so the tail sees when the last is gone.
type Running = (Arc<RwLock<Window>>, Arc<watch::Sender<TailState>>);

/// The tail of one handle and its clones: the running one, if any.
#[derive(Default)]
pub(crate) struct Tail {
    running: Arc<Mutex<Option<Running>>>,
}

impl Tail {
    /// The running tail, started if none runs.
    pub(crate) async fn handle(
        &self,
        pool: &PgPool,
        shard: i32,
        wakeups: watch::Receiver<u64>,
    ) -> crate::Result<TailHandle> {
        if let Some(handle) = self.running() {
            return Ok(handle);
        }
        // A new tail starts at the head, read before the lock: subscriptions behind it read
        // the table until they reach it.
        let head = crate::read::head(pool, shard).await?;
        let mut running = self.running.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(tail) = running.as_ref() {
            return Ok(handle_of(tail));
        }
        let window = Arc::new(RwLock::new(Window { after: head, ..Window::default() }));
        let (state, rx) = watch::channel(Some(head));
        let state = Arc::new(state);
        *running = Some((window.clone(), state.clone()));
        let slot = Slot { running: self.running.clone(), state };
        let follow = follow(pool.clone(), shard, wakeups, window.clone(), slot);
        tokio::spawn(simledger_cputime::metered("log_tail", follow));
        Ok(TailHandle { window, state: rx })
    }

    fn running(&self) -> Option<TailHandle> {
        let running = self.running.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        running.as_ref().map(handle_of)
    }
}

/// A new subscription's hold on a running tail.
fn handle_of((window, state): &Running) -> TailHandle {
    TailHandle { window: window.clone(), state: state.subscribe() }
}

/// The slot a tail runs in. Whenever its task ends (no subscription left, the listener gone, a
/// panic, the runtime stopping) it empties the slot if it is still its own, so its state's
/// sender goes, the subscriptions it served are told it stopped, and the next one starts anew.
struct Slot {
    running: Arc<Mutex<Option<Running>>>,
    /// This tail's state.
    state: Arc<watch::Sender<TailState>>,
}

impl Slot {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Running>> {
        self.running.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn is_ours(&self, running: &Option<Running>) -> bool {
        running.as_ref().is_some_and(|(_, s)| Arc::ptr_eq(s, &self.state))
    }

    /// Whether the tail may stop: no subscription holds it. Checked under the lock new
    /// subscriptions take it by, and the slot emptied there, so none takes a stopping tail.
    fn release_if_unused(&self) -> bool {
        let mut running = self.lock();
        if self.state.receiver_count() > 0 {
            return false;
        }
        if self.is_ours(&running) {
            *running = None;
        }
        true
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut running = self.lock();
        if self.is_ours(&running) {
            *running = None;
        }
    }
}

/// Reads the log into the window for as long as a subscription holds the tail. It holds no
/// handle of the log, which would keep the log (and itself) alive for ever.
async fn follow(pool: PgPool, shard: i32, mut wakeups: watch::Receiver<u64>, window: Arc<RwLock<Window>>, slot: Slot) {
    let state = slot.state.clone();
    let mut backoff = Duration::from_millis(50);
    loop {
        if slot.release_if_unused() {
            return;
        }
        // Taken before the read: a commit after the read has moved it.
        wakeups.borrow_and_update();
        let end = window.read().unwrap_or_else(|poisoned| poisoned.into_inner()).end();
        match crate::read::read_next(&pool, shard, end, READ).await {
            Ok(events) if events.is_empty() => {
                state.send_if_modified(|s| s.replace(end) != Some(end));
                backoff = Duration::from_millis(50);
                // No subscription left: the check at the top of the loop stops the tail.
                tokio::select! {
                    changed = wakeups.changed() => if changed.is_err() { return },
                    _ = state.closed() => {}
                }
            }
            Ok(events) => {
                let new_end = {
                    let mut window = window.write().unwrap_or_else(|poisoned| poisoned.into_inner());
                    window.extend(events);
                    window.end()
                };
                state.send_replace(Some(new_end));
                backoff = Duration::from_millis(50);
            }
            Err(e) => {
                // Subscriptions read the table meanwhile, and meet the same failure there.
                tracing::warn!(error = %crate::error::cause_chain(&e), "the log's shared tail cannot read; subscriptions read the table");
                state.send_replace(None);
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = state.closed() => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(position: Position) -> RecordedEvent {
        RecordedEvent {
            shard: 0,
            position,
            event_id: uuid::Uuid::nil(),
            stream: "s".into(),
            stream_version: 1,
            event: crate::Event::decode(
                "sms.mo.submitted",
                r#"{"sms_command_sid":"HC1","account_sid":"AC1","sim_sid":"HS1","sim_iccid":"1","imsi":"1","direction":"from_sim","status":"submitted","payload":"p","timestamp":"2026-01-01T00:00:00Z"}"#,
            )
            .expect("decodes"),
            metadata: Default::default(),
            recorded_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn the_window_keeps_the_newest_events_within_its_count_and_its_bytes() {
        let mut window = Window { after: 10, ..Window::default() };
        window.extend((11..=10 + WINDOW as i64 + 5).map(|p| (event(p), 1)).collect());
        assert_eq!((window.after, window.end(), window.events.len()), (15, 10 + WINDOW as i64 + 5, WINDOW));
        // Three events of a third of the budget each: the oldest goes, the count aside.
        let third = WINDOW_BYTES / 3 + 1;
        let end = window.end();
        window.extend((end + 1..=end + 3).map(|p| (event(p), third)).collect());
        assert!(window.bytes <= WINDOW_BYTES);
        assert_eq!(window.events.front().map(|(e, _)| e.position), Some(end + 2));
        assert_eq!(window.end(), end + 3);
        assert_eq!(window.after + window.events.len() as i64, window.end());
    }
}
