//! Actions: `SetActions`, `GetActions`, `ExecuteAction`.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use simledger_billing::{Action, BalanceFilter};
use simledger_policies::billing::read;

use super::wire::*;
use crate::jsonrpc::{ok, params, require, Call, Reply, RpcError};

/// `APIerSv1.GetActions` (the params are the bare group ID, as CGrateS takes them): the
/// group's actions as `TPAction`s.
pub async fn get_actions(call: &Call, p: &RawValue) -> Result<Reply, RpcError> {
    let (id, requested) = match params::<String>(p) {
        Ok(id) => (id, String::new()),
        Err(_) => {
            let r = params::<ActionsRef>(p)?;
            (r.actions_id, r.tenant)
        }
    };
    if id.is_empty() {
        return Err(RpcError::missing(&["ActionsId"]));
    }
    // As GetActionPlan and GetActionTriggers: a `Tenant` reads that tenant's (where the
    // caller may), none the global ones (the operator) or the caller's own.
    let tenant = call.definition_tenant(Some(&requested))?;
    let catalog = read::catalog(call.state.pool(), &tenant).await?;
    let actions = catalog.actions.get(&id).ok_or_else(RpcError::not_found)?;
    let listed: Vec<Value> = actions
        .iter()
        .map(|a| {
            let b = &a.balance;
            let joined = |set: Option<Vec<String>>| set.map(|s| s.join(";")).unwrap_or_default();
            serde_json::json!({
                "Identifier": a.action_type.as_str(),
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
struct ActionsRef {
    #[serde(rename = "ActionsId", alias = "ActionsID", default)]
    actions_id: String,
    #[serde(default)]
    tenant: String,
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
    #[serde(default, deserialize_with = "semicolon_list")]
    timing_tags: String,
    #[serde(default, deserialize_with = "semicolon_list")]
    destination_ids: String,
    #[serde(default)]
    rating_subject: String,
    #[serde(default, deserialize_with = "semicolon_list")]
    categories: String,
    #[serde(default, deserialize_with = "semicolon_list")]
    shared_groups: String,
    balance_weight: Option<Amount>,
    #[serde(default, deserialize_with = "text_or_json")]
    extra_parameters: String,
    #[serde(default)]
    balance_blocker: String,
    #[serde(default)]
    balance_disabled: String,
    weight: Option<Amount>,
}

impl TpAction {
    fn to_action(&self) -> Result<Action, RpcError> {
        require(&[("Identifier", !self.identifier.is_empty()), ("Weight", self.weight.is_some())])?;
        let text = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        let kind = if self.balance_type.is_empty() { None } else { Some(balance_type(&self.balance_type)?) };
        Ok(Action {
            action_type: self.identifier.parse().map_err(RpcError::server)?,
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
                timing_ids: (!self.timing_tags.is_empty()).then(|| destination_ids(&self.timing_tags)),
                shared_groups: (!self.shared_groups.is_empty()).then(|| set_of(&self.shared_groups)),
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
    let tenant = call.definition_tenant(Some(&args.tenant))?;
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
