//! Group commit: one task per process owns appending. Callers queue requests; the task takes
//! everything queued (up to [`MAX_GROUP_EVENTS`]) into one transaction, so throughput comes from
//! batching while every append stays durable (`synchronous_commit` untouched).
//!
//! Inside the transaction the shard's head row is locked first. That lock serializes appenders
//! across processes and is released only once the commit is visible, which is what makes
//! position order equal commit order with no gaps.
//!
//! Time under the lock is time no other group can commit, so it is kept to few round trips:
//! the lock and the duplicate check are one statement, and a small group's rows, the new head
//! and the notification another ([`SMALL_GROUP`]); a large group is copied in binary. A small
//! group whose streams this appender knows (no other process appended since its last commit)
//! is one statement in all, lock to commit: one round trip ([`commit_in_one_statement`]).

use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::Instant;

use chrono::Utc;
use sqlx::{PgConnection, PgPool, Row};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::copy::CopyBinary;
use crate::{EventLogError, NewEvent, Position, Result, NOTIFY_CHANNEL};

/// Cumulative time the appender spent in each step of its transactions, process-wide: where
/// append time goes (printed by `simledger bench eventlog`).
#[derive(Debug, Clone, Copy, Default)]
pub struct AppendProfile {
    pub groups: u64,
    pub events: u64,
    pub lock_ns: u64,
    pub dedupe_ns: u64,
    pub versions_ns: u64,
    pub encode_and_copy_ns: u64,
    pub commit_ns: u64,
    /// Groups committed by one statement ([`SMALL_GROUP`]s whose streams the appender knew).
    pub one_statement_groups: u64,
}

mod phase {
    use std::sync::atomic::AtomicU64;
    pub static GROUPS: AtomicU64 = AtomicU64::new(0);
    pub static EVENTS: AtomicU64 = AtomicU64::new(0);
    pub static LOCK: AtomicU64 = AtomicU64::new(0);
    pub static DEDUPE: AtomicU64 = AtomicU64::new(0);
    pub static VERSIONS: AtomicU64 = AtomicU64::new(0);
    pub static COPY: AtomicU64 = AtomicU64::new(0);
    pub static COMMIT: AtomicU64 = AtomicU64::new(0);
    pub static ONE_STATEMENT: AtomicU64 = AtomicU64::new(0);
}

fn add(counter: &std::sync::atomic::AtomicU64, since: &mut Instant) {
    let now = Instant::now();
    counter.fetch_add((now - *since).as_nanos() as u64, std::sync::atomic::Ordering::Relaxed);
    *since = now;
}

/// The appender's profile so far.
pub fn profile() -> AppendProfile {
    use std::sync::atomic::Ordering::Relaxed;
    AppendProfile {
        groups: phase::GROUPS.load(Relaxed),
        events: phase::EVENTS.load(Relaxed),
        lock_ns: phase::LOCK.load(Relaxed),
        dedupe_ns: phase::DEDUPE.load(Relaxed),
        versions_ns: phase::VERSIONS.load(Relaxed),
        encode_and_copy_ns: phase::COPY.load(Relaxed),
        commit_ns: phase::COMMIT.load(Relaxed),
        one_statement_groups: phase::ONE_STATEMENT.load(Relaxed),
    }
}

/// Most events one group-commit transaction takes.
pub const MAX_GROUP_EVENTS: usize = 8192;

/// Groups up to this many events are written by one `INSERT … SELECT FROM unnest(…)` that also
/// moves the head and notifies (one round trip); larger ones by binary `COPY`.
pub const SMALL_GROUP: usize = 64;

/// What a stream's version must be for an append to go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// No check (network events, decisions).
    Any,
    /// The stream must not exist yet (creating a resource).
    NoStream,
    /// The stream's last event must have this version (updating a resource).
    Exact(i32),
}

