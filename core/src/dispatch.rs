//! The SMS dispatcher: hands each `sms_command.created` in the log to the SMSC.
//!
//! It is a checkpointed log subscriber, so a command is handed over at least once: after a
//! crash between the SMSC's answer and the checkpoint, the same command is sent again. The
//! SMSC derives its events' ids from the command's SID and creation time, so ingest
//! deduplicates the second delivery and the log holds each `sms.mt.*` event once.

use std::time::Duration;

use simledger_eventlog::checkpoint::{self, ApplyError, Subscriber};
use simledger_eventlog::{Event, EventLog, RecordedEvent};
use sqlx::PgConnection;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::protocol::{subjects, SmsAnswer, SmsSubmit};
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

    async fn hand_over(&self, submit: &SmsSubmit) -> Result<SmsAnswer, ApplyError> {
        let body = serde_json::to_vec(submit)?;
        let reply =
            tokio::time::timeout(Duration::from_secs(10), self.client.request(self.subject.clone(), body.into()))
                .await
                .map_err(|_| ApplyError::other("the SMSC", "no answer within 10 s"))?
                .map_err(|e| ApplyError::other("the SMSC", e))?;
        Ok(serde_json::from_slice(&reply.payload)?)
    }
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
            let answer = self.hand_over(&submit).await?;
            tracing::debug!(sms_command = %c.sms_command_sid, delivered = answer.delivered, "SMS handed to the SMSC");
        }
        Ok(())
    }
}

/// Runs the dispatcher for ever, resuming from its checkpoint after any failure.
pub fn spawn(log: EventLog, dispatcher: SmsDispatcher) -> JoinHandle<()> {
    tokio::spawn(async move {
        let (progress, _) = watch::channel(0);
        loop {
            if let Err(e) = checkpoint::run_checkpointed(log.clone(), dispatcher.clone(), 256, progress.clone()).await {
                tracing::warn!(error = %simledger_eventlog::error::cause_chain(&e), "SMS dispatcher stopped; resuming from its checkpoint");
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    })
}
