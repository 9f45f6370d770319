//! `simledger bench api`: the `/v1` read path under load, over HTTP on loopback, against the
//! same query run directly through sqlx in the same run.
//!
//! - fetch by SID: the most requests/s 16 concurrent clients get, and p50/p99 latency at a
//!   fixed 2,000 requests/s (open loop: latency counts from when a request was due, so a stall
//!   is not hidden by the client waiting for it);
//! - list: page 1 and page 10,000 (`PageSize=50`, by the token the API issues), whose ratio
//!   shows whether a deep page costs more;
//! - write: `POST /v1/Fleets/{Sid}` (`DataLimit`), each client on a fleet of its own, at 1, 8
//!   and 32 clients, against a plain CRUD write of the same row shape (one transaction updating
//!   one row through sqlx) by the same clients: throughput, and p50/p99 at 8 clients. A write
//!   here appends its event and answers once the registry shows it, as every `/v1` write does.

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

    let breakdown_commands = commands.clone();
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
    let writes = write_figures(&log, &breakdown_commands, &pool, &http, &base, &account, phase).await?;

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
    let mut figures = vec![
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
    figures.extend(writes);
    print(&figures, args.json);
    Ok(())
}

/// The most operations/s `clients` concurrent callers complete in `phase`.
async fn closed_loop(op: &Op, clients: usize, phase: Duration) -> f64 {
    closed_loop_latencies(op, clients, phase).await.0
}

/// The most operations/s `clients` concurrent callers complete in `phase`, and the latency
/// (µs) of each. Client `c` gets the indexes `c`, `c + clients`, … (`c * 7919` onwards), so
/// an op can give each client things of its own by `i % clients`.
async fn closed_loop_latencies(op: &Op, clients: usize, phase: Duration) -> (f64, Histogram<u64>) {
    let start = Instant::now();
    let workers: Vec<_> = (0..clients)
        .map(|c| {
            let op = op.clone();
            tokio::spawn(async move {
                let mut latencies = Histogram::<u64>::new(3).expect("histogram");
                let mut i = c * 7919 * clients + c;
                while start.elapsed() < phase {
                    let began = Instant::now();
                    op(i).await;
                    latencies.record((began.elapsed().as_micros() as u64).max(1)).expect("in range");
                    i += clients;
                }
                latencies
            })
        })
        .collect();
    let mut all = Histogram::<u64>::new(3).expect("histogram");
    for w in workers {
        all.add(w.await.expect("worker")).expect("same bounds");
    }
    (all.len() as f64 / start.elapsed().as_secs_f64(), all)
}

/// The clients of the write phases.
const WRITE_CLIENTS: [usize; 3] = [1, 8, 32];

