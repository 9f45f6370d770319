//! Start-up from a snapshot of the core views: a start loads the latest snapshot and follows
//! the log from its position, and ends with exactly the views a replay from 0 builds; a
//! snapshot of another format is ignored.

mod common;

use std::time::Duration;

use common::{at, start};
use simledger_core::protocol::*;
use simledger_core::CoreViews;
use simledger_eventlog::catalog::SimStatus;
use simledger_eventlog::EventLog;

/// The views' content as JSON (maps compare whatever their order), once caught up.
async fn caught_up_content(log: &EventLog) -> serde_json::Value {
    let views = CoreViews::follow(log.clone());
    assert!(views.caught_up(log, Duration::from_secs(15)).await);
    let (_, bytes) = views.snapshot_bytes().unwrap();
    views.stop();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn a_start_from_a_snapshot_ends_with_the_views_a_replay_from_zero_builds() {
    let core = start().await;
    core.sim(1, &["234150000000001"], SimStatus::Active).await;
    let attached = core.attach("234150000000001", "234", "15", 1).await;
    let context = attached.context.expect("attached");
    let created: CreateSessionAnswer = core
        .call(subjects::S11_CREATE_SESSION, &CreateSessionRequest { context, apn: "super".into(), at: at(1), seq: 2 })
        .await;
    assert!(created.ip_address.is_some());
    core.event(|e| e.event.event_type().ends_with("data-session.started")).await;
    core.views_current().await;
    let position = core.core.views.snapshot_now(&core.log).await.unwrap();
    assert!(position > 0);

    // After the snapshot: another SIM, another status.
    core.sim(2, &["234150000000002"], SimStatus::Inactive).await;
    let from_snapshot = caught_up_content(&core.log).await;
    sqlx::query("DELETE FROM core_view_snapshots").execute(core.log.pool()).await.unwrap();
    let from_zero = caught_up_content(&core.log).await;
    assert_eq!(from_snapshot, from_zero);
    assert_eq!(from_zero["sessions"]["open"].as_object().unwrap().len(), 1, "the open session is carried");
    assert_eq!(from_zero["subscribers"]["imsis"].as_object().unwrap().len(), 2);
}

#[tokio::test]
async fn a_start_loads_the_snapshot_rather_than_replaying_and_ignores_another_format() {
    let core = start().await;
    core.sim(1, &["234150000000001"], SimStatus::Active).await;
    let position = core.core.views.snapshot_now(&core.log).await.unwrap();
    // A marker only the snapshot holds: a start that shows it read the snapshot.
    let pool = core.log.pool();
    // A test fleet's views fit one chunk.
    let data: Vec<u8> =
        sqlx::query_scalar("SELECT data FROM core_view_snapshot_chunks WHERE position = $1 AND chunk = 0")
            .bind(position)
            .fetch_one(pool)
            .await
            .unwrap();
    let mut content: serde_json::Value = serde_json::from_slice(&data).unwrap();
    content["limits"]["blocked"]["HS000000000000000000000000000000ff"] = serde_json::Value::Null;
    let marked = serde_json::to_vec(&content).unwrap();
    sqlx::query("UPDATE core_view_snapshot_chunks SET data = $2 WHERE position = $1 AND chunk = 0")
        .bind(position)
        .bind(&marked)
        .execute(pool)
        .await
        .unwrap();
    let restored = caught_up_content(&core.log).await;
    assert!(restored["limits"]["blocked"].get("HS000000000000000000000000000000ff").is_some());

    // The same snapshot under another format is not read: the views come from the log alone.
    sqlx::query("UPDATE core_view_snapshots SET format = 999").execute(pool).await.unwrap();
    let replayed = caught_up_content(&core.log).await;
    assert!(replayed["limits"]["blocked"].get("HS000000000000000000000000000000ff").is_none());
    assert_eq!(replayed["subscribers"]["imsis"].as_object().unwrap().len(), 1);
}
