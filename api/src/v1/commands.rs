//! `/v1/SmsCommands` and `/v1/IpCommands`: messages to (and from) devices.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use simledger_commands::{Callback, NewIpCommand};
use simledger_projections::device_commands::read::{self, CommandFilter, IpCommandRow, SmsCommandRow};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::paging::{list_envelope, meta, PagingParams};
use super::sims::HttpMethod;
use super::{sim_filter, twilio_time, Errors, WriteErrors};
use crate::extract::{command_id, Caller, Form, Listing, Origin};
use crate::{ApiError, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_sms_command, list_sms_commands))
        .routes(routes!(fetch_sms_command))
        .routes(routes!(create_ip_command, list_ip_commands))
        .routes(routes!(fetch_ip_command))
}

/// An SMS to or from a SIM.
#[derive(Debug, Serialize, ToSchema)]
pub struct SmsCommand {
    pub sid: String,
    pub account_sid: String,
    pub sim_sid: String,
    pub payload: String,
    /// `queued`, `sent`, `delivered`, `received` or `failed`.
    pub status: String,
    /// `to_sim` or `from_sim`.
    pub direction: String,
    #[serde(serialize_with = "twilio_time")]
    #[schema(value_type = String, format = DateTime)]
    pub date_created: chrono::DateTime<chrono::Utc>,
    #[serde(serialize_with = "twilio_time")]
    #[schema(value_type = String, format = DateTime)]
    pub date_updated: chrono::DateTime<chrono::Utc>,
    pub url: String,
}

impl SmsCommand {
    fn from_row(origin: &str, r: SmsCommandRow) -> Self {
        Self {
            url: format!("{origin}/v1/SmsCommands/{}", r.sms_command_sid),
            sid: r.sms_command_sid,
            account_sid: r.account_sid,
            sim_sid: r.sim_sid,
            payload: r.payload,
            status: r.status,
            direction: r.direction,
            date_created: r.date_created,
            date_updated: r.date_updated,
        }
    }
}

list_envelope!(SmsCommandPage, sms_commands, SmsCommand);

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CreateSmsCommandParams {
    /// The SIM (SID or unique name) to send to.
    pub sim: Option<String>,
    /// Up to 160 characters of text.
    pub payload: Option<String>,
    pub callback_url: Option<String>,
    pub callback_method: Option<HttpMethod>,
}

/// Sends an SMS to a SIM; it is `queued` until the SMSC takes it.
#[utoipa::path(post, path = "/v1/SmsCommands", tag = "SmsCommands", operation_id = "CreateSmsCommand",
    request_body(content = CreateSmsCommandParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 201, body = SmsCommand), Errors, WriteErrors),
    security(("accountSid_authToken" = [])))]
async fn create_sms_command(
    State(state): State<AppState>,
    caller: Caller,
    Origin(origin): Origin,
    headers: HeaderMap,
    Form(p): Form<CreateSmsCommandParams>,
) -> Result<(StatusCode, Json<SmsCommand>), ApiError> {
    let sim = p.sim.ok_or_else(|| ApiError::missing("Sim", true))?;
    let payload = p.payload.ok_or_else(|| ApiError::missing("Payload", true))?;
    let callback = Callback { url: p.callback_url, method: p.callback_method.map(|m| m.as_str().to_owned()) };
    let cmd = command_id(&headers, caller.account(), "CreateSmsCommand");
    let sid = state
        .commands
        .create_sms_command(cmd, caller.account(), &sim, &payload, callback)
        .await
        .map_err(sim_param_not_found)?;
    let row = fetch_sms(&state, caller.account(), &sid).await?;
    Ok((StatusCode::CREATED, Json(SmsCommand::from_row(&origin, row))))
}

/// A `Sim` parameter naming no SIM of the account is a bad parameter, not a missing URL.
fn sim_param_not_found(e: simledger_commands::CommandError) -> ApiError {
    match e {
        simledger_commands::CommandError::NotFound { id, .. } => ApiError::invalid(format!("Sim {id} was not found")),
        other => other.into(),
    }
}

async fn fetch_sms(state: &AppState, account: &str, sid: &str) -> Result<SmsCommandRow, ApiError> {
    read::sms_command(state.pool(), account, sid)
        .await?
        .ok_or_else(|| ApiError::not_found(format_args!("/v1/SmsCommands/{sid}")))
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    ToSim,
    FromSim,
}

