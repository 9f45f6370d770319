//! `/v1/Fleets`: create, list, fetch, update.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use simledger_commands::{FleetChanges, NewFleet, DEFAULT_DATA_LIMIT_MB};
use simledger_projections::registry::read::{self, FleetRow};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::paging::{list_envelope, meta, PagingParams};
use super::sims::HttpMethod;
use super::{nap_filter, twilio_time, Errors, WriteErrors};
use crate::extract::{command_id, Caller, Form, Listing, Origin};
use crate::{ApiError, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_fleet, list_fleets)).routes(routes!(fetch_fleet, update_fleet))
}

/// A Fleet: SIMs sharing a Network Access Profile, a data limit and command settings.
#[derive(Debug, Serialize, ToSchema)]
pub struct Fleet {
    pub account_sid: String,
    pub sid: String,
    pub unique_name: Option<String>,
    #[serde(serialize_with = "twilio_time")]
    #[schema(value_type = String, format = DateTime)]
    pub date_created: chrono::DateTime<chrono::Utc>,
    #[serde(serialize_with = "twilio_time")]
    #[schema(value_type = String, format = DateTime)]
    pub date_updated: chrono::DateTime<chrono::Utc>,
    pub url: String,
    pub data_enabled: bool,
    /// Megabytes each SIM may use per billing period.
    pub data_limit: i64,
    /// `payg`.
    pub data_metering: String,
    pub sms_commands_enabled: bool,
    pub sms_commands_url: Option<String>,
    pub sms_commands_method: Option<String>,
    pub network_access_profile_sid: String,
    pub ip_commands_url: Option<String>,
    pub ip_commands_method: Option<String>,
}

impl Fleet {
    fn from_row(origin: &str, r: FleetRow) -> Self {
        Self {
            url: format!("{origin}/v1/Fleets/{}", r.fleet_sid),
            account_sid: r.account_sid,
            sid: r.fleet_sid,
            unique_name: r.unique_name,
            date_created: r.date_created,
            date_updated: r.date_updated,
            data_enabled: r.data_enabled,
            data_limit: r.data_limit_mb,
            data_metering: r.data_metering,
            sms_commands_enabled: r.sms_commands_enabled,
            // Twilio answers the method it will use, POST unless told otherwise.
            sms_commands_method: Some(r.sms_commands_method.unwrap_or_else(|| "POST".into())),
            sms_commands_url: r.sms_commands_url,
            network_access_profile_sid: r.network_access_profile_sid,
            ip_commands_method: Some(r.ip_commands_method.unwrap_or_else(|| "POST".into())),
            ip_commands_url: r.ip_commands_url,
        }
    }
}

list_envelope!(FleetPage, fleets, Fleet);

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CreateFleetParams {
    /// The Network Access Profile (SID or unique name) the Fleet's SIMs may attach with.
    pub network_access_profile: Option<String>,
    pub unique_name: Option<String>,
    /// Whether SIMs may use data. Default true.
    pub data_enabled: Option<bool>,
    /// Megabytes per SIM per billing period, 1 to 2,000,000. Default 250.
    #[schema(minimum = 1, maximum = 2000000)]
    pub data_limit: Option<i64>,
    pub ip_commands_url: Option<String>,
    pub ip_commands_method: Option<HttpMethod>,
    /// Whether SIMs may send and receive SMS Commands. Default true.
    pub sms_commands_enabled: Option<bool>,
    pub sms_commands_url: Option<String>,
    pub sms_commands_method: Option<HttpMethod>,
}

/// Creates a Fleet.
#[utoipa::path(post, path = "/v1/Fleets", tag = "Fleets", operation_id = "CreateFleet",
    request_body(content = CreateFleetParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 201, body = Fleet), Errors, WriteErrors),
    security(("accountSid_authToken" = [])))]
async fn create_fleet(
    State(state): State<AppState>,
    caller: Caller,
    Origin(origin): Origin,
    headers: HeaderMap,
    Form(p): Form<CreateFleetParams>,
) -> Result<(StatusCode, Json<Fleet>), ApiError> {
    let nap = p.network_access_profile.ok_or_else(|| ApiError::missing("NetworkAccessProfile", true))?;
    let fleet = NewFleet {
        network_access_profile: nap,
        unique_name: p.unique_name,
        data_enabled: p.data_enabled.unwrap_or(true),
        data_limit_mb: p.data_limit.unwrap_or(DEFAULT_DATA_LIMIT_MB),
        sms_commands_enabled: p.sms_commands_enabled.unwrap_or(true),
        sms_commands_url: p.sms_commands_url,
        sms_commands_method: p.sms_commands_method.map(|m| m.as_str().to_owned()),
        ip_commands_url: p.ip_commands_url,
        ip_commands_method: p.ip_commands_method.map(|m| m.as_str().to_owned()),
    };
    let cmd = command_id(&headers, caller.account(), "CreateFleet");
    let sid = state.commands.create_fleet(cmd, caller.account(), fleet).await.map_err(nap_param_not_found)?;
    Ok((StatusCode::CREATED, Json(Fleet::from_row(&origin, fetch_row(&state, caller.account(), &sid).await?))))
}

