//! Nothing lost, nothing twice, by killing processes: `simulate` runs as a child process and is
//! killed with SIGKILL at random moments, then restarted; at the end the log must hold exactly
//! the events of an uninterrupted run with the same seed (compared by event id). The same for
//! `simledger export` (every CDR in exactly one file) and for `up`'s sinks role (every account
//! export written once, every billing post made at least once).

mod common;

use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use simledger_services::testing::{self, TestDatabase};

/// `rate` paces the run on the wall clock only; which events it produces does not depend on it.
fn simulate(database_url: &str, prefix: &str, rate: &str) -> Command {
    let mut c = common::simledger_on(database_url, prefix, "warn");
    // A 1 MB fleet limit, so the limits projection takes decisions the kills can interrupt.
    c.args(["simulate", "--sims", "30", "--duration", "3h", "--seed", "42", "--rate", rate, "--data-limit-mb", "1"]);
    c
}

/// The log's head and the ids of its events, data-limit decisions excepted: their ids derive
/// from billing periods, which start at the wall-clock time of each SIM's activation and so
/// differ between two databases. [`decisions`] compares those.
async fn event_ids(db: &TestDatabase) -> (i64, HashSet<uuid::Uuid>) {
    let pool = db.pool().await;
    let ids: Vec<uuid::Uuid> = sqlx::query_scalar("SELECT event_id FROM events WHERE type NOT LIKE 'sim.data_limit_%'")
        .fetch_all(&pool)
        .await
        .unwrap();
    let head: i64 = sqlx::query_scalar("SELECT head FROM log_shards").fetch_one(&pool).await.unwrap();
    pool.close().await;
    (head, ids.into_iter().collect())
}

