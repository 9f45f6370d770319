#![allow(dead_code)]

use chrono::{TimeZone, Utc};
use simledger_eventlog::catalog::SmsEvent;
use simledger_eventlog::{Event, EventLog, Metadata, NewEvent};
use simledger_services::testing::TestDatabase;
use uuid::Uuid;

pub async fn fresh_log() -> (TestDatabase, EventLog) {
    let db = TestDatabase::new().await;
    let log = EventLog::new(db.pool().await);
    (db, log)
}

/// A small, valid event on `stream`.
pub fn sms(stream: &str, n: u64) -> NewEvent {
    let event = Event::SmsMoSubmitted(SmsEvent {
        sms_command_sid: format!("HC{n:032x}"),
        account_sid: "AC00000000000000000000000000000001".into(),
        sim_sid: format!("HS{n:032x}"),
        sim_iccid: "8988307000000000001".into(),
        imsi: "310240123456789".into(),
        direction: "from_sim".into(),
        status: "submitted".into(),
        payload: format!("reading {n}"),
        timestamp: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        network: None,
        error: None,
    });
    NewEvent::new(Uuid::new_v4(), stream, &event, &Metadata::from_source("test")).unwrap()
}
