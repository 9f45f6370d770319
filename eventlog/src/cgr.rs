//! Values as CGrateS writes them on its wire: Go durations (`150s`, `1m30s`, `500ms`, a bare
//! number meaning nanoseconds) and its tolerant time formats. Shared by the events, the
//! commands that parse external CDRs and the billing dialect, so all read them the same way;
//! and an account as `GetAccount` shows it, for the dialect's replies and `*http_post`.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde::Serialize;
use simledger_billing::{Account, BalanceFilter, BalanceType, ThresholdType};

/// Parses a Go duration (`"1h2m3.5s"`, `"-90s"`, `"250ms"`) or a bare integer of nanoseconds
/// (`"150000000000"`, as CGrateS reads a unitless Usage) into nanoseconds.
pub fn parse_go_duration(s: &str) -> Result<i64, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("an empty duration".into());
    }
    if let Ok(ns) = s.parse::<i64>() {
        return Ok(ns);
    }
    let (negative, mut rest) = match s.as_bytes()[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok(0);
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let (number, tail) = rest.split_at(digits);
        if number.is_empty() || number == "." {
            return Err(format!("{s:?} is not a duration (e.g. 150s, 1m30s, 500ms)"));
        }
        let unit_len = tail.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(tail.len());
        let (unit, after) = tail.split_at(unit_len);
        let scale: i128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => return Err(format!("{s:?}: a number needs a unit (ns, us, ms, s, m, h)")),
            other => return Err(format!("{s:?}: unknown unit {other:?} (ns, us, ms, s, m, h)")),
        };
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        let whole: i128 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| format!("{s:?}: bad number"))? };
        let mut part = whole.checked_mul(scale).ok_or_else(|| format!("{s:?} is too long"))?;
        let mut divisor = 1i128;
        for digit in fraction.bytes() {
            if !digit.is_ascii_digit() {
                return Err(format!("{s:?}: bad number"));
            }
            divisor *= 10;
            if divisor > 1_000_000_000_000_000_000 {
                break; // beyond a nanosecond of an hour
            }
            part += i128::from(digit - b'0') * scale / divisor;
        }
        total += part;
        rest = after;
    }
    let total = if negative { -total } else { total };
    i64::try_from(total).map_err(|_| format!("{s:?} is too long"))
}

/// Writes nanoseconds as Go's `time.Duration.String()` does: `2m30s`, `1h0m0s`, `1.5s`,
/// `250ms`, `0s`.
pub fn format_go_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let sign = if ns < 0 { "-" } else { "" };
    let n = ns.unsigned_abs();
    let fraction = |value: u64, scale: u64| -> String {
        let (whole, rest) = (value / scale, value % scale);
        if rest == 0 {
            return whole.to_string();
        }
        let digits = scale.ilog10() as usize;
        let text = format!("{whole}.{rest:0digits$}");
        text.trim_end_matches('0').to_owned()
    };
    if n < 1_000 {
        return format!("{sign}{n}ns");
    }
    if n < 1_000_000 {
        return format!("{sign}{}µs", fraction(n, 1_000));
    }
    if n < 1_000_000_000 {
        return format!("{sign}{}ms", fraction(n, 1_000_000));
    }
    let (hours, rest) = (n / 3_600_000_000_000, n % 3_600_000_000_000);
    let (minutes, rest) = (rest / 60_000_000_000, rest % 60_000_000_000);
    let seconds = fraction(rest, 1_000_000_000);
    match (hours, minutes) {
        (0, 0) => format!("{sign}{seconds}s"),
        (0, m) => format!("{sign}{m}m{seconds}s"),
        (h, m) => format!("{sign}{h}h{m}m{seconds}s"),
    }
}

/// Parses a time as CGrateS's `ParseTimeDetectLayout` does for the layouts people send: RFC 3339,
/// `2006-01-02 15:04:05` and `2006-01-02` (UTC), Unix seconds, and `*now`.
pub fn parse_time(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let s = s.trim();
    if s == "*now" {
        return Ok(now);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f") {
        return Ok(Utc.from_utc_datetime(&t));
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight exists")));
    }
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        if let Some(t) = s.parse::<i64>().ok().and_then(|secs| DateTime::from_timestamp(secs, 0)) {
            return Ok(t);
        }
    }
    Err(format!("{s:?} is not a time (RFC 3339, \"2006-01-02 15:04:05\", a date, Unix seconds or *now)"))
}

