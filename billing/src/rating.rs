//! A tenant's own rates: what usage no unit balance covers costs, by ToR and destination.
//!
//! A rate names a destination by ID (`Dest_AU_Mobile`) or `*any`, as CGrateS's destination rates
//! do, and prices `Rate` per `RateUnit` charged in whole `RateIncrement`s (CGrateS's rate slot
//! without connect fee or interval groups). The rate for a usage is the one of its ToR whose
//! destination holds the longest prefix of the usage's destination (`*any` matches with
//! length 0); equal matches go to the lowest ID, so the choice never depends on order of
//! definition.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::balance::Tor;
use crate::debit::Rate;
use crate::destinations::Destinations;

/// The destination of a rate that applies wherever no more precise one does.
pub const ANY_DESTINATION: &str = "*any";

/// Decimals a cost is rounded to when a rate does not say (CGrateS's usual tariff plans use 4).
pub const DEFAULT_ROUNDING_DECIMALS: u32 = 4;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RateDef {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "ToR")]
    pub tor: Tor,
    #[serde(rename = "DestinationID")]
    pub destination_id: String,
    /// Price per `rate_unit`, in the account's money.
    pub rate: Decimal,
    /// Units (bytes, nanoseconds, messages) the price is for.
    pub rate_unit: Decimal,
    /// Usage is charged in whole increments of this many units.
    pub rate_increment: Decimal,
    pub rounding_decimals: u32,
}

impl RateDef {
    pub fn rate(&self) -> Rate {
        Rate {
            price: self.rate,
            unit: self.rate_unit,
            increment: self.rate_increment,
            rounding_decimals: self.rounding_decimals,
        }
    }
}

/// The tenant's rate for usage of `tor` towards `destination`, if any of its rates matches.
pub fn rate_for(
    rates: &BTreeMap<String, RateDef>,
    destinations: &Destinations,
    tor: Tor,
    destination: &str,
) -> Option<Rate> {
    let mut best: Option<(usize, &RateDef)> = None;
    for def in rates.values().filter(|d| d.tor == tor) {
        let precision = if def.destination_id == ANY_DESTINATION {
            Some(0)
        } else {
            destinations
                .prefixes(&def.destination_id)
                .into_iter()
                .flatten()
                .filter(|p| destination.starts_with(p.as_str()))
                .map(String::len)
                .max()
        };
        // Strictly longer only: rates iterate in ID order, so a tie keeps the lowest ID.
        if let Some(p) = precision {
            if best.is_none_or(|(b, _)| p > b) {
                best = Some((p, def));
            }
        }
    }
    best.map(|(_, def)| def.rate())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn def(id: &str, tor: &str, dest: &str, rate: &str, unit: &str, increment: &str) -> RateDef {
        RateDef {
            id: id.into(),
            tor: crate::BalanceType::parse_usage(tor).unwrap(),
            destination_id: dest.into(),
            rate: d(rate),
            rate_unit: d(unit),
            rate_increment: d(increment),
            rounding_decimals: DEFAULT_ROUNDING_DECIMALS,
        }
    }

    fn catalog() -> (BTreeMap<String, RateDef>, Destinations) {
        let mut dest = Destinations::default();
        dest.set("Dest_AU", ["61".to_owned()]);
        dest.set("Dest_AU_Mobile", ["614".to_owned()]);
        let rates = [
            def("RT_ANY", "*voice", "*any", "0.50", "60000000000", "60000000000"),
            def("RT_AU", "*voice", "Dest_AU", "0.20", "60000000000", "1000000000"),
            def("RT_AU_MOBILE", "*voice", "Dest_AU_Mobile", "0.30", "60000000000", "1000000000"),
            def("RT_DATA", "*data", "*any", "0.01", "1000000", "1024"),
        ];
        (rates.into_iter().map(|r| (r.id.clone(), r)).collect(), dest)
    }

    #[test]
    fn the_rate_whose_destination_matches_the_longest_prefix_wins() {
        let (rates, dest) = catalog();
        assert_eq!(rate_for(&rates, &dest, Tor::Voice, "61412345678").unwrap().price, d("0.30"));
        assert_eq!(rate_for(&rates, &dest, Tor::Voice, "61298765432").unwrap().price, d("0.20"));
        assert_eq!(rate_for(&rates, &dest, Tor::Voice, "4420").unwrap().price, d("0.50"), "*any matches the rest");
    }

    #[test]
    fn a_rate_of_another_tor_or_an_unmatched_destination_does_not_apply() {
        let (mut rates, dest) = catalog();
        rates.remove("RT_ANY");
        assert_eq!(rate_for(&rates, &dest, Tor::Voice, "4420"), None);
        assert_eq!(rate_for(&rates, &dest, Tor::Sms, "61412345678"), None);
    }

    #[test]
    fn equal_matches_go_to_the_lowest_id() {
        let (mut rates, dest) = catalog();
        rates.insert("RT_A".into(), def("RT_A", "*voice", "Dest_AU", "0.99", "1", "1"));
        assert_eq!(rate_for(&rates, &dest, Tor::Voice, "612").unwrap().price, d("0.99"));
    }

    #[test]
    fn a_price_per_minute_charged_by_the_second_rounds_the_cost_once() {
        let (rates, dest) = catalog();
        let per_second = rate_for(&rates, &dest, Tor::Voice, "612").unwrap();
        // 61 s at 0.20/min = 0.20333…, rounded to 4 decimals.
        assert_eq!(per_second.cost(d("61000000000")), Some(d("0.2033")));
        // 60.2 s is charged as 61 s.
        assert_eq!(per_second.cost(d("60200000000")), Some(d("0.2033")));
        let per_minute = rate_for(&rates, &dest, Tor::Voice, "4420").unwrap();
        assert_eq!(per_minute.cost(d("61000000000")), Some(d("1.00")), "two started minutes");
        // 1 MB (1,000,000 bytes) at 0.01/MB in 1024-byte steps: 977 steps = 1,000,448 bytes.
        let data = rate_for(&rates, &dest, Tor::Data, "23415").unwrap();
        assert_eq!(data.cost(d("1000000")), Some(d("0.0100")));
        assert_eq!(data.cost(d("100000000")), Some(d("1.0000")));
    }
}
