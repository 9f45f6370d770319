//! `simledger bench eventlog`: N events (~300-byte payloads over 10,000 streams) appended through
//! the real append path by many concurrent producers, then read back by catch-up reads.
//!
//! References, same run, same server: binary `COPY` of the very same rows into a plain table
//! with the same columns and no constraints (the physical limit), the same into a table with the
//! log's indexes, and `COPY … TO STDOUT` of the log for the read side.

use std::sync::Arc;
use std::time::Instant;

use chrono::{TimeZone, Utc};
use clap::Args;
use futures_util::StreamExt;
use rand::{RngCore, SeedableRng};
use simledger_eventlog::catalog::SmsEvent;
use simledger_eventlog::copy::CopyBinary;
use simledger_eventlog::{Event, EventLog, ExpectedVersion, Metadata, NewEvent};

use super::report::{print, Figure};
use super::BenchDatabase;
use crate::config::Config;

#[derive(Debug, Args)]
pub struct EventlogArgs {
    /// Events to append.
    #[arg(long, default_value_t = 1_000_000)]
    events: usize,
    /// Streams the events are spread over.
    #[arg(long, default_value_t = 10_000)]
    streams: usize,
    /// Concurrent producers calling append.
    #[arg(long, default_value_t = 64)]
    producers: usize,
    /// Events per append call.
    #[arg(long, default_value_t = 20)]
    batch: usize,
    /// Events appended one per call by `small-callers` callers, as API commands append
    /// (`append_small`).
    #[arg(long, default_value_t = 20_000)]
    small_events: usize,
    #[arg(long, default_value_t = 8)]
    small_callers: usize,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
}

pub(crate) struct Spec {
    ids: Vec<uuid::Uuid>,
    streams: usize,
}

impl Spec {
    fn stream(&self, i: usize) -> String {
        format!("sim-{:05}", i % self.streams)
    }

    fn event(&self, i: usize) -> Event {
        Event::SmsMoSubmitted(SmsEvent {
            sms_command_sid: format!("HC{:032x}", i),
            account_sid: "AC0123456789abcdef0123456789abcdef".into(),
            sim_sid: format!("HS{:032x}", i % self.streams),
            sim_iccid: format!("89883070000{:08}", i % self.streams),
            imsi: format!("3102400{:08}", i % self.streams),
            direction: "from_sim".into(),
            status: "submitted".into(),
            payload: "temp=21.4;hum=40;bat=3.71;v=1".into(),
            timestamp: Utc.timestamp_opt(1_767_225_600 + i as i64, 0).unwrap(),
            network: None,
            error: None,
        })
    }

    fn new_event(&self, i: usize, metadata: &Metadata) -> NewEvent {
        NewEvent::new(self.ids[i], self.stream(i), &self.event(i), metadata).expect("bench events are valid")
    }
}

/// The benchmark's events: ~360-byte payloads spread over `streams` streams, with ids as the
/// system makes them (time-ordered).
pub(crate) fn spec(events: usize, streams: usize) -> Arc<Spec> {
    spec_seeded(events, streams, 7)
}

/// As [`spec`], with ids of their own: another seed draws other ids.
fn spec_seeded(events: usize, streams: usize, seed: u64) -> Arc<Spec> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    Arc::new(Spec {
        ids: (0..events)
            .map(|i| {
                let entropy = u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64());
                simledger_eventlog::time_ordered_id(1_767_225_600_000 + i as u64, entropy)
            })
            .collect(),
        streams: streams.max(1),
    })
}

pub(crate) fn bench_metadata() -> Metadata {
    Metadata::from_source("bench").with_account("AC0123456789abcdef0123456789abcdef")
}

