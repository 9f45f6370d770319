use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};
use uuid::Uuid;

use futures_util::StreamExt;

use crate::catalog::DecodeError;
use crate::copy::{field, CopyFormatError, CopyRows, Field};
use crate::{Event, EventLogError, Metadata, Position, RecordedEvent, Result};

const COLUMNS: &str =
    "shard, position, event_id, stream, stream_version, type, data::text AS data, metadata::text AS metadata, recorded_at";

/// A page of the log: the events after `after`, at most `limit` of them. Read with a binary
/// `COPY`, parsed and decoded while the server still sends (no per-row result structures, and
/// the JSON decoding overlaps the server's work), since catch-up and replay read the whole log
/// this way.
pub(crate) async fn read(pool: &PgPool, shard: i32, after: Position, limit: i64) -> Result<Vec<RecordedEvent>> {
    // COPY takes no bind parameters; these are integers, formatted from their types.
    // Positions are gap-free, so `after + limit` bounds the page exactly; the bound keeps the
    // plan an index range scan even before the table has statistics (without it, a freshly
    // loaded log was read with a bitmap scan and a sort of every later row: 1.3 s a page).
    let (after, limit) = (after.max(0), limit.max(0));
    let upto = after.saturating_add(limit);
    let sql = format!(
        "COPY (SELECT shard, position, event_id, stream, stream_version, type, data, metadata, recorded_at \
         FROM events WHERE shard = {shard} AND position > {after} AND position <= {upto} \
         ORDER BY position LIMIT {limit}) TO STDOUT (FORMAT binary)"
    );
    let mut conn = CopyConnection(Some(pool.acquire().await?));
    let mut stream = conn.0.as_mut().expect("held until dropped").copy_out_raw(&sql).await?;
    let mut rows = CopyRows::default();
    let mut events: Vec<RecordedEvent> = Vec::with_capacity(limit.min(10_000) as usize);
    while let Some(chunk) = stream.next().await {
        rows.push(&chunk?);
        while let Some(row) = rows.next_row::<9>()? {
            events.push(decode_copy_row(row)?);
        }
    }
    drop(stream);
    if !rows.finished() {
        return Err(CopyFormatError::Truncated.into());
    }
    conn.done();
    contiguous(after, &events)?;
    Ok(events)
}

/// [`read`] with a plain `SELECT`: a prepared statement the server plans once, cheaper than a
/// `COPY` for the few events a subscriber that is live reads at a time.
pub(crate) async fn read_few(pool: &PgPool, shard: i32, after: Position, limit: i64) -> Result<Vec<RecordedEvent>> {
    Ok(read_few_sized(pool, shard, after, limit).await?.into_iter().map(|(event, _)| event).collect())
}

/// [`read_few`], each event with the bytes of its stored JSON (data and metadata): what the
/// shared tail counts against its memory budget.
pub(crate) async fn read_few_sized(
    pool: &PgPool,
    shard: i32,
    after: Position,
    limit: i64,
) -> Result<Vec<(RecordedEvent, usize)>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM events WHERE shard = $1 AND position > $2 AND position <= $2 + $3 \
         ORDER BY position LIMIT $3"
    ))
    .bind(shard)
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    let mut events = Vec::with_capacity(rows.len());
    let mut sizes = Vec::with_capacity(rows.len());
    for row in &rows {
        let bytes = |column| row.try_get::<&str, _>(column).map_or(0, str::len);
        sizes.push(bytes("data") + bytes("metadata"));
        events.push(decode_row(row)?);
    }
    contiguous(after, &events)?;
    Ok(events.into_iter().zip(sizes).collect())
}

/// What a follower of the log reads next: [`read_few_sized`], and when it finds nothing, the
/// check that nothing is missing either. Head and next event are read in one snapshot, so an
/// append that commits between the two reads is not mistaken for a hole.
pub(crate) async fn read_next(
    pool: &PgPool,
    shard: i32,
    after: Position,
    limit: i64,
) -> Result<Vec<(RecordedEvent, usize)>> {
    let events = read_few_sized(pool, shard, after, limit).await?;
    if events.is_empty() {
        if let Some(head) = hole_after(pool, shard, after).await? {
            return Err(EventLogError::Gap { after, next: head });
        }
    }
    Ok(events)
}

