//! Action triggers: `SetActionTrigger`, `GetActionTriggers`, `AddAccountActionTriggers`.

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use simledger_billing::{ActionTrigger, BalanceFilter, ThresholdType};
use simledger_eventlog::catalog::BillingAccountTriggersAdded;
use simledger_policies::billing::read;

use super::wire::*;
use crate::jsonrpc::{ok, params, require, Call, Reply, RpcError};

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
    let tenant = call.definition_tenant(Some(&args.tenant))?;
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
        simledger_eventlog::cgr::parse_optional_time(&text(k)?, Utc::now())
            .map_err(|e| RpcError::server(format!("{k}: {e}")))
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
            timing_ids: opt(text("BalanceTimingTags")?).map(|t| destination_ids(&t)),
            shared_groups: opt(text("BalanceSharedGroups")?).map(|g| set_of(&g)),
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
    let tenant = call.definition_tenant(Some(&args.tenant))?;
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
