//! The dashboard projection against a real database: its counts follow the log, an interrupted
//! run resumes without counting twice, and a replay from zero gives identical tables.

use std::time::Duration;

use simledger_eventlog::catalog::*;
use simledger_eventlog::{Event, EventLog, ExpectedVersion, Metadata, NewEvent};
use simledger_projections::dashboard::{self, Dashboard};
use simledger_services::testing::TestDatabase;
use uuid::Uuid;

const ALICE: &str = "AC00000000000000000000000000000001";
const BOB: &str = "AC00000000000000000000000000000002";

async fn append(log: &EventLog, event: Event) -> i64 {
    let e = NewEvent::new(Uuid::new_v4(), "test", &event, &Metadata::from_source("test")).unwrap();
    log.append(vec![e], ExpectedVersion::Any).await.unwrap()[0].position
}

fn registered(sim: &str, account: &str, status: SimStatus) -> Event {
    Event::SimRegistered(SimRegistered {
        sim_sid: sim.parse().unwrap(),
        account_sid: account.into(),
        iccid: format!("8988{sim}"),
        status,
        fleet_sid: Some("HF00000000000000000000000000000001".parse().unwrap()),
        unique_name: None,
    })
}

fn connection(sim: &str, account: &str, bytes: Option<i64>) -> ConnectionEvent {
    let at = "2026-11-30T10:00:00Z".parse().unwrap();
    ConnectionEvent {
        fleet_sid: Some("HF00000000000000000000000000000001".into()),
        location: Some(CellLocation { cell_id: "c1".into(), lac: "l1".into(), lat: None, lon: None }),
        data_session_sid: Some(format!("PI{sim}")),
        data_upload: bytes,
        data_download: bytes,
        ..simledger_test_support::connection("data-session.updated", account, sim, at)
    }
}

fn limit(sim: &str, reached: bool) -> Event {
    let d = DataLimitDecision {
        sim_sid: sim.parse().unwrap(),
        account_sid: ALICE.into(),
        fleet_sid: Some("HF00000000000000000000000000000001".parse().unwrap()),
        billing_period_sid: "HB1".into(),
        used_bytes: 10,
        limit_bytes: 5,
        reason: "data_limit".into(),
        period_end: None,
    };
    if reached {
        Event::SimDataLimitReached(d)
    } else {
        Event::SimDataLimitCleared(d)
    }
}

/// A history over two accounts: registrations, a status change, a fleet move, attaches, a
/// data session with usage, a block and its release, and a second block.
fn history() -> Vec<Event> {
    let mut events = vec![
        registered("HS00000000000000000000000000000001", ALICE, SimStatus::Active),
        registered("HS00000000000000000000000000000002", ALICE, SimStatus::Ready),
        registered("HS00000000000000000000000000000003", BOB, SimStatus::Active),
        Event::SimStatusChanged(SimStatusChanged {
            sim_sid: "HS00000000000000000000000000000002".parse().unwrap(),
            account_sid: ALICE.into(),
            from: SimStatus::Ready,
            to: SimStatus::Active,
            reason: None,
        }),
        Event::SimUpdated(SimUpdated {
            fleet_sid: Some(Some("HF00000000000000000000000000000002".parse().unwrap())),
            ..SimUpdated::new("HS00000000000000000000000000000002".parse().unwrap(), ALICE.into())
        }),
        Event::AttachmentAccepted(connection("HS00000000000000000000000000000001", ALICE, None)),
        Event::AttachmentRejected(connection("HS00000000000000000000000000000003", BOB, None)),
        Event::DataSessionStarted(connection("HS00000000000000000000000000000001", ALICE, None)),
        Event::DataSessionStarted(connection("HS00000000000000000000000000000003", BOB, None)),
        Event::DataSessionUpdated(connection("HS00000000000000000000000000000001", ALICE, Some(1000))),
        limit("HS00000000000000000000000000000001", true),
        limit("HS00000000000000000000000000000001", true),
        Event::DataSessionEnded(connection("HS00000000000000000000000000000001", ALICE, Some(500))),
        // The core reported the end twice (a restarted node): counted once.
        Event::DataSessionEnded(connection("HS00000000000000000000000000000001", ALICE, None)),
        limit("HS00000000000000000000000000000001", false),
        limit("HS00000000000000000000000000000002", true),
    ];
    // Enough of them that a run can be interrupted between batches.
    for _ in 0..3 {
        events.push(Event::AttachmentAccepted(connection("HS00000000000000000000000000000001", ALICE, None)));
    }
    events
}