/// `write_throughput_<n>` at each of [`WRITE_CLIENTS`] and `write_p50`/`write_p99` at 8, each
/// against the plain CRUD write.
async fn write_figures(
    log: &EventLog,
    commands: &Commands,
    pool: &sqlx::PgPool,
    http: &reqwest::Client,
    base: &str,
    account: &simledger_commands::Credential,
    phase: Duration,
) -> anyhow::Result<Vec<Figure>> {
    let most = *WRITE_CLIENTS.iter().max().expect("clients");
    // A fleet per client, made through the API like a customer's.
    let account_sid = account.sid.clone();
    let (http, base, account) = (http.clone(), base.to_owned(), account.clone());
    let post = move |path: String, form: Vec<(&'static str, String)>| {
        let (http, account) = (http.clone(), account.clone());
        let url = format!("{base}{path}");
        async move {
            let r = http.post(&url).basic_auth(&account.sid, Some(&account.secret)).form(&form).send().await?;
            anyhow::ensure!(r.status().is_success(), "{url}: {}", r.status());
            Ok::<serde_json::Value, anyhow::Error>(r.json().await?)
        }
    };
    let network = simledger_eventlog::networks::network_sid("234", "15");
    let nap = post("/v1/NetworkAccessProfiles".into(), vec![("Networks", network)]).await?;
    let nap = nap["sid"].as_str().unwrap_or_default().to_owned();
    let mut fleets = Vec::with_capacity(most);
    for _ in 0..most {
        let fleet = post("/v1/Fleets".into(), vec![("NetworkAccessProfile", nap.clone())]).await?;
        fleets.push(fleet["sid"].as_str().unwrap_or_default().to_owned());
    }
    let fleets = Arc::new(fleets);
    // The reference: the same rows in a plain table, updated one transaction per write.
    sqlx::query(
        "CREATE TABLE bench_crud_fleets (sid text PRIMARY KEY, data_limit_mb int NOT NULL, updated timestamptz)",
    )
    .execute(pool)
    .await?;
    sqlx::query("INSERT INTO bench_crud_fleets (sid, data_limit_mb) SELECT unnest($1::text[]), 250")
        .bind(fleets.as_slice())
        .execute(pool)
        .await?;

    let mut figures = Vec::new();
    // Where a write's time goes, one client: the append alone (its event, no wait), the
    // command (validation reads, append, wait until the registry shows it), the HTTP request
    // (authentication, the fleet read before and after, the command).
    let append: Op = {
        // A fleet no one has: the registry changes nothing, and the fleets written below keep
        // their versions.
        let (log, fleet) = (log.clone(), format!("HF{}", "0".repeat(32)));
        Arc::new(move |_| {
            let (log, fleet) = (log.clone(), fleet.clone());
            Box::pin(async move {
                use simledger_eventlog::{catalog::FleetUpdated, Event, ExpectedVersion, Metadata, NewEvent};
                let sid = simledger_ids::FleetSid::parse(&fleet).expect("a fleet SID");
                let event = Event::FleetUpdated(FleetUpdated {
                    data_limit_mb: Some(100),
                    ..FleetUpdated::new(sid, "bench".into())
                });
                let new = NewEvent::new(
                    uuid::Uuid::now_v7(),
                    format!("bench-{fleet}"),
                    &event,
                    &Metadata::from_source("bench"),
                )
                .expect("event");
                log.append(vec![new], ExpectedVersion::Any).await.expect("append");
            })
        })
    };
    let command: Op = {
        let (commands, fleet, account) = (commands.clone(), fleets[0].clone(), account_sid.clone());
        Arc::new(move |i| {
            let (commands, fleet, account) = (commands.clone(), fleet.clone(), account.clone());
            Box::pin(async move {
                let changes = simledger_commands::FleetChanges {
                    data_limit_mb: Some(100 + (i % 900) as i64),
                    ..Default::default()
                };
                let cmd = simledger_commands::CommandId::random();
                commands.update_fleet(cmd, &account, &fleet, changes).await.expect("fleet update");
            })
        })
    };
    let (_, append_latency) = closed_loop_latencies(&append, 1, phase).await;
    // The appends above are the registry's to read too: the phases after wait for it to have
    // caught up, or they would measure its backlog.
    commands.visible(log.head().await?).await?;
    let (_, command_latency) = closed_loop_latencies(&command, 1, phase).await;
    let stage = |h: &Histogram<u64>| h.value_at_quantile(0.5) as f64 / 1000.0;
    let (append_p50, command_p50) = (stage(&append_latency), stage(&command_latency));
    for clients in WRITE_CLIENTS {
        let write_http: Op = {
            let (fleets, post) = (fleets.clone(), post.clone());
            Arc::new(move |i| {
                let fleet = fleets[i % clients].clone();
                let limit = (100 + i % 900).to_string();
                let done = post(format!("/v1/Fleets/{fleet}"), vec![("DataLimit", limit)]);
                Box::pin(async move {
                    done.await.expect("fleet update");
                })
            })
        };
        let write_sql: Op = {
            let (fleets, pool) = (fleets.clone(), pool.clone());
            Arc::new(move |i| {
                let (fleet, pool, limit) = (fleets[i % clients].clone(), pool.clone(), (100 + i % 900) as i32);
                Box::pin(async move {
                    let mut tx = pool.begin().await.expect("begin");
                    sqlx::query("UPDATE bench_crud_fleets SET data_limit_mb = $2, updated = now() WHERE sid = $1")
                        .bind(&fleet)
                        .bind(limit)
                        .execute(&mut *tx)
                        .await
                        .expect("update");
                    tx.commit().await.expect("commit");
                })
            })
        };
        let (api, api_latency) = closed_loop_latencies(&write_http, clients, phase).await;
        let (crud, crud_latency) = closed_loop_latencies(&write_sql, clients, phase).await;
        if clients == 1 {
            let http_p50 = stage(&api_latency);
            figures.push(Figure::against(
                "write_stage_append_p50",
                append_p50,
                "ms",
                "HTTP write p50, 1 client",
                http_p50,
            ));
            let command = "HTTP write p50, 1 client";
            figures.push(Figure::against("write_stage_command_p50", command_p50, "ms", command, http_p50));
        }
        let of = format!("plain CRUD writes, {clients} clients");
        figures.push(Figure::against(&format!("write_throughput_{clients}"), api, "writes/s", &of, crud));
        if clients == 8 {
            let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
            let p50 = "plain CRUD p50, 8 clients";
            figures.push(Figure::against("write_p50", ms(&api_latency, 0.5), "ms", p50, ms(&crud_latency, 0.5)));
            let p99 = "plain CRUD p99, 8 clients";
            figures.push(Figure::against("write_p99", ms(&api_latency, 0.99), "ms", p99, ms(&crud_latency, 0.99)));
        }
    }
    Ok(figures)
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
