//! One test per attach outcome, through the MME and HSS over NATS, checked in the answer and in
//! the event ingest appends to the log.

mod common;

use common::{start, ACCOUNT};
use simledger_commands::CommandId;
use simledger_eventlog::catalog::SimStatus;
use simledger_eventlog::networks::network_sid;
use simledger_eventlog::Event;

const UK: (&str, &str) = ("234", "15");

#[tokio::test]
async fn a_ready_sim_on_an_allowed_network_is_accepted() {
    let core = start().await;
    let sim = core.sim(1, &["310240000000001"], SimStatus::Ready).await;

    let answer = core.attach("310240000000001", UK.0, UK.1, 1).await;

    assert!(answer.accepted, "{answer:?}");
    assert_eq!(answer.context.unwrap().subscriber.sim_sid, sim);
    let e = core.event(|e| matches!(&e.event, Event::AttachmentAccepted(c) if c.sim_sid == sim)).await;
    let Event::AttachmentAccepted(c) = e.event else { unreachable!() };
    assert_eq!(c.account_sid, ACCOUNT);
    assert_eq!(c.network.sid, network_sid("234", "15"));
    assert_eq!(c.network.iso_country, "GB");
    assert_eq!(c.error, None);
    assert_eq!(c.event_sid, format!("EZ{}", e.event_id.simple()));
    assert_eq!(e.stream, format!("attach-{sim}"));
}

async fn rejected_with(core: &common::Core, imsi: &str, network: (&str, &str), code: i64) {
    let answer = core.attach(imsi, network.0, network.1, 1).await;
    assert!(!answer.accepted);
    assert_eq!(answer.error.as_ref().map(|e| e.code), Some(code), "{answer:?}");
    let e = core.event(|e| matches!(&e.event, Event::AttachmentRejected(c) if c.imsi == imsi)).await;
    let Event::AttachmentRejected(c) = e.event else { unreachable!() };
    assert_eq!(c.error.map(|e| e.code), Some(code));
}

#[tokio::test]
async fn a_new_sim_is_rejected() {
    let core = start().await;
    core.sim(1, &["310240000000002"], SimStatus::New).await;
    rejected_with(&core, "310240000000002", UK, simledger_core::hss::CODE_SIM_NOT_READY).await;
}

#[tokio::test]
async fn an_inactive_sim_is_rejected_with_83705() {
    let core = start().await;
    core.sim(1, &["310240000000003"], SimStatus::Inactive).await;
    rejected_with(&core, "310240000000003", UK, 83705).await;
}

#[tokio::test]
async fn a_network_outside_the_fleets_nap_is_rejected() {
    let core = start().await;
    core.sim(1, &["310240000000004"], SimStatus::Active).await;
    rejected_with(&core, "310240000000004", ("262", "01"), simledger_core::hss::CODE_NETWORK_NOT_ALLOWED).await;
}

#[tokio::test]
async fn an_unknown_imsi_is_rejected() {
    let core = start().await;
    rejected_with(&core, "001010123456789", UK, simledger_core::hss::CODE_UNKNOWN_SUBSCRIBER).await;
}

#[tokio::test]
async fn a_disallowed_imsi_of_a_multi_imsi_sim_is_rejected_while_the_other_is_accepted() {
    let core = start().await;
    let sim = core.sim(1, &["310240000000005", "234150000000005"], SimStatus::Active).await;
    let changes =
        simledger_commands::SimChanges { disallowed_imsis: Some(vec!["234150000000005".into()]), ..Default::default() };
    core.commands.update_sim(CommandId::random(), ACCOUNT, &sim, changes).await.unwrap();
    core.views_current().await;

    let other = core.attach("310240000000005", UK.0, UK.1, 2).await;

    assert!(other.accepted, "{other:?}");
    rejected_with(&core, "234150000000005", UK, simledger_core::hss::CODE_IMSI_NOT_ALLOWED).await;
}

#[tokio::test]
async fn adding_a_network_to_the_nap_lets_the_next_attach_in() {
    let core = start().await;
    core.sim(1, &["310240000000006"], SimStatus::Active).await;
    assert!(!core.attach("310240000000006", "262", "01", 1).await.accepted);

    core.commands.add_nap_network(CommandId::random(), ACCOUNT, &core.nap, &network_sid("262", "01")).await.unwrap();
    core.views_current().await;

    assert!(core.attach("310240000000006", "262", "01", 2).await.accepted);
}

#[tokio::test]
async fn a_retried_attach_is_recorded_once() {
    let core = start().await;
    core.sim(1, &["310240000000007"], SimStatus::Active).await;
    core.attach("310240000000007", UK.0, UK.1, 1).await;
    core.attach("310240000000007", UK.0, UK.1, 1).await;
    core.attach("310240000000007", UK.0, UK.1, 2).await;

    let attaches =
        core.network_events().await.into_iter().filter(|e| matches!(e.event, Event::AttachmentAccepted(_))).count();
    assert_eq!(attaches, 2);
}

#[tokio::test]
async fn committed_events_leave_the_core_stream() {
    let core = start().await;
    core.sim(1, &["310240000000008"], SimStatus::Active).await;
    for seq in 1..=5 {
        core.attach("310240000000008", UK.0, UK.1, seq).await;
    }
    assert_eq!(core.network_events().await.len(), 5);
    let js = async_nats::jetstream::new(core.nats.clone());
    let mut stream = js.get_stream(core.names.stream()).await.unwrap();
    // Work-queue retention: an acknowledged message is deleted; the log holds the durable copy.
    let mut left = u64::MAX;
    for _ in 0..50 {
        left = stream.info().await.unwrap().state.messages;
        if left == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(left, 0);
}
