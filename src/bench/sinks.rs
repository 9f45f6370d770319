//! `simledger bench sinks`: Event Streams delivery to a local webhook receiver, batched and
//! unbatched, each against the log's catch-up read of the same events in the same run; and the
//! delivery lag (commit → receiver) while events are appended at a steady rate.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use clap::Args;
use hdrhistogram::Histogram;
use simledger_commands::{Accounts, CommandId, Commands, DestinationPolicy, Role, TypeRequest};
use simledger_eventlog::{Event, EventLog, ExpectedVersion, Metadata, NewEvent};
use simledger_exporters::event_streams::SinkSettings;
use simledger_projections::event_streams::{EventStreams, NAME};

use super::report::{print, Figure};
use super::BenchDatabase;
use crate::config::Config;

#[derive(Debug, Args)]
pub struct SinksArgs {
    /// Events delivered to the batched sink (a tenth of them to the unbatched one).
    #[arg(long, default_value_t = 100_000)]
    events: usize,
    /// Events appended per second while the lag is measured.
    #[arg(long, default_value_t = 2_000)]
    lag_rate: u64,
    /// Seconds the lag is measured for.
    #[arg(long, default_value_t = 10)]
    lag_seconds: u64,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
}

const TYPE: &str = "com.twilio.iot.supersim.connection.data-session.updated";

/// A receiver that counts events and notes when each arrived.
#[derive(Clone, Default)]
struct Counter {
    arrivals: Arc<Mutex<HashMap<String, Instant>>>,
}

impl Counter {
    async fn start(&self) -> anyhow::Result<String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/events", listener.local_addr()?);
        let me = self.clone();
        let app = axum::Router::new().fallback(move |body: Bytes| {
            let me = me.clone();
            async move {
                let now = Instant::now();
                // A real receiver runs elsewhere: this one only picks out the ids (each
                // CloudEvent's `"id":"EZ…"`, 34 characters), so it takes little of the CPU the
                // delivery is measured on.
                let mut arrivals = me.arrivals.lock().expect("lock");
                for id in ids(&body) {
                    arrivals.entry(id.to_owned()).or_insert(now);
                }
                axum::http::StatusCode::OK
            }
        });
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(url)
    }

    /// Events a second between the first arrival and the last: delivery's own pace, without the
    /// moment the supervisor takes to start the sink's worker.
    fn rate(&self) -> f64 {
        let arrivals = self.arrivals.lock().expect("lock");
        let first = arrivals.values().min().copied();
        let last = arrivals.values().max().copied();
        match (first, last) {
            (Some(a), Some(b)) if b > a => (arrivals.len() - 1) as f64 / (b - a).as_secs_f64(),
            _ => 0.0,
        }
    }

    fn count(&self) -> usize {
        self.arrivals.lock().expect("lock").len()
    }

    async fn wait_for(&self, n: usize, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        while self.count() < n {
            anyhow::ensure!(Instant::now() < deadline, "only {} of {n} events arrived", self.count());
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(())
    }
}

/// The CloudEvent ids in a delivered body.
fn ids(body: &[u8]) -> impl Iterator<Item = &str> {
    const KEY: &[u8] = b"\"id\":\"";
    let mut at = 0;
    std::iter::from_fn(move || {
        let found = body[at..].windows(KEY.len()).position(|w| w == KEY)?;
        let start = at + found + KEY.len();
        let end = start + body[start..].iter().position(|b| *b == b'"')?;
        at = end;
        std::str::from_utf8(&body[start..end]).ok()
    })
}

