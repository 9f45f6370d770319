//! Read models never append: after live traffic — a seeded simulation with data limits, tenant
//! and operator rates, the operator's rate changed midway, triggers and plans firing — every
//! projection replayed from position 0 rebuilds its tables row for row and leaves the log head
//! where it was. Billing, a decider whose accounts the APIs read, rebuilds its tables likewise and
//! decides on replay exactly what it did live, appending none of it again.

mod common;

use std::time::Duration;

use chrono::Utc;
use rust_decimal::Decimal;
use simledger_billing::{
    Action, ActionPlan, ActionTrigger, BalanceFilter, BalanceType, PlanTiming, RateDef, ThresholdType, Timing,
};
use simledger_core::simulator::FleetPlan;
use simledger_eventlog::catalog::*;
use simledger_eventlog::{Event, EventLog, ExpectedVersion, Metadata, NewEvent};
use simledger_policies::billing;
use simledger_projections::{
    cdrs, dashboard, device_commands, event_streams, limits, registry, snapshot, usage, Projection,
};
use simledger_services::testing::{self, TestDatabase};

const SEED: u64 = 11;
const SIMS: usize = 20;

async fn append(log: &EventLog, event: Event) -> i64 {
    let e = NewEvent::new(uuid::Uuid::new_v4(), "replay-test", &event, &Metadata::from_source("test")).unwrap();
    log.append(vec![e], ExpectedVersion::Any).await.unwrap()[0].position
}

fn operator_rate(price: &str) -> Event {
    Event::OperatorRateSet(OperatorRateSet {
        tor: BalanceType::Data,
        prefix: "2".into(),
        price_per_unit: price.parse().unwrap(),
        unit_size: 1_000_000,
    })
}

fn action(kind: &str, balance: BalanceFilter) -> Action {
    Action { action_type: kind.parse().unwrap(), extra_parameters: String::new(), weight: Decimal::from(10), balance }
}

fn data(id: &str, bytes: i64) -> BalanceFilter {
    BalanceFilter {
        id: Some(id.into()),
        kind: Some(BalanceType::Data),
        value: Some(Decimal::from(bytes)),
        ..Default::default()
    }
}

