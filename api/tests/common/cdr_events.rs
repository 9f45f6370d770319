//! Core events that close CDRs, for the billing tests.

use chrono::{Duration, TimeZone, Utc};
use simledger_eventlog::catalog::{ConnectionEvent, SmsEvent};
use simledger_eventlog::{Event, ExpectedVersion, Metadata, NewEvent};

use super::TestApp;

pub fn ended_session(account: &str, sim: &str, n: u32, bytes: i64) -> Event {
    let start = Utc.with_ymd_and_hms(2026, 5, 1, 10, 0, 0).unwrap() + Duration::minutes(n as i64);
    let network = simledger_eventlog::networks::catalog().by_plmn("234", "15").unwrap().to_ref();
    Event::DataSessionEnded(ConnectionEvent {
        event_sid: format!("EZ{n}"),
        network,
        ..simledger_test_support::ended(
            account,
            sim,
            &format!("PI{n:032}"),
            start,
            start + Duration::minutes(30),
            bytes,
        )
    })
}

pub fn sms(account: &str, sim: &str, n: u32) -> Event {
    Event::SmsMoDelivered(SmsEvent {
        sms_command_sid: format!("HC{n:032}"),
        account_sid: account.into(),
        sim_sid: sim.into(),
        sim_iccid: "8988307000000000001".into(),
        imsi: "234150000000001".into(),
        direction: "from_sim".into(),
        status: "delivered".into(),
        payload: "hi".into(),
        timestamp: Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0).unwrap(),
        network: None,
        error: None,
    })
}

pub async fn log_events(app: &TestApp, events: Vec<Event>) {
    let batch = events
        .iter()
        .map(|e| NewEvent::new(uuid::Uuid::new_v4(), "s", e, &Metadata::from_source("test")).unwrap())
        .collect();
    let last = app.log.append(batch, ExpectedVersion::Any).await.unwrap().last().unwrap().position;
    assert!(app.cdrs.reached(last).await);
}
