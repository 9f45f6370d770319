//! When a scheduled exporter runs: `*every:<duration>` (`*every:15m`), `*every_minute`,
//! `*hourly` (on the hour), `*daily` (at 00:00 UTC) or `*month_end` (at 00:00 UTC on the 1st,
//! the moment a month is complete). Times are UTC.

use chrono::{DateTime, Datelike, Duration, DurationRound, NaiveDate, TimeZone, Utc};
use sqlx::PgPool;

use super::{ExportError, RunReport};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    Every(Duration),
    Hourly,
    Daily,
    MonthEnd,
}

impl Schedule {
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.trim() {
            "*every_minute" => Ok(Self::Every(Duration::minutes(1))),
            "*hourly" => Ok(Self::Hourly),
            "*daily" => Ok(Self::Daily),
            "*month_end" => Ok(Self::MonthEnd),
            other => {
                let every = other.strip_prefix("*every:").ok_or_else(|| {
                    format!("unknown schedule {other:?} (*every:<15m>, *every_minute, *hourly, *daily, *month_end)")
                })?;
                let ns = simledger_eventlog::cgr::parse_go_duration(every)?;
                if ns < 1_000_000_000 {
                    return Err(format!("schedule {other:?}: the interval is at least 1s"));
                }
                Ok(Self::Every(Duration::nanoseconds(ns)))
            }
        }
    }

    /// The first firing strictly after `after`.
    pub fn next(&self, after: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Self::Every(d) => after + *d,
            Self::Hourly => after.duration_trunc(Duration::hours(1)).unwrap_or(after) + Duration::hours(1),
            Self::Daily => after.duration_trunc(Duration::days(1)).unwrap_or(after) + Duration::days(1),
            Self::MonthEnd => {
                let (y, m) =
                    if after.month() == 12 { (after.year() + 1, 1) } else { (after.year(), after.month() + 1) };
                let first =
                    NaiveDate::from_ymd_opt(y, m, 1).and_then(|d| d.and_hms_opt(0, 0, 0)).expect("a 1st exists");
                Utc.from_utc_datetime(&first)
            }
        }
    }
}

/// Runs every exporter whose firing is due, then sets its next firing from now. A crash between
/// a run and that update runs it again at restart, which exports only what is new; a firing
/// missed while nothing was running happens once, at start, not once per missed interval.
pub async fn run_due(pool: &PgPool, shard: i32) -> Result<Vec<DueRun>, ExportError> {
    let due: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT tenant, exporter_id, schedule FROM cdr_exporters WHERE next_run_at <= now() ORDER BY next_run_at",
    )
    .fetch_all(pool)
    .await?;
    let mut runs = Vec::with_capacity(due.len());
    for (tenant, id, schedule) in due {
        let result = super::run(pool, shard, &tenant, &id).await;
        // A run that could not start now (another of the tenant's, or the process's limit) stays
        // due and is tried at the next look, rather than skipped to the next firing.
        if matches!(result, Err(ExportError::Busy(_))) {
            runs.push(DueRun { tenant, id, result });
            continue;
        }
        let next = Schedule::parse(&schedule).map(|s| s.next(Utc::now())).ok();
        sqlx::query("UPDATE cdr_exporters SET next_run_at = $3 WHERE tenant = $1 AND exporter_id = $2")
            .bind(&tenant)
            .bind(&id)
            .bind(next)
            .execute(pool)
            .await?;
        runs.push(DueRun { tenant, id, result });
    }
    Ok(runs)
}

/// One scheduled run and how it went.
#[derive(Debug)]
pub struct DueRun {
    pub tenant: String,
    pub id: String,
    pub result: Result<RunReport, ExportError>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_schedule_fires_at_its_next_boundary() {
        let t = Utc.with_ymd_and_hms(2026, 12, 31, 10, 20, 30).unwrap();
        let at = |y, mo, d, h, mi, s| Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap();
        assert_eq!(Schedule::parse("*every:15m").unwrap().next(t), at(2026, 12, 31, 10, 35, 30));
        assert_eq!(Schedule::parse("*every_minute").unwrap().next(t), at(2026, 12, 31, 10, 21, 30));
        assert_eq!(Schedule::parse("*hourly").unwrap().next(t), at(2026, 12, 31, 11, 0, 0));
        assert_eq!(Schedule::parse("*daily").unwrap().next(t), at(2027, 1, 1, 0, 0, 0));
        assert_eq!(Schedule::parse("*month_end").unwrap().next(t), at(2027, 1, 1, 0, 0, 0));
        assert_eq!(Schedule::parse("*month_end").unwrap().next(at(2027, 1, 1, 0, 0, 0)), at(2027, 2, 1, 0, 0, 0));
    }

    #[test]
    fn unknown_or_too_short_schedules_are_refused() {
        for bad in ["*weekly_ish", "*every:", "*every:10ms", "hourly"] {
            assert!(Schedule::parse(bad).is_err(), "{bad}");
        }
    }
}