/// The fleet's customer bills its whole account: 2 MB of data, a trigger that tops it up and
/// logs a CDR when it runs low, a plan that adds money at once, its own rate for UK networks;
/// the operator's rate prices the rest.
async fn billing_set_up(log: &EventLog, tenant: &str) {
    let tenant = tenant.to_owned();
    append(log, operator_rate("0.02")).await;
    append(
        log,
        Event::BillingDestinationSet(BillingDestinationSet {
            tenant: tenant.clone(),
            id: "UK".into(),
            prefixes: vec!["234".into()],
        }),
    )
    .await;
    // Staged under a tariff plan, not loaded: the staging table is billing's and replays too.
    append(
        log,
        Event::BillingTpDestinationStaged(BillingTpDestinationStaged {
            tenant: tenant.clone(),
            tpid: "TP_NEXT".into(),
            id: "FR".into(),
            prefixes: vec!["208".into()],
        }),
    )
    .await;
    let rate = RateDef {
        id: "RT_UK".into(),
        tor: BalanceType::Data,
        destination_id: "UK".into(),
        rate: "0.05".parse().unwrap(),
        rate_unit: Decimal::from(1_000_000),
        rate_increment: Decimal::from(1000),
        rounding_decimals: 4,
    };
    append(log, Event::BillingRateSet(BillingRateSet { tenant: tenant.clone(), rate })).await;
    let refill = vec![action("*topup", data("refill", 1_000_000)), action("*cdrlog", BalanceFilter::default())];
    append(
        log,
        Event::BillingActionsDefined(BillingActionsDefined {
            tenant: tenant.clone(),
            actions_id: "REFILL".into(),
            actions: refill,
        }),
    )
    .await;
    let money = BalanceFilter {
        id: Some("money".into()),
        kind: Some(BalanceType::Monetary),
        value: Some(Decimal::from(10)),
        ..Default::default()
    };
    append(
        log,
        Event::BillingActionsDefined(BillingActionsDefined {
            tenant: tenant.clone(),
            actions_id: "MONEY".into(),
            actions: vec![action("*topup", money)],
        }),
    )
    .await;
    let low = ActionTrigger {
        id: "LOW".into(),
        unique_id: "low-data".into(),
        threshold_type: ThresholdType::MinBalance,
        threshold_value: Decimal::from(500_000),
        recurrent: true,
        min_sleep: 0,
        expiration_date: None,
        activation_date: None,
        balance: BalanceFilter { kind: Some(BalanceType::Data), ..Default::default() },
        weight: Decimal::from(10),
        actions_id: "REFILL".into(),
        executed: false,
        last_execution_time: None,
    };
    append(
        log,
        Event::BillingTriggersDefined(BillingTriggersDefined {
            tenant: tenant.clone(),
            group_id: "LOW".into(),
            triggers: vec![low],
            overwrite: false,
        }),
    )
    .await;
    let plan = ActionPlan {
        id: "WELCOME".into(),
        timings: vec![PlanTiming { actions_id: "MONEY".into(), timing: Timing::Asap, weight: Decimal::from(10) }],
    };
    append(log, Event::BillingActionPlanSet(BillingActionPlanSet { tenant: tenant.clone(), plan })).await;
    append(
        log,
        Event::BillingAccountSet(BillingAccountSet {
            tenant: tenant.clone(),
            account: tenant.clone(),
            allow_negative: None,
            disabled: None,
            action_trigger_ids: vec!["LOW".into()],
            action_triggers_overwrite: false,
            action_plan_ids: vec!["WELCOME".into()],
            action_plans_overwrite: false,
        }),
    )
    .await;
    let balance = action("*topup", data("bundle", 2_000_000));
    append(
        log,
        Event::BillingActionsApplied(BillingActionsApplied {
            tenant: tenant.clone(),
            account: tenant,
            actions: vec![balance],
            at: Utc::now(),
            reason: "test".into(),
        }),
    )
    .await;
}

/// Runs a projection's live worker until it has read the whole log, what it appended itself
/// included (billing reads back the SIM changes it decides).
async fn catch_up<P: Projection + Clone + Send>(log: &EventLog, name: &'static str, projection: P) {
    let worker = simledger_projections::spawn(log.clone(), name, projection);
    loop {
        let head = log.head().await.unwrap();
        assert!(worker.reached(head).await);
        if log.head().await.unwrap() == head {
            break;
        }
    }
    worker.task.abort();
}

/// Replays one read model and holds it to the rule: the same rows, the same head. Returns how
/// many rows it holds.
async fn replays_identically<P: Projection + Clone>(log: &EventLog, projection: P) -> usize {
    let head = log.head().await.unwrap();
    let live = snapshot::<P>(log.pool()).await.unwrap();
    assert_eq!(simledger_projections::replay(log, projection.clone()).await.unwrap(), head);
    assert_eq!(log.head().await.unwrap(), head, "replaying {} appended to the log", projection.name());
    let rebuilt = snapshot::<P>(log.pool()).await.unwrap();
    for (before, after) in live.iter().zip(&rebuilt) {
        if before != after {
            let table = before.split(':').next().unwrap_or_default();
            let (b, a): (Vec<&str>, Vec<&str>) = (before.split("\", \"").collect(), after.split("\", \"").collect());
            let only_live: Vec<&&str> = b.iter().filter(|r| !a.contains(r)).take(3).collect();
            let only_rebuilt: Vec<&&str> = a.iter().filter(|r| !b.contains(r)).take(3).collect();
            panic!(
                "replaying {} changed {table}: live only {only_live:?}, rebuilt only {only_rebuilt:?}",
                projection.name()
            );
        }
    }
    let mut rows = 0;
    for table in P::TABLES {
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}")).fetch_one(log.pool()).await.unwrap();
        rows += n as usize;
    }
    rows
}

