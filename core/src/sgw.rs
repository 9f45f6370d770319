//! SGW: the front of the user plane. It takes a device's Create-Session (S11), selects the PGW
//! by APN and the breakout region of the SIM's fleet as the log says now
//! ([`crate::regions::SelectionTable`]) and forwards the request to it (S5); and it routes an IP
//! Command's datagram (SGi downlink) to the PGW that carries the SIM's session.
//!
//! A session no PGW can take is `data-session.failed`, logged here: an unknown APN, a region
//! without a PGW, or a selected PGW that nobody answers for (it is down or restarting). Nothing
//! falls back to another region. A PGW that is there but slow, or one that went down after the
//! log shows it opened the session, gets no verdict: the SGW answers `null` and the device's
//! retry of the same request (same session SID) finds what the PGW did, once it is back.
//! A datagram always gets an outcome: the PGW's, or `ip_command.failed` logged here, so one
//! region's PGW being down never holds up another's IP Commands.

use std::sync::Arc;
use std::time::Duration;

use async_nats::RequestErrorKind;
use simledger_eventlog::catalog::{BreakoutRegion, ConnectionError};

use crate::events::{self, SESSION_FAILED};
use crate::pgw::{downlink_failure, session_sid, CODE_UNKNOWN_APN};
use crate::protocol::subjects::pgw;
use crate::protocol::{CreateSessionAnswer, CreateSessionRequest, Downlink, DownlinkAnswer};
use crate::regions::{SelectionError, SelectionTable};
use crate::views::CoreViews;
use crate::{happening, CoreNames, CorePublisher};

/// Not a Twilio code: simledger's, for a session whose fleet's region has no PGW.
pub const CODE_NO_PGW_FOR_REGION: i64 = 83713;
/// Not a Twilio code: simledger's, for a session whose selected PGW is not there (GTPv2's
/// cause 100, remote peer not responding).
pub const CODE_PGW_NOT_RESPONDING: i64 = 83714;
/// Not a Twilio code: simledger's, for an IP Command whose SIM's PGW is not answering.
pub const CODE_DOWNLINK_PGW_UNREACHABLE: i64 = 83732;
/// How long the SGW waits for a PGW.
pub const PGW_TIMEOUT: Duration = Duration::from_secs(5);
/// Creates the SGW holds at once; beyond them it answers `null` at once (the device retries)
/// rather than let a flood pile up tasks waiting on PGWs.
pub const MAX_IN_FLIGHT: usize = 4096;

#[derive(Clone)]
pub struct Sgw {
    pub client: async_nats::Client,
    pub names: CoreNames,
    pub publisher: CorePublisher,
    pub views: Arc<CoreViews>,
    pub selection: Arc<SelectionTable>,
}

/// What became of a request forwarded to a PGW.
enum Forwarded {
    Answer(bytes::Bytes),
    /// Nobody serves the PGW's subject: it is down.
    NoPgw,
    /// It did not answer in time (it may still act on the request).
    Slow,
}

impl Sgw {
    async fn forward(&self, node: &str, operation: &str, body: Vec<u8>) -> Forwarded {
        let subject = self.names.request(&pgw::subject(node, operation));
        match tokio::time::timeout(PGW_TIMEOUT, self.client.request(subject, body.into())).await {
            Ok(Ok(reply)) => Forwarded::Answer(reply.payload),
            Ok(Err(e)) if e.kind() == RequestErrorKind::NoResponders => Forwarded::NoPgw,
            Ok(Err(_)) | Err(_) => Forwarded::Slow,
        }
    }

    /// Selects the session's PGW and has it create the session. `None`: no answer to give yet
    /// (the device asks again).
    pub async fn create_session(&self, req: CreateSessionRequest) -> Option<CreateSessionAnswer> {
        // The fleet's region as the log says now, not as the device's attach context says: a
        // changed region applies to the next session, attached again or not.
        let region = self.views.breakout_of(&req.context.subscriber.sim_sid);
        let (region, node) = match self.selection.select(&req.apn, region) {
            Ok((region, node)) => (region, node.to_owned()),
            Err(SelectionError::UnknownApn) => {
                return Some(self.refuse(&req, None, None, CODE_UNKNOWN_APN, "MISSING_OR_UNKNOWN_APN".into()).await)
            }
            Err(e @ SelectionError::NoPgw(region)) => {
                return Some(self.refuse(&req, Some(region), None, CODE_NO_PGW_FOR_REGION, e.to_string()).await)
            }
        };
        let body = serde_json::to_vec(&req).expect("requests serialize");
        match self.forward(&node, pgw::CREATE_SESSION, body).await {
            Forwarded::Answer(payload) => Some(serde_json::from_slice(&payload).unwrap_or_else(|e| {
                tracing::warn!(pgw = %node, error = %e, "a PGW's create answer does not parse");
                let message = format!("{node}'s answer does not parse");
                CreateSessionAnswer {
                    data_session_sid: session_sid(&req),
                    ip_address: None,
                    error: Some(ConnectionError { code: CODE_PGW_NOT_RESPONDING, message }),
                    pgw: Some(node.clone()),
                    breakout_region: Some(region),
                }
            })),
            Forwarded::NoPgw => {
                // The PGW went down after opening it: its restart carries the session on.
                let sid = session_sid(&req);
                if self.views.sessions.read().expect("view lock").open.contains_key(&sid) {
                    return None;
                }
                metrics::counter!("simledger_sgw_pgw_unreachable_total", "pgw" => node.clone()).increment(1);
                let message = format!("REMOTE_PEER_NOT_RESPONDING: {node} is not answering");
                Some(self.refuse(&req, Some(region), Some(node), CODE_PGW_NOT_RESPONDING, message).await)
            }
            Forwarded::Slow => None,
        }
    }

