//! The in-memory views the nodes decide from, built by following the log: the HSS's subscriber
//! view, the PGW's data-limit view and the data sessions the log shows open (what a restarted
//! PGW carries on). One subscription feeds them all; nodes wait until it has
//! caught up with the log before they answer, so a restarted node never answers from half a view.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use simledger_eventlog::catalog::{
    BreakoutRegion, ConnectionEvent, EsimProfileCreated, EsimStep, FleetSid, SimSid, SimStatus,
};
use simledger_eventlog::{Event, EventLog, Position};
use tokio::sync::watch;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SimEntry {
    pub iccid: String,
    pub account_sid: Option<String>,
    pub status: SimStatus,
    pub fleet_sid: Option<FleetSid>,
    pub unique_name: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FleetEntry {
    pub account_sid: String,
    pub nap_sid: String,
    pub sms_commands_enabled: bool,
    /// Where its data sessions break out; `None`: the default region.
    pub breakout: Option<BreakoutRegion>,
}

/// One IMSI: its SIM, whether it may attach, and the networks of its own it is kept to.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImsiEntry {
    pub sim_sid: SimSid,
    pub allowed: bool,
    /// Empty: the fleet's Network Access Profile alone decides.
    pub networks: HashSet<String>,
}

/// What the HSS knows: IMSIs, SIMs, fleets, NAPs.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct SubscriberView {
    pub imsis: HashMap<String, ImsiEntry>,
    pub sims: HashMap<SimSid, SimEntry>,
    pub fleets: HashMap<FleetSid, FleetEntry>,
    pub naps: HashMap<String, HashSet<String>>,
    /// The SIM of each ICCID (the SM-DP+ checks a profile's against it). An index of `sims`,
    /// so not in snapshots: [`SubscriberView::reindex`] rebuilds it.
    #[serde(skip)]
    pub by_iccid: HashMap<String, SimSid>,
}

impl SubscriberView {
    /// Rebuilds the indexes a snapshot leaves out.
    pub fn reindex(&mut self) {
        self.by_iccid = self.sims.iter().map(|(sid, s)| (s.iccid.clone(), sid.clone())).collect();
    }

    /// The breakout region of the SIM's fleet; `None`: the default (no fleet, no region, or a
    /// fleet the SIM's owner does not own).
    pub fn breakout_of(&self, sim_sid: &str) -> Option<BreakoutRegion> {
        let sim = self.sims.get(sim_sid)?;
        let fleet = self.fleets.get(sim.fleet_sid.as_ref()?)?;
        (sim.account_sid.as_deref() == Some(fleet.account_sid.as_str())).then_some(fleet.breakout?)
    }

