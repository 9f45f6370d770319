//! The device-signals decider: spots SIMs behaving as stolen or hacked ones do, from the log's
//! connection events, and appends `sim.signal_raised` (an Event Streams type). A fleet's policy
//! (`fleet.signal_policy_set`) sets its thresholds and names a billing action group, which
//! billing runs on the SIM's billing account for each signal: `*suspend_sim`, `*http_post`,
//! `*set_fleet_data_limit`, or any other action.
//!
//! | signal | raised when |
//! |---|---|
//! | `imei_changed` | an accepted attach from another IMEI than the SIM's last |
//! | `impossible_travel` | two accepted attaches in countries farther apart than an airliner covers in the time between (see [`rule`]) |
//! | `usage_spike` | a data window above the fleet's factor times the SIM's own baseline |
//! | `attach_storm` | the fleet's number of rejected attaches within ten minutes |
//!
//! The rule is pure ([`rule::step`], given/when/then tests); the state it needs is folded into
//! `signal_sims` and `signal_fleets`, written with the checkpoint; decisions' ids are derived
//! from their cause, so a crash and a re-run append nothing twice.

pub mod rule;

use std::collections::{HashMap, HashSet};

use simledger_eventlog::catalog::{ConnectionEvent, FleetSignalPolicySet, SimSid, SimSignalRaised};
use simledger_eventlog::checkpoint::{ApplyError, Subscriber};
use simledger_eventlog::{Event, EventLog, ExpectedVersion, Metadata, NewEvent, RecordedEvent};
use sqlx::PgConnection;
use uuid::Uuid;

use rule::{Observation, SimState, Thresholds};

pub const NAME: &str = "device_signals";

/// SIMs kept in memory between batches; beyond this the cache starts afresh (the table has all).
const CACHED_SIMS: usize = 200_000;

#[derive(Debug, Clone)]
struct FleetPolicy {
    account_sid: String,
    thresholds: Thresholds,
    actions_id: Option<String>,
}

#[derive(Clone)]
pub struct DeviceSignals {
    log: EventLog,
    sims: HashMap<String, SimState>,
    fleets: HashMap<String, Option<FleetPolicy>>,
    dirty: HashSet<String>,
}

impl DeviceSignals {
    pub fn new(log: EventLog) -> Self {
        Self { log, sims: HashMap::new(), fleets: HashMap::new(), dirty: HashSet::new() }
    }

    async fn fleet(&mut self, tx: &mut PgConnection, fleet_sid: &str) -> sqlx::Result<Option<FleetPolicy>> {
        if let Some(p) = self.fleets.get(fleet_sid) {
            return Ok(p.clone());
        }
        let row: Option<(String, Option<String>, i64, i64)> = sqlx::query_as(
            "SELECT account_sid, actions_id, usage_spike_factor, attach_storm_rejections FROM signal_fleets \
             WHERE fleet_sid = $1",
        )
        .bind(fleet_sid)
        .fetch_optional(&mut *tx)
        .await?;
        let policy = row.map(|(account_sid, actions_id, factor, storm)| FleetPolicy {
            account_sid,
            thresholds: Thresholds { usage_spike_factor: factor, attach_storm_rejections: storm },
            actions_id,
        });
        self.fleets.insert(fleet_sid.to_owned(), policy.clone());
        Ok(policy)
    }

    /// Loads, in one query, the stored state of every SIM the batch observes that is not in
    /// memory; a SIM never stored starts afresh.
    async fn prefetch(&mut self, tx: &mut PgConnection, events: &[RecordedEvent]) -> Result<(), ApplyError> {
        let mut missing: Vec<&str> = events
            .iter()
            .filter_map(|e| observed(&e.event))
            .map(|c| c.sim_sid.as_str())
            .filter(|sid| !self.sims.contains_key(*sid) && SimSid::parse(sid).is_ok())
            .collect();
        missing.sort_unstable();
        missing.dedup();
        if missing.is_empty() {
            return Ok(());
        }
        let stored: Vec<(String, serde_json::Value)> =
            sqlx::query_as("SELECT sim_sid, state FROM signal_sims WHERE sim_sid = ANY($1)")
                .bind(&missing)
                .fetch_all(&mut *tx)
                .await?;
        for sid in missing {
            self.sims.insert(sid.to_owned(), SimState::default());
        }
        for (sid, state) in stored {
            self.sims.insert(sid, serde_json::from_value(state)?);
        }
        Ok(())
    }

