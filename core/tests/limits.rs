//! The loop the platform exists for: PGW usage → log → data-limit enforcer → decision in the log
//! → the PGW blocks; a raised limit unblocks.

mod common;

use std::time::Duration;

use chrono::{DateTime, Utc};
use common::{start, ACCOUNT};
use simledger_commands::{CommandId, FleetChanges};
use simledger_core::protocol::*;
use simledger_eventlog::catalog::SimStatus;
use simledger_eventlog::Event;

#[tokio::test]
async fn a_sim_over_its_fleet_limit_is_blocked_by_the_pgw_and_a_raised_limit_lets_data_flow() {
    let core = start().await;
    let limits = simledger_policies::spawn_data_limit_enforcer(core.log.clone());
    let one_mb = FleetChanges { data_limit_mb: Some(1), ..Default::default() };
    core.commands.update_fleet(CommandId::random(), ACCOUNT, &core.fleet, one_mb).await.unwrap();
    core.sim(1, &["310240000000021"], SimStatus::Active).await;
    // Device time after the activation, as a live device's would be.
    let base = Utc::now() + chrono::Duration::minutes(1);
    let at = |minutes: i64| -> DateTime<Utc> { base + chrono::Duration::minutes(minutes) };
    let attach = core.attach("310240000000021", "234", "15", 1).await;
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
    // 600 KB in each of two 6-minute windows: the second crosses 1 MB.
    let _: UsageAnswer = core.call(subjects::S11_USAGE, &report(1, 3, 600_000)).await;
    let _: UsageAnswer = core.call(subjects::S11_USAGE, &report(2, 7, 0)).await;
    let _: UsageAnswer = core.call(subjects::S11_USAGE, &report(3, 10, 600_000)).await;
    let _: UsageAnswer = core.call(subjects::S11_USAGE, &report(4, 14, 0)).await;
    let reached = core.event(|e| matches!(e.event, Event::SimDataLimitReached(_))).await;
    let Event::SimDataLimitReached(d) = &reached.event else { unreachable!() };
    assert_eq!((d.used_bytes, d.limit_bytes, d.reason.as_str()), (1_200_000, 1_000_000, "data_limit"));
    assert!(core.core.views.reached(reached.position, Duration::from_secs(10)).await);

    // Blocked: the device's bytes do not pass, and the next window says so.
    let blocked: UsageAnswer = core.call(subjects::S11_USAGE, &report(5, 17, 300_000)).await;
    assert!(blocked.blocked);
    let _: UsageAnswer = core.call(subjects::S11_USAGE, &report(6, 21, 0)).await;
    let window = core
        .event(|e| matches!(&e.event, Event::DataSessionUpdated(c) if c.data_session_update_end_time == Some(at(21))))
        .await;
    let Event::DataSessionUpdated(c) = window.event else { unreachable!() };
    assert_eq!((c.data_modifier.as_deref(), c.data_total), (Some("blocked"), Some(0)));

    // Raising the limit appends `cleared`, and data flows at once.
    let two_mb = FleetChanges { data_limit_mb: Some(2), ..Default::default() };
    core.commands.update_fleet(CommandId::random(), ACCOUNT, &core.fleet, two_mb).await.unwrap();
    let cleared = core.event(|e| matches!(e.event, Event::SimDataLimitCleared(_))).await;
    assert!(core.core.views.reached(cleared.position, Duration::from_secs(10)).await);
    let open: UsageAnswer = core.call(subjects::S11_USAGE, &report(7, 24, 100_000)).await;
    assert!(!open.blocked);
    let _: UsageAnswer = core.call(subjects::S11_USAGE, &report(8, 28, 0)).await;
    let window = core
        .event(|e| matches!(&e.event, Event::DataSessionUpdated(c) if c.data_session_update_end_time == Some(at(28))))
        .await;
    let Event::DataSessionUpdated(c) = window.event else { unreachable!() };
    assert_eq!((c.data_modifier, c.data_total), (None, Some(100_000)));
    limits.task.abort();
}

#[tokio::test]
async fn a_block_ends_with_its_billing_period_without_waiting_for_the_cleared_event() {
    let core = start().await;
    core.sim(1, &["310240000000022"], SimStatus::Active).await;
    let sim_sid: String =
        sqlx::query_scalar("SELECT sim_sid FROM registry_sims LIMIT 1").fetch_one(core.log.pool()).await.unwrap();
    let period_end = Utc::now() + chrono::Duration::hours(1);
    let decision = simledger_eventlog::catalog::DataLimitDecision {
        sim_sid: sim_sid.parse().unwrap(),
        account_sid: ACCOUNT.into(),
        fleet_sid: Some(core.fleet.parse().unwrap()),
        billing_period_sid: "HB1".into(),
        used_bytes: 2,
        limit_bytes: 1,
        reason: "data_limit".into(),
        period_end: Some(period_end),
    };
    let e = simledger_eventlog::NewEvent::new(
        uuid::Uuid::now_v7(),
        "limits-test",
        &Event::SimDataLimitReached(decision.clone()),
        &simledger_eventlog::Metadata::from_source("test"),
    )
    .unwrap();
    let p = core.log.append(vec![e], simledger_eventlog::ExpectedVersion::Any).await.unwrap()[0].position;
    assert!(core.core.views.reached(p, Duration::from_secs(10)).await);
    let views = &core.core.views;
    assert!(views.is_blocked(&decision.sim_sid, period_end - chrono::Duration::seconds(1)));
    assert!(!views.is_blocked(&decision.sim_sid, period_end));
}
