//! The command dispatchers: each `sms_command.created` in the log goes to the SMSC, each
//! `ip_command.created` to the PGW (SGi downlink).
//!
//! Each is a checkpointed log subscriber, so a command is handed over at least once: after a
//! crash between the node's answer and the checkpoint, the same command is sent again. The
//! nodes derive their events' ids from the command's SID and creation time, so ingest
//! deduplicates the second delivery and the log holds each `sms.mt.*` and `ip_command.*`
//! event once.

use std::time::Duration;

use simledger_eventlog::checkpoint::{self, ApplyError, Subscriber};
use simledger_eventlog::{Event, EventLog, RecordedEvent};
use sqlx::PgConnection;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::protocol::{subjects, Downlink, DownlinkAnswer, SmsAnswer, SmsSubmit};
use crate::CoreNames;

pub const NAME: &str = "sms_dispatch";

#[derive(Clone)]
pub struct SmsDispatcher {
    client: async_nats::Client,
    subject: String,
}

impl SmsDispatcher {
    pub fn new(client: async_nats::Client, names: &CoreNames) -> Self {
        Self { client, subject: names.request(subjects::SMSC_SUBMIT) }
    }
}

/// Asks `node` on `subject`, waiting at most 10 s for its answer.
async fn hand_over<Q: serde::Serialize, A: serde::de::DeserializeOwned>(
    client: &async_nats::Client,
    subject: &str,
    node: &'static str,
    request: &Q,
) -> Result<A, ApplyError> {
    let body = serde_json::to_vec(request)?;
    let reply = tokio::time::timeout(Duration::from_secs(10), client.request(subject.to_owned(), body.into()))
        .await
        .map_err(|_| ApplyError::other(node, "no answer within 10 s"))?
        .map_err(|e| ApplyError::other(node, e))?;
    Ok(serde_json::from_slice(&reply.payload)?)
}

impl Subscriber for SmsDispatcher {
    fn name(&self) -> &str {
        NAME
    }

    async fn apply(&mut self, _tx: &mut PgConnection, events: &[RecordedEvent]) -> Result<(), ApplyError> {
        for e in events {
            let Event::SmsCommandCreated(c) = &e.event else { continue };
            let submit = SmsSubmit {
                direction: "to_sim".into(),
                imsi: c.imsi.clone(),
                payload: c.payload.clone(),
                at: e.recorded_at,
                seq: 0,
                sms_command_sid: Some(c.sms_command_sid.clone()),
            };
            let answer: SmsAnswer = hand_over(&self.client, &self.subject, "the SMSC", &submit).await?;
            tracing::debug!(sms_command = %c.sms_command_sid, delivered = answer.delivered, "SMS handed to the SMSC");
        }
        Ok(())
    }
}

pub const IP_NAME: &str = "ip_dispatch";

/// Hands each IP Command to the PGW, which carries it to the SIM's data session.
#[derive(Clone)]
pub struct IpDispatcher {
    client: async_nats::Client,
    subject: String,
}

impl IpDispatcher {
    pub fn new(client: async_nats::Client, names: &CoreNames) -> Self {
        Self { client, subject: names.request(subjects::SGI_DOWNLINK) }
    }
}

impl Subscriber for IpDispatcher {
    fn name(&self) -> &str {
        IP_NAME
    }

    async fn apply(&mut self, _tx: &mut PgConnection, events: &[RecordedEvent]) -> Result<(), ApplyError> {
        for e in events {
            let Event::IpCommandCreated(c) = &e.event else { continue };
            let downlink = Downlink {
                ip_command_sid: c.ip_command_sid.clone(),
                account_sid: c.account_sid.clone(),
                sim_sid: c.sim_sid.to_string(),
                sim_iccid: c.sim_iccid.clone(),
                device_port: c.device_port,
                payload_type: c.payload_type.clone(),
                payload: c.payload.clone(),
                at: e.recorded_at,
            };
            let answer: DownlinkAnswer = hand_over(&self.client, &self.subject, "the PGW", &downlink).await?;
            tracing::debug!(ip_command = %c.ip_command_sid, sent = answer.device_ip.is_some(), "IP Command handed to the PGW");
        }
        Ok(())
    }
}

/// Runs the SMS dispatcher for ever, resuming from its checkpoint after any failure.
pub fn spawn(log: EventLog, dispatcher: SmsDispatcher) -> JoinHandle<()> {
    spawn_dispatcher(log, dispatcher)
}

/// Runs a dispatcher for ever, resuming from its checkpoint after any failure.
pub fn spawn_dispatcher<D: Subscriber + Clone + Sync + 'static>(log: EventLog, dispatcher: D) -> JoinHandle<()> {
    tokio::spawn(async move {
        let (progress, _) = watch::channel(0);
        loop {
            if let Err(e) = checkpoint::run_checkpointed(log.clone(), dispatcher.clone(), 256, progress.clone()).await {
                tracing::warn!(dispatcher = dispatcher.name(), error = %simledger_eventlog::error::cause_chain(&e),
                    "dispatcher stopped; resuming from its checkpoint");
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    })
}
