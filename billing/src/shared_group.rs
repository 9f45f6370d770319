//! Shared groups (CGrateS's `SharedGroups`): balances that name a group are drawn on by every
//! account of the tenant that holds a balance in it, in the order of the group's strategy. The
//! usual use is one owner holding the value and members holding an empty balance of the group:
//! a member's usage then takes the owner's units.
//!
//! Two places decide where CGrateS leaves things to chance: `*random` orders are derived from
//! the debit's cause (a replay draws the same order), and ties of value are broken by account
//! and balance ID.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How a group orders its members' balances for a debit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Strategy {
    #[serde(rename = "*lowest")]
    Lowest,
    #[serde(rename = "*highest")]
    Highest,
    #[serde(rename = "*random")]
    Random,
    #[serde(rename = "*mine_lowest")]
    MineLowest,
    #[serde(rename = "*mine_highest")]
    MineHighest,
    #[serde(rename = "*mine_random")]
    MineRandom,
}

impl Strategy {
    pub const ALL: [Strategy; 6] =
        [Self::Lowest, Self::Highest, Self::Random, Self::MineLowest, Self::MineHighest, Self::MineRandom];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Lowest => "*lowest",
            Self::Highest => "*highest",
            Self::Random => "*random",
            Self::MineLowest => "*mine_lowest",
            Self::MineHighest => "*mine_highest",
            Self::MineRandom => "*mine_random",
        }
    }

    /// A strategy by name; empty is CGrateS's default, `*mine_random`.
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.is_empty() {
            return Ok(Self::MineRandom);
        }
        Self::ALL.into_iter().find(|x| x.as_str() == s).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|x| x.as_str()).collect();
            format!("Strategy {:?} is not one of {}", simledger_ids::shown(s), names.join(", "))
        })
    }

    fn mine_first(self) -> bool {
        matches!(self, Self::MineLowest | Self::MineHighest | Self::MineRandom)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SharingParameters {
    pub strategy: Strategy,
    /// Kept and shown, as CGrateS keeps it; no debit reads it there either.
    #[serde(default)]
    pub rating_subject: String,
}

/// A shared group: the sharing parameters by account (`*any` for every account not named).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SharedGroup {
    #[serde(rename = "Id")]
    pub id: String,
    pub account_parameters: BTreeMap<String, SharingParameters>,
}

/// The most accounts one group's parameters name, and the most other members one debit draws
/// on (by account ID): every debit of a member loads them, in a fold every tenant shares.
pub const MAX_PARAMETERS: usize = 100;
pub const MAX_MEMBERS: usize = 100;

impl SharedGroup {
    /// Checks a definition: an ID, 1 to [`MAX_PARAMETERS`] accounts, each named once.
    pub fn check(&self) -> Result<(), String> {
        if self.id.is_empty() || self.id.len() > crate::bounds::MAX_ID_LEN {
            return Err(format!("ID must be 1 to {} characters", crate::bounds::MAX_ID_LEN));
        }
        if self.account_parameters.is_empty() || self.account_parameters.len() > MAX_PARAMETERS {
            return Err(format!("SharedGroups must name 1 to {MAX_PARAMETERS} accounts (*any for all)"));
        }
        if let Some(bad) = self.account_parameters.keys().find(|a| a.is_empty() || a.len() > crate::bounds::MAX_ID_LEN)
        {
            return Err(format!("Account {:?} is not an account", simledger_ids::shown(bad)));
        }
        if self.account_parameters.values().any(|p| p.rating_subject.len() > crate::bounds::MAX_ID_LEN) {
            return Err(format!("RatingSubject is at most {} bytes", crate::bounds::MAX_ID_LEN));
        }
        Ok(())
    }

    /// The strategy for `account` (its ID, or CGrateS's `tenant:account`), else `*any`'s, else
    /// `*mine_random`.
    pub fn strategy_for(&self, tenant: &str, account: &str) -> Strategy {
        let full = format!("{tenant}:{account}");
        self.account_parameters
            .get(&full)
            .or_else(|| self.account_parameters.get(account))
            .or_else(|| self.account_parameters.get("*any"))
            .map(|p| p.strategy)
            .unwrap_or(Strategy::MineRandom)
    }
}

