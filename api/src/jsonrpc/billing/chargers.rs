//! ChargerS: `APIerSv1.SetChargerProfile`, `GetChargerProfile`, `RemoveChargerProfile`,
//! `GetChargerProfileIDs`, in CGrateS v0.11's shapes (only `ID` mandatory, `APIOpts` or v0.10's
//! `Cache` taken and ignored). A profile is the tenant's: customers' are their own account's.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;
use simledger_billing::chargers::{ActivationInterval, ChargerProfile};
use simledger_eventlog::cgr::{go_time, Num};

use super::wire::Amount;
use crate::jsonrpc::{ok, params, require, Call, Reply, RpcError};

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct IntervalParams {
    #[serde(default)]
    activation_time: String,
    #[serde(default)]
    expiry_time: String,
}

/// A Go time, where Go's zero time (and an empty string) is "not set".
fn go_time_param(name: &str, text: &str) -> Result<Option<chrono::DateTime<chrono::Utc>>, RpcError> {
    simledger_eventlog::cgr::parse_optional_time(text, chrono::Utc::now())
        .map_err(|e| RpcError::server(format!("ActivationInterval.{name}: {e}")))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SetChargerParams {
    #[serde(default)]
    tenant: String,
    #[serde(rename = "ID", default)]
    id: String,
    #[serde(rename = "FilterIDs", default)]
    filter_ids: Vec<String>,
    #[serde(default)]
    activation_interval: Option<IntervalParams>,
    #[serde(rename = "RunID", default)]
    run_id: String,
    #[serde(rename = "AttributeIDs", default)]
    attribute_ids: Vec<String>,
    #[serde(default)]
    weight: Option<Amount>,
}

pub async fn set_charger_profile(call: &Call, p: &RawValue) -> Result<Reply, RpcError> {
    let args: SetChargerParams = params(p)?;
    require(&[("ID", !args.id.is_empty())])?;
    let tenant = call.tenant(Some(&args.tenant))?;
    let activation_interval = match args.activation_interval {
        None => None,
        Some(i) => Some(ActivationInterval {
            activation_time: go_time_param("ActivationTime", &i.activation_time)?,
            expiry_time: go_time_param("ExpiryTime", &i.expiry_time)?,
        }),
    };
    let profile = ChargerProfile {
        tenant: tenant.clone(),
        id: args.id,
        filter_ids: args.filter_ids,
        activation_interval,
        run_id: args.run_id,
        attribute_ids: args.attribute_ids,
        weight: args.weight.map(|w| w.0).unwrap_or_default(),
    };
    call.state.commands.billing_set_charger(&tenant, profile).await?;
    ok(&"OK")
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TenantIdParams {
    #[serde(default)]
    tenant: String,
    #[serde(rename = "ID", default)]
    id: String,
}

/// A profile as CGrateS answers it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ChargerReply {
    tenant: String,
    #[serde(rename = "ID")]
    id: String,
    #[serde(rename = "FilterIDs")]
    filter_ids: Vec<String>,
    activation_interval: Option<Value>,
    #[serde(rename = "RunID")]
    run_id: String,
    #[serde(rename = "AttributeIDs")]
    attribute_ids: Vec<String>,
    weight: Num,
}

impl From<ChargerProfile> for ChargerReply {
    fn from(p: ChargerProfile) -> Self {
        Self {
            tenant: p.tenant,
            id: p.id,
            filter_ids: p.filter_ids,
            activation_interval: p.activation_interval.map(|i| {
                serde_json::json!({
                    "ActivationTime": go_time(i.activation_time),
                    "ExpiryTime": go_time(i.expiry_time),
                })
            }),
            run_id: p.run_id,
            attribute_ids: p.attribute_ids,
            weight: Num(p.weight),
        }
    }
}

pub async fn get_charger_profile(call: &Call, p: &RawValue) -> Result<Reply, RpcError> {
    let args: TenantIdParams = params(p)?;
    require(&[("ID", !args.id.is_empty())])?;
    let tenant = call.tenant(Some(&args.tenant))?;
    let profile = call.state.commands.billing_charger(&tenant, &args.id).await?.ok_or_else(RpcError::not_found)?;
    ok(&ChargerReply::from(profile))
}

pub async fn remove_charger_profile(call: &Call, p: &RawValue) -> Result<Reply, RpcError> {
    let args: TenantIdParams = params(p)?;
    require(&[("ID", !args.id.is_empty())])?;
    let tenant = call.tenant(Some(&args.tenant))?;
    call.state.commands.billing_remove_charger(&tenant, &args.id).await?;
    ok(&"OK")
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct IdsParams {
    #[serde(default)]
    tenant: String,
    /// Only IDs containing it (CGrateS's paginator `Search`).
    #[serde(default)]
    search: String,
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    offset: Option<usize>,
}

pub async fn get_charger_profile_ids(call: &Call, p: &RawValue) -> Result<Reply, RpcError> {
    let args: IdsParams = params(p)?;
    let tenant = call.tenant(Some(&args.tenant))?;
    let ids: Vec<String> = call
        .state
        .commands
        .billing_chargers(&tenant)
        .await?
        .into_iter()
        .map(|c| c.id)
        .filter(|id| id.contains(&args.search))
        .skip(args.offset.unwrap_or(0))
        .take(args.limit.unwrap_or(usize::MAX))
        .collect();
    if ids.is_empty() {
        return Err(RpcError::not_found());
    }
    ok(&ids)
}
