//! A tenant's own rates: `SetRate` (this platform's addition in CGrateS's shape).

use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::wire::*;
use crate::jsonrpc::{ok, params, require, Call, Reply, RpcError};

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
        tor: simledger_billing::BalanceType::parse_usage(&args.tor).map_err(|m| {
            RpcError::from(simledger_commands::CommandError::InvalidParameter { param: "ToR", message: m })
        })?,
        destination_id: args.destination_id,
        rate,
        rate_unit: unit,
        rate_increment: args.rate_increment.map_or(unit, |u| u.0),
        rounding_decimals: args.rounding_decimals.unwrap_or(simledger_billing::rating::DEFAULT_ROUNDING_DECIMALS),
    };
    call.state.commands.billing_set_rate(&tenant, def, args.overwrite).await?;
    ok(&"OK")
}
