//! The eSIM installer over a log written directly: an installed profile becomes one SIM across
//! a crash between appending and committing, and a report that disagrees with the reservation
//! (a forged `installed` on the core's stream) makes none.

use chrono::Utc;
use simledger_eventlog::catalog::*;
use simledger_eventlog::checkpoint::Subscriber;
use simledger_eventlog::{Event, EventLog, ExpectedVersion, Metadata, NewEvent};
use simledger_policies::esim_installs::EsimInstaller;
use simledger_services::testing::TestDatabase;
use uuid::Uuid;

const ALICE: &str = "AC00000000000000000000000000000001";
const MALLORY: &str = "AC00000000000000000000000000000002";

async fn append(log: &EventLog, stream: &str, event: Event) {
    let e = NewEvent::new(Uuid::new_v4(), stream, &event, &Metadata::from_source("test")).unwrap();
    log.append(vec![e], ExpectedVersion::Any).await.unwrap();
}

fn reserved() -> EsimProfileCreated {
    EsimProfileCreated {
        esim_profile_sid: "HP00000000000000000000000000000001".into(),
        account_sid: ALICE.into(),
        iccid: "8988307000000123456".into(),
        eid: None,
        status: "available".into(),
        smdp_plus_address: SMDP_PLUS_ADDRESS.into(),
        matching_id: Some("M1".into()),
        activation_code: format!("LPA:1${SMDP_PLUS_ADDRESS}$M1"),
        callback_url: None,
        callback_method: None,
    }
}

fn installed(p: &EsimProfileCreated, account: &str) -> Event {
    Event::EsimProfileInstalled(EsimProfileProgress {
        esim_profile_sid: p.esim_profile_sid.clone(),
        account_sid: account.into(),
        iccid: p.iccid.clone(),
        eid: "89049032000000000000000000000001".into(),
        sim_sid: Some(p.sim_sid()),
        imsis: p.imsis(),
        error_code: None,
        error_message: None,
        timestamp: Utc::now(),
    })
}

async fn made(log: &EventLog) -> Vec<(&'static str, Option<String>)> {
    let events = log.read(0, 1000).await.unwrap();
    events
        .iter()
        .filter(|e| matches!(e.event, Event::SimProvisioned(_) | Event::SimRegistered(_)))
        .map(|e| (e.event.event_type(), e.event.account_sid().map(str::to_owned)))
        .collect()
}

async fn run_once(log: &EventLog, commit: bool) {
    let batch = log.read(0, 1000).await.unwrap();
    let mut tx = log.pool().begin().await.unwrap();
    EsimInstaller::new(log.clone()).apply(&mut tx, &batch).await.unwrap();
    if commit {
        tx.commit().await.unwrap();
    }
}

#[tokio::test]
async fn a_crash_after_appending_the_sim_but_before_committing_makes_it_only_once() {
    let db = TestDatabase::new().await;
    let log = EventLog::new(db.pool().await);
    let p = reserved();
    append(&log, "esim", Event::EsimProfileCreated(p.clone())).await;
    append(&log, "esim", installed(&p, ALICE)).await;
    // The batch is applied and the SIM appended, then the transaction dies uncommitted.
    run_once(&log, false).await;
    let once = vec![("sim.provisioned", None), ("sim.registered", Some(ALICE.to_owned()))];
    assert_eq!(made(&log).await, once);
    // The restarted installer applies the batch again: the same ids, nothing new.
    run_once(&log, true).await;
    assert_eq!(made(&log).await, once);
    let stream = log.read_stream(&format!("sim-{}", p.sim_sid()), 0).await.unwrap();
    assert_eq!(stream.len(), 2);
}

#[tokio::test]
async fn a_profile_whose_imsi_is_already_a_sims_or_that_failed_makes_no_sim() {
    let db = TestDatabase::new().await;
    let log = EventLog::new(db.pool().await);
    let p = reserved();
    // A card in inventory already holds the IMSI the profile would carry.
    let card = SimProvisioned {
        sim_sid: SimSid::numbered(5),
        iccid: "8988307999999999999".into(),
        registration_code_hash: "h".into(),
        imsis: p.imsis(),
    };
    append(&log, "sim", Event::SimProvisioned(card)).await;
    append(&log, "esim", Event::EsimProfileCreated(p.clone())).await;
    append(&log, "esim", installed(&p, ALICE)).await;
    let other = EsimProfileCreated {
        esim_profile_sid: "HP00000000000000000000000000000002".into(),
        iccid: "8988307000000654321".into(),
        ..reserved()
    };
    append(&log, "esim", Event::EsimProfileCreated(other.clone())).await;
    let Event::EsimProfileInstalled(progress) = installed(&other, ALICE) else { unreachable!() };
    append(&log, "esim", Event::EsimProfileFailed(progress)).await;
    append(&log, "esim", installed(&other, ALICE)).await;
    run_once(&log, true).await;
    assert_eq!(made(&log).await, [("sim.provisioned", None)], "only the card itself");
}

#[tokio::test]
async fn a_report_naming_another_account_or_no_reservation_makes_no_sim() {
    let db = TestDatabase::new().await;
    let log = EventLog::new(db.pool().await);
    let p = reserved();
    // An `installed` for a profile never reserved, then one for alice's profile in mallory's name.
    let unreserved = EsimProfileCreated { esim_profile_sid: "HP00000000000000000000000000000009".into(), ..reserved() };
    append(&log, "esim", installed(&unreserved, MALLORY)).await;
    append(&log, "esim", Event::EsimProfileCreated(p.clone())).await;
    append(&log, "esim", installed(&p, MALLORY)).await;
    run_once(&log, true).await;
    assert_eq!(made(&log).await, []);
    // The true report still makes alice's SIM, once, however often it is repeated.
    append(&log, "esim", installed(&p, ALICE)).await;
    append(&log, "esim", installed(&p, ALICE)).await;
    let batch = log.read(0, 1000).await.unwrap();
    let mut tx = log.pool().begin().await.unwrap();
    let mut installer = EsimInstaller::new(log.clone());
    installer.apply(&mut tx, &batch[3..]).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(made(&log).await, [("sim.provisioned", None), ("sim.registered", Some(ALICE.to_owned()))]);
}