/// Positions are gap-free; a page that is not contiguous would skip an event for ever.
fn contiguous(after: Position, events: &[RecordedEvent]) -> Result<()> {
    for (i, e) in events.iter().enumerate() {
        let expected = after + 1 + i as i64;
        if e.position != expected {
            return Err(EventLogError::Gap { after: expected - 1, next: e.position });
        }
    }
    Ok(())
}

/// The connection a `COPY` reads on. Dropped before the COPY has run to its end (the reading
/// task aborted, an error), it is closed rather than returned to the pool: the server's rest
/// of the COPY would be read by the next query on it as that query's answer.
struct CopyConnection(Option<sqlx::pool::PoolConnection<sqlx::Postgres>>);

impl CopyConnection {
    /// The COPY ran to its end: the connection may serve again.
    fn done(&mut self) {
        self.0.take();
    }
}

impl Drop for CopyConnection {
    fn drop(&mut self) {
        if let Some(conn) = self.0.take() {
            drop(conn.detach());
        }
    }
}

/// One row of [`read`]'s COPY, in its column order.
fn decode_copy_row(row: [Field<'_>; 9]) -> Result<RecordedEvent> {
    let [shard, position, event_id, stream, version, event_type, data, metadata, recorded_at] = row;
    fn not_null(f: Field<'_>) -> std::result::Result<&[u8], CopyFormatError> {
        f.ok_or(CopyFormatError::FieldSize { kind: "non-null", len: 0 })
    }
    let position = field::int8(not_null(position)?)?;
    let event_type = field::text(not_null(event_type)?)?;
    decode_parts(
        field::int4(not_null(shard)?)?,
        position,
        field::uuid(not_null(event_id)?)?,
        field::text(not_null(stream)?)?,
        field::int4(not_null(version)?)?,
        event_type,
        field::jsonb(not_null(data)?)?,
        field::jsonb(not_null(metadata)?)?,
        field::timestamptz(not_null(recorded_at)?)?,
    )
}

/// The events at these positions (those the log holds), in position order.
pub(crate) async fn read_at(pool: &PgPool, shard: i32, positions: &[i64]) -> Result<Vec<RecordedEvent>> {
    let rows =
        sqlx::query(&format!("SELECT {COLUMNS} FROM events WHERE shard = $1 AND position = ANY($2) ORDER BY position"))
            .bind(shard)
            .bind(positions)
            .fetch_all(pool)
            .await?;
    rows.iter().map(decode_row).collect()
}

/// The events of `types` in `(after, min(after + span, head)]`, and that upper bound: everything
/// up to it has been looked at. The head is read first, so every position up to it is committed
/// and the range can never later gain an event.
pub(crate) async fn read_types(
    pool: &PgPool,
    shard: i32,
    after: Position,
    span: i64,
    types: &[String],
) -> Result<(Vec<RecordedEvent>, Position)> {
    let upto = head(pool, shard).await?.min(after + span);
    if upto <= after {
        return Ok((Vec::new(), after));
    }
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM events WHERE shard = $1 AND position > $2 AND position <= $3 AND type = ANY($4) \
         ORDER BY position"
    ))
    .bind(shard)
    .bind(after)
    .bind(upto)
    .bind(types)
    .fetch_all(pool)
    .await?;
    let events = rows.iter().map(decode_row).collect::<Result<_>>()?;
    Ok((events, upto))
}

pub(crate) async fn read_stream(pool: &PgPool, stream: &str, after_version: i32) -> Result<Vec<RecordedEvent>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM events WHERE stream = $1 AND stream_version > $2 ORDER BY stream_version"
    ))
    .bind(stream)
    .bind(after_version)
    .fetch_all(pool)
    .await?;
    rows.iter().map(decode_row).collect()
}

