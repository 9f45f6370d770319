//! Balance timings: `APIerSv1.SetTPTiming` + `LoadTariffPlanFromStorDb`, and the direct
//! `APIerSv1.SetTiming`/`GetTiming` of CGrateS's newer releases. A balance set with `TimingIDs`
//! gives units only while one of them is active. Without `Tenant`, the operator's are global,
//! as destinations are.

use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use serde_json::Value;
use simledger_billing::BalanceTiming;
use simledger_eventlog::cgr::TimingReply;

use super::wire::cron_list;
use crate::jsonrpc::{ok, params, require, Call, Reply, RpcError};

/// A timing's list as CGrateS users write it (`"*any"`, `"1;2"`, `[1, 2]`); absent is `None`,
/// so a mandatory list can be told from `*any`.
#[derive(Debug, Default)]
struct Numbers(Vec<i64>);

impl<'de> Deserialize<'de> for Numbers {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        cron_list(d).map(Numbers)
    }
}

/// CGrateS's `ApierTPTiming`: every field is mandatory (`*any` for any), `Time` is
/// `START` or `START;END`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct SetTpTimingParams {
    #[serde(rename = "TPid", default)]
    tpid: String,
    #[serde(rename = "ID", default)]
    id: String,
    years: Option<Numbers>,
    months: Option<Numbers>,
    month_days: Option<Numbers>,
    week_days: Option<Numbers>,
    #[serde(default)]
    time: String,
}

pub async fn set_tp_timing(call: &Call, p: &RawValue) -> Result<Reply, RpcError> {
    let args: SetTpTimingParams = params(p)?;
    require(&[
        ("TPid", !args.tpid.is_empty()),
        ("ID", !args.id.is_empty()),
        ("Years", args.years.is_some()),
        ("Months", args.months.is_some()),
        ("MonthDays", args.month_days.is_some()),
        ("WeekDays", args.week_days.is_some()),
        ("Time", !args.time.is_empty()),
    ])?;
    let (start, end) = args.time.split_once(';').unwrap_or((&args.time, ""));
    // Stock tariff plans stage an `ASAP` timing for their action plans; as a balance's timing
    // it is CGrateS's `*any`: from midnight, all day.
    let start = if start == "*asap" { "" } else { start };
    let list = |n: Option<Numbers>| n.unwrap_or_default().0;
    let timing = BalanceTiming::from_parts(
        &args.id,
        list(args.years),
        list(args.months),
        list(args.month_days),
        list(args.week_days),
        start,
        end,
    )
    .map_err(RpcError::server)?;
    let tenant = call.definition_tenant(None)?;
    call.state.commands.billing_stage_timing(&tenant, &args.tpid, timing).await?;
    ok(&"OK")
}

/// `TPTimingWithAPIOpts`: the lists as arrays (or CGrateS's strings), start and end apart.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct SetTimingParams {
    #[serde(default)]
    tenant: String,
    #[serde(rename = "ID", default)]
    id: String,
    #[serde(default)]
    years: Numbers,
    #[serde(default)]
    months: Numbers,
    #[serde(default)]
    month_days: Numbers,
    #[serde(default)]
    week_days: Numbers,
    #[serde(default)]
    start_time: String,
    #[serde(default)]
    end_time: String,
    #[serde(rename = "APIOpts", default)]
    _api_opts: Value,
}

pub async fn set_timing(call: &Call, p: &RawValue) -> Result<Reply, RpcError> {
    let args: SetTimingParams = params(p)?;
    require(&[("ID", !args.id.is_empty())])?;
    let timing = BalanceTiming::from_parts(
        &args.id,
        args.years.0,
        args.months.0,
        args.month_days.0,
        args.week_days.0,
        &args.start_time,
        &args.end_time,
    )
    .map_err(RpcError::server)?;
    let tenant = call.definition_tenant(Some(&args.tenant))?;
    call.state.commands.billing_set_timing(&tenant, timing).await?;
    ok(&"OK")
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetTimingParams {
    #[serde(default)]
    tenant: String,
    #[serde(rename = "ID", default)]
    id: String,
}

/// The timing as the caller's balances would get it: its own, else the global one, else
/// `NOT_FOUND`.
pub async fn get_timing(call: &Call, p: &RawValue) -> Result<Reply, RpcError> {
    let args: GetTimingParams = params(p)?;
    require(&[("ID", !args.id.is_empty())])?;
    let tenant = call.definition_tenant(Some(&args.tenant))?;
    let catalog = simledger_policies::billing::read::catalog(call.state.pool(), &tenant).await?;
    let timing = catalog.timing(&args.id).ok_or_else(RpcError::not_found)?;
    ok(&TimingReply::from(&timing))
}
