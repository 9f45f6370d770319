//! The debit algorithm, as CGrateS's `debitCreditBalance`, with its order made stable:
//!
//! 1. Candidates: a unit ToR's balances **and** `*generic` ones, in one list (generic is not a
//!    fallback; it competes). Monetary usage takes `*monetary` balances only.
//! 2. Dropped: disabled, expired at the debit's time, of another category, or `Value <= 0`
//!    (unless a blocker).
//! 3. Destination match: the number's prefixes are walked longest first; the first prefix whose
//!    destination IDs the balance names sets its precision (that prefix's length). A matched
//!    exclusion (`!DST`) rejects it; a balance with only exclusions, none matched, is accepted;
//!    one with no destinations (or `*any`) has precision 0.
//! 4. Order: precision desc, weight desc, then — where CGrateS leaves ties to chance — expiry
//!    (soonest first, never-expiring last), then ID. The same inputs always debit in the same
//!    order.
//! 5. Each unit balance gives whole increments only (its `*zeroNNN` rating subject, or one
//!    second for `*voice`, one unit otherwise; usage is rounded up to the increment) and the
//!    next balance takes what it cannot.
//! 6. A blocker stops the debit once it has been tried: nothing further, no debt.
//! 7. Units left over are priced by the rate and taken from monetary balances the same way; the
//!    rest is debt on `*default` if the account allows negative balances. Otherwise a usage
//!    debit (usage that already happened) records it as unpaid, and a strict debit (an
//!    operator's `*debit`) is refused whole.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use crate::account::Account;
use crate::balance::{Balance, BalanceType, DEFAULT_BALANCE_ID};
use crate::destinations::Destinations;
use crate::shared_group::{self, Member, SharedGroup};

/// The price of usage no unit balance covers: `price` per `unit` units, charged in whole
/// `increment`s (usage is rounded up to one), the cost rounded half away from zero to
/// `rounding_decimals`. Computed as `increments × increment × price ÷ unit`, so a price per
/// minute charged by the second loses no digit to a price per second.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    pub price: Decimal,
    pub unit: Decimal,
    pub increment: Decimal,
    pub rounding_decimals: u32,
}

