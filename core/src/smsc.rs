//! SMSC: mobile-originated SMS from devices and mobile-terminated SMS commands to them. Each SMS
//! is `submitted`, then `delivered` or `failed`.

use std::sync::Arc;

use simledger_eventlog::catalog::{ConnectionError, SmsEvent};
use simledger_eventlog::Event;

use crate::events;
use crate::protocol::{SmsAnswer, SmsSubmit};
use crate::views::CoreViews;
use crate::{happening, CorePublisher};

/// simledger's codes (Twilio documents none for these cases).
pub const CODE_SMS_COMMANDS_DISABLED: i64 = 83720;
pub const CODE_SIM_UNREACHABLE: i64 = 83721;
/// The payload holds U+0000, which the log cannot store.
pub const CODE_INVALID_PAYLOAD: i64 = 83722;
pub const CODE_UNKNOWN_SUBSCRIBER: i64 = 83701;

#[derive(Clone)]
pub struct Smsc {
    pub publisher: CorePublisher,
    pub views: Arc<CoreViews>,
}

impl Smsc {
    pub async fn submit(&self, req: SmsSubmit) -> SmsAnswer {
        let mo = req.direction == "from_sim";
        let sid = req.sms_command_sid.clone().unwrap_or_else(|| {
            happening::sid("HC", &format!("sms:{}:{}:{}", req.imsi, req.seq, req.at.timestamp_millis()))
        });
        // Whom it belongs to and whether it can be delivered, from the subscriber view.
        let (subscriber, outcome) = {
            let view = self.views.subscribers.read().expect("view lock");
            match view.imsis.get(&req.imsi).and_then(|i| Some((&i.sim_sid, view.sims.get(i.sim_sid.as_str())?))) {
                None => {
                    (None, Err(ConnectionError { code: CODE_UNKNOWN_SUBSCRIBER, message: "unknown subscriber".into() }))
                }
                Some((sim_sid, sim)) => {
                    let sms_enabled =
                        sim.fleet_sid.as_ref().and_then(|f| view.fleets.get(f)).is_some_and(|f| f.sms_commands_enabled);
                    let outcome = if !sms_enabled {
                        Err(ConnectionError {
                            code: CODE_SMS_COMMANDS_DISABLED,
                            message: "SMS commands are disabled for the fleet".into(),
                        })
                    } else if !sim.status.may_attach() {
                        Err(ConnectionError { code: CODE_SIM_UNREACHABLE, message: "the SIM is not attachable".into() })
                    } else {
                        Ok(())
                    };
                    (
                        Some((sim_sid.to_string(), sim.iccid.clone(), sim.account_sid.clone().unwrap_or_default())),
                        outcome,
                    )
                }
            }
        };
        // A device can send any bytes; one the log cannot store fails the SMS here, at the
        // edge, and the record of it carries the payload with the NUL replaced.
        let outcome = match outcome {
            Ok(()) if req.payload.contains('\0') => {
                Err(ConnectionError { code: CODE_INVALID_PAYLOAD, message: "the payload holds a NUL character".into() })
            }
            other => other,
        };
        let payload = req.payload.replace('\0', "\u{FFFD}");
        let (sim_sid, iccid, account) = subscriber.unwrap_or_default();
        let sms = |status: &str, error: Option<ConnectionError>| SmsEvent {
            sms_command_sid: sid.clone(),
            account_sid: account.clone(),
            sim_sid: sim_sid.clone(),
            sim_iccid: iccid.clone(),
            imsi: req.imsi.clone(),
            direction: req.direction.clone(),
            status: status.to_owned(),
            payload: payload.clone(),
            timestamp: req.at,
            network: None,
            error,
        };
        let submitted = sms("submitted", None);
        let (last, delivered) = match &outcome {
            Ok(()) => (sms("delivered", None), true),
            Err(e) => (sms("failed", Some(e.clone())), false),
        };
        let (first_event, last_event) = match (mo, delivered) {
            (true, true) => (Event::SmsMoSubmitted(submitted), Event::SmsMoDelivered(last)),
            (true, false) => (Event::SmsMoSubmitted(submitted), Event::SmsMoFailed(last)),
            (false, true) => (Event::SmsMtSubmitted(submitted), Event::SmsMtDelivered(last)),
            (false, false) => (Event::SmsMtSubmitted(submitted), Event::SmsMtFailed(last)),
        };
        let stream = format!("sms-{sid}");
        let meta = events::metadata("smsc", &account);
        let first_id = happening::event_id(&format!("{sid}:submitted"), req.at);
        let last_id = happening::event_id(&format!("{sid}:{}", if delivered { "delivered" } else { "failed" }), req.at);
        self.publisher.publish("smsc", stream.clone(), first_id, &first_event, meta.clone()).await;
        self.publisher.publish("smsc", stream, last_id, &last_event, meta).await;
        SmsAnswer { sms_command_sid: sid, delivered, error: outcome.err() }
    }

    pub async fn run(self, requests: async_nats::Subscriber, client: async_nats::Client) {
        crate::serve::serve(client, requests, "smsc", move |req: SmsSubmit| {
            let smsc = self.clone();
            async move { smsc.submit(req).await }
        })
        .await
    }
}