impl ExpectedVersion {
    fn admits(self, actual: i32) -> bool {
        match self {
            Self::Any => true,
            Self::NoStream => actual == 0,
            Self::Exact(v) => actual == v,
        }
    }
}

/// Where one event of an append landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub event_id: Uuid,
    pub position: Position,
    pub stream_version: i32,
    /// The event was already in the log; nothing was written for it.
    pub duplicate: bool,
}

pub(crate) struct Request {
    pub events: Vec<NewEvent>,
    pub expected: ExpectedVersion,
    pub reply: oneshot::Sender<Result<Vec<Appended>>>,
}

/// Stream versions as of the head this appender last wrote. Valid only while no other process
/// has appended since: the head found under the lock says which (if it moved, the cache is
/// dropped and versions are read from the table again).
#[derive(Default)]
struct VersionCache {
    valid_at_head: Option<Position>,
    versions: HashMap<String, i32>,
    /// Whether small groups try one statement first: off after a try found that another
    /// process had appended (it would keep costing a round trip while processes share the
    /// shard), on again once a full commit finds no one else wrote since this appender's last.
    one_statement: bool,
}

impl VersionCache {
    const MAX_STREAMS: usize = 1_000_000;

    fn invalidate(&mut self) {
        self.valid_at_head = None;
        self.versions.clear();
    }

    /// Whether this appender alone wrote since its last commit: then its versions are the log's.
    fn confirm_alone(&mut self, head_found: Position) {
        self.one_statement = self.valid_at_head == Some(head_found);
    }
}

pub(crate) async fn run_appender(pool: PgPool, shard: i32, mut rx: mpsc::Receiver<Request>) {
    let mut cache = VersionCache::default();
    let mut held: Option<Request> = None;
    loop {
        let first = match held.take() {
            Some(r) => r,
            None => match rx.recv().await {
                Some(r) => r,
                None => return,
            },
        };
        let mut size = first.events.len();
        let mut group = vec![first];
        while size < MAX_GROUP_EVENTS {
            match rx.try_recv() {
                Ok(r) if size + r.events.len() > MAX_GROUP_EVENTS => {
                    held = Some(r);
                    break;
                }
                Ok(r) => {
                    size += r.events.len();
                    group.push(r);
                }
                Err(_) => break,
            }
        }
        for part in small_first(group) {
            commit_and_answer(&pool, shard, part, &mut cache).await;
        }
    }
}

/// Small requests (a command's events, a decider's decisions) queued with a large one (an
/// ingest batch) are committed first, in a group of their own: a small group is one statement,
/// so a decision or an API write does not wait for the copy of a thousand events queued
/// beside it. Concurrent requests have no order among them, so this reorders nothing a
/// caller could rely on.
fn small_first(group: Vec<Request>) -> Vec<Vec<Request>> {
    if group.iter().all(|r| r.events.len() <= SMALL_GROUP) {
        return vec![group];
    }
    let (mut small, mut rest, mut small_events) = (Vec::new(), Vec::new(), 0);
    for r in group {
        if small_events + r.events.len() <= SMALL_GROUP {
            small_events += r.events.len();
            small.push(r);
        } else {
            rest.push(r);
        }
    }
    [small, rest].into_iter().filter(|part| !part.is_empty()).collect()
}

