//! Timings a balance is usable in (CGrateS's `TimingIDs` and the `RITiming`s they resolve to):
//! a balance with timings gives units only while one of them is active, e.g. evenings or
//! weekends.
//!
//! A timing is a daily window on chosen days: `Years`, `Months`, `MonthDays`, `WeekDays` (each
//! empty for any) and `StartTime`–`EndTime` within the day, as CGrateS checks them: the end is
//! inclusive, an empty end is the end of the day, and a window never runs past midnight (so
//! `22:00:00`–`06:00:00` is never active; two timings cover a night). Days and times are UTC,
//! simledger's one time zone.

use chrono::{DateTime, Datelike, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

/// The timing every tenant has without defining it: active at every moment (CGrateS's
/// predefined `*any`).
pub const ANY_TIMING: &str = "*any";

/// A balance timing as CGrateS's `TPTiming`/`RITiming` has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BalanceTiming {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(default)]
    pub years: Vec<i32>,
    #[serde(default)]
    pub months: Vec<u32>,
    #[serde(default)]
    pub month_days: Vec<u32>,
    /// 0 (or 7) Sunday … 6 Saturday.
    #[serde(default)]
    pub week_days: Vec<u32>,
    pub start_time: NaiveTime,
    /// `None`: the end of the day.
    #[serde(default)]
    pub end_time: Option<NaiveTime>,
}

/// Bounds on what a timing may list, so a definition stays small.
const MAX_LIST: usize = 400;

impl BalanceTiming {
    /// The predefined `*any`.
    pub fn any() -> Self {
        Self {
            id: ANY_TIMING.into(),
            years: Vec::new(),
            months: Vec::new(),
            month_days: Vec::new(),
            week_days: Vec::new(),
            start_time: NaiveTime::MIN,
            end_time: None,
        }
    }

    /// A timing from CGrateS's wire fields: each list `*any`, empty or `;`-separated numbers,
    /// and `Time` as `START` or `START;END` (`HH:MM:SS`).
    pub fn parse(
        id: &str,
        years: &str,
        months: &str,
        month_days: &str,
        week_days: &str,
        time: &str,
    ) -> Result<Self, String> {
        let (start, end) = match time.split_once(';') {
            Some((s, e)) => (s, Some(e)),
            None => (time, None),
        };
        Self::from_parts(
            id,
            parse_list(years, "Years", 1, 9999)?,
            parse_list(months, "Months", 1, 12)?,
            parse_list(month_days, "MonthDays", 1, 31)?,
            parse_list(week_days, "WeekDays", 0, 7)?,
            start,
            end.unwrap_or(""),
        )
    }

    /// A timing from its lists and `HH:MM:SS` times (an empty start is midnight, an empty end
    /// the end of the day), each list checked against its range.
    pub fn from_parts(
        id: &str,
        years: Vec<i64>,
        months: Vec<i64>,
        month_days: Vec<i64>,
        week_days: Vec<i64>,
        start: &str,
        end: &str,
    ) -> Result<Self, String> {
        if id.is_empty() || id.len() > crate::bounds::MAX_ID_LEN {
            return Err(format!("ID must be 1 to {} characters", crate::bounds::MAX_ID_LEN));
        }
        if id == ANY_TIMING {
            return Err(format!("{ANY_TIMING} is predefined"));
        }
        let within = |list: Vec<i64>, name: &str, lo: i64, hi: i64| -> Result<Vec<i64>, String> {
            if list.len() > MAX_LIST {
                return Err(format!("{name} lists at most {MAX_LIST} values"));
            }
            match list.iter().find(|v| !(lo..=hi).contains(*v)) {
                Some(v) => Err(format!("{name}: {v} is not within {lo}..{hi}")),
                None => Ok(list),
            }
        };
        let time = |s: &str, name: &str| -> Result<Option<NaiveTime>, String> {
            if s.trim().is_empty() {
                return Ok(None);
            }
            NaiveTime::parse_from_str(s.trim(), "%H:%M:%S")
                .map(Some)
                .map_err(|_| format!("{name} {:?} is not a time of day (HH:MM:SS)", simledger_ids::shown(s)))
        };
        let narrow = |v: Vec<i64>| v.into_iter().map(|x| x as u32).collect::<Vec<u32>>();
        Ok(Self {
            id: id.to_owned(),
            years: within(years, "Years", 1, 9999)?.into_iter().map(|y| y as i32).collect(),
            months: narrow(within(months, "Months", 1, 12)?),
            month_days: narrow(within(month_days, "MonthDays", 1, 31)?),
            // 7 is Sunday too, as in Go's `day % 7`.
            week_days: narrow(within(week_days, "WeekDays", 0, 7)?).into_iter().map(|d| d % 7).collect(),
            start_time: time(start, "StartTime")?.unwrap_or(NaiveTime::MIN),
            end_time: time(end, "EndTime")?,
        })
    }

    /// CGrateS's `RITiming.IsActiveAt`: on one of the days, between start and end inclusive.
    pub fn is_active_at(&self, t: DateTime<Utc>) -> bool {
        let day_fits = (self.years.is_empty() || self.years.contains(&t.year()))
            && (self.months.is_empty() || self.months.contains(&t.month()))
            && (self.month_days.is_empty() || self.month_days.contains(&t.day()))
            && (self.week_days.is_empty() || self.week_days.contains(&t.weekday().num_days_from_sunday()));
        if !day_fits {
            return false;
        }
        let now = t.time();
        // Go compares instants: `t.After(end)` with nanoseconds, so 11:59:59.5 is past 11:59:59.
        now >= self.start_time && self.end_time.is_none_or(|end| now <= end)
    }
}