impl Direction {
    fn as_str(self) -> &'static str {
        match self {
            Self::ToSim => "to_sim",
            Self::FromSim => "from_sim",
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SmsStatus {
    Queued,
    Sent,
    Delivered,
    Received,
    Failed,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SmsFilterParams {
    /// Only commands of this SIM (SID or unique name).
    pub sim: Option<String>,
    #[param(inline)]
    pub status: Option<SmsStatus>,
    #[param(inline)]
    pub direction: Option<Direction>,
}

fn lowercase<T: std::fmt::Debug>(v: &T) -> String {
    format!("{v:?}").to_lowercase()
}

/// Lists SMS Commands.
#[utoipa::path(get, path = "/v1/SmsCommands", tag = "SmsCommands", operation_id = "ListSmsCommand",
    params(SmsFilterParams, PagingParams),
    responses((status = 200, body = SmsCommandPage), Errors),
    security(("accountSid_authToken" = [])))]
async fn list_sms_commands(
    State(state): State<AppState>,
    caller: Caller,
    Origin(origin): Origin,
    list: Listing<SmsFilterParams>,
) -> Result<Json<SmsCommandPage>, ApiError> {
    let f = &list.filter;
    let filter = CommandFilter {
        sim_sid: sim_filter(state.pool(), caller.account(), f.sim.as_deref()).await?,
        sim_iccid: None,
        status: f.status.as_ref().map(lowercase),
        direction: f.direction.map(|d| d.as_str().to_owned()),
    };
    let rows = read::sms_commands(state.pool(), caller.account(), &filter, &list.paging.query()).await?;
    let meta =
        meta(&origin, "/v1/SmsCommands", &list.echoed, &list.paging, &rows, |r| &r.sms_command_sid, "sms_commands");
    let items = rows.items.into_iter().map(|r| SmsCommand::from_row(&origin, r)).collect();
    Ok(Json(SmsCommandPage { sms_commands: items, meta }))
}

/// Fetches an SMS Command.
#[utoipa::path(get, path = "/v1/SmsCommands/{Sid}", tag = "SmsCommands", operation_id = "FetchSmsCommand",
    params(("Sid" = String, Path, description = "The HC SID of the SMS Command")),
    responses((status = 200, body = SmsCommand), Errors),
    security(("accountSid_authToken" = [])))]
async fn fetch_sms_command(
    State(state): State<AppState>,
    caller: Caller,
    Origin(origin): Origin,
    Path(sid): Path<String>,
) -> Result<Json<SmsCommand>, ApiError> {
    Ok(Json(SmsCommand::from_row(&origin, fetch_sms(&state, caller.account(), &sid).await?)))
}

/// A UDP datagram to or from a SIM's device.
#[derive(Debug, Serialize, ToSchema)]
pub struct IpCommand {
    pub sid: String,
    pub account_sid: String,
    pub sim_sid: String,
    pub sim_iccid: String,
    /// `queued`, `sent`, `received` or `failed`.
    pub status: String,
    pub direction: String,
    pub device_ip: Option<String>,
    pub device_port: i32,
    /// `text` or `binary` (base64).
    pub payload_type: String,
    pub payload: String,
    #[serde(serialize_with = "twilio_time")]
    #[schema(value_type = String, format = DateTime)]
    pub date_created: chrono::DateTime<chrono::Utc>,
    #[serde(serialize_with = "twilio_time")]
    #[schema(value_type = String, format = DateTime)]
    pub date_updated: chrono::DateTime<chrono::Utc>,
    pub url: String,
}

impl IpCommand {
    fn from_row(origin: &str, r: IpCommandRow) -> Self {
        Self {
            url: format!("{origin}/v1/IpCommands/{}", r.ip_command_sid),
            sid: r.ip_command_sid,
            account_sid: r.account_sid,
            sim_sid: r.sim_sid,
            sim_iccid: r.sim_iccid,
            status: r.status,
            direction: r.direction,
            device_ip: r.device_ip,
            device_port: r.device_port,
            payload_type: r.payload_type,
            payload: r.payload,
            date_created: r.date_created,
            date_updated: r.date_updated,
        }
    }
}

