//! `limits`: each SIM's data use per billing period and whether it is blocked in it — a read
//! model, folded from usage windows and from the `sim.data_limit_reached`/`cleared` decisions
//! the data-limit enforcer (`simledger-policies`) appended. It never decides and never appends:
//! a replay rebuilds the same rows and leaves the log as it was.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use simledger_eventlog::catalog::{DataLimitDecision, SimStatus};
use simledger_eventlog::{Event, RecordedEvent};
use sqlx::PgConnection;

use crate::billing_periods::{usage_period, usage_time, Anchors};
use crate::{ApplyError, Projection, Subscriber};

pub const NAME: &str = "limits";

/// Bytes in one `DataLimit` megabyte (SI, as carriers bill).
pub const BYTES_PER_MB: i64 = 1_000_000;

/// The read model. It keeps nothing between batches: each batch reads the anchors of the SIMs
/// it uses in one query, so several workers (or a replay) taking turns never see stale state.
#[derive(Clone, Default)]
pub struct Limits;

impl Projection for Limits {
    const TABLES: &'static [&'static str] = &["limits_sims", "limits_periods"];
}

/// A period's key and shape, and the bytes a batch adds to it.
struct Added {
    period_end: DateTime<Utc>,
    period_type: &'static str,
    bytes: i64,
}

impl Subscriber for Limits {
    fn name(&self) -> &str {
        NAME
    }

