//! Regional breakout: the SGW selects the PGW of the fleet's region, sessions there carry the
//! region and PGW and an address from its pool, nothing falls back to another region while that
//! PGW is down, a restarted PGW takes its region's sessions over, and a changed region applies
//! to new sessions only.

mod common;

use std::time::Duration;

use common::{at, start_with, ACCOUNT};
use simledger_commands::{CommandId, NewFleet};
use simledger_core::protocol::*;
use simledger_core::regions::Breakout;
use simledger_eventlog::catalog::{BreakoutRegion, SimStatus};
use simledger_eventlog::networks::network_sid;
use simledger_eventlog::Event;

const EU_IMSI: &str = "310240000000061";
const US_IMSI: &str = "310240000000062";

async fn create(core: &common::Core, imsi: &str, seq: u64) -> CreateSessionAnswer {
    let attach = core.attach(imsi, "234", "15", seq).await;
    let context = attach.context.expect("attached");
    let request = CreateSessionRequest { context, apn: "super".into(), at: at(seq as i64), seq: seq + 1 };
    core.call(subjects::S11_CREATE_SESSION, &request).await
}

fn in_pool(ip: &str, region: BreakoutRegion) -> bool {
    let (base, size) = simledger_core::regions::ip_pool(region);
    let ip: std::net::Ipv4Addr = ip.parse().unwrap();
    (u32::from(base)..u32::from(base) + size).contains(&u32::from(ip))
}

/// Waits until nobody serves `node`'s create subject (its subscriptions are gone).
async fn gone(core: &common::Core, node: &str) {
    let subject = core.names.request(&subjects::pgw::subject(node, subjects::pgw::CREATE_SESSION));
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            // A request that reached the old subscription before its removal goes unanswered:
            // ask again rather than wait it out.
            let asked =
                tokio::time::timeout(Duration::from_millis(200), core.nats.request(subject.clone(), "{}".into()));
            if let Ok(Err(e)) = asked.await {
                if e.kind() == async_nats::RequestErrorKind::NoResponders {
                    return;
                }
            }
        }
    })
    .await
    .expect("the PGW's subscriptions went away");
}

/// An EU PGW of its own (as `simledger pgw --region eu-west` runs one) beside the core.
async fn start_eu_pgw(core: &common::Core) -> Result<simledger_core::RunningCore, simledger_core::CoreError> {
    let interval = chrono::Duration::minutes(6);
    simledger_core::start_pgw(core.nats.clone(), &core.names, core.log.clone(), interval, BreakoutRegion::EuWest, false)
        .await
}

