//! `dashboard`: the aggregates the operator's and customers' dashboard reads — SIMs by status
//! and fleet, open sessions, blocked SIMs, per-minute counters, usage by fleet, network and
//! country, where each SIM was last seen, and the positions of each SIM's events — so that no
//! page scans the log or every SIM, however large the fleet.
//!
//! A read model: it appends nothing. Counters of a batch are summed in memory and written with
//! one statement per table; lifecycle events (rare) are applied one by one, in order, because a
//! SIM's count moves from its previous status and fleet, which only this projection's own
//! `dash_sims` row knows.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use simledger_eventlog::catalog::ConnectionEvent;
use simledger_eventlog::{Event, RecordedEvent};
use sqlx::PgConnection;

use crate::billing_periods::usage_time;
use crate::{ApplyError, Projection, Subscriber};

pub const NAME: &str = "dashboard";

#[derive(Debug, Clone, Default)]
pub struct Dashboard;

impl Projection for Dashboard {
    const TABLES: &'static [&'static str] = &[
        "dash_sims",
        "dash_sim_counts",
        "dash_accounts",
        "dash_minutes",
        "dash_usage_hourly",
        "dash_sim_events",
        "dash_open_sessions",
    ];
}

/// One minute's counters of one account (or, read back, of every account asked for).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct MinuteCounts {
    pub events: i64,
    pub attaches_accepted: i64,
    pub attaches_rejected: i64,
    pub data_sessions_started: i64,
    pub sms: i64,
    pub bytes: i64,
}

/// Where the network saw a SIM last in a batch: the event's type, commit time and data.
type SimSighting = (String, DateTime<Utc>, ConnectionEvent);

/// A data session's state at the end of a batch: its SIM, account, and whether it is open.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SessionState {
    sim: String,
    account: String,
    open: bool,
}

/// One row of `dash_usage_hourly`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct UsageKey {
    account: String,
    hour: DateTime<Utc>,
    fleet: String,
    network: String,
    country: String,
}

/// What a batch adds to the counters, before it is written.
#[derive(Debug, Default)]
struct BatchTotals {
    minutes: BTreeMap<(String, DateTime<Utc>), MinuteCounts>,
    usage: BTreeMap<UsageKey, i64>,
    sessions: BTreeMap<String, SessionState>,
    sightings: HashMap<String, SimSighting>,
    sim_events: Vec<(String, i64)>,
}

/// The minute an instant falls in.
pub fn minute_of(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::minutes(1)).unwrap_or(t)
}

fn hour_of(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::hours(1)).unwrap_or(t)
}

impl BatchTotals {
    /// Counts one event.
    fn count(&mut self, e: &RecordedEvent) {
        let account = e.event.account_sid().unwrap_or("").to_owned();
        let minute = self.minutes.entry((account.clone(), minute_of(e.recorded_at))).or_default();
        minute.events += 1;
        if let (Some(sim), false) = (e.event.sim_sid(), account.is_empty()) {
            self.sim_events.push((sim.to_owned(), e.position));
        }
        match &e.event {
            Event::AttachmentAccepted(c) => {
                minute.attaches_accepted += 1;
                self.sighted(c, e);
            }
            Event::AttachmentRejected(c) | Event::AttachmentFailed(c) => {
                minute.attaches_rejected += 1;
                self.sighted(c, e);
            }
            Event::DataSessionStarted(c) => {
                minute.data_sessions_started += 1;
                self.session(c, true);
                self.sighted(c, e);
            }
            Event::DataSessionUpdated(c) | Event::DataSessionEnded(c) => {
                let bytes = c.data_upload.unwrap_or(0).saturating_add(c.data_download.unwrap_or(0));
                minute.bytes = minute.bytes.saturating_add(bytes);
                if bytes != 0 {
                    let key = UsageKey {
                        account: account.clone(),
                        hour: hour_of(usage_time(c)),
                        fleet: c.fleet_sid.clone().unwrap_or_default(),
                        network: c.network.sid.clone(),
                        country: c.network.iso_country.clone(),
                    };
                    let total = self.usage.entry(key).or_default();
                    *total = total.saturating_add(bytes);
                }
                if matches!(e.event, Event::DataSessionEnded(_)) {
                    self.session(c, false);
                }
                self.sighted(c, e);
            }
            Event::DataSessionFailed(c) => {
                self.session(c, false);
                self.sighted(c, e);
            }
            // Each message once: when the device or the platform submitted it.
            Event::SmsMoSubmitted(_) | Event::SmsMtSubmitted(_) => minute.sms += 1,
            _ => {}
        }
    }

