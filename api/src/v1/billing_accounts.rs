//! `/v1/Billing/{Accounts, Balances, Destinations, Rates, Actions, ActionPlans, ActionTriggers}`: the
//! CGrateS account model over REST, JSON in and out. Bodies take the same objects (CGrateS's
//! field names) as the JSON-RPC methods they mirror, and answers are the same shapes, so the
//! two dialects never drift apart; errors are Twilio's JSON. The caller's account is the tenant.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::value::RawValue;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Errors;
use crate::extract::Caller;
use crate::jsonrpc::{self, Call};
use crate::{ApiError, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(set_account))
        .routes(routes!(get_account))
        .routes(routes!(change_balance))
        .routes(routes!(list_destinations, set_destination))
        .routes(routes!(list_rates, set_rate))
        .routes(routes!(list_actions, set_actions))
        .routes(routes!(list_action_plans, set_action_plan))
        .routes(routes!(list_action_triggers, set_action_trigger))
}

/// A CGrateS-shaped JSON object (see the JSON-RPC method named in each operation).
#[derive(Debug, Serialize, ToSchema)]
#[schema(value_type = Object)]
pub struct CgratesObject(serde_json::Value);

fn body(bytes: &Bytes) -> Result<Box<RawValue>, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::invalid("The body must be a JSON object"));
    }
    let raw: Box<RawValue> =
        serde_json::from_slice(bytes).map_err(|e| ApiError::invalid(format!("The body is not valid JSON: {e}")))?;
    if !raw.get().trim_start().starts_with('{') {
        return Err(ApiError::invalid("The body must be a JSON object"));
    }
    if simledger_eventlog::holds_nul(raw.get()) {
        return Err(ApiError::invalid("The body must not contain NUL characters"));
    }
    Ok(raw)
}

fn answer(status: StatusCode, reply: &RawValue) -> Response {
    (status, [(axum::http::header::CONTENT_TYPE, "application/json")], reply.get().to_owned()).into_response()
}

fn call(state: AppState, caller: &Caller) -> Call {
    Call::customer(state, caller.account().to_owned())
}

/// Creates or changes a billing account (`APIerSv2.SetAccount`: `Account`, `ActionTriggerIDs`,
/// `ActionPlanIDs`, `ExtraOptions.AllowNegative`/`Disabled`, …).
#[utoipa::path(post, path = "/v1/Billing/Accounts", tag = "Billing", operation_id = "SetBillingAccount",
    request_body(content = CgratesObject, content_type = "application/json"),
    responses((status = 200, body = CgratesObject, description = "The account, as GetAccount answers"), Errors,
        (status = 409, body = crate::error::TwilioError, description = "Exists")),
    security(("accountSid_authToken" = [])))]
async fn set_account(State(state): State<AppState>, caller: Caller, bytes: Bytes) -> Result<Response, ApiError> {
    let raw = body(&bytes)?;
    let c = call(state, &caller);
    jsonrpc::billing::set_account(&c, &raw).await?;
    let account: serde_json::Value = serde_json::from_str(raw.get()).unwrap_or_default();
    let key = serde_json::json!({"Account": account["Account"]});
    let key = serde_json::value::to_raw_value(&key).map_err(|e| ApiError::invalid(e.to_string()))?;
    Ok(answer(StatusCode::OK, &jsonrpc::billing::get_account(&c, &key).await?))
}

/// A billing account with its balances, triggers and counters (`APIerSv2.GetAccount`).
#[utoipa::path(get, path = "/v1/Billing/Accounts/{Account}", tag = "Billing", operation_id = "FetchBillingAccount",
    params(("Account" = String, Path, description = "The account's ID: a SIM's, a fleet's or the customer's SID, or any name")),
    responses((status = 200, body = CgratesObject), Errors),
    security(("accountSid_authToken" = [])))]
async fn get_account(
    State(state): State<AppState>,
    caller: Caller,
    Path(account): Path<String>,
) -> Result<Response, ApiError> {
    let key = serde_json::value::to_raw_value(&serde_json::json!({"Account": account}))
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    Ok(answer(StatusCode::OK, &jsonrpc::billing::get_account(&call(state, &caller), &key).await?))
}

/// Changes a balance: `Action` `set` (`APIerSv1.SetBalance`), `add` (`AddBalance`) or `debit`
/// (`DebitBalance`), with `Account`, `BalanceType`, `Value`, `Balance: {ID, ExpiryTime, Weight,
/// DestinationIDs, …}`, `Cdrlog`, `Overwrite`.
#[utoipa::path(post, path = "/v1/Billing/Balances", tag = "Billing", operation_id = "ChangeBillingBalance",
    request_body(content = CgratesObject, content_type = "application/json"),
    responses((status = 200, body = CgratesObject, description = "The account afterwards"), Errors),
    security(("accountSid_authToken" = [])))]