async fn counts(log: &EventLog, account: &str) -> (Vec<(String, String, i64)>, (i64, i64), i64, i64) {
    let pool = log.pool();
    let sims = sqlx::query_as(
        "SELECT fleet_sid, status, sims FROM dash_sim_counts WHERE account_sid = $1 AND sims <> 0 ORDER BY 1, 2",
    )
    .bind(account)
    .fetch_all(pool)
    .await
    .unwrap();
    let totals = sqlx::query_as("SELECT open_sessions, blocked_sims FROM dash_accounts WHERE account_sid = $1")
        .bind(account)
        .fetch_optional(pool)
        .await
        .unwrap()
        .unwrap_or((0, 0));
    let bytes =
        sqlx::query_scalar("SELECT coalesce(sum(bytes), 0)::int8 FROM dash_usage_hourly WHERE account_sid = $1")
            .bind(account)
            .fetch_one(pool)
            .await
            .unwrap();
    let attaches =
        sqlx::query_scalar("SELECT coalesce(sum(attaches_accepted), 0)::int8 FROM dash_minutes WHERE account_sid = $1")
            .bind(account)
            .fetch_one(pool)
            .await
            .unwrap();
    (sims, totals, bytes, attaches)
}

#[tokio::test]
async fn the_dashboard_counts_follow_the_log_per_account() {
    let db = TestDatabase::new().await;
    let log = EventLog::new(db.pool().await);
    let mut last = 0;
    for e in history() {
        last = append(&log, e).await;
    }
    let handle = simledger_projections::spawn(log.clone(), dashboard::NAME, Dashboard);
    assert!(tokio::time::timeout(Duration::from_secs(10), handle.reached(last)).await.unwrap());
    handle.task.abort();

    let (sims, (open, blocked), bytes, attaches) = counts(&log, ALICE).await;
    assert_eq!(
        sims,
        vec![
            ("HF00000000000000000000000000000001".into(), "active".into(), 1),
            ("HF00000000000000000000000000000002".into(), "active".into(), 1)
        ]
    );
    assert_eq!((open, blocked), (0, 1), "HS1's session ended; HS1 released, HS2 blocked");
    assert_eq!(bytes, 3000, "both directions of both windows");
    assert_eq!(attaches, 4);
    let (sims, (open, blocked), _, _) = counts(&log, BOB).await;
    assert_eq!((sims.len(), open, blocked), (1, 1, 0));
    let seen: (Option<String>, Option<String>, i32) =
        sqlx::query_as("SELECT network_name, cell_id, open_sessions FROM dash_sims WHERE sim_sid = 'HS00000000000000000000000000000001'")
            .fetch_one(log.pool())
            .await
            .unwrap();
    assert_eq!(seen, (Some("Vodafone UK".into()), Some("c1".into()), 0));
}

#[tokio::test]
async fn an_interrupted_run_resumes_without_counting_twice_and_a_replay_gives_identical_tables() {
    let db = TestDatabase::new().await;
    let log = EventLog::new(db.pool().await);
    let events = history();
    let half = events.len() / 2;
    let mut last = 0;
    for e in events[..half].iter().cloned() {
        last = append(&log, e).await;
    }
    // A first worker applies half the log and is stopped; the rest arrives; a second resumes.
    let first = simledger_projections::spawn(log.clone(), dashboard::NAME, Dashboard);
    assert!(tokio::time::timeout(Duration::from_secs(10), first.reached(last)).await.unwrap());
    first.task.abort();
    let _ = first.task.await;
    for e in events[half..].iter().cloned() {
        last = append(&log, e).await;
    }
    let second = simledger_projections::spawn(log.clone(), dashboard::NAME, Dashboard);
    assert!(tokio::time::timeout(Duration::from_secs(10), second.reached(last)).await.unwrap());
    second.task.abort();
    let resumed = simledger_projections::snapshot::<Dashboard>(log.pool()).await.unwrap();
    assert_eq!(counts(&log, ALICE).await.3, 4, "no attach counted twice");

    let replayed_to = simledger_projections::replay(&log, Dashboard).await.unwrap();
    assert_eq!(replayed_to, last);
    assert_eq!(simledger_projections::snapshot::<Dashboard>(log.pool()).await.unwrap(), resumed);
}
