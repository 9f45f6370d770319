//! How CGrateS's billing APIs spell their values: numbers as text, `;`-separated lists, cron
//! fields, balance types and flags, read as Go's CGrateS reads them.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use simledger_billing::BalanceType;

use super::super::RpcError;

/// A number (or a numeric string) read digit for digit from the request text.
#[derive(Debug, Clone, Copy, Default)]
pub struct Amount(pub Decimal);

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(d)?;
        let text = raw.get().trim().trim_matches('"');
        Decimal::from_str(text)
            .or_else(|_| Decimal::from_scientific(text))
            .map(Amount)
            .map_err(|_| serde::de::Error::custom(format!("{} is not a number", raw.get())))
    }
}

/// `"DST1;!DST2"` → {DST1: true, DST2: false}. `*any` restricts nothing, as in CGrateS.
pub(super) fn destination_ids(s: &str) -> BTreeMap<String, bool> {
    s.split(';')
        .filter(|p| !p.is_empty() && *p != ANY)
        .map(|p| match p.strip_prefix('!') {
            Some(id) => (id.to_owned(), false),
            None => (p.to_owned(), true),
        })
        .collect()
}

pub(super) const ANY: &str = "*any";

/// A list CGrateS takes either as a `;`-separated string or as an array of strings, as the
/// `;`-separated string the rest of this module reads.
pub(super) fn semicolon_list<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum List {
        Text(String),
        Items(Vec<String>),
    }
    Ok(match List::deserialize(d)? {
        List::Text(s) => s,
        List::Items(items) => items.join(";"),
    })
}

/// `ExtraParameters`, which CGrateS users write as a string or, for `*cdrlog`'s template and
/// the like, as a JSON object: kept as text either way (an object as its JSON).
pub(super) fn text_or_json<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => s,
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    })
}

/// A timing's `Years`, `Months`, `MonthDays` or `WeekDays` as CGrateS takes them: an array
/// of numbers, a `;`-separated string of them, or `*any` (every one).
pub(super) fn cron_list<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr + serde::de::DeserializeOwned,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum List<T> {
        Text(String),
        Numbers(Vec<T>),
        Texts(Vec<String>),
    }
    let parse = |items: Vec<String>| {
        items
            .iter()
            .map(|i| i.trim())
            .filter(|i| !i.is_empty() && *i != ANY)
            .map(|i| i.parse::<T>().map_err(|_| serde::de::Error::custom(format!("{i:?} is not a number"))))
            .collect::<Result<Vec<T>, D::Error>>()
    };
    match List::<T>::deserialize(d)? {
        List::Numbers(n) => Ok(n),
        List::Text(s) => parse(s.split(';').map(str::to_owned).collect()),
        List::Texts(items) => parse(items),
    }
}

pub(super) fn set_of(s: &str) -> BTreeSet<String> {
    s.split(';').filter(|p| !p.is_empty()).map(str::to_owned).collect()
}

pub(super) fn balance_type(s: &str) -> Result<BalanceType, RpcError> {
    if s.is_empty() {
        return Err(RpcError::missing(&["BalanceType"]));
    }
    BalanceType::parse(s).ok_or_else(|| RpcError::server(format!("unsupported BalanceType {s:?}")))
}

pub(super) fn flag(s: &str, field: &str) -> Result<Option<bool>, RpcError> {
    match s {
        "" => Ok(None),
        "true" => Ok(Some(true)),
        "false" => Ok(Some(false)),
        other => Err(RpcError::server(format!("{field} must be \"true\" or \"false\", not {other:?}"))),
    }
}

/// Units a rate is priced or charged in: a number (bytes, messages, nanoseconds) or, as CGrateS
/// writes a rate slot's `RateUnit`/`RateIncrement`, a Go duration (`"60s"`).
#[derive(Debug, Clone, Copy)]
pub(super) struct Units(pub(super) Decimal);

impl<'de> Deserialize<'de> for Units {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(d)?;
        let text = raw.get().trim().trim_matches('"');
        Decimal::from_str(text)
            .ok()
            .or_else(|| simledger_eventlog::cgr::parse_go_duration(text).ok().map(Decimal::from))
            .map(Units)
            .ok_or_else(|| serde::de::Error::custom(format!("{} is neither a number nor a Go duration", raw.get())))
    }
}
