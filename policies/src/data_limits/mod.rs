//! Data-limit enforcement: the decider that blocks a SIM over its fleet's limit.
//!
//! Every `data-session.updated`/`ended` window adds its `data_total` to the SIM's current
//! period. When a SIM goes over its fleet's `DataLimit` (or its fleet has data disabled), the
//! enforcer appends `sim.data_limit_reached`; a raised limit, data re-enabled, a move to a
//! fleet with room, or the end of the period appends `sim.data_limit_cleared`. The PGW obeys
//! those events; the `limits` read model folds them for the API.
//!
//! What to decide is [`rule`] (pure, tested given/when/then); this module keeps the state it
//! needs, folded from the log alone into its own `limit_enforcer_*` tables, and appends the
//! decisions while the batch's transaction is open, with event ids derived from the SIM, the
//! period and the decision's number in it. If the process dies before the batch commits, the
//! re-run takes the same decisions with the same ids, and the log stores each once: exactly
//! one `reached` per crossing.

pub mod rule;

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use simledger_eventlog::catalog::{ConnectionEvent, DataLimitDecision, SimStatus};
use simledger_eventlog::{Event, EventLog, ExpectedVersion, Metadata, NewEvent, RecordedEvent};
use simledger_ids::{FleetSid, SimSid};
use sqlx::PgConnection;

use simledger_eventlog::dead_letter::Unapplicable;
use simledger_projections::billing_periods::{period_sid, usage_period, usage_time, Anchors};
use simledger_projections::{ApplyError, Subscriber};

use rule::{Cause, Reason, Rule, Verdict};

/// The enforcer's checkpoint name.
pub const NAME: &str = "data-limit-enforcer";

/// Its tables: its own state, folded from the log; nothing else reads them.
pub const TABLES: &[&str] = &["limit_enforcer_sims", "limit_enforcer_fleets", "limit_enforcer_periods"];

/// The decider. Its hot path, a usage window, runs from memory: each SIM (with its fleet's
/// rule) and its latest period are read from the tables once, then kept; changed periods are
/// written back in one statement per batch, in the batch's transaction. The caches hold only
/// what this worker wrote or read, and the runner restarts a failed worker from a fresh
/// instance, so a rolled-back batch never leaves them ahead of the tables. The rare paths
/// (registrations, fleet changes, rollovers) write the tables first and drop what they touch.
#[derive(Clone)]
pub struct DataLimitEnforcer {
    log: EventLog,
    /// The earliest end of a blocked period: usage before it cannot roll any block over, so
    /// the rollover query is skipped.
    next_rollover: Option<DateTime<Utc>>,
    /// Whether `next_rollover` was read from the tables: once per worker, then kept in memory
    /// with them, since only this worker writes them (a round trip less per batch).
    rollover_known: bool,
    sims: HashMap<String, SimRow>,
    /// Each SIM's latest period, as this worker knows it.
    periods: HashMap<String, PeriodRow>,
    /// Periods changed in memory and not yet written.
    dirty: HashSet<(String, DateTime<Utc>)>,
    /// Changed periods pushed out of `periods` by a newer one, not yet written.
    evicted: Vec<PeriodRow>,
}

impl DataLimitEnforcer {
    pub fn new(log: EventLog) -> Self {
        Self {
            log,
            next_rollover: None,
            rollover_known: false,
            sims: HashMap::new(),
            periods: HashMap::new(),
            dirty: HashSet::new(),
            evicted: Vec::new(),
        }
    }

