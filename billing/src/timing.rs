//! Action-plan timings: when a plan's actions run, counted from an anchor (the moment an
//! account was bound to the plan), as CGrateS's timing tags and explicit cron-like fields.
//!
//! `*asap` (once, at the anchor), `*every_minute` (the anchor's second of each minute),
//! `*hourly` (its minute and second), `*daily` (its time of day), `*weekly` (its weekday),
//! `*monthly` (its day of the month; months without that day are skipped), `*monthly_estimated`
//! (the same, clamped to the month's last day), `*month_end` (the last day, at its time),
//! `*yearly`, `+10m` (once, that long after the anchor), or a time `HH:MM:SS` with optional
//! `Months`, `MonthDays` (`-1`: the last day) and `WeekDays` (0 or 7 Sunday … 6 Saturday). UTC.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Timelike, Utc};
use serde::{Deserialize, Serialize};

/// An action plan: action groups and when each runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ActionPlan {
    #[serde(rename = "ID")]
    pub id: String,
    pub timings: Vec<PlanTiming>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PlanTiming {
    #[serde(rename = "ActionsID")]
    pub actions_id: String,
    pub timing: Timing,
    /// Among firings at the same moment, the heavier runs first.
    pub weight: rust_decimal::Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Timing {
    Asap,
    EveryMinute,
    Hourly,
    Daily,
    Weekly,
    Monthly,
    MonthlyEstimated,
    MonthEnd,
    Yearly,
    /// Once, this many nanoseconds after the anchor.
    After(i64),
    At {
        time: NaiveTime,
        /// Empty: every year.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        years: Vec<i32>,
        months: Vec<u32>,
        month_days: Vec<i32>,
        week_days: Vec<u32>,
    },
}

impl Timing {
    /// A tag, or `HH:MM:SS` with the cron-like lists.
    pub fn parse(time: &str, months: &[u32], month_days: &[i32], week_days: &[u32]) -> Result<Self, String> {
        let tagged = match time.trim() {
            "*asap" | "" => Some(Self::Asap),
            "*every_minute" => Some(Self::EveryMinute),
            "*hourly" => Some(Self::Hourly),
            "*daily" => Some(Self::Daily),
            "*weekly" => Some(Self::Weekly),
            "*monthly" => Some(Self::Monthly),
            "*monthly_estimated" => Some(Self::MonthlyEstimated),
            "*month_end" => Some(Self::MonthEnd),
            "*yearly" => Some(Self::Yearly),
            _ => None,
        };
        if let Some(t) = tagged {
            return Ok(t);
        }
        if let Some(d) = time.strip_prefix('+') {
            let ns = crate::balance::go_duration(d)?;
            return if ns > 0 { Ok(Self::After(ns)) } else { Err(format!("{time:?}: the delay must be positive")) };
        }
        let at = NaiveTime::parse_from_str(time, "%H:%M:%S")
            .map_err(|_| format!("{time:?} is not a timing (*asap, *daily, …, +10m, or HH:MM:SS)"))?;
        if let Some(m) = months.iter().find(|m| !(1..=12).contains(*m)) {
            return Err(format!("month {m} is not 1..12"));
        }
        if let Some(d) = month_days.iter().find(|d| !(**d == -1 || (1..=31).contains(*d))) {
            return Err(format!("month day {d} is not 1..31 or -1"));
        }
        if let Some(w) = week_days.iter().find(|w| **w > 7) {
            return Err(format!("week day {w} is not 0..7"));
        }
        Ok(Self::At {
            time: at,
            years: Vec::new(),
            months: months.to_vec(),
            month_days: month_days.to_vec(),
            week_days: week_days.iter().map(|w| w % 7).collect(),
        })
    }

    /// Limits an `HH:MM:SS` timing to `years` (CGrateS's `Years`); a tag takes none.
    pub fn in_years(self, years: &[i32]) -> Result<Self, String> {
        match self {
            _ if years.is_empty() => Ok(self),
            Self::At { time, months, month_days, week_days, .. } => {
                if let Some(y) = years.iter().find(|y| !(1970..=9999).contains(*y)) {
                    return Err(format!("year {y} is not 1970..9999"));
                }
                Ok(Self::At { time, years: years.to_vec(), months, month_days, week_days })
            }
            _ => Err("Years go with a time HH:MM:SS, not with a timing tag".into()),
        }
    }

    /// The first firing strictly after `after` and not before `anchor`; `None` once a one-off
    /// timing has fired.
    pub fn next(&self, anchor: DateTime<Utc>, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // One-offs fire at their moment; recurring timings first fire after the anchor, as a
        // cron's next time after the binding would.
        let not_before = |t: DateTime<Utc>| (t > after && t >= anchor).then_some(t);
        let recurring = |t: DateTime<Utc>| (t > after && t > anchor).then_some(t);
        match self {
            Self::Asap => not_before(anchor),
            Self::After(ns) => not_before(anchor + Duration::nanoseconds(*ns)),
            Self::EveryMinute => {
                let from = after.max(anchor);
                let base = from.with_second(anchor.second())?.with_nanosecond(anchor.nanosecond())?;
                Some(if base > from { base } else { base + Duration::minutes(1) })
            }
            Self::Hourly => {
                let from = after.max(anchor);
                let base = from
                    .with_minute(anchor.minute())?
                    .with_second(anchor.second())?
                    .with_nanosecond(anchor.nanosecond())?;
                Some(if base > from { base } else { base + Duration::hours(1) })
            }
            _ => {
                let time = match self {
                    Self::At { time, .. } => *time,
                    _ => anchor.time(),
                };
                let start = after.max(anchor).date_naive();
                (0..=800).find_map(|offset| {
                    let day = start + Duration::days(offset);
                    if !self.on_day(day, anchor) {
                        return None;
                    }
                    recurring(Utc.from_utc_datetime(&day.and_time(time)))
                })
            }
        }
    }

    fn on_day(&self, day: NaiveDate, anchor: DateTime<Utc>) -> bool {
        let last = last_day_of_month(day);
        match self {
            Self::Daily => true,
            Self::Weekly => day.weekday() == anchor.weekday(),
            Self::Monthly => day.day() == anchor.day(),
            Self::MonthlyEstimated => day.day() == anchor.day().min(last),
            Self::MonthEnd => day.day() == last,
            Self::Yearly => day.month() == anchor.month() && day.day() == anchor.day(),
            Self::At { years, months, month_days, week_days, .. } => {
                (years.is_empty() || years.contains(&day.year()))
                    && (months.is_empty() || months.contains(&day.month()))
                    && (month_days.is_empty()
                        || month_days.iter().any(|d| if *d == -1 { day.day() == last } else { day.day() as i32 == *d }))
                    && (week_days.is_empty() || week_days.contains(&day.weekday().num_days_from_sunday()))
            }
            _ => false,
        }
    }
}

fn last_day_of_month(day: NaiveDate) -> u32 {
    let (y, m) = if day.month() == 12 { (day.year() + 1, 1) } else { (day.year(), day.month() + 1) };
    NaiveDate::from_ymd_opt(y, m, 1).and_then(|d| d.pred_opt()).map(|d| d.day()).unwrap_or(28)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    fn tag(s: &str) -> Timing {
        Timing::parse(s, &[], &[], &[]).unwrap()
    }

    #[test]
    fn one_off_timings_fire_once() {
        let anchor = t(2026, 1, 31, 10, 20, 30);
        assert_eq!(tag("*asap").next(anchor, anchor - Duration::seconds(1)), Some(anchor));
        assert_eq!(tag("*asap").next(anchor, anchor), None, "fired already");
        assert_eq!(tag("+10m").next(anchor, anchor), Some(t(2026, 1, 31, 10, 30, 30)));
        assert_eq!(tag("+10m").next(anchor, t(2026, 1, 31, 10, 30, 30)), None);
    }

    #[test]
    fn recurring_tags_keep_the_anchors_time() {
        let anchor = t(2026, 1, 31, 10, 20, 30);
        let after = t(2026, 2, 10, 12, 0, 0);
        assert_eq!(tag("*every_minute").next(anchor, after), Some(t(2026, 2, 10, 12, 0, 30)));
        assert_eq!(tag("*hourly").next(anchor, after), Some(t(2026, 2, 10, 12, 20, 30)));
        assert_eq!(tag("*daily").next(anchor, after), Some(t(2026, 2, 11, 10, 20, 30)));
        assert_eq!(tag("*weekly").next(anchor, after), Some(t(2026, 2, 14, 10, 20, 30)), "Saturdays");
        assert_eq!(tag("*monthly").next(anchor, after), Some(t(2026, 3, 31, 10, 20, 30)), "no Feb 31: skipped");
        assert_eq!(tag("*monthly_estimated").next(anchor, after), Some(t(2026, 2, 28, 10, 20, 30)), "clamped");
        assert_eq!(tag("*month_end").next(anchor, after), Some(t(2026, 2, 28, 10, 20, 30)));
        assert_eq!(tag("*yearly").next(anchor, after), Some(t(2027, 1, 31, 10, 20, 30)));
        let first = t(2026, 2, 1, 10, 20, 30);
        assert_eq!(tag("*daily").next(anchor, anchor - Duration::days(5)), Some(first), "first after the anchor");
        assert_eq!(tag("*every_minute").next(anchor, anchor), Some(anchor + Duration::minutes(1)));
    }

    #[test]
    fn explicit_times_with_cron_like_lists() {
        let anchor = t(2026, 1, 1, 0, 0, 0);
        let mondays = Timing::parse("08:00:00", &[], &[], &[1]).unwrap();
        assert_eq!(mondays.next(anchor, t(2026, 1, 1, 0, 0, 0)), Some(t(2026, 1, 5, 8, 0, 0)));
        let last_days = Timing::parse("23:59:00", &[2, 3], &[-1], &[]).unwrap();
        assert_eq!(last_days.next(anchor, t(2026, 1, 15, 0, 0, 0)), Some(t(2026, 2, 28, 23, 59, 0)));
        assert_eq!(last_days.next(anchor, t(2026, 2, 28, 23, 59, 0)), Some(t(2026, 3, 31, 23, 59, 0)));
        for bad in [("25:00:00", vec![], vec![]), ("08:00:00", vec![13], vec![]), ("08:00:00", vec![], vec![32])] {
            assert!(Timing::parse(bad.0, &bad.1, &bad.2, &[]).is_err(), "{bad:?}");
        }
        assert!(Timing::parse("+0s", &[], &[], &[]).is_err());
        // Years narrow an explicit time: the next 1 January at 00:00 of 2028, not of 2027.
        let new_year = Timing::parse("00:00:00", &[1], &[1], &[]).unwrap().in_years(&[2028]).unwrap();
        let anchor = t(2026, 6, 1, 0, 0, 0);
        assert_eq!(new_year.next(anchor, anchor), Some(t(2028, 1, 1, 0, 0, 0)));
        assert!(tag("*monthly").in_years(&[2027]).is_err());
        assert!(Timing::parse("*fortnightly", &[], &[], &[]).is_err());
    }
}