/// [`parse_time`] for a time that may be unset: empty, or Go's zero time (year 1, however it is
/// written), is `None`, as CGrateS reads it.
pub fn parse_optional_time(s: &str, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, String> {
    let s = s.trim();
    if s.is_empty() || s.starts_with("0001-01-01") {
        return Ok(None);
    }
    parse_time(s, now).map(Some)
}

/// A decimal written as a JSON number, digit for digit: CGrateS replies carry amounts as
/// numbers, and none passes through a float here.
#[derive(Debug, Clone, Copy)]
pub struct Num(pub rust_decimal::Decimal);

impl Serialize for Num {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let raw = serde_json::value::RawValue::from_string(self.0.normalize().to_string())
            .map_err(serde::ser::Error::custom)?;
        raw.serialize(s)
    }
}

/// A balance as CGrateS writes it (map fields as `{"ID": true}` objects).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct BalanceReply {
    uuid: String,
    #[serde(rename = "ID")]
    id: String,
    value: Num,
    expiration_date: String,
    weight: Num,
    #[serde(rename = "DestinationIDs")]
    destination_ids: BTreeMap<String, bool>,
    rating_subject: String,
    categories: BTreeMap<String, bool>,
    shared_groups: BTreeMap<String, bool>,
    timings: Option<Vec<TimingReply>>,
    #[serde(rename = "TimingIDs")]
    timing_ids: BTreeMap<String, bool>,
    disabled: bool,
    factors: Option<BTreeMap<String, Num>>,
    blocker: bool,
}

/// A balance's timing as CGrateS's `RITiming` writes it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TimingReply {
    #[serde(rename = "ID")]
    id: String,
    years: Vec<i32>,
    months: Vec<u32>,
    month_days: Vec<u32>,
    week_days: Vec<u32>,
    start_time: String,
    end_time: String,
}

impl From<&simledger_billing::BalanceTiming> for TimingReply {
    fn from(t: &simledger_billing::BalanceTiming) -> Self {
        Self {
            id: t.id.clone(),
            years: t.years.clone(),
            months: t.months.clone(),
            month_days: t.month_days.clone(),
            week_days: t.week_days.clone(),
            start_time: t.start_time.format("%H:%M:%S").to_string(),
            end_time: t.end_time.map(|e| e.format("%H:%M:%S").to_string()).unwrap_or_default(),
        }
    }
}

/// Go's zero time, which CGrateS writes for "never".
pub const GO_ZERO_TIME: &str = "0001-01-01T00:00:00Z";

pub fn go_time(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)).unwrap_or_else(|| GO_ZERO_TIME.into())
}

/// An action trigger as CGrateS shows it (`GetAccount`'s `ActionTriggers`,
/// `GetActionTriggers`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TriggerReply {
    #[serde(rename = "ID")]
    id: String,
    #[serde(rename = "UniqueID")]
    unique_id: String,
    threshold_type: ThresholdType,
    threshold_value: Num,
    recurrent: bool,
    min_sleep: i64,
    expiration_date: String,
    activation_date: String,
    balance: BalanceFilter,
    weight: Num,
    #[serde(rename = "ActionsID")]
    actions_id: String,
    min_queued_items: i64,
    executed: bool,
    last_execution_time: String,
}