/// `*any` or empty → any; else `;`-separated whole numbers within `lo..=hi`.
fn parse_list(s: &str, name: &str, lo: i64, hi: i64) -> Result<Vec<i64>, String> {
    let s = s.trim();
    if s.is_empty() || s == "*any" {
        return Ok(Vec::new());
    }
    s.split(';')
        .map(|part| {
            part.trim()
                .parse::<i64>()
                .ok()
                .filter(|v| (lo..=hi).contains(v))
                .ok_or_else(|| format!("{name}: {:?} is not a number within {lo}..{hi}", simledger_ids::shown(part)))
        })
        .collect()
}

/// Whether a balance's timings let it be used at `t`: no timings, any active one, and none of
/// its vetoes (`!ID`, as CGrateS's newer releases have them) active.
pub fn active<'a>(timings: impl Iterator<Item = (&'a BalanceTiming, bool)> + Clone, t: DateTime<Utc>) -> bool {
    let mut allowed = timings.clone().all(|(_, include)| !include);
    for (timing, include) in timings {
        if timing.is_active_at(t) {
            if !include {
                return false;
            }
            allowed = true;
        }
    }
    allowed
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(d: u32, h: u32, m: u32, s: u32) -> DateTime<Utc> {
        // 2026-12-01 is a Tuesday.
        Utc.with_ymd_and_hms(2026, 12, d, h, m, s).unwrap()
    }

    #[test]
    fn a_window_is_daily_with_an_inclusive_end() {
        let half = BalanceTiming::parse("HALF1", "*any", "*any", "*any", "*any", "00:00:00;11:59:59").unwrap();
        assert!(half.is_active_at(at(1, 0, 0, 0)));
        assert!(half.is_active_at(at(1, 11, 59, 59)), "the end second is inside");
        assert!(!half.is_active_at(at(1, 11, 59, 59) + chrono::Duration::milliseconds(500)), "Go compares instants");
        assert!(!half.is_active_at(at(1, 12, 0, 0)));
        assert!(half.is_active_at(at(2, 6, 0, 0)), "every day");
    }

    #[test]
    fn days_narrow_the_window_and_an_empty_end_runs_to_midnight() {
        let weekend = BalanceTiming::parse("WEEKEND", "*any", "*any", "*any", "6;7", "00:00:00").unwrap();
        assert_eq!(weekend.week_days, [6, 0], "7 is Sunday");
        assert!(!weekend.is_active_at(at(4, 12, 0, 0)), "a Friday");
        assert!(weekend.is_active_at(at(5, 0, 0, 0)), "Saturday");
        assert!(weekend.is_active_at(at(6, 23, 59, 59)), "Sunday, to its last second");
        let evening = BalanceTiming::parse("EVENING", "2026", "12", "1;2", "*any", "19:00:00").unwrap();
        assert!(evening.is_active_at(at(1, 19, 0, 0)));
        assert!(!evening.is_active_at(at(1, 18, 59, 59)));
        assert!(!evening.is_active_at(at(3, 20, 0, 0)), "not on a day it lists");
        let night = BalanceTiming::parse("NIGHT", "*any", "*any", "*any", "*any", "22:00:00;06:00:00").unwrap();
        assert!(!night.is_active_at(at(1, 23, 0, 0)) && !night.is_active_at(at(1, 3, 0, 0)), "no wrap, as CGrateS");
    }

    #[test]
    fn bad_definitions_are_refused_with_the_field_named() {
        for (fields, field) in [
            (["*any", "13", "*any", "*any", "00:00:00"], "Months"),
            (["*any", "*any", "0", "*any", "00:00:00"], "MonthDays"),
            (["*any", "*any", "*any", "8", "00:00:00"], "WeekDays"),
            (["*any", "*any", "*any", "mon", "00:00:00"], "WeekDays"),
            (["*any", "*any", "*any", "*any", "*asap"], "StartTime"),
            (["*any", "*any", "*any", "*any", "08:00:00;25:00:00"], "EndTime"),
        ] {
            let err = BalanceTiming::parse("T", fields[0], fields[1], fields[2], fields[3], fields[4]).unwrap_err();
            assert!(err.contains(field), "{err}");
        }
        assert!(BalanceTiming::parse("*any", "", "", "", "", "00:00:00").is_err(), "*any is predefined");
        assert!(BalanceTiming::parse(&"x".repeat(1000), "", "", "", "", "").is_err());
        let many = vec!["1"; 500].join(";");
        assert!(BalanceTiming::parse("T", "", "", &many, "", "").is_err());
    }

    #[test]
    fn vetoes_win_and_only_vetoes_allow_the_rest() {
        let day = BalanceTiming::parse("DAY", "", "", "", "", "08:00:00;17:59:59").unwrap();
        let friday = BalanceTiming::parse("FRIDAY", "", "", "", "5", "").unwrap();
        let of = |list: &[(BalanceTiming, bool)], t| active(list.iter().map(|(x, i)| (x, *i)), t);
        assert!(of(&[], at(1, 3, 0, 0)));
        assert!(of(&[(day.clone(), true)], at(1, 9, 0, 0)));
        assert!(!of(&[(day.clone(), true)], at(1, 20, 0, 0)));
        assert!(!of(&[(day.clone(), true), (friday.clone(), false)], at(4, 9, 0, 0)), "Friday vetoes");
        assert!(of(&[(friday.clone(), false)], at(3, 9, 0, 0)), "only a veto: any other time");
        assert!(of(&[(BalanceTiming::any(), true)], at(6, 23, 0, 0)));
    }
}