    pub fn apply(&mut self, event: &Event) {
        match event {
            Event::SimProvisioned(p) => {
                for imsi in &p.imsis {
                    let entry = ImsiEntry { sim_sid: p.sim_sid.clone(), allowed: true, networks: HashSet::new() };
                    self.imsis.insert(imsi.clone(), entry);
                }
                self.by_iccid.insert(p.iccid.clone(), p.sim_sid.clone());
                self.sims.insert(
                    p.sim_sid.clone(),
                    SimEntry {
                        iccid: p.iccid.clone(),
                        account_sid: None,
                        status: SimStatus::New,
                        fleet_sid: None,
                        unique_name: None,
                    },
                );
            }
            Event::SimRegistered(r) => {
                self.by_iccid.insert(r.iccid.clone(), r.sim_sid.clone());
                let sim = self.sims.entry(r.sim_sid.clone()).or_insert_with(|| SimEntry {
                    iccid: r.iccid.clone(),
                    account_sid: None,
                    status: r.status,
                    fleet_sid: None,
                    unique_name: None,
                });
                sim.account_sid = Some(r.account_sid.clone());
                sim.status = r.status;
                sim.fleet_sid = r.fleet_sid.clone();
                sim.unique_name = r.unique_name.clone();
            }
            Event::SimUpdated(u) => {
                if let Some(sim) = self.sims.get_mut(u.sim_sid.as_str()) {
                    if let Some(name) = &u.unique_name {
                        sim.unique_name = name.clone();
                    }
                    if let Some(fleet) = &u.fleet_sid {
                        sim.fleet_sid = fleet.clone();
                    }
                }
                if let Some(disallowed) = &u.disallowed_imsis {
                    for (imsi, entry) in self.imsis.iter_mut() {
                        if entry.sim_sid == u.sim_sid {
                            entry.allowed = !disallowed.contains(imsi);
                        }
                    }
                }
            }
            Event::SimImsiUpdated(u) => {
                // Only the owner's change counts, or nobody's for a card in inventory (as in the
                // registry projection).
                let owner = self.sims.get(u.sim_sid.as_str()).map(|s| s.account_sid.as_deref());
                if owner != Some(u.account_sid.as_deref()) {
                    return;
                }
                if let Some(entry) = self.imsis.get_mut(u.imsi.as_str()).filter(|e| e.sim_sid == u.sim_sid) {
                    entry.allowed = u.allowed;
                    entry.networks = u.networks.iter().cloned().collect();
                }
            }
            Event::SimStatusChanged(s) => {
                // Only the owner's change counts (see the registry projection).
                if let Some(sim) = self.sims.get_mut(s.sim_sid.as_str()) {
                    if sim.account_sid.as_deref() == Some(s.account_sid.as_str()) {
                        sim.status = s.to;
                    }
                }
            }
            Event::FleetCreated(f) => {
                self.fleets.insert(
                    f.fleet_sid.clone(),
                    FleetEntry {
                        account_sid: f.account_sid.clone(),
                        nap_sid: f.network_access_profile_sid.clone(),
                        sms_commands_enabled: f.sms_commands_enabled,
                        breakout: None,
                    },
                );
            }
            Event::FleetUpdated(f) => {
                if let Some(fleet) = self.fleets.get_mut(f.fleet_sid.as_str()) {
                    if let Some(nap) = &f.network_access_profile_sid {
                        fleet.nap_sid = nap.clone();
                    }
                    if let Some(sms) = f.sms_commands_enabled {
                        fleet.sms_commands_enabled = sms;
                    }
                }
            }
            Event::FleetBreakoutSet(b) => {
                // The owner's setting only (commands check; a fold does not trust that alone).
                if let Some(fleet) = self.fleets.get_mut(b.fleet_sid.as_str()) {
                    if fleet.account_sid == b.account_sid {
                        fleet.breakout = b.region;
                    }
                }
            }
            Event::NapCreated(n) => {
                self.naps.insert(n.nap_sid.clone(), n.networks.iter().cloned().collect());
            }
            Event::NapNetworkAdded(n) => {
                self.naps.entry(n.nap_sid.clone()).or_default().insert(n.network_sid.clone());
            }
            Event::NapNetworkRemoved(n) => {
                if let Some(networks) = self.naps.get_mut(&n.nap_sid) {
                    networks.remove(&n.network_sid);
                }
            }
            _ => {}
        }
    }
}

/// A data session the log shows open: what a restarted PGW needs to carry it on (or close it
/// with what it had counted).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OpenSession {
    /// Its latest event (`started`, or the `updated` window that ends last): the context, APN,
    /// IP and totals. Windows can reach the log out of order after a crash, so the latest is
    /// chosen by its end, not by when it was logged.
    pub last: ConnectionEvent,
}

/// Data sessions started and not yet ended or failed, as the log shows them.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct SessionsView {
    pub open: HashMap<String, OpenSession>,
    /// The open sessions of each SIM (the SGW routes a datagram by it). An index of `open`,
    /// so not in snapshots: [`SessionsView::reindex`] rebuilds it.
    #[serde(skip)]
    by_sim: HashMap<String, HashSet<String>>,
}

impl SessionsView {
    pub fn reindex(&mut self) {
        self.by_sim.clear();
        for (sid, s) in &self.open {
            self.by_sim.entry(s.last.sim_sid.clone()).or_default().insert(sid.clone());
        }
    }

    /// The SIM's open sessions.
    pub fn of_sim(&self, sim_sid: &str) -> impl Iterator<Item = &OpenSession> {
        self.by_sim.get(sim_sid).into_iter().flatten().filter_map(|sid| self.open.get(sid))
    }

