//! `/v1/Sims/{SimSid}/Imsis`: per-IMSI control of a multi-IMSI SIM. This goes beyond Twilio's
//! API (Twilio manages a Super SIM's IMSIs itself): list a SIM's IMSIs, disallow or allow one,
//! and keep one to networks of its own within the fleet's Network Access Profile. The shapes
//! follow Twilio's conventions (paged lists, `url`, a Networks subresource shaped as a Network
//! Access Profile's). The operator has the same under `/operator/Sims/…` for any SIM,
//! inventory included. The HSS applies each change at the IMSI's next attach.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use simledger_commands::{Actor, ImsiChange, ImsiState};
use simledger_projections::read::Rows;
use simledger_projections::registry::read::{self, ImsiRow};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::networks::Identifier;
use super::paging::{list_envelope, meta, NoFilters, PagingParams};
use super::{Errors, WriteErrors};
use crate::extract::{command_id, Caller, Form, Listing, Operator, Origin};
use crate::{ApiError, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_imsis))
        .routes(routes!(fetch_imsi, update_imsi))
        .routes(routes!(add_imsi_network, list_imsi_networks))
        .routes(routes!(fetch_imsi_network, remove_imsi_network))
}

pub fn operator_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(operator_list_imsis))
        .routes(routes!(operator_update_imsi))
        .routes(routes!(operator_add_imsi_network))
        .routes(routes!(operator_remove_imsi_network))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImsiLinks {
    pub networks: String,
}

/// One IMSI of a SIM.
#[derive(Debug, Serialize, ToSchema)]
pub struct SimImsi {
    pub imsi: String,
    pub sim_sid: String,
    /// Whether the IMSI may attach at all.
    pub allowed: bool,
    /// `HW` SIDs of the networks the IMSI is kept to, within the fleet's Network Access
    /// Profile; empty: the profile alone decides.
    pub networks: Vec<String>,
    pub url: String,
    pub links: ImsiLinks,
}

impl SimImsi {
    fn new(origin: &str, base: &str, sim_sid: &str, imsi: &str, allowed: bool, networks: Vec<String>) -> Self {
        let url = format!("{origin}{base}/Sims/{sim_sid}/Imsis/{imsi}");
        Self {
            imsi: imsi.to_owned(),
            sim_sid: sim_sid.to_owned(),
            allowed,
            networks,
            links: ImsiLinks { networks: format!("{url}/Networks") },
            url,
        }
    }

    fn from_row(origin: &str, base: &str, r: ImsiRow) -> Self {
        Self::new(origin, base, &r.sim_sid, &r.imsi, r.allowed, r.networks)
    }

    fn from_state(origin: &str, base: &str, s: ImsiState) -> Self {
        Self::new(origin, base, &s.sim_sid, &s.imsi, s.allowed, s.networks)
    }
}

list_envelope!(SimImsiPage, imsis, SimImsi);

/// A network an IMSI is kept to.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImsiNetwork {
    pub sid: String,
    pub sim_sid: String,
    pub imsi: String,
    pub friendly_name: String,
    pub iso_country: String,
    pub identifiers: Vec<Identifier>,
    pub url: String,
}

impl ImsiNetwork {
    fn new(origin: &str, sim_sid: &str, imsi: &str, network_sid: &str) -> Self {
        let (friendly_name, iso_country, identifiers) = super::networks::described(network_sid);
        Self {
            sid: network_sid.to_owned(),
            sim_sid: sim_sid.to_owned(),
            imsi: imsi.to_owned(),
            friendly_name,
            iso_country,
            identifiers,
            url: format!("{origin}/v1/Sims/{sim_sid}/Imsis/{imsi}/Networks/{network_sid}"),
        }
    }
}