    async fn observe(
        &mut self,
        tx: &mut PgConnection,
        e: &RecordedEvent,
        c: &ConnectionEvent,
        decisions: &mut Vec<NewEvent>,
    ) -> Result<(), ApplyError> {
        // A refusal of an unknown IMSI names no SIM: nobody's to watch.
        let Ok(sim_sid) = SimSid::parse(&c.sim_sid) else { return Ok(()) };
        let policy = match &c.fleet_sid {
            Some(f) => self.fleet(tx, f).await?.filter(|p| p.account_sid == c.account_sid),
            None => None,
        };
        let thresholds = policy.as_ref().map(|p| p.thresholds).unwrap_or_default();
        // A device's clock is its own: a time after the event was logged would freeze the
        // SIM's last place and hide what follows, so it counts as the logging time.
        let at = |t: chrono::DateTime<chrono::Utc>| t.min(e.recorded_at);
        let obs = match &e.event {
            Event::AttachmentAccepted(_) => {
                Observation::Attached { imei: c.imei.as_deref(), country: &c.network.iso_country, at: at(c.timestamp) }
            }
            Event::AttachmentRejected(_) => Observation::Refused { at: at(c.timestamp) },
            _ => Observation::Window {
                bytes: c.data_total.unwrap_or(0),
                at: at(c.data_session_update_end_time.unwrap_or(c.timestamp)),
            },
        };
        let state = self.sims.entry(sim_sid.to_string()).or_default();
        let raised = rule::step(state, obs, &thresholds);
        self.dirty.insert(sim_sid.to_string());
        for (signal, detail) in raised {
            let event = Event::SimSignalRaised(SimSignalRaised {
                sim_sid: sim_sid.clone(),
                account_sid: c.account_sid.clone(),
                fleet_sid: c.fleet_sid.clone(),
                signal,
                detail,
                actions_id: policy.as_ref().and_then(|p| p.actions_id.clone()),
                timestamp: c.timestamp,
            });
            let id = signal_id(e.event_id, signal.as_str());
            let meta = Metadata::from_source(NAME).with_account(c.account_sid.clone());
            decisions.push(NewEvent::new(id, format!("signals-{sim_sid}"), &event, &meta)?);
        }
        Ok(())
    }

    async fn set_policy(&mut self, tx: &mut PgConnection, p: &FleetSignalPolicySet) -> sqlx::Result<()> {
        sqlx::query(
            "INSERT INTO signal_fleets (fleet_sid, account_sid, actions_id, usage_spike_factor, attach_storm_rejections) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (fleet_sid) DO UPDATE SET actions_id = $3, \
             usage_spike_factor = $4, attach_storm_rejections = $5 WHERE signal_fleets.account_sid = $2",
        )
        .bind(&p.fleet_sid)
        .bind(&p.account_sid)
        .bind(&p.actions_id)
        .bind(p.usage_spike_factor)
        .bind(p.attach_storm_rejections)
        .execute(&mut *tx)
        .await?;
        self.fleets.remove(p.fleet_sid.as_str());
        Ok(())
    }

    async fn flush(&mut self, tx: &mut PgConnection) -> Result<(), ApplyError> {
        if self.dirty.is_empty() {
            return Ok(());
        }
        let mut sids = Vec::with_capacity(self.dirty.len());
        let mut states = Vec::with_capacity(self.dirty.len());
        for sid in self.dirty.drain() {
            if let Some(state) = self.sims.get(&sid) {
                states.push(serde_json::to_value(state)?);
                sids.push(sid);
            }
        }
        sqlx::query(
            "INSERT INTO signal_sims (sim_sid, state) SELECT * FROM unnest($1::text[], $2::jsonb[]) \
             ON CONFLICT (sim_sid) DO UPDATE SET state = EXCLUDED.state",
        )
        .bind(&sids)
        .bind(&states)
        .execute(&mut *tx)
        .await?;
        if self.sims.len() > CACHED_SIMS {
            self.sims.clear();
        }
        Ok(())
    }
}

/// The connection event inside, for the types the rule observes.
fn observed(event: &Event) -> Option<&ConnectionEvent> {
    match event {
        Event::AttachmentAccepted(c) | Event::AttachmentRejected(c) | Event::DataSessionUpdated(c) => Some(c),
        _ => None,
    }
}

/// The id of the signal `kind` raised by the event `cause`.
pub fn signal_id(cause: Uuid, kind: &str) -> Uuid {
    Uuid::new_v5(&cause, format!("simledger-signal:{kind}").as_bytes())
}

impl Subscriber for DeviceSignals {
    fn name(&self) -> &str {
        NAME
    }

    async fn apply(&mut self, tx: &mut PgConnection, events: &[RecordedEvent]) -> Result<(), ApplyError> {
        self.prefetch(tx, events).await?;
        let mut decisions = Vec::new();
        for e in events {
            if let Event::FleetSignalPolicySet(p) = &e.event {
                self.set_policy(tx, p).await?;
            } else if let Some(c) = observed(&e.event) {
                self.observe(tx, e, c, &mut decisions).await?;
            }
        }
        self.flush(tx).await?;
        if !decisions.is_empty() {
            self.log.append(decisions, ExpectedVersion::Any).await?;
        }
        Ok(())
    }
}