impl From<&simledger_billing::ActionTrigger> for TriggerReply {
    fn from(t: &simledger_billing::ActionTrigger) -> Self {
        Self {
            id: t.id.clone(),
            unique_id: t.unique_id.clone(),
            threshold_type: t.threshold_type,
            threshold_value: Num(t.threshold_value),
            recurrent: t.recurrent,
            min_sleep: t.min_sleep,
            expiration_date: go_time(t.expiration_date),
            activation_date: go_time(t.activation_date),
            balance: t.balance.clone(),
            weight: Num(t.weight),
            actions_id: t.actions_id.clone(),
            min_queued_items: 0,
            executed: t.executed,
            last_execution_time: go_time(t.last_execution_time),
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccountView {
    #[serde(rename = "ID")]
    id: String,
    balance_map: BTreeMap<BalanceType, Vec<BalanceReply>>,
    unit_counters: BTreeMap<BalanceType, Num>,
    action_triggers: Vec<TriggerReply>,
    allow_negative: bool,
    disabled: bool,
    update_time: String,
}

/// An account as CGrateS's `APIerSv2.GetAccount` writes it: `ID` = `tenant:account`, a
/// `BalanceMap` by type, Go zero times for "never", amounts as JSON numbers digit for digit.
impl From<&Account> for AccountView {
    fn from(a: &Account) -> Self {
        let flags = |s: &BTreeSet<String>| s.iter().map(|k| (k.clone(), true)).collect();
        AccountView {
            id: format!("{}:{}", a.tenant, a.id),
            balance_map: a
                .balance_map
                .iter()
                .filter(|(_, list)| !list.is_empty())
                .map(|(kind, list)| {
                    let list = list
                        .iter()
                        .map(|b| BalanceReply {
                            uuid: b.uuid.clone(),
                            id: b.id.clone(),
                            value: Num(b.value),
                            expiration_date: go_time(b.expiration_date),
                            weight: Num(b.weight),
                            destination_ids: b.destination_ids.clone(),
                            rating_subject: b.rating_subject.clone(),
                            categories: flags(&b.categories),
                            shared_groups: flags(&b.shared_groups),
                            timings: (!b.timings.is_empty()).then(|| b.timings.iter().map(TimingReply::from).collect()),
                            timing_ids: b.timing_ids.clone(),
                            disabled: b.disabled,
                            factors: (!b.factors.is_empty())
                                .then(|| b.factors.iter().map(|(k, v)| (k.clone(), Num(*v))).collect()),
                            blocker: b.blocker,
                        })
                        .collect();
                    (*kind, list)
                })
                .collect(),
            unit_counters: a.unit_counters.iter().map(|(k, v)| (*k, Num(*v))).collect(),
            action_triggers: a.action_triggers.iter().map(TriggerReply::from).collect(),
            allow_negative: a.allow_negative,
            disabled: a.disabled,
            update_time: go_time(a.update_time),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse_to_nanoseconds() {
        assert_eq!(parse_go_duration("150s"), Ok(150_000_000_000));
        assert_eq!(parse_go_duration("1m30s"), Ok(90_000_000_000));
        assert_eq!(parse_go_duration("1.5s"), Ok(1_500_000_000));
        assert_eq!(parse_go_duration("250ms"), Ok(250_000_000));
        assert_eq!(parse_go_duration("1h"), Ok(3_600_000_000_000));
        assert_eq!(parse_go_duration("-20m"), Ok(-1_200_000_000_000));
        assert_eq!(parse_go_duration("1024"), Ok(1024), "a bare number is nanoseconds (or units)");
        assert_eq!(parse_go_duration("0"), Ok(0));
        for bad in ["", "s", "10x", "1.2.3s", "ms10"] {
            assert!(parse_go_duration(bad).is_err(), "{bad:?} is refused");
        }
    }

    #[test]
    fn durations_are_written_as_go_writes_them() {
        for (ns, text) in [
            (0, "0s"),
            (150_000_000_000, "2m30s"),
            (3_600_000_000_000, "1h0m0s"),
            (1_500_000_000, "1.5s"),
            (250_000_000, "250ms"),
            (1_024, "1.024µs"),
            (7, "7ns"),
            (-90_000_000_000, "-1m30s"),
        ] {
            assert_eq!(format_go_duration(ns), text);
            assert_eq!(parse_go_duration(text), Ok(ns), "{text} reads back");
        }
    }

    #[test]
    fn times_parse_in_the_layouts_cgrates_detects() {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let t = Utc.with_ymd_and_hms(2026, 5, 1, 10, 0, 0).unwrap();
        assert_eq!(parse_time("2026-05-01T10:00:00Z", now), Ok(t));
        assert_eq!(parse_time("2026-05-01T12:00:00+02:00", now), Ok(t));
        assert_eq!(parse_time("2026-05-01 10:00:00", now), Ok(t));
        assert_eq!(parse_time(&t.timestamp().to_string(), now), Ok(t));
        assert_eq!(parse_time("*now", now), Ok(now));
        assert!(parse_time("yesterday", now).is_err());
    }
}
