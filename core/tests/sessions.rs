mod common;

use std::time::Duration;

use common::{at, start, ACCOUNT};
use futures_util::StreamExt;
use rand::{Rng, SeedableRng};
use simledger_core::protocol::*;
use simledger_eventlog::catalog::{DataLimitDecision, SimStatus};
use simledger_eventlog::{Event, ExpectedVersion, Metadata, NewEvent};

async fn open_session(core: &common::Core, imsi: &str, apn: &str, seq: u64) -> CreateSessionAnswer {
    let attach = core.attach(imsi, "234", "15", seq).await;
    let context = attach.context.expect("attached");
    core.call(subjects::S11_CREATE_SESSION, &CreateSessionRequest { context, apn: apn.into(), at: at(0), seq: seq + 1 })
        .await
}

#[tokio::test]
async fn update_windows_are_contiguous_and_add_up_to_the_ended_totals() {
    let core = start().await;
    core.sim(1, &["310240000000011"], SimStatus::Active).await;
    let session = open_session(&core, "310240000000011", "super", 1).await;
    let sid = session.data_session_sid.clone();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let (mut minute, mut sent) = (0, 0i64);
    for report_seq in 1..=40 {
        minute += rng.random_range(1..4);
        let (up, down) = (rng.random_range(0..5000), rng.random_range(0..50_000));
        sent += up + down;
        let answer: UsageAnswer = core
            .call(
                subjects::S11_USAGE,
                &UsageReport { data_session_sid: sid.clone(), report_seq, at: at(minute), upload: up, download: down },
            )
            .await;
        assert!(!answer.blocked && !answer.unknown_session);
    }
    let _: DeleteSessionAnswer = core
        .call(subjects::S11_DELETE_SESSION, &DeleteSessionRequest { data_session_sid: sid.clone(), at: at(minute + 1) })
        .await;

    let events: Vec<_> = core
        .network_events()
        .await
        .into_iter()
        .filter_map(|e| common::connection(&e.event).cloned())
        .filter(|c| c.data_session_sid.as_deref() == Some(sid.as_str()))
        .collect();
    let types: Vec<&str> = events.iter().map(|c| c.event_type.rsplit('.').next().unwrap()).collect();
    assert_eq!(types.first(), Some(&"started"));
    assert_eq!(types.last(), Some(&"ended"));
    assert!(types[1..types.len() - 1].iter().all(|t| *t == "updated") && types.len() > 8, "{types:?}");

    let mut window_start = events[0].timestamp;
    let mut running = 0;
    for c in &events[1..] {
        assert_eq!(c.data_session_update_start_time, Some(window_start), "windows are contiguous");
        let end = c.data_session_update_end_time.unwrap();
        assert!(end >= window_start);
        assert_eq!(c.data_total, Some(c.data_upload.unwrap() + c.data_download.unwrap()));
        running += c.data_total.unwrap();
        assert_eq!(c.data_session_data_total, Some(running), "cumulative = sum of windows so far");
        window_start = end;
    }
    let ended = events.last().unwrap();
    assert_eq!(ended.data_session_data_total, Some(sent));
    assert_eq!(ended.data_session_end_time, ended.data_session_update_end_time);
}

#[tokio::test]
async fn a_session_on_an_unknown_apn_fails() {
    let core = start().await;
    core.sim(1, &["310240000000012"], SimStatus::Active).await;
    let answer = open_session(&core, "310240000000012", "internet.example", 1).await;
    assert_eq!(answer.ip_address, None);
    assert_eq!(answer.error.as_ref().map(|e| e.code), Some(simledger_core::pgw::CODE_UNKNOWN_APN));
    let e = core.event(|e| matches!(e.event, Event::DataSessionFailed(_))).await;
    let Event::DataSessionFailed(c) = e.event else { unreachable!() };
    assert_eq!(c.apn.as_deref(), Some("internet.example"));
    assert_eq!(c.data_session_sid, Some(answer.data_session_sid));
}