pub(crate) async fn find(pool: &PgPool, event_id: Uuid) -> Result<Option<RecordedEvent>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM events WHERE event_id = $1"))
        .bind(event_id)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(decode_row).transpose()
}

pub(crate) async fn find_all(pool: &PgPool, event_ids: &[Uuid]) -> Result<Vec<RecordedEvent>> {
    let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM events WHERE event_id = ANY($1) ORDER BY position"))
        .bind(event_ids)
        .fetch_all(pool)
        .await?;
    rows.iter().map(decode_row).collect()
}

/// `Some(head)` if, in one snapshot, the head is past `after` yet no event follows it: a hole.
pub(crate) async fn hole_after(pool: &PgPool, shard: i32, after: Position) -> Result<Option<Position>> {
    let (head, next_exists): (i64, bool) = sqlx::query_as(
        "SELECT (SELECT head FROM log_shards WHERE shard = $1), \
                EXISTS (SELECT 1 FROM events WHERE shard = $1 AND position = $2 + 1)",
    )
    .bind(shard)
    .bind(after)
    .fetch_one(pool)
    .await?;
    Ok((head > after && !next_exists).then_some(head))
}

/// The last position recorded before `t` (0 if none): a binary search over positions, each a
/// primary-key lookup, since `recorded_at` grows with the position and has no index of its own.
pub(crate) async fn position_before(pool: &PgPool, shard: i32, t: DateTime<Utc>) -> Result<Position> {
    let (mut low, mut high) = (0, head(pool, shard).await?);
    while low < high {
        let mid = low + (high - low + 1) / 2;
        let at: DateTime<Utc> = sqlx::query_scalar("SELECT recorded_at FROM events WHERE shard = $1 AND position = $2")
            .bind(shard)
            .bind(mid)
            .fetch_one(pool)
            .await?;
        if at < t {
            low = mid;
        } else {
            high = mid - 1;
        }
    }
    Ok(low)
}

pub(crate) async fn head(pool: &PgPool, shard: i32) -> Result<Position> {
    Ok(sqlx::query_scalar("SELECT head FROM log_shards WHERE shard = $1").bind(shard).fetch_one(pool).await?)
}

fn decode_row(row: &PgRow) -> Result<RecordedEvent> {
    decode_parts(
        row.try_get("shard")?,
        row.try_get("position")?,
        row.try_get::<Uuid, _>("event_id")?,
        row.try_get("stream")?,
        row.try_get("stream_version")?,
        row.try_get("type")?,
        row.try_get("data")?,
        row.try_get("metadata")?,
        row.try_get::<DateTime<Utc>, _>("recorded_at")?,
    )
}

/// An event from its stored columns; `data` and `metadata` are JSON text.
#[allow(clippy::too_many_arguments)]
fn decode_parts(
    shard: i32,
    position: Position,
    event_id: Uuid,
    stream: &str,
    stream_version: i32,
    event_type: &str,
    data: &str,
    metadata: &str,
    recorded_at: DateTime<Utc>,
) -> Result<RecordedEvent> {
    let event = Event::decode(event_type, data).map_err(|e| match e {
        DecodeError::UnknownType => EventLogError::UnknownEventType { position, event_type: event_type.to_owned() },
        DecodeError::Data(reason) => {
            EventLogError::Malformed { position, event_type: event_type.to_owned(), reason: reason.to_string() }
        }
    })?;
    let metadata: Metadata = serde_json::from_str(metadata).map_err(|e| EventLogError::Malformed {
        position,
        event_type: event_type.to_owned(),
        reason: format!("metadata: {e}"),
    })?;
    Ok(RecordedEvent {
        shard,
        position,
        event_id,
        stream: stream.to_owned(),
        stream_version,
        event,
        metadata,
        recorded_at,
    })
}

/// Pages read at once by [`Pages`], each on its own connection and in its own task, so that as
/// many server backends produce rows while this process decodes them on as many threads. A
/// single reader is bound by its one backend: `bench eventlog` read the log at 0.79 of the
/// server's own COPY out with one page in flight, 1.08 with two and 1.15 with three.
const READS_IN_FLIGHT: usize = 3;