async fn change_balance(State(state): State<AppState>, caller: Caller, bytes: Bytes) -> Result<Response, ApiError> {
    let raw = body(&bytes)?;
    let mut object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(raw.get()).map_err(|e| ApiError::invalid(e.to_string()))?;
    let method = match object.remove("Action").as_ref().and_then(|v| v.as_str()) {
        Some("set") => "SetBalance",
        Some("add") => "AddBalance",
        Some("debit") => "DebitBalance",
        _ => return Err(ApiError::invalid("Action must be set, add or debit")),
    };
    let account = object.get("Account").cloned().unwrap_or_default();
    let rest = serde_json::value::to_raw_value(&object).map_err(|e| ApiError::invalid(e.to_string()))?;
    let c = call(state, &caller);
    jsonrpc::billing::change_balance(&c, &rest, method).await?;
    let key = serde_json::value::to_raw_value(&serde_json::json!({"Account": account}))
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    Ok(answer(StatusCode::OK, &jsonrpc::billing::get_account(&c, &key).await?))
}

macro_rules! define_and_list {
    ($set:ident, $list:ident, $path:literal, $set_id:literal, $list_id:literal, $what:literal, $rpc:path, $catalog:ident) => {
        #[doc = concat!("Defines ", $what, " (the JSON-RPC method's params).")]
        #[utoipa::path(post, path = $path, tag = "Billing", operation_id = $set_id,
            request_body(content = CgratesObject, content_type = "application/json"),
            responses((status = 201, body = CgratesObject, description = "OK"), Errors,
                (status = 409, body = crate::error::TwilioError, description = "Exists")),
            security(("accountSid_authToken" = [])))]
        async fn $set(State(state): State<AppState>, caller: Caller, bytes: Bytes) -> Result<Response, ApiError> {
            let raw = body(&bytes)?;
            $rpc(&call(state, &caller), &raw).await?;
            Ok((StatusCode::CREATED, axum::Json(serde_json::json!({"result": "OK"}))).into_response())
        }

        #[doc = concat!("Lists the account's ", $what, ".")]
        #[utoipa::path(get, path = $path, tag = "Billing", operation_id = $list_id,
            responses((status = 200, body = CgratesObject), Errors),
            security(("accountSid_authToken" = [])))]
        async fn $list(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
            let catalog = simledger_policies::billing::read::catalog(state.pool(), caller.account()).await?;
            let listed = catalog_json(&catalog, stringify!($catalog));
            Ok(axum::Json(listed).into_response())
        }
    };
}

define_and_list!(
    set_destination,
    list_destinations,
    "/v1/Billing/Destinations",
    "SetBillingDestination",
    "ListBillingDestinations",
    "destinations (`APIerSv1.SetDestination`: `Id`, `Prefixes`, `Overwrite`)",
    jsonrpc::billing::set_destination,
    destinations
);
define_and_list!(
    set_rate,
    list_rates,
    "/v1/Billing/Rates",
    "SetBillingRate",
    "ListBillingRates",
    "rates for usage no unit balance covers (`ID`, `ToR`, `DestinationID` or `*any`, `Rate` per \
     `RateUnit`, charged in whole `RateIncrement`s, `RoundingDecimals`, `Overwrite`; simledger's \
     own, CGrateS sets rates through tariff plans)",
    jsonrpc::billing::set_rate,
    rates
);
define_and_list!(
    set_actions,
    list_actions,
    "/v1/Billing/Actions",
    "SetBillingActions",
    "ListBillingActions",
    "action groups (`APIerSv1.SetActions`: `ActionsId`, `Actions`, `Overwrite`)",
    jsonrpc::billing::set_actions,
    actions
);
define_and_list!(
    set_action_plan,
    list_action_plans,
    "/v1/Billing/ActionPlans",
    "SetBillingActionPlan",
    "ListBillingActionPlans",
    "action plans (`APIerSv1.SetActionPlan`: `Id`, `ActionPlan`, `Overwrite`)",
    jsonrpc::billing::set_action_plan,
    plans
);
define_and_list!(
    set_action_trigger,
    list_action_triggers,
    "/v1/Billing/ActionTriggers",
    "SetBillingActionTrigger",
    "ListBillingActionTriggers",
    "action triggers (`APIerSv1.SetActionTrigger`: `GroupID`, `UniqueID`, `ActionTrigger`)",
    jsonrpc::billing::set_action_trigger,
    trigger_groups
);

fn catalog_json(catalog: &simledger_billing::Catalog, part: &str) -> serde_json::Value {
    match part {
        "destinations" => serde_json::json!({
            "destinations": catalog.destinations.iter().map(|(id, p)| serde_json::json!({"Id": id, "Prefixes": p})).collect::<Vec<_>>()
        }),
        "rates" => serde_json::json!({ "rates": catalog.rates.values().collect::<Vec<_>>() }),
        "actions" => serde_json::json!({ "actions": catalog.actions }),
        "plans" => serde_json::json!({ "action_plans": catalog.plans }),
        _ => serde_json::json!({ "action_triggers": catalog.trigger_groups }),
    }
}
