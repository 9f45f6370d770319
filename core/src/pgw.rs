//! PGW: one per breakout region ([`crate::regions`]). Opens the data sessions the SGW selects
//! it for, allocates the device's private IP from its region's pool, meters its bytes into
//! `data-session.updated` windows every update interval, and closes sessions with their totals.
//! Its events carry its region and node name. It obeys the data-limit view: a blocked SIM's
//! sessions carry `data_modifier: "blocked"` and pass no more bytes.
//!
//! A restarted PGW takes over the sessions the log shows open ([`Pgw::recover`]): their context,
//! address and totals as of their last `updated` window. A device that carries on (its retried
//! create, its next usage report) finds its session where it was, and reports the log has
//! already counted are not counted again. A session whose device does not come back within the
//! grace period is closed as the restart left it: `data-session.failed` (83712), then
//! `data-session.ended` with the bytes counted so far. Bytes of a window not yet reported when
//! the PGW stopped are lost with it.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use simledger_eventlog::catalog::{
    BreakoutRegion, ConnectionError, ConnectionEvent, IpCommandFromSim, IpCommandStatus,
};
use simledger_eventlog::Event;
use uuid::Uuid;

use crate::events::{self, SESSION_ENDED, SESSION_FAILED, SESSION_STARTED, SESSION_UPDATED};
use crate::protocol::{
    CreateSessionAnswer, CreateSessionRequest, DeleteSessionAnswer, DeleteSessionRequest, Downlink, DownlinkAnswer,
    SessionContext, SubscriberProfile, Uplink, UplinkAnswer, UsageAnswer, UsageReport,
};
use crate::views::{CoreViews, OpenSession};
use crate::{happening, CorePublisher};

/// APNs this PGW serves: the user APN and the over-the-air one.
pub const APNS: &[&str] = &["super", "ota.super"];
/// Not a Twilio code: simledger's, for a session refused for its APN.
pub const CODE_UNKNOWN_APN: i64 = 83711;
pub const DEFAULT_UPDATE_INTERVAL: Duration = Duration::minutes(6);
/// Not a Twilio code: simledger's, for a session refused because the PGW's address pool is full
/// (GTPv2's cause 84, all dynamic addresses occupied).
pub const CODE_POOL_EXHAUSTED: i64 = 83715;
/// Not a Twilio code: simledger's, for a create that reached a PGW not of the SIM's region.
pub const CODE_NOT_THIS_PGW: i64 = 83716;
/// Not a Twilio code: simledger's, for a session lost with a PGW's restart.
pub const CODE_PGW_RESTARTED: i64 = 83712;
/// Not a Twilio code: simledger's, for an IP Command to a SIM with no data session open.
pub const CODE_NO_DATA_SESSION: i64 = 83730;
/// Not a Twilio code: simledger's, for a device's datagram the platform cannot take (no session,
/// or a payload that is not 1 to 1300 bytes of text without NUL or of base64).
pub const CODE_UPLINK_DROPPED: i64 = 83731;
/// The largest datagram payload, as `POST /v1/IpCommands` takes.
pub const MAX_DATAGRAM_BYTES: usize = 1300;
/// Where the one PGW stood before regions: its sessions, and the subjects devices used then
/// (`s11.usage`, `s11.delete_session`, `sgi.uplink`), are the US PGW's.
pub const LEGACY_REGION: BreakoutRegion = BreakoutRegion::UsEast;
/// How long a restarted PGW waits for the devices of the sessions it took over.
pub const RECOVERY_GRACE: std::time::Duration = std::time::Duration::from_secs(600);

struct Session {
    ctx: SessionContext,
    apn: String,
    ip: Ipv4Addr,
    started: DateTime<Utc>,
    window_start: DateTime<Utc>,
    window_up: i64,
    window_down: i64,
    total_up: i64,
    total_down: i64,
    last_report: u64,
    /// Taken over from the log at a restart; the device has not been heard since.
    recovered: bool,
    heard: bool,
}

#[derive(Default)]
struct Sessions {
    by_sid: HashMap<String, Session>,
    ips: HashSet<Ipv4Addr>,
}

