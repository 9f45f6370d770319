//! Regional breakout as an operator runs it: the EU PGW in a process of its own
//! (`simledger pgw --region eu-west`), the rest of the platform with `--pgw-remote eu-west`, a
//! simulated fleet that breaks out in the EU. The EU PGW is killed mid-run and started again.
//! The fleet's sessions never use the US PGW (the default region's), not even while the EU one
//! is down; sessions open at the kill are carried on by the restarted PGW and end once.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use simledger_services::testing::{self, TestDatabase};
use sqlx::PgPool;

const REGIONS: &str = "us-east,eu-west";

/// `simledger pgw --region eu-west`, once it says it is up.
fn eu_pgw(db: &str, prefix: &str) -> Child {
    let mut child = common::simledger_on(db, prefix, "info")
        .args(["--pgw-regions", REGIONS, "pgw", "--region", "eu-west"])
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .spawn()
        .expect("simledger pgw starts");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("the PGW is up") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(120)).expect("the PGW reports it is up");
    child
}

/// Waits (bounded) until `sql` counts at least one row.
async fn until(pool: &PgPool, what: &str, sql: &str) {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let n: i64 = sqlx::query_scalar(sql).fetch_one(pool).await.unwrap();
        if n > 0 {
            return;
        }
        assert!(Instant::now() < deadline, "{what} did not happen in time");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_eu_fleet_never_breaks_out_elsewhere_even_while_its_pgw_restarts() {
    let db = TestDatabase::new().await;
    let prefix = testing::unique_nats_prefix();
    let pool = db.pool().await;
    // The database is prepared by the first process; the PGW waits for nothing else.
    let mut pgw = eu_pgw(&db.url, &prefix);
    let mut simulation = common::simledger_on(&db.url, &prefix, "warn")
        .args(["--pgw-regions", REGIONS, "--pgw-remote", "eu-west"])
        .args(["simulate", "--sims", "10", "--duration", "120m", "--seed", "9", "--speed", "150", "--rate", "0"])
        .args(["--breakout", "eu-west"])
        .spawn()
        .unwrap();

    let sessions = "FROM events WHERE type LIKE '%data-session.%'";
    until(&pool, "an EU session's update", &format!("SELECT count(*) {sessions} AND type LIKE '%updated'")).await;
    pgw.kill().unwrap();
    pgw.wait().unwrap();
    // While it is down, new EU sessions fail: no PGW answers, and no other region stands in.
    let not_responding = simledger_core::sgw::CODE_PGW_NOT_RESPONDING;
    let refused = format!(
        "SELECT count(*) {sessions} AND type LIKE '%failed' AND (data->'error'->>'code')::bigint = {not_responding}"
    );
    until(&pool, "a session refused while the EU PGW is down", &refused).await;
    let restart_at: i64 = sqlx::query_scalar("SELECT max(position) FROM events").fetch_one(&pool).await.unwrap();
    let mut pgw = eu_pgw(&db.url, &prefix);

    let status = tokio::task::spawn_blocking(move || simulation.wait()).await.unwrap().unwrap();
    assert!(status.success());
    pgw.kill().unwrap();
    pgw.wait().unwrap();

    let by_pgw: Vec<(Option<String>, Option<String>, i64)> = sqlx::query_as(&format!(
        "SELECT data->>'pgw', data->>'breakout_region', count(*) {sessions} GROUP BY 1, 2 ORDER BY 1, 2"
    ))
    .fetch_all(&pool)
    .await
    .unwrap();
    // Unknown-APN refusals are decided before any PGW is chosen (no PGW named); every other
    // session event is the EU PGW's.
    for (pgw, region, n) in &by_pgw {
        match pgw.as_deref() {
            Some(node) => assert_eq!((node, region.as_deref()), ("pgw-eu-west", Some("eu-west")), "{by_pgw:?}"),
            None => {
                let unknown_apn: i64 = sqlx::query_scalar(&format!(
                    "SELECT count(*) {sessions} AND data->>'pgw' IS NULL AND (data->'error'->>'code')::bigint = {}",
                    simledger_core::pgw::CODE_UNKNOWN_APN
                ))
                .fetch_one(&pool)
                .await
                .unwrap();
                assert_eq!(unknown_apn, *n, "{by_pgw:?}");
            }
        }
    }
    // Sessions were made after the restart, from the EU pool.
    let after: Vec<String> = sqlx::query_scalar(&format!(
        "SELECT data->>'ip_address' {sessions} AND type LIKE '%started' AND position > $1"
    ))
    .bind(restart_at)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(!after.is_empty(), "sessions after the restart");
    let (base, size) = simledger_core::regions::ip_pool(simledger_eventlog::catalog::BreakoutRegion::EuWest);
    for ip in &after {
        let ip = u32::from(ip.parse::<std::net::Ipv4Addr>().unwrap());
        assert!((u32::from(base)..u32::from(base) + size).contains(&ip), "{ip} is from the EU pool");
    }
    // Sessions open at the kill were carried on by the restarted PGW, none closed as lost.
    let lost: i64 = sqlx::query_scalar(&format!(
        "SELECT count(*) {sessions} AND (data->'error'->>'code')::bigint = {}",
        simledger_core::pgw::CODE_PGW_RESTARTED
    ))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(lost, 0, "every device came back to its session");
    // Every session that started ended exactly once.
    let unended: Vec<(String, i64)> = sqlx::query_as(&format!(
        "SELECT s.data->>'data_session_sid', (SELECT count(*) {sessions} AND type LIKE '%ended' \
           AND data->>'data_session_sid' = s.data->>'data_session_sid') \
         FROM events s WHERE s.type LIKE '%data-session.started'"
    ))
    .fetch_all(&pool)
    .await
    .unwrap();
    let wrong: Vec<_> = unended.iter().filter(|(_, ends)| *ends != 1).collect();
    assert!(wrong.is_empty(), "sessions without exactly one end: {wrong:?}");
    // Usage lands in the EU region only.
    let regions: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT breakout_region FROM usage_hourly").fetch_all(&pool).await.unwrap();
    assert_eq!(regions, ["eu-west"]);
    pool.close().await;
}
