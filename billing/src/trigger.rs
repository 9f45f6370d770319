//! Action triggers (CGrateS's account-level triggers): thresholds on balances and counters that
//! run an action group when crossed, evaluated after every balance change.

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::account::Account;
use crate::action::BalanceFilter;
use crate::balance::BalanceType;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ThresholdType {
    #[serde(rename = "*min_balance")]
    MinBalance,
    #[serde(rename = "*max_balance")]
    MaxBalance,
    #[serde(rename = "*balance_expired")]
    BalanceExpired,
    #[serde(rename = "*min_event_counter")]
    MinEventCounter,
    #[serde(rename = "*max_event_counter")]
    MaxEventCounter,
    #[serde(rename = "*max_balance_counter")]
    MaxBalanceCounter,
    #[serde(rename = "*min_balance_counter")]
    MinBalanceCounter,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ActionTrigger {
    /// The trigger group.
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "UniqueID")]
    pub unique_id: String,
    pub threshold_type: ThresholdType,
    pub threshold_value: Decimal,
    pub recurrent: bool,
    /// Nanoseconds a recurrent trigger waits before it may fire again.
    pub min_sleep: i64,
    pub expiration_date: Option<DateTime<Utc>>,
    pub activation_date: Option<DateTime<Utc>>,
    /// Which balances it watches (its type is required).
    pub balance: BalanceFilter,
    pub weight: Decimal,
    #[serde(rename = "ActionsID")]
    pub actions_id: String,
    pub executed: bool,
    pub last_execution_time: Option<DateTime<Utc>>,
}

impl ActionTrigger {
    fn kind(&self) -> Option<BalanceType> {
        self.balance.kind
    }

    /// Whether the trigger's condition holds on `account` now, looking at balances of the
    /// `dirty` types (all of them for `*balance_expired`).
    fn crossed(&self, account: &Account, dirty: &[BalanceType], at: DateTime<Utc>) -> bool {
        let Some(kind) = self.kind() else { return false };
        let counter = || account.unit_counters.get(&kind).copied().unwrap_or_default();
        match self.threshold_type {
            ThresholdType::MinBalance | ThresholdType::MaxBalance => {
                if !dirty.contains(&kind) {
                    return false;
                }
                account.balances(kind).iter().filter(|b| self.balance.hard_matches(b)).any(|b| {
                    if self.threshold_type == ThresholdType::MinBalance {
                        b.value <= self.threshold_value
                    } else {
                        b.value >= self.threshold_value
                    }
                })
            }
            ThresholdType::BalanceExpired => {
                account.balances(kind).iter().filter(|b| self.balance.hard_matches(b)).any(|b| b.is_expired(at))
            }
            ThresholdType::MaxEventCounter | ThresholdType::MaxBalanceCounter => {
                dirty.contains(&kind) && counter() >= self.threshold_value
            }
            ThresholdType::MinEventCounter | ThresholdType::MinBalanceCounter => {
                dirty.contains(&kind) && counter() <= self.threshold_value
            }
        }
    }
}

/// The triggers of `account` that fire now, in weight order: each is marked executed (and
/// un-marked at once if recurrent), its last execution time set, and its actions' ID returned
/// for the caller to run. Expired triggers are dropped.
pub fn fire(account: &mut Account, dirty: &[BalanceType], at: DateTime<Utc>) -> Vec<(String, String)> {
    account.action_triggers.retain(|t| t.expiration_date.is_none_or(|e| at <= e));
    let mut order: Vec<usize> = (0..account.action_triggers.len()).collect();
    order.sort_by(|&a, &b| {
        let (ta, tb) = (&account.action_triggers[a], &account.action_triggers[b]);
        tb.weight.cmp(&ta.weight).then_with(|| ta.unique_id.cmp(&tb.unique_id))
    });
    let mut fired = Vec::new();
    for i in order {
        let t = &account.action_triggers[i];
        if t.executed || t.activation_date.is_some_and(|a| at <= a) || !t.crossed(account, dirty, at) {
            continue;
        }
        if t.recurrent {
            if let Some(last) = t.last_execution_time {
                if at - last < Duration::nanoseconds(t.min_sleep) {
                    continue;
                }
            }
        }
        let t = &mut account.action_triggers[i];
        t.last_execution_time = Some(at);
        t.executed = !t.recurrent;
        fired.push((t.unique_id.clone(), t.actions_id.clone()));
    }
    fired
}