/// A free address in the region's pool derived from the session, so a replayed session gets
/// the same one; collisions probe forward.
fn allocate_ip(sessions: &Sessions, region: BreakoutRegion, sid: &str) -> Option<Ipv4Addr> {
    let (base, size) = crate::regions::ip_pool(region);
    // A full pool has no free address to find: refuse at once rather than search it.
    if sessions.ips.len() as u64 >= u64::from(size) - 1 {
        return None;
    }
    let h = u32::from_str_radix(&sid[2..10], 16).unwrap_or(0);
    let base = u32::from(base);
    (0..size).map(|i| Ipv4Addr::from(base + ((h.wrapping_add(i)) % size).max(1))).find(|ip| !sessions.ips.contains(ip))
}

#[derive(Clone)]
pub struct Pgw {
    pub publisher: CorePublisher,
    pub views: Arc<CoreViews>,
    pub update_interval: Duration,
    region: BreakoutRegion,
    node: String,
    /// Fleets that name no region break out here.
    default_region: bool,
    sessions: Arc<Mutex<Sessions>>,
}

impl Pgw {
    /// The PGW of `region`; `default_region` when fleets without a region break out there.
    pub fn new(
        publisher: CorePublisher,
        views: Arc<CoreViews>,
        update_interval: Duration,
        region: BreakoutRegion,
        default_region: bool,
    ) -> Self {
        let node = crate::regions::pgw_node(region);
        Self { publisher, views, update_interval, region, node, default_region, sessions: Arc::default() }
    }

