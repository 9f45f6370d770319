use std::time::Duration;

use simledger_eventlog::catalog::*;
use simledger_eventlog::{Event, EventLog, ExpectedVersion, Metadata, NewEvent};
use simledger_projections::registry::Registry;
use simledger_services::testing::TestDatabase;
use uuid::Uuid;

const ACCOUNT: &str = "AC00000000000000000000000000000001";

async fn append(log: &EventLog, stream: &str, event: Event) -> i64 {
    let e = NewEvent::new(Uuid::new_v4(), stream, &event, &Metadata::from_source("test")).unwrap();
    log.append(vec![e], ExpectedVersion::Any).await.unwrap()[0].position
}

async fn history(log: &EventLog) -> i64 {
    append(
        log,
        "nap-HA1",
        Event::NapCreated(NapCreated {
            nap_sid: "HA1".into(),
            account_sid: ACCOUNT.into(),
            unique_name: Some("europe".into()),
            networks: vec!["HW1".into(), "HW2".into()],
        }),
    )
    .await;
    append(
        log,
        "nap-HA1",
        Event::NapNetworkRemoved(NapNetworkChange {
            nap_sid: "HA1".into(),
            account_sid: ACCOUNT.into(),
            network_sid: "HW1".into(),
        }),
    )
    .await;
    append(
        log,
        "fleet-HF1",
        Event::FleetCreated(FleetCreated {
            fleet_sid: "HF00000000000000000000000000000001".parse().unwrap(),
            account_sid: ACCOUNT.into(),
            unique_name: None,
            data_enabled: true,
            data_limit_mb: 1000,
            data_metering: "payg".into(),
            network_access_profile_sid: "HA1".into(),
            sms_commands_enabled: true,
            sms_commands_url: None,
            sms_commands_method: None,
            ip_commands_url: None,
            ip_commands_method: None,
        }),
    )
    .await;
    append(
        log,
        "fleet-HF1",
        Event::FleetUpdated(FleetUpdated {
            data_limit_mb: Some(5),
            ..FleetUpdated::new("HF00000000000000000000000000000001".parse().unwrap(), ACCOUNT.into())
        }),
    )
    .await;
    append(
        log,
        "sim-HS1",
        Event::SimProvisioned(SimProvisioned {
            sim_sid: "HS00000000000000000000000000000001".parse().unwrap(),
            iccid: "8988307000000000001".into(),
            registration_code_hash: "00".into(),
            imsis: vec!["310240000000001".into(), "234150000000001".into()],
        }),
    )
    .await;
    append(
        log,
        "sim-HS1",
        Event::SimRegistered(SimRegistered {
            sim_sid: "HS00000000000000000000000000000001".parse().unwrap(),
            account_sid: ACCOUNT.into(),
            iccid: "8988307000000000001".into(),
            status: SimStatus::New,
            fleet_sid: Some("HF00000000000000000000000000000001".parse().unwrap()),
            unique_name: Some("tracker-1".into()),
        }),
    )
    .await;
    append(
        log,
        "sim-HS1",
        Event::SimStatusChanged(SimStatusChanged {
            sim_sid: "HS00000000000000000000000000000001".parse().unwrap(),
            account_sid: ACCOUNT.into(),
            from: SimStatus::New,
            to: SimStatus::Ready,
            reason: None,
        }),
    )
    .await;
    append(
        log,
        "sim-HS1",
        Event::SimUpdated(SimUpdated {
            unique_name: Some(None),
            disallowed_imsis: Some(vec!["234150000000001".into()]),
            ..SimUpdated::new("HS00000000000000000000000000000001".parse().unwrap(), ACCOUNT.into())
        }),
    )
    .await
}

/// Every registry table as sorted JSON text, to compare whole states.
async fn snapshot(log: &EventLog) -> Vec<String> {
    let mut out = Vec::new();
    for table in ["registry_sims", "registry_sim_imsis", "registry_fleets", "registry_naps", "registry_nap_networks"] {
        let rows: Vec<String> = sqlx::query_scalar(&format!("SELECT row_to_json(t)::text FROM {table} t ORDER BY 1"))
            .fetch_all(log.pool())
            .await
            .unwrap();
        out.push(format!("{table}: {rows:?}"));
    }
    out
}

#[tokio::test]
async fn the_registry_follows_provisioning_events() {
    let db = TestDatabase::new().await;
    let log = EventLog::new(db.pool().await);
    let last = history(&log).await;
    let handle = simledger_projections::spawn(log.clone(), "registry", Registry);
    assert!(tokio::time::timeout(Duration::from_secs(10), handle.reached(last)).await.unwrap());

    let sim: (String, Option<String>, Option<String>) = sqlx::query_as(
        "SELECT status, unique_name, fleet_sid FROM registry_sims WHERE sim_sid = 'HS00000000000000000000000000000001'",
    )
    .fetch_one(log.pool())
    .await
    .unwrap();
    assert_eq!(sim, ("ready".into(), None, Some("HF00000000000000000000000000000001".into())));
    let allowed: Vec<(String, bool)> = sqlx::query_as("SELECT imsi, allowed FROM registry_sim_imsis ORDER BY imsi")
        .fetch_all(log.pool())
        .await
        .unwrap();
    assert_eq!(allowed, vec![("234150000000001".into(), false), ("310240000000001".into(), true)]);
    let limit: i64 =
        sqlx::query_scalar("SELECT data_limit_mb FROM registry_fleets").fetch_one(log.pool()).await.unwrap();
    assert_eq!(limit, 5);
    let networks: Vec<String> =
        sqlx::query_scalar("SELECT network_sid FROM registry_nap_networks").fetch_all(log.pool()).await.unwrap();
    assert_eq!(networks, vec!["HW2".to_owned()]);
    handle.task.abort();
}

#[tokio::test]
async fn replaying_the_registry_from_zero_gives_identical_tables() {
    let db = TestDatabase::new().await;
    let log = EventLog::new(db.pool().await);
    let last = history(&log).await;
    let handle = simledger_projections::spawn(log.clone(), "registry", Registry);
    assert!(tokio::time::timeout(Duration::from_secs(10), handle.reached(last)).await.unwrap());
    handle.task.abort();
    let before = snapshot(&log).await;

    let replayed_to = simledger_projections::replay(&log, Registry).await.unwrap();

    assert_eq!(replayed_to, last);
    assert_eq!(snapshot(&log).await, before);
}
