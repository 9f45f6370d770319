//! `POST /jsonrpc`: CGrateS's JSON-RPC dialect (JSON-RPC 1.0 as Go's `net/rpc/jsonrpc` speaks
//! it), so billing scripts written for CGrateS run unchanged.
//!
//! - Request `{"method": "APIerSv1.SetBalance", "params": [{…}], "id": 1}`; a `"jsonrpc"` member
//!   is ignored. Reply `{"id": 1, "result": …, "error": null}` or `{"id": 1, "result": null,
//!   "error": "NOT_FOUND"}`: errors are CGrateS's bare strings (`MANDATORY_IE_MISSING: [Account]`,
//!   `SERVER_ERROR: …`, `ERR_EXISTS`, `NOT_FOUND`), with HTTP 200 as CGrateS answers them.
//! - Method names are case-sensitive; `ApierV1.`/`ApierV2.` are aliases of `APIerSv1.`/`APIerSv2.`.
//! - Who may call: on the main listener, any account by HTTP Basic auth (a customer acts on its
//!   own tenant; an operator names one with `Tenant`). On the CGrateS-style listener
//!   (`--jsonrpc-listen`), bound to loopback, no credentials are asked, as CGrateS asks none, and
//!   `Tenant` defaults to the configured default tenant; bound elsewhere, operator credentials
//!   are required. Since a browser page could post to a loopback listener, requests carrying
//!   `Origin`, or a `text/*` or `multipart/*` body, are refused there ([`from_a_browser`]).

pub(crate) mod billing;
mod cdrs;
pub mod go_json;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use serde_json::Value;
use simledger_commands::{CommandError, Role};

use crate::AppState;

/// Who reaches a listener, and so what it asks of callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposure {
    /// The main HTTP listener: credentials required, customers and operators.
    Main,
    /// The CGrateS-style listener on a loopback address: no credentials, as CGrateS.
    Loopback,
    /// The CGrateS-style listener on another address: operator credentials required.
    Remote,
}

/// `/jsonrpc` for a listener of this exposure.
pub fn router(exposure: Exposure) -> Router<AppState> {
    std::sync::LazyLock::force(&STARTED);
    Router::new().route(
        "/jsonrpc",
        post(move |state: State<AppState>, headers: HeaderMap, body: Bytes| handle(state, headers, body, exposure)),
    )
}

/// Why a call failed, as a type: mapped once to CGrateS's bare error strings (its `Display`,
/// what the JSON-RPC reply carries) and once to Twilio's errors (`From<RpcError> for
/// ApiError`, what the `/v1/Billing` mirror answers).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RpcError {
    #[error("NOT_FOUND")]
    NotFound,
    #[error("ERR_EXISTS")]
    Exists,
    #[error("MANDATORY_IE_MISSING: [{}]", .0.join(" "))]
    Missing(Vec<String>),
    #[error("UNAUTHORIZED")]
    Unauthorized,
    /// A refusal CGrateS names by a code of its own (`INSUFFICIENT_CREDIT`, …).
    #[error("{0}")]
    Code(String),
    /// The request cannot be carried out as written.
    #[error("SERVER_ERROR: {0}")]
    Refused(String),
    /// A failure of ours (the database, the log); its cause chain was logged where it happened
    /// and the caller learns nothing of it.
    #[error("SERVER_ERROR: internal error")]
    Internal,
    /// Go's `net/rpc` wording for a method or service it does not have.
    #[error("rpc: can't find {0}")]
    NoSuchMethod(String),
}

impl RpcError {
    pub fn not_found() -> Self {
        Self::NotFound
    }

    pub fn missing(fields: &[&str]) -> Self {
        Self::Missing(fields.iter().map(|f| (*f).to_owned()).collect())
    }

    pub fn server(message: impl std::fmt::Display) -> Self {
        Self::Refused(message.to_string())
    }