list_envelope!(ImsiNetworkPage, networks, ImsiNetwork);

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct UpdateImsiParams {
    /// `false` keeps the IMSI from attaching anywhere; `true` lets it attach again.
    pub allowed: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct AddImsiNetworkParams {
    /// The `HW` SID of the network to keep the IMSI to (beside the others it is kept to).
    pub network: Option<String>,
}

const SIM_PARAM: &str = "The SID or unique name of the SIM";
const IMSI_PARAM: &str = "One of the SIM's IMSIs";

/// The SIM (by SID or unique name) of the caller's account, its SID.
async fn own_sim(state: &AppState, account: &str, sim: &str) -> Result<String, ApiError> {
    let row = read::sim(state.pool(), account, sim).await?;
    Ok(row.ok_or_else(|| ApiError::not_found(format_args!("/v1/Sims/{sim}")))?.sim_sid)
}

/// The IMSI of the caller's SIM.
async fn own_imsi(state: &AppState, account: &str, sim: &str, imsi: &str) -> Result<ImsiRow, ApiError> {
    let sim_sid = own_sim(state, account, sim).await?;
    read::sim_imsi(state.pool(), &sim_sid, imsi)
        .await?
        .ok_or_else(|| ApiError::not_found(format_args!("/v1/Sims/{sim}/Imsis/{imsi}")))
}

/// Lists a SIM's IMSIs.
#[utoipa::path(get, path = "/v1/Sims/{SimSid}/Imsis", tag = "Sims", operation_id = "ListSimImsi",
    params(("SimSid" = String, Path, description = SIM_PARAM), PagingParams),
    responses((status = 200, body = SimImsiPage), Errors),
    security(("accountSid_authToken" = [])))]
async fn list_imsis(
    State(state): State<AppState>,
    caller: Caller,
    Origin(origin): Origin,
    Path(sim): Path<String>,
    list: Listing<NoFilters>,
) -> Result<Json<SimImsiPage>, ApiError> {
    let sim_sid = own_sim(&state, caller.account(), &sim).await?;
    imsi_page(&state, &origin, "/v1", &sim_sid, &list).await
}

async fn imsi_page(
    state: &AppState,
    origin: &str,
    base: &str,
    sim_sid: &str,
    list: &Listing<NoFilters>,
) -> Result<Json<SimImsiPage>, ApiError> {
    let rows = read::sim_imsis(state.pool(), sim_sid, &list.paging.query()).await?;
    let path = format!("{base}/Sims/{sim_sid}/Imsis");
    let meta = meta(origin, &path, &list.echoed, &list.paging, &rows, |r| &r.imsi, "imsis");
    let Rows { items, .. } = rows;
    let imsis = items.into_iter().map(|r| SimImsi::from_row(origin, base, r)).collect();
    Ok(Json(SimImsiPage { imsis, meta }))
}

/// Fetches one IMSI of a SIM.
#[utoipa::path(get, path = "/v1/Sims/{SimSid}/Imsis/{Imsi}", tag = "Sims", operation_id = "FetchSimImsi",
    params(("SimSid" = String, Path, description = SIM_PARAM), ("Imsi" = String, Path, description = IMSI_PARAM)),
    responses((status = 200, body = SimImsi), Errors),
    security(("accountSid_authToken" = [])))]
async fn fetch_imsi(
    State(state): State<AppState>,
    caller: Caller,
    Origin(origin): Origin,
    Path((sim, imsi)): Path<(String, String)>,
) -> Result<Json<SimImsi>, ApiError> {
    let row = own_imsi(&state, caller.account(), &sim, &imsi).await?;
    Ok(Json(SimImsi::from_row(&origin, "/v1", row)))
}

/// Allows or disallows one IMSI of a SIM.
#[utoipa::path(post, path = "/v1/Sims/{SimSid}/Imsis/{Imsi}", tag = "Sims", operation_id = "UpdateSimImsi",
    params(("SimSid" = String, Path, description = SIM_PARAM), ("Imsi" = String, Path, description = IMSI_PARAM)),
    request_body(content = UpdateImsiParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = SimImsi), Errors, WriteErrors),
    security(("accountSid_authToken" = [])))]
