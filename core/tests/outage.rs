//! Back-pressure: while the database refuses connections, nodes keep publishing into JetStream;
//! when it is back, ingest catches up and nothing is lost or doubled.

mod common;

use std::time::Duration;

use common::start;
use simledger_eventlog::catalog::SimStatus;
use sqlx::{ConnectOptions, Executor};

#[tokio::test]
async fn ingest_catches_up_after_the_database_comes_back() {
    let core = start().await;
    core.sim(1, &["310240000000021"], SimStatus::Active).await;
    let before = core.log.head().await.unwrap();
    let admin_url = simledger_services::testing::server_url();
    let mut admin = simledger_services::postgres::maintenance_options(&admin_url).unwrap().connect().await.unwrap();
    let db = simledger_services::postgres::quote_ident(&core._db.name);

    admin.execute(format!("ALTER DATABASE {db} ALLOW_CONNECTIONS false").as_str()).await.unwrap();
    admin
        .execute(
            format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}'", core._db.name)
                .as_str(),
        )
        .await
        .unwrap();
    // The core still answers: attaches go to JetStream while the log is unreachable.
    for seq in 1..=20 {
        let answer = tokio::time::timeout(Duration::from_secs(10), core.attach("310240000000021", "234", "15", seq))
            .await
            .expect("the MME answers while the database is down");
        assert!(answer.accepted);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    admin.execute(format!("ALTER DATABASE {db} ALLOW_CONNECTIONS true").as_str()).await.unwrap();

    let attaches = core
        .network_events()
        .await
        .into_iter()
        .filter(|e| e.position > before && matches!(e.event, simledger_eventlog::Event::AttachmentAccepted(_)))
        .count();
    assert_eq!(attaches, 20);
}

#[tokio::test]
async fn a_dropped_core_stops_its_nodes_and_its_views() {
    let db = simledger_services::testing::TestDatabase::new().await;
    let log = simledger_eventlog::EventLog::new(db.pool().await);
    let nats = simledger_services::nats::connect(&simledger_services::testing::nats_url()).await.unwrap();
    let names = simledger_core::CoreNames::new(simledger_services::testing::unique_nats_prefix());
    let core = simledger_core::start_nodes(nats.clone(), &names, log, chrono::Duration::minutes(6)).await.unwrap();
    let views = core.views.clone();
    let subject = names.request(simledger_core::protocol::subjects::S1_ATTACH);
    assert!(nats.request(subject.clone(), "{}".into()).await.is_ok(), "the MME answers while the core runs");

    // All a benchmark run or a test does before it drops its database.
    drop(core);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::sync::Arc::strong_count(&views) > 1 {
        assert!(std::time::Instant::now() < deadline, "the views' feeder or a node still holds the views");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let after = nats.request(subject, "{}".into()).await;
    assert!(after.is_err(), "no node answers after the drop: {after:?}");
}
