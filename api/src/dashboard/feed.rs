//! The live event feed: Server-Sent Events, each carrying its log position as its `id`.
//!
//! One task per process tails the log ([`FeedHub`]) and broadcasts each batch to every open
//! feed; a feed that subscribed late, reconnected (`Last-Event-ID`) or fell behind the
//! broadcast reads the positions it has not seen from the log itself, then goes on with the
//! broadcast. It subscribes before it catches up, so nothing committed meanwhile is missed,
//! and skips what it already sent, so nothing is sent twice. A feed whose browser went away
//! more than [`MAX_CATCH_UP`] positions ago is told so (a `gap` event) rather than made to scan
//! the log without bound. Between matching events the feed sends its position every few
//! seconds, so a reconnect resumes from there, not from the last event that matched.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use simledger_eventlog::{Event, EventLog, Position, RecordedEvent};
use tokio::sync::{broadcast, mpsc, watch, OnceCell, OwnedSemaphorePermit, Semaphore};

use super::{DashboardError, Session};
use crate::extract::Query;
use crate::AppState;

/// The furthest back a feed is read from the log when it (re)connects.
pub const MAX_CATCH_UP: i64 = 20_000;
/// Open feeds per account, and in all.
pub const MAX_FEEDS_PER_ACCOUNT: usize = 8;
pub const MAX_FEEDS: usize = 256;
/// The most positions one history request looks at.
pub const MAX_RANGE: i64 = 10_000;
/// Reads of the log on a viewer's behalf (history pages, feed catch-ups) at once: in the
/// process, and per account, so no account can hold the pool the appender and projections share.
pub const MAX_SCANS: usize = 4;
pub const MAX_SCANS_PER_ACCOUNT: usize = 1;
/// A browser that reads nothing for this long loses its feed (and its place).
const SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// How often an open feed checks that its session still stands (sign-out, expiry, revocation).
const SESSION_CHECK_EVERY: u32 = 5;

/// One event as the dashboard shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FeedItem {
    pub position: i64,
    #[serde(rename = "type")]
    pub event_type: &'static str,
    pub recorded_at: DateTime<Utc>,
    pub account_sid: Option<String>,
    pub sim_sid: Option<String>,
    pub fleet_sid: Option<String>,
    /// A line saying what happened (network, cell, bytes, status change…).
    pub summary: String,
}

impl FeedItem {
    pub fn of(e: &RecordedEvent) -> Self {
        Self {
            position: e.position,
            event_type: e.event.event_type(),
            recorded_at: e.recorded_at,
            account_sid: e.event.account_sid().map(str::to_owned),
            sim_sid: e.event.sim_sid().map(str::to_owned),
            fleet_sid: fleet_of(&e.event),
            summary: summary(&e.event),
        }
    }
}

fn fleet_of(event: &Event) -> Option<String> {
    use Event::*;
    if let Some(c) = event.connection() {
        return c.fleet_sid.clone();
    }
    match event {
        SimRegistered(r) => r.fleet_sid.as_ref().map(|f| f.to_string()),
        SimUpdated(u) => u.fleet_sid.clone().flatten().map(String::from),
        SimDataLimitReached(d) | SimDataLimitCleared(d) => d.fleet_sid.as_ref().map(|f| f.to_string()),
        _ => None,
    }
}

fn summary(event: &Event) -> String {
    use Event::*;
    if let Some(c) = event.connection() {
        let mut line = format!("{} ({}-{})", c.network.friendly_name, c.network.mcc, c.network.mnc);
        if let Some(cell) = &c.location {
            line.push_str(&format!(", cell {}", cell.cell_id));
        }
        if let Some(total) = c.data_total.filter(|t| *t > 0) {
            line.push_str(&format!(", {total} bytes"));
        }
        if let Some(error) = &c.error {
            line.push_str(&format!(", error {}: {}", error.code, error.message));
        }
        return line;
    }
    match event {
        SmsMoSubmitted(s) | SmsMoDelivered(s) | SmsMoFailed(s) | SmsMtSubmitted(s) | SmsMtDelivered(s)
        | SmsMtFailed(s) => format!("{} {} ({})", s.direction, s.status, s.sms_command_sid),
        SimStatusChanged(s) => format!("{} → {}", s.from.as_str(), s.to.as_str()),
        SimRegistered(r) => format!("registered, {}", r.status.as_str()),
        SimDataLimitReached(d) | SimDataLimitCleared(d) => {
            format!("{}: {} of {} bytes", d.reason, d.used_bytes, d.limit_bytes)
        }
        _ => String::new(),
    }
}

