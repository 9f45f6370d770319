//! `/v1/NetworkAccessProfiles` and their `Networks`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use simledger_projections::read::Rows;
use simledger_projections::registry::read::{self, NapRow};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::networks::Identifier;
use super::paging::{list_envelope, meta, NoFilters, PagingParams};
use super::{twilio_time, Errors, WriteErrors};
use crate::extract::{command_id, Caller, Form, Listing, Origin};
use crate::{ApiError, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_nap, list_naps))
        .routes(routes!(fetch_nap, update_nap))
        .routes(routes!(add_network, list_networks))
        .routes(routes!(fetch_network, remove_network))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NapLinks {
    pub networks: String,
}

/// A Network Access Profile: the networks a Fleet's SIMs may attach to.
#[derive(Debug, Serialize, ToSchema)]
pub struct NetworkAccessProfile {
    pub sid: String,
    pub unique_name: Option<String>,
    pub account_sid: String,
    #[serde(serialize_with = "twilio_time")]
    #[schema(value_type = String, format = DateTime)]
    pub date_created: chrono::DateTime<chrono::Utc>,
    #[serde(serialize_with = "twilio_time")]
    #[schema(value_type = String, format = DateTime)]
    pub date_updated: chrono::DateTime<chrono::Utc>,
    pub url: String,
    pub links: NapLinks,
}

impl NetworkAccessProfile {
    fn from_row(origin: &str, r: NapRow) -> Self {
        let url = format!("{origin}/v1/NetworkAccessProfiles/{}", r.nap_sid);
        Self {
            links: NapLinks { networks: format!("{url}/Networks") },
            url,
            sid: r.nap_sid,
            unique_name: r.unique_name,
            account_sid: r.account_sid,
            date_created: r.date_created,
            date_updated: r.date_updated,
        }
    }
}

list_envelope!(NapPage, network_access_profiles, NetworkAccessProfile);

/// A network a Network Access Profile allows.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NapNetwork {
    pub sid: String,
    pub network_access_profile_sid: String,
    pub friendly_name: String,
    pub iso_country: String,
    pub identifiers: Vec<Identifier>,
    pub url: String,
}

impl NapNetwork {
    fn new(origin: &str, nap_sid: &str, network_sid: &str) -> Self {
        let (friendly_name, iso_country, identifiers) = super::networks::described(network_sid);
        Self {
            sid: network_sid.to_owned(),
            network_access_profile_sid: nap_sid.to_owned(),
            friendly_name,
            iso_country,
            identifiers,
            url: format!("{origin}/v1/NetworkAccessProfiles/{nap_sid}/Networks/{network_sid}"),
        }
    }
}

list_envelope!(NapNetworkPage, networks, NapNetwork);

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CreateNapParams {
    pub unique_name: Option<String>,
    /// `HW` SIDs of the networks to allow (repeat the parameter for several).
    #[serde(default)]
    pub networks: Vec<String>,
}

/// Creates a Network Access Profile.
#[utoipa::path(post, path = "/v1/NetworkAccessProfiles", tag = "NetworkAccessProfiles",
    operation_id = "CreateNetworkAccessProfile",
    request_body(content = CreateNapParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 201, body = NetworkAccessProfile), Errors, WriteErrors),
    security(("accountSid_authToken" = [])))]
async fn create_nap(
    State(state): State<AppState>,
    caller: Caller,
    Origin(origin): Origin,
    headers: HeaderMap,
    Form(p): Form<CreateNapParams>,
) -> Result<(StatusCode, Json<NetworkAccessProfile>), ApiError> {
    let cmd = command_id(&headers, caller.account(), "CreateNetworkAccessProfile");
    let sid = state.commands.create_nap(cmd, caller.account(), p.unique_name, p.networks).await?;
    let row = fetch_row(&state, caller.account(), &sid).await?;
    Ok((StatusCode::CREATED, Json(NetworkAccessProfile::from_row(&origin, row))))
}

async fn fetch_row(state: &AppState, account: &str, sid: &str) -> Result<NapRow, ApiError> {
    read::nap(state.pool(), account, sid)
        .await?
        .ok_or_else(|| ApiError::not_found(format_args!("/v1/NetworkAccessProfiles/{sid}")))
}

