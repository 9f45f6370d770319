//! The dispatchers hand a command to its node (SMSC, PGW) at least once; a second hand-over (a
//! crash before the checkpoint committed) leaves one copy of each of the node's events in the log.

mod common;

use common::{start, ACCOUNT};
use simledger_commands::NewIpCommand;
use simledger_commands::{Callback, CommandId};
use simledger_core::dispatch::{IpDispatcher, SmsDispatcher};
use simledger_eventlog::catalog::SimStatus;
use simledger_eventlog::checkpoint::Subscriber;
use simledger_eventlog::Event;

#[tokio::test]
async fn handing_an_sms_command_over_twice_logs_its_smsc_events_once() {
    let core = start().await;
    let sim = core.sim(1, &["310240000000031"], SimStatus::Active).await;
    let sid = core
        .commands
        .create_sms_command(CommandId::random(), ACCOUNT, &sim, "reboot", Callback::default())
        .await
        .unwrap();
    let created: Vec<_> = core
        .log
        .read(0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| matches!(&e.event, Event::SmsCommandCreated(c) if c.sms_command_sid == sid))
        .collect();
    assert_eq!(created.len(), 1);

    let mut dispatcher = SmsDispatcher::new(core.nats.clone(), &core.names);
    for _ in 0..2 {
        let mut tx = core.log.pool().begin().await.unwrap();
        dispatcher.apply(&mut tx, &created).await.unwrap();
        drop(tx); // never committed: the next run sees the command again
    }

    core.network_events().await; // waits until ingest has committed everything the SMSC published
    let all = core.log.read(0, 100_000).await.unwrap();
    let of_command = |pred: fn(&Event) -> bool| {
        all.iter().filter(|e| pred(&e.event)).filter(|e| sms_sid(&e.event) == Some(sid.as_str())).count()
    };
    assert_eq!(of_command(|e| matches!(e, Event::SmsMtSubmitted(_))), 1);
    assert_eq!(of_command(|e| matches!(e, Event::SmsMtDelivered(_))), 1);
}

fn sms_sid(e: &Event) -> Option<&str> {
    match e {
        Event::SmsMtSubmitted(s) | Event::SmsMtDelivered(s) | Event::SmsMtFailed(s) => Some(&s.sms_command_sid),
        _ => None,
    }
}

#[tokio::test]
async fn handing_an_ip_command_over_twice_logs_its_pgw_event_once() {
    let core = start().await;
    let sim = core.sim(1, &["310240000000032"], SimStatus::Active).await;
    let new = NewIpCommand {
        sim: sim.clone(),
        payload: "ping".into(),
        device_port: 4000,
        payload_type: None,
        callback: Callback::default(),
    };
    let sid = core.commands.create_ip_command(CommandId::random(), ACCOUNT, new).await.unwrap();
    let created: Vec<_> = core
        .log
        .read(0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| matches!(&e.event, Event::IpCommandCreated(c) if c.ip_command_sid == sid))
        .collect();
    assert_eq!(created.len(), 1);

    let mut dispatcher = IpDispatcher::new(core.nats.clone(), &core.names);
    for _ in 0..2 {
        let mut tx = core.log.pool().begin().await.unwrap();
        dispatcher.apply(&mut tx, &created).await.unwrap();
        drop(tx); // never committed: the next run sees the command again
    }

    core.network_events().await; // waits until ingest has committed everything the PGW published
    let outcomes: Vec<&'static str> = core
        .log
        .read(0, 100_000)
        .await
        .unwrap()
        .iter()
        .filter_map(|e| match &e.event {
            Event::IpCommandSent(s) if s.ip_command_sid == sid => Some("sent"),
            Event::IpCommandReceived(s) if s.ip_command_sid == sid => Some("received"),
            Event::IpCommandFailed(s) if s.ip_command_sid == sid => Some("failed"),
            _ => None,
        })
        .collect();
    assert_eq!(outcomes, ["failed"], "no session open: failed, once");
}
