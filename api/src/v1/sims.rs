//! `/v1/Sims`: register, list, fetch, update; `BillingPeriods` and `IpAddresses` of a SIM.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use simledger_commands::SimChanges;
use simledger_eventlog::catalog::SimStatus;
use simledger_projections::device_commands::read as device_read;
use simledger_projections::registry::read::{self, SimFilter, SimRow};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::paging::NoFilters;
use super::paging::{list_envelope, meta, page_slice, PagingParams};
use super::{fleet_filter, twilio_datetime, twilio_time, Errors, WriteErrors};
use crate::extract::{command_id, Caller, Form, Listing, Origin};
use crate::{ApiError, AppState};
use simledger_projections::billing_periods::{period_sid, periods_until};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_sim, list_sims))
        .routes(routes!(fetch_sim, update_sim))
        .routes(routes!(list_billing_periods))
        .routes(routes!(list_ip_addresses))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SimLinks {
    pub billing_periods: String,
    pub sim_ip_addresses: String,
}

/// A Super SIM.
#[derive(Debug, Serialize, ToSchema)]
pub struct Sim {
    pub sid: String,
    pub unique_name: Option<String>,
    pub account_sid: String,
    pub iccid: String,
    /// `new`, `ready`, `active`, `inactive` or `scheduled`.
    pub status: String,
    pub fleet_sid: Option<String>,
    #[serde(serialize_with = "twilio_time")]
    #[schema(value_type = String, format = DateTime)]
    pub date_created: chrono::DateTime<chrono::Utc>,
    #[serde(serialize_with = "twilio_time")]
    #[schema(value_type = String, format = DateTime)]
    pub date_updated: chrono::DateTime<chrono::Utc>,
    pub url: String,
    pub links: SimLinks,
}

impl Sim {
    fn from_row(origin: &str, r: SimRow) -> Self {
        let url = format!("{origin}/v1/Sims/{}", r.sim_sid);
        Self {
            links: SimLinks {
                billing_periods: format!("{url}/BillingPeriods"),
                sim_ip_addresses: format!("{url}/IpAddresses"),
            },
            url,
            sid: r.sim_sid,
            unique_name: r.unique_name,
            account_sid: r.account_sid,
            iccid: r.iccid,
            status: r.status,
            fleet_sid: r.fleet_sid,
            date_created: r.date_created,
            date_updated: r.date_updated,
        }
    }
}

list_envelope!(SimPage, sims, Sim);

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CreateSimParams {
    /// The ICCID of the Super SIM to register.
    pub iccid: Option<String>,
    /// The 10-digit code printed on the SIM card.
    pub registration_code: Option<String>,
}

/// Registers a SIM from inventory to the caller's account; it starts as `new`.
#[utoipa::path(post, path = "/v1/Sims", tag = "Sims", operation_id = "CreateSim",
    request_body(content = CreateSimParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 201, body = Sim), Errors, WriteErrors),
    security(("accountSid_authToken" = [])))]
async fn create_sim(
    State(state): State<AppState>,
    caller: Caller,
    Origin(origin): Origin,
    headers: HeaderMap,
    Form(p): Form<CreateSimParams>,
) -> Result<(StatusCode, Json<Sim>), ApiError> {
    // Twilio answers a registration without one of its two parameters with 83001.
    let missing = |name| ApiError::Rule {
        code: 83001,
        status: StatusCode::BAD_REQUEST,
        message: format!("Missing required parameter {name} in the post body"),
    };
    let iccid = p.iccid.ok_or_else(|| missing("Iccid"))?;
    let code = p.registration_code.ok_or_else(|| missing("RegistrationCode"))?;
    let cmd = command_id(&headers, caller.account(), "CreateSim");
    let sid = state.commands.register_sim(cmd, caller.account(), &iccid, &code).await?;
    let row = fetch_row(&state, caller.account(), &sid).await?;
    Ok((StatusCode::CREATED, Json(Sim::from_row(&origin, row))))
}