/// A member's balance as the ordering sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Member<'a, K> {
    pub key: K,
    pub account: &'a str,
    pub balance_id: &'a str,
    pub uuid: &'a str,
    pub value: rust_decimal::Decimal,
}

/// Orders a group's balances by `strategy`; with a `*mine_*` strategy the debiting account's
/// own balance (the member keyed `mine`) goes first.
pub fn order<K: PartialEq>(members: &mut Vec<Member<'_, K>>, strategy: Strategy, mine: &K, seed: &str) {
    let by_name = |a: &Member<'_, K>, b: &Member<'_, K>| a.account.cmp(b.account).then(a.balance_id.cmp(b.balance_id));
    match strategy {
        Strategy::Lowest | Strategy::MineLowest => members.sort_by(|a, b| a.value.cmp(&b.value).then(by_name(a, b))),
        Strategy::Highest | Strategy::MineHighest => members.sort_by(|a, b| b.value.cmp(&a.value).then(by_name(a, b))),
        Strategy::Random | Strategy::MineRandom => members.sort_by_cached_key(|m| {
            (fnv(&format!("{seed}:{}:{}", m.account, m.uuid)), m.account.to_owned(), m.uuid.to_owned())
        }),
    }
    if strategy.mine_first() {
        if let Some(at) = members.iter().position(|m| &m.key == mine) {
            let own = members.remove(at);
            members.insert(0, own);
        }
    }
}

/// FNV-1a: a stable hash (std's `DefaultHasher` may change between releases, and a replay must
/// draw the same order).
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;

    use super::*;

    fn members() -> Vec<Member<'static, usize>> {
        [("1001", "a", 5), ("1002", "b", 9), ("1007", "c", 0)]
            .into_iter()
            .enumerate()
            .map(|(key, (account, uuid, value))| Member {
                key,
                account,
                balance_id: "SHARED",
                uuid,
                value: Decimal::from(value),
            })
            .collect()
    }

    fn accounts(m: &[Member<'_, usize>]) -> Vec<&'static str> {
        m.iter().map(|m| ["1001", "1002", "1007"][m.key]).collect()
    }

    #[test]
    fn strategies_order_by_value_and_mine_puts_the_callers_balance_first() {
        let mut m = members();
        order(&mut m, Strategy::Highest, &2, "s");
        assert_eq!(accounts(&m), ["1002", "1001", "1007"]);
        order(&mut m, Strategy::Lowest, &2, "s");
        assert_eq!(accounts(&m), ["1007", "1001", "1002"]);
        order(&mut m, Strategy::MineHighest, &0, "s");
        assert_eq!(accounts(&m), ["1001", "1002", "1007"]);
        order(&mut m, Strategy::MineLowest, &1, "s");
        assert_eq!(accounts(&m), ["1002", "1007", "1001"]);
    }

    #[test]
    fn random_orders_are_the_same_for_the_same_cause() {
        let mut first = members();
        order(&mut first, Strategy::Random, &0, "event-1");
        let mut again = members();
        order(&mut again, Strategy::Random, &0, "event-1");
        assert_eq!(accounts(&first), accounts(&again));
        let mut mine = members();
        order(&mut mine, Strategy::MineRandom, &1, "event-1");
        assert_eq!(accounts(&mine)[0], "1002");
    }

    #[test]
    fn the_strategy_is_the_accounts_own_then_any_then_mine_random() {
        let p = |s| SharingParameters { strategy: s, rating_subject: String::new() };
        let g = SharedGroup {
            id: "SHARED_A".into(),
            account_parameters: [
                ("*any".to_string(), p(Strategy::Highest)),
                ("cgrates.org:1007".into(), p(Strategy::Lowest)),
            ]
            .into(),
        };
        assert_eq!(g.strategy_for("cgrates.org", "1007"), Strategy::Lowest);
        assert_eq!(g.strategy_for("cgrates.org", "1001"), Strategy::Highest);
        let none = SharedGroup { account_parameters: BTreeMap::new(), ..g.clone() };
        assert_eq!(none.strategy_for("t", "a"), Strategy::MineRandom);
        assert!(none.check().is_err(), "a group names at least one account");
        assert_eq!(Strategy::parse(""), Ok(Strategy::MineRandom));
        assert!(Strategy::parse("*sideways").unwrap_err().contains("*mine_random"));
    }
}
