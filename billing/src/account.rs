//! An account: its balances by type, flags, action triggers and unit counters.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::balance::{Balance, BalanceType, DEFAULT_BALANCE_ID};
use crate::trigger::ActionTrigger;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Account {
    pub tenant: String,
    #[serde(rename = "ID")]
    pub id: String,
    pub balance_map: BTreeMap<BalanceType, Vec<Balance>>,
    /// The negative-balance policy: when a debit outruns the balances, the rest becomes debt
    /// on the `*default` monetary balance only if this is set; otherwise it is left unpaid (a
    /// usage debit) or the debit is refused (`*debit` actions, `DebitBalance`).
    pub allow_negative: bool,
    /// A disabled account takes no debits.
    pub disabled: bool,
    pub action_triggers: Vec<ActionTrigger>,
    /// Units debited per balance type since the counters were last reset (the
    /// `*max_balance_counter` / `*min_event_counter` triggers read these).
    pub unit_counters: BTreeMap<BalanceType, Decimal>,
    pub update_time: Option<DateTime<Utc>>,
}

impl Account {
    pub fn new(tenant: impl Into<String>, id: impl Into<String>) -> Self {
        Self {
            tenant: tenant.into(),
            id: id.into(),
            balance_map: BTreeMap::new(),
            allow_negative: false,
            disabled: false,
            action_triggers: Vec::new(),
            unit_counters: BTreeMap::new(),
            update_time: None,
        }
    }

    pub fn balances(&self, kind: BalanceType) -> &[Balance] {
        self.balance_map.get(&kind).map(Vec::as_slice).unwrap_or_default()
    }

    pub fn balances_mut(&mut self, kind: BalanceType) -> &mut Vec<Balance> {
        self.balance_map.entry(kind).or_default()
    }

    /// The sum of a type's balances that are enabled and unexpired at `at`.
    pub fn total(&self, kind: BalanceType, at: DateTime<Utc>) -> Decimal {
        self.balances(kind).iter().filter(|b| !b.disabled && !b.is_expired(at)).map(|b| b.value).sum()
    }

    /// The `*default` monetary balance, made if missing (its UUID derives from the account).
    pub fn default_monetary(&mut self) -> &mut Balance {
        let uuid = format!("{}:{}:{DEFAULT_BALANCE_ID}", self.tenant, self.id);
        let list = self.balances_mut(BalanceType::Monetary);
        let at = match list.iter().position(|b| b.id == DEFAULT_BALANCE_ID) {
            Some(i) => i,
            None => {
                list.push(Balance::new(DEFAULT_BALANCE_ID, uuid));
                list.len() - 1
            }
        };
        &mut list[at]
    }
}