    fn sighted(&mut self, c: &ConnectionEvent, e: &RecordedEvent) {
        self.sightings.insert(c.sim_sid.clone(), (e.event.event_type().to_owned(), e.recorded_at, c.clone()));
    }

    /// The session's last word in the batch wins: opened, or closed.
    fn session(&mut self, c: &ConnectionEvent, open: bool) {
        if let Some(sid) = &c.data_session_sid {
            let state = SessionState { sim: c.sim_sid.clone(), account: c.account_sid.clone(), open };
            self.sessions.insert(sid.clone(), state);
        }
    }
}

impl Subscriber for Dashboard {
    fn name(&self) -> &str {
        NAME
    }

    async fn apply(&mut self, tx: &mut PgConnection, events: &[RecordedEvent]) -> Result<(), ApplyError> {
        let mut totals = BatchTotals::default();
        for e in events {
            totals.count(e);
            lifecycle(tx, &e.event).await?;
        }
        write(tx, totals).await?;
        Ok(())
    }
}

/// A SIM's registration, status, fleet or block changed: its row and the counts it moves.
async fn lifecycle(tx: &mut PgConnection, event: &Event) -> sqlx::Result<()> {
    match event {
        Event::SimRegistered(r) => {
            let fleet = r.fleet_sid.as_deref().unwrap_or_default();
            let inserted = sqlx::query(
                "INSERT INTO dash_sims (sim_sid, account_sid, fleet_sid, status) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (sim_sid) DO NOTHING",
            )
            .bind(&r.sim_sid)
            .bind(&r.account_sid)
            .bind(fleet)
            .bind(r.status.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted == 1 {
                count(tx, &r.account_sid, fleet, r.status.as_str(), 1).await?;
            }
        }
        Event::SimStatusChanged(s) => move_sim(tx, &s.sim_sid, None, Some(s.to.as_str())).await?,
        Event::SimUpdated(u) => {
            if let Some(fleet) = &u.fleet_sid {
                move_sim(tx, &u.sim_sid, Some(fleet.as_deref().unwrap_or("")), None).await?;
            }
        }
        Event::SimDataLimitReached(d) | Event::SimDataLimitCleared(d) => {
            let blocked = matches!(event, Event::SimDataLimitReached(_));
            let changed: Option<String> = sqlx::query_scalar(
                "UPDATE dash_sims SET blocked = $2 WHERE sim_sid = $1 AND blocked <> $2 RETURNING account_sid",
            )
            .bind(&d.sim_sid)
            .bind(blocked)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(account) = changed {
                sqlx::query(
                    "INSERT INTO dash_accounts (account_sid, blocked_sims) VALUES ($1, $2) \
                     ON CONFLICT (account_sid) DO UPDATE SET blocked_sims = dash_accounts.blocked_sims + $2",
                )
                .bind(&account)
                .bind(if blocked { 1_i64 } else { -1 })
                .execute(&mut *tx)
                .await?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Moves a SIM to another fleet and/or status, and its count with it.
async fn move_sim(tx: &mut PgConnection, sim: &str, fleet: Option<&str>, status: Option<&str>) -> sqlx::Result<()> {
    let before: Option<(String, String, String)> =
        sqlx::query_as("SELECT account_sid, fleet_sid, status FROM dash_sims WHERE sim_sid = $1 FOR UPDATE")
            .bind(sim)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((account, old_fleet, old_status)) = before else { return Ok(()) };
    let (new_fleet, new_status) = (fleet.unwrap_or(&old_fleet), status.unwrap_or(&old_status));
    if (new_fleet, new_status) == (old_fleet.as_str(), old_status.as_str()) {
        return Ok(());
    }
    sqlx::query("UPDATE dash_sims SET fleet_sid = $2, status = $3 WHERE sim_sid = $1")
        .bind(sim)
        .bind(new_fleet)
        .bind(new_status)
        .execute(&mut *tx)
        .await?;
    count(tx, &account, &old_fleet, &old_status, -1).await?;
    count(tx, &account, new_fleet, new_status, 1).await
}

async fn count(tx: &mut PgConnection, account: &str, fleet: &str, status: &str, delta: i64) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO dash_sim_counts (account_sid, fleet_sid, status, sims) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (account_sid, fleet_sid, status) DO UPDATE SET sims = dash_sim_counts.sims + $4",
    )
    .bind(account)
    .bind(fleet)
    .bind(status)
    .bind(delta)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Writes a batch's counters: one statement per table, whatever the batch's size.
async fn write(tx: &mut PgConnection, t: BatchTotals) -> sqlx::Result<()> {
    if !t.minutes.is_empty() {
        let mut cols: (Vec<String>, Vec<DateTime<Utc>>, [Vec<i64>; 6]) = Default::default();
        for ((account, minute), c) in t.minutes {
            cols.0.push(account);
            cols.1.push(minute);
            let values = [c.events, c.attaches_accepted, c.attaches_rejected, c.data_sessions_started, c.sms, c.bytes];
            for (col, v) in cols.2.iter_mut().zip(values) {
                col.push(v);
            }
        }
        let [events, accepted, rejected, started, sms, bytes] = cols.2;
        sqlx::query(
            "INSERT INTO dash_minutes AS m (account_sid, minute, events, attaches_accepted, attaches_rejected, \
             data_sessions_started, sms, bytes) \
             SELECT * FROM UNNEST($1::text[], $2::timestamptz[], $3::int8[], $4::int8[], $5::int8[], $6::int8[], \
             $7::int8[], $8::int8[]) \
             ON CONFLICT (account_sid, minute) DO UPDATE SET events = m.events + EXCLUDED.events, \
             attaches_accepted = m.attaches_accepted + EXCLUDED.attaches_accepted, \
             attaches_rejected = m.attaches_rejected + EXCLUDED.attaches_rejected, \
             data_sessions_started = m.data_sessions_started + EXCLUDED.data_sessions_started, \
             sms = m.sms + EXCLUDED.sms, bytes = m.bytes + EXCLUDED.bytes",
        )
        .bind(&cols.0)
        .bind(&cols.1)
        .bind(&events)
        .bind(&accepted)
        .bind(&rejected)
        .bind(&started)
        .bind(&sms)
        .bind(&bytes)
        .execute(&mut *tx)
        .await?;
    }
    if !t.usage.is_empty() {
        let (mut hours, mut text, mut totals) = (Vec::new(), <[Vec<String>; 4]>::default(), Vec::new());
        for (key, bytes) in t.usage {
            hours.push(key.hour);
            for (col, v) in text.iter_mut().zip([key.account, key.fleet, key.network, key.country]) {
                col.push(v);
            }
            totals.push(bytes);
        }
        let [accounts, fleets, networks, countries] = text;
        sqlx::query(
            "INSERT INTO dash_usage_hourly AS u (account_sid, hour, fleet_sid, network_sid, iso_country, bytes) \
             SELECT * FROM UNNEST($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::int8[]) \
             ON CONFLICT (account_sid, hour, fleet_sid, network_sid, iso_country) \
             DO UPDATE SET bytes = u.bytes + EXCLUDED.bytes",
        )
        .bind(&accounts)
        .bind(&hours)
        .bind(&fleets)
        .bind(&networks)
        .bind(&countries)
        .bind(&totals)
        .execute(&mut *tx)
        .await?;
    }
    open_sessions(tx, t.sessions).await?;
    if !t.sightings.is_empty() {
        let mut sims = Vec::new();
        let mut columns: [Vec<Option<String>>; 9] = Default::default();
        let mut seen_at = Vec::new();
        // Sorted, so concurrent writers (a replay beside a live worker) lock rows in one order.
        let mut sightings: Vec<_> = t.sightings.into_iter().collect();
        sightings.sort_by(|a, b| a.0.cmp(&b.0));
        for (sim, (event_type, at, c)) in sightings {
            sims.push(sim);
            seen_at.push(at);
            let location = c.location.as_ref();
            let values = [
                Some(c.network.sid),
                Some(c.network.friendly_name),
                Some(c.network.mcc),
                Some(c.network.mnc),
                Some(c.network.iso_country),
                location.map(|l| l.cell_id.clone()),
                location.map(|l| l.lac.clone()),
                Some(c.rat_type),
                Some(event_type),
            ];
            for (col, v) in columns.iter_mut().zip(values) {
                col.push(v);
            }
        }
        let [network, name, mcc, mnc, country, cell, lac, rat, last_event] = columns;
        sqlx::query(
            "UPDATE dash_sims AS s SET network_sid = v.network, network_name = v.name, mcc = v.mcc, mnc = v.mnc, iso_country = v.country, \
             cell_id = v.cell, lac = v.lac, rat_type = v.rat, last_event = v.last_event, last_seen_at = v.at \
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], \
             $8::text[], $9::text[], $10::text[], $11::timestamptz[]) \
             AS v (sim, network, name, mcc, mnc, country, cell, lac, rat, last_event, at) \
             WHERE s.sim_sid = v.sim",
        )
        .bind(&sims)
        .bind(&network)
        .bind(&name)
        .bind(&mcc)
        .bind(&mnc)
        .bind(&country)
        .bind(&cell)
        .bind(&lac)
        .bind(&rat)
        .bind(&last_event)
        .bind(&seen_at)
        .execute(&mut *tx)
        .await?;
    }
    if !t.sim_events.is_empty() {
        let (sims, positions): (Vec<String>, Vec<i64>) = t.sim_events.into_iter().unzip();
        sqlx::query(
            "INSERT INTO dash_sim_events (sim_sid, position) SELECT * FROM UNNEST($1::text[], $2::int8[]) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&sims)
        .bind(&positions)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// Applies a batch's session changes to the set of open sessions, and moves the per-SIM and
/// per-account counts by what the set actually gained and lost.
async fn open_sessions(tx: &mut PgConnection, sessions: BTreeMap<String, SessionState>) -> sqlx::Result<()> {
    if sessions.is_empty() {
        return Ok(());
    }
    let (opened, closed): (Vec<_>, Vec<_>) = sessions.into_iter().partition(|(_, s)| s.open);
    let closed: Vec<String> = closed.into_iter().map(|(sid, _)| sid).collect();
    let gone: Vec<(String, String)> = sqlx::query_as(
        "DELETE FROM dash_open_sessions WHERE data_session_sid = ANY($1) RETURNING sim_sid, account_sid",
    )
    .bind(&closed)
    .fetch_all(&mut *tx)
    .await?;
    let mut columns: [Vec<String>; 3] = Default::default();
    for (sid, s) in opened {
        for (col, v) in columns.iter_mut().zip([sid, s.sim, s.account]) {
            col.push(v);
        }
    }
    let [sids, sims, accounts] = columns;
    let new: Vec<(String, String)> = sqlx::query_as(
        "INSERT INTO dash_open_sessions (data_session_sid, sim_sid, account_sid) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[]) ON CONFLICT DO NOTHING \
         RETURNING sim_sid, account_sid",
    )
    .bind(&sids)
    .bind(&sims)
    .bind(&accounts)
    .fetch_all(&mut *tx)
    .await?;
    let mut per_sim: BTreeMap<String, i32> = BTreeMap::new();
    let mut per_account: BTreeMap<String, i64> = BTreeMap::new();
    for ((sim, account), delta) in gone.into_iter().map(|r| (r, -1)).chain(new.into_iter().map(|r| (r, 1))) {
        *per_sim.entry(sim).or_default() += delta;
        *per_account.entry(account).or_default() += i64::from(delta);
    }
    let (sims, deltas): (Vec<String>, Vec<i32>) = per_sim.into_iter().filter(|(_, d)| *d != 0).unzip();
    sqlx::query(
        "UPDATE dash_sims AS s SET open_sessions = s.open_sessions + v.delta \
         FROM UNNEST($1::text[], $2::int4[]) AS v (sim, delta) WHERE s.sim_sid = v.sim",
    )
    .bind(&sims)
    .bind(&deltas)
    .execute(&mut *tx)
    .await?;
    let (accounts, deltas): (Vec<String>, Vec<i64>) = per_account.into_iter().filter(|(_, d)| *d != 0).unzip();
    sqlx::query(
        "INSERT INTO dash_accounts AS a (account_sid, open_sessions) SELECT * FROM UNNEST($1::text[], $2::int8[]) \
         ON CONFLICT (account_sid) DO UPDATE SET open_sessions = a.open_sessions + EXCLUDED.open_sessions",
    )
    .bind(&accounts)
    .bind(&deltas)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Fills the dashboard's tables for SIMs loaded straight into the registry (benchmarks): as if
/// each had been registered `active` in no fleet.
pub async fn bulk_load_sims(pool: &sqlx::PgPool, account_sid: &str) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO dash_sims (sim_sid, account_sid, fleet_sid, status) \
         SELECT sim_sid, account_sid, coalesce(fleet_sid, ''), status FROM registry_sims WHERE account_sid = $1 \
         ON CONFLICT DO NOTHING",
    )
    .bind(account_sid)
    .execute(pool)
    .await?;
    sqlx::query(
        "INSERT INTO dash_sim_counts (account_sid, fleet_sid, status, sims) \
         SELECT account_sid, fleet_sid, status, count(*) FROM dash_sims WHERE account_sid = $1 \
         GROUP BY account_sid, fleet_sid, status \
         ON CONFLICT (account_sid, fleet_sid, status) DO UPDATE SET sims = EXCLUDED.sims",
    )
    .bind(account_sid)
    .execute(pool)
    .await?;
    sqlx::query("ANALYZE dash_sims").execute(pool).await?;
    Ok(())
}

pub mod read;

#[cfg(test)]
mod tests {
    use super::*;
    use simledger_eventlog::Metadata;

    fn at(minute: u32, second: u32) -> DateTime<Utc> {
        format!("2026-11-30T10:{minute:02}:{second:02}Z").parse().unwrap()
    }

    fn connection(event_type: &str, sim: &str, upload: Option<i64>) -> ConnectionEvent {
        ConnectionEvent {
            fleet_sid: Some("HF0000000000000000000000000000000f".into()),
            data_session_sid: Some(format!("PI{sim}")),
            data_upload: upload,
            data_download: upload,
            ..simledger_test_support::connection(event_type, "ACa", sim, at(0, 0))
        }
    }

    fn recorded(position: i64, event: Event, when: DateTime<Utc>) -> RecordedEvent {
        RecordedEvent {
            shard: 0,
            position,
            event_id: uuid::Uuid::nil(),
            stream: "s".into(),
            stream_version: 1,
            event,
            metadata: Metadata::default(),
            recorded_at: when,
        }
    }

    #[test]
    fn a_batch_is_counted_per_account_and_minute_of_commit() {
        // Given an attach, a refused attach, a session that starts, carries data and ends.
        let events = [
            recorded(
                1,
                Event::AttachmentAccepted(connection("a", "HS00000000000000000000000000000001", None)),
                at(0, 10),
            ),
            recorded(
                2,
                Event::AttachmentRejected(connection("r", "HS00000000000000000000000000000002", None)),
                at(0, 50),
            ),
            recorded(
                3,
                Event::DataSessionStarted(connection("s", "HS00000000000000000000000000000001", None)),
                at(1, 0),
            ),
            recorded(
                4,
                Event::DataSessionUpdated(connection("u", "HS00000000000000000000000000000001", Some(100))),
                at(1, 30),
            ),
            recorded(
                5,
                Event::DataSessionEnded(connection("e", "HS00000000000000000000000000000001", Some(50))),
                at(1, 59),
            ),
        ];
        // When they are counted.
        let mut t = BatchTotals::default();
        for e in &events {
            t.count(e);
        }
        // Then each minute holds its own, the bytes are both directions, the session is closed.
        let first = t.minutes[&("ACa".to_owned(), at(0, 0))];
        assert_eq!((first.events, first.attaches_accepted, first.attaches_rejected), (2, 1, 1));
        let second = t.minutes[&("ACa".to_owned(), at(1, 0))];
        assert_eq!((second.events, second.data_sessions_started, second.bytes), (3, 1, 300));
        assert!(!t.sessions["PIHS00000000000000000000000000000001"].open, "the session's last word was its end");
        assert_eq!(t.usage.values().sum::<i64>(), 300);
        assert!(t.sightings["HS00000000000000000000000000000001"].0.ends_with("data-session.ended"));
        assert_eq!(t.sim_events.len(), 5);
    }

    #[test]
    fn an_event_of_no_account_is_counted_but_indexed_under_no_sim() {
        // Given inventory (the operator's, no account).
        let provisioned = Event::SimProvisioned(simledger_eventlog::catalog::SimProvisioned {
            sim_sid: "HS00000000000000000000000000000009".parse().unwrap(),
            iccid: "8988".into(),
            registration_code_hash: "h".into(),
            imsis: vec![],
        });
        let mut t = BatchTotals::default();
        t.count(&recorded(1, provisioned, at(0, 0)));
        // Then it counts under '' and no customer's SIM history holds it.
        assert_eq!(t.minutes[&(String::new(), at(0, 0))].events, 1);
        assert!(t.sim_events.is_empty());
    }
}
