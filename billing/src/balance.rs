//! Balances and their types, as CGrateS's legacy account model has them.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::balance_timing::BalanceTiming;

/// What a balance counts. Unit balances count CGrateS's units: nanoseconds for `*voice`, bytes
/// for `*data`, messages for `*sms`/`*mms`; `*monetary` counts money.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum BalanceType {
    #[serde(rename = "*monetary")]
    Monetary,
    #[serde(rename = "*voice")]
    Voice,
    #[serde(rename = "*data")]
    Data,
    #[serde(rename = "*sms")]
    Sms,
    #[serde(rename = "*mms")]
    Mms,
    #[serde(rename = "*generic")]
    Generic,
}

impl BalanceType {
    pub const ALL: [BalanceType; 6] = [Self::Monetary, Self::Voice, Self::Data, Self::Sms, Self::Mms, Self::Generic];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Monetary => "*monetary",
            Self::Voice => "*voice",
            Self::Data => "*data",
            Self::Sms => "*sms",
            Self::Mms => "*mms",
            Self::Generic => "*generic",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// A usage's type of record (CGrateS's ToR): what a CDR, a rate or an operator's price is for.
/// CGrateS names ToRs and balance types with the same constants (a `*cdrlog` CDR's ToR is the
/// balance type it changed, `*monetary` included), so they are one type here.
pub type Tor = BalanceType;

impl BalanceType {
    /// The ToRs usage is reported and rated in (`*monetary` is billing's own).
    pub const USAGE: [Tor; 5] = [Self::Voice, Self::Data, Self::Sms, Self::Mms, Self::Generic];

    /// A ToR a CDR or a rate may carry: one of [`BalanceType::USAGE`].
    pub fn parse_usage(s: &str) -> Result<Tor, String> {
        Self::USAGE.into_iter().find(|t| t.as_str() == s).ok_or_else(|| {
            let names: Vec<&str> = Self::USAGE.iter().map(|t| t.as_str()).collect();
            format!("{:?} is not one of {}", simledger_ids::shown(s), names.join(", "))
        })
    }
}

impl std::fmt::Display for BalanceType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The monetary balance that absorbs debt.
pub const DEFAULT_BALANCE_ID: &str = "*default";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Balance {
    /// Unique across the system; made from the account, the balance ID and the event that
    /// created it, so a replay makes the same one.
    pub uuid: String,
    /// Unique within the account.
    #[serde(rename = "ID")]
    pub id: String,
    pub value: Decimal,
    /// `None`: never expires.
    pub expiration_date: Option<DateTime<Utc>>,
    pub weight: Decimal,
    /// Destination ID → include (`true`) or exclude (`false`, written `!ID`). Empty: any.
    #[serde(rename = "DestinationIDs")]
    pub destination_ids: BTreeMap<String, bool>,
    /// `*zero1s`, `*zero1024`, …: free units in increments of that size. Empty: the type's
    /// default (`*zero1s` for `*voice`, one unit otherwise).
    pub rating_subject: String,
    /// Empty: any category.
    pub categories: BTreeSet<String>,
    pub blocker: bool,
    pub disabled: bool,
    /// Multiplies the units a debit takes, keyed by the request's factor ID.
    pub factors: BTreeMap<String, Decimal>,
    /// Timing ID → include (`true`) or veto (`false`, written `!ID`). Empty: usable at any time.
    #[serde(rename = "TimingIDs", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub timing_ids: BTreeMap<String, bool>,
    /// The timings those IDs named when the balance was last set: CGrateS copies them onto the
    /// balance, so a later change of a timing applies to balances set after it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timings: Vec<BalanceTiming>,
    /// Shared groups the balance belongs to ([`crate::shared_group`]). Empty: the account's own.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub shared_groups: BTreeSet<String>,
}

impl Balance {
    pub fn new(id: impl Into<String>, uuid: impl Into<String>) -> Self {
        Self {
            uuid: uuid.into(),
            id: id.into(),
            value: Decimal::ZERO,
            expiration_date: None,
            weight: Decimal::ZERO,
            destination_ids: BTreeMap::new(),
            rating_subject: String::new(),
            categories: BTreeSet::new(),
            blocker: false,
            disabled: false,
            factors: BTreeMap::new(),
            timing_ids: BTreeMap::new(),
            timings: Vec::new(),
            shared_groups: BTreeSet::new(),
        }
    }