#[tokio::test]
async fn a_sim_over_its_limit_passes_no_bytes_until_the_limit_is_cleared() {
    let core = start().await;
    let sim = core.sim(1, &["310240000000013"], SimStatus::Active).await;
    let sid = open_session(&core, "310240000000013", "super", 1).await.data_session_sid;
    let report = |seq: u64, minute: i64| UsageReport {
        data_session_sid: sid.clone(),
        report_seq: seq,
        at: at(minute),
        upload: 1000,
        download: 9000,
    };
    let r: UsageAnswer = core.call(subjects::S11_USAGE, &report(1, 7)).await;
    assert!(!r.blocked);

    let decision = |sim: &str| DataLimitDecision {
        sim_sid: sim.parse().unwrap(),
        account_sid: ACCOUNT.into(),
        fleet_sid: Some(core.fleet.parse().unwrap()),
        billing_period_sid: "HB00000000000000000000000000000001".into(),
        used_bytes: 1_048_577,
        limit_bytes: 1_048_576,
        reason: "data_limit".into(),
        period_end: None,
    };
    let append = |e: Event| {
        let log = core.log.clone();
        async move {
            let e = NewEvent::new(uuid::Uuid::now_v7(), format!("limits-{}", 1), &e, &Metadata::from_source("test"))
                .unwrap();
            log.append(vec![e], ExpectedVersion::Any).await.unwrap()[0].position
        }
    };
    let p = append(Event::SimDataLimitReached(decision(&sim))).await;
    assert!(core.core.views.reached(p, Duration::from_secs(10)).await);

    let blocked: UsageAnswer = core.call(subjects::S11_USAGE, &report(2, 10)).await;
    let _: UsageAnswer = core.call(subjects::S11_USAGE, &report(3, 16)).await;
    assert!(blocked.blocked);
    let update = core
        .event(|e| matches!(&e.event, Event::DataSessionUpdated(c) if c.data_session_update_end_time == Some(at(16))))
        .await;
    let Event::DataSessionUpdated(c) = update.event else { unreachable!() };
    assert_eq!(c.data_modifier.as_deref(), Some("blocked"));
    assert_eq!(c.data_total, Some(0), "no bytes pass while blocked");

    let p = append(Event::SimDataLimitCleared(decision(&sim))).await;
    assert!(core.core.views.reached(p, Duration::from_secs(10)).await);
    let open: UsageAnswer = core.call(subjects::S11_USAGE, &report(4, 23)).await;
    assert!(!open.blocked);
    let update = core
        .event(|e| matches!(&e.event, Event::DataSessionUpdated(c) if c.data_session_update_end_time == Some(at(23))))
        .await;
    let Event::DataSessionUpdated(c) = update.event else { unreachable!() };
    assert_eq!((c.data_modifier, c.data_total), (None, Some(10_000)));
}

#[tokio::test]
async fn a_malformed_message_goes_to_the_dead_letter_stream_and_ingest_goes_on() {
    let core = start().await;
    let js = async_nats::jetstream::new(core.nats.clone());
    let dead = js.get_stream(core.names.dead_letter_stream()).await.unwrap();
    let dead = dead.create_consumer(async_nats::jetstream::consumer::pull::Config::default()).await.unwrap();
    for junk in [
        &b"not json"[..],
        br#"{"event_id":"7f000000-0000-7000-8000-000000000000","stream":"x","type":"sim.teleported","data":{}}"#,
    ] {
        js.publish(core.names.subject("mme", "attachment.accepted"), junk.to_vec().into())
            .await
            .unwrap()
            .await
            .unwrap();
    }
    core.sim(1, &["310240000000014"], SimStatus::Active).await;
    core.attach("310240000000014", "234", "15", 1).await;

    // The valid attach after the junk still reaches the log.
    core.event(|e| matches!(e.event, Event::AttachmentAccepted(_))).await;
    let mut messages = dead.fetch().max_messages(10).expires(Duration::from_secs(5)).messages().await.unwrap();
    let mut reasons = Vec::new();
    while let Some(Ok(m)) = messages.next().await {
        reasons.push(
            m.headers.as_ref().and_then(|h| h.get("Simledger-Reason")).map(|v| v.to_string()).unwrap_or_default(),
        );
    }
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(reasons[0].contains("not an event envelope"), "{reasons:?}");
    assert!(reasons[1].contains("sim.teleported"), "{reasons:?}");
}

