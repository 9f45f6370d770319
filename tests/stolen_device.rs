//! `simledger simulate --scenario stolen-device` as a user runs it: a third of the way in, the
//! fleet's first card is put into another device abroad. The device-signals decider raises it,
//! the fleet's bound `*suspend_sim` suspends the SIM, and from one update window after the
//! swap on the card passes no data. The rest of the fleet raises nothing.

mod common;

use chrono::{DateTime, Duration, Utc};
use simledger_services::testing::{self, TestDatabase};

#[tokio::test(flavor = "multi_thread")]
async fn the_stolen_card_is_suspended_within_one_update_window_and_nothing_fires_for_the_rest() {
    let db = TestDatabase::new().await;
    let start = "2026-01-01T00:00:00Z";
    // Paced at 60 simulated seconds a wall second, so the decision (a wall-clock matter) lands
    // within a simulated window, as it would in real time.
    let status = common::simledger_on(&db.url, &testing::unique_nats_prefix(), "warn")
        .args(["simulate", "--sims", "12", "--duration", "60m", "--seed", "5", "--speed", "60", "--rate", "0"])
        .args(["--scenario", "stolen-device", "--start", start])
        .status()
        .unwrap();
    assert!(status.success());
    let swap: DateTime<Utc> = start.parse::<DateTime<Utc>>().unwrap() + Duration::minutes(20);
    let pool = db.pool().await;

    // The card of the device that was taken: the one that attached from the thief's device.
    let stolen: String = sqlx::query_scalar(
        "SELECT DISTINCT data->>'sim_sid' FROM events WHERE type LIKE '%attachment.accepted' AND data->>'imei' = $1",
    )
    .bind(simledger_core::simulator::THIEFS_IMEI)
    .fetch_one(&pool)
    .await
    .unwrap();
    let signals: Vec<(String, String)> = sqlx::query_as(
        "SELECT data->>'sim_sid', data->>'signal' FROM events WHERE type = 'sim.signal_raised' ORDER BY position",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(!signals.is_empty(), "the swap was raised");
    assert!(signals.iter().all(|(sim, _)| *sim == stolen), "nothing fires for the rest of the fleet: {signals:?}");
    assert!(signals.iter().any(|(_, s)| s == "imei_changed"), "{signals:?}");

    let suspended: Option<String> = sqlx::query_scalar(
        "SELECT data->>'reason' FROM events WHERE type = 'sim.status_changed' AND data->>'sim_sid' = $1 \
         AND data->>'to' = 'inactive'",
    )
    .bind(&stolen)
    .fetch_optional(&pool)
    .await
    .unwrap();
    assert_eq!(suspended.as_deref(), Some("billing:*suspend_sim"));
    // From one update window after the swap on, the card passes nothing.
    let after: Option<i64> = sqlx::query_scalar(
        "SELECT sum((data->>'data_total')::bigint)::bigint FROM events WHERE type LIKE '%data-session.updated' \
         AND data->>'sim_sid' = $1 AND (data->>'data_session_update_start_time')::timestamptz >= $2",
    )
    .bind(&stolen)
    .bind(swap + Duration::minutes(6))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(after.unwrap_or(0), 0, "bytes passed more than one window after the swap");
    pool.close().await;
}