async fn fetch_row(state: &AppState, account: &str, sid: &str) -> Result<SimRow, ApiError> {
    read::sim(state.pool(), account, sid).await?.ok_or_else(|| ApiError::not_found(format_args!("/v1/Sims/{sid}")))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SimFilterParams {
    /// Only SIMs with this status.
    #[param(inline)]
    pub status: Option<SimStatusParam>,
    /// Only SIMs in this Fleet (SID or unique name).
    pub fleet: Option<String>,
    /// Only the SIM with this ICCID.
    pub iccid: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SimStatusParam {
    New,
    Ready,
    Active,
    Inactive,
    Scheduled,
}

impl SimStatusParam {
    fn status(self) -> SimStatus {
        match self {
            Self::New => SimStatus::New,
            Self::Ready => SimStatus::Ready,
            Self::Active => SimStatus::Active,
            Self::Inactive => SimStatus::Inactive,
            Self::Scheduled => SimStatus::Scheduled,
        }
    }
}

/// Lists the account's SIMs.
#[utoipa::path(get, path = "/v1/Sims", tag = "Sims", operation_id = "ListSim",
    params(SimFilterParams, PagingParams),
    responses((status = 200, body = SimPage), Errors),
    security(("accountSid_authToken" = [])))]
async fn list_sims(
    State(state): State<AppState>,
    caller: Caller,
    Origin(origin): Origin,
    list: Listing<SimFilterParams>,
) -> Result<Json<SimPage>, ApiError> {
    let f = &list.filter;
    let fleet_sid = fleet_filter(state.pool(), caller.account(), f.fleet.as_deref()).await?;
    let filter =
        SimFilter { status: f.status.map(|s| s.status().as_str().to_owned()), fleet_sid, iccid: f.iccid.clone() };
    let rows = read::sims(state.pool(), caller.account(), &filter, &list.paging.query()).await?;
    let meta = meta(&origin, "/v1/Sims", &list.echoed, &list.paging, &rows, |r| &r.sim_sid, "sims");
    Ok(Json(SimPage { sims: rows.items.into_iter().map(|r| Sim::from_row(&origin, r)).collect(), meta }))
}

/// Fetches a SIM by SID or unique name.
#[utoipa::path(get, path = "/v1/Sims/{Sid}", tag = "Sims", operation_id = "FetchSim",
    params(("Sid" = String, Path, description = "The SID or unique name of the SIM")),
    responses((status = 200, body = Sim), Errors),
    security(("accountSid_authToken" = [])))]
async fn fetch_sim(
    State(state): State<AppState>,
    caller: Caller,
    Origin(origin): Origin,
    Path(sid): Path<String>,
) -> Result<Json<Sim>, ApiError> {
    Ok(Json(Sim::from_row(&origin, fetch_row(&state, caller.account(), &sid).await?)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct UpdateSimParams {
    /// A unique name for the SIM within the account.
    pub unique_name: Option<String>,
    /// `ready`, `active` or `inactive`.
    pub status: Option<UpdateStatus>,
    /// The Fleet (SID or unique name) the SIM belongs to.
    pub fleet: Option<String>,
    /// Called when an asynchronous update completes. Updates here complete synchronously.
    pub callback_url: Option<String>,
    /// `GET` or `POST` (default).
    pub callback_method: Option<HttpMethod>,
    /// Moves the SIM to another account; only the caller's own account is accepted.
    pub account_sid: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum UpdateStatus {
    Ready,
    Active,
    Inactive,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
pub enum HttpMethod {
    #[serde(rename = "GET")]
    Get,
    #[serde(rename = "POST")]
    Post,
}

impl HttpMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
        }
    }
}

/// Updates a SIM: unique name, Fleet, status (Twilio's transitions).
#[utoipa::path(post, path = "/v1/Sims/{Sid}", tag = "Sims", operation_id = "UpdateSim",
    params(("Sid" = String, Path, description = "The SID or unique name of the SIM")),
    request_body(content = UpdateSimParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = Sim), Errors, WriteErrors),
    security(("accountSid_authToken" = [])))]
async fn update_sim(
    State(state): State<AppState>,
    caller: Caller,
    Origin(origin): Origin,
    Path(sid): Path<String>,
    headers: HeaderMap,
    Form(p): Form<UpdateSimParams>,
) -> Result<Json<Sim>, ApiError> {
    if let Some(target) = &p.account_sid {
        if target != caller.account() {
            return Err(ApiError::invalid(format!("AccountSid {target} is not a subaccount of this account")));
        }
    }
    let changes = SimChanges {
        unique_name: p.unique_name.map(Some),
        status: p.status.map(|s| match s {
            UpdateStatus::Ready => SimStatus::Ready,
            UpdateStatus::Active => SimStatus::Active,
            UpdateStatus::Inactive => SimStatus::Inactive,
        }),
        fleet: p.fleet,
        callback_url: p.callback_url.map(Some),
        callback_method: p.callback_method.map(|m| Some(m.as_str().to_owned())),
        disallowed_imsis: None,
    };
    let cmd = command_id(&headers, caller.account(), &format!("UpdateSim:{sid}"));
    let sid = match state.commands.update_sim(cmd, caller.account(), &sid, changes).await {
        Err(simledger_commands::CommandError::NotFound { .. }) => {
            return Err(ApiError::not_found(format_args!("/v1/Sims/{sid}")))
        }
        other => other?,
    };
    Ok(Json(Sim::from_row(&origin, fetch_row(&state, caller.account(), &sid).await?)))
}