/// A `NetworkAccessProfile` parameter naming none of the account's is a bad parameter.
fn nap_param_not_found(e: simledger_commands::CommandError) -> ApiError {
    match e {
        simledger_commands::CommandError::NotFound { id, .. } => {
            ApiError::invalid(format!("NetworkAccessProfile {id} was not found"))
        }
        other => other.into(),
    }
}

async fn fetch_row(state: &AppState, account: &str, sid: &str) -> Result<FleetRow, ApiError> {
    read::fleet(state.pool(), account, sid).await?.ok_or_else(|| ApiError::not_found(format_args!("/v1/Fleets/{sid}")))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FleetFilterParams {
    /// Only Fleets using this Network Access Profile (SID or unique name).
    pub network_access_profile: Option<String>,
}

/// Lists the account's Fleets.
#[utoipa::path(get, path = "/v1/Fleets", tag = "Fleets", operation_id = "ListFleet",
    params(FleetFilterParams, PagingParams),
    responses((status = 200, body = FleetPage), Errors),
    security(("accountSid_authToken" = [])))]
async fn list_fleets(
    State(state): State<AppState>,
    caller: Caller,
    Origin(origin): Origin,
    list: Listing<FleetFilterParams>,
) -> Result<Json<FleetPage>, ApiError> {
    let nap_sid = nap_filter(state.pool(), caller.account(), list.filter.network_access_profile.as_deref()).await?;
    let rows = read::fleets(state.pool(), caller.account(), nap_sid.as_deref(), &list.paging.query()).await?;
    let meta = meta(&origin, "/v1/Fleets", &list.echoed, &list.paging, &rows, |r| &r.fleet_sid, "fleets");
    Ok(Json(FleetPage { fleets: rows.items.into_iter().map(|r| Fleet::from_row(&origin, r)).collect(), meta }))
}

/// Fetches a Fleet by SID or unique name.
#[utoipa::path(get, path = "/v1/Fleets/{Sid}", tag = "Fleets", operation_id = "FetchFleet",
    params(("Sid" = String, Path, description = "The SID or unique name of the Fleet")),
    responses((status = 200, body = Fleet), Errors),
    security(("accountSid_authToken" = [])))]
async fn fetch_fleet(
    State(state): State<AppState>,
    caller: Caller,
    Origin(origin): Origin,
    Path(sid): Path<String>,
) -> Result<Json<Fleet>, ApiError> {
    Ok(Json(Fleet::from_row(&origin, fetch_row(&state, caller.account(), &sid).await?)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct UpdateFleetParams {
    pub unique_name: Option<String>,
    pub network_access_profile: Option<String>,
    pub ip_commands_url: Option<String>,
    pub ip_commands_method: Option<HttpMethod>,
    pub sms_commands_url: Option<String>,
    pub sms_commands_method: Option<HttpMethod>,
    /// Megabytes per SIM per billing period, 1 to 2,000,000.
    #[schema(minimum = 1, maximum = 2000000)]
    pub data_limit: Option<i64>,
    /// Not in Twilio's update: lets data be switched back on without a new Fleet.
    pub data_enabled: Option<bool>,
    /// Not in Twilio's update: lets SMS Commands be switched on or off.
    pub sms_commands_enabled: Option<bool>,
}

/// Updates a Fleet.
#[utoipa::path(post, path = "/v1/Fleets/{Sid}", tag = "Fleets", operation_id = "UpdateFleet",
    params(("Sid" = String, Path, description = "The SID or unique name of the Fleet")),
    request_body(content = UpdateFleetParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = Fleet), Errors, WriteErrors),
    security(("accountSid_authToken" = [])))]
async fn update_fleet(
    State(state): State<AppState>,
    caller: Caller,
    Origin(origin): Origin,
    Path(sid): Path<String>,
    headers: HeaderMap,
    Form(p): Form<UpdateFleetParams>,
) -> Result<Json<Fleet>, ApiError> {
    let current = fetch_row(&state, caller.account(), &sid).await?;
    let changes = FleetChanges {
        unique_name: p.unique_name.map(Some),
        network_access_profile: p.network_access_profile,
        data_enabled: p.data_enabled,
        data_limit_mb: p.data_limit,
        sms_commands_enabled: p.sms_commands_enabled,
        sms_commands_url: p.sms_commands_url.map(Some),
        sms_commands_method: p.sms_commands_method.map(|m| Some(m.as_str().to_owned())),
        ip_commands_url: p.ip_commands_url.map(Some),
        ip_commands_method: p.ip_commands_method.map(|m| Some(m.as_str().to_owned())),
    };
    let cmd = command_id(&headers, caller.account(), &format!("UpdateFleet:{}", current.fleet_sid));
    let sid = state
        .commands
        .update_fleet(cmd, caller.account(), &current.fleet_sid, changes)
        .await
        .map_err(nap_param_not_found)?;
    Ok(Json(Fleet::from_row(&origin, fetch_row(&state, caller.account(), &sid).await?)))
}
