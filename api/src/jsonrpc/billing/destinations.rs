//! Destinations: `SetDestination`, `SetTPDestination` + `LoadTariffPlanFromStorDb`. The
//! operator's, without `Tenant`, are global as CGrateS's are (see `Call::destination_tenant`).

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::jsonrpc::{ok, params, require, Call, Reply, RpcError};

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
    let tenant = call.definition_tenant(Some(&args.tenant))?;
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
    let tenant = call.definition_tenant(None)?;
    call.state.commands.billing_stage_destination(&tenant, &args.tpid, &args.id, args.prefixes).await?;
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
    let tenant = call.definition_tenant(None)?;
    call.state.commands.billing_load_tariff_plan(&tenant, &args.tpid).await?;
    ok(&"OK")
}