/// Commits a group and answers each of its requests.
async fn commit_and_answer(pool: &PgPool, shard: i32, group: Vec<Request>, cache: &mut VersionCache) {
    let (started, size) = (Instant::now(), group.iter().map(|r| r.events.len()).sum::<usize>());
    let replies = commit_group(pool, shard, &group, cache).await;
    metrics::histogram!("simledger_eventlog_group_commit_seconds").record(started.elapsed().as_secs_f64());
    metrics::histogram!("simledger_eventlog_group_events").record(size as f64);
    match replies {
        Ok(outcomes) => {
            for (req, outcome) in group.into_iter().zip(outcomes) {
                let _ = req.reply.send(outcome);
            }
        }
        Err(e) if group.len() > 1 => {
            // One request the database refuses must not fail the others it was grouped
            // with: commit them one by one, so only the offending one fails.
            cache.invalidate();
            tracing::warn!(error = %e, requests = group.len(), "group commit failed; committing its requests one by one");
            for req in group {
                let single = [req];
                let outcome = match commit_group(pool, shard, &single, cache).await {
                    Ok(mut outcomes) => outcomes.pop().expect("one outcome per request"),
                    Err(e) => {
                        cache.invalidate();
                        // Alone, a refusal is this request's own: say what it was, so the
                        // caller can tell it from a database that was unreachable.
                        if e.is_transient() {
                            Err(EventLogError::CommitFailed(e.to_string()))
                        } else {
                            Err(e)
                        }
                    }
                };
                let [req] = single;
                let _ = req.reply.send(outcome);
            }
        }
        Err(e) => {
            cache.invalidate();
            tracing::warn!(error = %e, "commit failed; the caller may retry");
            if e.is_transient() {
                for req in group {
                    let _ = req.reply.send(Err(EventLogError::CommitFailed(e.to_string())));
                }
            } else if let Some(req) = group.into_iter().next() {
                let _ = req.reply.send(Err(e));
            }
        }
    }
}

/// One transaction for the whole group. Returns each request's own outcome: a conflicting
/// request fails alone, the others still commit.
async fn commit_group(
    pool: &PgPool,
    shard: i32,
    group: &[Request],
    cache: &mut VersionCache,
) -> Result<Vec<Result<Vec<Appended>>>> {
    if let Some(outcomes) = commit_in_one_statement(pool, shard, group, cache).await? {
        return Ok(outcomes);
    }
    let mut clock = Instant::now();
    let mut tx = pool.begin().await?;
    let ids: Vec<Uuid> = group.iter().flat_map(|r| r.events.iter().map(|e| e.event_id)).collect();
    let found = lock_and_find(&mut tx, shard, &ids).await?;
    let (head, mut known) = (found.head, found.known);
    cache.confirm_alone(head);
    add(&phase::LOCK, &mut clock);
    if found.head_before_lock != head {
        // An append committed while the statement waited for the lock: its duplicate check read
        // the table as it was before. Read again, now that the lock is held.
        known = existing_events(&mut tx, &ids).await?;
    }
    if cache.valid_at_head != Some(head) || cache.versions.len() > VersionCache::MAX_STREAMS {
        cache.invalidate();
    }
    add(&phase::DEDUPE, &mut clock);
    let mut versions = stream_versions(&mut tx, group, &known, &cache.versions).await?;
    add(&phase::VERSIONS, &mut clock);

    let mut next = head;
    let mut fresh: Vec<(&NewEvent, Position, i32)> = Vec::new();
    let mut outcomes = Vec::with_capacity(group.len());
    for req in group {
        let is_new = |e: &NewEvent, known: &HashMap<Uuid, (Position, i32)>| !known.contains_key(&e.event_id);
        if let Some(first_new) = req.events.iter().find(|e| is_new(e, &known)) {
            let actual = versions.get(first_new.stream.as_str()).copied().unwrap_or(0);
            if !req.expected.admits(actual) {
                outcomes.push(Err(EventLogError::Conflict {
                    stream: first_new.stream.clone(),
                    expected: format!("{:?}", req.expected),
                    actual,
                }));
                continue;
            }
        }
        let mut out = Vec::with_capacity(req.events.len());
        for e in &req.events {
            if let Some(&(position, stream_version)) = known.get(&e.event_id) {
                out.push(Appended { event_id: e.event_id, position, stream_version, duplicate: true });
                continue;
            }
            next += 1;
            let version = versions.entry(e.stream.as_str()).or_insert(0);
            *version += 1;
            known.insert(e.event_id, (next, *version));
            fresh.push((e, next, *version));
            out.push(Appended { event_id: e.event_id, position: next, stream_version: *version, duplicate: false });
        }
        outcomes.push(Ok(out));
    }

    if fresh.len() > SMALL_GROUP {
        copy_rows(&mut tx, shard, &fresh).await?;
        move_head(&mut tx, shard, next).await?;
    } else if !fresh.is_empty() {
        insert_rows_and_move_head(&mut tx, shard, &fresh, next).await?;
    }
    add(&phase::COPY, &mut clock);
    tx.commit().await?;
    add(&phase::COMMIT, &mut clock);
    for (stream, version) in versions {
        if version > 0 {
            cache.versions.insert(stream.to_owned(), version);
        }
    }
    cache.valid_at_head = Some(next);
    record_commit(fresh.len(), next);
    Ok(outcomes)
}

