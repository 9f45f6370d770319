//! CGrateS-style billing, as a pure domain: accounts and balances ([`account`], [`balance`]),
//! destinations, the debit algorithm ([`debit`]), rates ([`rating`]), actions ([`action`]) and action triggers
//! ([`trigger`]). No I/O: billing (`simledger-policies`) folds the log through these functions, so a
//! replay of the log gives the same balances, and every rule here is tested without a database.
//!
//! Where CGrateS leaves things to chance or its users complained, this crate decides, and says
//! so where it does: a stable debit order (precision, weight, expiry, ID), an explicit
//! negative-balance policy (`Account::allow_negative`), expiries a topup may extend.

pub mod account;
pub mod action;
pub mod balance;
pub mod balance_timing;
pub mod bounds;
pub mod cdrlog;
pub mod chargers;
pub mod debit;
pub mod destinations;
pub mod rating;
pub mod shared_group;
pub mod timing;
pub mod trigger;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use account::Account;
pub use action::{Action, ActionError, ActionType, BalanceFilter, Effect};
pub use balance::{Balance, BalanceType, Tor};
pub use balance_timing::BalanceTiming;
pub use chargers::{ChargerError, ChargerProfile};
pub use debit::{Debit, DebitError, DebitMode, DebitRequest, Rate};
pub use destinations::{Destinations, GLOBAL_TENANT};
pub use rating::RateDef;
pub use shared_group::{SharedGroup, Strategy};
pub use timing::{ActionPlan, PlanTiming, Timing};
pub use trigger::{ActionTrigger, ThresholdType};

/// The definitions accounts refer to by ID: destinations, action groups, trigger groups, plans,
/// rates.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    pub destinations: Destinations,
    pub actions: BTreeMap<String, Vec<Action>>,
    pub trigger_groups: BTreeMap<String, Vec<ActionTrigger>>,
    #[serde(default)]
    pub plans: BTreeMap<String, ActionPlan>,
    #[serde(default)]
    pub rates: BTreeMap<String, RateDef>,
    /// Balance timings by ID; `*any` is there without being defined ([`Catalog::timing`]).
    #[serde(default)]
    pub timings: BTreeMap<String, BalanceTiming>,
    #[serde(default)]
    pub shared_groups: BTreeMap<String, SharedGroup>,
}

impl Catalog {
    /// A balance timing by ID, the predefined `*any` included.
    pub fn timing(&self, id: &str) -> Option<BalanceTiming> {
        if id == balance_timing::ANY_TIMING {
            return Some(BalanceTiming::any());
        }
        self.timings.get(id).cloned()
    }

    /// The tenant's price for usage no unit balance covers ([`rating::rate_for`]).
    pub fn rate_for(&self, tor: Tor, destination: &str) -> Option<Rate> {
        rating::rate_for(&self.rates, &self.destinations, tor, destination)
    }
}

/// A trigger that fired, and how its actions went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FiredTrigger {
    #[serde(rename = "UniqueID")]
    pub unique_id: String,
    #[serde(rename = "ActionsID")]
    pub actions_id: String,
    /// Why its actions did not run (they run all or nothing).
    pub error: Option<String>,
}

/// What a change caused beyond itself.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub effects: Vec<Effect>,
    pub fired: Vec<FiredTrigger>,
}

/// Runs an action group, then the triggers the change crossed. Trigger actions do not
/// re-evaluate triggers (CGrateS's re-entrancy guard).
pub fn run_actions(
    account: &mut Account,
    catalog: &Catalog,
    actions: &[Action],
    at: DateTime<Utc>,
    seed: &str,
) -> Result<Outcome, ActionError> {
    let (effects, dirty) = action::execute(account, actions, at, seed, catalog)?;
    let mut outcome = Outcome { effects, fired: Vec::new() };
    run_triggers(account, catalog, &dirty, at, seed, &mut outcome);
    Ok(outcome)
}