    /// Writes every changed period back (absolute values: memory is authoritative for them).
    async fn flush(&mut self, tx: &mut PgConnection) -> sqlx::Result<()> {
        let mut rows: Vec<PeriodRow> = std::mem::take(&mut self.evicted);
        for (sim, start) in self.dirty.drain() {
            if let Some(p) = self.periods.get(&sim).filter(|p| p.period_start == start) {
                rows.push(p.clone());
            }
        }
        if rows.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO limit_enforcer_periods (sim_sid, period_start, period_end, period_type, used_bytes, blocked, decisions) \
             SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[], $4::text[], $5::bigint[], \
             $6::bool[], $7::int[]) \
             ON CONFLICT (sim_sid, period_start) DO UPDATE SET used_bytes = EXCLUDED.used_bytes, \
             blocked = EXCLUDED.blocked, decisions = EXCLUDED.decisions",
        )
        .bind(rows.iter().map(|r| r.sim_sid.clone()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.period_start).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.period_end).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.period_type.clone()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.used_bytes).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.blocked).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.decisions).collect::<Vec<_>>())
        .execute(tx)
        .await?;
        Ok(())
    }

    /// Before a rare path writes the tables itself: memory out, then forget it.
    async fn settle(&mut self, tx: &mut PgConnection) -> sqlx::Result<()> {
        self.flush(tx).await?;
        self.sims.clear();
        self.periods.clear();
        Ok(())
    }
}

/// A SIM with its fleet's rule, in one query.
#[derive(Clone, sqlx::FromRow)]
struct SimRow {
    account_sid: String,
    fleet_sid: Option<FleetSid>,
    ready_at: Option<DateTime<Utc>>,
    active_at: Option<DateTime<Utc>>,
    data_limit_mb: Option<i64>,
    data_enabled: Option<bool>,
}

impl SimRow {
    /// The fleet's rule; `None` when the SIM has no fleet (nothing to enforce).
    fn rule(&self) -> Option<Rule> {
        Some(Rule::of_fleet(self.data_limit_mb?, self.data_enabled?))
    }
}

#[derive(Clone, sqlx::FromRow)]
struct PeriodRow {
    sim_sid: String,
    period_start: DateTime<Utc>,
    period_end: DateTime<Utc>,
    period_type: String,
    used_bytes: i64,
    blocked: bool,
    decisions: i32,
}

impl PeriodRow {
    /// What the rule sees of the row.
    fn state(&self) -> rule::Period {
        rule::Period { used_bytes: self.used_bytes, blocked: self.blocked, decisions: self.decisions }
    }

    fn set(&mut self, p: rule::Period) {
        (self.used_bytes, self.blocked, self.decisions) = (p.used_bytes, p.blocked, p.decisions);
    }
}

impl Subscriber for DataLimitEnforcer {
    fn name(&self) -> &str {
        NAME
    }