    /// A failure of ours: its cause chain is logged and the caller gets [`RpcError::Internal`].
    pub fn internal(e: &(dyn std::error::Error + 'static)) -> Self {
        let chain = simledger_eventlog::error::cause_chain(e);
        tracing::error!(error = %chain, "JSON-RPC call failed on our side");
        Self::Internal
    }

    pub fn exists() -> Self {
        Self::Exists
    }

    pub fn unauthorized() -> Self {
        Self::Unauthorized
    }
}

impl From<CommandError> for RpcError {
    fn from(e: CommandError) -> Self {
        match e {
            CommandError::Missing(fields) => Self::missing(&fields),
            CommandError::Duplicate(_) => Self::exists(),
            // CGrateS's own codes stand as they are; other refusals are server errors.
            CommandError::Refused(e) if e.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') => Self::Code(e),
            CommandError::Refused(e) => match e.strip_prefix("SERVER_ERROR: ") {
                Some(message) => Self::Refused(message.to_owned()),
                None => Self::Refused(e),
            },
            CommandError::NotFound { .. } => Self::not_found(),
            CommandError::EventLog(simledger_eventlog::EventLogError::Conflict { .. }) => {
                Self::server("the account was changed by another request; try again")
            }
            e @ (CommandError::EventLog(_) | CommandError::Database(_) | CommandError::NotVisible(_)) => {
                Self::internal(&e)
            }
            other => Self::server(other),
        }
    }
}

impl From<sqlx::Error> for RpcError {
    fn from(e: sqlx::Error) -> Self {
        Self::internal(&e)
    }
}

/// The caller of one request, resolved to the tenant it acts on.
pub struct Call {
    pub state: AppState,
    /// Operators (and loopback callers) may name any tenant; customers only their own.
    operator: bool,
    own_account: Option<String>,
}

impl Call {
    /// Whether the caller is the operator (or a loopback caller, trusted as one).
    pub fn is_operator(&self) -> bool {
        self.operator
    }

    /// A customer acting on its own account (the REST mirror of the billing methods).
    pub fn customer(state: AppState, account: String) -> Self {
        Self { state, operator: false, own_account: Some(account) }
    }

    /// The tenant a definition (destination, actions, action plan, trigger group) is in.
    /// CGrateS's have no tenant, so the operator's, given without `Tenant`, are global
    /// ([`simledger_billing::GLOBAL_TENANT`]): every tenant reads them. With `Tenant`, and for
    /// customers always, they are the tenant's own.
    pub fn definition_tenant(&self, requested: Option<&str>) -> Result<String, RpcError> {
        match requested.filter(|t| !t.is_empty()) {
            None if self.operator => Ok(simledger_billing::GLOBAL_TENANT.to_owned()),
            requested => self.tenant(requested),
        }
    }

