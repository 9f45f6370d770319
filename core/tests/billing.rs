//! Prepaid data cut off by billing: a 1 MB `*data` balance with a `*min_balance` trigger that
//! runs `*suspend_sim`. Usage windows from the PGW debit the balance as they happen; when it runs
//! out mid-session the trigger appends the SIM's suspension, and the PGW and HSS obey it.

mod common;

use std::time::Duration;

use chrono::{DateTime, Utc};
use common::{start, ACCOUNT};
use rust_decimal::Decimal;
use simledger_billing::{Action, ActionTrigger, ActionType, BalanceFilter, BalanceType, ThresholdType};
use simledger_commands::AccountSettings;
use simledger_core::protocol::*;
use simledger_eventlog::catalog::SimStatus;
use simledger_eventlog::Event;
use simledger_policies::billing::{Billing, NAME};

#[tokio::test]
async fn a_prepaid_sim_is_cut_off_when_its_data_balance_runs_out_mid_session() {
    let core = start().await;
    let billing = simledger_projections::spawn(core.log.clone(), NAME, Billing::new(core.log.clone()));
    let sim = core.sim(1, &["310240000000031"], SimStatus::Active).await;
    let c = &core.commands;
    let suspend = Action {
        action_type: ActionType::SuspendSim,
        extra_parameters: String::new(),
        weight: Decimal::from(10),
        balance: BalanceFilter::default(),
    };
    c.billing_define_actions(ACCOUNT, "CUT_OFF", vec![suspend], false).await.unwrap();
    let empty = ActionTrigger {
        id: "EMPTY".into(),
        unique_id: "empty-data".into(),
        threshold_type: ThresholdType::MinBalance,
        threshold_value: Decimal::ZERO,
        recurrent: false,
        min_sleep: 0,
        expiration_date: None,
        activation_date: None,
        balance: BalanceFilter { kind: Some(BalanceType::Data), ..Default::default() },
        weight: Decimal::from(10),
        actions_id: "CUT_OFF".into(),
        executed: false,
        last_execution_time: None,
    };
    c.billing_define_trigger(ACCOUNT, "EMPTY", empty, false).await.unwrap();
    // The account is named by the SIM's SID: billing per SIM.
    assert!(billing.reached(core.log.head().await.unwrap()).await);
    let settings = AccountSettings { action_trigger_ids: vec!["EMPTY".into()], ..Default::default() };
    c.billing_set_account(ACCOUNT, &sim, settings).await.unwrap();
    let one_mb = Action {
        action_type: ActionType::Topup,
        extra_parameters: String::new(),
        weight: Decimal::from(10),
        balance: BalanceFilter {
            id: Some("prepaid".into()),
            kind: Some(BalanceType::Data),
            value: Some(Decimal::from(1_000_000)),
            ..Default::default()
        },
    };
    assert!(billing.reached(core.log.head().await.unwrap()).await);
    c.billing_apply_actions(ACCOUNT, &sim, vec![one_mb], "test").await.unwrap();
    assert!(billing.reached(core.log.head().await.unwrap()).await);

    let base = Utc::now() + chrono::Duration::minutes(1);
    let at = |minutes: i64| -> DateTime<Utc> { base + chrono::Duration::minutes(minutes) };
    let attach = core.attach("310240000000031", "234", "15", 1).await;
    let session: CreateSessionAnswer = core
        .call(
            subjects::S11_CREATE_SESSION,
            &CreateSessionRequest {
                context: attach.context.expect("attached"),
                apn: "super".into(),
                at: at(0),
                seq: 2,
            },
        )
        .await;
    let sid = session.data_session_sid;
    let report = |seq: u64, minute: i64, bytes: i64| UsageReport {
        data_session_sid: sid.clone(),
        report_seq: seq,
        at: at(minute),
        upload: bytes / 2,
        download: bytes - bytes / 2,
    };
    // Two 6-minute windows of 600 KB: the first leaves 400 KB, the second runs the balance out.
    let _: UsageAnswer = core.call(subjects::S11_USAGE, &report(1, 3, 600_000)).await;
    let _: UsageAnswer = core.call(subjects::S11_USAGE, &report(2, 7, 0)).await;
    let first = core.event(|e| matches!(e.event, Event::BalanceDebited(_))).await;
    let Event::BalanceDebited(d) = &first.event else { unreachable!() };
    assert_eq!((d.account.as_str(), d.debit.covered_units), (sim.as_str(), Decimal::from(600_000)));
    assert_eq!(d.debit.parts[0].value_after, Decimal::from(400_000));
    let _: UsageAnswer = core.call(subjects::S11_USAGE, &report(3, 10, 600_000)).await;
    let _: UsageAnswer = core.call(subjects::S11_USAGE, &report(4, 14, 0)).await;

    let suspended = core
        .event(
            |e| matches!(&e.event, Event::SimStatusChanged(s) if s.reason.as_deref() == Some("billing:*suspend_sim")),
        )
        .await;
    let Event::SimStatusChanged(s) = &suspended.event else { unreachable!() };
    assert_eq!((s.sim_sid.as_str(), s.from, s.to), (sim.as_str(), SimStatus::Active, SimStatus::Inactive));
    let debited =
        core.event(|e| matches!(&e.event, Event::BalanceDebited(d) if d.debit.unpaid_units > Decimal::ZERO)).await;
    let Event::BalanceDebited(d) = &debited.event else { unreachable!() };
    assert_eq!((d.debit.covered_units, d.debit.unpaid_units), (Decimal::from(400_000), Decimal::from(200_000)));
    assert_eq!(d.fired[0].unique_id, "empty-data");
    assert!(core.core.views.reached(suspended.position, Duration::from_secs(10)).await);

    // Cut off: the PGW passes no more bytes, and the HSS refuses a new attach.
    let blocked: UsageAnswer = core.call(subjects::S11_USAGE, &report(5, 17, 300_000)).await;
    assert!(blocked.blocked);
    let again = core.attach("310240000000031", "234", "15", 10).await;
    assert!(again.context.is_none(), "an inactive SIM may not attach: {again:?}");
    billing.task.abort();
}

