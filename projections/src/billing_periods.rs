//! Twilio's billing periods, derived from when a SIM became `ready` and `active`: one `ready`
//! period from the first move to ready until activation (at most three months), then monthly
//! `active` periods from the first activation on.

use chrono::{DateTime, Datelike, Months, Utc};

/// When a SIM first became ready and active.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Anchors {
    pub ready_at: Option<DateTime<Utc>>,
    pub active_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// `ready` or `active`.
    pub kind: &'static str,
}

const READY_MONTHS: u32 = 3;

fn add_months(t: DateTime<Utc>, k: u32) -> DateTime<Utc> {
    t.checked_add_months(Months::new(k)).expect("a date within chrono's range")
}

/// The `k`th active period: `[active + k months, active + k+1 months)`.
fn active_period(active: DateTime<Utc>, k: u32) -> Period {
    Period { start: add_months(active, k), end: add_months(active, k + 1), kind: "active" }
}

fn ready_period(ready: DateTime<Utc>, active: Option<DateTime<Utc>>) -> Period {
    let end = active.filter(|a| *a > ready).unwrap_or_else(|| add_months(ready, READY_MONTHS));
    Period { start: ready, end, kind: "ready" }
}

/// The period `t` falls in; `None` before the SIM was ever ready or active.
pub fn period_at(a: Anchors, t: DateTime<Utc>) -> Option<Period> {
    if let Some(active) = a.active_at.filter(|active| t >= *active) {
        let mut k = ((t.year() - active.year()) * 12 + t.month() as i32 - active.month() as i32).max(0) as u32;
        while k > 0 && add_months(active, k) > t {
            k -= 1;
        }
        while add_months(active, k + 1) <= t {
            k += 1;
        }
        return Some(active_period(active, k));
    }
    // Usage after the ready period ran out without activation still belongs to it.
    a.ready_at.filter(|ready| t >= *ready).map(|ready| ready_period(ready, a.active_at))
}

/// The period a usage window used at `at` counts towards. Device clocks (and simulations
/// started in the past) can put usage before the SIM's first move to ready or active; it counts
/// towards the first period rather than nowhere. `None` for a SIM never ready nor active.
pub fn usage_period(a: Anchors, at: DateTime<Utc>) -> Option<Period> {
    let first = [a.ready_at, a.active_at].into_iter().flatten().min()?;
    period_at(a, at.max(first))
}

/// When a usage window's bytes were used: the end of the window.
pub fn usage_time(c: &simledger_eventlog::catalog::ConnectionEvent) -> DateTime<Utc> {
    c.data_session_update_end_time.unwrap_or(c.timestamp)
}

/// Every period that has started by `now`, oldest first.
pub fn periods_until(a: Anchors, now: DateTime<Utc>) -> Vec<Period> {
    let mut periods = Vec::new();
    if let Some(ready) = a.ready_at.filter(|r| a.active_at.is_none_or(|act| *r < act)) {
        if ready <= now {
            periods.push(ready_period(ready, a.active_at));
        }
    }
    if let Some(active) = a.active_at {
        let mut k = 0;
        while add_months(active, k) <= now {
            periods.push(active_period(active, k));
            k += 1;
        }
    }
    periods
}

/// The stable `HB` SID of a SIM's period.
pub fn period_sid(sim_sid: &str, start: DateTime<Utc>) -> String {
    let id = uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("simledger-billing-period:{sim_sid}:{}", start.timestamp_millis()).as_bytes(),
    );
    format!("HB{}", id.simple())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 12, 0, 0).unwrap()
    }

    #[test]
    fn active_periods_are_monthly_from_activation() {
        let a = Anchors { ready_at: Some(t(2026, 1, 10)), active_at: Some(t(2026, 1, 31)) };
        assert_eq!(period_at(a, t(2026, 1, 20)).unwrap().kind, "ready");
        let p = period_at(a, t(2026, 3, 5)).unwrap();
        assert_eq!((p.kind, p.start, p.end), ("active", t(2026, 2, 28), t(2026, 3, 31)));
        assert!(period_at(Anchors::default(), t(2026, 1, 1)).is_none());
        let all = periods_until(a, t(2026, 4, 1));
        assert_eq!(all.iter().map(|p| p.kind).collect::<Vec<_>>(), ["ready", "active", "active", "active"]);
        assert!(all.windows(2).skip(1).all(|w| w[0].end == w[1].start));
    }

    #[test]
    fn every_instant_after_activation_is_in_exactly_one_period() {
        let active = t(2026, 1, 31);
        let a = Anchors { ready_at: None, active_at: Some(active) };
        for day in 0..400 {
            let at = active + chrono::Duration::hours(day * 24 + 7);
            let p = period_at(a, at).unwrap();
            assert!(p.start <= at && at < p.end, "{at} not in {p:?}");
        }
    }
}