    pub fn region(&self) -> BreakoutRegion {
        self.region
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    /// Whether a session the log shows open is this PGW's. Sessions logged before regions were
    /// the one PGW's, which was in the US.
    fn carries(&self, session: &ConnectionEvent) -> bool {
        match &session.pgw {
            Some(node) => *node == self.node,
            None => self.region == LEGACY_REGION,
        }
    }

    /// Whether this PGW holds the session (a retried create finds it even if the fleet's
    /// region changed since).
    fn holds(&self, sid: &str) -> bool {
        self.sessions.lock().expect("sessions lock").by_sid.contains_key(sid)
    }

    fn gauge_open_sessions(&self) {
        metrics::gauge!("simledger_pgw_sessions_open", "pgw" => self.node.clone()).set(self.open_sessions() as f64);
    }

    pub fn open_sessions(&self) -> usize {
        self.sessions.lock().expect("sessions lock").by_sid.len()
    }

    /// A session event and its id.
    fn session_event(
        &self,
        event_type: &str,
        key: &str,
        at: DateTime<Utc>,
        s: &Session,
        sid: &str,
    ) -> (Uuid, ConnectionEvent) {
        let id = happening::event_id(key, at);
        let mut e = events::from_context(event_type, id, at, &s.ctx);
        e.apn = Some(s.apn.clone());
        e.ip_address = Some(s.ip.to_string());
        e.data_session_sid = Some(sid.to_owned());
        e.data_session_start_time = Some(s.started);
        e.breakout_region = Some(self.region);
        e.pgw = Some(self.node.clone());
        if self.views.is_blocked(&s.ctx.subscriber.sim_sid, at) {
            e.data_modifier = Some("blocked".into());
        }
        (id, e)
    }

    async fn publish(&self, stream: String, id: Uuid, event: ConnectionEvent) {
        let account = event.account_sid.clone();
        self.publisher.publish("pgw", stream, id, &events::typed(event), events::metadata("pgw", &account)).await;
    }

    /// The answer naming this PGW.
    fn answer(&self, sid: String, ip: Option<Ipv4Addr>, error: Option<ConnectionError>) -> CreateSessionAnswer {
        CreateSessionAnswer {
            data_session_sid: sid,
            ip_address: ip.map(|ip| ip.to_string()),
            error,
            pgw: Some(self.node.clone()),
            breakout_region: Some(self.region),
        }
    }

    /// Logs a session it could not create and says why.
    async fn refuse(&self, req: &CreateSessionRequest, sid: String, code: i64, message: &str) -> CreateSessionAnswer {
        let error = ConnectionError { code, message: message.into() };
        let id = happening::event_id(&format!("{sid}:failed"), req.at);
        let mut e = events::from_context(SESSION_FAILED, id, req.at, &req.context);
        e.apn = Some(req.apn.clone());
        e.data_session_sid = Some(sid.clone());
        e.error = Some(error.clone());
        e.breakout_region = Some(self.region);
        e.pgw = Some(self.node.clone());
        self.publish(format!("session-{sid}"), id, e).await;
        self.answer(sid, None, Some(error))
    }

    /// Whether the SIM's fleet breaks out here, as the log says now: a request that reached
    /// this PGW other than through the SGW's selection is not served.
    fn serves(&self, sim_sid: &str) -> bool {
        match self.views.breakout_of(sim_sid) {
            Some(region) => region == self.region,
            None => self.default_region,
        }
    }

    pub async fn create_session(&self, req: CreateSessionRequest) -> CreateSessionAnswer {
        let sid = session_sid(&req);
        if !APNS.contains(&req.apn.as_str()) {
            return self.refuse(&req, sid, CODE_UNKNOWN_APN, "MISSING_OR_UNKNOWN_APN").await;
        }
        if !self.serves(&req.context.subscriber.sim_sid) && !self.holds(&sid) {
            // Nothing logged: the SIM's region is another PGW's (or changed a moment ago); the
            // device asks the SGW again.
            let error = ConnectionError { code: CODE_NOT_THIS_PGW, message: "NOT_THIS_SIMS_PGW".into() };
            return self.answer(sid, None, Some(error));
        }
        let started = {
            let mut sessions = self.sessions.lock().expect("sessions lock");
            if let Some(existing) = sessions.by_sid.get_mut(&sid) {
                existing.heard = true;
                // A retried request: the session is already open.
                let ip = existing.ip;
                return self.answer(sid, Some(ip), None);
            }
            allocate_ip(&sessions, self.region, &sid).map(|ip| {
                let session = Session {
                    ctx: req.context.clone(),
                    apn: req.apn.clone(),
                    ip,
                    started: req.at,
                    window_start: req.at,
                    window_up: 0,
                    window_down: 0,
                    total_up: 0,
                    total_down: 0,
                    last_report: 0,
                    recovered: false,
                    heard: true,
                };
                let (id, event) =
                    self.session_event(SESSION_STARTED, &format!("{sid}:started"), req.at, &session, &sid);
                sessions.ips.insert(ip);
                sessions.by_sid.insert(sid.clone(), session);
                (id, event, ip)
            })
        };
        let Some(started) = started else {
            return self.refuse(&req, sid, CODE_POOL_EXHAUSTED, "ALL_DYNAMIC_ADDRESSES_ARE_OCCUPIED").await;
        };
        self.publish(format!("session-{sid}"), started.0, started.1).await;
        self.gauge_open_sessions();
        self.answer(sid, Some(started.2), None)
    }

    pub async fn usage(&self, report: UsageReport) -> UsageAnswer {
        let sid = report.data_session_sid.clone();
        let (update, blocked) = {
            let mut sessions = self.sessions.lock().expect("sessions lock");
            let Some(s) = sessions.by_sid.get_mut(&sid) else {
                return UsageAnswer { unknown_session: true, blocked: false };
            };
            let blocked = self.views.is_blocked(&s.ctx.subscriber.sim_sid, report.at);
            s.heard = true;
            if report.report_seq <= s.last_report {
                return UsageAnswer { unknown_session: false, blocked };
            }
            s.last_report = report.report_seq;
            // A session taken over at a restart: what the log counted already is not counted again.
            if s.recovered && report.at <= s.window_start {
                return UsageAnswer { unknown_session: false, blocked };
            }
            if !blocked {
                s.window_up += report.upload.max(0);
                s.window_down += report.download.max(0);
            }
            let mut update = None;
            if report.at - s.window_start >= self.update_interval {
                s.total_up += s.window_up;
                s.total_down += s.window_down;
                // Named by the window's end (the event id takes the time), not by a count: a
                // PGW that takes the session over after a crash may not know every window
                // before it, and must still name this one as the first PGW did.
                let key = format!("{sid}:update");
                let (id, mut e) = self.session_event(SESSION_UPDATED, &key, report.at, s, &sid);
                fill_window(&mut e, s, report.at);
                s.window_start = report.at;
                s.window_up = 0;
                s.window_down = 0;
                update = Some((id, e));
            }
            (update, blocked)
        };
        if let Some((id, e)) = update {
            self.publish(format!("session-{sid}"), id, e).await;
        }
        UsageAnswer { unknown_session: false, blocked }
    }

    pub async fn delete_session(&self, req: DeleteSessionRequest) -> DeleteSessionAnswer {
        let sid = req.data_session_sid.clone();
        let ended = {
            let mut sessions = self.sessions.lock().expect("sessions lock");
            let Some(mut s) = sessions.by_sid.remove(&sid) else {
                return DeleteSessionAnswer { found: false };
            };
            sessions.ips.remove(&s.ip);
            s.total_up += s.window_up;
            s.total_down += s.window_down;
            let (id, mut e) = self.session_event(SESSION_ENDED, &format!("{sid}:ended"), req.at, &s, &sid);
            fill_window(&mut e, &s, req.at);
            e.data_session_end_time = Some(req.at);
            (id, e)
        };
        self.publish(format!("session-{sid}"), ended.0, ended.1).await;
        self.gauge_open_sessions();
        DeleteSessionAnswer { found: true }
    }

    /// Takes over the sessions of this PGW the log shows open that it does not hold (after a
    /// restart), and closes, once `grace` has passed, those whose device has not been heard
    /// since. Returns how many it took over. Other regions' sessions are their PGWs'.
    pub fn recover(&self, grace: std::time::Duration) -> usize {
        let open: Vec<(String, OpenSession)> = {
            let view = self.views.sessions.read().expect("view lock");
            view.open.iter().filter(|(_, s)| self.carries(&s.last)).map(|(sid, s)| (sid.clone(), s.clone())).collect()
        };
        let mut taken = 0;
        {
            let mut sessions = self.sessions.lock().expect("sessions lock");
            for (sid, open) in open {
                if sessions.by_sid.contains_key(&sid) {
                    continue;
                }
                let session = recovered_session(&sessions, self.region, &sid, open);
                sessions.ips.insert(session.ip);
                sessions.by_sid.insert(sid, session);
                taken += 1;
            }
        }
        if taken > 0 {
            let pgw = self.clone();
            tokio::spawn(async move {
                tokio::time::sleep(grace).await;
                pgw.close_unheard().await;
            });
            self.gauge_open_sessions();
        }
        taken
    }

    /// Closes the sessions taken over at a restart whose device never came back.
    async fn close_unheard(&self) {
        let lost: Vec<(String, Session)> = {
            let mut sessions = self.sessions.lock().expect("sessions lock");
            // One the log has seen end meanwhile (its end was still on its way to the log at the
            // restart) is only forgotten.
            let still_open = self.views.sessions.read().expect("view lock");
            let (ended, unheard): (Vec<String>, Vec<String>) = sessions
                .by_sid
                .iter()
                .filter(|(_, s)| s.recovered && !s.heard)
                .map(|(sid, _)| sid.clone())
                .partition(|sid| !still_open.open.contains_key(sid));
            drop(still_open);
            for sid in ended {
                if let Some(s) = sessions.by_sid.remove(&sid) {
                    sessions.ips.remove(&s.ip);
                }
            }
            let sids = unheard;
            sids.into_iter()
                .filter_map(|sid| {
                    let s = sessions.by_sid.remove(&sid)?;
                    sessions.ips.remove(&s.ip);
                    Some((sid, s))
                })
                .collect()
        };
        for (sid, s) in lost {
            // The last moment the log knows of the session.
            let at = s.window_start;
            let (id, mut failed) = self.session_event(SESSION_FAILED, &format!("{sid}:failed"), at, &s, &sid);
            failed.error = Some(ConnectionError {
                code: CODE_PGW_RESTARTED,
                message: "PGW_RESTARTED: the session was lost with the PGW's state".into(),
            });
            self.publish(format!("session-{sid}"), id, failed).await;
            let (id, mut ended) = self.session_event(SESSION_ENDED, &format!("{sid}:ended"), at, &s, &sid);
            fill_window(&mut ended, &s, at);
            ended.data_session_end_time = Some(at);
            self.publish(format!("session-{sid}"), id, ended).await;
        }
        self.gauge_open_sessions();
    }

    /// Carries an IP Command's datagram to the device of the SIM's open data session: `sent` to
    /// its session address, then `received` (the simulated device takes every datagram to its
    /// address while its session is open), or `failed` with no session. Event ids derive from
    /// the command, and `sent` and `failed` share one (the outcome), so a second hand-over (a
    /// redelivery) logs nothing new even if the SIM's session changed in between: the first
    /// outcome stands.
    pub async fn downlink(&self, d: Downlink) -> DownlinkAnswer {
        let device_ip = {
            let sessions = self.sessions.lock().expect("sessions lock");
            sessions
                .by_sid
                .values()
                .filter(|s| s.ctx.subscriber.sim_sid == d.sim_sid)
                .max_by_key(|s| s.started)
                .map(|s| s.ip.to_string())
        };
        let stream = format!("ipc-{}", d.ip_command_sid);
        let meta = events::metadata("pgw", &d.account_sid);
        match device_ip {
            Some(ip) => {
                let sent = Event::IpCommandSent(downlink_status(&d, Some(ip.clone()), None));
                let received = Event::IpCommandReceived(downlink_status(&d, Some(ip.clone()), None));
                let (outcome, received_id) = (downlink_id(&d, "outcome"), downlink_id(&d, "received"));
                self.publisher.publish("pgw", stream.clone(), outcome, &sent, meta.clone()).await;
                self.publisher.publish("pgw", stream, received_id, &received, meta).await;
                DownlinkAnswer { device_ip: Some(ip), error: None }
            }
            None => {
                let error =
                    ConnectionError { code: CODE_NO_DATA_SESSION, message: "the SIM has no data session open".into() };
                let (id, failed) = downlink_failure(&d, error.clone());
                self.publisher.publish("pgw", stream, id, &failed, meta).await;
                DownlinkAnswer { device_ip: None, error: Some(error) }
            }
        }
    }

    /// Takes a datagram a device sends from its open session to the platform: an IP Command
    /// `from_sim` (`ip_command.from_sim`), its SID derived from the device's request so a retry
    /// logs nothing new. A device without a session, or a payload the platform cannot store, is
    /// dropped here, at the edge, with nothing logged.
    pub async fn uplink(&self, u: Uplink) -> UplinkAnswer {
        let dropped = |message: &str| UplinkAnswer {
            ip_command_sid: None,
            error: Some(ConnectionError { code: CODE_UPLINK_DROPPED, message: message.into() }),
        };
        let bytes = match u.payload_type.as_str() {
            "text" if !u.payload.contains('\0') => Some(u.payload.len()),
            "binary" => base64_len(&u.payload),
            _ => None,
        };
        if !bytes.is_some_and(|b| (1..=MAX_DATAGRAM_BYTES).contains(&b)) || !(1..=65535).contains(&u.device_port) {
            return dropped("the datagram is not 1 to 1300 bytes of text or base64 from a port");
        }
        let session = {
            let sessions = self.sessions.lock().expect("sessions lock");
            sessions
                .by_sid
                .values()
                .filter(|s| s.ctx.imsi == u.imsi)
                .max_by_key(|s| s.started)
                .map(|s| (s.ctx.subscriber.clone(), s.ip.to_string()))
        };
        let Some((subscriber, device_ip)) = session else { return dropped("no data session is open") };
        let sid = happening::sid("HG", &format!("uplink:{}:{}:{}", u.imsi, u.seq, u.at.timestamp_millis()));
        let event = Event::IpCommandFromSim(IpCommandFromSim {
            ip_command_sid: sid.clone(),
            account_sid: subscriber.account_sid.clone(),
            sim_sid: subscriber.sim_sid.clone(),
            sim_iccid: subscriber.sim_iccid.clone(),
            device_ip,
            device_port: u.device_port,
            payload_type: u.payload_type.clone(),
            payload: u.payload.clone(),
            timestamp: u.at,
        });
        let id = happening::event_id(&format!("{sid}:from_sim"), u.at);
        let meta = events::metadata("pgw", &subscriber.account_sid);
        self.publisher.publish("pgw", format!("ipc-{sid}"), id, &event, meta).await;
        UplinkAnswer { ip_command_sid: Some(sid), error: None }
    }

    /// Subscribes to this PGW's subjects (`pgw.<node>.*`) and, for the US PGW ([`LEGACY_REGION`]),
    /// to the subjects devices used before regions existed (`s11.usage`, `s11.delete_session`,
    /// `sgi.uplink`). Done before the node is reported started.
    pub async fn subscribe(
        &self,
        client: &async_nats::Client,
        names: &crate::CoreNames,
    ) -> Result<PgwSubscriptions, crate::CoreError> {
        use crate::protocol::subjects::{self, pgw};
        // Each PGW has subjects of its own (and a second one of a region refuses to start), so
        // the node's queue group is only ever this PGW.
        let sub = |subject: String| crate::serve::subscribe(client, subject, "pgw");
        let own = |op: &str| sub(names.request(&pgw::subject(&self.node, op)));
        let mut subs = PgwSubscriptions {
            create: vec![own(pgw::CREATE_SESSION).await?],
            usage: vec![own(pgw::USAGE).await?],
            delete: vec![own(pgw::DELETE_SESSION).await?],
            downlink: vec![own(pgw::DOWNLINK).await?],
            uplink: vec![own(pgw::UPLINK).await?],
        };
        if self.region == LEGACY_REGION {
            subs.usage.push(sub(names.request(subjects::S11_USAGE)).await?);
            subs.delete.push(sub(names.request(subjects::S11_DELETE_SESSION)).await?);
            subs.uplink.push(sub(names.request(subjects::SGI_UPLINK)).await?);
        }
        Ok(subs)
    }

    /// Serves its subscriptions until they end.
    pub async fn run(self, subs: PgwSubscriptions, client: async_nats::Client) {
        let mut serving = Vec::new();
        serving.extend(
            self.serve_each(
                &client,
                subs.create,
                |p, r: CreateSessionRequest| async move { p.create_session(r).await },
            ),
        );
        serving.extend(self.serve_each(&client, subs.downlink, |p, r: Downlink| async move { p.downlink(r).await }));
        serving.extend(self.serve_each(&client, subs.usage, |p, r: UsageReport| async move { p.usage(r).await }));
        serving.extend(
            self.serve_each(
                &client,
                subs.delete,
                |p, r: DeleteSessionRequest| async move { p.delete_session(r).await },
            ),
        );
        serving.extend(self.serve_each(&client, subs.uplink, |p, r: Uplink| async move { p.uplink(r).await }));
        futures_util::future::join_all(serving).await;
    }

    /// One serving loop per subscription, each handing requests to `handle` with this PGW.
    fn serve_each<Req, Resp, H, Fut>(
        &self,
        client: &async_nats::Client,
        subscriptions: Vec<async_nats::Subscriber>,
        handle: H,
    ) -> Vec<futures_util::future::BoxFuture<'static, ()>>
    where
        Req: serde::de::DeserializeOwned + Send + 'static,
        Resp: serde::Serialize + Send + 'static,
        H: Fn(Pgw, Req) -> Fut + Clone + Send + Sync + 'static,
        Fut: std::future::Future<Output = Resp> + Send + 'static,
    {
        use futures_util::FutureExt;
        subscriptions
            .into_iter()
            .map(|requests| {
                let (pgw, handle) = (self.clone(), handle.clone());
                crate::serve::serve(client.clone(), requests, "pgw", move |r: Req| handle(pgw.clone(), r)).boxed()
            })
            .collect()
    }
}

/// What a PGW listens on, by operation.
pub struct PgwSubscriptions {
    create: Vec<async_nats::Subscriber>,
    usage: Vec<async_nats::Subscriber>,
    delete: Vec<async_nats::Subscriber>,
    downlink: Vec<async_nats::Subscriber>,
    uplink: Vec<async_nats::Subscriber>,
}

/// An IP Command's status as its events carry it.
fn downlink_status(d: &Downlink, device_ip: Option<String>, error: Option<ConnectionError>) -> IpCommandStatus {
    IpCommandStatus {
        ip_command_sid: d.ip_command_sid.clone(),
        account_sid: d.account_sid.clone(),
        sim_sid: d.sim_sid.clone(),
        sim_iccid: d.sim_iccid.clone(),
        device_port: d.device_port,
        device_ip,
        timestamp: d.at,
        error,
    }
}

/// An IP Command's event id; `sent` and `failed` share `outcome`, so the first outcome logged
/// stands, whichever node logged it.
fn downlink_id(d: &Downlink, what: &str) -> Uuid {
    happening::event_id(&format!("{}:{what}", d.ip_command_sid), d.at)
}

/// `ip_command.failed` for the datagram, and its (outcome) id.
pub(crate) fn downlink_failure(d: &Downlink, error: ConnectionError) -> (Uuid, Event) {
    (downlink_id(d, "outcome"), Event::IpCommandFailed(downlink_status(d, None, Some(error))))
}

/// The session's SID, derived from the device's request: the SGW names a session it could not
/// create by it, the PGW one it creates. The time is part of the key: a device's sequence
/// numbers start again when its simulator restarts, its sessions must not take earlier
/// sessions' SIDs.
pub fn session_sid(req: &CreateSessionRequest) -> String {
    happening::sid("PI", &format!("session:{}:{}:{}", req.context.imsi, req.seq, req.at.timestamp_millis()))
}

/// A session as the log left it: its context from its last event, its window starting where
/// the last `updated` one ended.
fn recovered_session(sessions: &Sessions, region: BreakoutRegion, sid: &str, open: OpenSession) -> Session {
    let c = open.last;
    let started = c.data_session_start_time.unwrap_or(c.timestamp);
    let ip = c
        .ip_address
        .as_deref()
        .and_then(|ip| ip.parse().ok())
        .filter(|ip| !sessions.ips.contains(ip))
        .or_else(|| allocate_ip(sessions, region, sid))
        // Only when the pool is full: the log's own address, shared with another session.
        .or_else(|| c.ip_address.as_deref().and_then(|ip| ip.parse().ok()))
        .unwrap_or(Ipv4Addr::UNSPECIFIED);
    Session {
        apn: c.apn.clone().unwrap_or_default(),
        ip,
        started,
        window_start: c.data_session_update_end_time.unwrap_or(started),
        window_up: 0,
        window_down: 0,
        total_up: c.data_session_data_upload.unwrap_or(0),
        total_down: c.data_session_data_download.unwrap_or(0),
        last_report: 0,
        recovered: true,
        heard: false,
        ctx: SessionContext {
            subscriber: SubscriberProfile {
                sim_sid: c.sim_sid,
                sim_iccid: c.sim_iccid,
                sim_unique_name: c.sim_unique_name,
                fleet_sid: c.fleet_sid,
                account_sid: c.account_sid,
                breakout_region: c.breakout_region,
            },
            imsi: c.imsi,
            imei: c.imei,
            network: c.network,
            location: c.location,
            rat_type: c.rat_type,
        },
    }
}

/// The bytes a base64 text decodes to, if it is base64.
fn base64_len(text: &str) -> Option<usize> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(text).ok().map(|b| b.len())
}

/// The window's bytes and the session's totals (already including the window).
fn fill_window(e: &mut ConnectionEvent, s: &Session, end: DateTime<Utc>) {
    e.data_session_update_start_time = Some(s.window_start);
    e.data_session_update_end_time = Some(end);
    e.data_upload = Some(s.window_up);
    e.data_download = Some(s.window_down);
    e.data_total = Some(s.window_up + s.window_down);
    e.data_session_data_upload = Some(s.total_up);
    e.data_session_data_download = Some(s.total_down);
    e.data_session_data_total = Some(s.total_up + s.total_down);
}
