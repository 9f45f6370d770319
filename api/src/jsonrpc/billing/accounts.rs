//! Accounts and balances: `APIerSv2.SetAccount`/`GetAccount`/`GetAccounts`, `APIerSv1.SetBalance`/
//! `AddBalance`/`DebitBalance`/`RemoveBalances`, and the `Remove*` calls.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use simledger_billing::{Action, ActionType, BalanceFilter, BalanceType};
use simledger_commands::AccountSettings;
use simledger_eventlog::catalog::BillingRemovable;
use simledger_policies::billing::read;

use simledger_eventlog::cgr::AccountView;

use super::wire::*;
use crate::jsonrpc::{ok, params, require, Call, Reply, RpcError};

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct BalanceFields {
    #[serde(rename = "ID", default)]
    id: String,
    #[serde(rename = "UUID", alias = "Uuid", default)]
    uuid: String,
    #[serde(default)]
    expiry_time: String,
    #[serde(default)]
    rating_subject: String,
    #[serde(default, deserialize_with = "semicolon_list")]
    categories: String,
    #[serde(rename = "DestinationIDs", alias = "DestinationIds", default, deserialize_with = "semicolon_list")]
    destination_ids: String,
    #[serde(rename = "TimingIDs", default, deserialize_with = "semicolon_list")]
    timing_ids: String,
    #[serde(default, deserialize_with = "semicolon_list")]
    shared_groups: String,
    /// The value may come inside the balance too; the top-level one wins.
    value: Option<Units>,
    weight: Option<Amount>,
    blocker: Option<bool>,
    disabled: Option<bool>,
    factors: Option<BTreeMap<String, Amount>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct BalanceParams {
    #[serde(default)]
    tenant: String,
    #[serde(default)]
    account: String,
    #[serde(default)]
    balance_type: String,
    /// A number, a string number, or a Go duration for time balances (`"5m"`).
    value: Option<Units>,
    #[serde(default)]
    balance: BalanceFields,
    #[serde(default)]
    cdrlog: bool,
    #[serde(default)]
    overwrite: bool,
    #[serde(default)]
    _action_extra_data: Value,
    #[serde(rename = "APIOpts", default)]
    _api_opts: Value,
}

impl BalanceParams {
    fn filter(&self, kind: BalanceType, value: Decimal) -> BalanceFilter {
        let b = &self.balance;
        let text = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        BalanceFilter {
            uuid: text(&b.uuid),
            id: text(&b.id),
            kind: Some(kind),
            value: Some(value),
            expiry_time: text(&b.expiry_time),
            weight: b.weight.map(|w| w.0),
            destination_ids: (!b.destination_ids.is_empty()).then(|| destination_ids(&b.destination_ids)),
            rating_subject: text(&b.rating_subject),
            categories: (!b.categories.is_empty()).then(|| set_of(&b.categories)),
            blocker: b.blocker,
            disabled: b.disabled,
            factors: b.factors.as_ref().map(|f| f.iter().map(|(k, v)| (k.clone(), v.0)).collect()),
            timing_ids: (!b.timing_ids.is_empty()).then(|| destination_ids(&b.timing_ids)),
            shared_groups: (!b.shared_groups.is_empty()).then(|| set_of(&b.shared_groups)),
        }
    }
}

/// `SetBalance` (`*set_balance`), `AddBalance` (`*topup`, or `*topup_reset` with Overwrite),
/// `DebitBalance` (`*debit`); `Cdrlog` adds `*cdrlog`.
pub async fn change_balance(call: &Call, p: &RawValue, method: &str) -> Result<Reply, RpcError> {
    let args: BalanceParams = params(p)?;
    let needs_id = method == "SetBalance";
    require(&[
        ("Account", !args.account.is_empty()),
        ("BalanceType", !args.balance_type.is_empty()),
        ("ID", !needs_id || !args.balance.id.is_empty() || !args.balance.uuid.is_empty()),
    ])?;
    let kind = balance_type(&args.balance_type)?;
    let value = args.value.or(args.balance.value).map(|v| v.0).unwrap_or_default();
    let (action_type, value) = match method {
        // CGrateS passes SetBalance's value through math.Abs: a negative value cannot be set.
        "SetBalance" => (ActionType::SetBalance, value.abs()),
        "AddBalance" if args.overwrite => (ActionType::TopupReset, value),
        "AddBalance" => (ActionType::Topup, value),
        "RemoveBalances" => (ActionType::RemoveBalance, value),
        _ => (ActionType::Debit, value),
    };
    if value < Decimal::ZERO {
        return Err(RpcError::server(format!("{method} takes a non-negative Value, not {value}")));
    }
    let tenant = call.tenant(Some(&args.tenant))?;
    let mut actions = vec![Action {
        action_type,
        extra_parameters: String::new(),
        weight: Decimal::from(10),
        balance: args.filter(kind, value),
    }];
    if args.cdrlog {
        actions.push(Action {
            action_type: ActionType::Cdrlog,
            extra_parameters: String::new(),
            weight: Decimal::ZERO,
            balance: BalanceFilter::default(),
        });
    }
    call.state.commands.billing_apply_actions(&tenant, &args.account, actions, &format!("APIerSv1.{method}")).await?;
    ok(&"OK")
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ExtraOptions {
    allow_negative: Option<bool>,
    disabled: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct SetAccountParams {
    #[serde(default)]
    tenant: String,
    #[serde(default)]
    account: String,
    #[serde(rename = "ActionPlanIDs", default)]
    action_plan_ids: Vec<String>,
    /// v1's single plan.
    #[serde(rename = "ActionPlanID", default)]
    action_plan_id: String,
    #[serde(default)]
    action_plans_overwrite: bool,
    #[serde(rename = "ActionTriggerIDs", default)]
    action_trigger_ids: Vec<String>,
    /// v1's single trigger group.
    #[serde(rename = "ActionTriggersID", default)]
    action_triggers_id: String,
    #[serde(default)]
    action_trigger_overwrite: bool,
    #[serde(default)]
    extra_options: ExtraOptions,
    allow_negative: Option<bool>,
    disabled: Option<bool>,
    #[serde(default)]
    _reload_scheduler: bool,
    #[serde(rename = "APIOpts", default)]
    _api_opts: Value,
}

pub async fn set_account(call: &Call, p: &RawValue) -> Result<Reply, RpcError> {
    let args: SetAccountParams = params(p)?;
    if args.account.is_empty() {
        return Err(RpcError::missing(&["Account"]));
    }
    let mut plans = args.action_plan_ids.clone();
    if !args.action_plan_id.is_empty() {
        plans.push(args.action_plan_id.clone());
    }
    let tenant = call.tenant(Some(&args.tenant))?;
    let mut triggers = args.action_trigger_ids.clone();
    if !args.action_triggers_id.is_empty() {
        triggers.push(args.action_triggers_id.clone());
    }
    let settings = AccountSettings {
        allow_negative: args.extra_options.allow_negative.or(args.allow_negative),
        disabled: args.extra_options.disabled.or(args.disabled),
        action_trigger_ids: triggers,
        action_triggers_overwrite: args.action_trigger_overwrite,
        action_plan_ids: plans,
        action_plans_overwrite: args.action_plans_overwrite,
    };
    call.state.commands.billing_set_account(&tenant, &args.account, settings).await?;
    ok(&"OK")
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AccountRef {
    #[serde(default)]
    tenant: String,
    #[serde(default)]
    account: String,
    #[serde(rename = "APIOpts", default)]
    _api_opts: Value,
}

pub async fn get_account(call: &Call, p: &RawValue) -> Result<Reply, RpcError> {
    let args: AccountRef = params(p)?;
    if args.account.is_empty() {
        return Err(RpcError::missing(&["Account"]));
    }
    let tenant = call.tenant(Some(&args.tenant))?;
    let a = read::account(call.state.pool(), &tenant, &args.account).await?.ok_or_else(RpcError::not_found)?;
    ok(&AccountView::from(&a))
}

/// The most accounts `GetAccounts` answers with at once; past it, page with `Offset`.
pub const MAX_ACCOUNTS_PER_CALL: i64 = 10_000;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetAccountsParams {
    #[serde(default)]
    tenant: String,
    #[serde(rename = "AccountIDs", default)]
    account_ids: Vec<String>,
    #[serde(default)]
    offset: i64,
    #[serde(default)]
    limit: i64,
}

/// `APIerSv1.GetAccounts`: the named accounts (those that exist), or the tenant's accounts by
/// ID from `Offset`, `Limit` of them (0: all, up to [`MAX_ACCOUNTS_PER_CALL`]).
pub async fn get_accounts(call: &Call, p: &RawValue) -> Result<Reply, RpcError> {
    let args: GetAccountsParams = params(p)?;
    let tenant = call.tenant(Some(&args.tenant))?;
    if args.offset < 0 || args.limit < 0 {
        return Err(RpcError::server("Offset and Limit must not be negative"));
    }
    if args.limit > MAX_ACCOUNTS_PER_CALL || args.account_ids.len() as i64 > MAX_ACCOUNTS_PER_CALL {
        return Err(RpcError::server(format!("at most {MAX_ACCOUNTS_PER_CALL} accounts a call; page with Offset")));
    }
    let accounts = if args.account_ids.is_empty() {
        let limit = if args.limit == 0 { MAX_ACCOUNTS_PER_CALL } else { args.limit };
        read::accounts_at(call.state.pool(), &tenant, args.offset, limit).await?
    } else {
        read::accounts_named(call.state.pool(), &tenant, &args.account_ids).await?
    };
    ok(&accounts.iter().map(AccountView::from).collect::<Vec<_>>())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RemoveParams {
    #[serde(default)]
    tenant: String,
    #[serde(default)]
    account: String,
    #[serde(rename = "ActionIDs", alias = "ActionsIDs", default)]
    action_ids: Vec<String>,
    #[serde(rename = "ID", default)]
    id: String,
    #[serde(rename = "GroupID", default)]
    group_id: String,
    #[serde(rename = "UniqueID", default)]
    unique_id: String,
}

/// `APIerSv1.RemoveAccount` (`Account`), `RemoveActions` (`ActionIDs`), `RemoveActionPlan`
/// (`ID`), `RemoveActionTrigger` (`GroupID`, and `UniqueID` for one trigger of the group).
pub async fn remove(call: &Call, p: &RawValue, what: BillingRemovable) -> Result<Reply, RpcError> {
    let args: RemoveParams = params(p)?;
    let tenant = match what {
        BillingRemovable::Account => call.tenant(Some(&args.tenant))?,
        _ => call.definition_tenant(Some(&args.tenant))?,
    };
    let commands = &call.state.commands;
    match what {
        BillingRemovable::Account => commands.billing_remove(&tenant, what, &args.account, None).await?,
        BillingRemovable::ActionPlan => commands.billing_remove(&tenant, what, &args.id, None).await?,
        BillingRemovable::TriggerGroup => {
            let unique = (!args.unique_id.is_empty()).then_some(args.unique_id.as_str());
            commands.billing_remove(&tenant, what, &args.group_id, unique).await?
        }
        BillingRemovable::Actions => {
            if args.action_ids.is_empty() {
                return Err(RpcError::missing(&["ActionIDs"]));
            }
            for id in &args.action_ids {
                commands.billing_remove(&tenant, what, id, None).await?;
            }
        }
    }
    ok(&"OK")
}