/// Which events a viewer sees: its account's (an operator's: every account's, or the one it
/// picked), narrowed by SIM, fleet and type.
#[derive(Debug, Clone, Default)]
pub struct FeedFilter {
    pub account: Option<String>,
    pub sim: Option<String>,
    pub fleet: Option<String>,
    /// A type, or its end (`attachment.accepted`).
    pub event_type: Option<String>,
}

impl FeedFilter {
    pub fn admits(&self, item: &FeedItem) -> bool {
        let eq = |want: &Option<String>, have: &Option<String>| want.as_ref().is_none_or(|w| have.as_ref() == Some(w));
        eq(&self.account, &item.account_sid)
            && eq(&self.sim, &item.sim_sid)
            && eq(&self.fleet, &item.fleet_sid)
            && self.event_type.as_ref().is_none_or(|t| item.event_type.ends_with(t.as_str()))
    }
}

type Batch = Arc<Vec<FeedItem>>;

struct Hub {
    batches: broadcast::Sender<Batch>,
    position: watch::Receiver<Position>,
    open: Mutex<HashMap<String, usize>>,
}

/// The process's one tail of the log (started by the first feed), and the places for reads of
/// the log on viewers' behalf.
#[derive(Clone)]
pub struct FeedHub {
    hub: Arc<OnceCell<Arc<Hub>>>,
    scans: Arc<Scans>,
}

impl Default for FeedHub {
    fn default() -> Self {
        Self {
            hub: Arc::default(),
            scans: Arc::new(Scans { all: Arc::new(Semaphore::new(MAX_SCANS)), per_account: Mutex::default() }),
        }
    }
}

struct Scans {
    all: Arc<Semaphore>,
    per_account: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// A place to read the log, held for the length of one read loop.
pub struct ScanPermit {
    _account: OwnedSemaphorePermit,
    _all: OwnedSemaphorePermit,
}

impl Scans {
    fn of(&self, account: &str) -> Arc<Semaphore> {
        let mut map = self.per_account.lock().expect("scan places lock");
        map.entry(account.to_owned()).or_insert_with(|| Arc::new(Semaphore::new(MAX_SCANS_PER_ACCOUNT))).clone()
    }

    async fn acquire(&self, account: &str) -> ScanPermit {
        let mine = self.of(account).acquire_owned().await.expect("never closed");
        let all = self.all.clone().acquire_owned().await.expect("never closed");
        ScanPermit { _account: mine, _all: all }
    }

    fn try_acquire(&self, account: &str) -> Option<ScanPermit> {
        let mine = self.of(account).try_acquire_owned().ok()?;
        let all = self.all.clone().try_acquire_owned().ok()?;
        Some(ScanPermit { _account: mine, _all: all })
    }
}

impl FeedHub {
    /// A place for a history read of `account`'s, now or never (the caller answers 429).
    pub fn scan_now(&self, account: &str) -> Result<ScanPermit, DashboardError> {
        self.scans.try_acquire(account).ok_or(DashboardError::Busy)
    }

    async fn hub(&self, log: &EventLog) -> Result<Arc<Hub>, DashboardError> {
        self.hub
            .get_or_try_init(|| async {
                let head = log.head().await?;
                // Small: a feed that falls behind reads what it missed from the log instead.
                let (batches, _) = broadcast::channel(64);
                let (position_tx, position) = watch::channel(head);
                tokio::spawn(tail(log.clone(), head, batches.clone(), position_tx));
                Ok::<_, DashboardError>(Arc::new(Hub { batches, position, open: Mutex::default() }))
            })
            .await
            .cloned()
    }
}

async fn tail(
    log: EventLog,
    mut after: Position,
    batches: broadcast::Sender<Batch>,
    position: watch::Sender<Position>,
) {
    loop {
        let mut subscription = match log.subscribe(after, 500).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "dashboard feed cannot follow the log; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        loop {
            match subscription.next_batch().await {
                Ok(events) => {
                    let Some(last) = events.last() else { continue };
                    after = last.position;
                    let _ = batches.send(Arc::new(events.iter().map(FeedItem::of).collect()));
                    position.send_replace(after);
                }
                Err(e) => {
                    tracing::warn!(error = %e, position = after, "dashboard feed lost the log; resuming");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    break;
                }
            }
        }
    }
}

/// Holds a place among the open feeds until the feed ends.
struct OpenFeed {
    hub: Arc<Hub>,
    account: String,
}

impl Drop for OpenFeed {
    fn drop(&mut self) {
        let mut open = self.hub.open.lock().expect("feed count lock");
        if let Some(n) = open.get_mut(&self.account) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.account);
            }
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FeedParams {
    /// An operator's choice of account (every account when left out).
    pub account: Option<String>,
    /// Resume after this log position (`Last-Event-ID` does the same on a reconnect).
    pub after: Option<i64>,
    pub sim: Option<String>,
    pub fleet: Option<String>,
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub event_type: Option<String>,
}