list_envelope!(IpCommandPage, ip_commands, IpCommand);

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PayloadType {
    Text,
    Binary,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CreateIpCommandParams {
    pub sim: Option<String>,
    /// Up to 1,300 bytes; base64 when `PayloadType` is `binary`.
    pub payload: Option<String>,
    #[schema(minimum = 1, maximum = 65535)]
    pub device_port: Option<i32>,
    pub payload_type: Option<PayloadType>,
    pub callback_url: Option<String>,
    pub callback_method: Option<HttpMethod>,
}

/// Queues a UDP datagram to a SIM's device.
#[utoipa::path(post, path = "/v1/IpCommands", tag = "IpCommands", operation_id = "CreateIpCommand",
    request_body(content = CreateIpCommandParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 201, body = IpCommand), Errors, WriteErrors),
    security(("accountSid_authToken" = [])))]
async fn create_ip_command(
    State(state): State<AppState>,
    caller: Caller,
    Origin(origin): Origin,
    headers: HeaderMap,
    Form(p): Form<CreateIpCommandParams>,
) -> Result<(StatusCode, Json<IpCommand>), ApiError> {
    let new = NewIpCommand {
        sim: p.sim.ok_or_else(|| ApiError::missing("Sim", true))?,
        payload: p.payload.ok_or_else(|| ApiError::missing("Payload", true))?,
        device_port: p.device_port.ok_or_else(|| ApiError::missing("DevicePort", true))?,
        payload_type: p.payload_type.as_ref().map(lowercase),
        callback: Callback { url: p.callback_url, method: p.callback_method.map(|m| m.as_str().to_owned()) },
    };
    let cmd = command_id(&headers, caller.account(), "CreateIpCommand");
    let sid = state.commands.create_ip_command(cmd, caller.account(), new).await.map_err(sim_param_not_found)?;
    let row = fetch_ip(&state, caller.account(), &sid).await?;
    Ok((StatusCode::CREATED, Json(IpCommand::from_row(&origin, row))))
}

async fn fetch_ip(state: &AppState, account: &str, sid: &str) -> Result<IpCommandRow, ApiError> {
    read::ip_command(state.pool(), account, sid)
        .await?
        .ok_or_else(|| ApiError::not_found(format_args!("/v1/IpCommands/{sid}")))
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum IpStatus {
    Queued,
    Sent,
    Received,
    Failed,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct IpFilterParams {
    pub sim: Option<String>,
    pub sim_iccid: Option<String>,
    #[param(inline)]
    pub status: Option<IpStatus>,
    #[param(inline)]
    pub direction: Option<Direction>,
}

/// Lists IP Commands.
#[utoipa::path(get, path = "/v1/IpCommands", tag = "IpCommands", operation_id = "ListIpCommand",
    params(IpFilterParams, PagingParams),
    responses((status = 200, body = IpCommandPage), Errors),
    security(("accountSid_authToken" = [])))]
async fn list_ip_commands(
    State(state): State<AppState>,
    caller: Caller,
    Origin(origin): Origin,
    list: Listing<IpFilterParams>,
) -> Result<Json<IpCommandPage>, ApiError> {
    let f = &list.filter;
    let filter = CommandFilter {
        sim_sid: sim_filter(state.pool(), caller.account(), f.sim.as_deref()).await?,
        sim_iccid: f.sim_iccid.clone(),
        status: f.status.as_ref().map(lowercase),
        direction: f.direction.map(|d| d.as_str().to_owned()),
    };
    let rows = read::ip_commands(state.pool(), caller.account(), &filter, &list.paging.query()).await?;
    let meta = meta(&origin, "/v1/IpCommands", &list.echoed, &list.paging, &rows, |r| &r.ip_command_sid, "ip_commands");
    let items = rows.items.into_iter().map(|r| IpCommand::from_row(&origin, r)).collect();
    Ok(Json(IpCommandPage { ip_commands: items, meta }))
}

/// Fetches an IP Command.
#[utoipa::path(get, path = "/v1/IpCommands/{Sid}", tag = "IpCommands", operation_id = "FetchIpCommand",
    params(("Sid" = String, Path, description = "The HG SID of the IP Command")),
    responses((status = 200, body = IpCommand), Errors),
    security(("accountSid_authToken" = [])))]
async fn fetch_ip_command(
    State(state): State<AppState>,
    caller: Caller,
    Origin(origin): Origin,
    Path(sid): Path<String>,
) -> Result<Json<IpCommand>, ApiError> {
    Ok(Json(IpCommand::from_row(&origin, fetch_ip(&state, caller.account(), &sid).await?)))
}