#[tokio::test(flavor = "multi_thread")]
async fn every_projection_replayed_after_live_traffic_rebuilds_its_rows_and_appends_nothing() {
    let db = TestDatabase::new().await;
    let log = EventLog::new(db.pool().await);
    let tenant = FleetPlan::generate(SEED, SIMS).account_sid;
    billing_set_up(&log, &tenant).await;
    let set_up = log.head().await.unwrap();

    let mut simulate = common::simledger_on(&db.url, &testing::unique_nats_prefix(), "warn");
    let (sims, seed) = (SIMS.to_string(), SEED.to_string());
    simulate.args(["simulate", "--sims", &sims, "--duration", "2h", "--seed", &seed, "--rate", "400"]);
    simulate.args(["--data-limit-mb", "1"]);
    let mut child = simulate.spawn().unwrap();
    // The operator changes its rate once usage is being billed.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let debited: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE type = 'balance.debited'")
            .fetch_one(log.pool())
            .await
            .unwrap();
        if debited >= 20 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no usage was billed");
        assert!(child.try_wait().unwrap().is_none(), "the simulation ended before billing began");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rate_changed = append(&log, operator_rate("0.03")).await;
    assert!(child.wait().unwrap().success(), "the simulation completes");
    // The welcome plan's firing, as `up`'s scheduler would append it.
    simledger_policies::plan_scheduler::fire_due_plans(&log, Utc::now(), 10).await.unwrap();

    // Every live worker finishes what the simulation's process left (some run beside `settle`).
    catch_up(&log, billing::NAME, billing::Billing::new(log.clone())).await;
    let enforcer = simledger_policies::spawn_data_limit_enforcer(log.clone());
    assert!(enforcer.reached(log.head().await.unwrap()).await);
    enforcer.task.abort();
    catch_up(&log, registry::NAME, registry::Registry).await;
    catch_up(&log, limits::NAME, limits::Limits).await;
    catch_up(&log, usage::NAME, usage::Usage).await;
    catch_up(&log, cdrs::NAME, cdrs::Cdrs).await;
    catch_up(&log, device_commands::NAME, device_commands::DeviceCommands).await;
    catch_up(&log, event_streams::NAME, event_streams::EventStreams).await;
    catch_up(&log, dashboard::NAME, dashboard::Dashboard).await;

    // The traffic did what the test is about.
    let count = |kind: &'static str| {
        let pool = log.pool().clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM events WHERE type = $1 AND position > $2")
                .bind(kind)
                .bind(set_up)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    assert!(count("sim.data_limit_reached").await > 0, "SIMs crossed their limit");
    assert!(count("billing.plan_fired").await == 1, "the welcome plan fired once");
    assert!(count("cdr.received").await > 0, "the low-data trigger fired and logged its CDR");
    assert!(count("operator.cdr_rate_set").await == 1);
    assert!(count("ip_command.from_sim").await > 0, "devices sent datagrams from their sessions");
    let billed_after: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE type = 'balance.debited' AND position > $1")
            .bind(rate_changed)
            .fetch_one(log.pool())
            .await
            .unwrap();
    assert!(billed_after > 0, "usage was billed after the rate changed midway");

    let mut rows = 0;
    rows += replays_identically(&log, registry::Registry).await;
    rows += replays_identically(&log, limits::Limits).await;
    rows += replays_identically(&log, usage::Usage).await;
    rows += replays_identically(&log, cdrs::Cdrs).await;
    rows += replays_identically(&log, device_commands::DeviceCommands).await;
    rows += replays_identically(&log, event_streams::EventStreams).await;
    rows += replays_identically(&log, dashboard::Dashboard).await;
    let replay = billing::Billing::replaying(log.clone());
    rows += replays_identically(&log, replay.clone()).await;
    assert_eq!(replay.divergent(), 0, "billing decided on replay exactly what it decided live");
    assert!(rows > 100, "the projections held {rows} rows");
    eprintln!("replayed 7 read models and billing, {rows} rows; {billed_after} debits after the rate change");
    assert_eq!(simledger_projections::NAMES.len(), 7, "a new read model belongs in this test");
    assert_eq!(simledger_policies::NAMES, [billing::NAME], "a new replayable decider belongs in this test");
}