/// Appends every event of `spec` through the real path (serialize, queue, group commit) from
/// `producers` concurrent callers of `batch` events each. Returns the seconds it took.
pub(crate) async fn append_all(
    log: &EventLog,
    spec: &Arc<Spec>,
    producers: usize,
    batch: usize,
) -> anyhow::Result<f64> {
    let metadata = bench_metadata();
    let events = spec.ids.len();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for p in 0..producers {
        let (log, spec, metadata) = (log.clone(), spec.clone(), metadata.clone());
        let batch = batch.max(1);
        tasks.push(tokio::spawn(async move {
            let mine: Vec<usize> = (p..events).step_by(producers).collect();
            for chunk in mine.chunks(batch) {
                let batch = chunk.iter().map(|&i| spec.new_event(i, &metadata)).collect();
                log.append(batch, ExpectedVersion::Any).await?;
            }
            Ok::<_, simledger_eventlog::EventLogError>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(started.elapsed().as_secs_f64())
}

pub async fn run(config: &Config, args: EventlogArgs) -> anyhow::Result<()> {
    let (db, pool) = BenchDatabase::create(config, "eventlog").await?;
    let log = EventLog::new(pool.clone());
    let spec = spec(args.events, args.streams);
    let metadata = bench_metadata();
    let payload_bytes = spec.new_event(0, &metadata).data_json().len();
    eprintln!("appending {} events from {} producers ({} per call)…", args.events, args.producers, args.batch);

    let profile_before = simledger_eventlog::profile();
    let append_secs = append_all(&log, &spec, args.producers, args.batch).await?;
    let profile = simledger_eventlog::profile();
    anyhow::ensure!(log.head().await? == args.events as i64, "the log does not hold every event");

    eprintln!("reading back…");
    // The catch-up read and its reference (the server streaming the same rows out by COPY) take
    // turns, three times each, and each figure is its median: the server's speed drifts while
    // it writes back what the appends left (checkpoints, autovacuum), and turns share the drift.
    let (mut reads, mut copies) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        copies.push(copy_out(&pool).await?);
        reads.push(catch_up(&log, args.events).await?);
    }
    let (read_secs, copy_out_secs) = (median(reads), median(copies));
    // The breakdown: the same pages read with a prepared SELECT, one after the other (how the
    // log was read before pages came by COPY, one read ahead)…
    let started = Instant::now();
    let (mut at, mut selected) = (0, 0usize);
    loop {
        let page = log.read_few(at, 10_000).await?;
        let Some(last) = page.last() else { break };
        at = last.position;
        selected += page.len();
    }
    let select_rate = selected as f64 / started.elapsed().as_secs_f64();
    // …and decoding the same events' JSON alone, on one core, no I/O.
    let sample: Vec<(String, String)> = (0..args.events.min(100_000))
        .map(|i| {
            let e = spec.new_event(i, &metadata);
            (e.data_json().to_owned(), serde_json::to_string(&metadata).expect("serializes"))
        })
        .collect();
    let started = Instant::now();
    for (data, meta) in &sample {
        let event = simledger_eventlog::Event::decode("sms.mo.submitted", data)?;
        let meta: simledger_eventlog::Metadata = serde_json::from_str(meta)?;
        std::hint::black_box((event, meta));
    }
    let decode_rate = sample.len() as f64 / started.elapsed().as_secs_f64();

    eprintln!("appending {} events one per call from {} callers…", args.small_events, args.small_callers);
    let small = spec_seeded(args.small_events, args.streams, 11);
    let before_small = simledger_eventlog::profile();
    let small_secs = append_all(&log, &small, args.small_callers, 1).await?;
    let after_small = simledger_eventlog::profile();
    let small_groups = (after_small.groups - before_small.groups).max(1) as f64;
    let small_per_group = (after_small.events - before_small.events) as f64 / small_groups;
    let small_reference_secs = insert_one_row_each(&pool, &small, &metadata, args.small_callers).await?;

    eprintln!("measuring the references…");
    let (rows, _) = encode_rows(&spec, &metadata);
    let copy_plain_secs = copy_in(&pool, "copy_reference_plain", false, &rows).await?;
    let copy_indexed_secs = copy_in(&pool, "copy_reference_indexed", true, &rows).await?;
    drop(rows);

    let n = args.events as f64;
    let (append, copy_plain, copy_indexed) = (n / append_secs, n / copy_plain_secs, n / copy_indexed_secs);
    let groups = (profile.groups - profile_before.groups).max(1) as f64;
    let phase_total =
        (profile.lock_ns + profile.dedupe_ns + profile.versions_ns + profile.encode_and_copy_ns + profile.commit_ns)
            .saturating_sub(
                profile_before.lock_ns
                    + profile_before.dedupe_ns
                    + profile_before.versions_ns
                    + profile_before.encode_and_copy_ns
                    + profile_before.commit_ns,
            )
            .max(1) as f64;
    let share = |now: u64, before: u64| 100.0 * (now - before) as f64 / phase_total;
    let figures = vec![
        Figure::plain("payload_bytes", payload_bytes as f64, "bytes"),
        Figure::plain("events_per_group", (profile.events - profile_before.events) as f64 / groups, "events"),
        Figure::plain("time_in_head_lock", share(profile.lock_ns, profile_before.lock_ns), "%"),
        Figure::plain("time_in_dedupe", share(profile.dedupe_ns, profile_before.dedupe_ns), "%"),
        Figure::plain("time_in_stream_versions", share(profile.versions_ns, profile_before.versions_ns), "%"),
        Figure::plain("time_in_copy", share(profile.encode_and_copy_ns, profile_before.encode_and_copy_ns), "%"),
        Figure::plain("time_in_commit", share(profile.commit_ns, profile_before.commit_ns), "%"),
        Figure::against("append_vs_indexed_copy", append, "events/s", "COPY into table w/ log indexes", copy_indexed),
        Figure::against("catch_up_read", n / read_secs, "events/s", "COPY events TO STDOUT", n / copy_out_secs),
        Figure::against("catch_up_vs_select", n / read_secs, "events/s", "SELECT pages, one at a time", select_rate),
        Figure::against("catch_up_vs_decode", n / read_secs, "events/s", "JSON decode alone, 1 core", decode_rate),
        Figure::plain("small_events_per_group", small_per_group, "events"),
        Figure::plain("small_group_commits_per_s", small_groups / small_secs, "groups/s"),
        Figure::plain(
            "small_one_statement_groups",
            100.0 * (after_small.one_statement_groups - before_small.one_statement_groups) as f64 / small_groups,
            "%",
        ),
        Figure::against(
            "append_small",
            args.small_events as f64 / small_secs,
            "events/s",
            "one-row INSERT transactions from as many connections",
            args.small_events as f64 / small_reference_secs,
        ),
        // The headline, last.
        Figure::against("append_vs_copy", append, "events/s", "COPY into plain table", copy_plain),
    ];
    print(&figures, args.json);
    db.drop_database().await?;
    Ok(())
}

/// The same rows the log now holds, in binary COPY form, in chunks.
fn encode_rows(spec: &Spec, metadata: &Metadata) -> (Vec<Vec<u8>>, usize) {
    let recorded_at = Utc::now();
    let metadata_json = serde_json::to_string(metadata).expect("metadata serializes");
    let mut versions = vec![0i32; spec.streams];
    let mut chunks = Vec::new();
    let mut bytes = 0;
    for start in (0..spec.ids.len()).step_by(10_000) {
        let mut copy = CopyBinary::with_capacity(10_000 * 450);
        for i in start..(start + 10_000).min(spec.ids.len()) {
            versions[i % spec.streams] += 1;
            let data = spec.event(i).to_json().expect("serializes");
            copy.row(9)
                .int4(0)
                .int8(i as i64 + 1)
                .uuid(&spec.ids[i])
                .text(&spec.stream(i))
                .int4(versions[i % spec.streams])
                .text("sms.mo.submitted")
                .jsonb(&data)
                .jsonb(&metadata_json)
                .timestamptz(&recorded_at);
        }
        let chunk = copy.finish();
        bytes += chunk.len();
        chunks.push(chunk);
    }
    (chunks, bytes)
}

/// Seconds to COPY every row in one statement and commit.
async fn copy_in(pool: &sqlx::PgPool, table: &str, indexed: bool, chunks: &[Vec<u8>]) -> anyhow::Result<f64> {
    let constraints = if indexed {
        ", PRIMARY KEY (shard, position), UNIQUE (event_id), UNIQUE (stream, stream_version)"
    } else {
        ""
    };
    sqlx::query(&format!(
        "CREATE TABLE {table} (shard integer NOT NULL, position bigint NOT NULL, event_id uuid NOT NULL, \
         stream text NOT NULL, stream_version integer NOT NULL, type text NOT NULL, data jsonb NOT NULL, \
         metadata jsonb NOT NULL, recorded_at timestamptz NOT NULL{constraints})"
    ))
    .execute(pool)
    .await?;
    let started = Instant::now();
    let mut tx = pool.begin().await?;
    // Each chunk is a complete binary COPY stream (header to trailer), so one COPY per chunk.
    for chunk in chunks {
        let mut sink = tx
            .copy_in_raw(&format!(
                "COPY {table} (shard, position, event_id, stream, stream_version, type, data, metadata, recorded_at) \
                 FROM STDIN (FORMAT binary)"
            ))
            .await?;
        sink.send(chunk.as_slice()).await?;
        sink.finish().await?;
    }
    tx.commit().await?;
    Ok(started.elapsed().as_secs_f64())
}

/// Seconds for `callers` connections to insert the same rows one `INSERT` transaction each into
/// a table with a primary key: what an ordinary CRUD write path costs per row.
async fn insert_one_row_each(
    pool: &sqlx::PgPool,
    spec: &Arc<Spec>,
    metadata: &Metadata,
    callers: usize,
) -> anyhow::Result<f64> {
    sqlx::query(
        "CREATE TABLE insert_reference (event_id uuid PRIMARY KEY, stream text NOT NULL, type text NOT NULL, \
         data jsonb NOT NULL, metadata jsonb NOT NULL, recorded_at timestamptz NOT NULL)",
    )
    .execute(pool)
    .await?;
    let metadata_json = serde_json::to_string(metadata)?;
    let events = spec.ids.len();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..callers {
        let (pool, spec, metadata_json) = (pool.clone(), spec.clone(), metadata_json.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = pool.acquire().await?;
            for i in (c..events).step_by(callers) {
                sqlx::query(
                    "INSERT INTO insert_reference (event_id, stream, type, data, metadata, recorded_at) \
                     VALUES ($1, $2, 'sms.mo.submitted', $3::jsonb, $4::jsonb, now())",
                )
                .bind(spec.ids[i])
                .bind(spec.stream(i))
                .bind(spec.event(i).to_json().expect("serializes"))
                .bind(&metadata_json)
                .execute(&mut *conn)
                .await?;
            }
            Ok::<_, sqlx::Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(started.elapsed().as_secs_f64())
}

/// Seconds to read the whole log as a replay or a catch-up reads it: pages of typed events, the
/// next pages read while one is used.
async fn catch_up(log: &EventLog, events: usize) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut read = 0usize;
    let mut pages = log.pages(0, 10_000);
    while let Some(page) = pages.next().await? {
        read += page.len();
    }
    let secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(read == events, "read back {read} of {events} events");
    Ok(secs)
}

fn median(mut secs: Vec<f64>) -> f64 {
    secs.sort_by(f64::total_cmp);
    secs[secs.len() / 2]
}

/// Seconds for the server to stream the whole log out in binary COPY form.
async fn copy_out(pool: &sqlx::PgPool) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut conn = pool.acquire().await?;
    let mut stream = conn
        .copy_out_raw(
            "COPY (SELECT shard, position, event_id, stream, stream_version, type, data, metadata, recorded_at \
             FROM events ORDER BY shard, position) TO STDOUT (FORMAT binary)",
        )
        .await?;
    let mut bytes = 0usize;
    while let Some(chunk) = stream.next().await {
        bytes += chunk?.len();
    }
    anyhow::ensure!(bytes > 0, "COPY TO returned nothing");
    Ok(started.elapsed().as_secs_f64())
}