impl Rate {
    /// The price of `units`, or `None` when it is too large to represent or to take from a
    /// balance (more than [`crate::bounds::MAX_AMOUNT`]).
    pub fn cost(&self, units: Decimal) -> Option<Decimal> {
        if self.increment <= Decimal::ZERO || self.unit <= Decimal::ZERO {
            return Some(Decimal::ZERO);
        }
        let increments = units.checked_div(self.increment)?.ceil();
        let cost = increments.checked_mul(self.increment)?.checked_mul(self.price)?.checked_div(self.unit)?;
        // Past the largest amount a balance may hold, a cost is out of range too: it could
        // only overflow the balance it is taken from.
        (cost.abs() <= crate::bounds::MAX_AMOUNT)
            .then(|| cost.round_dp_with_strategy(self.rounding_decimals, RoundingStrategy::MidpointAwayFromZero))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DebitMode {
    /// Usage that already happened (a data window, an SMS, a CDR): never refused; what cannot be
    /// paid is recorded as unpaid.
    Usage,
    /// An operator's debit: all or nothing.
    Strict,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DebitRequest {
    /// The usage's type; `*monetary` debits money directly.
    pub tor: BalanceType,
    pub destination: String,
    pub category: String,
    /// Units of `tor` (nanoseconds, bytes, messages), or money for `*monetary`.
    pub usage: Decimal,
    pub at: DateTime<Utc>,
    /// Which of a balance's `Factors` applies.
    pub factor_id: Option<String>,
    /// Prices units no unit balance covers; without one they stay unpaid.
    pub rate: Option<Rate>,
    pub mode: DebitMode,
}

/// What one balance gave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BalanceDebit {
    pub balance_uuid: String,
    #[serde(rename = "BalanceID")]
    pub balance_id: String,
    pub balance_type: BalanceType,
    /// Units (or money) taken.
    pub value: Decimal,
    /// The balance's value afterwards.
    pub value_after: Decimal,
    /// Whose balance it was, when not the debiting account's own (a shared group's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
}

/// A debit's outcome, balance by balance.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Debit {
    pub parts: Vec<BalanceDebit>,
    /// Usage the unit balances covered.
    pub covered_units: Decimal,
    /// Usage left to money, and its price.
    pub rated_units: Decimal,
    pub cost: Decimal,
    /// The part of the cost that took `*default` below zero.
    pub debt: Decimal,
    /// What could be neither covered nor paid (usage debits only), and why.
    pub unpaid_units: Decimal,
    pub unpaid_cost: Decimal,
    pub unpaid_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DebitError {
    #[error("ACCOUNT_DISABLED")]
    AccountDisabled,
    #[error("INSUFFICIENT_CREDIT_BALANCE_BLOCKER")]
    Blocked,
    #[error("INSUFFICIENT_CREDIT")]
    InsufficientCredit,
    #[error("RATING_PLAN_NOT_FOUND")]
    NoRate,
    #[error("usage must not be negative")]
    NegativeUsage,
    /// The price of the usage is too large to represent.
    #[error("COST_OUT_OF_RANGE")]
    OutOfRange,
}

/// Other accounts a debit may draw on through its balances' shared groups.
#[derive(Debug, Clone, Copy)]
pub struct Sharing<'a> {
    pub groups: &'a BTreeMap<String, SharedGroup>,
    /// Names the debit's cause: `*random` strategies draw their order from it.
    pub seed: &'a str,
}

/// Debits `account` for `req`. On error the account is unchanged.
pub fn debit(account: &mut Account, req: &DebitRequest, destinations: &Destinations) -> Result<Debit, DebitError> {
    let no_groups = BTreeMap::new();
    debit_shared(account, &mut [], Sharing { groups: &no_groups, seed: "" }, req, destinations)
}

/// Debits `account` for `req`, drawing on `members`' balances of the shared groups its own
/// balances name (as CGrateS puts a group's balances in place of the member's own). On error
/// no account is changed.
pub fn debit_shared(
    account: &mut Account,
    members: &mut [Account],
    sharing: Sharing<'_>,
    req: &DebitRequest,
    destinations: &Destinations,
) -> Result<Debit, DebitError> {
    if account.disabled {
        return Err(DebitError::AccountDisabled);
    }
    if req.usage < Decimal::ZERO {
        return Err(DebitError::NegativeUsage);
    }
    // The debiting account is `work[0]`; the members follow.
    let mut work: Vec<Account> = std::iter::once(account.clone()).chain(members.iter().cloned()).collect();
    let mut out = Debit::default();
    let mut remaining = req.usage;
    let unit_usage = req.tor != BalanceType::Monetary;
    let draw = Draw { req, destinations, sharing };
    if unit_usage {
        let kinds = [req.tor, BalanceType::Generic];
        let (left, blocked) = draw.take(&mut work, &kinds, req.tor, remaining, &mut out.parts);
        out.covered_units = remaining - left;
        remaining = left;
        if blocked && remaining > Decimal::ZERO {
            return match req.mode {
                DebitMode::Strict => Err(DebitError::Blocked),
                DebitMode::Usage => {
                    out.unpaid_units = remaining;
                    out.unpaid_reason = Some(DebitError::Blocked.to_string());
                    finish(account, members, work, req, out)
                }
            };
        }
    }
    if remaining > Decimal::ZERO {
        let cost = if unit_usage {
            match &req.rate {
                Some(rate) => match rate.cost(remaining) {
                    Some(cost) => cost,
                    None if req.mode == DebitMode::Strict => return Err(DebitError::OutOfRange),
                    None => {
                        out.unpaid_units = remaining;
                        out.unpaid_reason = Some(DebitError::OutOfRange.to_string());
                        return finish(account, members, work, req, out);
                    }
                },
                None if req.mode == DebitMode::Strict => return Err(DebitError::NoRate),
                None => {
                    out.unpaid_units = remaining;
                    out.unpaid_reason = Some(DebitError::NoRate.to_string());
                    return finish(account, members, work, req, out);
                }
            }
        } else {
            remaining
        };
        if unit_usage {
            out.rated_units = remaining;
        }
        out.cost = cost;
        let (left, blocked) =
            draw.take(&mut work, &[BalanceType::Monetary], BalanceType::Monetary, cost, &mut out.parts);
        if left > Decimal::ZERO {
            let refuse = |e| match req.mode {
                DebitMode::Strict => Err(e),
                DebitMode::Usage => Ok(()),
            };
            if blocked {
                refuse(DebitError::Blocked)?;
                out.unpaid_cost = left;
                out.unpaid_reason = Some(DebitError::Blocked.to_string());
            } else if work[0].allow_negative {
                let default = work[0].default_monetary();
                match default.value.checked_sub(left) {
                    Some(after) => {
                        default.value = after;
                        let uuid = default.uuid.clone();
                        out.debt = left;
                        out.parts.push(BalanceDebit {
                            balance_uuid: uuid,
                            balance_id: DEFAULT_BALANCE_ID.into(),
                            balance_type: BalanceType::Monetary,
                            value: left,
                            value_after: after,
                            account: None,
                        });
                    }
                    // A debt past what a decimal holds: left unpaid rather than wrapped or panicked.
                    None => {
                        refuse(DebitError::OutOfRange)?;
                        out.unpaid_cost = left;
                        out.unpaid_reason = Some(DebitError::OutOfRange.to_string());
                    }
                }
            } else {
                refuse(DebitError::InsufficientCredit)?;
                out.unpaid_cost = left;
                out.unpaid_reason = Some(DebitError::InsufficientCredit.to_string());
            }
        }
    }
    finish(account, members, work, req, out)
}

fn finish(
    account: &mut Account,
    members: &mut [Account],
    mut work: Vec<Account>,
    req: &DebitRequest,
    out: Debit,
) -> Result<Debit, DebitError> {
    let (own, others) = work.split_first_mut().expect("the debiting account is first");
    for part in &out.parts {
        // Counters only inform triggers: at the decimal's limit they stay there. They count the
        // debiting account's usage, whoever's shared balance paid for it.
        let counter = own.unit_counters.entry(part.balance_type).or_default();
        *counter = counter.saturating_add(part.value);
        if let Some(owner) = &part.account {
            if let Some(member) = others.iter_mut().find(|m| &m.id == owner) {
                member.update_time = Some(req.at);
            }
        }
    }
    own.update_time = Some(req.at);
    let mut work = work.into_iter();
    *account = work.next().expect("the debiting account is first");
    for (member, changed) in members.iter_mut().zip(work) {
        *member = changed;
    }
    Ok(out)
}

/// One debit's rules for choosing and taking balances.
struct Draw<'a> {
    req: &'a DebitRequest,
    destinations: &'a Destinations,
    sharing: Sharing<'a>,
}