async fn update_imsi(
    State(state): State<AppState>,
    caller: Caller,
    Origin(origin): Origin,
    Path((sim, imsi)): Path<(String, String)>,
    headers: HeaderMap,
    Form(p): Form<UpdateImsiParams>,
) -> Result<Json<SimImsi>, ApiError> {
    let allowed = p.allowed.ok_or_else(|| ApiError::missing("Allowed", true))?;
    let account = caller.account();
    let cmd = command_id(&headers, account, &format!("UpdateImsi:{sim}:{imsi}:{allowed}"));
    change_imsi(&state, cmd, Actor::Customer(account), &origin, &sim, &imsi, ImsiChange::Allow(allowed)).await
}

/// Makes a change of one IMSI and answers the IMSI as it is after it.
async fn change_imsi(
    state: &AppState,
    cmd: simledger_commands::CommandId,
    actor: Actor<'_>,
    origin: &str,
    sim: &str,
    imsi: &str,
    change: ImsiChange,
) -> Result<Json<SimImsi>, ApiError> {
    let base = match actor {
        Actor::Customer(_) => "/v1",
        Actor::Operator => "/operator",
    };
    let done = state.commands.update_imsi(cmd, actor, sim, imsi, change).await?;
    Ok(Json(SimImsi::from_state(origin, base, done)))
}

/// Keeps an IMSI to a network (beside the others it is kept to).
#[utoipa::path(post, path = "/v1/Sims/{SimSid}/Imsis/{Imsi}/Networks", tag = "Sims",
    operation_id = "CreateSimImsiNetwork",
    params(("SimSid" = String, Path, description = SIM_PARAM), ("Imsi" = String, Path, description = IMSI_PARAM)),
    request_body(content = AddImsiNetworkParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 201, body = ImsiNetwork), Errors, WriteErrors),
    security(("accountSid_authToken" = [])))]
async fn add_imsi_network(
    State(state): State<AppState>,
    caller: Caller,
    Origin(origin): Origin,
    Path((sim, imsi)): Path<(String, String)>,
    headers: HeaderMap,
    Form(p): Form<AddImsiNetworkParams>,
) -> Result<(StatusCode, Json<ImsiNetwork>), ApiError> {
    let network = p.network.ok_or_else(|| ApiError::missing("Network", true))?;
    let account = caller.account();
    let cmd = command_id(&headers, account, &format!("AddImsiNetwork:{sim}:{imsi}:{network}"));
    let change = ImsiChange::AddNetwork(network.clone());
    let done = state.commands.update_imsi(cmd, Actor::Customer(account), &sim, &imsi, change).await?;
    Ok((StatusCode::CREATED, Json(ImsiNetwork::new(&origin, &done.sim_sid, &done.imsi, &network))))
}

/// Lists the networks an IMSI is kept to.
#[utoipa::path(get, path = "/v1/Sims/{SimSid}/Imsis/{Imsi}/Networks", tag = "Sims",
    operation_id = "ListSimImsiNetwork",
    params(("SimSid" = String, Path, description = SIM_PARAM), ("Imsi" = String, Path, description = IMSI_PARAM),
           PagingParams),
    responses((status = 200, body = ImsiNetworkPage), Errors),
    security(("accountSid_authToken" = [])))]
async fn list_imsi_networks(
    State(state): State<AppState>,
    caller: Caller,
    Origin(origin): Origin,
    Path((sim, imsi)): Path<(String, String)>,
    list: Listing<NoFilters>,
) -> Result<Json<ImsiNetworkPage>, ApiError> {
    let row = own_imsi(&state, caller.account(), &sim, &imsi).await?;
    // At most MAX_IMSI_NETWORKS, so paged in memory.
    let rows = simledger_projections::read::page_in_memory(row.networks, |n| n.as_str(), &list.paging.query());
    let path = format!("/v1/Sims/{}/Imsis/{}/Networks", row.sim_sid, row.imsi);
    let meta = meta(&origin, &path, &list.echoed, &list.paging, &rows, |n| n.as_str(), "networks");
    let Rows { items, .. } = rows;
    let networks = items.iter().map(|n| ImsiNetwork::new(&origin, &row.sim_sid, &row.imsi, n)).collect();
    Ok(Json(ImsiNetworkPage { networks, meta }))
}