#[tokio::test]
async fn a_min_balance_trigger_lowers_the_data_limit_of_the_sims_fleet() {
    let core = start().await;
    let billing = simledger_projections::spawn(core.log.clone(), NAME, Billing::new(core.log.clone()));
    let sim = core.sim(1, &["310240000000041"], SimStatus::Active).await;
    let c = &core.commands;
    let action = |kind: &str, extra: &str, balance: BalanceFilter| Action {
        action_type: kind.parse().unwrap(),
        extra_parameters: extra.into(),
        weight: Decimal::from(10),
        balance,
    };
    c.billing_define_actions(
        ACCOUNT,
        "THROTTLE",
        vec![action("*set_fleet_data_limit", "1", Default::default())],
        false,
    )
    .await
    .unwrap();
    let low = ActionTrigger {
        id: "LOW".into(),
        unique_id: "low-data".into(),
        threshold_type: ThresholdType::MinBalance,
        threshold_value: Decimal::from(500_000),
        recurrent: false,
        min_sleep: 0,
        expiration_date: None,
        activation_date: None,
        balance: BalanceFilter { kind: Some(BalanceType::Data), ..Default::default() },
        weight: Decimal::from(10),
        actions_id: "THROTTLE".into(),
        executed: false,
        last_execution_time: None,
    };
    c.billing_define_trigger(ACCOUNT, "LOW", low, false).await.unwrap();
    assert!(billing.reached(core.log.head().await.unwrap()).await);
    let settings = AccountSettings { action_trigger_ids: vec!["LOW".into()], ..Default::default() };
    c.billing_set_account(ACCOUNT, &sim, settings).await.unwrap();
    let data = |value: i64| BalanceFilter {
        id: Some("prepaid".into()),
        kind: Some(BalanceType::Data),
        value: Some(Decimal::from(value)),
        ..Default::default()
    };
    c.billing_apply_actions(ACCOUNT, &sim, vec![action("*topup", "", data(1_000_000))], "test").await.unwrap();
    assert!(billing.reached(core.log.head().await.unwrap()).await);
    let before = simledger_projections::registry::read::fleet(core.log.pool(), ACCOUNT, &core.fleet).await.unwrap();
    assert_eq!(before.unwrap().data_limit_mb, 250);

    c.billing_apply_actions(ACCOUNT, &sim, vec![action("*debit", "", data(600_000))], "test").await.unwrap();
    let lowered = core.event(|e| matches!(&e.event, Event::FleetUpdated(f) if f.data_limit_mb == Some(1))).await;
    let Event::FleetUpdated(f) = &lowered.event else { unreachable!() };
    assert_eq!((f.fleet_sid.as_str(), f.account_sid.as_str()), (core.fleet.as_str(), ACCOUNT));
    assert_eq!(lowered.stream, format!("fleet-{}", core.fleet));
    // The registry (and the limits projection, which reads the same event) obey it.
    for _ in 0..100 {
        let fleet = simledger_projections::registry::read::fleet(core.log.pool(), ACCOUNT, &core.fleet).await.unwrap();
        if fleet.unwrap().data_limit_mb == 1 {
            billing.task.abort();
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the fleet's data limit was not lowered");
}
