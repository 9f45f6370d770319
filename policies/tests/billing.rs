//! The billing's worker keeps accounts in memory between batches; these tests show
//! it never works from a copy that someone else's write has made stale.

use std::time::Duration;

use chrono::Utc;
use rust_decimal::Decimal;
use simledger_billing::{Action, ActionType, BalanceFilter, BalanceType};
use simledger_eventlog::catalog::*;
use simledger_eventlog::checkpoint;
use simledger_eventlog::{Event, EventLog, ExpectedVersion, Metadata, NewEvent};
use simledger_policies::billing::{read, Billing, NAME};
use simledger_services::testing::TestDatabase;
use uuid::Uuid;

const TENANT: &str = "AC00000000000000000000000000000001";
const SIM: &str = "HS00000000000000000000000000000001";

async fn append(log: &EventLog, event: Event) -> i64 {
    let e = NewEvent::new(Uuid::new_v4(), "test", &event, &Metadata::from_source("test")).unwrap();
    log.append(vec![e], ExpectedVersion::Any).await.unwrap()[0].position
}

/// A `bytes` data-session window of the SIM on Vodafone UK.
fn window(bytes: i64) -> Event {
    let now = Utc::now();
    Event::DataSessionUpdated(ConnectionEvent {
        event_sid: format!("EZ{}", Uuid::new_v4().simple()),
        data_session_sid: Some("PI00000000000000000000000000000001".into()),
        data_session_start_time: Some(now),
        data_session_update_start_time: Some(now),
        ..simledger_test_support::window(TENANT, SIM, now, 0, bytes)
    })
}

async fn data_left(log: &EventLog) -> Decimal {
    let account = read::account(log.pool(), TENANT, SIM).await.unwrap().expect("the SIM's account");
    account.balances(BalanceType::Data).iter().map(|b| b.value).sum()
}

#[tokio::test]
async fn a_live_worker_sees_an_account_another_writer_changed_at_its_own_position() {
    let db = TestDatabase::new().await;
    let log = EventLog::new(db.pool().await);
    let worker = simledger_projections::spawn(log.clone(), NAME, Billing::new(log.clone()));
    let topup = Action {
        action_type: ActionType::Topup,
        extra_parameters: String::new(),
        weight: Decimal::from(10),
        balance: BalanceFilter {
            id: Some("prepaid".into()),
            kind: Some(BalanceType::Data),
            value: Some(Decimal::from(10_000)),
            ..Default::default()
        },
    };
    let applied = BillingActionsApplied {
        tenant: TENANT.into(),
        account: SIM.into(),
        actions: vec![topup],
        at: Utc::now(),
        reason: "test".into(),
    };
    append(&log, Event::BillingActionsApplied(applied)).await;
    append(&log, window(1000)).await;
    // Past the balance.debited event the worker appended too: where it rests.
    let head = loop {
        let head = log.head().await.unwrap();
        assert!(tokio::time::timeout(Duration::from_secs(10), worker.reached(head)).await.unwrap());
        if log.head().await.unwrap() == head {
            break head;
        }
    };
    assert_eq!(data_left(&log).await, Decimal::from(9000));

    // Another writer (a replay by another release, say) rewrites the account and leaves the
    // checkpoint where the worker left it.
    let mut account = read::account(log.pool(), TENANT, SIM).await.unwrap().unwrap();
    account.balances_mut(BalanceType::Data)[0].value = Decimal::from(5000);
    let mut tx = log.pool().begin().await.unwrap();
    checkpoint::rewind(&mut tx, NAME, log.shard()).await.unwrap();
    sqlx::query("UPDATE billing_accounts SET doc = $3 WHERE tenant = $1 AND account = $2")
        .bind(TENANT)
        .bind(SIM)
        .bind(sqlx::types::Json(&account))
        .execute(&mut *tx)
        .await
        .unwrap();
    checkpoint::advance(&mut tx, NAME, log.shard(), 0, head).await.unwrap();
    tx.commit().await.unwrap();

    let head = append(&log, window(1000)).await;
    assert!(tokio::time::timeout(Duration::from_secs(10), worker.reached(head)).await.unwrap());
    assert_eq!(data_left(&log).await, Decimal::from(4000), "the debit applies to the rewritten account");
    worker.task.abort();
}

/// The tenant's SIM, registered with `status`.
async fn register(log: &EventLog, status: SimStatus) {
    let registered = SimRegistered {
        sim_sid: SIM.parse().unwrap(),
        account_sid: TENANT.into(),
        iccid: "8988307000000000001".into(),
        status,
        fleet_sid: None,
        unique_name: None,
    };
    append(log, Event::SimRegistered(registered)).await;
}