/// Fetches a network an IMSI is kept to.
#[utoipa::path(get, path = "/v1/Sims/{SimSid}/Imsis/{Imsi}/Networks/{Sid}", tag = "Sims",
    operation_id = "FetchSimImsiNetwork",
    params(("SimSid" = String, Path, description = SIM_PARAM), ("Imsi" = String, Path, description = IMSI_PARAM),
           ("Sid" = String, Path, description = "The HW SID of the network")),
    responses((status = 200, body = ImsiNetwork), Errors),
    security(("accountSid_authToken" = [])))]
async fn fetch_imsi_network(
    State(state): State<AppState>,
    caller: Caller,
    Origin(origin): Origin,
    Path((sim, imsi, network)): Path<(String, String, String)>,
) -> Result<Json<ImsiNetwork>, ApiError> {
    let row = own_imsi(&state, caller.account(), &sim, &imsi).await?;
    if !row.networks.contains(&network) {
        return Err(ApiError::not_found(format_args!("/v1/Sims/{sim}/Imsis/{imsi}/Networks/{network}")));
    }
    Ok(Json(ImsiNetwork::new(&origin, &row.sim_sid, &row.imsi, &network)))
}

/// Stops keeping an IMSI to a network; with none left, the profile alone decides again.
#[utoipa::path(delete, path = "/v1/Sims/{SimSid}/Imsis/{Imsi}/Networks/{Sid}", tag = "Sims",
    operation_id = "DeleteSimImsiNetwork",
    params(("SimSid" = String, Path, description = SIM_PARAM), ("Imsi" = String, Path, description = IMSI_PARAM),
           ("Sid" = String, Path, description = "The HW SID of the network")),
    responses((status = 204, description = "Removed"), Errors),
    security(("accountSid_authToken" = [])))]
async fn remove_imsi_network(
    State(state): State<AppState>,
    caller: Caller,
    Path((sim, imsi, network)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let account = caller.account();
    let row = own_imsi(&state, account, &sim, &imsi).await?;
    if !row.networks.contains(&network) {
        return Err(ApiError::not_found(format_args!("/v1/Sims/{sim}/Imsis/{imsi}/Networks/{network}")));
    }
    let cmd = command_id(&headers, account, &format!("RemoveImsiNetwork:{sim}:{imsi}:{network}"));
    let change = ImsiChange::RemoveNetwork(network);
    state.commands.update_imsi(cmd, Actor::Customer(account), &sim, &imsi, change).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The operator's view of any SIM: it must exist, in inventory or in an account.
async fn any_sim(state: &AppState, sim: &str) -> Result<String, ApiError> {
    read::sim_anywhere(state.pool(), sim)
        .await?
        .ok_or_else(|| ApiError::not_found(format_args!("/operator/Sims/{sim}")))
}

/// Lists the IMSIs of any SIM (the operator's).
#[utoipa::path(get, path = "/operator/Sims/{SimSid}/Imsis", tag = "operator", operation_id = "OperatorListSimImsi",
    params(("SimSid" = String, Path, description = "The SID of the SIM"), PagingParams),
    responses((status = 200, body = SimImsiPage), Errors,
        (status = 403, body = crate::error::TwilioError, description = "Not an operator account")),
    security(("accountSid_authToken" = [])))]
async fn operator_list_imsis(
    State(state): State<AppState>,
    _op: Operator,
    Origin(origin): Origin,
    Path(sim): Path<String>,
    list: Listing<NoFilters>,
) -> Result<Json<SimImsiPage>, ApiError> {
    let sim_sid = any_sim(&state, &sim).await?;
    imsi_page(&state, &origin, "/operator", &sim_sid, &list).await
}