    async fn apply(&mut self, tx: &mut PgConnection, events: &[RecordedEvent]) -> Result<(), ApplyError> {
        let (taken_up, started) = (chrono::Utc::now(), std::time::Instant::now());
        let mut decisions = Vec::new();
        if !self.rollover_known {
            self.next_rollover = earliest_blocked_end(tx).await?;
            self.rollover_known = true;
        }
        for e in events {
            let decided = decisions.len();
            if !matches!(e.event, Event::DataSessionUpdated(_) | Event::DataSessionEnded(_)) && touches_tables(&e.event)
            {
                self.settle(tx).await?;
            }
            match &e.event {
                Event::SimRegistered(r) => {
                    sqlx::query(
                        "INSERT INTO limit_enforcer_sims (sim_sid, account_sid, fleet_sid) VALUES ($1, $2, $3) \
                         ON CONFLICT (sim_sid) DO UPDATE SET account_sid = $2, fleet_sid = $3",
                    )
                    .bind(&r.sim_sid)
                    .bind(&r.account_sid)
                    .bind(&r.fleet_sid)
                    .execute(&mut *tx)
                    .await?;
                }
                Event::SimUpdated(u) => {
                    if let Some(fleet) = &u.fleet_sid {
                        sqlx::query("UPDATE limit_enforcer_sims SET fleet_sid = $2 WHERE sim_sid = $1")
                            .bind(&u.sim_sid)
                            .bind(fleet)
                            .execute(&mut *tx)
                            .await?;
                        reevaluate(tx, &u.sim_sid, Reason::FleetChanged, &mut decisions).await?;
                    }
                }
                Event::SimStatusChanged(s) => {
                    let column = match s.to {
                        SimStatus::Ready => "ready_at",
                        SimStatus::Active => "active_at",
                        _ => continue,
                    };
                    // Only the first move counts: periods run from the first activation.
                    sqlx::query(&format!(
                        "UPDATE limit_enforcer_sims SET {column} = coalesce({column}, $2) WHERE sim_sid = $1 AND account_sid = $3"
                    ))
                    .bind(&s.sim_sid)
                    .bind(e.recorded_at)
                    .bind(&s.account_sid)
                    .execute(&mut *tx)
                    .await?;
                }
                Event::FleetCreated(f) => {
                    sqlx::query(
                        "INSERT INTO limit_enforcer_fleets (fleet_sid, data_limit_mb, data_enabled) VALUES ($1, $2, $3) \
                         ON CONFLICT (fleet_sid) DO NOTHING",
                    )
                    .bind(&f.fleet_sid)
                    .bind(f.data_limit_mb)
                    .bind(f.data_enabled)
                    .execute(&mut *tx)
                    .await?;
                }
                Event::FleetUpdated(f) if f.data_limit_mb.is_some() || f.data_enabled.is_some() => {
                    sqlx::query(
                        "UPDATE limit_enforcer_fleets SET data_limit_mb = coalesce($2, data_limit_mb), \
                         data_enabled = coalesce($3, data_enabled) WHERE fleet_sid = $1",
                    )
                    .bind(&f.fleet_sid)
                    .bind(f.data_limit_mb)
                    .bind(f.data_enabled)
                    .execute(&mut *tx)
                    .await?;
                    let sims: Vec<String> =
                        sqlx::query_scalar("SELECT sim_sid FROM limit_enforcer_sims WHERE fleet_sid = $1")
                            .bind(&f.fleet_sid)
                            .fetch_all(&mut *tx)
                            .await?;
                    let reason = if f.data_enabled == Some(true) { Reason::DataEnabled } else { Reason::LimitChanged };
                    for sim in sims {
                        reevaluate(tx, &sim, reason, &mut decisions).await?;
                    }
                }
                Event::DataSessionUpdated(c) | Event::DataSessionEnded(c) => {
                    let at = usage_time(c);
                    // At every usage event rather than once per batch: the decisions, and so
                    // their ids, must not depend on how the log was cut into batches.
                    if self.next_rollover.is_some_and(|end| at >= end) {
                        self.settle(tx).await?;
                        roll_over(tx, at, &mut decisions).await?;
                        self.next_rollover = earliest_blocked_end(tx).await?;
                    }
                    let before = decisions.len();
                    self.record_usage(tx, c, at, &mut decisions).await?;
                    // A block moves the next boundary no later than its period's end, known in
                    // memory. A lift may leave the boundary early: that costs one rollover query
                    // that finds nothing, never a decision, so no round trip is spent here.
                    if decisions.len() != before {
                        if let Some(p) = self.periods.get(&c.sim_sid).filter(|p| p.blocked) {
                            self.next_rollover = Some(self.next_rollover.map_or(p.period_end, |n| n.min(p.period_end)));
                        }
                    }
                    continue;
                }
                _ => {}
            }
            if decisions.len() != decided {
                // A block was set or lifted in the tables: the next boundary may have moved.
                self.flush(tx).await?;
                self.next_rollover = earliest_blocked_end(tx).await?;
            }
        }
        self.flush(tx).await?;
        if !decisions.is_empty() {
            let (count, decided) = (decisions.len(), std::time::Instant::now());
            self.log.append(decisions, ExpectedVersion::Any).await?;
            // Where a reaction's time goes (`bench limits`): how old the batch's first event
            // was when it was taken up, the batch's work, and the wait for the append.
            tracing::debug!(
                events = events.len(),
                decisions = count,
                oldest_ms = events.first().map_or(0, |e| (taken_up - e.recorded_at).num_milliseconds()),
                decide_ms = (decided - started).as_millis() as u64,
                append_ms = decided.elapsed().as_millis() as u64,
                "decisions appended"
            );
        }
        Ok(())
    }
}