/// Lists the account's Network Access Profiles.
#[utoipa::path(get, path = "/v1/NetworkAccessProfiles", tag = "NetworkAccessProfiles",
    operation_id = "ListNetworkAccessProfile",
    params(PagingParams),
    responses((status = 200, body = NapPage), Errors),
    security(("accountSid_authToken" = [])))]
async fn list_naps(
    State(state): State<AppState>,
    caller: Caller,
    Origin(origin): Origin,
    list: Listing<NoFilters>,
) -> Result<Json<NapPage>, ApiError> {
    let rows = read::naps(state.pool(), caller.account(), &list.paging.query()).await?;
    let path = "/v1/NetworkAccessProfiles";
    let meta = meta(&origin, path, &list.echoed, &list.paging, &rows, |r| &r.nap_sid, "network_access_profiles");
    let items = rows.items.into_iter().map(|r| NetworkAccessProfile::from_row(&origin, r)).collect();
    Ok(Json(NapPage { network_access_profiles: items, meta }))
}

/// Fetches a Network Access Profile by SID or unique name.
#[utoipa::path(get, path = "/v1/NetworkAccessProfiles/{Sid}", tag = "NetworkAccessProfiles",
    operation_id = "FetchNetworkAccessProfile",
    params(("Sid" = String, Path, description = "The SID or unique name of the Network Access Profile")),
    responses((status = 200, body = NetworkAccessProfile), Errors),
    security(("accountSid_authToken" = [])))]
async fn fetch_nap(
    State(state): State<AppState>,
    caller: Caller,
    Origin(origin): Origin,
    Path(sid): Path<String>,
) -> Result<Json<NetworkAccessProfile>, ApiError> {
    Ok(Json(NetworkAccessProfile::from_row(&origin, fetch_row(&state, caller.account(), &sid).await?)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct UpdateNapParams {
    pub unique_name: Option<String>,
}

/// Renames a Network Access Profile.
#[utoipa::path(post, path = "/v1/NetworkAccessProfiles/{Sid}", tag = "NetworkAccessProfiles",
    operation_id = "UpdateNetworkAccessProfile",
    params(("Sid" = String, Path, description = "The SID or unique name of the Network Access Profile")),
    request_body(content = UpdateNapParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = NetworkAccessProfile), Errors, WriteErrors),
    security(("accountSid_authToken" = [])))]
async fn update_nap(
    State(state): State<AppState>,
    caller: Caller,
    Origin(origin): Origin,
    Path(sid): Path<String>,
    headers: HeaderMap,
    Form(p): Form<UpdateNapParams>,
) -> Result<Json<NetworkAccessProfile>, ApiError> {
    let nap = fetch_row(&state, caller.account(), &sid).await?;
    let cmd = command_id(&headers, caller.account(), &format!("UpdateNetworkAccessProfile:{}", nap.nap_sid));
    let sid = state.commands.update_nap(cmd, caller.account(), &nap.nap_sid, p.unique_name.map(Some)).await?;
    Ok(Json(NetworkAccessProfile::from_row(&origin, fetch_row(&state, caller.account(), &sid).await?)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct AddNetworkParams {
    /// The `HW` SID of the network to allow.
    pub network: Option<String>,
}

const NAP_PARAM: &str = "The SID or unique name of the Network Access Profile";

/// Allows a network on a Network Access Profile.
#[utoipa::path(post, path = "/v1/NetworkAccessProfiles/{NetworkAccessProfileSid}/Networks",
    tag = "NetworkAccessProfiles", operation_id = "CreateNetworkAccessProfileNetwork",
    params(("NetworkAccessProfileSid" = String, Path, description = NAP_PARAM)),
    request_body(content = AddNetworkParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 201, body = NapNetwork), Errors, WriteErrors),
    security(("accountSid_authToken" = [])))]