/// The log from a position on, page by page, read ahead: [`READS_IN_FLIGHT`] pages are fetched
/// and decoded in a task of their own while the caller works on the current one (a replay
/// applying a batch, a catch-up). Ends where the log ended when the page was read.
///
/// Positions are gap-free, so the page after `a` is exactly `(a, a + page]` and the next pages
/// can be asked for before this one arrives. Pages are handed over in order. A page shorter than
/// `page` is where the log ended as of its read; a page read beside it may have been read later,
/// after more was appended, and so does not follow it: such pages are thrown away and reading
/// goes on from the short page's end, one page at a time, as a single reader would.
pub struct Pages {
    pages: tokio::sync::mpsc::Receiver<Result<Vec<RecordedEvent>>>,
    reader: tokio::task::JoinHandle<()>,
    /// The empty page that marks the end was handed over.
    ended: bool,
}

impl Pages {
    pub(crate) fn start(pool: PgPool, shard: i32, after: Position, page: i64) -> Self {
        let (tx, pages) = tokio::sync::mpsc::channel(1);
        // As `read` takes them: a position before the log's start is its start.
        let (after, page) = (after.max(0), page.max(1));
        let reader = tokio::spawn(async move {
            let mut in_flight = futures_util::stream::FuturesOrdered::new();
            // The start of the next page to ask for.
            let mut ask_after = after;
            // Pages are asked for ahead only while the log has been seen to go on.
            let mut ahead = READS_IN_FLIGHT;
            loop {
                while in_flight.len() < ahead {
                    let pool = pool.clone();
                    // A task each, so that pages are decoded on as many threads.
                    in_flight
                        .push_back(Aborting(tokio::spawn(async move { read(&pool, shard, ask_after, page).await })));
                    ask_after = ask_after.saturating_add(page);
                }
                let next = match in_flight.next().await.expect("a read is in flight") {
                    Ok(read) => read,
                    Err(e) => {
                        // Said, never taken for the log's end: a replay would stop short.
                        tracing::error!(error = %e, "a page read of the log stopped");
                        let _ = tx.send(Err(EventLogError::ReaderStopped)).await;
                        return;
                    }
                };
                let (done, short_at) = match &next {
                    Ok(events) => match events.last() {
                        Some(_) if events.len() as i64 == page => (false, None),
                        Some(last) => (false, Some(last.position)),
                        None => (true, None),
                    },
                    Err(_) => (true, None),
                };
                if short_at.is_some() || done {
                    // Drained, not dropped: a dropped COPY costs its connection.
                    while in_flight.next().await.is_some() {}
                }
                if let Some(end) = short_at {
                    ask_after = end;
                    ahead = 1;
                }
                if tx.send(next).await.is_err() || done {
                    return;
                }
            }
        });
        Self { pages, reader, ended: false }
    }

    /// The next page; `None` once the log is read to its end.
    pub async fn next(&mut self) -> Result<Option<Vec<RecordedEvent>>> {
        if self.ended {
            return Ok(None);
        }
        match self.pages.recv().await {
            Some(Ok(events)) if events.is_empty() => {
                self.ended = true;
                Ok(None)
            }
            Some(Ok(events)) => Ok(Some(events)),
            Some(Err(e)) => Err(e),
            // The reader ends only after an empty page or an error: anything else stopped it.
            None => Err(EventLogError::ReaderStopped),
        }
    }
}

/// A task aborted when its handle is dropped: a page read ahead is not wanted once its reader
/// is gone.
struct Aborting<T>(tokio::task::JoinHandle<T>);

impl<T> std::future::Future for Aborting<T> {
    type Output = std::result::Result<T, tokio::task::JoinError>;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0).poll(cx)
    }
}

impl<T> Drop for Aborting<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Drop for Pages {
    fn drop(&mut self) {
        self.reader.abort();
    }
}
