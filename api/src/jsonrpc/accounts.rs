//! Accounts, balances, actions, triggers and destinations over JSON-RPC, in CGrateS's shapes:
//! `APIerSv2.SetAccount`/`GetAccount`, `APIerSv1.SetBalance`/`AddBalance`/`DebitBalance`,
//! `SetActions`, `ExecuteAction`, `SetActionTrigger`, `AddAccountActionTriggers`,
//! `SetDestination`, `SetTPDestination` + `LoadTariffPlanFromStorDb`.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use serde_json::Value;
use simledger_billing::{Action, ActionTrigger, BalanceFilter, BalanceType, ThresholdType};
use simledger_commands::AccountSettings;
use simledger_eventlog::catalog::{BillingAccountTriggersAdded, BillingRemovable};
use simledger_policies::billing::read;

use simledger_eventlog::cgr::{AccountView, GO_ZERO_TIME};

use super::{ok, params, require, Call, Reply, RpcError};

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
fn destination_ids(s: &str) -> BTreeMap<String, bool> {
    s.split(';')
        .filter(|p| !p.is_empty() && *p != ANY)
        .map(|p| match p.strip_prefix('!') {
            Some(id) => (id.to_owned(), false),
            None => (p.to_owned(), true),
        })
        .collect()
}

const ANY: &str = "*any";

/// A list CGrateS takes either as a `;`-separated string or as an array of strings, as the
/// `;`-separated string the rest of this module reads.
fn semicolon_list<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
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

/// A timing's `Years`, `Months`, `MonthDays` or `WeekDays` as CGrateS takes them: an array
/// of numbers, a `;`-separated string of them, or `*any` (every one).
fn cron_list<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
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

fn set_of(s: &str) -> BTreeSet<String> {
    s.split(';').filter(|p| !p.is_empty()).map(str::to_owned).collect()
}