    /// The tenant a request acts on: its `Tenant`, checked against the caller.
    pub fn tenant(&self, requested: Option<&str>) -> Result<String, RpcError> {
        let requested = requested.filter(|t| !t.is_empty());
        match (&self.own_account, self.operator, requested) {
            (Some(own), false, None) => Ok(own.clone()),
            (Some(own), false, Some(t)) if t == own => Ok(own.clone()),
            (Some(_), false, Some(_)) => Err(RpcError::unauthorized()),
            (_, true, Some(t)) => Ok(t.to_owned()),
            (_, true, None) => self.state.default_tenant.clone().ok_or_else(|| RpcError::missing(&["Tenant"])),
            (None, false, _) => Err(RpcError::unauthorized()),
        }
    }
}

/// The envelope; `params` is kept as written so amounts are read digit for digit.
#[derive(serde::Deserialize)]
struct Request {
    #[serde(default)]
    id: Value,
    method: Option<String>,
    params: Option<Box<RawValue>>,
}

/// Whether a request could have been made by a web page. The loopback listener trusts every
/// local process, and a browser on the operator's machine is one: any page could post to it.
/// Browsers send `Origin` with every cross-origin POST, and without a preflight they can only
/// send `text/plain`, `multipart/form-data` or a form; so a request with an `Origin`, or of a
/// type only a page would choose, is refused. (A form body is still taken without `Origin`:
/// `curl -d` sends that type, and CGrateS scripts use it.)
fn from_a_browser(headers: &HeaderMap) -> bool {
    let content_type =
        headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
    headers.contains_key(axum::http::header::ORIGIN)
        || content_type.starts_with("text/")
        || content_type.starts_with("multipart/")
}

async fn handle(State(state): State<AppState>, headers: HeaderMap, body: Bytes, exposure: Exposure) -> Response {
    if exposure == Exposure::Loopback && from_a_browser(&headers) {
        return reply(
            StatusCode::FORBIDDEN,
            Value::Null,
            Err(RpcError::server("requests from web pages are not taken on this listener")),
        );
    }
    // jsonb cannot store U+0000: refused here, before it reaches any table or the log.
    if body.contains(&0) || std::str::from_utf8(&body).is_ok_and(simledger_eventlog::holds_nul) {
        return reply(
            StatusCode::BAD_REQUEST,
            Value::Null,
            Err(RpcError::server("malformed request: NUL characters are not accepted")),
        );
    }
    let request: Request = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return reply(
                StatusCode::BAD_REQUEST,
                Value::Null,
                Err(RpcError::server(format!("malformed request: {e}"))),
            )
        }
    };
    let id = request.id;
    let Some(method) = request.method else {
        return reply(StatusCode::BAD_REQUEST, id, Err(RpcError::server("malformed request: no method")));
    };
    let call = match authorize(&state, &headers, exposure).await {
        Ok(call) => call,
        Err((status, e)) => return reply(status, id, Err(e)),
    };
    let params = match one_param(request.params) {
        Ok(p) => p,
        Err(e) => return reply(StatusCode::OK, id, Err(e)),
    };
    let method = canonical(&method);
    let result = dispatch(&call, &method, &params).await;
    if let Err(e) = &result {
        tracing::debug!(method, error = %e, "JSON-RPC call refused");
    }
    reply(StatusCode::OK, id, result)
}

/// CGrateS's codec takes exactly one object in the params array (a bare object is accepted).
fn one_param(params: Option<Box<RawValue>>) -> Result<Box<RawValue>, RpcError> {
    let empty = || RawValue::from_string("{}".into()).map_err(RpcError::server);
    let Some(raw) = params else { return empty() };
    let text = raw.get().trim_start();
    if text.starts_with('[') {
        let mut items: Vec<Box<RawValue>> =
            serde_json::from_str(raw.get()).map_err(|e| RpcError::server(format!("malformed params: {e}")))?;
        match items.len() {
            1 => Ok(items.remove(0)),
            _ => Err(RpcError::server("params must hold exactly one object")),
        }
    } else if text.starts_with('{') {
        Ok(raw)
    } else if text == "null" {
        empty()
    } else {
        Err(RpcError::server("params must be an array of one object"))
    }
}

/// `ApierV1.X` → `APIerSv1.X`, `ApierV2.X` → `APIerSv2.X`; other names as they are.
fn canonical(method: &str) -> String {
    if let Some(rest) = method.strip_prefix("ApierV1.") {
        format!("APIerSv1.{rest}")
    } else if let Some(rest) = method.strip_prefix("ApierV2.") {
        format!("APIerSv2.{rest}")
    } else {
        method.to_owned()
    }
}

/// A method's result, serialized already so amounts keep their digits (see [`Num`]).
pub type Reply = Box<serde_json::value::RawValue>;

/// Serializes a method's result.
pub fn ok<T: serde::Serialize>(result: &T) -> Result<Reply, RpcError> {
    serde_json::value::to_raw_value(result).map_err(RpcError::server)
}