/// A SIM's billing period.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BillingPeriod {
    pub sid: String,
    pub account_sid: String,
    pub sim_sid: String,
    #[schema(value_type = String, format = DateTime)]
    pub start_time: String,
    #[schema(value_type = String, format = DateTime)]
    pub end_time: String,
    /// `ready` or `active`.
    pub period_type: String,
    #[schema(value_type = String, format = DateTime)]
    pub date_created: String,
    #[schema(value_type = String, format = DateTime)]
    pub date_updated: String,
    /// Paging key (the start, sortable); not part of Twilio's resource.
    #[serde(skip)]
    key: String,
}

list_envelope!(BillingPeriodPage, billing_periods, BillingPeriod);

/// Lists a SIM's billing periods.
#[utoipa::path(get, path = "/v1/Sims/{SimSid}/BillingPeriods", tag = "Sims", operation_id = "ListBillingPeriod",
    params(("SimSid" = String, Path, description = "The SID or unique name of the SIM"), PagingParams),
    responses((status = 200, body = BillingPeriodPage), Errors),
    security(("accountSid_authToken" = [])))]
async fn list_billing_periods(
    State(state): State<AppState>,
    caller: Caller,
    Origin(origin): Origin,
    Path(sim): Path<String>,
    list: Listing<NoFilters>,
) -> Result<Json<BillingPeriodPage>, ApiError> {
    let sim = fetch_row(&state, caller.account(), &sim).await?;
    let anchors = simledger_projections::limits::read::anchors(state.pool(), caller.account(), &sim.sim_sid).await?;
    let periods: Vec<BillingPeriod> = periods_until(anchors, chrono::Utc::now())
        .into_iter()
        .map(|p| {
            let t = twilio_datetime;
            BillingPeriod {
                sid: period_sid(&sim.sim_sid, p.start),
                account_sid: sim.account_sid.clone(),
                sim_sid: sim.sim_sid.clone(),
                start_time: t(p.start),
                end_time: t(p.end),
                period_type: p.kind.to_owned(),
                date_created: t(p.start),
                date_updated: t(p.start),
                key: format!("{:020}", p.start.timestamp_millis()),
            }
        })
        .collect();
    let rows = page_slice(&periods, |b| &b.key, &list.paging.query());
    let path = format!("/v1/Sims/{}/BillingPeriods", sim.sim_sid);
    let meta = meta(&origin, &path, &list.echoed, &list.paging, &rows, |b| &b.key, "billing_periods");
    Ok(Json(BillingPeriodPage { billing_periods: rows.items, meta }))
}

/// An IP address a SIM's data sessions were given.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SimIpAddress {
    pub ip_address: String,
    /// `IPv4` or `IPv6`.
    pub ip_address_version: String,
}

list_envelope!(SimIpAddressPage, ip_addresses, SimIpAddress);

/// Lists the IP addresses of a SIM's data sessions.
#[utoipa::path(get, path = "/v1/Sims/{SimSid}/IpAddresses", tag = "Sims", operation_id = "ListSimIpAddress",
    params(("SimSid" = String, Path, description = "The SID or unique name of the SIM"), PagingParams),
    responses((status = 200, body = SimIpAddressPage), Errors),
    security(("accountSid_authToken" = [])))]
async fn list_ip_addresses(
    State(state): State<AppState>,
    caller: Caller,
    Origin(origin): Origin,
    Path(sim): Path<String>,
    list: Listing<NoFilters>,
) -> Result<Json<SimIpAddressPage>, ApiError> {
    let sim = fetch_row(&state, caller.account(), &sim).await?;
    let rows = device_read::sim_ip_addresses(state.pool(), &sim.sim_sid, &list.paging.query()).await?;
    let path = format!("/v1/Sims/{}/IpAddresses", sim.sim_sid);
    let meta = meta(&origin, &path, &list.echoed, &list.paging, &rows, |r| &r.ip_address, "ip_addresses");
    let items = rows
        .items
        .into_iter()
        .map(|r| SimIpAddress {
            ip_address_version: if r.ip_address.contains(':') { "IPv6" } else { "IPv4" }.into(),
            ip_address: r.ip_address,
        })
        .collect();
    Ok(Json(SimIpAddressPage { ip_addresses: items, meta }))
}