/// `count` data-session windows of `account` from number `from`, appended in batches.
async fn append(log: &EventLog, account: &str, from: usize, count: usize) -> anyhow::Result<Vec<(String, Instant)>> {
    let network = simledger_eventlog::networks::catalog().by_plmn("234", "15").expect("Vodafone UK").to_ref();
    let now = chrono::Utc::now();
    let mut committed = Vec::with_capacity(count);
    for start in (from..from + count).step_by(5000) {
        let end = (start + 5000).min(from + count);
        let mut ids = Vec::new();
        let batch = (start..end)
            .map(|n| {
                let sim = format!("HS{:032x}", n % 1000);
                let e = super::billing::usage_window(account, &sim, &network, now, n);
                ids.push(e.event_sid.clone());
                NewEvent::new(
                    uuid::Uuid::now_v7(),
                    "session-bench",
                    &Event::DataSessionUpdated(e),
                    &Metadata::from_source("pgw"),
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        log.append(batch, ExpectedVersion::Any).await?;
        let at = Instant::now();
        committed.extend(ids.into_iter().map(|id| (id, at)));
    }
    Ok(committed)
}

/// A validated webhook sink of `account` to `url`, subscribed to the bench's type.
async fn subscribed_sink(
    commands: &Commands,
    account: &str,
    url: &str,
    batch: bool,
) -> anyhow::Result<(String, String)> {
    let config = serde_json::json!({"destination": url, "batch_events": batch}).to_string();
    let config = simledger_commands::parse_sink_configuration("webhook", &config)?;
    let sink = commands.create_sink(CommandId::random(), account, "bench", config).await?;
    let test_id = commands.test_sink(CommandId::random(), account, &sink).await?;
    commands.validate_sink(CommandId::random(), account, &sink, &test_id).await?;
    let types = [TypeRequest { event_type: TYPE.into(), schema_version: None }];
    let sub = commands.create_subscription(CommandId::random(), account, "bench", &sink, &types).await?;
    Ok((sink, sub))
}

/// The log's catch-up read of everything after `after`: the reference.
async fn read_rate(log: &EventLog, after: i64) -> anyhow::Result<f64> {
    let started = Instant::now();
    let (mut at, mut n) = (after, 0usize);
    loop {
        let events = log.read(at, 2000).await?;
        let Some(last) = events.last() else { break };
        at = last.position;
        n += events.len();
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

pub async fn run(config: &Config, args: SinksArgs) -> anyhow::Result<()> {
    let (db, pool) = BenchDatabase::create(config, "sinks").await?;
    let log = EventLog::new(pool.clone());
    let projection = simledger_projections::spawn(log.clone(), NAME, EventStreams);
    let commands = Commands::new(log.clone(), projection.progress.clone())
        .with_destination_policy(DestinationPolicy::ALLOW_PRIVATE);
    let accounts = Accounts::new(pool.clone()).with_token_secret(b"bench-secret");
    let account = accounts.create("bench", Role::Customer).await?.sid;
    let (batched, unbatched) = (Counter::default(), Counter::default());
    let (batched_url, unbatched_url) = (batched.start().await?, unbatched.start().await?);
    let mut figures = Vec::new();

    // Batched: the whole backlog, from a cold start of delivery.
    let (_, sub) = subscribed_sink(&commands, &account, &batched_url, true).await?;
    let before = log.head().await?;
    eprintln!("appending {} events…", args.events);
    append(&log, &account, 0, args.events).await?;
    let read = read_rate(&log, before).await?;
    let delivery = simledger_exporters::event_streams::spawn(
        log.clone(),
        SinkSettings::new(DestinationPolicy::ALLOW_PRIVATE, accounts.clone()),
    );
    batched.wait_for(args.events, Duration::from_secs(600)).await?;
    let rate = batched.rate();
    figures.push(Figure::against("sink_webhook_batched", rate, "events/s", "catch-up read", read));
    commands.delete_subscription(CommandId::random(), &account, &sub).await?;

    // Unbatched: one request per event.
    let n = (args.events / 10).max(1);
    let (_, sub) = subscribed_sink(&commands, &account, &unbatched_url, false).await?;
    let before = log.head().await?;
    append(&log, &account, args.events, n).await?;
    unbatched.wait_for(n, Duration::from_secs(600)).await?;
    let rate = unbatched.rate();
    let read = read_rate(&log, before).await?;
    figures.push(Figure::against("sink_webhook_unbatched", rate, "events/s", "catch-up read", read));
    commands.delete_subscription(CommandId::random(), &account, &sub).await?;

    // Lag under a steady append load: commit → receiver, per event.
    let lag = Counter::default();
    let lag_url = lag.start().await?;
    subscribed_sink(&commands, &account, &lag_url, true).await?;
    tokio::time::sleep(Duration::from_secs(1)).await; // the supervisor picks the sink up
    eprintln!("lag at {} events/s for {} s…", args.lag_rate, args.lag_seconds);
    let per_tick = (args.lag_rate / 100).max(1) as usize;
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let mut committed = Vec::new();
    let end = Instant::now() + Duration::from_secs(args.lag_seconds);
    let mut next = args.events + n;
    while Instant::now() < end {
        tick.tick().await;
        committed.extend(append(&log, &account, next, per_tick).await?);
        next += per_tick;
    }
    lag.wait_for(committed.len(), Duration::from_secs(120)).await?;
    let arrivals = lag.arrivals.lock().expect("lock").clone();
    let mut histogram = Histogram::<u64>::new(3)?;
    for (id, at) in &committed {
        if let Some(arrived) = arrivals.get(id) {
            histogram.record(arrived.saturating_duration_since(*at).as_micros() as u64)?;
        }
    }
    let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
    figures.push(Figure::plain("sink_lag_p50", ms(0.5), "ms"));
    figures.push(Figure::plain("sink_lag_p99", ms(0.99), "ms"));
    figures.push(Figure::plain("sink_lag_load", committed.len() as f64 / args.lag_seconds as f64, "events/s"));
    delivery.abort();
    projection.task.abort();
    print(&figures, args.json);
    pool.close().await;
    db.drop_database().await
}