/// The small appends' fast path: when this appender knows the head and every stream's version
/// (its cache is valid) and the group is small and admitted, the group is one statement
/// outside an explicit transaction, so one round trip: it locks the head only if it is still
/// the one the cache is valid at, inserts the rows only if none of their ids is logged yet,
/// moves the head and notifies. Any of those failing writes nothing and answers `None`, and
/// the group takes the full path, which reads what it must. Positions, versions and the head
/// are the ones the full path would give; the lock is held for that one statement only.
async fn commit_in_one_statement(
    pool: &PgPool,
    shard: i32,
    group: &[Request],
    cache: &mut VersionCache,
) -> Result<Option<Vec<Result<Vec<Appended>>>>> {
    let Some(head) = cache.valid_at_head.filter(|_| cache.one_statement) else { return Ok(None) };
    let count: usize = group.iter().map(|r| r.events.len()).sum();
    if count == 0 || count > SMALL_GROUP {
        return Ok(None);
    }
    let mut versions: HashMap<&str, i32> = HashMap::new();
    let mut ids = std::collections::HashSet::with_capacity(count);
    for e in group.iter().flat_map(|r| r.events.iter()) {
        // An id twice in the group is a duplicate of itself, which only the full path answers.
        if !ids.insert(e.event_id) {
            return Ok(None);
        }
        match cache.versions.get(e.stream.as_str()) {
            Some(&v) => {
                versions.insert(e.stream.as_str(), v);
            }
            // A stream this appender has not written: its version is in the table only.
            None => return Ok(None),
        }
    }
    let mut clock = Instant::now();
    let mut next = head;
    let mut fresh: Vec<(&NewEvent, Position, i32)> = Vec::with_capacity(count);
    let mut outcomes = Vec::with_capacity(group.len());
    for req in group {
        let Some(first) = req.events.first() else {
            outcomes.push(Ok(Vec::new()));
            continue;
        };
        // A conflict is answered by the full path, from versions it reads itself.
        if !req.expected.admits(versions[first.stream.as_str()]) {
            return Ok(None);
        }
        let mut out = Vec::with_capacity(req.events.len());
        for e in &req.events {
            next += 1;
            let version = versions.get_mut(e.stream.as_str()).expect("every stream is cached");
            *version += 1;
            fresh.push((e, next, *version));
            out.push(Appended { event_id: e.event_id, position: next, stream_version: *version, duplicate: false });
        }
        outcomes.push(Ok(out));
    }
    let c = Columns::of(&fresh);
    // `FOR UPDATE` re-reads a row another transaction changed meanwhile, so `head = $13` is
    // checked against the committed head: if anyone appended since, nothing is written. The
    // duplicate check reads the statement's snapshot, which holds every event up to that head.
    // Read to the end (`fetch_all`), not to the first row: the commit is at the end of the
    // exchange, and no caller may hear of its append before it.
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "WITH h AS MATERIALIZED (SELECT head FROM log_shards WHERE shard = $1 AND head = $13 FOR UPDATE), \
             ins AS ({INSERT_ROWS} CROSS JOIN h \
               WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.event_id = ANY($3)) RETURNING 1), \
             moved AS (UPDATE log_shards SET head = $10 WHERE shard = $1 AND EXISTS (SELECT 1 FROM ins)) \
             SELECT s.written, pg_notify($11, $12) FROM (SELECT count(*) AS written FROM ins) s WHERE s.written > 0"
        )
    });
    let rows = c
        .bind(sqlx::query(&SQL), shard)
        .bind(next)
        .bind(NOTIFY_CHANNEL)
        .bind(next.to_string())
        .bind(head)
        .fetch_all(pool)
        .await?;
    add(&phase::COMMIT, &mut clock);
    let written: i64 = rows.first().map(|row| row.try_get(0)).transpose()?.unwrap_or(0);
    if written == 0 {
        // Another process appended since (or an id is logged already): the full path decides.
        cache.one_statement = false;
        return Ok(None);
    }
    if written as usize != fresh.len() {
        // Cannot happen (the insert is all or nothing); if it did, what was committed is read
        // again on the caller's retry, where its events are duplicates.
        cache.invalidate();
        return Err(EventLogError::CommitFailed(format!("{written} of {} rows written", fresh.len())));
    }
    for (stream, version) in versions {
        cache.versions.insert(stream.to_owned(), version);
    }
    cache.valid_at_head = Some(next);
    phase::ONE_STATEMENT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    record_commit(fresh.len(), next);
    Ok(Some(outcomes))
}

