//! `simledger bench api`: the `/v1` read path under load, over HTTP on loopback, against the
//! same query run directly through sqlx in the same run.
//!
//! - fetch by SID: the most requests/s 16 concurrent clients get, and p50/p99 latency at a
//!   fixed 2,000 requests/s (open loop: latency counts from when a request was due, so a stall
//!   is not hidden by the client waiting for it);
//! - list: page 1 and page 10,000 (`PageSize=50`, by the token the API issues), whose ratio
//!   shows whether a deep page costs more.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use hdrhistogram::Histogram;
use rand::{Rng, SeedableRng};
use simledger_api::{AppState, Application};
use simledger_commands::{Accounts, Commands, Role};
use simledger_eventlog::EventLog;
use simledger_projections::read::{Cursor, PageQuery};
use simledger_projections::registry::{self, read};
use tokio::sync::Mutex;

use super::report::{print, Figure};
use super::BenchDatabase;
use crate::config::Config;

#[derive(Debug, Args)]
pub struct ApiArgs {
    /// Registered SIMs in the account the requests read.
    #[arg(long, default_value_t = 1_000_000)]
    sims: i64,
    /// Seconds per load phase.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Requests/s of the fixed-rate latency phase.
    #[arg(long, default_value_t = 2000)]
    rate: u64,
    /// Concurrent clients of the throughput phase.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Print one JSON object per figure instead of a table.
    #[arg(long)]
    json: bool,
}

/// One operation under test: an HTTP request, or the reference query.
pub(super) type Op = Arc<dyn Fn(usize) -> futures_util::future::BoxFuture<'static, ()> + Send + Sync>;

