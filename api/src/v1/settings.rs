//! `/v1/SettingsUpdates`: read-only. simledger pushes no SIM settings over the air, so every
//! account's list is empty; the endpoint exists so that clients that page through it work.

use axum::Json;
use serde::{Deserialize, Serialize};
use simledger_projections::read::Rows;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::paging::{list_envelope, meta, PagingParams};
use super::Errors;
use crate::extract::{Caller, Listing, Origin};
use crate::{ApiError, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_settings_updates))
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SettingsPackage {
    pub name: String,
    pub version: String,
    pub more_info: Option<String>,
}

/// An over-the-air update of a SIM's settings.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SettingsUpdate {
    pub sid: String,
    pub iccid: String,
    pub sim_sid: String,
    /// `scheduled`, `in-progress`, `successful` or `failed`.
    pub status: String,
    pub packages: Vec<SettingsPackage>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub date_completed: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub date_created: String,
    #[schema(value_type = String, format = DateTime)]
    pub date_updated: String,
}

list_envelope!(SettingsUpdatePage, settings_updates, SettingsUpdate);

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SettingsStatus {
    Scheduled,
    InProgress,
    Successful,
    Failed,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // validated so bad filters are refused; there is nothing to filter yet
pub struct SettingsFilterParams {
    /// Only updates of this SIM (SID or ICCID).
    pub sim: Option<String>,
    #[param(inline)]
    pub status: Option<SettingsStatus>,
}

/// Lists settings updates (always empty: see the module's note).
#[utoipa::path(get, path = "/v1/SettingsUpdates", tag = "SettingsUpdates", operation_id = "ListSettingsUpdate",
    params(SettingsFilterParams, PagingParams),
    responses((status = 200, body = SettingsUpdatePage), Errors),
    security(("accountSid_authToken" = [])))]
async fn list_settings_updates(
    _caller: Caller,
    Origin(origin): Origin,
    list: Listing<SettingsFilterParams>,
) -> Result<Json<SettingsUpdatePage>, ApiError> {
    let rows: Rows<SettingsUpdate> = Rows { items: Vec::new(), more: false };
    let meta = meta(&origin, "/v1/SettingsUpdates", &list.echoed, &list.paging, &rows, |u| &u.sid, "settings_updates");
    Ok(Json(SettingsUpdatePage { settings_updates: rows.items, meta }))
}