#[tokio::test]
async fn an_sms_to_a_sim_is_submitted_then_delivered_and_one_to_an_inactive_sim_fails() {
    let core = start().await;
    core.sim(1, &["310240000000015"], SimStatus::Active).await;
    core.sim(2, &["310240000000016"], SimStatus::Inactive).await;
    let mt = |imsi: &str, sid: &str| SmsSubmit {
        direction: "to_sim".into(),
        imsi: imsi.into(),
        payload: "reboot".into(),
        at: at(1),
        seq: 1,
        sms_command_sid: Some(sid.into()),
    };

    let ok: SmsAnswer =
        core.call(subjects::SMSC_SUBMIT, &mt("310240000000015", "HC00000000000000000000000000000001")).await;
    let failed: SmsAnswer =
        core.call(subjects::SMSC_SUBMIT, &mt("310240000000016", "HC00000000000000000000000000000002")).await;

    assert!(ok.delivered);
    assert!(!failed.delivered);
    // network_events() waits for ingest to drain; SMS events are not connection events.
    assert!(core.network_events().await.is_empty());
    let sms: Vec<(String, &'static str)> = core
        .log
        .read(0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|e| match e.event {
            Event::SmsMtSubmitted(s) => Some((s.sms_command_sid, "submitted")),
            Event::SmsMtDelivered(s) => Some((s.sms_command_sid, "delivered")),
            Event::SmsMtFailed(s) => Some((s.sms_command_sid, "failed")),
            _ => None,
        })
        .collect();
    assert_eq!(
        sms,
        vec![
            ("HC00000000000000000000000000000001".to_owned(), "submitted"),
            ("HC00000000000000000000000000000001".to_owned(), "delivered"),
            ("HC00000000000000000000000000000002".to_owned(), "submitted"),
            ("HC00000000000000000000000000000002".to_owned(), "failed"),
        ]
    );
}

/// The reasons of every message in the dead-letter stream, once ingest has handled (appended
/// or dead-lettered, then acknowledged) every message published so far.
async fn dead_letter_reasons(core: &common::Core) -> Vec<String> {
    let js = async_nats::jetstream::new(core.nats.clone());
    simledger_core::ingest::drained(&js, &core.names, Duration::from_secs(20)).await.unwrap();
    let dead = js.get_stream(core.names.dead_letter_stream()).await.unwrap();
    let dead = dead.create_consumer(async_nats::jetstream::consumer::pull::Config::default()).await.unwrap();
    let mut messages = dead.fetch().max_messages(10).expires(Duration::from_secs(2)).messages().await.unwrap();
    let mut reasons = Vec::new();
    while let Some(Ok(m)) = messages.next().await {
        reasons.push(
            m.headers.as_ref().and_then(|h| h.get("Simledger-Reason")).map(|v| v.to_string()).unwrap_or_default(),
        );
    }
    reasons
}

#[tokio::test]
async fn an_event_the_log_refuses_for_good_is_dead_lettered_and_ingest_goes_on() {
    let core = start().await;
    core.sim(1, &["310240000000017"], SimStatus::Active).await;
    // The database refuses one SMS's events whatever is tried (as it would an unstorable value).
    let poison = "HC0000000000000000000000000000dead";
    sqlx::query(&format!(
        "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN IF NEW.stream = 'sms-{poison}' THEN RAISE EXCEPTION 'unstorable' USING ERRCODE = '22023'; END IF; \
         RETURN NEW; END; $$"
    ))
    .execute(core.log.pool())
    .await
    .unwrap();
    sqlx::query("CREATE TRIGGER refuse_poison BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION refuse_poison()")
        .execute(core.log.pool())
        .await
        .unwrap();
    let mt = |sid: &str| SmsSubmit {
        direction: "to_sim".into(),
        imsi: "310240000000017".into(),
        payload: "reboot".into(),
        at: at(1),
        seq: 1,
        sms_command_sid: Some(sid.into()),
    };
    let _: SmsAnswer = core.call(subjects::SMSC_SUBMIT, &mt(poison)).await;
    let _: SmsAnswer = core.call(subjects::SMSC_SUBMIT, &mt("HC00000000000000000000000000000009")).await;
    // The next SMS, likely in the same ingest batch, and everything after it reach the log.
    core.attach("310240000000017", "234", "15", 3).await;
    core.event(|e| matches!(e.event, Event::AttachmentAccepted(_))).await;
    let logged: Vec<String> = core
        .log
        .read(0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|e| match e.event {
            Event::SmsMtSubmitted(s) | Event::SmsMtDelivered(s) => Some(s.sms_command_sid),
            _ => None,
        })
        .collect();
    assert_eq!(logged, vec!["HC00000000000000000000000000000009"; 2]);
    let reasons = dead_letter_reasons(&core).await;
    assert_eq!(reasons.len(), 2, "the poisoned SMS's two events: {reasons:?}");
    assert!(reasons.iter().all(|r| r.contains("the log refused it") && r.contains("unstorable")), "{reasons:?}");
}

#[tokio::test]
async fn a_nul_in_a_devices_sms_fails_that_sms_at_the_smsc_and_nothing_else() {
    let core = start().await;
    core.sim(1, &["310240000000018"], SimStatus::Active).await;
    let mo = |payload: &str, seq| SmsSubmit {
        direction: "from_sim".into(),
        imsi: "310240000000018".into(),
        payload: payload.into(),
        at: at(1),
        seq,
        sms_command_sid: None,
    };
    let refused: SmsAnswer = core.call(subjects::SMSC_SUBMIT, &mo("temp\0=21", 1)).await;
    assert!(!refused.delivered);
    assert_eq!(refused.error.map(|e| e.code), Some(simledger_core::smsc::CODE_INVALID_PAYLOAD));
    let fine: SmsAnswer = core.call(subjects::SMSC_SUBMIT, &mo("temp=21", 2)).await;
    assert!(fine.delivered);
    let failed =
        core.event(|e| matches!(&e.event, Event::SmsMoFailed(s) if s.sms_command_sid == refused.sms_command_sid)).await;
    let Event::SmsMoFailed(s) = failed.event else { unreachable!() };
    assert_eq!(s.payload, "temp\u{FFFD}=21", "recorded, with the NUL replaced");
    core.event(|e| matches!(&e.event, Event::SmsMoDelivered(s) if s.sms_command_sid == fine.sms_command_sid)).await;
    assert!(dead_letter_reasons(&core).await.is_empty(), "nothing the log could not take");
}

async fn ended(core: &common::Core, sid: &str) -> simledger_eventlog::catalog::ConnectionEvent {
    let e = core.event(|e| matches!(e.event, Event::DataSessionEnded(_)) && session_of(e) == Some(sid)).await;
    e.event.connection().unwrap().clone()
}

fn session_of(e: &simledger_eventlog::RecordedEvent) -> Option<&str> {
    e.event.connection().and_then(|c| c.data_session_sid.as_deref())
}

#[tokio::test]
async fn a_restarted_pgw_carries_on_sessions_whose_device_returns_and_closes_the_others_with_their_bytes() {
    let core = start().await;
    core.sim(1, &["310240000000041"], SimStatus::Active).await;
    let (back, lost) = (
        open_session(&core, "310240000000041", "super", 1).await,
        open_session(&core, "310240000000041", "super", 3).await,
    );
    let (back, lost) = (back.data_session_sid, lost.data_session_sid);
    for sid in [&back, &lost] {
        // One window reported (7 minutes past its start: an `updated` event), then bytes of a
        // window the PGW has not reported yet.
        for (report_seq, minute, up, down) in [(1, 7, 1000, 2000), (2, 8, 400, 100)] {
            let report =
                UsageReport { data_session_sid: sid.clone(), report_seq, at: at(minute), upload: up, download: down };
            let answer: UsageAnswer = core.call(subjects::S11_USAGE, &report).await;
            assert!(!answer.unknown_session);
        }
        core.event(|e| matches!(e.event, Event::DataSessionUpdated(_)) && session_of(e) == Some(sid.as_str())).await;
    }
    core.views_current().await;

    // The PGW restarts: a new one, with nothing in memory, takes over what the log shows open.
    let restarted = simledger_core::pgw::Pgw::new(
        core.core.publisher.clone(),
        core.core.views.clone(),
        simledger_core::pgw::DEFAULT_UPDATE_INTERVAL,
        simledger_eventlog::catalog::BreakoutRegion::UsEast,
        true,
    );
    assert_eq!(restarted.recover(Duration::from_millis(300)), 2);

    // One device comes back: its retried report is not counted twice, its session ends whole.
    let replayed =
        UsageReport { data_session_sid: back.clone(), report_seq: 1, at: at(7), upload: 1000, download: 2000 };
    assert!(!restarted.usage(replayed).await.unknown_session, "the session was carried on");
    let later = UsageReport { data_session_sid: back.clone(), report_seq: 3, at: at(9), upload: 5, download: 5 };
    restarted.usage(later).await;
    assert!(restarted.delete_session(DeleteSessionRequest { data_session_sid: back.clone(), at: at(10) }).await.found);

    // The other never does: failed, then ended with the bytes the log had counted.
    let failed =
        core.event(|e| matches!(e.event, Event::DataSessionFailed(_)) && session_of(e) == Some(lost.as_str())).await;
    let failed = failed.event.connection().unwrap().clone();
    assert_eq!(failed.error.map(|e| e.code), Some(simledger_core::pgw::CODE_PGW_RESTARTED));
    let lost_end = ended(&core, &lost).await;
    assert_eq!(lost_end.data_session_data_total, Some(3000), "the bytes counted so far; the unreported window is lost");
    let back_end = ended(&core, &back).await;
    assert_eq!(back_end.data_session_data_total, Some(3010), "counted once: the replayed report was not added again");

    // Each session has exactly one end, and only the lost one failed.
    let events = core.network_events().await;
    for sid in [&back, &lost] {
        let ends = events
            .iter()
            .filter(|e| matches!(e.event, Event::DataSessionEnded(_)) && session_of(e) == Some(sid.as_str()));
        assert_eq!(ends.count(), 1, "{sid}");
    }
    let fails: Vec<_> =
        events.iter().filter(|e| matches!(e.event, Event::DataSessionFailed(_))).filter_map(session_of).collect();
    assert_eq!(fails, [lost.as_str()]);
}