/// Every data-limit decision as (type, SIM, reason), sorted: the same in two runs of the same
/// traffic, each exactly once. The bytes used at the crossing can differ: a SIM's windows from
/// two overlapping sessions may be logged in another order, so another window tips it over.
async fn decisions(db: &TestDatabase) -> Vec<(String, String, String)> {
    let pool = db.pool().await;
    let rows: Vec<(String, String, String, i64, i64)> = sqlx::query_as(
        "SELECT type, data->>'sim_sid', data->>'reason', (data->>'used_bytes')::bigint, \
         (data->>'limit_bytes')::bigint FROM events WHERE type LIKE 'sim.data_limit_%' ORDER BY 2, 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    assert!(rows.iter().all(|r| r.3 > r.4), "a SIM is blocked only over its limit: {rows:?}");
    rows.into_iter().map(|(t, sim, reason, _, _)| (t, sim, reason)).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_simulation_killed_three_times_logs_every_event_exactly_once() {
    let (reference_db, crashed_db) = (TestDatabase::new().await, TestDatabase::new().await);

    let status = simulate(&reference_db.url, &testing::unique_nats_prefix(), "0").status().unwrap();
    assert!(status.success(), "the reference run completes");
    let (reference_head, expected) = event_ids(&reference_db).await;
    assert!(expected.len() > 500, "the reference run logged {} events", expected.len());
    let expected_decisions = decisions(&reference_db).await;
    let pool = reference_db.pool().await;
    let signals: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE type = 'sim.signal_raised'")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    assert_eq!(signals, 0, "ordinary traffic raises no device signal");
    assert!(!expected_decisions.is_empty(), "SIMs crossed their 1 MB limit in the reference run");
    assert_eq!(reference_head as usize, expected.len() + expected_decisions.len());

    let prefix = testing::unique_nats_prefix();
    let seed: u64 = rand::rng().random();
    eprintln!("kill point seed {seed}");
    let mut points = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let pool = crashed_db.pool().await;
    let mut heads_at_kill = Vec::new();
    // Each kill fires once the log holds a random share of the expected events, within its own
    // band, so every kill lands mid-run whatever the machine's speed.
    for (low, high) in [(0.10, 0.40), (0.40, 0.70), (0.70, 0.95)] {
        let target = (expected.len() as f64 * points.random_range(low..high)) as i64;
        let mut child = simulate(&crashed_db.url, &prefix, "400").spawn().unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        loop {
            let head: Option<i64> =
                sqlx::query_scalar("SELECT head FROM log_shards").fetch_optional(&pool).await.ok().flatten();
            if head.unwrap_or(0) >= target || std::time::Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        heads_at_kill.push(event_ids(&crashed_db).await.0);
    }
    pool.close().await;
    let status = simulate(&crashed_db.url, &prefix, "0").status().unwrap();
    assert!(status.success(), "the last run completes");

    let (head, logged) = event_ids(&crashed_db).await;
    let missing = expected.difference(&logged).count();
    // A kill can leave an attach the HSS never answered (its request went to the dead process):
    // that is `attachment.failed`, a happening of the crashed run alone, and the device's retry
    // then logs the outcome the reference has. Nothing else may be extra.
    let extra: Vec<uuid::Uuid> = logged.difference(&expected).copied().collect();
    let extra_kinds: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT type, data->'error'->>'code' FROM events WHERE event_id = ANY($1) ORDER BY position")
            .bind(&extra)
            .fetch_all(&crashed_db.pool().await)
            .await
            .unwrap();
    let failed_attach = |(kind, code): &(String, Option<String>)| {
        kind == "com.twilio.iot.supersim.connection.attachment.failed" && code.as_deref() == Some("83708")
    };
    let unexplained: Vec<_> = extra_kinds.iter().filter(|k| !failed_attach(k)).collect();
    assert_eq!(
        (missing, unexplained.len()),
        (0, 0),
        "missing {missing}, unexpected {unexplained:?}; heads at the kills {heads_at_kill:?}"
    );
    let extra = extra.len();
    let got_decisions = decisions(&crashed_db).await;
    assert_eq!(got_decisions, expected_decisions, "each data-limit decision exactly once, as in the reference");
    assert_eq!(head as usize, logged.len() + got_decisions.len(), "positions are gap-free and nothing is there twice");
    eprintln!("{extra} attaches failed when a kill took their HSS away");
    assert!(
        heads_at_kill.iter().all(|&h| h > 0 && (h as usize) < expected.len() + expected_decisions.len()),
        "every kill landed mid-run: {heads_at_kill:?} of {}",
        expected.len()
    );

    // A kill took the PGW down with sessions open (started before the kill, ended after it): the
    // restarted PGW carried them on, and the comparison above shows it counted nothing twice.
    let mut open_at_kills = Vec::new();
    for &at in &heads_at_kill {
        let open: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM events s JOIN events e ON e.data->>'data_session_sid' = s.data->>'data_session_sid' \
             WHERE s.type = 'com.twilio.iot.supersim.connection.data-session.started' \
             AND e.type = 'com.twilio.iot.supersim.connection.data-session.ended' AND s.position <= $1 AND e.position > $1",
        )
        .bind(at)
        .fetch_one(&crashed_db.pool().await)
        .await
        .unwrap();
        open_at_kills.push(open);
    }
    assert!(open_at_kills.iter().any(|&n| n > 0), "a kill found sessions open: {open_at_kills:?}");

    // The dashboard's counters, kept by the killed runs, equal a rebuild from the log: no batch
    // of a killed run was counted without its checkpoint, none twice.
    use simledger_projections::dashboard::{self, Dashboard};
    let log = simledger_eventlog::EventLog::new(crashed_db.pool().await);
    let kept = simledger_projections::spawn(log.clone(), dashboard::NAME, Dashboard);
    assert!(kept.reached(head).await);
    kept.task.abort();
    let _ = kept.task.await;
    let counted = simledger_projections::snapshot::<Dashboard>(log.pool()).await.unwrap();
    simledger_projections::replay(&log, Dashboard).await.unwrap();
    let rebuilt = simledger_projections::snapshot::<Dashboard>(log.pool()).await.unwrap();
    if rebuilt != counted {
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
        std::fs::write(dir.join("dashboard-counted.txt"), counted.join("\n").replace("\", \"", "\",\n\"")).unwrap();
        std::fs::write(dir.join("dashboard-rebuilt.txt"), rebuilt.join("\n").replace("\", \"", "\",\n\"")).unwrap();
    }
    assert!(
        rebuilt == counted,
        "the dashboard after three kills differs from its rebuild (target/tmp/dashboard-*.txt)"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cdr_exports_killed_mid_run_still_export_every_cdr_exactly_once() {
    use simledger_eventlog::{EventLog, ExpectedVersion, Metadata, NewEvent};
    let db = TestDatabase::new().await;
    let log = EventLog::new(db.pool().await);
    let cdrs = simledger_projections::spawn(log.clone(), "cdrs", simledger_projections::cdrs::Cdrs);
    let account = "AC00000000000000000000000000000042";
    let dir = std::env::temp_dir().join(format!("simledger-crash-export-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let exporter = simledger_exporters::cdr_export::Exporter::new(
        "crash",
        simledger_exporters::cdr_export::ExporterKind::FileCsv,
        dir.display().to_string(),
    );
    simledger_exporters::cdr_export::create(&log, account, &exporter).await.unwrap();
    let export = || {
        let mut c = common::simledger();
        c.args(["export", "--account", account, "--exporter", "crash"])
            .env("DATABASE_URL", &db.url)
            .env("SIMLEDGER_DATA_DIR", testing::data_dir().0)
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        c
    };
    let seed: u64 = rand::rng().random();
    eprintln!("kill point seed {seed}");
    let mut delays = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut n = 0u32;
    for _ in 0..5 {
        // More CDRs, then an export killed at a random moment (before, during or after its write).
        let batch: Vec<_> = (0..20_000)
            .map(|_| {
                n += 1;
                let e = common::ended_session(account, n);
                NewEvent::new(uuid::Uuid::new_v4(), "s", &e, &Metadata::from_source("test")).unwrap()
            })
            .collect();
        let last = log.append(batch, ExpectedVersion::Any).await.unwrap().last().unwrap().position;
        assert!(cdrs.reached(last).await);
        let mut child = export().spawn().unwrap();
        tokio::time::sleep(Duration::from_millis(delays.random_range(0..400))).await;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }
    assert!(export().status().unwrap().success(), "a last run completes");

    let mut exported = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        assert!(
            path.extension().is_none_or(|e| e != "tmp"),
            "the last run cleared killed runs' temporary files: {path:?} is left"
        );
        if path.extension().is_some_and(|e| e == "csv") {
            let mut reader = csv::Reader::from_path(&path).unwrap();
            exported.extend(reader.records().map(|r| r.unwrap()[0].to_owned()));
        }
    }
    let total = exported.len();
    let exported: HashSet<String> = exported.into_iter().collect();
    let all: HashSet<String> =
        sqlx::query_scalar("SELECT cgrid FROM cdrs").fetch_all(log.pool()).await.unwrap().into_iter().collect();
    assert_eq!(all.len(), 100_000);
    assert_eq!(total, exported.len(), "no CDR in two files");
    let (missing, extra) = (all.difference(&exported).count(), exported.difference(&all).count());
    assert_eq!((missing, extra), (0, 0), "every CDR in some file: {missing} missing, {extra} unknown");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `up` with only the sinks role: the subscribers that write outside (callbacks, billing's
/// posts, account exports) and the outbound calls' deliverer.
fn sinks(database_url: &str) -> Command {
    up_with_role(database_url, "sinks")
}

/// `up` with only the exporters role: definitions, scheduled and online exporters.
fn exporters(database_url: &str) -> Command {
    up_with_role(database_url, "exporters")
}

fn up_with_role(database_url: &str, role: &str) -> Command {
    let mut c = common::simledger_on(database_url, &testing::unique_nats_prefix(), "error");
    c.args(["up", "--roles", role, "--signing-key", "k", "--allow-private-destinations"]);
    c
}

async fn checkpoint(pool: &sqlx::PgPool, subscriber: &str) -> i64 {
    let mut conn = pool.acquire().await.unwrap();
    simledger_eventlog::checkpoint::load(&mut conn, subscriber, 0).await.unwrap()
}

/// Starts `start`'s process three times, each killed with SIGKILL at a random moment (up to
/// 100 ms) after `progress` has moved past where it was, so mid-work; returns `progress` at
/// each kill. The seed of the moments is printed, to replay a failure.
async fn kill_three_times_once_working<P, F>(start: impl Fn() -> Command, progress: P) -> Vec<i64>
where
    P: Fn() -> F,
    F: std::future::Future<Output = i64>,
{
    let seed: u64 = rand::rng().random();
    eprintln!("kill point seed {seed}");
    let mut delays = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut at_kills = Vec::new();
    for _ in 0..3 {
        let before = progress().await;
        let mut child = start().spawn().unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while progress().await <= before && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(delays.random_range(0..100))).await;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        at_kills.push(progress().await);
    }
    at_kills
}

/// Runs `start`'s process until `done` holds (or `patience` ends), then stops it.
async fn run_until<D, F>(start: impl Fn() -> Command, patience: Duration, done: D)
where
    D: Fn() -> F,
    F: std::future::Future<Output = bool>,
{
    let mut last = start().spawn().unwrap();
    let deadline = std::time::Instant::now() + patience;
    while !done().await && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    last.kill().unwrap();
    last.wait().unwrap();
}

/// Runs the sinks three times, each killed with SIGKILL at a random moment after `subscriber`'s
/// checkpoint has moved (so mid-batch or between batches), then once more until it reaches
/// `head`. Asserts a kill landed mid-run.
async fn kill_sinks_three_times_then_finish(db: &TestDatabase, pool: &sqlx::PgPool, subscriber: &str, head: i64) {
    let at_kills = kill_three_times_once_working(|| sinks(&db.url), || checkpoint(pool, subscriber)).await;
    assert!(at_kills.iter().any(|&p| p > 0 && p < head), "a kill landed mid-run: {at_kills:?} of {head}");
    run_until(|| sinks(&db.url), Duration::from_secs(120), || async { checkpoint(pool, subscriber).await >= head })
        .await;
    assert_eq!(checkpoint(pool, subscriber).await, head, "the last run finished");
}

#[tokio::test(flavor = "multi_thread")]
async fn account_exports_killed_mid_batch_still_write_every_document_once() {
    use simledger_eventlog::catalog::BillingExportRequested;
    use simledger_eventlog::{Event, EventLog, ExpectedVersion, Metadata, NewEvent};
    let db = TestDatabase::new().await;
    let log = EventLog::new(db.pool().await);
    let tenant = "cgrates.org";
    let dir = std::env::temp_dir().join(format!("simledger-crash-account-export-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let exporter = simledger_exporters::cdr_export::Exporter::new(
        "acc",
        simledger_exporters::cdr_export::ExporterKind::FileCsv,
        dir.display().to_string(),
    );
    simledger_exporters::cdr_export::create(&log, tenant, &exporter).await.unwrap();
    let exports: Vec<NewEvent> = (0..1500)
        .map(|n| {
            let e = Event::BillingExportRequested(BillingExportRequested {
                tenant: tenant.into(),
                account: format!("{n}"),
                exporter_ids: vec!["acc".into()],
                account_view: format!(
                    r#"{{"ID":"{tenant}:{n}","BalanceMap":{{}},"UnitCounters":{{}},"ActionTriggers":[],
                    "AllowNegative":false,"Disabled":false,"UpdateTime":"2026-05-01T10:00:00Z"}}"#
                ),
            });
            NewEvent::new(uuid::Uuid::new_v4(), "billing-test", &e, &Metadata::from_source("test")).unwrap()
        })
        .collect();
    let positions: Vec<i64> =
        log.append(exports, ExpectedVersion::Any).await.unwrap().iter().map(|r| r.position).collect();
    let head = *positions.last().unwrap();
    kill_sinks_three_times_then_finish(&db, log.pool(), simledger_exporters::account_exports::NAME, head).await;

    let mut names: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    let expected: Vec<String> = positions.iter().map(|p| format!("account_acc_{p:020}.csv")).collect();
    assert_eq!(names, expected, "one document per export, none missing, no temporary file left");
    for (n, name) in names.iter().enumerate() {
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        assert_eq!(text.lines().count(), 2, "a header and the account: {text}");
        assert!(text.contains(&format!("{tenant}:{n},")), "{name} holds account {n}: {text}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn billing_posts_killed_mid_queue_still_post_every_request_at_least_once() {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use simledger_eventlog::catalog::BillingHttpPostRequested;
    use simledger_eventlog::{Event, EventLog, ExpectedVersion, Metadata, NewEvent};
    let db = TestDatabase::new().await;
    let log = EventLog::new(db.pool().await);
    // Event id → how many times it was posted.
    let seen: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let state = seen.clone();
    let receiver = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap| {
            let seen = state.clone();
            async move {
                let id = headers["x-simledger-event-id"].to_str().unwrap().to_owned();
                *seen.lock().unwrap().entry(id).or_default() += 1;
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, receiver).await.unwrap() });
    let ids: Vec<uuid::Uuid> = (0..1500).map(|_| uuid::Uuid::new_v4()).collect();
    let posts: Vec<NewEvent> = ids
        .iter()
        .map(|id| {
            let e = Event::BillingHttpPostRequested(BillingHttpPostRequested {
                tenant: "cgrates.org".into(),
                account: "1001".into(),
                url: url.clone(),
                body: r#"{"ID":"cgrates.org:1001"}"#.into(),
            });
            NewEvent::new(*id, "billing-test", &e, &Metadata::from_source("test")).unwrap()
        })
        .collect();
    log.append(posts, ExpectedVersion::Any).await.unwrap();
    // Killed three times at random moments once posts are being made, so mid-queue; then run
    // until every post has been made and the queue is empty.
    let posted = || async { seen.lock().unwrap().len() as i64 };
    let at_kills = kill_three_times_once_working(|| sinks(&db.url), posted).await;
    assert!(at_kills.iter().any(|&n| n > 0 && n < ids.len() as i64), "a kill landed mid-queue: {at_kills:?}");
    let queued = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM outbound_calls").fetch_one(log.pool()).await.unwrap()
    };
    // A call in flight at a kill is made again once its lease (15 s) ends.
    run_until(
        || sinks(&db.url),
        Duration::from_secs(60),
        || async { checkpoint(log.pool(), simledger_exporters::billing_posts::NAME).await > 0 && queued().await == 0 },
    )
    .await;
    assert_eq!(queued().await, 0, "the last run made every queued call");

    let seen = seen.lock().unwrap();
    let missing = ids.iter().filter(|id| !seen.contains_key(&id.to_string())).count();
    assert_eq!(missing, 0, "every request posted");
    assert_eq!(seen.len(), ids.len(), "nothing posted that was not requested");
    // Repeats come only from the call each kill interrupted (one tenant: one call at a time).
    let repeats: usize = seen.values().map(|n| n - 1).sum();
    assert!(repeats <= 3, "{repeats} repeats");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_online_exporter_killed_mid_posting_still_posts_every_cdr_at_least_once() {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use simledger_eventlog::{EventLog, ExpectedVersion, Metadata, NewEvent};
    let db = TestDatabase::new().await;
    let log = EventLog::new(db.pool().await);
    let cdrs = simledger_projections::spawn(log.clone(), "cdrs", simledger_projections::cdrs::Cdrs);
    let account = "AC00000000000000000000000000000043";
    // CGRID → how many times it was posted.
    let seen: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let state = seen.clone();
    let receiver = axum::Router::new().route(
        "/cdrs",
        axum::routing::post(move |body: axum::body::Bytes| {
            let seen = state.clone();
            async move {
                let cdr: serde_json::Value = serde_json::from_slice(&body).unwrap();
                *seen.lock().unwrap().entry(cdr["CGRID"].as_str().unwrap().to_owned()).or_default() += 1;
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/cdrs", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, receiver).await.unwrap() });
    let exporter = simledger_exporters::cdr_export::Exporter::new(
        "live",
        simledger_exporters::cdr_export::ExporterKind::HttpJsonMap,
        &url,
    );
    simledger_exporters::cdr_export::create(&log, account, &exporter).await.unwrap();
    let batch: Vec<_> = (1..=1500)
        .map(|n| {
            let e = common::ended_session(account, n);
            NewEvent::new(uuid::Uuid::new_v4(), "s", &e, &Metadata::from_source("test")).unwrap()
        })
        .collect();
    let head = log.append(batch, ExpectedVersion::Any).await.unwrap().last().unwrap().position;
    assert!(cdrs.reached(head).await);
    let all: Vec<String> = sqlx::query_scalar("SELECT cgrid FROM cdrs").fetch_all(log.pool()).await.unwrap();
    let last_order: i64 = sqlx::query_scalar("SELECT max(order_id) FROM cdrs").fetch_one(log.pool()).await.unwrap();
    let cursor = || async {
        simledger_exporters::cdr_export::get(log.pool(), account, "live").await.unwrap().last_exported_order_id
    };

    // Killed three times at random moments once CDRs are being posted, so mid-range.
    let posted = || async { seen.lock().unwrap().len() as i64 };
    let at_kills = kill_three_times_once_working(|| exporters(&db.url), posted).await;
    assert!(at_kills.iter().any(|&n| n > 0 && n < all.len() as i64), "a kill landed mid-export: {at_kills:?}");
    run_until(|| exporters(&db.url), Duration::from_secs(60), || async { cursor().await >= last_order }).await;
    assert_eq!(cursor().await, last_order, "the last run sent every CDR");

    let seen = seen.lock().unwrap();
    let missing = all.iter().filter(|c| !seen.contains_key(*c)).count();
    assert_eq!(missing, 0, "every CDR posted");
    assert_eq!(seen.len(), all.len(), "nothing posted that is not a CDR");
    // A kill repeats at most the CDR in flight.
    let repeats: usize = seen.values().map(|n| n - 1).sum();
    assert!(repeats <= 3, "{repeats} repeats");
}