/// The live feed: an `event` per matching event (`id` its log position), a `position` now and
/// then, a `gap` when the feed resumed further back than it reads.
#[utoipa::path(get, path = "/dashboard/api/events/stream", tag = "dashboard", operation_id = "DashboardEventStream",
    params(FeedParams),
    responses(
        (status = 200, description = "Server-Sent Events", content_type = "text/event-stream", body = String),
        (status = 400, description = "A bad filter", body = crate::error::TwilioError),
        (status = 401, description = "Not signed in", body = crate::error::TwilioError),
        (status = 404, description = "Another account", body = crate::error::TwilioError),
        (status = 429, description = "Too many open feeds", body = crate::error::TwilioError),
    ),
    security(("dashboardSession" = [])))]
pub async fn stream(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Query(p): Query<FeedParams>,
) -> Result<Sse<impl futures_util::Stream<Item = Result<SseEvent, Infallible>>>, DashboardError> {
    let account = super::data::scope(&session, p.account)?;
    let filter = FeedFilter { account, sim: p.sim, fleet: p.fleet, event_type: p.event_type };
    super::data::check_filter(&filter)?;
    let resume = match headers.get("last-event-id").map(|v| v.to_str().ok().and_then(|s| s.parse::<i64>().ok())) {
        Some(Some(position)) => Some(position),
        Some(None) => return Err(DashboardError::Invalid("Last-Event-ID must be a log position".into())),
        None => p.after,
    };
    if resume.is_some_and(|p| p < 0) {
        return Err(DashboardError::Invalid("after must not be negative".into()));
    }
    let hub = state.feeds.hub(state.log()).await?;
    let guard = {
        let mut open = hub.open.lock().expect("feed count lock");
        let total: usize = open.values().sum();
        let mine = open.entry(session.account().to_owned()).or_default();
        // Operators keep a way in however many feeds customers hold.
        if *mine >= MAX_FEEDS_PER_ACCOUNT || (total >= MAX_FEEDS && !session.is_operator()) {
            return Err(DashboardError::TooManyFeeds);
        }
        *mine += 1;
        OpenFeed { hub: hub.clone(), account: session.account().to_owned() }
    };
    let (tx, rx) = mpsc::channel(256);
    let reader = Reader {
        log: state.log().clone(),
        scans: state.feeds.scans.clone(),
        viewer: session.account().to_owned(),
        token_sha256: session.token_sha256.clone(),
        filter,
        tx,
    };
    tokio::spawn(feed(reader, hub, resume, guard));
    let events = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|e| (Ok(e), rx)) });
    // A comment every 5 s: proxies keep the connection, and a browser that left is noticed.
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(5))))
}

/// What one feed reads with and sends to.
struct Reader {
    log: EventLog,
    scans: Arc<Scans>,
    /// The signed-in account, whose share of log reads this feed uses.
    viewer: String,
    token_sha256: Vec<u8>,
    filter: FeedFilter,
    tx: mpsc::Sender<SseEvent>,
}

impl Reader {
    /// Sends, or gives up on a browser that has read nothing for [`SEND_TIMEOUT`].
    async fn send(&self, event: SseEvent) -> Result<(), ()> {
        match tokio::time::timeout(SEND_TIMEOUT, self.tx.send(event)).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(()),
        }
    }

    /// Sends what matches in `(sent, upto]`, read from the log under one of the viewer's places.
    async fn catch_up(&self, sent: &mut Position, upto: Position) -> Result<(), ()> {
        if *sent >= upto {
            return Ok(());
        }
        let _place = tokio::select! {
            p = self.scans.acquire(&self.viewer) => p,
            _ = self.tx.closed() => return Err(()),
        };
        if upto - *sent > MAX_CATCH_UP {
            let from = *sent;
            *sent = upto - MAX_CATCH_UP;
            let gap = SseEvent::default()
                .event("gap")
                .id(sent.to_string())
                .data(format!("{{\"from\":{from},\"to\":{sent}}}"));
            self.send(gap).await?;
        }
        while *sent < upto {
            if self.tx.is_closed() {
                return Err(());
            }
            let events = match self.log.read(*sent, (upto - *sent).min(500)).await {
                Ok(events) if !events.is_empty() => events,
                Ok(_) => return Ok(()),
                Err(e) => {
                    tracing::warn!(error = %e, "dashboard feed could not read the log");
                    return Err(());
                }
            };
            let items: Vec<FeedItem> = events.iter().map(FeedItem::of).collect();
            self.send_items(sent, items.iter()).await?;
        }
        Ok(())
    }

    async fn send_items<'a>(&self, sent: &mut Position, items: impl Iterator<Item = &'a FeedItem>) -> Result<(), ()> {
        for item in items {
            if item.position <= *sent {
                continue;
            }
            *sent = item.position;
            if self.filter.admits(item) {
                let event = SseEvent::default().event("event").id(item.position.to_string());
                self.send(event.json_data(item).map_err(|_| ())?).await?;
            }
        }
        Ok(())
    }
}