fn balance_type(s: &str) -> Result<BalanceType, RpcError> {
    if s.is_empty() {
        return Err(RpcError::missing(&["BalanceType"]));
    }
    BalanceType::parse(s).ok_or_else(|| RpcError::server(format!("unsupported BalanceType {s:?}")))
}

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
    _timing_ids: String,
    #[serde(default, deserialize_with = "semicolon_list")]
    _shared_groups: String,
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
        "SetBalance" => ("*set_balance", value.abs()),
        "AddBalance" if args.overwrite => ("*topup_reset", value),
        "AddBalance" => ("*topup", value),
        "RemoveBalances" => ("*remove_balance", value),
        _ => ("*debit", value),
    };
    if value < Decimal::ZERO {
        return Err(RpcError::server(format!("{method} takes a non-negative Value, not {value}")));
    }
    let tenant = call.tenant(Some(&args.tenant))?;
    let mut actions = vec![Action {
        action_type: action_type.into(),
        extra_parameters: String::new(),
        weight: Decimal::from(10),
        balance: args.filter(kind, value),
    }];
    if args.cdrlog {
        actions.push(Action {
            action_type: "*cdrlog".into(),
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

/// `APIerSv1.GetActions` (the params are the bare group ID, as CGrateS takes them): the
/// group's actions as `TPAction`s.
pub async fn get_actions(call: &Call, p: &RawValue) -> Result<Reply, RpcError> {
    let id: String = match params::<String>(p) {
        Ok(id) => id,
        Err(_) => params::<ActionsRef>(p)?.actions_id,
    };
    if id.is_empty() {
        return Err(RpcError::missing(&["ActionsId"]));
    }
    let tenant = call.tenant(None)?;
    let catalog = read::catalog(call.state.pool(), &tenant).await?;
    let actions = catalog.actions.get(&id).ok_or_else(RpcError::not_found)?;
    let listed: Vec<Value> = actions
        .iter()
        .map(|a| {
            let b = &a.balance;
            let joined = |set: Option<Vec<String>>| set.map(|s| s.join(";")).unwrap_or_default();
            serde_json::json!({
                "Identifier": a.action_type,
                "BalanceId": b.id.clone().unwrap_or_default(),
                "BalanceUuid": b.uuid.clone().unwrap_or_default(),
                "BalanceType": b.kind.map(|k| k.as_str().to_owned()).unwrap_or_default(),
                "Units": b.value.map(|v| v.normalize().to_string()).unwrap_or_default(),
                "ExpiryTime": b.expiry_time.clone().unwrap_or_default(),
                "DestinationIds": joined(b.destination_ids.as_ref().map(|d| {
                    d.iter().map(|(id, on)| if *on { id.clone() } else { format!("!{id}") }).collect()
                })),
                "RatingSubject": b.rating_subject.clone().unwrap_or_default(),
                "Categories": joined(b.categories.as_ref().map(|c| c.iter().cloned().collect())),
                "BalanceWeight": b.weight.map(|w| w.normalize().to_string()).unwrap_or_default(),
                "ExtraParameters": a.extra_parameters,
                "BalanceBlocker": b.blocker.map(|v| v.to_string()).unwrap_or_default(),
                "BalanceDisabled": b.disabled.map(|v| v.to_string()).unwrap_or_default(),
                "Weight": a.weight.normalize().to_string().parse::<f64>().unwrap_or_default(),
            })
        })
        .collect();
    ok(&listed)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetTriggersParams {
    #[serde(default)]
    tenant: String,
    #[serde(rename = "GroupIDs", default)]
    group_ids: Vec<String>,
}

/// `APIerSv1.GetActionTriggers`: the triggers of the named groups (every group when none is
/// named), as CGrateS shows them; `NOT_FOUND` when there are none.
pub async fn get_action_triggers(call: &Call, p: &RawValue) -> Result<Reply, RpcError> {
    let args: GetTriggersParams = params(p)?;
    let tenant = call.tenant(Some(&args.tenant))?;
    let catalog = read::catalog(call.state.pool(), &tenant).await?;
    let triggers: Vec<simledger_eventlog::cgr::TriggerReply> = catalog
        .trigger_groups
        .iter()
        .filter(|(id, _)| args.group_ids.is_empty() || args.group_ids.contains(id))
        .flat_map(|(_, group)| group.iter().map(simledger_eventlog::cgr::TriggerReply::from))
        .collect();
    if triggers.is_empty() {
        return Err(RpcError::not_found());
    }
    ok(&triggers)
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
    let tenant = call.tenant(Some(&args.tenant))?;
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

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ActionsRef {
    #[serde(rename = "ActionsId", default)]
    actions_id: String,
}

/// CGrateS's `V1TPAction`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct TpAction {
    #[serde(default)]
    identifier: String,
    #[serde(default)]
    balance_id: String,
    #[serde(default)]
    balance_uuid: String,
    #[serde(default)]
    balance_type: String,
    units: Option<Amount>,
    #[serde(default)]
    expiry_time: String,
    #[serde(default)]
    _filters: Value,
    #[serde(default)]
    _timing_tags: String,
    #[serde(default, deserialize_with = "semicolon_list")]
    destination_ids: String,
    #[serde(default)]
    rating_subject: String,
    #[serde(default, deserialize_with = "semicolon_list")]
    categories: String,
    #[serde(default)]
    _shared_groups: String,
    balance_weight: Option<Amount>,
    #[serde(default)]
    extra_parameters: String,
    #[serde(default)]
    balance_blocker: String,
    #[serde(default)]
    balance_disabled: String,
    weight: Option<Amount>,
}

fn flag(s: &str, field: &str) -> Result<Option<bool>, RpcError> {
    match s {
        "" => Ok(None),
        "true" => Ok(Some(true)),
        "false" => Ok(Some(false)),
        other => Err(RpcError::server(format!("{field} must be \"true\" or \"false\", not {other:?}"))),
    }
}

impl TpAction {
    fn to_action(&self) -> Result<Action, RpcError> {
        require(&[("Identifier", !self.identifier.is_empty()), ("Weight", self.weight.is_some())])?;
        let text = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        let kind = if self.balance_type.is_empty() { None } else { Some(balance_type(&self.balance_type)?) };
        Ok(Action {
            action_type: self.identifier.clone(),
            extra_parameters: self.extra_parameters.clone(),
            weight: self.weight.unwrap_or_default().0,
            balance: BalanceFilter {
                uuid: text(&self.balance_uuid),
                id: text(&self.balance_id),
                kind,
                value: self.units.map(|u| u.0),
                expiry_time: text(&self.expiry_time),
                weight: self.balance_weight.map(|w| w.0),
                destination_ids: (!self.destination_ids.is_empty()).then(|| destination_ids(&self.destination_ids)),
                rating_subject: text(&self.rating_subject),
                categories: (!self.categories.is_empty()).then(|| set_of(&self.categories)),
                blocker: flag(&self.balance_blocker, "BalanceBlocker")?,
                disabled: flag(&self.balance_disabled, "BalanceDisabled")?,
                factors: None,
            },
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct SetActionsParams {
    #[serde(default)]
    tenant: String,
    #[serde(rename = "ActionsId", alias = "ActionsID", default)]
    actions_id: String,
    #[serde(default)]
    overwrite: bool,
    #[serde(default)]
    actions: Vec<TpAction>,
    #[serde(rename = "APIOpts", default)]
    _api_opts: Value,
}

pub async fn set_actions(call: &Call, p: &RawValue) -> Result<Reply, RpcError> {
    let args: SetActionsParams = params(p)?;
    require(&[("ActionsId", !args.actions_id.is_empty()), ("Actions", !args.actions.is_empty())])?;
    let actions = args.actions.iter().map(TpAction::to_action).collect::<Result<Vec<_>, _>>()?;
    let tenant = call.tenant(Some(&args.tenant))?;
    call.state.commands.billing_define_actions(&tenant, &args.actions_id, actions, args.overwrite).await?;
    ok(&"OK")
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ExecuteActionParams {
    #[serde(default)]
    tenant: String,
    #[serde(default)]
    account: String,
    #[serde(rename = "ActionsId", alias = "ActionsID", default)]
    actions_id: String,
}

pub async fn execute_action(call: &Call, p: &RawValue) -> Result<Reply, RpcError> {
    let args: ExecuteActionParams = params(p)?;
    require(&[("Account", !args.account.is_empty()), ("ActionsId", !args.actions_id.is_empty())])?;
    let tenant = call.tenant(Some(&args.tenant))?;
    call.state.commands.billing_execute_actions(&tenant, &args.account, &args.actions_id).await?;
    ok(&"OK")
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct SetActionTriggerParams {
    #[serde(default)]
    tenant: String,
    #[serde(rename = "GroupID", default)]
    group_id: String,
    #[serde(rename = "UniqueID", default)]
    unique_id: String,
    #[serde(default)]
    action_trigger: BTreeMap<String, Value>,
    /// The group's triggers are replaced rather than added to.
    #[serde(default)]
    overwrite: bool,
    #[serde(rename = "APIOpts", default)]
    _api_opts: Value,
}

/// The `ActionTrigger` map with its keys as [`trigger_from_map`] reads them: matched to the
/// known keys case-insensitively (unknown ones dropped, as Go drops them), and a `Balance`
/// object's fields spread into their `Balance…` keys (`Balance.ID` is `BalanceID`).
fn canonical_trigger_map(m: &BTreeMap<String, Value>) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let mut put = |key: &str, value: &Value| {
        if value.is_null() {
            return;
        }
        match TRIGGER_KEYS.iter().find(|k| k.eq_ignore_ascii_case(key)) {
            Some(k) => {
                out.insert((*k).to_owned(), value.clone());
            }
            None => tracing::debug!(key, "an ActionTrigger key that names no field was ignored, as Go does"),
        }
    };
    for (key, value) in m {
        match (key.eq_ignore_ascii_case("Balance"), value) {
            (true, Value::Object(balance)) => {
                for (field, v) in balance {
                    let field = match field.to_ascii_lowercase().as_str() {
                        "type" | "balancetype" => "BalanceType".to_owned(),
                        "destinationids" => "BalanceDestinationIds".to_owned(),
                        other if other.starts_with("balance") => field.clone(),
                        _ => format!("Balance{field}"),
                    };
                    // A list given as an array is the `;` string the map takes.
                    let v = match v {
                        Value::Array(items) => {
                            Value::String(items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(";"))
                        }
                        other => other.clone(),
                    };
                    put(&field, &v);
                }
            }
            _ => put(key, value),
        }
    }
    out
}

const TRIGGER_KEYS: &[&str] = &[
    "ThresholdType",
    "ThresholdValue",
    "Recurrent",
    "MinSleep",
    "ExpirationDate",
    "ActivationDate",
    "BalanceID",
    "BalanceType",
    "BalanceDestinationIds",
    "BalanceWeight",
    "BalanceExpirationDate",
    "BalanceTimingTags",
    "BalanceRatingSubject",
    "BalanceCategories",
    "BalanceSharedGroups",
    "BalanceBlocker",
    "BalanceDisabled",
    "ActionsID",
    "MinQueuedItems",
    "Executed",
    "Weight",
];

/// Reads CGrateS's `ActionTrigger` map (`ThresholdType`, `ThresholdValue`, `Recurrent`,
/// `MinSleep`, `ExpirationDate`, `ActivationDate`, `Balance…`, `ActionsID`, `Executed`, `Weight`).
fn trigger_from_map(group: &str, unique: &str, m: &BTreeMap<String, Value>) -> Result<ActionTrigger, RpcError> {
    let m = &canonical_trigger_map(m);
    let text = |k: &str| -> Result<String, RpcError> {
        match m.get(k) {
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(other) => Err(RpcError::server(format!("ActionTrigger.{k} must be text, not {other}"))),
        }
    };
    let number = |k: &str| -> Result<Option<Decimal>, RpcError> {
        match m.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => Decimal::from_str(&n.to_string())
                .or_else(|_| Decimal::from_scientific(&n.to_string()))
                .map(Some)
                .map_err(|_| RpcError::server(format!("ActionTrigger.{k} is not a number"))),
            Some(Value::String(s)) => Decimal::from_str(s)
                .map(Some)
                .map_err(|_| RpcError::server(format!("ActionTrigger.{k} is not a number"))),
            Some(other) => Err(RpcError::server(format!("ActionTrigger.{k} must be a number, not {other}"))),
        }
    };
    let boolean = |k: &str| -> Result<Option<bool>, RpcError> {
        match m.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(RpcError::server(format!("ActionTrigger.{k} must be true or false, not {other}"))),
        }
    };
    let time = |k: &str| -> Result<Option<DateTime<Utc>>, RpcError> {
        let s = text(k)?;
        if s.is_empty() || s == GO_ZERO_TIME {
            return Ok(None);
        }
        simledger_eventlog::cgr::parse_time(&s, Utc::now()).map(Some).map_err(|e| RpcError::server(format!("{k}: {e}")))
    };
    require(&[
        ("ThresholdType", !text("ThresholdType")?.is_empty()),
        ("BalanceType", !text("BalanceType")?.is_empty()),
        ("ActionsID", !text("ActionsID")?.is_empty()),
    ])?;
    let threshold_type: ThresholdType =
        serde_json::from_value(Value::String(text("ThresholdType")?)).map_err(|_| {
            RpcError::server(format!("unsupported ThresholdType {:?}", text("ThresholdType").unwrap_or_default()))
        })?;
    let min_sleep = match m.get("MinSleep") {
        None | Some(Value::Null) => 0,
        Some(Value::Number(n)) => n.as_i64().ok_or_else(|| RpcError::server("MinSleep is not whole nanoseconds"))?,
        Some(Value::String(s)) if s.is_empty() => 0,
        Some(Value::String(s)) => {
            simledger_eventlog::cgr::parse_go_duration(s).map_err(|e| RpcError::server(format!("MinSleep: {e}")))?
        }
        Some(other) => return Err(RpcError::server(format!("MinSleep must be a duration, not {other}"))),
    };
    if min_sleep < 0 {
        return Err(RpcError::server("MinSleep must not be negative"));
    }
    let opt = |s: String| (!s.is_empty()).then_some(s);
    Ok(ActionTrigger {
        id: group.to_owned(),
        unique_id: unique.to_owned(),
        threshold_type,
        threshold_value: number("ThresholdValue")?.unwrap_or_default(),
        recurrent: boolean("Recurrent")?.unwrap_or(false),
        min_sleep,
        expiration_date: time("ExpirationDate")?,
        activation_date: time("ActivationDate")?,
        balance: BalanceFilter {
            id: opt(text("BalanceID")?),
            kind: Some(balance_type(&text("BalanceType")?)?),
            weight: number("BalanceWeight")?,
            destination_ids: opt(text("BalanceDestinationIds")?).map(|d| destination_ids(&d)),
            rating_subject: opt(text("BalanceRatingSubject")?),
            categories: opt(text("BalanceCategories")?).map(|c| set_of(&c)),
            blocker: boolean("BalanceBlocker")?,
            disabled: boolean("BalanceDisabled")?,
            ..Default::default()
        },
        weight: number("Weight")?.unwrap_or_default(),
        actions_id: text("ActionsID")?,
        executed: boolean("Executed")?.unwrap_or(false),
        last_execution_time: None,
    })
}

pub async fn set_action_trigger(call: &Call, p: &RawValue) -> Result<Reply, RpcError> {
    let args: SetActionTriggerParams = params(p)?;
    require(&[("GroupID", !args.group_id.is_empty())])?;
    // Without a UniqueID the trigger gets one, as CGrateS generates it.
    let unique_id = if args.unique_id.is_empty() { uuid::Uuid::new_v4().to_string() } else { args.unique_id };
    let trigger = trigger_from_map(&args.group_id, &unique_id, &args.action_trigger)?;
    let tenant = call.tenant(Some(&args.tenant))?;
    call.state.commands.billing_define_trigger(&tenant, &args.group_id, trigger, args.overwrite).await?;
    ok(&"OK")
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct AddAccountTriggersParams {
    #[serde(default)]
    tenant: String,
    #[serde(default)]
    account: String,
    #[serde(rename = "ActionTriggerIDs", default)]
    action_trigger_ids: Vec<String>,
    #[serde(default)]
    action_trigger_overwrite: bool,
    #[serde(default)]
    activation_date: String,
    #[serde(default)]
    executed: bool,
    #[serde(rename = "APIOpts", default)]
    _api_opts: Value,
}

pub async fn add_account_action_triggers(call: &Call, p: &RawValue) -> Result<Reply, RpcError> {
    let args: AddAccountTriggersParams = params(p)?;
    require(&[("Account", !args.account.is_empty()), ("ActionTriggerIDs", !args.action_trigger_ids.is_empty())])?;
    let activation_date = match args.activation_date.as_str() {
        "" => None,
        s => Some(simledger_eventlog::cgr::parse_time(s, Utc::now()).map_err(RpcError::server)?),
    };
    let tenant = call.tenant(Some(&args.tenant))?;
    let added = BillingAccountTriggersAdded {
        tenant: tenant.clone(),
        account: args.account.clone(),
        group_ids: args.action_trigger_ids,
        overwrite: args.action_trigger_overwrite,
        activation_date,
        executed: args.executed,
    };
    call.state.commands.billing_add_account_triggers(&tenant, &args.account, added).await?;
    ok(&"OK")
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct SetDestinationParams {
    #[serde(default)]
    tenant: String,
    #[serde(rename = "Id", alias = "ID", default)]
    id: String,
    #[serde(default)]
    prefixes: Vec<String>,
    #[serde(default)]
    overwrite: bool,
    #[serde(rename = "APIOpts", default)]
    _api_opts: Value,
}

pub async fn set_destination(call: &Call, p: &RawValue) -> Result<Reply, RpcError> {
    let args: SetDestinationParams = params(p)?;
    let tenant = call.tenant(Some(&args.tenant))?;
    call.state.commands.billing_set_destination(&tenant, &args.id, args.prefixes, args.overwrite).await?;
    ok(&"OK")
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct SetTpDestinationParams {
    #[serde(rename = "TPid", default)]
    tpid: String,
    #[serde(rename = "ID", default)]
    id: String,
    #[serde(default)]
    prefixes: Vec<String>,
}

/// `SetTPDestination` stages a destination under a tariff plan ID (CGrateS's StorDB);
/// `LoadTariffPlanFromStorDb` makes a plan's staged destinations live.
pub async fn set_tp_destination(call: &Call, p: &RawValue) -> Result<Reply, RpcError> {
    let args: SetTpDestinationParams = params(p)?;
    require(&[("TPid", !args.tpid.is_empty()), ("ID", !args.id.is_empty()), ("Prefixes", !args.prefixes.is_empty())])?;
    let tenant = call.tenant(None)?;
    sqlx::query(
        "INSERT INTO billing_tp_destinations (tenant, tpid, id, prefixes) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (tenant, tpid, id) DO UPDATE SET prefixes = $4",
    )
    .bind(&tenant)
    .bind(&args.tpid)
    .bind(&args.id)
    .bind(&args.prefixes)
    .execute(call.state.pool())
    .await?;
    ok(&"OK")
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LoadTpParams {
    #[serde(rename = "TPid", default)]
    tpid: String,
}

pub async fn load_tariff_plan(call: &Call, p: &RawValue) -> Result<Reply, RpcError> {
    let args: LoadTpParams = params(p)?;
    if args.tpid.is_empty() {
        return Err(RpcError::missing(&["TPid"]));
    }
    let tenant = call.tenant(None)?;
    let staged: Vec<(String, Vec<String>)> =
        sqlx::query_as("SELECT id, prefixes FROM billing_tp_destinations WHERE tenant = $1 AND tpid = $2 ORDER BY id")
            .bind(&tenant)
            .bind(&args.tpid)
            .fetch_all(call.state.pool())
            .await?;
    if staged.is_empty() {
        return Err(RpcError::not_found());
    }
    for (id, prefixes) in staged {
        call.state.commands.billing_set_destination(&tenant, &id, prefixes, true).await?;
    }
    ok(&"OK")
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct PlanTimingParams {
    #[serde(rename = "ActionsId", alias = "ActionsID", default)]
    actions_id: String,
    #[serde(rename = "TimingID", alias = "TimingId", default)]
    timing_id: String,
    #[serde(default, deserialize_with = "cron_list")]
    years: Vec<i32>,
    #[serde(default, deserialize_with = "cron_list")]
    months: Vec<u32>,
    #[serde(default, deserialize_with = "cron_list")]
    month_days: Vec<i32>,
    #[serde(default, deserialize_with = "cron_list")]
    week_days: Vec<u32>,
    #[serde(default)]
    time: String,
    weight: Option<Amount>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct SetActionPlanParams {
    #[serde(default)]
    tenant: String,
    #[serde(rename = "Id", alias = "ID", default)]
    id: String,
    #[serde(default)]
    action_plan: Vec<PlanTimingParams>,
    #[serde(default)]
    overwrite: bool,
    #[serde(default)]
    _reload_scheduler: bool,
    #[serde(rename = "APIOpts", default)]
    _api_opts: Value,
}

/// `APIerSv1.SetActionPlan`: timings by tag (`Time` or `TimingID`: `*asap`, `*daily`, …,
/// `+10m`) or `Time` `HH:MM:SS` with `Months`, `MonthDays`, `WeekDays`.
pub async fn set_action_plan(call: &Call, p: &RawValue) -> Result<Reply, RpcError> {
    let args: SetActionPlanParams = params(p)?;
    require(&[("Id", !args.id.is_empty()), ("ActionPlan", !args.action_plan.is_empty())])?;
    let mut timings = Vec::new();
    for t in &args.action_plan {
        if t.actions_id.is_empty() {
            return Err(RpcError::missing(&["ActionsId"]));
        }
        let time = if t.time.is_empty() { t.timing_id.as_str() } else { t.time.as_str() };
        let timing = simledger_billing::Timing::parse(time, &t.months, &t.month_days, &t.week_days)
            .and_then(|timing| timing.in_years(&t.years))
            .map_err(RpcError::server)?;
        timings.push(simledger_billing::PlanTiming {
            actions_id: t.actions_id.clone(),
            timing,
            weight: t.weight.unwrap_or_default().0,
        });
    }
    let tenant = call.tenant(Some(&args.tenant))?;
    let plan = simledger_billing::ActionPlan { id: args.id.clone(), timings };
    call.state.commands.billing_set_action_plan(&tenant, plan, args.overwrite).await?;
    ok(&"OK")
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct GetActionPlanParams {
    #[serde(default)]
    tenant: String,
    /// One plan; every plan of the tenant when empty.
    #[serde(rename = "ID", alias = "Id", default)]
    id: String,
}

/// `APIerSv1.GetActionPlan`: the plans as CGrateS's `engine.ActionPlan` — `Id`, the accounts
/// bound to it (`AccountIDs`, `tenant:account`), and its `ActionTimings`, each with the timing
/// as it was set (`Timing.Timing.StartTime` the time or tag, the cron-like lists) and its
/// actions and weight. `NOT_FOUND` when the plan (or, asked for all, any plan) is missing.
pub async fn get_action_plan(call: &Call, p: &RawValue) -> Result<Reply, RpcError> {
    let args: GetActionPlanParams = params(p)?;
    let tenant = call.tenant(Some(&args.tenant))?;
    let catalog = read::catalog(call.state.pool(), &tenant).await?;
    let plans: Vec<&simledger_billing::ActionPlan> = if args.id.is_empty() {
        catalog.plans.values().collect()
    } else {
        catalog.plans.get(&args.id).into_iter().collect()
    };
    if plans.is_empty() {
        return Err(RpcError::not_found());
    }
    let bindings = read::plan_bindings(call.state.pool(), &tenant, 100_000).await?;
    let listed: Vec<Value> = plans
        .into_iter()
        .map(|plan| {
            let accounts: serde_json::Map<String, Value> = bindings
                .iter()
                .filter(|b| b.plan_id == plan.id)
                .map(|b| (format!("{tenant}:{}", b.account), Value::Bool(true)))
                .collect();
            let timings: Vec<Value> = plan
                .timings
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    let uuid = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, format!("{tenant}/{}/{i}", plan.id).as_bytes());
                    serde_json::json!({
                        "Uuid": uuid.to_string(),
                        "Timing": { "Timing": ri_timing(&t.timing), "Rating": null, "Weight": 0 },
                        "ActionsID": t.actions_id,
                        "ExtraData": null,
                        // A number, as Go's float64 writes it.
                        "Weight": serde_json::from_str::<Value>(&t.weight.normalize().to_string()).unwrap_or(Value::Null),
                    })
                })
                .collect();
            serde_json::json!({ "Id": plan.id, "AccountIDs": accounts, "ActionTimings": timings })
        })
        .collect();
    ok(&listed)
}

/// A plan timing as CGrateS's `RITiming`: the time or tag in `StartTime`, the lists as set.
fn ri_timing(t: &simledger_billing::Timing) -> Value {
    use simledger_billing::Timing as T;
    let tag = |s: &str| {
        serde_json::json!({ "ID": "", "Years": [], "Months": [], "MonthDays": [], "WeekDays": [],
                                          "StartTime": s, "EndTime": "" })
    };
    match t {
        T::Asap => tag("*asap"),
        T::EveryMinute => tag("*every_minute"),
        T::Hourly => tag("*hourly"),
        T::Daily => tag("*daily"),
        T::Weekly => tag("*weekly"),
        T::Monthly => tag("*monthly"),
        T::MonthlyEstimated => tag("*monthly_estimated"),
        T::MonthEnd => tag("*month_end"),
        T::Yearly => tag("*yearly"),
        T::After(ns) => tag(&format!("+{}", simledger_eventlog::cgr::format_go_duration(*ns))),
        T::At { time, years, months, month_days, week_days } => serde_json::json!({
            "ID": "", "Years": years, "Months": months, "MonthDays": month_days, "WeekDays": week_days,
            "StartTime": time.format("%H:%M:%S").to_string(), "EndTime": "",
        }),
    }
}

/// Units a rate is priced or charged in: a number (bytes, messages, nanoseconds) or, as CGrateS
/// writes a rate slot's `RateUnit`/`RateIncrement`, a Go duration (`"60s"`).
#[derive(Debug, Clone, Copy)]
struct Units(Decimal);

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

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct SetRateParams {
    #[serde(default)]
    tenant: String,
    #[serde(rename = "ID", alias = "Id", default)]
    id: String,
    #[serde(rename = "ToR", default)]
    tor: String,
    #[serde(rename = "DestinationID", alias = "DestinationId", default)]
    destination_id: String,
    rate: Option<Amount>,
    rate_unit: Option<Units>,
    rate_increment: Option<Units>,
    rounding_decimals: Option<u32>,
    #[serde(default)]
    overwrite: bool,
}

/// A tenant's rate (`POST /v1/Billing/Rates`): `Rate` per `RateUnit` (default 1), charged in
/// whole `RateIncrement`s (default the unit), rounded to `RoundingDecimals` (default 4).
pub async fn set_rate(call: &Call, p: &RawValue) -> Result<Reply, RpcError> {
    let args: SetRateParams = params(p)?;
    require(&[
        ("ID", !args.id.is_empty()),
        ("ToR", !args.tor.is_empty()),
        ("DestinationID", !args.destination_id.is_empty()),
        ("Rate", args.rate.is_some()),
    ])?;
    let rate = args.rate.map_or(Decimal::ZERO, |a| a.0);
    let tenant = call.tenant(Some(&args.tenant))?;
    let unit = args.rate_unit.map_or(Decimal::ONE, |u| u.0);
    let def = simledger_billing::RateDef {
        id: args.id,
        tor: args.tor,
        destination_id: args.destination_id,
        rate,
        rate_unit: unit,
        rate_increment: args.rate_increment.map_or(unit, |u| u.0),
        rounding_decimals: args.rounding_decimals.unwrap_or(simledger_billing::rating::DEFAULT_ROUNDING_DECIMALS),
    };
    call.state.commands.billing_set_rate(&tenant, def, args.overwrite).await?;
    ok(&"OK")
}