pub async fn run(config: &Config, args: ApiArgs) -> anyhow::Result<()> {
    let (db, pool) = BenchDatabase::create(config, "api").await?;
    let log = EventLog::new(pool.clone());
    let registry_worker = simledger_projections::spawn(log.clone(), registry::NAME, registry::Registry);
    let commands = Commands::new(log.clone(), registry_worker.progress.clone());
    let account = Accounts::new(pool.clone()).create("bench", Role::Customer).await?;
    eprintln!("loading {} SIMs…", args.sims);
    registry::bulk_load_sims(&pool, &account.sid, args.sims).await?;
    let sids: Arc<Vec<String>> = Arc::new(
        sqlx::query_scalar("SELECT sim_sid FROM registry_sims ORDER BY random() LIMIT 100000").fetch_all(&pool).await?,
    );
    let deep_key: String = sqlx::query_scalar("SELECT sim_sid FROM registry_sims ORDER BY sim_sid OFFSET $1 LIMIT 1")
        .bind((10_000 * 50 - 1).min(args.sims - 1))
        .fetch_one(&pool)
        .await?;

    let app = Application::bind(([127, 0, 0, 1], 0).into(), AppState::new(commands, None).with_rate_limit(0)).await?;
    let base = format!("http://{}", app.local_addr());
    let server = tokio::spawn(app.serve(std::future::pending()));
    let http = reqwest::Client::builder().pool_max_idle_per_host(64).build()?;
    let get = {
        let (http, account, base) = (http.clone(), account.clone(), base.clone());
        move |path: String| {
            let (http, account) = (http.clone(), account.clone());
            let url = format!("{base}{path}");
            async move {
                let r = http.get(&url).basic_auth(&account.sid, Some(&account.secret)).send().await.expect("request");
                assert!(r.status().is_success(), "{url}: {}", r.status());
                r.bytes().await.expect("body");
            }
        }
    };

    let fetch_http: Op = {
        let (sids, get) = (sids.clone(), get.clone());
        Arc::new(move |i| Box::pin(get(format!("/v1/Sims/{}", sids[i % sids.len()]))))
    };
    let fetch_sql: Op = {
        let (sids, pool, acct) = (sids.clone(), pool.clone(), account.sid.clone());
        Arc::new(move |i| {
            let (pool, acct, sid) = (pool.clone(), acct.clone(), sids[i % sids.len()].clone());
            Box::pin(async move {
                read::sim(&pool, &acct, &sid).await.expect("query").expect("a SIM");
            })
        })
    };
    let phase = Duration::from_secs(args.seconds);
    let fetch_rps = closed_loop(&fetch_http, args.clients, phase).await;
    let sql_rps = closed_loop(&fetch_sql, args.clients, phase).await;
    let fetch_lat = open_loop(&fetch_http, args.rate, phase).await;
    let sql_lat = open_loop(&fetch_sql, args.rate, phase).await;

    let page = |token: Option<String>| {
        let get = get.clone();
        let op: Op = Arc::new(move |_| {
            let path = match &token {
                Some(t) => format!("/v1/Sims?PageSize=50&Page=10000&PageToken=PA{t}"),
                None => "/v1/Sims?PageSize=50".to_owned(),
            };
            Box::pin(get(path))
        });
        op
    };
    let page_sql = |cursor: Cursor| {
        let (pool, acct) = (pool.clone(), account.sid.clone());
        let op: Op = Arc::new(move |_| {
            let (pool, acct, q) = (pool.clone(), acct.clone(), PageQuery { size: 50, cursor: cursor.clone() });
            Box::pin(async move {
                read::sims(&pool, &acct, &Default::default(), &q).await.expect("query");
            })
        });
        op
    };
    let list_rate = (args.rate / 4).max(1);
    let first = open_loop(&page(None), list_rate, phase).await;
    let deep = open_loop(&page(Some(deep_key.clone())), list_rate, phase).await;
    let first_sql = open_loop(&page_sql(Cursor::Start), list_rate, phase).await;
    let deep_sql = open_loop(&page_sql(Cursor::After(deep_key)), list_rate, phase).await;
    server.abort();
    registry_worker.task.abort();
    pool.close().await;
    db.drop_database().await?;

    let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    let figures = vec![
        Figure::plain("sims", args.sims as f64, "SIMs"),
        Figure::against("fetch_throughput", fetch_rps, "req/s", "sqlx query, same clients", sql_rps),
        Figure::plain("fetch_rate", args.rate as f64, "req/s"),
        Figure::against("fetch_p50", ms(&fetch_lat, 0.5), "ms", "sqlx query p50, same rate", ms(&sql_lat, 0.5)),
        Figure::against("fetch_p99", ms(&fetch_lat, 0.99), "ms", "sqlx query p99, same rate", ms(&sql_lat, 0.99)),
        Figure::plain("list_rate", list_rate as f64, "req/s"),
        Figure::against("list_page1_p50", ms(&first, 0.5), "ms", "sqlx page 1 p50", ms(&first_sql, 0.5)),
        Figure::against("list_page10000_sql_p50", ms(&deep_sql, 0.5), "ms", "sqlx page 1 p50", ms(&first_sql, 0.5)),
        Figure::against("list_page10000_p50", ms(&deep, 0.5), "ms", "HTTP page 1 p50", ms(&first, 0.5)),
        Figure::against("list_page10000_p99", ms(&deep, 0.99), "ms", "HTTP page 1 p99", ms(&first, 0.99)),
    ];
    print(&figures, args.json);
    Ok(())
}

/// The most operations/s `clients` concurrent callers complete in `phase`.
async fn closed_loop(op: &Op, clients: usize, phase: Duration) -> f64 {
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let workers: Vec<_> = (0..clients)
        .map(|c| {
            let (op, done) = (op.clone(), done.clone());
            tokio::spawn(async move {
                let mut i = c * 7919;
                while start.elapsed() < phase {
                    op(i).await;
                    i += clients;
                    done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            })
        })
        .collect();
    for w in workers {
        w.await.expect("worker");
    }
    done.load(std::sync::atomic::Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

/// Latencies (µs) of operations started at `rate` per second for `phase`, each measured from
/// when it was due.
pub(super) async fn open_loop(op: &Op, rate: u64, phase: Duration) -> Histogram<u64> {
    let histogram = Arc::new(Mutex::new(Histogram::<u64>::new(3).expect("histogram")));
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let total = (phase.as_secs_f64() * rate as f64) as usize;
    let start = tokio::time::Instant::now();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut tasks = Vec::with_capacity(total);
    for n in 0..total {
        let due = start + interval * n as u32;
        tokio::time::sleep_until(due).await;
        let (op, histogram, i) = (op.clone(), histogram.clone(), rng.random::<u32>() as usize);
        tasks.push(tokio::spawn(async move {
            op(i).await;
            let micros = due.elapsed().as_micros() as u64;
            histogram.lock().await.record(micros.max(1)).expect("in range");
        }));
    }
    for t in tasks {
        t.await.expect("request");
    }
    Arc::try_unwrap(histogram).expect("all tasks done").into_inner()
}
