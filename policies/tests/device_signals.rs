//! The device-signals decider over a log written directly: a signal is appended once across a
//! crash between appending and committing, and its state carries over a restart (a fresh
//! decider reads what the last one committed).

use chrono::{Duration, Utc};
use simledger_eventlog::catalog::*;
use simledger_eventlog::checkpoint::Subscriber;
use simledger_eventlog::{Event, EventLog, ExpectedVersion, Metadata, NewEvent};
use simledger_policies::device_signals::DeviceSignals;
use simledger_services::testing::TestDatabase;
use simledger_test_support::connection;
use uuid::Uuid;

const ACCOUNT: &str = "AC00000000000000000000000000000001";
const SIM: &str = "HS00000000000000000000000000000001";

async fn append(log: &EventLog, event: Event) {
    let e = NewEvent::new(Uuid::new_v4(), "core", &event, &Metadata::from_source("test")).unwrap();
    log.append(vec![e], ExpectedVersion::Any).await.unwrap();
}

fn attach(imei: &str, minutes: i64) -> Event {
    let at = Utc::now() + Duration::minutes(minutes);
    Event::AttachmentAccepted(ConnectionEvent {
        imei: Some(imei.into()),
        ..connection("attachment.accepted", ACCOUNT, SIM, at)
    })
}

async fn signals(log: &EventLog) -> Vec<DeviceSignal> {
    let events = log.read(0, 1000).await.unwrap();
    events.iter().filter_map(|e| if let Event::SimSignalRaised(s) = &e.event { Some(s.signal) } else { None }).collect()
}

/// Applies every event after `from` in one batch by a fresh decider; commits if asked.
async fn run_from(log: &EventLog, from: i64, commit: bool) {
    let batch = log.read(from, 1000).await.unwrap();
    let mut tx = log.pool().begin().await.unwrap();
    DeviceSignals::new(log.clone()).apply(&mut tx, &batch).await.unwrap();
    if commit {
        tx.commit().await.unwrap();
    }
}

#[tokio::test]
async fn a_crash_after_appending_a_signal_but_before_committing_appends_it_once() {
    let db = TestDatabase::new().await;
    let log = EventLog::new(db.pool().await);
    append(&log, attach("356938035643809", 0)).await;
    append(&log, attach("490154203237518", 10)).await;
    run_from(&log, 0, false).await;
    assert_eq!(signals(&log).await, [DeviceSignal::ImeiChanged]);
    run_from(&log, 0, true).await;
    assert_eq!(signals(&log).await, [DeviceSignal::ImeiChanged], "the same id: appended once");
}

#[tokio::test]
async fn what_one_decider_committed_the_next_one_decides_from() {
    let db = TestDatabase::new().await;
    let log = EventLog::new(db.pool().await);
    append(&log, attach("356938035643809", 0)).await;
    run_from(&log, 0, true).await;
    let seen = log.head().await.unwrap();
    // A restarted decider (nothing in memory) sees the new device against the stored one.
    append(&log, attach("490154203237518", 10)).await;
    run_from(&log, seen, true).await;
    assert_eq!(signals(&log).await, [DeviceSignal::ImeiChanged]);
}
