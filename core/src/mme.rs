//! MME: takes a device's attach request, asks the HSS (S6a), records the outcome as a connection
//! event and answers the device with the context it needs for a data session.

use std::time::Duration;

use simledger_eventlog::catalog::{CellLocation, ConnectionError};

use crate::events::{self, ATTACHMENT_ACCEPTED, ATTACHMENT_FAILED, ATTACHMENT_REJECTED};
use crate::protocol::{AttachAnswer, AttachRequest, SessionContext, UpdateLocationAnswer, UpdateLocationRequest};
use crate::{happening, CorePublisher};

/// Diameter's "unable to comply": the HSS could not decide; the attach failed, it was not refused.
pub const DIAMETER_UNABLE_TO_COMPLY: u32 = 5012;

#[derive(Clone)]
pub struct Mme {
    pub client: async_nats::Client,
    pub hss_subject: String,
    pub publisher: CorePublisher,
}

impl Mme {
    pub async fn attach(&self, req: AttachRequest) -> Option<AttachAnswer> {
        let ulr = UpdateLocationRequest { imsi: req.imsi.clone(), mcc: req.mcc.clone(), mnc: req.mnc.clone() };
        let body = serde_json::to_vec(&ulr).expect("requests serialize");
        // No answer from the HSS: no event; the device retries the same request (same seq).
        let reply =
            tokio::time::timeout(Duration::from_secs(5), self.client.request(self.hss_subject.clone(), body.into()))
                .await
                .ok()?
                .ok()?;
        let ula: UpdateLocationAnswer = serde_json::from_slice(&reply.payload).ok()?;
        let event_type = match (ula.result_code, &ula.error) {
            (crate::hss::DIAMETER_SUCCESS, _) => ATTACHMENT_ACCEPTED,
            (DIAMETER_UNABLE_TO_COMPLY, _) => ATTACHMENT_FAILED,
            _ => ATTACHMENT_REJECTED,
        };
        let event_id = happening::event_id(&format!("attach:{}:{}", req.imsi, req.seq), req.at);
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
        Some(AttachAnswer {
            accepted,
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
                (!accepted).then(|| ConnectionError { code: 83706, message: "DIAMETER_UNABLE_TO_COMPLY".into() })
            }),
        })
    }

    pub async fn run(self, requests: async_nats::Subscriber) {
        let client = self.client.clone();
        crate::serve::serve(client, requests, "mme", move |req: AttachRequest| {
            let mme = self.clone();
            async move {
                match mme.attach(req).await {
                    Some(answer) => serde_json::to_value(answer).expect("answers serialize"),
                    None => serde_json::json!({ "error": "HSS unavailable" }),
                }
            }
        })
        .await
    }
}