    /// Usable at `at` as far as its timings go ([`crate::balance_timing::active`]).
    pub fn is_active_at(&self, at: DateTime<Utc>) -> bool {
        if self.timings.is_empty() {
            return true;
        }
        let timings = self.timings.iter().map(|t| (t, self.timing_ids.get(&t.id) != Some(&false)));
        crate::balance_timing::active(timings, at)
    }

    /// Expired when it has an expiry and that moment has passed.
    pub fn is_expired(&self, at: DateTime<Utc>) -> bool {
        self.expiration_date.is_some_and(|e| e < at)
    }

    /// The size of the increments this balance gives units in.
    pub fn increment(&self, kind: BalanceType) -> Decimal {
        if let Some(size) = self.rating_subject.strip_prefix("*zero") {
            if let Ok(ns) = parse_units(size) {
                if ns > 0 {
                    return Decimal::from(ns);
                }
            }
        }
        match kind {
            BalanceType::Voice => Decimal::from(1_000_000_000),
            _ => Decimal::ONE,
        }
    }
}

/// `1s` → 1e9, `1024` → 1024, `60s` → 6e10.
fn parse_units(s: &str) -> Result<i64, ()> {
    if let Ok(n) = s.parse::<i64>() {
        return Ok(n);
    }
    let (number, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1_000_000)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1_000_000_000)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60_000_000_000)
    } else if let Some(n) = s.strip_suffix('h') {
        (n, 3_600_000_000_000)
    } else {
        return Err(());
    };
    number.parse::<i64>().map(|n| n * scale).map_err(|_| ())
}

/// Resolves an expiry string at `now`: `*unlimited` or empty (never), `*daily`, `*monthly`,
/// `*yearly` (now + one of those), `*monthly_estimated` (+1 month, clamped to the month's
/// end), `*month_end` (the last second of this month, optionally `+duration`), `+20m`/`-5s`,
/// or RFC 3339.
pub fn resolve_expiry(s: &str, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, String> {
    let s = s.trim();
    let months = |n: u32| now.checked_add_months(chrono::Months::new(n)).ok_or_else(|| "out of range".to_string());
    match s {
        "" | "*unlimited" => Ok(None),
        "*daily" => Ok(Some(now + Duration::days(1))),
        "*monthly" | "*monthly_estimated" => months(1).map(Some),
        "*yearly" => months(12).map(Some),
        _ if s.starts_with("*month_end") => {
            let extra = match &s["*month_end".len()..] {
                "" => Duration::zero(),
                rest => Duration::nanoseconds(go_duration(rest)?),
            };
            let (y, m) = if now.month() == 12 { (now.year() + 1, 1) } else { (now.year(), now.month() + 1) };
            let first_next = NaiveDate::from_ymd_opt(y, m, 1).and_then(|d| d.and_hms_opt(0, 0, 0)).ok_or("bad date")?;
            Ok(Some(Utc.from_utc_datetime(&first_next) - Duration::seconds(1) + extra))
        }
        _ if s.starts_with('+') || s.starts_with('-') => Ok(Some(now + Duration::nanoseconds(go_duration(s)?))),
        _ => DateTime::parse_from_rfc3339(s)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| format!("{s:?} is not an expiry (*unlimited, *daily, *monthly, *month_end, +20m, RFC 3339)")),
    }
}

