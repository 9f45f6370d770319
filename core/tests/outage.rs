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