    /// Logs the session as failed and tells the device.
    async fn refuse(
        &self,
        req: &CreateSessionRequest,
        region: Option<BreakoutRegion>,
        node: Option<String>,
        code: i64,
        message: String,
    ) -> CreateSessionAnswer {
        let sid = session_sid(req);
        let error = ConnectionError { code, message };
        // A key of its own: a PGW's failure of the same session (its restart) is another happening.
        let id = happening::event_id(&format!("{sid}:refused"), req.at);
        let mut e = events::from_context(SESSION_FAILED, id, req.at, &req.context);
        e.apn = Some(req.apn.clone());
        e.data_session_sid = Some(sid.clone());
        e.error = Some(error.clone());
        e.breakout_region = region;
        e.pgw = node.clone();
        let account = e.account_sid.clone();
        self.publisher
            .publish("sgw", format!("session-{sid}"), id, &events::typed(e), events::metadata("sgw", &account))
            .await;
        CreateSessionAnswer {
            data_session_sid: sid,
            ip_address: None,
            error: Some(error),
            pgw: node,
            breakout_region: region,
        }
    }

    /// The PGW for a datagram to `sim_sid`: the one carrying its latest open session as the log
    /// shows it, else the one its fleet's sessions are created on (the default region's when
    /// that has none), which answers that no session is open.
    fn downlink_pgw(&self, sim_sid: &str) -> String {
        let open = {
            let sessions = self.views.sessions.read().expect("view lock");
            sessions.of_sim(sim_sid).max_by_key(|s| s.last.data_session_start_time).map(|s| s.last.pgw.clone())
        };
        match open {
            Some(Some(node)) => node,
            Some(None) => crate::regions::pgw_node(crate::pgw::LEGACY_REGION),
            None => match self.selection.select(crate::pgw::APNS[0], self.views.breakout_of(sim_sid)) {
                Ok((_, node)) => node.to_owned(),
                Err(_) => crate::regions::pgw_node(self.selection.default_region()),
            },
        }
    }

    /// Hands the datagram to the SIM's PGW and passes its answer back. When that PGW is not
    /// answering, the command fails here (sharing the PGW's outcome id, so whichever outcome is
    /// logged first stands).
    pub async fn downlink(&self, d: Downlink) -> DownlinkAnswer {
        let node = self.downlink_pgw(&d.sim_sid);
        let body = serde_json::to_vec(&d).expect("requests serialize");
        if let Forwarded::Answer(payload) = self.forward(&node, pgw::DOWNLINK, body).await {
            if let Ok(answer) = serde_json::from_slice(&payload) {
                return answer;
            }
        }
        let message = format!("{node}, the PGW of the SIM's session, is not answering");
        let error = ConnectionError { code: CODE_DOWNLINK_PGW_UNREACHABLE, message };
        let (id, failed) = downlink_failure(&d, error.clone());
        let stream = format!("ipc-{}", d.ip_command_sid);
        self.publisher.publish("sgw", stream, id, &failed, events::metadata("sgw", &d.account_sid)).await;
        DownlinkAnswer { device_ip: None, error: Some(error) }
    }

    pub async fn run(
        self,
        create: async_nats::Subscriber,
        downlink: async_nats::Subscriber,
        client: async_nats::Client,
    ) {
        let sgw = self.clone();
        tokio::join!(
            crate::serve::serve_bounded(
                client.clone(),
                create,
                "sgw",
                MAX_IN_FLIGHT,
                || None,
                move |r: CreateSessionRequest| {
                    let sgw = sgw.clone();
                    async move { sgw.create_session(r).await }
                }
            ),
            crate::serve::serve_bounded(
                client,
                downlink,
                "sgw",
                MAX_IN_FLIGHT,
                // `null`: the dispatcher hands the command over again later.
                || None::<DownlinkAnswer>,
                move |r: Downlink| {
                    let sgw = self.clone();
                    async move { Some(sgw.downlink(r).await) }
                }
            ),
        );
    }
}