    pub fn apply(&mut self, event: &Event) {
        let Some(c) = event.connection() else { return };
        let Some(sid) = c.data_session_sid.as_deref() else { return };
        match event {
            Event::DataSessionStarted(_) => {
                self.open.insert(sid.to_owned(), OpenSession { last: c.clone() });
                self.by_sim.entry(c.sim_sid.clone()).or_default().insert(sid.to_owned());
            }
            Event::DataSessionUpdated(_) => {
                if let Some(s) = self.open.get_mut(sid) {
                    if c.data_session_update_end_time >= s.last.data_session_update_end_time {
                        s.last = c.clone();
                    }
                }
            }
            Event::DataSessionEnded(_) | Event::DataSessionFailed(_) => {
                if let Some(s) = self.open.remove(sid) {
                    if let Some(sids) = self.by_sim.get_mut(&s.last.sim_sid) {
                        sids.remove(sid);
                        if sids.is_empty() {
                            self.by_sim.remove(&s.last.sim_sid);
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

/// What the PGW knows: which SIMs are over their data limit, and until when (the end of the
/// billing period the block belongs to; `None`: until cleared).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct LimitsView {
    pub blocked: HashMap<SimSid, Option<DateTime<Utc>>>,
}

impl LimitsView {
    pub fn apply(&mut self, event: &Event) {
        match event {
            Event::SimDataLimitReached(d) => {
                self.blocked.insert(d.sim_sid.clone(), d.period_end);
            }
            Event::SimDataLimitCleared(d) => {
                self.blocked.remove(d.sim_sid.as_str());
            }
            _ => {}
        }
    }
}

/// Where a reserved eSIM profile stands, as the SM-DP+ decides downloads from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EsimStage {
    Available,
    Downloading,
    Downloaded,
    Installed,
    Failed,
}

impl From<EsimStep> for EsimStage {
    fn from(step: EsimStep) -> Self {
        match step {
            EsimStep::Downloading => Self::Downloading,
            EsimStep::Downloaded => Self::Downloaded,
            EsimStep::Installed => Self::Installed,
            EsimStep::Failed => Self::Failed,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EsimEntry {
    pub profile: EsimProfileCreated,
    pub stage: EsimStage,
    /// The eUICC it went to, once a download began.
    pub eid: Option<String>,
}

/// What the SM-DP+ knows: the profiles reserved, by SID, and indexes of them by matching ID,
/// ICCID and (for those reserved without a matching ID) EID. Snapshots hold the profiles alone;
/// [`EsimView::reindex`] rebuilds the indexes.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct EsimView {
    pub profiles: HashMap<String, EsimEntry>,
    #[serde(skip)]
    pub by_matching_id: HashMap<String, String>,
    #[serde(skip)]
    pub by_iccid: HashMap<String, String>,
    #[serde(skip)]
    pub by_eid: HashMap<String, Vec<String>>,
}

impl EsimView {
    fn index(&mut self, p: &EsimProfileCreated) {
        if let Some(m) = &p.matching_id {
            self.by_matching_id.insert(m.clone(), p.esim_profile_sid.clone());
        }
        self.by_iccid.insert(p.iccid.clone(), p.esim_profile_sid.clone());
        if let (Some(eid), None) = (&p.eid, &p.matching_id) {
            self.by_eid.entry(eid.clone()).or_default().push(p.esim_profile_sid.clone());
        }
    }

    /// Rebuilds the indexes a snapshot leaves out.
    pub fn reindex(&mut self) {
        // Taken out while indexing, so the profiles are read in place, not copied.
        let profiles = std::mem::take(&mut self.profiles);
        for e in profiles.values() {
            self.index(&e.profile);
        }
        self.profiles = profiles;
    }

    pub fn apply(&mut self, event: &Event) {
        let (p, stage) = match event {
            Event::EsimProfileCreated(p) => {
                self.index(p);
                let entry = EsimEntry { profile: p.clone(), stage: EsimStage::Available, eid: None };
                self.profiles.insert(p.esim_profile_sid.clone(), entry);
                return;
            }
            _ => match event.esim_progress() {
                Some((step, p)) => (p, EsimStage::from(step)),
                None => return,
            },
        };
        if let Some(entry) = self.profiles.get_mut(&p.esim_profile_sid) {
            // Steps only move forward: a redelivered earlier step changes nothing.
            if stage > entry.stage {
                entry.stage = stage;
                entry.eid = Some(p.eid.clone());
            }
        }
    }

    /// The profile a matching ID names.
    pub fn by_matching_id(&self, matching_id: &str) -> Option<&EsimEntry> {
        self.by_matching_id.get(matching_id).and_then(|sid| self.profiles.get(sid))
    }

    /// The profiles reserved for `eid` without a matching ID, oldest SID first.
    pub fn reserved_for(&self, eid: &str) -> Vec<&EsimEntry> {
        let mut reserved: Vec<&EsimEntry> =
            self.by_eid.get(eid).into_iter().flatten().filter_map(|sid| self.profiles.get(sid)).collect();
        reserved.sort_by(|a, b| a.profile.esim_profile_sid.cmp(&b.profile.esim_profile_sid));
        reserved
    }
}

/// The views, shared by the nodes of one process.
pub struct CoreViews {
    pub subscribers: RwLock<SubscriberView>,
    pub limits: RwLock<LimitsView>,
    pub sessions: RwLock<SessionsView>,
    pub esims: RwLock<EsimView>,
    position: watch::Sender<Position>,
    /// The task feeding the views. It holds them, so they are never dropped while it runs:
    /// whoever owns the nodes stops it ([`CoreViews::stop`]).
    feeder: std::sync::OnceLock<tokio::task::AbortHandle>,
}

impl CoreViews {
    /// Starts following the log: from the latest snapshot's position if there is one (see
    /// [`crate::snapshot`]), else from 0.
    pub fn follow(log: EventLog) -> Arc<Self> {
        let views = Arc::new(Self {
            subscribers: RwLock::new(SubscriberView::default()),
            limits: RwLock::new(LimitsView::default()),
            sessions: RwLock::new(SessionsView::default()),
            esims: RwLock::new(EsimView::default()),
            position: watch::channel(0).0,
            feeder: std::sync::OnceLock::new(),
        });
        let feeder = views.clone();
        let task = tokio::spawn(simledger_cputime::metered("views", async move {
            feeder.restore(&log).await;
            loop {
                if let Err(e) = feeder.feed(&log).await {
                    tracing::error!(error = %e, "core views stopped following the log; resuming");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }));
        let _ = views.feeder.set(task.abort_handle());
        views
    }

    /// Loads the latest snapshot, if any; a missing or unreadable one means a replay from 0.
    async fn restore(&self, log: &EventLog) {
        match crate::snapshot::latest(log.pool()).await {
            Ok(Some((position, mut s))) => {
                s.subscribers.reindex();
                s.esims.reindex();
                s.sessions.reindex();
                *self.subscribers.write().expect("view lock") = s.subscribers;
                *self.limits.write().expect("view lock") = s.limits;
                *self.sessions.write().expect("view lock") = s.sessions;
                *self.esims.write().expect("view lock") = s.esims;
                self.position.send_replace(position);
                tracing::info!(position, "core views restored from a snapshot");
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "no usable snapshot of the core views; following the log from 0"),
        }
    }

    /// Serialises the views and the position they hold, under their read locks: exactly the
    /// views at that position.
    pub fn snapshot_bytes(&self) -> serde_json::Result<(Position, Vec<u8>)> {
        let subscribers = self.subscribers.read().expect("view lock");
        let limits = self.limits.read().expect("view lock");
        let sessions = self.sessions.read().expect("view lock");
        let esims = self.esims.read().expect("view lock");
        let position = *self.position.borrow();
        let snapshot = crate::snapshot::SnapshotRef {
            subscribers: &subscribers,
            limits: &limits,
            sessions: &sessions,
            esims: &esims,
        };
        Ok((position, serde_json::to_vec(&snapshot)?))
    }

    /// Writes a snapshot of the views as they are now; returns its position.
    pub async fn snapshot_now(&self, log: &EventLog) -> Result<Position, crate::snapshot::SnapshotError> {
        let (position, data) = self.snapshot_bytes()?;
        crate::snapshot::save(log.pool(), position, data).await?;
        Ok(position)
    }

    /// Stops following the log; the views keep what they had.
    pub fn stop(&self) {
        if let Some(task) = self.feeder.get() {
            task.abort();
        }
    }

    async fn feed(&self, log: &EventLog) -> simledger_eventlog::Result<()> {
        let from = *self.position.borrow();
        let mut subscription = log.subscribe(from, 5000).await?;
        let mut since_snapshot = 0u64;
        loop {
            let events = subscription.next_batch().await?;
            {
                let mut subscribers = self.subscribers.write().expect("view lock");
                let mut limits = self.limits.write().expect("view lock");
                let mut sessions = self.sessions.write().expect("view lock");
                let mut esims = self.esims.write().expect("view lock");
                for e in &events {
                    subscribers.apply(&e.event);
                    limits.apply(&e.event);
                    sessions.apply(&e.event);
                    esims.apply(&e.event);
                }
                // Moved under the locks, so a snapshot never pairs these views with another position.
                self.position.send_replace(subscription.position());
            }
            since_snapshot += events.len() as u64;
            if since_snapshot >= crate::snapshot::SNAPSHOT_EVERY {
                since_snapshot = 0;
                // Serialised here, at a batch boundary; written in the background, so the views
                // follow the log on while the database takes it.
                match self.snapshot_bytes() {
                    Ok((position, data)) => {
                        let pool = log.pool().clone();
                        tokio::spawn(async move {
                            if let Err(e) = crate::snapshot::save(&pool, position, data).await {
                                tracing::warn!(error = %e, "a snapshot of the core views was not written; the next one will be");
                            }
                        });
                    }
                    Err(e) => tracing::warn!(error = %e, "the core views could not be serialised for a snapshot"),
                }
            }
        }
    }

    pub fn position(&self) -> Position {
        *self.position.borrow()
    }

    /// The position the views have applied, as it moves.
    pub fn progress(&self) -> watch::Receiver<Position> {
        self.position.subscribe()
    }

    /// Waits until the views have applied `position` (bounded by `timeout`).
    pub async fn reached(&self, position: Position, timeout: Duration) -> bool {
        let mut rx = self.position.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|p| *p >= position)).await.is_ok_and(|r| r.is_ok())
    }

    /// Waits until the views have caught up with the log's head as it is now.
    pub async fn caught_up(&self, log: &EventLog, timeout: Duration) -> bool {
        match log.head().await {
            Ok(head) => self.reached(head, timeout).await,
            Err(_) => false,
        }
    }

    /// Whether the SIM may pass no data at `at`: over its data limit (a block ends with its
    /// billing period), or no longer in a status that may attach (suspended mid-session, by a
    /// customer or by billing's `*suspend_sim`).
    /// The breakout region of the SIM's fleet, as the log says now; `None`: the default (no
    /// fleet, no region, or a fleet the SIM's owner does not own).
    pub fn breakout_of(&self, sim_sid: &str) -> Option<BreakoutRegion> {
        self.subscribers.read().expect("view lock").breakout_of(sim_sid)
    }

    pub fn is_blocked(&self, sim_sid: &str, at: DateTime<Utc>) -> bool {
        let suspended =
            self.subscribers.read().expect("view lock").sims.get(sim_sid).is_some_and(|s| !s.status.may_attach());
        if suspended {
            return true;
        }
        match self.limits.read().expect("view lock").blocked.get(sim_sid) {
            Some(Some(until)) => at < *until,
            Some(None) => true,
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use simledger_eventlog::catalog::{FleetBreakoutSet, FleetCreated};

    const FLEET: &str = "HF00000000000000000000000000000001";

    fn fleet_created(account: &str) -> Event {
        Event::FleetCreated(FleetCreated {
            fleet_sid: FLEET.parse().unwrap(),
            account_sid: account.into(),
            unique_name: None,
            data_enabled: true,
            data_limit_mb: 250,
            data_metering: "payg".into(),
            network_access_profile_sid: "HA00000000000000000000000000000001".into(),
            sms_commands_enabled: true,
            sms_commands_url: None,
            sms_commands_method: None,
            ip_commands_url: None,
            ip_commands_method: None,
        })
    }

    fn breakout(account: &str, region: Option<BreakoutRegion>) -> Event {
        Event::FleetBreakoutSet(FleetBreakoutSet {
            fleet_sid: FLEET.parse().unwrap(),
            account_sid: account.into(),
            region,
        })
    }

    #[test]
    fn only_the_fleets_owner_sets_its_breakout_region() {
        let mut view = SubscriberView::default();
        view.apply(&fleet_created("AC1"));
        view.apply(&breakout("AC2", Some(BreakoutRegion::ApSoutheast)));
        assert_eq!(view.fleets[FLEET].breakout, None, "another account's setting is not applied");
        view.apply(&breakout("AC1", Some(BreakoutRegion::EuWest)));
        assert_eq!(view.fleets[FLEET].breakout, Some(BreakoutRegion::EuWest));
        view.apply(&breakout("AC1", None));
        assert_eq!(view.fleets[FLEET].breakout, None, "back to the default");
    }
}