async fn earliest_blocked_end(tx: &mut PgConnection) -> sqlx::Result<Option<DateTime<Utc>>> {
    sqlx::query_scalar("SELECT min(period_end) FROM limit_enforcer_periods WHERE blocked").fetch_one(tx).await
}

async fn sim_row(tx: &mut PgConnection, sim_sid: &str) -> sqlx::Result<Option<SimRow>> {
    sqlx::query_as(
        "SELECT s.account_sid, s.fleet_sid, s.ready_at, s.active_at, f.data_limit_mb, f.data_enabled \
         FROM limit_enforcer_sims s LEFT JOIN limit_enforcer_fleets f USING (fleet_sid) WHERE s.sim_sid = $1",
    )
    .bind(sim_sid)
    .fetch_optional(tx)
    .await
}

impl DataLimitEnforcer {
    /// Adds a window's bytes to the SIM's period, from memory, and blocks it if now over.
    async fn record_usage(
        &mut self,
        tx: &mut PgConnection,
        c: &ConnectionEvent,
        at: DateTime<Utc>,
        decisions: &mut Vec<NewEvent>,
    ) -> Result<(), ApplyError> {
        let bytes = c.data_total.unwrap_or(0);
        if !self.sims.contains_key(&c.sim_sid) {
            let Some(row) = sim_row(tx, &c.sim_sid).await? else { return Ok(()) };
            self.sims.insert(c.sim_sid.clone(), row);
        }
        let sim = &self.sims[&c.sim_sid];
        let anchors = Anchors { ready_at: sim.ready_at, active_at: sim.active_at };
        let Some(period) = usage_period(anchors, at) else { return Ok(()) };
        let cached = self.periods.get(&c.sim_sid).is_some_and(|p| p.period_start == period.start);
        if !cached {
            let stored: Option<PeriodRow> = sqlx::query_as(
                "SELECT sim_sid, period_start, period_end, period_type, used_bytes, blocked, decisions \
                 FROM limit_enforcer_periods WHERE sim_sid = $1 AND period_start = $2",
            )
            .bind(&c.sim_sid)
            .bind(period.start)
            .fetch_optional(&mut *tx)
            .await?;
            let row = stored.unwrap_or(PeriodRow {
                sim_sid: c.sim_sid.clone(),
                period_start: period.start,
                period_end: period.end,
                period_type: period.kind.to_owned(),
                used_bytes: 0,
                blocked: false,
                decisions: 0,
            });
            if let Some(old) = self.periods.insert(c.sim_sid.clone(), row) {
                if self.dirty.remove(&(old.sim_sid.clone(), old.period_start)) {
                    self.evicted.push(old);
                }
            }
        }
        let row = self.periods.get_mut(&c.sim_sid).expect("inserted above");
        self.dirty.insert((row.sim_sid.clone(), row.period_start));
        let sim = &self.sims[&c.sim_sid];
        let rule = sim.rule();
        let cause = Cause::Usage(bytes);
        let verdict = rule::decide(&row.state(), rule, cause);
        let decided_at = row.state();
        row.set(rule::evolve(row.state(), cause, verdict));
        if let Some(v) = verdict {
            // The decision states the period after the usage, numbered before it.
            decisions.push(decision(row, decided_at.decisions, sim, rule, v)?);
        }
        Ok(())
    }
}

/// Whether an event makes the projection write its tables outside the usage path.
fn touches_tables(e: &Event) -> bool {
    matches!(
        e,
        Event::SimRegistered(_)
            | Event::SimUpdated(_)
            | Event::SimStatusChanged(_)
            | Event::FleetCreated(_)
            | Event::FleetUpdated(_)
    )
}