/// A balance in a debit's working set: whose (index into it), of which type, which one.
type Slot = (usize, BalanceType, usize);

impl Draw<'_> {
    /// Takes `amount` units of `unit` from the candidate balances of `kinds`, in order; returns
    /// what is left and whether a blocker stopped it.
    fn take(
        &self,
        work: &mut [Account],
        kinds: &[BalanceType],
        unit: BalanceType,
        amount: Decimal,
        parts: &mut Vec<BalanceDebit>,
    ) -> (Decimal, bool) {
        let req = self.req;
        let mut remaining = amount;
        for (owner, kind, index) in self.candidates(work, kinds) {
            if remaining <= Decimal::ZERO {
                break;
            }
            let account = (owner > 0).then(|| work[owner].id.clone());
            let b = &mut work[owner].balances_mut(kind)[index];
            let factor = req.factor_id.as_ref().and_then(|f| b.factors.get(f)).copied().unwrap_or(Decimal::ONE);
            let taken_usage = if unit == BalanceType::Monetary {
                // Money is taken to the last unit the balance holds.
                let available = (b.value / factor).max(Decimal::ZERO);
                remaining.min(available)
            } else {
                let increment = b.increment(unit);
                let needed = (remaining / increment).ceil();
                let affordable = (b.value / (increment * factor)).floor().max(Decimal::ZERO);
                needed.min(affordable) * increment
            };
            if taken_usage > Decimal::ZERO {
                let value = taken_usage * factor;
                b.value -= value;
                remaining = (remaining - taken_usage).max(Decimal::ZERO);
                parts.push(BalanceDebit {
                    balance_uuid: b.uuid.clone(),
                    balance_id: b.id.clone(),
                    balance_type: kind,
                    value,
                    value_after: b.value,
                    account,
                });
            }
            if b.blocker && remaining > Decimal::ZERO {
                return (remaining, true);
            }
        }
        (remaining, false)
    }

    /// Whether a balance may give units to this debit at all (its value aside), and with which
    /// destination precision.
    fn fits(&self, b: &Balance) -> Option<usize> {
        let req = self.req;
        if b.disabled || b.is_expired(req.at) || !b.is_active_at(req.at) {
            return None;
        }
        if !b.categories.is_empty() && !b.categories.contains(&req.category) {
            return None;
        }
        precision(b, &req.destination, self.destinations)
    }

    /// The balances a debit may use, in the order it uses them: the debiting account's own in
    /// the algorithm's order, each shared one replaced by its groups' balances of every member
    /// in the group's strategy's order.
    fn candidates(&self, work: &[Account], kinds: &[BalanceType]) -> Vec<Slot> {
        let own = &work[0];
        let mut found: Vec<(usize, &Balance, BalanceType, usize)> = Vec::new();
        for &kind in kinds {
            for (index, b) in own.balances(kind).iter().enumerate() {
                // A shared balance counts even when empty: the group's other balances stand
                // behind it (CGrateS keeps those at any value).
                if b.value <= Decimal::ZERO && !b.blocker && b.shared_groups.is_empty() {
                    continue;
                }
                if let Some(precision) = self.fits(b) {
                    found.push((precision, b, kind, index));
                }
            }
        }
        found.sort_by(|(pa, a, _, _), (pb, b, _, _)| {
            pb.cmp(pa)
                .then_with(|| b.weight.cmp(&a.weight))
                .then_with(|| match (a.expiration_date, b.expiration_date) {
                    (Some(x), Some(y)) => x.cmp(&y),
                    (Some(_), None) => Ordering::Less,
                    (None, Some(_)) => Ordering::Greater,
                    (None, None) => Ordering::Equal,
                })
                .then_with(|| a.id.cmp(&b.id))
                .then_with(|| a.uuid.cmp(&b.uuid))
        });
        let mut slots = Slots::default();
        // A group's expansion holds every member's balance in it, so a second own balance of
        // the same group adds nothing: each group is expanded once.
        let mut expanded: BTreeSet<&str> = BTreeSet::new();
        for (_, b, kind, index) in found {
            let mine: Slot = (0, kind, index);
            let groups: Vec<&SharedGroup> = b.shared_groups.iter().filter_map(|g| self.sharing.groups.get(g)).collect();
            // A group that is not defined shares nothing: the balance is the account's own.
            if groups.is_empty() {
                slots.push(mine);
                continue;
            }
            for group in groups {
                if !expanded.insert(&group.id) {
                    continue;
                }
                let mut members = Vec::new();
                for (owner, account) in work.iter().enumerate() {
                    if account.disabled {
                        continue;
                    }
                    for &k in kinds {
                        for (i, mb) in account.balances(k).iter().enumerate() {
                            if mb.shared_groups.contains(&group.id) && self.fits(mb).is_some() {
                                members.push(Member {
                                    key: (owner, k, i),
                                    account: &account.id,
                                    balance_id: &mb.id,
                                    uuid: &mb.uuid,
                                    value: mb.value,
                                });
                            }
                        }
                    }
                }
                let strategy = group.strategy_for(&own.tenant, &own.id);
                shared_group::order(&mut members, strategy, &mine, self.sharing.seed);
                for m in members {
                    slots.push(m.key);
                }
            }
        }
        slots.order
    }
}

