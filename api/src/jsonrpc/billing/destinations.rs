//! Destinations: `SetDestination`, `SetTPDestination` + `LoadTariffPlanFromStorDb`.

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
