//! `/v1/Networks`: the catalogue of networks SIMs may attach to, from `networks.csv`.

use axum::extract::Path;
use axum::Json;
use serde::{Deserialize, Serialize};
use simledger_eventlog::networks;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::paging::{list_envelope, meta, page_slice, PagingParams};
use super::Errors;
use crate::extract::{Caller, Listing, Origin};
use crate::{ApiError, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_networks)).routes(routes!(fetch_network))
}

/// A network's PLMN identity.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Identifier {
    pub mcc: String,
    pub mnc: String,
}

/// A mobile network of the catalogue.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Network {
    pub sid: String,
    pub friendly_name: String,
    pub url: String,
    /// ISO 3166-1 alpha-2.
    pub iso_country: String,
    pub identifiers: Vec<Identifier>,
}

impl Network {
    fn new(origin: &str, n: &networks::Network) -> Self {
        Self {
            sid: n.sid.clone(),
            friendly_name: n.friendly_name.clone(),
            url: format!("{origin}/v1/Networks/{}", n.sid),
            iso_country: n.iso_country.clone(),
            identifiers: vec![Identifier { mcc: n.mcc.clone(), mnc: n.mnc.clone() }],
        }
    }
}

/// What a resource that names a network (a profile's, an IMSI's) shows of it: its friendly
/// name, country and identifiers, or empty ones for a SID the catalogue does not hold.
pub(crate) fn described(network_sid: &str) -> (String, String, Vec<Identifier>) {
    match networks::catalog().by_sid(network_sid) {
        Some(n) => (
            n.friendly_name.clone(),
            n.iso_country.clone(),
            vec![Identifier { mcc: n.mcc.clone(), mnc: n.mnc.clone() }],
        ),
        None => Default::default(),
    }
}

list_envelope!(NetworkPage, networks, Network);

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct NetworkFilterParams {
    /// ISO 3166-1 alpha-2 country code (either case).
    pub iso_country: Option<String>,
    /// Mobile Country Code.
    pub mcc: Option<String>,
    /// Mobile Network Code.
    pub mnc: Option<String>,
}

/// Lists the networks of the catalogue.
#[utoipa::path(get, path = "/v1/Networks", tag = "Networks", operation_id = "ListNetwork",
    params(NetworkFilterParams, PagingParams),
    responses((status = 200, body = NetworkPage), Errors),
    security(("accountSid_authToken" = [])))]
async fn list_networks(
    _caller: Caller,
    Origin(origin): Origin,
    list: Listing<NetworkFilterParams>,
) -> Result<Json<NetworkPage>, ApiError> {
    let f = &list.filter;
    let matching: Vec<&networks::Network> = networks::catalog()
        .all()
        .iter()
        .filter(|n| f.iso_country.as_ref().is_none_or(|c| n.iso_country.eq_ignore_ascii_case(c)))
        .filter(|n| f.mcc.as_ref().is_none_or(|m| &n.mcc == m))
        .filter(|n| f.mnc.as_ref().is_none_or(|m| &n.mnc == m))
        .collect();
    let rows = page_slice(&matching, |n| &n.sid, &list.paging.query());
    let meta = meta(&origin, "/v1/Networks", &list.echoed, &list.paging, &rows, |n| &n.sid, "networks");
    Ok(Json(NetworkPage { networks: rows.items.iter().map(|n| Network::new(&origin, n)).collect(), meta }))
}

/// Fetches a network of the catalogue.
#[utoipa::path(get, path = "/v1/Networks/{Sid}", tag = "Networks", operation_id = "FetchNetwork",
    params(("Sid" = String, Path, description = "The HW SID of the network")),
    responses((status = 200, body = Network), Errors),
    security(("accountSid_authToken" = [])))]
async fn fetch_network(
    _caller: Caller,
    Origin(origin): Origin,
    Path(sid): Path<String>,
) -> Result<Json<Network>, ApiError> {
    let n = networks::catalog().by_sid(&sid).ok_or_else(|| ApiError::not_found(format_args!("/v1/Networks/{sid}")))?;
    Ok(Json(Network::new(&origin, n)))
}
