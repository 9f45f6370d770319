//! `simledger bench dashboard`: the dashboard's JSON endpoints at a million SIMs while events
//! are appended at a steady rate (the dashboard projection folding them meanwhile), against
//! `/v1/Sims/{Sid}` over the same HTTP stack at the same rate; and the live feed's delivery lag
//! (commit → event read off the Server-Sent Events stream) against a bare subscription to the
//! log in the same process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Args;
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use simledger_api::{AppState, Application};
use simledger_commands::{Accounts, Commands, Role};
use simledger_eventlog::{Event, EventLog, ExpectedVersion, Metadata, NewEvent};
use simledger_projections::dashboard::{self, Dashboard};
use simledger_projections::registry;

use super::api::{open_loop, Op};
use super::report::{print, Figure};
use super::BenchDatabase;
use crate::config::Config;

#[derive(Debug, Args)]
pub struct DashboardArgs {
    /// Registered SIMs in the account the dashboard shows.
    #[arg(long, default_value_t = 1_000_000)]
    sims: i64,
    /// Seconds per measured phase.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Requests/s of each latency phase.
    #[arg(long, default_value_t = 100)]
    rate: u64,
    /// Events appended per second meanwhile (the ingest load).
    #[arg(long, default_value_t = 2000)]
    load: u64,
    /// Print one JSON object per figure instead of a table.
    #[arg(long)]
    json: bool,
}

/// Commit instants by log position, of the events the load appended.
type Commits = Arc<Mutex<HashMap<i64, Instant>>>;

/// Appends `rate` data-session windows a second, spread over the account's SIMs, until stopped.
fn start_load(
    log: EventLog,
    account: String,
    sims: Arc<Vec<String>>,
    rate: u64,
    commits: Commits,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let network = simledger_eventlog::networks::catalog().by_plmn("234", "15").expect("Vodafone UK").to_ref();
        let per_tick = (rate / 100).max(1) as usize;
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        let mut n = 0usize;
        loop {
            tick.tick().await;
            let batch: Vec<NewEvent> = (n..n + per_tick)
                .map(|i| {
                    let sim = &sims[i % sims.len()];
                    let e = super::billing::usage_window(&account, sim, &network, chrono::Utc::now(), i);
                    NewEvent::new(
                        uuid::Uuid::now_v7(),
                        "session-bench",
                        &Event::DataSessionUpdated(e),
                        &Metadata::from_source("pgw"),
                    )
                    .expect("a valid event")
                })
                .collect();
            n += per_tick;
            let appended = log.append(batch, ExpectedVersion::Any).await.expect("append");
            let at = Instant::now();
            commits.lock().expect("lock").extend(appended.iter().map(|a| (a.position, at)));
        }
    })
}

fn lag_histogram(arrivals: &HashMap<i64, Instant>, commits: &HashMap<i64, Instant>) -> anyhow::Result<Histogram<u64>> {
    let mut h = Histogram::<u64>::new(3)?;
    for (position, arrived) in arrivals {
        if let Some(committed) = commits.get(position) {
            h.record((arrived.saturating_duration_since(*committed).as_micros() as u64).max(1))?;
        }
    }
    Ok(h)
}

