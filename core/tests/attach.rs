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

/// An MME of its own that asks the HSS on `hss_subject`, publishing into the test core's stream.
fn mme_asking(core: &common::Core, hss_subject: String, hss_timeout: std::time::Duration) -> simledger_core::mme::Mme {
    simledger_core::mme::Mme {
        client: core.nats.clone(),
        hss_subject,
        hss_timeout,
        publisher: core.core.publisher.clone(),
    }
}

fn attach_request(imsi: &str, seq: u64) -> simledger_core::protocol::AttachRequest {
    common::attach_request(imsi, UK.0, UK.1, seq)
}

async fn failed_event(core: &common::Core, imsi: &str) -> simledger_eventlog::catalog::ConnectionEvent {
    let e = core.event(|e| matches!(&e.event, Event::AttachmentFailed(c) if c.imsi == imsi)).await;
    let Event::AttachmentFailed(c) = e.event else { unreachable!() };
    c
}

#[tokio::test]
async fn an_hss_that_does_not_answer_in_time_makes_the_attach_fail_and_a_retry_succeed_apart() {
    let core = start().await;
    let imsi = "310240000000031";
    let sim = core.sim(1, &[imsi], SimStatus::Active).await;
    // An HSS that takes the request and never answers.
    let silent = format!("{}.silent-hss", core.names.prefix());
    let _taken = core.nats.subscribe(silent.clone()).await.unwrap();
    core.nats.flush().await.unwrap();
    let mme = mme_asking(&core, silent, std::time::Duration::from_millis(300));

    let answer = mme.attach(attach_request(imsi, 1)).await;

    assert!(answer.failed && !answer.accepted, "{answer:?}");
    assert_eq!(answer.error.as_ref().map(|e| e.code), Some(simledger_core::hss::CODE_HSS_NO_ANSWER));
    let failed = failed_event(&core, imsi).await;
    let error = failed.error.expect("the failure says why");
    assert_eq!(error.code, simledger_core::hss::CODE_HSS_NO_ANSWER);
    assert!(error.message.starts_with("DIAMETER_UNABLE_TO_DELIVER"), "{}", error.message);
    assert_eq!(failed.network.sid, network_sid("234", "15"));

    // The device tries the same request again once the HSS answers: accepted, as its own event.
    let retried = core.attach(imsi, UK.0, UK.1, 1).await;
    assert!(retried.accepted, "{retried:?}");
    let accepted = core.event(|e| matches!(&e.event, Event::AttachmentAccepted(c) if c.sim_sid == sim)).await;
    let failed_id = core.event(|e| matches!(&e.event, Event::AttachmentFailed(c) if c.imsi == imsi)).await.event_id;
    assert_ne!(accepted.event_id, failed_id, "a failure and the success of its retry are two happenings");
}

#[tokio::test]
async fn no_hss_at_all_fails_the_attach_at_once() {
    let core = start().await;
    let imsi = "310240000000032";
    core.sim(1, &[imsi], SimStatus::Active).await;
    let mme = mme_asking(&core, format!("{}.no-hss-here", core.names.prefix()), std::time::Duration::from_secs(5));
    let started = std::time::Instant::now();
    let answer = mme.attach(attach_request(imsi, 1)).await;
    assert!(answer.failed, "{answer:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "no responders is known at once");
    assert_eq!(failed_event(&core, imsi).await.error.map(|e| e.code), Some(simledger_core::hss::CODE_HSS_NO_ANSWER));
}

#[tokio::test]
async fn an_hss_with_no_room_answers_too_busy_and_the_attach_fails() {
    let core = start().await;
    let imsi = "310240000000033";
    core.sim(1, &[imsi], SimStatus::Active).await;
    // An HSS that takes no request at once.
    let full = format!("{}.full-hss", core.names.prefix());
    let requests = core.nats.queue_subscribe(full.clone(), "hss".into()).await.unwrap();
    core.nats.flush().await.unwrap();
    tokio::spawn(simledger_core::hss::run(core.nats.clone(), requests, core.core.views.clone(), 0));
    let mme = mme_asking(&core, full, std::time::Duration::from_secs(5));

    let answer = mme.attach(attach_request(imsi, 1)).await;

    assert!(answer.failed, "{answer:?}");
    let error = failed_event(&core, imsi).await.error.expect("the failure says why");
    assert_eq!((error.code, error.message.as_str()), (simledger_core::hss::CODE_HSS_TOO_BUSY, "DIAMETER_TOO_BUSY"));
}