/// Allows or disallows one IMSI of any SIM (the operator's).
#[utoipa::path(post, path = "/operator/Sims/{SimSid}/Imsis/{Imsi}", tag = "operator",
    operation_id = "OperatorUpdateSimImsi",
    params(("SimSid" = String, Path, description = "The SID of the SIM"), ("Imsi" = String, Path, description = IMSI_PARAM)),
    request_body(content = UpdateImsiParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = SimImsi), Errors, WriteErrors,
        (status = 403, body = crate::error::TwilioError, description = "Not an operator account")),
    security(("accountSid_authToken" = [])))]
async fn operator_update_imsi(
    State(state): State<AppState>,
    op: Operator,
    Origin(origin): Origin,
    Path((sim, imsi)): Path<(String, String)>,
    headers: HeaderMap,
    Form(p): Form<UpdateImsiParams>,
) -> Result<Json<SimImsi>, ApiError> {
    let allowed = p.allowed.ok_or_else(|| ApiError::missing("Allowed", true))?;
    let cmd = command_id(&headers, &op.0.account_sid, &format!("UpdateImsi:{sim}:{imsi}:{allowed}"));
    change_imsi(&state, cmd, Actor::Operator, &origin, &sim, &imsi, ImsiChange::Allow(allowed)).await
}

/// Keeps an IMSI of any SIM to a network (the operator's).
#[utoipa::path(post, path = "/operator/Sims/{SimSid}/Imsis/{Imsi}/Networks", tag = "operator",
    operation_id = "OperatorCreateSimImsiNetwork",
    params(("SimSid" = String, Path, description = "The SID of the SIM"), ("Imsi" = String, Path, description = IMSI_PARAM)),
    request_body(content = AddImsiNetworkParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = SimImsi), Errors, WriteErrors,
        (status = 403, body = crate::error::TwilioError, description = "Not an operator account")),
    security(("accountSid_authToken" = [])))]
async fn operator_add_imsi_network(
    State(state): State<AppState>,
    op: Operator,
    Origin(origin): Origin,
    Path((sim, imsi)): Path<(String, String)>,
    headers: HeaderMap,
    Form(p): Form<AddImsiNetworkParams>,
) -> Result<Json<SimImsi>, ApiError> {
    let network = p.network.ok_or_else(|| ApiError::missing("Network", true))?;
    let cmd = command_id(&headers, &op.0.account_sid, &format!("AddImsiNetwork:{sim}:{imsi}:{network}"));
    change_imsi(&state, cmd, Actor::Operator, &origin, &sim, &imsi, ImsiChange::AddNetwork(network)).await
}

/// Stops keeping an IMSI of any SIM to a network (the operator's).
#[utoipa::path(delete, path = "/operator/Sims/{SimSid}/Imsis/{Imsi}/Networks/{Sid}", tag = "operator",
    operation_id = "OperatorDeleteSimImsiNetwork",
    params(("SimSid" = String, Path, description = "The SID of the SIM"), ("Imsi" = String, Path, description = IMSI_PARAM),
           ("Sid" = String, Path, description = "The HW SID of the network")),
    responses((status = 204, description = "Removed"), Errors,
        (status = 403, body = crate::error::TwilioError, description = "Not an operator account")),
    security(("accountSid_authToken" = [])))]
async fn operator_remove_imsi_network(
    State(state): State<AppState>,
    op: Operator,
    Path((sim, imsi, network)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let cmd = command_id(&headers, &op.0.account_sid, &format!("RemoveImsiNetwork:{sim}:{imsi}:{network}"));
    let change = ImsiChange::RemoveNetwork(network);
    state.commands.update_imsi(cmd, Actor::Operator, &sim, &imsi, change).await?;
    Ok(StatusCode::NO_CONTENT)
}