pub async fn run(config: &Config, args: DashboardArgs) -> anyhow::Result<()> {
    let (db, pool) = BenchDatabase::create(config, "dashboard").await?;
    let log = EventLog::new(pool.clone());
    let registry_worker = simledger_projections::spawn(log.clone(), registry::NAME, registry::Registry);
    let commands = Commands::new(log.clone(), registry_worker.progress.clone());
    let accounts = Accounts::new(pool.clone());
    let account = accounts.create("bench", Role::Customer).await?;
    eprintln!("loading {} SIMs…", args.sims);
    registry::bulk_load_sims(&pool, &account.sid, args.sims).await?;
    dashboard::bulk_load_sims(&pool, &account.sid).await?;
    let sids: Arc<Vec<String>> = Arc::new(
        sqlx::query_scalar("SELECT sim_sid FROM registry_sims ORDER BY random() LIMIT 10000").fetch_all(&pool).await?,
    );
    let dashboard_worker = simledger_projections::spawn(log.clone(), dashboard::NAME, Dashboard);

    let app = Application::bind(([127, 0, 0, 1], 0).into(), AppState::new(commands, None).with_rate_limit(0)).await?;
    let base = format!("http://{}", app.local_addr());
    let server = tokio::spawn(app.serve(std::future::pending()));
    let http =
        reqwest::Client::builder().pool_max_idle_per_host(64).redirect(reqwest::redirect::Policy::none()).build()?;
    let signed_in = http
        .post(format!("{base}/dashboard/login"))
        .header("Origin", &base)
        .form(&[("sid", account.sid.as_str()), ("token", account.secret.as_str())])
        .send()
        .await?;
    let cookie = signed_in
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .ok_or_else(|| anyhow::anyhow!("sign-in gave no session"))?
        .to_owned();

    let commits: Commits = Arc::default();
    let load = start_load(log.clone(), account.sid.clone(), sids.clone(), args.load, commits.clone());

    let get = |path_of: Arc<dyn Fn(usize) -> String + Send + Sync>, session: bool| -> Op {
        let (http, base, cookie, account) = (http.clone(), base.clone(), cookie.clone(), account.clone());
        Arc::new(move |i| {
            let (http, url, cookie, account) =
                (http.clone(), format!("{base}{}", path_of(i)), cookie.clone(), account.clone());
            Box::pin(async move {
                let r = if session {
                    http.get(&url).header("Cookie", cookie)
                } else {
                    http.get(&url).basic_auth(&account.sid, Some(&account.secret))
                };
                let r = r.send().await.expect("request");
                assert!(r.status().is_success(), "{url}: {}", r.status());
                r.bytes().await.expect("body");
            })
        })
    };
    let phase = Duration::from_secs(args.seconds);
    let s = sids.clone();
    let fetch = get(Arc::new(move |i| format!("/v1/Sims/{}", s[i % s.len()])), false);
    let overview = get(Arc::new(|_| "/dashboard/api/overview".to_owned()), true);
    let s = sids.clone();
    let sim_page = get(Arc::new(move |i| format!("/dashboard/api/sims/{}", s[i % s.len()])), true);
    // Warm both paths (connections, plans) before measuring.
    open_loop(&fetch, args.rate, Duration::from_secs(1)).await;
    open_loop(&overview, args.rate, Duration::from_secs(1)).await;
    let fetch_lat = open_loop(&fetch, args.rate, phase).await;
    let overview_lat = open_loop(&overview, args.rate, phase).await;
    let sim_lat = open_loop(&sim_page, args.rate, phase).await;

    // The live feed and, as the reference, a bare subscription to the log, over the same load.
    let feed_arrivals: Arc<Mutex<HashMap<i64, Instant>>> = Arc::default();
    let raw_arrivals: Arc<Mutex<HashMap<i64, Instant>>> = Arc::default();
    let stream = http.get(format!("{base}/dashboard/api/events/stream")).header("Cookie", &cookie).send().await?;
    let feed_reader = {
        let arrivals = feed_arrivals.clone();
        tokio::spawn(async move {
            let mut body = stream.bytes_stream();
            let mut buffer = String::new();
            while let Some(Ok(chunk)) = body.next().await {
                let at = Instant::now();
                buffer.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buffer.find("\n\n") {
                    let block: String = buffer.drain(..end + 2).collect();
                    if block.contains("event: event") {
                        if let Some(id) = block.lines().find_map(|l| l.strip_prefix("id:")) {
                            if let Ok(p) = id.trim().parse() {
                                arrivals.lock().expect("lock").insert(p, at);
                            }
                        }
                    }
                }
            }
        })
    };
    let raw_reader = {
        let (arrivals, log) = (raw_arrivals.clone(), log.clone());
        let head = log.head().await?;
        tokio::spawn(async move {
            let mut subscription = log.subscribe(head, 500).await.expect("subscribe");
            while let Ok(events) = subscription.next_batch().await {
                let at = Instant::now();
                arrivals.lock().expect("lock").extend(events.iter().map(|e| (e.position, at)));
            }
        })
    };
    tokio::time::sleep(phase).await;
    load.abort();
    let _ = load.await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let last = *commits.lock().expect("lock").keys().max().unwrap_or(&0);
    while !feed_arrivals.lock().expect("lock").contains_key(&last) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    feed_reader.abort();
    raw_reader.abort();
    let commits = commits.lock().expect("lock").clone();
    let feed_lag = lag_histogram(&feed_arrivals.lock().expect("lock"), &commits)?;
    let raw_lag = lag_histogram(&raw_arrivals.lock().expect("lock"), &commits)?;
    let behind: i64 = sqlx::query_scalar(
        "SELECT (SELECT head FROM log_shards WHERE shard = 0) - position FROM checkpoints WHERE name = 'dashboard'",
    )
    .fetch_one(&pool)
    .await?;

    server.abort();
    dashboard_worker.task.abort();
    registry_worker.task.abort();
    pool.close().await;
    db.drop_database().await?;

    let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    let figures = vec![
        Figure::plain("sims", args.sims as f64, "SIMs"),
        Figure::plain("load", args.load as f64, "events/s"),
        Figure::plain("rate", args.rate as f64, "req/s"),
        Figure::against("overview_p50", ms(&overview_lat, 0.5), "ms", "/v1/Sims/{Sid} p50", ms(&fetch_lat, 0.5)),
        Figure::against("overview_p99", ms(&overview_lat, 0.99), "ms", "/v1/Sims/{Sid} p99", ms(&fetch_lat, 0.99)),
        Figure::against("sim_page_p50", ms(&sim_lat, 0.5), "ms", "/v1/Sims/{Sid} p50", ms(&fetch_lat, 0.5)),
        Figure::against("sim_page_p99", ms(&sim_lat, 0.99), "ms", "/v1/Sims/{Sid} p99", ms(&fetch_lat, 0.99)),
        Figure::against("feed_lag_p50", ms(&feed_lag, 0.5), "ms", "bare log subscription p50", ms(&raw_lag, 0.5)),
        Figure::against("feed_lag_p99", ms(&feed_lag, 0.99), "ms", "bare log subscription p99", ms(&raw_lag, 0.99)),
        Figure::plain("feed_events", feed_lag.len() as f64, "events"),
        Figure::plain("dashboard_projection_behind_at_end", behind as f64, "events"),
    ];
    print(&figures, args.json);
    Ok(())
}
