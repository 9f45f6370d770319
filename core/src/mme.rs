//! MME: takes a device's attach request, asks the HSS (S6a), records the outcome as a connection
//! event and answers the device with the context it needs for a data session.
//!
//! Accepted and refused attaches are the HSS's decisions; one the HSS could not decide (no
//! answer within `hss_timeout`, an answer that does not parse, a Diameter protocol error or
//! transient failure such as `DIAMETER_TOO_BUSY`) is `attachment.failed`, with the Diameter
//! result in its `error`.

use std::time::Duration;

use simledger_eventlog::catalog::{CellLocation, ConnectionError};

use crate::events::{self, ATTACHMENT_ACCEPTED, ATTACHMENT_FAILED, ATTACHMENT_REJECTED};
use crate::protocol::{AttachAnswer, AttachRequest, SessionContext, UpdateLocationAnswer, UpdateLocationRequest};
use crate::{happening, hss, CorePublisher};

/// How long the MME waits for the HSS before the attach fails.
pub const HSS_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct Mme {
    pub client: async_nats::Client,
    pub hss_subject: String,
    pub hss_timeout: Duration,
    pub publisher: CorePublisher,
}

impl Mme {
    pub async fn attach(&self, req: AttachRequest) -> AttachAnswer {
        let ula = self.update_location(&req).await;
        let event_type = match ula.result_code {
            hss::DIAMETER_SUCCESS => ATTACHMENT_ACCEPTED,
            code if hss::is_failure(code) => ATTACHMENT_FAILED,
            _ => ATTACHMENT_REJECTED,
        };
        // A failed attach is its own happening: the device's retry of the same request (same
        // seq) that then succeeds must not share its id, and a failure redelivered must.
        let key = match event_type {
            ATTACHMENT_FAILED => format!("attach-failed:{}:{}", req.imsi, req.seq),
            _ => format!("attach:{}:{}", req.imsi, req.seq),
        };
        let event_id = happening::event_id(&key, req.at);
        let network = events::network_ref(&req.mcc, &req.mnc);
        let location = Some(CellLocation { cell_id: req.cell_id.clone(), lac: req.lac.clone(), lat: None, lon: None });
        let event = events::base(
            event_type,
            event_id,
            req.at,
            &req.imsi,
            req.imei.clone(),
            ula.subscriber.as_ref(),
            network.clone(),
            location.clone(),
            &req.rat_type,
            ula.error.clone(),
        );
        let stream = match &ula.subscriber {
            Some(s) => format!("attach-{}", s.sim_sid),
            None => format!("attach-imsi-{}", req.imsi),
        };
        let account = ula.subscriber.as_ref().map(|s| s.account_sid.as_str()).unwrap_or("");
        self.publisher.publish("mme", stream, event_id, &events::typed(event), events::metadata("mme", account)).await;
        metrics::counter!("simledger_mme_attaches_total", "outcome" => event_type.rsplit('.').next().unwrap_or(""))
            .increment(1);
        let accepted = event_type == ATTACHMENT_ACCEPTED;
        AttachAnswer {
            accepted,
            failed: event_type == ATTACHMENT_FAILED,
            context: match (accepted, ula.subscriber) {
                (true, Some(subscriber)) => Some(SessionContext {
                    imsi: req.imsi,
                    imei: req.imei,
                    subscriber,
                    network,
                    location,
                    rat_type: req.rat_type,
                }),
                _ => None,
            },
            error: ula.error.or_else(|| {
                (!accepted).then(|| ConnectionError {
                    code: hss::CODE_HSS_UNABLE_TO_COMPLY,
                    message: "DIAMETER_UNABLE_TO_COMPLY".into(),
                })
            }),
        }
    }

    /// Asks the HSS; no answer in time, or one that does not parse, is a failure with a
    /// Diameter result of its own.
    async fn update_location(&self, req: &AttachRequest) -> UpdateLocationAnswer {
        let ulr = UpdateLocationRequest { imsi: req.imsi.clone(), mcc: req.mcc.clone(), mnc: req.mnc.clone() };
        let body = serde_json::to_vec(&ulr).expect("requests serialize");
        let failed = |result_code, code, message: String| UpdateLocationAnswer {
            result_code,
            error: Some(ConnectionError { code, message }),
            subscriber: None,
        };
        let reply =
            tokio::time::timeout(self.hss_timeout, self.client.request(self.hss_subject.clone(), body.into())).await;
        let reply = match reply {
            Ok(Ok(reply)) => reply,
            Ok(Err(e)) => {
                let message = format!("DIAMETER_UNABLE_TO_DELIVER: {:?}", e.kind());
                return failed(hss::DIAMETER_UNABLE_TO_DELIVER, hss::CODE_HSS_NO_ANSWER, message);
            }
            Err(_) => {
                let message = format!("DIAMETER_UNABLE_TO_DELIVER: no answer within {:?}", self.hss_timeout);
                return failed(hss::DIAMETER_UNABLE_TO_DELIVER, hss::CODE_HSS_NO_ANSWER, message);
            }
        };
        serde_json::from_slice(&reply.payload).unwrap_or_else(|_| {
            failed(hss::DIAMETER_UNABLE_TO_COMPLY, hss::CODE_HSS_UNABLE_TO_COMPLY, "DIAMETER_UNABLE_TO_COMPLY".into())
        })
    }

    pub async fn run(self, requests: async_nats::Subscriber) {
        let client = self.client.clone();
        crate::serve::serve(client, requests, "mme", move |req: AttachRequest| {
            let mme = self.clone();
            async move { mme.attach(req).await }
        })
        .await
    }
}