/// Counts a committed group of `events` in the profile and the metrics; `head` is the new head.
fn record_commit(events: usize, head: Position) {
    phase::GROUPS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    phase::EVENTS.fetch_add(events as u64, std::sync::atomic::Ordering::Relaxed);
    metrics::counter!("simledger_eventlog_appended_total").increment(events as u64);
    metrics::gauge!("simledger_eventlog_head").set(head as f64);
}

/// The insert both small-group statements make: `$1` the shard, `$2`–`$8` the rows' arrays
/// ([`Columns`]), `$9` the time recorded. Each statement builds around it, from `$10` on.
const INSERT_ROWS: &str = "INSERT INTO events (shard, position, event_id, stream, stream_version, type, data, \
     metadata, recorded_at) SELECT $1, u.p, u.id, u.s, u.v, u.t, u.d::jsonb, u.m::jsonb, $9 \
     FROM unnest($2::bigint[], $3::uuid[], $4::text[], $5::int[], $6::text[], $7::text[], $8::text[]) \
     AS u(p, id, s, v, t, d, m)";

/// A small group's rows as the arrays an `INSERT … SELECT FROM unnest(…)` binds.
struct Columns<'a> {
    positions: Vec<i64>,
    ids: Vec<Uuid>,
    streams: Vec<&'a str>,
    versions: Vec<i32>,
    types: Vec<&'a str>,
    data: Vec<&'a str>,
    metadata: Vec<&'a str>,
}