/// Decides again for the SIM's latest period (its fleet or the fleet's rule changed).
async fn reevaluate(
    tx: &mut PgConnection,
    sim_sid: &str,
    reason: Reason,
    decisions: &mut Vec<NewEvent>,
) -> Result<(), ApplyError> {
    let Some(sim) = sim_row(tx, sim_sid).await? else { return Ok(()) };
    let row: Option<PeriodRow> = sqlx::query_as(
        "SELECT sim_sid, period_start, period_end, period_type, used_bytes, blocked, decisions \
         FROM limit_enforcer_periods WHERE sim_sid = $1 ORDER BY period_start DESC LIMIT 1",
    )
    .bind(sim_sid)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else { return Ok(()) };
    decide_and_store(tx, &row, &sim, Cause::RuleChanged(reason), decisions).await
}

/// Asks the rule about a stored period; a verdict is appended and written back.
async fn decide_and_store(
    tx: &mut PgConnection,
    row: &PeriodRow,
    sim: &SimRow,
    cause: Cause,
    decisions: &mut Vec<NewEvent>,
) -> Result<(), ApplyError> {
    let rule = sim.rule();
    if let Some(v) = rule::decide(&row.state(), rule, cause) {
        decisions.push(decision(row, row.decisions, sim, rule, v)?);
        sqlx::query(
            "UPDATE limit_enforcer_periods SET blocked = $3, decisions = decisions + 1 \
             WHERE sim_sid = $1 AND period_start = $2",
        )
        .bind(&row.sim_sid)
        .bind(row.period_start)
        .bind(v.block)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// The `n`th decision of a period, as the event the PGW and the read models follow.
fn decision(row: &PeriodRow, n: i32, sim: &SimRow, rule: Option<Rule>, v: Verdict) -> Result<NewEvent, ApplyError> {
    // Usage names its SIM as text (connection events carry what the core reported); a decision
    // is about a SIM, so the SID is checked here, where it enters the typed domain.
    let sim_sid = SimSid::parse(&row.sim_sid).map_err(|e| Unapplicable(e.to_string()))?;
    let data = DataLimitDecision {
        sim_sid,
        account_sid: sim.account_sid.clone(),
        fleet_sid: sim.fleet_sid.clone(),
        billing_period_sid: period_sid(&row.sim_sid, row.period_start),
        used_bytes: row.used_bytes,
        limit_bytes: rule.map(|r| r.limit_bytes).unwrap_or(0),
        reason: v.reason.as_str().to_owned(),
        period_end: Some(row.period_end),
    };
    let event = if v.block { Event::SimDataLimitReached(data) } else { Event::SimDataLimitCleared(data) };
    let id = rule::decision_id(&row.sim_sid, row.period_start, n);
    let meta = Metadata::from_source(NAME).with_account(sim.account_sid.clone());
    Ok(NewEvent::new(id, format!("limits-{}", row.sim_sid), &event, &meta)?)
}

/// Unblocks every SIM whose blocked period ended by `now` (the latest usage time seen).
async fn roll_over(tx: &mut PgConnection, now: DateTime<Utc>, decisions: &mut Vec<NewEvent>) -> Result<(), ApplyError> {
    let ended: Vec<PeriodRow> = sqlx::query_as(
        "SELECT sim_sid, period_start, period_end, period_type, used_bytes, blocked, decisions FROM limit_enforcer_periods \
         WHERE blocked AND period_end <= $1 ORDER BY sim_sid, period_start",
    )
    .bind(now)
    .fetch_all(&mut *tx)
    .await?;
    for row in ended {
        let Some(sim) = sim_row(tx, &row.sim_sid).await? else { continue };
        decide_and_store(tx, &row, &sim, Cause::PeriodEnded, decisions).await?;
    }
    Ok(())
}