/// Debits usage, then runs the triggers it crossed.
pub fn debit_usage(
    account: &mut Account,
    catalog: &Catalog,
    req: &DebitRequest,
    seed: &str,
) -> Result<(Debit, Outcome), DebitError> {
    debit_usage_shared(account, &mut [], catalog, req, seed)
}

/// Debits usage, drawing on `members`' balances of the shared groups the account's balances
/// name ([`debit::debit_shared`]), then runs the account's triggers the debit crossed.
pub fn debit_usage_shared(
    account: &mut Account,
    members: &mut [Account],
    catalog: &Catalog,
    req: &DebitRequest,
    seed: &str,
) -> Result<(Debit, Outcome), DebitError> {
    let sharing = debit::Sharing { groups: &catalog.shared_groups, seed };
    let result = debit::debit_shared(account, members, sharing, req, &catalog.destinations)?;
    let mut dirty: Vec<BalanceType> = result.parts.iter().map(|p| p.balance_type).collect();
    dirty.sort();
    dirty.dedup();
    let mut outcome = Outcome::default();
    run_triggers(account, catalog, &dirty, req.at, seed, &mut outcome);
    Ok((result, outcome))
}

fn run_triggers(
    account: &mut Account,
    catalog: &Catalog,
    dirty: &[BalanceType],
    at: DateTime<Utc>,
    seed: &str,
    outcome: &mut Outcome,
) {
    for (unique_id, actions_id) in trigger::fire(account, dirty, at) {
        let error = match catalog.actions.get(&actions_id) {
            None => Some(format!("no actions {actions_id}")),
            Some(actions) => {
                let seed = format!("{seed}:trigger:{unique_id}");
                match action::execute(account, actions, at, &seed, catalog) {
                    Ok((effects, _)) => {
                        outcome.effects.extend(effects);
                        None
                    }
                    Err(e) => Some(e.to_string()),
                }
            }
        };
        outcome.fired.push(FiredTrigger { unique_id, actions_id, error });
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use chrono::{Duration, TimeZone};
    use rust_decimal::Decimal;

    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn at(minute: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0).unwrap() + Duration::minutes(minute)
    }

    fn topup(kind: BalanceType, id: &str, units: &str) -> Action {
        Action {
            action_type: ActionType::Topup,
            extra_parameters: String::new(),
            weight: d("10"),
            balance: BalanceFilter {
                id: Some(id.into()),
                kind: Some(kind),
                value: Some(d(units)),
                ..Default::default()
            },
        }
    }

    fn simple(action_type: &str) -> Action {
        Action {
            action_type: action_type.parse().unwrap(),
            extra_parameters: String::new(),
            weight: d("0"),
            balance: Default::default(),
        }
    }

    fn data_usage(bytes: &str, minute: i64) -> DebitRequest {
        DebitRequest {
            tor: BalanceType::Data,
            destination: String::new(),
            category: "data".into(),
            usage: d(bytes),
            at: at(minute),
            factor_id: None,
            rate: None,
            mode: DebitMode::Usage,
        }
    }

    fn min_balance_trigger(threshold: &str, actions: &str) -> ActionTrigger {
        ActionTrigger {
            id: "low".into(),
            unique_id: "low-data".into(),
            threshold_type: ThresholdType::MinBalance,
            threshold_value: d(threshold),
            recurrent: false,
            min_sleep: 0,
            expiration_date: None,
            activation_date: None,
            balance: BalanceFilter { kind: Some(BalanceType::Data), ..Default::default() },
            weight: d("10"),
            actions_id: actions.into(),
            executed: false,
            last_execution_time: None,
        }
    }

    fn value(a: &Account, kind: BalanceType, id: &str) -> Decimal {
        a.balances(kind).iter().find(|b| b.id == id).map(|b| b.value).unwrap_or_default()
    }

    #[test]
    fn a_topup_adds_to_a_balance_and_keeps_its_expiry_unless_given_one() {
        let catalog = Catalog::default();
        let mut a = Account::new("t", "a");
        let mut first = topup(BalanceType::Data, "monthly", "100");
        first.balance.expiry_time = Some("+1h".into());
        run_actions(&mut a, &catalog, &[first], at(0), "e1").unwrap();
        let expiry = a.balances(BalanceType::Data)[0].expiration_date;
        assert_eq!(expiry, Some(at(60)));
        run_actions(&mut a, &catalog, &[topup(BalanceType::Data, "monthly", "50")], at(10), "e2").unwrap();
        assert_eq!(value(&a, BalanceType::Data, "monthly"), d("150"));
        assert_eq!(a.balances(BalanceType::Data)[0].expiration_date, expiry, "no expiry given: kept");
        let mut extend = topup(BalanceType::Data, "monthly", "0");
        extend.balance.expiry_time = Some("+2h".into());
        run_actions(&mut a, &catalog, &[extend], at(10), "e3").unwrap();
        assert_eq!(a.balances(BalanceType::Data)[0].expiration_date, Some(at(130)), "an explicit expiry extends it");
    }

    #[test]
    fn an_action_group_runs_all_or_nothing_in_weight_order() {
        let catalog = Catalog::default();
        let mut a = Account::new("t", "a");
        // Runs after the topup (weight 0 < 10) and fails: it names no data limit.
        let bad = simple("*set_fleet_data_limit");
        let before = a.clone();
        assert!(run_actions(&mut a, &catalog, &[topup(BalanceType::Data, "x", "1"), bad], at(0), "e").is_err());
        assert_eq!(a, before);
        // Weight desc: the reset (weight 20) runs before the topup (weight 10).
        let mut reset = topup(BalanceType::Data, "x", "5");
        reset.action_type = ActionType::TopupReset;
        reset.weight = d("20");
        run_actions(&mut a, &catalog, &[topup(BalanceType::Data, "x", "1"), reset], at(0), "e").unwrap();
        assert_eq!(value(&a, BalanceType::Data, "x"), d("6"));
    }

    #[test]
    fn a_cdrlog_group_stored_before_templates_were_read_runs_as_it_did() {
        let catalog = Catalog::default();
        let mut a = Account::new("t", "a");
        let mut legacy = simple("*cdrlog");
        legacy.extra_parameters = "not a template".into();
        assert!(action::check_to_store(&legacy).is_err(), "refused when stored now");
        let out = run_actions(&mut a, &catalog, &[topup(BalanceType::Data, "x", "7"), legacy], at(0), "e").unwrap();
        assert_eq!(value(&a, BalanceType::Data, "x"), d("7"), "the group ran");
        assert!(
            matches!(&out.effects[..], [Effect::CdrLog { fields, .. }] if fields.is_empty()),
            "its CDR with CGrateS's defaults: {:?}",
            out.effects
        );
    }

    #[test]
    fn a_debit_action_honours_the_negative_policy() {
        let catalog = Catalog::default();
        let mut a = Account::new("t", "a");
        run_actions(&mut a, &catalog, &[topup(BalanceType::Monetary, "cash", "1")], at(0), "e1").unwrap();
        let mut debit = topup(BalanceType::Monetary, "cash", "3");
        debit.action_type = ActionType::Debit;
        let refused = run_actions(&mut a, &catalog, std::slice::from_ref(&debit), at(1), "e2");
        assert_eq!(refused, Err(ActionError::Debit(DebitError::InsufficientCredit)));
        assert_eq!(value(&a, BalanceType::Monetary, "cash"), d("1"));
        let mut allow = simple("*allow_negative");
        allow.weight = d("20"); // before the debit
        run_actions(&mut a, &catalog, &[allow, debit], at(2), "e3").unwrap();
        assert_eq!(value(&a, BalanceType::Monetary, "cash"), d("-2"));
    }

    #[test]
    fn a_min_balance_trigger_fires_once_and_again_only_after_reset_triggers() {
        let mut catalog = Catalog::default();
        let mut refill = topup(BalanceType::Data, "data", "1000");
        refill.weight = d("10");
        catalog.actions.insert("REFILL".into(), vec![refill, simple("*cdrlog")]);
        let mut a = Account::new("t", "a");
        run_actions(&mut a, &catalog, &[topup(BalanceType::Data, "data", "1000")], at(0), "e0").unwrap();
        a.action_triggers.push(min_balance_trigger("100", "REFILL"));

        let (_, out) = debit_usage(&mut a, &catalog, &data_usage("950", 1), "u1").unwrap();
        assert_eq!(out.fired.len(), 1, "50 left ≤ 100: fired");
        assert_eq!(value(&a, BalanceType::Data, "data"), d("1050"));
        assert!(
            matches!(&out.effects[..], [Effect::CdrLog { action_type, value, .. }] if *action_type == ActionType::Topup && *value == d("1000"))
        );
        let (_, out) = debit_usage(&mut a, &catalog, &data_usage("1000", 2), "u2").unwrap();
        assert!(out.fired.is_empty(), "executed: it stays quiet");
        assert_eq!(value(&a, BalanceType::Data, "data"), d("50"));

        let mut reset = simple("*reset_triggers");
        reset.balance.kind = Some(BalanceType::Data);
        let out = run_actions(&mut a, &catalog, &[reset], at(3), "e3").unwrap();
        assert_eq!(out.fired.len(), 1, "reset, re-evaluated, and 50 ≤ 100 again");
        assert_eq!(value(&a, BalanceType::Data, "data"), d("1050"));
    }

    #[test]
    fn a_recurrent_trigger_fires_at_most_once_per_min_sleep() {
        let mut catalog = Catalog::default();
        catalog.actions.insert("LOG".into(), vec![simple("*log")]);
        let mut a = Account::new("t", "a");
        run_actions(&mut a, &catalog, &[topup(BalanceType::Data, "data", "100000")], at(0), "e0").unwrap();
        let mut t = min_balance_trigger("100000", "LOG");
        t.recurrent = true;
        t.min_sleep = Duration::minutes(10).num_nanoseconds().unwrap();
        a.action_triggers.push(t);
        let fired: Vec<usize> = (1..=25)
            .map(|minute| debit_usage(&mut a, &catalog, &data_usage("1", minute), "u").unwrap().1.fired.len())
            .collect();
        let at_minutes: Vec<usize> = fired.iter().enumerate().filter(|(_, &n)| n > 0).map(|(i, _)| i + 1).collect();
        assert_eq!(at_minutes, [1, 11, 21]);
    }

    #[test]
    fn running_out_of_data_suspends_the_sim_through_a_trigger() {
        let mut catalog = Catalog::default();
        catalog.actions.insert("CUT_OFF".into(), vec![simple("*suspend_sim")]);
        let mut a = Account::new("t", "HS1");
        run_actions(&mut a, &catalog, &[topup(BalanceType::Data, "data", "1000000")], at(0), "e0").unwrap();
        a.action_triggers.push(min_balance_trigger("0", "CUT_OFF"));
        let (_, out) = debit_usage(&mut a, &catalog, &data_usage("600000", 1), "u1").unwrap();
        assert!(out.effects.is_empty());
        let (debit, out) = debit_usage(&mut a, &catalog, &data_usage("600000", 2), "u2").unwrap();
        assert_eq!(debit.unpaid_units, d("200000"), "no rate and no negative balance: unpaid");
        assert_eq!(out.effects, [Effect::SimStatus { active: false }]);
    }

    #[test]
    fn expired_triggers_are_dropped_and_inactive_ones_wait() {
        let mut catalog = Catalog::default();
        catalog.actions.insert("LOG".into(), vec![simple("*log")]);
        let mut a = Account::new("t", "a");
        run_actions(&mut a, &catalog, &[topup(BalanceType::Data, "data", "10")], at(0), "e0").unwrap();
        let mut expired = min_balance_trigger("100", "LOG");
        expired.unique_id = "expired".into();
        expired.expiration_date = Some(at(0));
        let mut later = min_balance_trigger("100", "LOG");
        later.unique_id = "later".into();
        later.activation_date = Some(at(5));
        a.action_triggers = vec![expired, later];
        let (_, out) = debit_usage(&mut a, &catalog, &data_usage("1", 1), "u1").unwrap();
        assert!(out.fired.is_empty());
        assert_eq!(a.action_triggers.len(), 1, "the expired one is gone");
        let (_, out) = debit_usage(&mut a, &catalog, &data_usage("1", 6), "u2").unwrap();
        assert_eq!(out.fired[0].unique_id, "later");
    }

    fn with_extra(kind: &str, extra: &str) -> Action {
        Action {
            action_type: kind.parse().unwrap(),
            extra_parameters: extra.into(),
            weight: d("10"),
            balance: BalanceFilter::default(),
        }
    }

    #[test]
    fn set_fleet_data_limit_takes_megabytes_and_an_optional_fleet() {
        let fleet = "HF00000000000000000000000000000001";
        assert_eq!(action::parse_fleet_data_limit(" 500 ").unwrap(), (None, 500));
        assert_eq!(
            action::parse_fleet_data_limit(&format!("{fleet}:2000000")).unwrap(),
            (Some(simledger_ids::FleetSid::parse(fleet).unwrap()), 2_000_000)
        );
        for bad in
            ["", "0", "2000001", "-5", "lots", "HX00000000000000000000000000000001:5", "HF1:5", &format!("{fleet}:")]
        {
            assert!(action::check(&with_extra("*set_fleet_data_limit", bad)).is_err(), "{bad:?} accepted");
        }
        let mut account = Account::new("t", "HS1");
        let outcome =
            run_actions(&mut account, &Catalog::default(), &[with_extra("*set_fleet_data_limit", "7")], at(0), "s")
                .unwrap();
        assert_eq!(outcome.effects, [Effect::SetFleetDataLimit { fleet: None, megabytes: 7 }]);
    }

    #[test]
    fn export_names_exporters_and_carries_the_account_after_the_group() {
        assert!(action::check(&with_extra("*export", "")).is_err());
        assert!(action::check(&with_extra("*export", "csv 1")).is_err());
        assert!(action::check(&with_extra("*export", "csv1; json_1")).is_ok());
        let mut account = Account::new("t", "1001");
        let group = [topup(BalanceType::Monetary, "m", "5"), with_extra("*export", "csv1;json_1")];
        let outcome = run_actions(&mut account, &Catalog::default(), &group, at(0), "s").unwrap();
        let [Effect::Export { exporter_ids, account: exported }] = outcome.effects.as_slice() else {
            panic!("{:?}", outcome.effects)
        };
        assert_eq!(exporter_ids, &["csv1", "json_1"]);
        assert_eq!(exported.balances(BalanceType::Monetary)[0].value, d("5"), "the topup, weighted first, is in it");
    }

    #[test]
    fn http_post_takes_a_url_and_carries_the_account_after_the_group() {
        assert!(action::check(&with_extra("*http_post", "ftp://example.com/x")).is_err());
        assert!(action::check(&with_extra("*http_post", "")).is_err());
        let mut account = Account::new("t", "1001");
        let group = [topup(BalanceType::Monetary, "m", "5"), with_extra("*http_post", "https://example.com/hook")];
        let outcome = run_actions(&mut account, &Catalog::default(), &group, at(0), "s").unwrap();
        let [Effect::HttpPost { url, account: posted }] = outcome.effects.as_slice() else {
            panic!("{:?}", outcome.effects)
        };
        assert_eq!(url, "https://example.com/hook");
        assert_eq!(posted.balances(BalanceType::Monetary)[0].value, d("5"), "the topup, weighted first, is in it");
    }
}