impl<'a> Columns<'a> {
    fn of(rows: &[(&'a NewEvent, Position, i32)]) -> Self {
        Self {
            positions: rows.iter().map(|r| r.1).collect(),
            ids: rows.iter().map(|r| r.0.event_id).collect(),
            streams: rows.iter().map(|r| r.0.stream.as_str()).collect(),
            versions: rows.iter().map(|r| r.2).collect(),
            types: rows.iter().map(|r| r.0.event_type).collect(),
            data: rows.iter().map(|r| r.0.data.as_str()).collect(),
            metadata: rows.iter().map(|r| r.0.metadata.as_str()).collect(),
        }
    }

    /// Binds [`INSERT_ROWS`]' `$1`–`$9`: the shard, the rows, and now as their recorded time.
    fn bind<'q>(&'q self, query: PgQuery<'q>, shard: i32) -> PgQuery<'q> {
        query
            .bind(shard)
            .bind(&self.positions)
            .bind(&self.ids)
            .bind(&self.streams)
            .bind(&self.versions)
            .bind(&self.types)
            .bind(&self.data)
            .bind(&self.metadata)
            .bind(Utc::now())
    }
}

type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

/// What [`lock_and_find`] found.
struct Found {
    /// The head, locked.
    head: Position,
    /// The head as the statement's snapshot saw it, before it waited for the lock. Equal to
    /// `head` when no append committed meanwhile, which is when `known` is complete.
    head_before_lock: Position,
    /// Which of the ids are in the log, as of the snapshot.
    known: HashMap<Uuid, (Position, i32)>,
}

/// Locks the shard's head row and finds which of `ids` are in the log, in one round trip.
async fn lock_and_find(conn: &mut PgConnection, shard: i32, ids: &[Uuid]) -> Result<Found> {
    /// Head, head before the lock, and a logged event's id, position and stream version.
    type Row = (i64, i64, Option<Uuid>, Option<i64>, Option<i32>);
    let rows: Vec<Row> = sqlx::query_as(
        "WITH h AS MATERIALIZED (SELECT head FROM log_shards WHERE shard = $1 FOR UPDATE) \
         SELECT h.head, (SELECT head FROM log_shards WHERE shard = $1), e.event_id, e.position, e.stream_version \
         FROM h LEFT JOIN events e ON e.event_id = ANY($2)",
    )
    .bind(shard)
    .bind(ids)
    .fetch_all(conn)
    .await?;
    let Some(&(head, head_before_lock, ..)) = rows.first() else {
        return Err(EventLogError::InvalidBatch(format!("no shard {shard}")));
    };
    let known = rows.into_iter().filter_map(|(_, _, id, p, v)| Some((id?, (p?, v?)))).collect();
    Ok(Found { head, head_before_lock, known })
}

/// Moves the head and tells the subscribers, in one statement.
async fn move_head(conn: &mut PgConnection, shard: i32, head: Position) -> Result<()> {
    sqlx::query("WITH h AS (UPDATE log_shards SET head = $2 WHERE shard = $1) SELECT pg_notify($3, $4)")
        .bind(shard)
        .bind(head)
        .bind(NOTIFY_CHANNEL)
        .bind(head.to_string())
        .execute(conn)
        .await?;
    Ok(())
}

/// A small group's rows, the new head and the notification, in one statement.
async fn insert_rows_and_move_head(
    conn: &mut PgConnection,
    shard: i32,
    rows: &[(&NewEvent, Position, i32)],
    head: Position,
) -> Result<()> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "WITH ins AS ({INSERT_ROWS}), h AS (UPDATE log_shards SET head = $10 WHERE shard = $1) \
             SELECT pg_notify($11, $12)"
        )
    });
    let c = Columns::of(rows);
    c.bind(sqlx::query(&SQL), shard).bind(head).bind(NOTIFY_CHANNEL).bind(head.to_string()).execute(conn).await?;
    Ok(())
}

async fn existing_events(conn: &mut PgConnection, ids: &[Uuid]) -> Result<HashMap<Uuid, (Position, i32)>> {
    let rows: Vec<(Uuid, i64, i32)> =
        sqlx::query_as("SELECT event_id, position, stream_version FROM events WHERE event_id = ANY($1)")
            .bind(ids)
            .fetch_all(conn)
            .await?;
    Ok(rows.into_iter().map(|(id, p, v)| (id, (p, v))).collect())
}