#[tokio::test]
async fn an_eu_fleet_breaks_out_in_the_eu_only_even_while_its_pgw_restarts() {
    use BreakoutRegion::*;
    let core = start_with(Breakout::new(vec![UsEast, EuWest], &[]).unwrap()).await;
    // The EU fleet, beside the default (US) one the harness made.
    let c = &core.commands;
    let nap = c.create_nap(CommandId::random(), ACCOUNT, None, vec![network_sid("234", "15")]).await.unwrap();
    let eu_fleet = c.create_fleet(CommandId::random(), ACCOUNT, NewFleet::with_nap(&nap)).await.unwrap();
    let set = c.set_breakout(CommandId::random(), ACCOUNT, &eu_fleet, Some(EuWest)).await.unwrap();
    assert_eq!((set.region, set.effective_region), (Some(EuWest), EuWest));
    let eu_sim = core.sim(1, &[EU_IMSI], SimStatus::Active).await;
    core.sim(2, &[US_IMSI], SimStatus::Active).await;
    let to_eu = simledger_commands::SimChanges { fleet: Some(eu_fleet.clone()), ..Default::default() };
    c.update_sim(CommandId::random(), ACCOUNT, &eu_sim, to_eu).await.unwrap();
    core.views_current().await;

    let eu = create(&core, EU_IMSI, 1).await;
    assert_eq!((eu.pgw.as_deref(), eu.breakout_region), (Some("pgw-eu-west"), Some(EuWest)));
    assert!(in_pool(eu.ip_address.as_deref().unwrap(), EuWest), "{:?}", eu.ip_address);
    let us = create(&core, US_IMSI, 1).await;
    assert_eq!((us.pgw.as_deref(), us.breakout_region), (Some("pgw-us-east"), Some(UsEast)));
    assert!(in_pool(us.ip_address.as_deref().unwrap(), UsEast), "{:?}", us.ip_address);
    let started = core
        .event(|e| {
            matches!(&e.event, Event::DataSessionStarted(c) if c.data_session_sid.as_ref() == Some(&eu.data_session_sid))
        })
        .await;
    let started = started.event.connection().unwrap().clone();
    assert_eq!((started.breakout_region, started.pgw.as_deref()), (Some(EuWest), Some("pgw-eu-west")));

    // An IP Command's datagram finds the SIM's session on the EU PGW.
    let downlink = Downlink {
        ip_command_sid: "HG00000000000000000000000000000001".into(),
        account_sid: ACCOUNT.into(),
        sim_sid: eu_sim.clone(),
        sim_iccid: started.sim_iccid.clone(),
        device_port: 5683,
        payload_type: "text".into(),
        payload: "ping".into(),
        at: at(3),
    };
    let sent: DownlinkAnswer = core.call(subjects::SGI_DOWNLINK, &downlink).await;
    assert_eq!(sent.device_ip, eu.ip_address, "carried by the PGW of the SIM's session");

    // The EU PGW goes down: a new EU session fails, logged as such; nothing goes to the US PGW.
    assert!(core.core.stop_pgw(EuWest));
    gone(&core, "pgw-eu-west").await;
    let refused = create(&core, EU_IMSI, 10).await;
    assert_eq!(refused.ip_address, None);
    assert_eq!(refused.error.as_ref().map(|e| e.code), Some(simledger_core::sgw::CODE_PGW_NOT_RESPONDING));
    assert_eq!(refused.pgw.as_deref(), Some("pgw-eu-west"));
    let failed = core
        .event(|e| {
            matches!(&e.event, Event::DataSessionFailed(c) if c.data_session_sid.as_ref() == Some(&refused.data_session_sid))
        })
        .await;
    assert_eq!(failed.event.connection().unwrap().breakout_region, Some(EuWest));
    // The US fleet is not affected.
    assert!(create(&core, US_IMSI, 10).await.ip_address.is_some());

    // The EU PGW comes back (a new one, nothing in memory) and takes the open EU session over.
    core.views_current().await;
    let restarted = start_eu_pgw(&core).await.unwrap();
    assert_eq!(restarted.open_sessions(), 1, "the EU session, not the US ones");
    let usage_subject = subjects::pgw::subject("pgw-eu-west", subjects::pgw::USAGE);
    let report = UsageReport {
        data_session_sid: eu.data_session_sid.clone(),
        report_seq: 1,
        at: at(9),
        upload: 10,
        download: 20,
    };
    let usage: UsageAnswer = core.call(&usage_subject, &report).await;
    assert!(!usage.unknown_session, "the device carries on where it was");

    // The fleet moves to the US: its next session breaks out there, even on a device that does
    // not attach again (its attach context still says EU); the open one stays put.
    let stale = core.attach(EU_IMSI, "234", "15", 19).await.context.expect("attached");
    assert_eq!(stale.subscriber.breakout_region, Some(EuWest));
    c.set_breakout(CommandId::random(), ACCOUNT, &eu_fleet, Some(UsEast)).await.unwrap();
    core.views_current().await;
    let request = CreateSessionRequest { context: stale, apn: "super".into(), at: at(20), seq: 21 };
    let moved: CreateSessionAnswer = core.call(subjects::S11_CREATE_SESSION, &request).await;
    assert_eq!(moved.pgw.as_deref(), Some("pgw-us-east"));
    // A device that skips the SGW and asks the EU PGW directly is not served there.
    let direct = subjects::pgw::subject("pgw-eu-west", subjects::pgw::CREATE_SESSION);
    let request = CreateSessionRequest { seq: 23, ..request };
    let bypass: CreateSessionAnswer = core.call(&direct, &request).await;
    assert_eq!(bypass.error.map(|e| e.code), Some(simledger_core::pgw::CODE_NOT_THIS_PGW));
    // And no second EU PGW can start beside the running one.
    let second = start_eu_pgw(&core).await;
    assert!(matches!(second, Err(simledger_core::CoreError::PgwRunning(_))));
    let delete = subjects::pgw::subject("pgw-eu-west", subjects::pgw::DELETE_SESSION);
    let deleted: DeleteSessionAnswer =
        core.call(&delete, &DeleteSessionRequest { data_session_sid: eu.data_session_sid.clone(), at: at(21) }).await;
    assert!(deleted.found, "the old session ended on the PGW that carried it");

    // Every session event of the EU fleet before the move came from the EU PGW.
    let events = core.network_events().await;
    let sessions_of_eu_sim: Vec<_> = events
        .iter()
        .filter_map(|e| e.event.connection())
        .filter(|c| c.sim_sid == eu_sim && c.data_session_sid.is_some())
        .filter(|c| c.data_session_sid.as_ref() != Some(&moved.data_session_sid))
        .collect();
    assert!(sessions_of_eu_sim.len() >= 3, "{sessions_of_eu_sim:?}");
    for c in sessions_of_eu_sim {
        assert_eq!(c.pgw.as_deref(), Some("pgw-eu-west"), "{} of {:?}", c.event_type, c.data_session_sid);
    }
}

#[tokio::test]
async fn a_fleet_cannot_name_a_region_without_a_pgw_or_another_accounts_fleet() {
    let core = start_with(Breakout::default()).await;
    let c = &core.commands;
    let before = core.log.head().await.unwrap();
    let err = c.set_breakout(CommandId::random(), ACCOUNT, &core.fleet, Some(BreakoutRegion::EuWest)).await;
    assert!(matches!(err, Err(simledger_commands::CommandError::InvalidParameter { param: "Region", .. })), "{err:?}");
    let other = "AC00000000000000000000000000000008";
    let err = c.set_breakout(CommandId::random(), other, &core.fleet, Some(BreakoutRegion::UsEast)).await;
    assert!(matches!(err, Err(simledger_commands::CommandError::NotFound { .. })), "{err:?}");
    assert_eq!(core.log.head().await.unwrap(), before, "nothing was logged");
    let breakout = c.breakout(ACCOUNT, &core.fleet).await.unwrap();
    assert_eq!((breakout.region, breakout.effective_region), (None, BreakoutRegion::UsEast));
}
