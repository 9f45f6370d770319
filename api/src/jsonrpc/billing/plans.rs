//! Action plans: `SetActionPlan`, `GetActionPlan`.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use simledger_policies::billing::read;

use super::wire::*;
use crate::jsonrpc::{ok, params, require, Call, Reply, RpcError};

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
    let tenant = call.definition_tenant(Some(&args.tenant))?;
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
    let tenant = call.definition_tenant(Some(&args.tenant))?;
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
                .map(|b| (format!("{}:{}", b.tenant, b.account), Value::Bool(true)))
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