/// Current version of every stream the group writes to (0 for a new stream): from the cache
/// where it has the stream, else from the table.
async fn stream_versions<'a>(
    conn: &mut PgConnection,
    group: &'a [Request],
    known: &HashMap<Uuid, (Position, i32)>,
    cached: &HashMap<String, i32>,
) -> Result<HashMap<&'a str, i32>> {
    let mut versions = HashMap::new();
    let mut streams: Vec<&str> = Vec::new();
    for e in group.iter().flat_map(|r| r.events.iter()).filter(|e| !known.contains_key(&e.event_id)) {
        match cached.get(e.stream.as_str()) {
            Some(&v) => {
                versions.insert(e.stream.as_str(), v);
            }
            None => streams.push(e.stream.as_str()),
        }
    }
    streams.sort_unstable();
    streams.dedup();
    if streams.is_empty() {
        return Ok(versions);
    }
    let rows: Vec<(String, i32)> = sqlx::query_as(
        "SELECT s.stream, v.version FROM unnest($1::text[]) AS s(stream) \
         CROSS JOIN LATERAL (SELECT max(stream_version) AS version FROM events e WHERE e.stream = s.stream) v \
         WHERE v.version IS NOT NULL",
    )
    .bind(&streams)
    .fetch_all(conn)
    .await?;
    let found: HashMap<String, i32> = rows.into_iter().collect();
    versions.extend(streams.into_iter().map(|s| (s, found.get(s).copied().unwrap_or(0))));
    Ok(versions)
}

async fn copy_rows(conn: &mut PgConnection, shard: i32, rows: &[(&NewEvent, Position, i32)]) -> Result<()> {
    let recorded_at = Utc::now();
    let bytes: usize = rows.iter().map(|(e, _, _)| e.payload_len() + 120).sum();
    let mut copy = CopyBinary::with_capacity(bytes);
    for (e, position, version) in rows {
        copy.row(9)
            .int4(shard)
            .int8(*position)
            .uuid(&e.event_id)
            .text(&e.stream)
            .int4(*version)
            .text(e.event_type)
            .jsonb(&e.data)
            .jsonb(&e.metadata)
            .timestamptz(&recorded_at);
    }
    let mut sink = conn
        .copy_in_raw(
            "COPY events (shard, position, event_id, stream, stream_version, type, data, metadata, recorded_at) \
             FROM STDIN (FORMAT binary)",
        )
        .await?;
    sink.send(copy.finish()).await?;
    sink.finish().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::SmsEvent;
    use crate::{Event, Metadata};

    fn request(events: usize) -> Request {
        let event = Event::SmsMoSubmitted(SmsEvent {
            sms_command_sid: "HC00000000000000000000000000000001".into(),
            account_sid: "AC00000000000000000000000000000001".into(),
            sim_sid: "HS00000000000000000000000000000001".into(),
            sim_iccid: "8988307000000000001".into(),
            imsi: "310240123456789".into(),
            direction: "from_sim".into(),
            status: "submitted".into(),
            payload: "reading".into(),
            timestamp: Utc::now(),
            network: None,
            error: None,
        });
        let one = NewEvent::new(Uuid::new_v4(), "s", &event, &Metadata::default()).expect("valid");
        Request { events: vec![one; events], expected: ExpectedVersion::Any, reply: oneshot::channel().0 }
    }

    fn sizes(parts: &[Vec<Request>]) -> Vec<Vec<usize>> {
        parts.iter().map(|p| p.iter().map(|r| r.events.len()).collect()).collect()
    }

    #[test]
    fn small_requests_queued_with_a_large_one_are_committed_first_as_one_small_group() {
        let group = [100, 1, 2, 200, 70, 5].map(request).into_iter().collect();
        assert_eq!(sizes(&small_first(group)), vec![vec![1, 2, 5], vec![100, 200, 70]]);
    }

    #[test]
    fn a_group_of_small_requests_or_of_large_ones_only_stays_whole() {
        let smalls = [10, 40, 30].map(request).into_iter().collect();
        assert_eq!(sizes(&small_first(smalls)), vec![vec![10, 40, 30]]);
        let larges = [65, 3000].map(request).into_iter().collect();
        assert_eq!(sizes(&small_first(larges)), vec![vec![65, 3000]]);
    }
}