    async fn apply(&mut self, tx: &mut PgConnection, events: &[RecordedEvent]) -> Result<(), ApplyError> {
        let mut anchors = anchors_of(tx, events).await?;
        let mut added: HashMap<(String, DateTime<Utc>), Added> = HashMap::new();
        // Decisions in log order, applied after the usage that created their periods.
        let mut decisions: Vec<(&DataLimitDecision, bool)> = Vec::new();
        for e in events {
            match &e.event {
                Event::SimRegistered(r) => {
                    sqlx::query(
                        "INSERT INTO limits_sims (sim_sid, account_sid) VALUES ($1, $2) \
                         ON CONFLICT (sim_sid) DO UPDATE SET account_sid = $2",
                    )
                    .bind(&r.sim_sid)
                    .bind(&r.account_sid)
                    .execute(&mut *tx)
                    .await?;
                    anchors.insert(r.sim_sid.to_string(), (r.account_sid.clone(), Anchors::default()));
                }
                Event::SimStatusChanged(s) if matches!(s.to, SimStatus::Ready | SimStatus::Active) => {
                    // Only a change the SIM's own account made counts.
                    let Some((_, a)) = anchors.get_mut(s.sim_sid.as_str()).filter(|(owner, _)| *owner == s.account_sid)
                    else {
                        continue;
                    };
                    // Only the first move counts: periods run from the first activation.
                    let (column, first) = if s.to == SimStatus::Ready {
                        ("ready_at", a.ready_at.get_or_insert(e.recorded_at))
                    } else {
                        ("active_at", a.active_at.get_or_insert(e.recorded_at))
                    };
                    sqlx::query(&format!("UPDATE limits_sims SET {column} = $2 WHERE sim_sid = $1"))
                        .bind(&s.sim_sid)
                        .bind(*first)
                        .execute(&mut *tx)
                        .await?;
                }
                Event::DataSessionUpdated(c) | Event::DataSessionEnded(c) => {
                    let Some((_, a)) = anchors.get(&c.sim_sid) else { continue };
                    let Some(period) = usage_period(*a, usage_time(c)) else { continue };
                    let entry = added.entry((c.sim_sid.clone(), period.start)).or_insert(Added {
                        period_end: period.end,
                        period_type: period.kind,
                        bytes: 0,
                    });
                    entry.bytes = entry.bytes.saturating_add(c.data_total.unwrap_or(0));
                }
                Event::SimDataLimitReached(d) => decisions.push((d, true)),
                Event::SimDataLimitCleared(d) => decisions.push((d, false)),
                _ => {}
            }
        }
        if !added.is_empty() {
            let (keys, rows): (Vec<_>, Vec<_>) = added.into_iter().unzip();
            // A period keeps the end it was first written with, as the enforcer's does.
            sqlx::query(
                "INSERT INTO limits_periods (sim_sid, period_start, period_end, period_type, used_bytes) \
                 SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[], $4::text[], $5::bigint[]) \
                 ON CONFLICT (sim_sid, period_start) DO UPDATE SET used_bytes = limits_periods.used_bytes + EXCLUDED.used_bytes",
            )
            .bind(keys.iter().map(|(sim, _)| sim.clone()).collect::<Vec<_>>())
            .bind(keys.iter().map(|(_, start)| *start).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.period_end).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.period_type).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.bytes).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await?;
        }
        // The last decision on each period stands; one statement sets them all.
        let mut last: HashMap<(&str, DateTime<Utc>), bool> = HashMap::new();
        for (d, blocked) in decisions {
            match d.period_end {
                Some(end) => {
                    last.insert((d.sim_sid.as_str(), end), blocked);
                }
                // Decisions from before they named their period's end: the SIM's latest.
                None => {
                    sqlx::query(
                        "UPDATE limits_periods SET blocked = $2 WHERE sim_sid = $1 AND period_start = ( \
                         SELECT max(period_start) FROM limits_periods WHERE sim_sid = $1)",
                    )
                    .bind(&d.sim_sid)
                    .bind(blocked)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        if !last.is_empty() {
            let (keys, blocked): (Vec<_>, Vec<bool>) = last.into_iter().unzip();
            sqlx::query(
                "UPDATE limits_periods p SET blocked = d.blocked \
                 FROM unnest($1::text[], $2::timestamptz[], $3::bool[]) AS d(sim_sid, period_end, blocked) \
                 WHERE p.sim_sid = d.sim_sid AND p.period_end = d.period_end",
            )
            .bind(keys.iter().map(|(sim, _)| *sim).collect::<Vec<_>>())
            .bind(keys.iter().map(|(_, end)| *end).collect::<Vec<_>>())
            .bind(blocked)
            .execute(&mut *tx)
            .await?;
        }
        Ok(())
    }
}

/// The owner and anchors of every SIM the batch's usage and status changes name, from the table, in one query.
async fn anchors_of(
    tx: &mut PgConnection,
    events: &[RecordedEvent],
) -> sqlx::Result<HashMap<String, (String, Anchors)>> {
    let mut sims: Vec<&str> = events
        .iter()
        .filter_map(|e| match &e.event {
            Event::DataSessionUpdated(c) | Event::DataSessionEnded(c) => Some(c.sim_sid.as_str()),
            Event::SimStatusChanged(s) => Some(s.sim_sid.as_str()),
            _ => None,
        })
        .collect();
    sims.sort_unstable();
    sims.dedup();
    if sims.is_empty() {
        return Ok(HashMap::new());
    }
    type Row = (String, String, Option<DateTime<Utc>>, Option<DateTime<Utc>>);
    let rows: Vec<Row> =
        sqlx::query_as("SELECT sim_sid, account_sid, ready_at, active_at FROM limits_sims WHERE sim_sid = ANY($1)")
            .bind(&sims)
            .fetch_all(tx)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(sim, account, ready_at, active_at)| (sim, (account, Anchors { ready_at, active_at })))
        .collect())
}

/// Queries the API answers from.
pub mod read {
    use chrono::{DateTime, Utc};
    use sqlx::PgPool;

    use crate::billing_periods::Anchors;

    /// When a SIM became ready and active (its billing periods), if the SIM is the account's.
    pub async fn anchors(pool: &PgPool, account: &str, sim_sid: &str) -> sqlx::Result<Anchors> {
        type Row = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);
        let row: Option<Row> =
            sqlx::query_as("SELECT ready_at, active_at FROM limits_sims WHERE account_sid = $1 AND sim_sid = $2")
                .bind(account)
                .bind(sim_sid)
                .fetch_optional(pool)
                .await?;
        Ok(row.map(|(ready_at, active_at)| Anchors { ready_at, active_at }).unwrap_or_default())
    }
}