/// Feeds one browser until it goes away, or its session ends.
async fn feed(reader: Reader, hub: Arc<Hub>, resume: Option<Position>, _open: OpenFeed) {
    // Subscribed before the catch-up reads, so nothing committed meanwhile is missed.
    let mut batches = hub.batches.subscribe();
    let head = *hub.position.borrow();
    let mut sent = resume.unwrap_or(head);
    let mut last_mark = sent;
    let mut marks = tokio::time::interval(Duration::from_secs(2));
    let mut ticks = 0u32;
    if reader.catch_up(&mut sent, head).await.is_err() {
        return;
    }
    loop {
        let batch = tokio::select! {
            b = batches.recv() => b,
            _ = marks.tick() => {
                ticks += 1;
                if ticks.is_multiple_of(SESSION_CHECK_EVERY)
                    && !super::session::still_valid(reader.log.pool(), &reader.token_sha256).await
                {
                    return;
                }
                if sent != last_mark {
                    last_mark = sent;
                    let mark = SseEvent::default().event("position").id(sent.to_string()).data(sent.to_string());
                    if reader.send(mark).await.is_err() {
                        return;
                    }
                }
                continue;
            }
            _ = reader.tx.closed() => return,
        };
        let result = match batch {
            Ok(batch) => {
                let first = batch.first().map_or(sent + 1, |i| i.position);
                match reader.catch_up(&mut sent, first - 1).await {
                    Ok(()) => reader.send_items(&mut sent, batch.iter()).await,
                    Err(()) => Err(()),
                }
            }
            // Fell behind the broadcast: the log has what was dropped.
            Err(broadcast::error::RecvError::Lagged(_)) => {
                let head = *hub.position.borrow();
                reader.catch_up(&mut sent, head).await
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        if result.is_err() {
            return;
        }
    }
}

/// The events in `(after, before]` a viewer may see, read from the log (at most
/// [`MAX_RANGE`] positions), and the last position looked at.
pub async fn history(
    log: &EventLog,
    filter: &FeedFilter,
    after: Position,
    before: Position,
) -> Result<(Vec<FeedItem>, Position), DashboardError> {
    let upto = before.min(after.saturating_add(MAX_RANGE));
    let mut at = after;
    let mut items = Vec::new();
    while at < upto {
        let events = log.read(at, (upto - at).min(1000)).await?;
        let Some(last) = events.last() else { break };
        at = last.position;
        items.extend(events.iter().map(FeedItem::of).filter(|i| filter.admits(i)));
    }
    Ok((items, at))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(account: &str, sim: &str, t: &'static str) -> FeedItem {
        FeedItem {
            position: 1,
            event_type: t,
            recorded_at: Utc::now(),
            account_sid: Some(account.into()),
            sim_sid: Some(sim.into()),
            fleet_sid: None,
            summary: String::new(),
        }
    }

    #[test]
    fn a_viewer_sees_its_own_account_only() {
        let mine = FeedFilter { account: Some("ACa".into()), ..Default::default() };
        assert!(mine.admits(&item("ACa", "HS1", "sim.registered")));
        assert!(!mine.admits(&item("ACb", "HS1", "sim.registered")));
        let mut inventory = item("ACa", "HS1", "sim.provisioned");
        inventory.account_sid = None;
        assert!(!mine.admits(&inventory), "an event of no account is the operator's");
    }

    #[test]
    fn an_account_reads_the_log_once_at_a_time_and_all_accounts_a_few_at_a_time() {
        let hub = FeedHub::default();
        let alice = hub.scan_now("ACa").unwrap();
        assert!(matches!(hub.scan_now("ACa"), Err(DashboardError::Busy)), "Alice's one place is taken");
        let others: Vec<_> = (1..MAX_SCANS).map(|n| hub.scan_now(&format!("AC{n}")).unwrap()).collect();
        assert!(hub.scan_now("ACz").is_err(), "every place in the process is taken");
        drop(alice);
        assert!(hub.scan_now("ACz").is_ok(), "a place given back is free again");
        drop(others);
    }

    #[test]
    fn a_type_filter_matches_the_end_of_the_type() {
        let f = FeedFilter { event_type: Some("attachment.accepted".into()), ..Default::default() };
        assert!(f.admits(&item("ACa", "HS1", "com.twilio.iot.supersim.connection.attachment.accepted")));
        assert!(!f.admits(&item("ACa", "HS1", "com.twilio.iot.supersim.connection.attachment.rejected")));
    }
}