/// A signed Go duration of whole units (`+20m`, `-5s`, `1h30m`).
pub fn go_duration(s: &str) -> Result<i64, String> {
    let (sign, rest) = match s.as_bytes().first() {
        Some(b'-') => (-1, &s[1..]),
        Some(b'+') => (1, &s[1..]),
        _ => (1, s),
    };
    let mut total: i64 = 0;
    let mut number = String::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = if c == 'm' && chars.peek() == Some(&'s') {
            chars.next();
            1_000_000
        } else {
            match c {
                'h' => 3_600_000_000_000,
                'm' => 60_000_000_000,
                's' => 1_000_000_000,
                _ => return Err(format!("{s:?} is not a duration")),
            }
        };
        let n: i64 = number.parse().map_err(|_| format!("{s:?} is not a duration"))?;
        total += n * unit;
        number.clear();
    }
    if !number.is_empty() || rest.is_empty() {
        return Err(format!("{s:?} is not a duration (e.g. +20m)"));
    }
    Ok(sign * total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_strings_resolve_against_now() {
        let now = Utc.with_ymd_and_hms(2026, 1, 31, 10, 0, 0).unwrap();
        assert_eq!(resolve_expiry("*unlimited", now), Ok(None));
        assert_eq!(resolve_expiry("", now), Ok(None));
        assert_eq!(resolve_expiry("*daily", now), Ok(Some(Utc.with_ymd_and_hms(2026, 2, 1, 10, 0, 0).unwrap())));
        assert_eq!(
            resolve_expiry("*monthly", now),
            Ok(Some(Utc.with_ymd_and_hms(2026, 2, 28, 10, 0, 0).unwrap())),
            "a month from Jan 31 is clamped to Feb 28"
        );
        assert_eq!(resolve_expiry("*month_end", now), Ok(Some(Utc.with_ymd_and_hms(2026, 1, 31, 23, 59, 59).unwrap())));
        assert_eq!(
            resolve_expiry("*month_end+1h", now),
            Ok(Some(Utc.with_ymd_and_hms(2026, 2, 1, 0, 59, 59).unwrap()))
        );
        assert_eq!(resolve_expiry("+20m", now), Ok(Some(Utc.with_ymd_and_hms(2026, 1, 31, 10, 20, 0).unwrap())));
        assert_eq!(resolve_expiry("-5s", now), Ok(Some(Utc.with_ymd_and_hms(2026, 1, 31, 9, 59, 55).unwrap())));
        assert!(resolve_expiry("soon", now).is_err());
    }

    #[test]
    fn a_rating_subject_of_zero_sets_the_increment() {
        let mut b = Balance::new("b", "u");
        assert_eq!(b.increment(BalanceType::Voice), Decimal::from(1_000_000_000));
        assert_eq!(b.increment(BalanceType::Data), Decimal::ONE);
        b.rating_subject = "*zero60s".into();
        assert_eq!(b.increment(BalanceType::Voice), Decimal::from(60_000_000_000i64));
        b.rating_subject = "*zero1024".into();
        assert_eq!(b.increment(BalanceType::Data), Decimal::from(1024));
    }
}

#[cfg(test)]
mod tor_tests {
    use super::*;

    #[test]
    fn a_usage_tor_is_one_of_cgrates_five_and_money_is_not_one() {
        for t in BalanceType::USAGE {
            assert_eq!(BalanceType::parse_usage(t.as_str()), Ok(t));
        }
        let refused = BalanceType::parse_usage("*monetary").unwrap_err();
        assert!(refused.contains("*voice, *data, *sms, *mms, *generic"), "{refused}");
        assert!(BalanceType::parse_usage("*DATA").is_err(), "case-sensitive, as CGrateS");
        assert!(BalanceType::parse_usage(&"x".repeat(10_000)).unwrap_err().len() < 200, "quoted input is bounded");
        // A *cdrlog CDR's ToR is the balance type it changed, money included.
        let cdrlog: Tor = serde_json::from_str("\"*monetary\"").unwrap();
        assert_eq!(cdrlog, BalanceType::Monetary);
    }
}