/// Slots in the order they were first pushed, each once.
#[derive(Default)]
struct Slots {
    order: Vec<Slot>,
    seen: std::collections::HashSet<Slot>,
}

impl Slots {
    fn push(&mut self, slot: Slot) {
        if self.seen.insert(slot) {
            self.order.push(slot);
        }
    }
}

/// The shared groups an account's balances name: whose members a debit of it may draw on.
pub fn shared_groups_of(account: &Account) -> BTreeSet<String> {
    account.balance_map.values().flatten().flat_map(|b| b.shared_groups.iter().cloned()).collect()
}

/// The balance's destination precision for `number`, or `None` when it does not apply.
fn precision(b: &Balance, number: &str, destinations: &Destinations) -> Option<usize> {
    if b.destination_ids.is_empty() || b.destination_ids.get("*any") == Some(&true) {
        return Some(0);
    }
    for len in (1..=number.len()).rev() {
        let Some(prefix) = number.get(..len) else { continue };
        for id in destinations.ids_with_prefix(prefix) {
            if let Some(&include) = b.destination_ids.get(id) {
                return include.then_some(len);
            }
        }
    }
    b.destination_ids.values().all(|include| !include).then_some(0)
}

#[cfg(test)]
mod tests {
    //! Each case of the reference's debit algorithm, given / when / then.

    use std::str::FromStr;

    use chrono::TimeZone;