async fn add_network(
    State(state): State<AppState>,
    caller: Caller,
    Origin(origin): Origin,
    Path(nap): Path<String>,
    headers: HeaderMap,
    Form(p): Form<AddNetworkParams>,
) -> Result<(StatusCode, Json<NapNetwork>), ApiError> {
    let network = p.network.ok_or_else(|| ApiError::missing("Network", true))?;
    let nap = fetch_row(&state, caller.account(), &nap).await?;
    let cmd = command_id(&headers, caller.account(), &format!("AddNetwork:{}:{network}", nap.nap_sid));
    state.commands.add_nap_network(cmd, caller.account(), &nap.nap_sid, &network).await?;
    Ok((StatusCode::CREATED, Json(NapNetwork::new(&origin, &nap.nap_sid, &network))))
}

/// Lists the networks a Network Access Profile allows.
#[utoipa::path(get, path = "/v1/NetworkAccessProfiles/{NetworkAccessProfileSid}/Networks",
    tag = "NetworkAccessProfiles", operation_id = "ListNetworkAccessProfileNetwork",
    params(("NetworkAccessProfileSid" = String, Path, description = NAP_PARAM), PagingParams),
    responses((status = 200, body = NapNetworkPage), Errors),
    security(("accountSid_authToken" = [])))]
async fn list_networks(
    State(state): State<AppState>,
    caller: Caller,
    Origin(origin): Origin,
    Path(nap): Path<String>,
    list: Listing<NoFilters>,
) -> Result<Json<NapNetworkPage>, ApiError> {
    let nap = fetch_row(&state, caller.account(), &nap).await?;
    let rows = read::nap_networks(state.pool(), &nap.nap_sid, &list.paging.query()).await?;
    let path = format!("/v1/NetworkAccessProfiles/{}/Networks", nap.nap_sid);
    let meta = meta(&origin, &path, &list.echoed, &list.paging, &rows, |r| &r.network_sid, "networks");
    let Rows { items, .. } = rows;
    let networks = items.iter().map(|r| NapNetwork::new(&origin, &nap.nap_sid, &r.network_sid)).collect();
    Ok(Json(NapNetworkPage { networks, meta }))
}

/// Fetches a network a Network Access Profile allows.
#[utoipa::path(get, path = "/v1/NetworkAccessProfiles/{NetworkAccessProfileSid}/Networks/{Sid}",
    tag = "NetworkAccessProfiles", operation_id = "FetchNetworkAccessProfileNetwork",
    params(("NetworkAccessProfileSid" = String, Path, description = NAP_PARAM),
           ("Sid" = String, Path, description = "The HW SID of the network")),
    responses((status = 200, body = NapNetwork), Errors),
    security(("accountSid_authToken" = [])))]
async fn fetch_network(
    State(state): State<AppState>,
    caller: Caller,
    Origin(origin): Origin,
    Path((nap, network)): Path<(String, String)>,
) -> Result<Json<NapNetwork>, ApiError> {
    let nap = allowed_network(&state, caller.account(), &nap, &network).await?;
    Ok(Json(NapNetwork::new(&origin, &nap.nap_sid, &network)))
}

async fn allowed_network(state: &AppState, account: &str, nap: &str, network: &str) -> Result<NapRow, ApiError> {
    let row = fetch_row(state, account, nap).await?;
    if !read::nap_allows(state.pool(), &row.nap_sid, network).await? {
        return Err(ApiError::not_found(format_args!("/v1/NetworkAccessProfiles/{nap}/Networks/{network}")));
    }
    Ok(row)
}

/// Stops allowing a network on a Network Access Profile.
#[utoipa::path(delete, path = "/v1/NetworkAccessProfiles/{NetworkAccessProfileSid}/Networks/{Sid}",
    tag = "NetworkAccessProfiles", operation_id = "DeleteNetworkAccessProfileNetwork",
    params(("NetworkAccessProfileSid" = String, Path, description = NAP_PARAM),
           ("Sid" = String, Path, description = "The HW SID of the network")),
    responses((status = 204, description = "Removed"), Errors),
    security(("accountSid_authToken" = [])))]
async fn remove_network(
    State(state): State<AppState>,
    caller: Caller,
    Path((nap, network)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let nap = allowed_network(&state, caller.account(), &nap, &network).await?;
    let cmd = command_id(&headers, caller.account(), &format!("RemoveNetwork:{}:{network}", nap.nap_sid));
    state.commands.remove_nap_network(cmd, caller.account(), &nap.nap_sid, &network).await?;
    Ok(StatusCode::NO_CONTENT)
}
