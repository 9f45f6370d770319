//! `/v1/ESimProfiles`: eSIM profiles reserved at simledger's SM-DP+. Reservation is immediate,
//! so a new profile is `available` at once; a device's LPA then downloads it from the SM-DP+
//! node (`downloaded`) and installs it (`installed`, and the profile's `sim_sid` is a SIM of the
//! account) or reports why not (`failed`, SGP.22's reason in `error_code`/`error_message`).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use simledger_commands::Callback;
use simledger_projections::device_commands::read::{self, EsimFilter, EsimProfileRow};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::paging::{list_envelope, meta, PagingParams};
use super::sims::HttpMethod;
use super::{twilio_time, Errors, WriteErrors};
use crate::extract::{command_id, Caller, Form, Listing, Origin};
use crate::{ApiError, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_esim_profile, list_esim_profiles)).routes(routes!(fetch_esim_profile))
}

/// An eSIM profile.
#[derive(Debug, Serialize, ToSchema)]
pub struct EsimProfile {
    pub sid: String,
    pub account_sid: String,
    pub iccid: String,
    pub sim_sid: Option<String>,
    /// `new`, `reserving`, `available`, `downloaded`, `installed` or `failed`.
    pub status: String,
    pub eid: Option<String>,
    /// The SM-DP+ server's URI, as Twilio's schema has it (`https://…`); the activation code
    /// carries its host alone, as GSMA SGP.22 writes it.
    pub smdp_plus_address: String,
    pub matching_id: Option<String>,
    pub activation_code: String,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    #[serde(serialize_with = "twilio_time")]
    #[schema(value_type = String, format = DateTime)]
    pub date_created: chrono::DateTime<chrono::Utc>,
    #[serde(serialize_with = "twilio_time")]
    #[schema(value_type = String, format = DateTime)]
    pub date_updated: chrono::DateTime<chrono::Utc>,
    pub url: String,
}

impl EsimProfile {
    fn from_row(origin: &str, r: EsimProfileRow) -> Self {
        Self {
            url: format!("{origin}/v1/ESimProfiles/{}", r.esim_profile_sid),
            sid: r.esim_profile_sid,
            account_sid: r.account_sid,
            iccid: r.iccid,
            sim_sid: r.sim_sid,
            status: r.status,
            eid: r.eid,
            smdp_plus_address: smdp_uri(&r.smdp_plus_address),
            matching_id: r.matching_id,
            activation_code: r.activation_code,
            error_code: r.error_code,
            error_message: r.error_message,
            date_created: r.date_created,
            date_updated: r.date_updated,
        }
    }
}

/// The SM-DP+ address as a URI: profiles record the server's host, as activation codes carry it.
fn smdp_uri(address: &str) -> String {
    if address.contains("://") {
        address.to_owned()
    } else {
        format!("https://{address}")
    }
}

list_envelope!(EsimProfilePage, esim_profiles, EsimProfile);

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CreateEsimProfileParams {
    pub callback_url: Option<String>,
    pub callback_method: Option<HttpMethod>,
    /// Also generate a matching ID when an `Eid` is given (always generated without one).
    pub generate_matching_id: Option<bool>,
    /// The 32-digit EID of the eUICC the profile is for.
    pub eid: Option<String>,
}

/// Reserves an eSIM profile.
#[utoipa::path(post, path = "/v1/ESimProfiles", tag = "ESimProfiles", operation_id = "CreateEsimProfile",
    request_body(content = CreateEsimProfileParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 201, body = EsimProfile), Errors, WriteErrors),
    security(("accountSid_authToken" = [])))]
async fn create_esim_profile(
    State(state): State<AppState>,
    caller: Caller,
    Origin(origin): Origin,
    headers: HeaderMap,
    Form(p): Form<CreateEsimProfileParams>,
) -> Result<(StatusCode, Json<EsimProfile>), ApiError> {
    let callback = Callback { url: p.callback_url, method: p.callback_method.map(|m| m.as_str().to_owned()) };
    let cmd = command_id(&headers, caller.account(), "CreateEsimProfile");
    let sid = state
        .commands
        .create_esim_profile(cmd, caller.account(), p.eid, p.generate_matching_id.unwrap_or(false), callback)
        .await?;
    let row = fetch_row(&state, caller.account(), &sid).await?;
    Ok((StatusCode::CREATED, Json(EsimProfile::from_row(&origin, row))))
}

async fn fetch_row(state: &AppState, account: &str, sid: &str) -> Result<EsimProfileRow, ApiError> {
    read::esim_profile(state.pool(), account, sid)
        .await?
        .ok_or_else(|| ApiError::not_found(format_args!("/v1/ESimProfiles/{sid}")))
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EsimStatus {
    New,
    Reserving,
    Available,
    Downloaded,
    Installed,
    Failed,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EsimFilterParams {
    pub eid: Option<String>,
    pub sim_sid: Option<String>,
    #[param(inline)]
    pub status: Option<EsimStatus>,
}

/// Lists eSIM profiles.
#[utoipa::path(get, path = "/v1/ESimProfiles", tag = "ESimProfiles", operation_id = "ListEsimProfile",
    params(EsimFilterParams, PagingParams),
    responses((status = 200, body = EsimProfilePage), Errors),
    security(("accountSid_authToken" = [])))]
async fn list_esim_profiles(
    State(state): State<AppState>,
    caller: Caller,
    Origin(origin): Origin,
    list: Listing<EsimFilterParams>,
) -> Result<Json<EsimProfilePage>, ApiError> {
    let f = &list.filter;
    let filter = EsimFilter {
        eid: f.eid.clone(),
        sim_sid: f.sim_sid.clone(),
        status: f.status.map(|s| format!("{s:?}").to_lowercase()),
    };
    let rows = read::esim_profiles(state.pool(), caller.account(), &filter, &list.paging.query()).await?;
    let meta =
        meta(&origin, "/v1/ESimProfiles", &list.echoed, &list.paging, &rows, |r| &r.esim_profile_sid, "esim_profiles");
    let items = rows.items.into_iter().map(|r| EsimProfile::from_row(&origin, r)).collect();
    Ok(Json(EsimProfilePage { esim_profiles: items, meta }))
}

/// Fetches an eSIM profile.
#[utoipa::path(get, path = "/v1/ESimProfiles/{Sid}", tag = "ESimProfiles", operation_id = "FetchEsimProfile",
    params(("Sid" = String, Path, description = "The HP SID of the eSIM profile")),
    responses((status = 200, body = EsimProfile), Errors),
    security(("accountSid_authToken" = [])))]
async fn fetch_esim_profile(
    State(state): State<AppState>,
    caller: Caller,
    Origin(origin): Origin,
    Path(sid): Path<String>,
) -> Result<Json<EsimProfile>, ApiError> {
    Ok(Json(EsimProfile::from_row(&origin, fetch_row(&state, caller.account(), &sid).await?)))
}