async fn dispatch(call: &Call, method: &str, params: &RawValue) -> Result<Reply, RpcError> {
    use simledger_eventlog::catalog::BillingRemovable as Removable;
    match method {
        "CDRsV1.ProcessExternalCDR" | "CDRsV2.ProcessExternalCDR" => cdrs::process_external_cdr(call, params).await,
        "CoreSv1.Status" => core_status(),
        "CDRsV1.ProcessEvent" => cdrs::process_event(call, params).await,
        "CDRsV2.ProcessEvent" => cdrs::process_event_v2(call, params).await,
        "CDRsV1.GetCDRs" | "APIerSv1.GetCDRs" | "APIerSv2.GetCDRs" => cdrs::get_cdrs(call, params).await,
        "APIerSv1.ExportCDRs" => cdrs::export_cdrs(call, params).await,
        "ConfigSv1.SetConfig" => cdrs::set_config(call, params).await,
        "ConfigSv1.GetConfig" => cdrs::get_config(call, params).await,
        "APIerSv1.SetAccount" | "APIerSv2.SetAccount" => billing::set_account(call, params).await,
        "APIerSv1.GetAccount" | "APIerSv2.GetAccount" => billing::get_account(call, params).await,
        "APIerSv1.GetAccounts" | "APIerSv2.GetAccounts" => billing::get_accounts(call, params).await,
        "APIerSv1.GetActions" | "APIerSv2.GetActions" => billing::get_actions(call, params).await,
        "APIerSv1.GetActionTriggers" => billing::get_action_triggers(call, params).await,
        "APIerSv1.SetBalance" => billing::change_balance(call, params, "SetBalance").await,
        "APIerSv1.AddBalance" => billing::change_balance(call, params, "AddBalance").await,
        "APIerSv1.DebitBalance" => billing::change_balance(call, params, "DebitBalance").await,
        "APIerSv1.RemoveBalances" => billing::change_balance(call, params, "RemoveBalances").await,
        "APIerSv1.RemoveAccount" | "APIerSv2.RemoveAccount" => billing::remove(call, params, Removable::Account).await,
        "APIerSv1.RemoveActions" => billing::remove(call, params, Removable::Actions).await,
        "APIerSv1.RemoveActionPlan" => billing::remove(call, params, Removable::ActionPlan).await,
        "APIerSv1.RemoveActionTrigger" => billing::remove(call, params, Removable::TriggerGroup).await,
        "APIerSv1.SetActions" | "APIerSv2.SetActions" => billing::set_actions(call, params).await,
        "APIerSv1.ExecuteAction" => billing::execute_action(call, params).await,
        "APIerSv1.SetActionTrigger" => billing::set_action_trigger(call, params).await,
        "APIerSv1.AddAccountActionTriggers" => billing::add_account_action_triggers(call, params).await,
        "APIerSv1.SetDestination" => billing::set_destination(call, params).await,
        "APIerSv1.SetTPDestination" | "APIerSv2.SetTPDestination" => billing::set_tp_destination(call, params).await,
        "APIerSv1.LoadTariffPlanFromStorDb" => billing::load_tariff_plan(call, params).await,
        "APIerSv1.SetTPTiming" => billing::set_tp_timing(call, params).await,
        "APIerSv1.SetTiming" => billing::set_timing(call, params).await,
        "APIerSv1.GetTiming" => billing::get_timing(call, params).await,
        "APIerSv1.SetTPSharedGroups" => billing::set_tp_shared_groups(call, params).await,
        "APIerSv1.GetSharedGroup" => billing::get_shared_group(call, params).await,
        "APIerSv1.SetActionPlan" | "APIerSv2.SetActionPlan" => billing::set_action_plan(call, params).await,
        "APIerSv1.GetActionPlan" => billing::get_action_plan(call, params).await,
        "APIerSv1.SetChargerProfile" => billing::set_charger_profile(call, params).await,
        "APIerSv1.GetChargerProfile" => billing::get_charger_profile(call, params).await,
        "APIerSv1.RemoveChargerProfile" => billing::remove_charger_profile(call, params).await,
        "APIerSv1.GetChargerProfileIDs" => billing::get_charger_profile_ids(call, params).await,
        // Every CGrateS service answers Ping, which health checks call.
        other if other.ends_with(".Ping") && KNOWN_SERVICES.contains(&other.trim_end_matches(".Ping")) => ok(&"Pong"),
        other => {
            // Go's net/rpc words it so.
            let service = other.split_once('.').map(|(s, _)| s).unwrap_or(other);
            if KNOWN_SERVICES.contains(&service) {
                Err(RpcError::NoSuchMethod(format!("method {other}")))
            } else {
                Err(RpcError::NoSuchMethod(format!("service {other}")))
            }
        }
    }
}