    use super::*;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0).unwrap()
    }

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn balance(id: &str, value: &str, weight: i64) -> Balance {
        let mut b = Balance::new(id, format!("uuid-{id}"));
        b.value = d(value);
        b.weight = Decimal::from(weight);
        b
    }

    fn account(balances: Vec<(BalanceType, Balance)>) -> Account {
        let mut a = Account::new("cgrates.org", "1001");
        for (kind, b) in balances {
            a.balances_mut(kind).push(b);
        }
        a
    }

    fn usage(tor: BalanceType, units: &str, destination: &str) -> DebitRequest {
        DebitRequest {
            tor,
            destination: destination.into(),
            category: "call".into(),
            usage: d(units),
            at: at(),
            factor_id: None,
            rate: None,
            mode: DebitMode::Usage,
        }
    }

    fn destinations() -> Destinations {
        let mut dst = Destinations::default();
        dst.set("DST_AU", ["61".to_owned()]);
        dst.set("Dest_AU_Mobile", ["614".to_owned()]);
        dst.set("DST_UK", ["44".to_owned()]);
        dst
    }

    fn value(a: &Account, kind: BalanceType, id: &str) -> Decimal {
        a.balances(kind).iter().find(|b| b.id == id).unwrap().value
    }

    fn order(debit: &Debit) -> Vec<&str> {
        debit.parts.iter().map(|p| p.balance_id.as_str()).collect()
    }

    const VOICE: BalanceType = BalanceType::Voice;
    const SECOND: i64 = 1_000_000_000;

    #[test]
    fn a_150_second_call_leaves_150_seconds_of_a_5_minute_voice_balance() {
        let mut a = account(vec![(VOICE, balance("v", "300000000000", 10))]);
        let out = debit(&mut a, &usage(VOICE, "150000000000", "61412345"), &destinations()).unwrap();
        assert_eq!(value(&a, VOICE, "v"), d("150000000000"));
        assert_eq!(out.covered_units, d("150000000000"));
        assert_eq!((out.cost, out.unpaid_units), (Decimal::ZERO, Decimal::ZERO));
    }

    #[test]
    fn higher_weight_is_debited_first() {
        let mut a = account(vec![(VOICE, balance("low", "100", 10)), (VOICE, balance("high", "100", 20))]);
        let out = debit(&mut a, &usage(VOICE, "150", "44"), &destinations());
        // Voice takes whole seconds: 150 ns is one second, which neither 100-unit balance holds.
        assert_eq!(out.unwrap().covered_units, Decimal::ZERO);
        let mut a = account(vec![
            (VOICE, balance("low", &(100 * SECOND).to_string(), 10)),
            (VOICE, balance("high", &(100 * SECOND).to_string(), 20)),
        ]);
        let out = debit(&mut a, &usage(VOICE, &(150 * SECOND).to_string(), "44"), &destinations()).unwrap();
        assert_eq!(order(&out), ["high", "low"]);
        assert_eq!(value(&a, VOICE, "high"), Decimal::ZERO);
        assert_eq!(value(&a, VOICE, "low"), Decimal::from(50 * SECOND));
    }

    #[test]
    fn a_longer_destination_match_beats_a_higher_weight() {
        let mut mobile = balance("mobile", "1000", 10);
        mobile.destination_ids.insert("Dest_AU_Mobile".into(), true);
        let mut au = balance("au", "1000", 50);
        au.destination_ids.insert("DST_AU".into(), true);
        let any = balance("any", "1000", 99);
        let mut a = account(vec![(BalanceType::Data, au), (BalanceType::Data, any), (BalanceType::Data, mobile)]);
        let out = debit(&mut a, &usage(BalanceType::Data, "2500", "61412345"), &destinations()).unwrap();
        assert_eq!(order(&out), ["mobile", "au", "any"], "precision 3, then 2, then 0");
        // A UK number matches neither destination balance: only `any` applies.
        let out = debit(&mut a, &usage(BalanceType::Data, "100", "4420"), &destinations()).unwrap();
        assert_eq!(order(&out), ["any"]);
    }

    #[test]
    fn generic_balances_compete_with_typed_ones_rather_than_follow_them() {
        let mut a = account(vec![
            (BalanceType::Sms, balance("sms", "10", 10)),
            (BalanceType::Generic, balance("generic", "10", 20)),
        ]);
        let out = debit(&mut a, &usage(BalanceType::Sms, "12", "44"), &destinations()).unwrap();
        assert_eq!(order(&out), ["generic", "sms"]);
        assert_eq!(value(&a, BalanceType::Sms, "sms"), d("8"));
        // A generic balance never pays for monetary usage.
        let out = debit(&mut a, &usage(BalanceType::Monetary, "1", "44"), &destinations()).unwrap();
        assert!(order(&out).is_empty());
        assert_eq!(out.unpaid_cost, d("1"));
    }

    #[test]
    fn unit_balances_give_whole_increments_and_usage_rounds_up() {
        let mut minute = balance("minutes", &(120 * SECOND).to_string(), 20);
        minute.rating_subject = "*zero60s".into();
        let seconds = balance("seconds", &(30 * SECOND).to_string(), 10);
        let mut a = account(vec![(VOICE, minute), (VOICE, seconds)]);
        // 61 s: two whole minutes from the first balance (120 s), nothing from the second.
        let out = debit(&mut a, &usage(VOICE, &(61 * SECOND).to_string(), "44"), &destinations()).unwrap();
        assert_eq!(order(&out), ["minutes"]);
        assert_eq!(value(&a, VOICE, "minutes"), Decimal::ZERO);
        // 30.5 s rounds up to 31 whole seconds, which the 30 s balance cannot cover in full: it
        // gives 30, and the last second is unpaid (no rate).
        let out = debit(&mut a, &usage(VOICE, &(30 * SECOND + SECOND / 2).to_string(), "44"), &destinations()).unwrap();
        assert_eq!(value(&a, VOICE, "seconds"), Decimal::ZERO);
        assert_eq!(out.unpaid_units, Decimal::from(SECOND / 2));
    }

    #[test]
    fn a_blocker_stops_the_debit_with_no_debt() {
        let mut blocker = balance("blocker", "5", 20);
        blocker.blocker = true;
        let mut a = account(vec![(BalanceType::Data, blocker), (BalanceType::Data, balance("after", "100", 10))]);
        a.allow_negative = true;
        let mut req = usage(BalanceType::Data, "8", "44");
        req.rate = Some(Rate { price: d("1"), unit: d("1"), increment: d("1"), rounding_decimals: 4 });
        let strict = DebitRequest { mode: DebitMode::Strict, ..req.clone() };
        let before = a.clone();
        assert_eq!(debit(&mut a, &strict, &destinations()), Err(DebitError::Blocked));
        assert_eq!(a, before, "a refused debit changes nothing");
        let out = debit(&mut a, &req, &destinations()).unwrap();
        assert_eq!((order(&out), out.unpaid_units, out.debt), (vec!["blocker"], d("3"), Decimal::ZERO));
        assert_eq!(value(&a, BalanceType::Data, "after"), d("100"), "nothing below the blocker");
        assert!(a.balances(BalanceType::Monetary).is_empty(), "and no debt");
    }

    #[test]
    fn expired_disabled_empty_and_other_category_balances_are_skipped() {
        let mut expired = balance("expired", "100", 90);
        expired.expiration_date = Some(at() - chrono::Duration::seconds(1));
        let mut disabled = balance("disabled", "100", 80);
        disabled.disabled = true;
        let empty = balance("empty", "0", 70);
        let mut sms_only = balance("sms_only", "100", 60);
        sms_only.categories.insert("sms".into());
        let mut a = account(vec![
            (BalanceType::Data, expired),
            (BalanceType::Data, disabled),
            (BalanceType::Data, empty),
            (BalanceType::Data, sms_only),
            (BalanceType::Data, balance("ok", "100", 1)),
        ]);
        let out = debit(&mut a, &usage(BalanceType::Data, "10", "44"), &destinations()).unwrap();
        assert_eq!(order(&out), ["ok"]);
    }

    #[test]
    fn ties_go_to_the_soonest_expiry_then_to_the_id_every_time() {
        let mut later = balance("a_later", "10", 10);
        later.expiration_date = Some(at() + chrono::Duration::days(30));
        let mut sooner = balance("b_sooner", "10", 10);
        sooner.expiration_date = Some(at() + chrono::Duration::days(1));
        let never = balance("c_never", "10", 10);
        let same_as_never = balance("d_never", "10", 10);
        for permutation in [[0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1]] {
            let all = [later.clone(), sooner.clone(), never.clone(), same_as_never.clone()];
            let mut a = account(permutation.iter().map(|&i| (BalanceType::Data, all[i].clone())).collect());
            let out = debit(&mut a, &usage(BalanceType::Data, "40", "44"), &destinations()).unwrap();
            assert_eq!(order(&out), ["b_sooner", "a_later", "c_never", "d_never"]);
        }
    }

    #[test]
    fn excluded_destinations_reject_and_exclusion_only_balances_take_the_rest() {
        let mut not_mobile = balance("not_mobile", "100", 10);
        not_mobile.destination_ids.insert("Dest_AU_Mobile".into(), false);
        let mut a = account(vec![(BalanceType::Sms, not_mobile)]);
        let out = debit(&mut a, &usage(BalanceType::Sms, "1", "61412345"), &destinations()).unwrap();
        assert!(order(&out).is_empty(), "a matched exclusion rejects the balance");
        let out = debit(&mut a, &usage(BalanceType::Sms, "1", "61298765"), &destinations()).unwrap();
        assert_eq!(order(&out), ["not_mobile"], "only exclusions, none matched: accepted");
        let out = debit(&mut a, &usage(BalanceType::Sms, "1", "4420"), &destinations()).unwrap();
        assert_eq!(order(&out), ["not_mobile"]);
    }

    #[test]
    fn the_leftover_is_rated_and_paid_from_money_then_debt_only_if_allowed() {
        let mut a = account(vec![
            (BalanceType::Data, balance("data", "1000", 10)),
            (BalanceType::Monetary, balance("cash", "0.50", 10)),
        ]);
        let mut req = usage(BalanceType::Data, "3000", "44");
        // 0.10 per started 1000 bytes: the 2000 bytes left cost 0.20.
        req.rate = Some(Rate { price: d("0.10"), unit: d("1000"), increment: d("1000"), rounding_decimals: 4 });
        let out = debit(&mut a, &req, &destinations()).unwrap();
        assert_eq!((out.rated_units, out.cost, out.debt), (d("2000"), d("0.20"), Decimal::ZERO));
        assert_eq!(value(&a, BalanceType::Monetary, "cash"), d("0.30"));

        req.usage = d("5000"); // 0.50: 0.30 in cash, 0.20 over
        let out = debit(&mut a.clone(), &req, &destinations()).unwrap();
        assert_eq!((out.unpaid_cost, out.unpaid_reason.as_deref()), (d("0.20"), Some("INSUFFICIENT_CREDIT")));
        let strict = DebitRequest { mode: DebitMode::Strict, ..req.clone() };
        assert_eq!(debit(&mut a.clone(), &strict, &destinations()), Err(DebitError::InsufficientCredit));

        a.allow_negative = true;
        let out = debit(&mut a, &req, &destinations()).unwrap();
        assert_eq!(out.debt, d("0.20"));
        assert_eq!(
            value(&a, BalanceType::Monetary, DEFAULT_BALANCE_ID),
            d("-0.20"),
            "*default made and taken below zero"
        );
    }

    #[test]
    fn without_a_rate_the_leftover_is_unpaid_or_refused() {
        let mut a = account(vec![(BalanceType::Data, balance("data", "10", 10))]);
        let out = debit(&mut a, &usage(BalanceType::Data, "15", "44"), &destinations()).unwrap();
        assert_eq!((out.unpaid_units, out.unpaid_reason.as_deref()), (d("5"), Some("RATING_PLAN_NOT_FOUND")));
        let strict = DebitRequest { mode: DebitMode::Strict, ..usage(BalanceType::Data, "15", "44") };
        assert_eq!(debit(&mut a, &strict, &destinations()), Err(DebitError::NoRate));
    }

    #[test]
    fn factors_multiply_the_units_a_balance_gives() {
        let mut roaming = balance("data", "1000", 10);
        roaming.factors.insert("roaming".into(), d("2"));
        let mut a = account(vec![(BalanceType::Data, roaming)]);
        let mut req = usage(BalanceType::Data, "100", "44");
        req.factor_id = Some("roaming".into());
        debit(&mut a, &req, &destinations()).unwrap();
        assert_eq!(value(&a, BalanceType::Data, "data"), d("800"));
    }

    #[test]
    fn a_disabled_account_takes_no_debit() {
        let mut a = account(vec![(BalanceType::Data, balance("data", "10", 10))]);
        a.disabled = true;
        assert_eq!(
            debit(&mut a, &usage(BalanceType::Data, "1", "44"), &destinations()),
            Err(DebitError::AccountDisabled)
        );
    }

    #[test]
    fn counters_add_what_each_balance_type_gave() {
        let mut a = account(vec![(BalanceType::Data, balance("data", "100", 10))]);
        debit(&mut a, &usage(BalanceType::Data, "30", "44"), &destinations()).unwrap();
        debit(&mut a, &usage(BalanceType::Data, "20", "44"), &destinations()).unwrap();
        assert_eq!(a.unit_counters[&BalanceType::Data], d("50"));
    }

    #[test]
    fn a_balance_with_timings_gives_units_only_inside_them() {
        // Given evening minutes (19:00 to midnight) and plain minutes of lower weight,
        let evening = crate::BalanceTiming::parse("EVENING", "*any", "*any", "*any", "*any", "19:00:00").unwrap();
        let mut evenings = balance("evening", &(600 * SECOND).to_string(), 20);
        evenings.timing_ids.insert("EVENING".into(), true);
        evenings.timings.push(evening);
        let plain = balance("plain", &(600 * SECOND).to_string(), 10);
        let mut a = account(vec![(VOICE, evenings), (VOICE, plain)]);
        // when a call is made at noon, then the plain minutes pay for it;
        let out = debit(&mut a, &usage(VOICE, &(60 * SECOND).to_string(), "44"), &destinations()).unwrap();
        assert_eq!(order(&out), ["plain"]);
        // when one is made at 20:00, the evening minutes do.
        let mut evening_call = usage(VOICE, &(60 * SECOND).to_string(), "44");
        evening_call.at = Utc.with_ymd_and_hms(2026, 5, 1, 20, 0, 0).unwrap();
        let out = debit(&mut a, &evening_call, &destinations()).unwrap();
        assert_eq!(order(&out), ["evening"]);
        assert_eq!(value(&a, VOICE, "evening"), Decimal::from(540 * SECOND));
        assert_eq!(value(&a, VOICE, "plain"), Decimal::from(540 * SECOND));
    }

    fn shared(id: &str, value: &str) -> Balance {
        let mut b = balance(id, value, 10);
        b.shared_groups.insert("SHARED_A".into());
        b
    }

    fn group(strategy: crate::Strategy) -> BTreeMap<String, SharedGroup> {
        let params = crate::shared_group::SharingParameters { strategy, rating_subject: String::new() };
        let g = SharedGroup { id: "SHARED_A".into(), account_parameters: [("*any".to_string(), params)].into() };
        [(g.id.clone(), g)].into()
    }

    #[test]
    fn a_members_usage_takes_the_owners_shared_balance() {
        // Given the owner 1001 with 5 in SHARED_A and the member 1007 with an empty balance in it,
        let owner = account(vec![(BalanceType::Monetary, shared("shared", "5"))]);
        let mut member = Account::new("cgrates.org", "1007");
        member.balances_mut(BalanceType::Monetary).push(shared("shared", "0"));
        let groups = group(crate::Strategy::Highest);
        let mut members = vec![owner];
        // when 1007 is debited 2,
        let req = usage(BalanceType::Monetary, "2", "44");
        let sharing = Sharing { groups: &groups, seed: "e1" };
        let out = debit_shared(&mut member, &mut members, sharing, &req, &destinations()).unwrap();
        // then the owner's balance paid it, and the debit says whose it was.
        assert_eq!(value(&members[0], BalanceType::Monetary, "shared"), d("3"));
        assert_eq!(value(&member, BalanceType::Monetary, "shared"), d("0"));
        assert_eq!(out.parts.len(), 1);
        assert_eq!(out.parts[0].account.as_deref(), Some("1001"));
        assert_eq!(out.parts[0].value_after, d("3"));
        assert_eq!(member.unit_counters[&BalanceType::Monetary], d("2"), "the member's usage is counted on it");
        // When more is asked than the group holds, the rest is unpaid and nothing goes negative.
        let out =
            debit_shared(&mut member, &mut members, sharing, &usage(BalanceType::Monetary, "4", "44"), &destinations())
                .unwrap();
        assert_eq!(out.unpaid_cost, d("1"));
        assert_eq!(value(&members[0], BalanceType::Monetary, "shared"), d("0"));
    }

    #[test]
    fn mine_first_strategies_use_the_members_own_share_before_the_others() {
        let groups = group(crate::Strategy::MineLowest);
        let mut me = Account::new("cgrates.org", "1002");
        me.balances_mut(BalanceType::Data).push(shared("pool", "10"));
        let mut others = vec![account(vec![(BalanceType::Data, shared("pool", "4"))])];
        let req = usage(BalanceType::Data, "12", "44");
        let out =
            debit_shared(&mut me, &mut others, Sharing { groups: &groups, seed: "e2" }, &req, &destinations()).unwrap();
        let whose: Vec<Option<&str>> = out.parts.iter().map(|p| p.account.as_deref()).collect();
        assert_eq!(whose, [None, Some("1001")], "its own 10 first, then the lowest other");
        assert_eq!(value(&others[0], BalanceType::Data, "pool"), d("2"));
    }

    #[test]
    fn an_undefined_group_and_a_disabled_member_share_nothing() {
        let mut me = Account::new("cgrates.org", "1002");
        me.balances_mut(BalanceType::Data).push(shared("pool", "0"));
        let mut owner = account(vec![(BalanceType::Data, shared("pool", "9"))]);
        let none = BTreeMap::new();
        let req = usage(BalanceType::Data, "3", "44");
        let out = debit_shared(
            &mut me,
            std::slice::from_mut(&mut owner),
            Sharing { groups: &none, seed: "e" },
            &req,
            &destinations(),
        )
        .unwrap();
        assert_eq!(out.unpaid_units, d("3"), "no group definition: the empty balance is the account's own");
        owner.disabled = true;
        let groups = group(crate::Strategy::Highest);
        let out = debit_shared(
            &mut me,
            std::slice::from_mut(&mut owner),
            Sharing { groups: &groups, seed: "e" },
            &req,
            &destinations(),
        )
        .unwrap();
        assert_eq!(out.unpaid_units, d("3"), "a disabled member's share is closed");
        assert_eq!(value(&owner, BalanceType::Data, "pool"), d("9"));
    }
}