/// `*suspend_sim` on the SIM's own billing account, applied at once.
fn suspend() -> Event {
    Event::BillingActionsApplied(BillingActionsApplied {
        tenant: TENANT.into(),
        account: SIM.into(),
        actions: vec![Action {
            action_type: ActionType::SuspendSim,
            extra_parameters: String::new(),
            weight: Decimal::from(10),
            balance: BalanceFilter::default(),
        }],
        at: Utc::now(),
        reason: "test".into(),
    })
}

fn status(from: SimStatus, to: SimStatus) -> Event {
    Event::SimStatusChanged(SimStatusChanged {
        sim_sid: SIM.parse().unwrap(),
        account_sid: TENANT.into(),
        from,
        to,
        reason: None,
    })
}

/// The SIM status changes billing appended.
async fn suspensions(log: &EventLog) -> Vec<(SimStatus, SimStatus)> {
    log.read(0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|e| match e.event {
            Event::SimStatusChanged(s) if s.reason.as_deref() == Some("billing:*suspend_sim") => Some((s.from, s.to)),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn effects_decide_from_the_sims_state_at_their_cause_so_a_replay_decides_the_same() {
    let db = TestDatabase::new().await;
    let log = EventLog::new(db.pool().await);
    register(&log, SimStatus::Inactive).await;
    // Inactive already: nothing to suspend. Then the customer activates it, and a second
    // `*suspend_sim` suspends it. No registry projection runs: billing knows the SIM itself.
    append(&log, suspend()).await;
    append(&log, status(SimStatus::Inactive, SimStatus::Active)).await;
    append(&log, suspend()).await;
    let worker = simledger_projections::spawn(log.clone(), NAME, Billing::new(log.clone()));
    let head = loop {
        let head = log.head().await.unwrap();
        assert!(tokio::time::timeout(Duration::from_secs(10), worker.reached(head)).await.unwrap());
        if log.head().await.unwrap() == head {
            break head;
        }
    };
    assert_eq!(suspensions(&log).await, [(SimStatus::Active, SimStatus::Inactive)]);
    // The SIM is active again today; a replay still decides as the live fold did at each cause.
    append(&log, status(SimStatus::Inactive, SimStatus::Active)).await;
    let head = head + 1;
    assert!(worker.reached(head).await);
    worker.task.abort();
    let before = simledger_projections::snapshot::<Billing>(log.pool()).await.unwrap();
    let replay = Billing::replaying(log.clone());
    assert_eq!(simledger_projections::replay(&log, replay.clone()).await.unwrap(), head);
    assert_eq!(replay.divergent(), 0, "every decision of the replay is one the live fold took");
    assert_eq!(log.head().await.unwrap(), head, "a replay appends nothing");
    assert_eq!(simledger_projections::snapshot::<Billing>(log.pool()).await.unwrap(), before);
    assert_eq!(suspensions(&log).await.len(), 1);
}

#[tokio::test]
async fn a_replay_counts_a_decision_the_live_fold_never_took_and_does_not_append_it() {
    let db = TestDatabase::new().await;
    let log = EventLog::new(db.pool().await);
    register(&log, SimStatus::Active).await;
    append(&log, suspend()).await;
    // The live fold applied both events, but its suspension is not in the log (as if an older
    // release had decided otherwise): the checkpoint stands past them.
    let head = log.head().await.unwrap();
    let mut tx = log.pool().begin().await.unwrap();
    checkpoint::advance(&mut tx, NAME, log.shard(), 0, head).await.unwrap();
    tx.commit().await.unwrap();
    let replay = Billing::replaying(log.clone());
    simledger_projections::replay(&log, replay.clone()).await.unwrap();
    assert_eq!(replay.divergent(), 1);
    assert_eq!(log.head().await.unwrap(), head, "what the live fold did not decide, a replay does not append");
    assert!(suspensions(&log).await.is_empty());
}

#[tokio::test]
async fn a_replay_ahead_of_the_live_fold_takes_the_decisions_it_has_not_taken_yet() {
    let db = TestDatabase::new().await;
    let log = EventLog::new(db.pool().await);
    register(&log, SimStatus::Active).await;
    append(&log, suspend()).await;
    // No live worker has read these yet; the live one resumes after the replay, so the replay
    // must decide them.
    let replay = Billing::replaying(log.clone());
    simledger_projections::replay(&log, replay.clone()).await.unwrap();
    assert_eq!(replay.divergent(), 0);
    assert_eq!(suspensions(&log).await, [(SimStatus::Active, SimStatus::Inactive)]);
}