const KNOWN_SERVICES: &[&str] = &["APIerSv1", "APIerSv2", "CDRsV1", "CDRsV2", "ConfigSv1", "CoreSv1"];

/// When this process started, for `CoreSv1.Status`.
static STARTED: std::sync::LazyLock<chrono::DateTime<chrono::Utc>> = std::sync::LazyLock::new(chrono::Utc::now);

/// `CoreSv1.Status`: the engine's identity and uptime, in CGrateS's keys (the Go runtime's
/// figures have no meaning here and are left out).
fn core_status() -> Result<Reply, RpcError> {
    let started = *STARTED;
    ok(&serde_json::json!({
        "NodeID": "simledger",
        "Version": concat!("simledger@", env!("CARGO_PKG_VERSION")),
        "RunningSince": started.to_rfc3339(),
        "Uptime": format!("{}s", (chrono::Utc::now() - started).num_seconds()),
    }))
}

async fn authorize(state: &AppState, headers: &HeaderMap, exposure: Exposure) -> Result<Call, (StatusCode, RpcError)> {
    if exposure == Exposure::Loopback {
        return Ok(Call { state: state.clone(), operator: true, own_account: None });
    }
    let unauthorized = (StatusCode::UNAUTHORIZED, RpcError::unauthorized());
    let (user, password) = crate::extract::basic_credentials_of(headers).ok_or(unauthorized.clone())?;
    let principal = match state.auth.authenticate(&user, &password, None).await {
        Ok(Some(p)) => p,
        Ok(None) => return Err(unauthorized),
        Err(crate::ApiError::TooManyRequests(_)) => {
            return Err((StatusCode::TOO_MANY_REQUESTS, RpcError::server("too many failed logins")))
        }
        Err(_) => return Err((StatusCode::SERVICE_UNAVAILABLE, RpcError::server("cannot check credentials"))),
    };
    state
        .rate_limit
        .admit(&principal.account_sid)
        .map_err(|_| (StatusCode::TOO_MANY_REQUESTS, RpcError::server("too many requests")))?;
    let operator = principal.role == Role::Operator;
    if exposure == Exposure::Remote && !operator {
        return Err((StatusCode::FORBIDDEN, RpcError::unauthorized()));
    }
    Ok(Call { state: state.clone(), operator, own_account: Some(principal.account_sid) })
}

#[derive(serde::Serialize)]
struct Answer {
    id: Value,
    result: Option<Reply>,
    error: Option<String>,
}

fn reply(status: StatusCode, id: Value, result: Result<Reply, RpcError>) -> Response {
    let body = match result {
        Ok(result) => Answer { id, result: Some(result), error: None },
        Err(e) => Answer { id, result: None, error: Some(e.to_string()) },
    };
    (status, Json(body)).into_response()
}

/// `MANDATORY_IE_MISSING` naming the fields given as absent, in order.
pub fn require(fields: &[(&'static str, bool)]) -> Result<(), RpcError> {
    let missing: Vec<&str> = fields.iter().filter(|(_, present)| !present).map(|(name, _)| *name).collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(RpcError::missing(&missing))
    }
}

/// Decodes a method's params object as Go's decoder does (see [`go_json`]); a wrong type names
/// the field.
pub fn params<T: DeserializeOwned>(raw: &RawValue) -> Result<T, RpcError> {
    serde_path_to_error::deserialize(go_json::GoJson::new(raw.get())).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            RpcError::server(format!("invalid params: {}", e.inner()))
        } else {
            RpcError::server(format!("invalid params: {path}: {}", e.inner()))
        }
    })
}

pub use simledger_eventlog::cgr::Num;
