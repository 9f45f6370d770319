//! `/v1/Fleets/{Sid}/Breakout` (simledger's own, beyond Twilio): the region whose PGW a fleet's
//! data sessions reach the internet from, so a device's traffic breaks out near it and a
//! region's fleets keep their user-plane data there. New sessions use it; open ones stay on
//! their PGW. `GET /v1/UsageRecords?Group=breakoutRegion` splits usage by it.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::{Deserialize, Serialize};
use simledger_commands::FleetBreakout;
use simledger_eventlog::catalog::BreakoutRegion;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Errors, WriteErrors};
use crate::extract::{command_id, Caller, Form, Origin};
use crate::{ApiError, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(fetch_breakout, update_breakout))
}

/// A fleet's breakout region.
#[derive(Debug, Serialize, ToSchema)]
pub struct Breakout {
    pub fleet_sid: String,
    pub account_sid: String,
    /// The region the fleet set; null: the platform's default.
    pub region: Option<String>,
    /// Where the fleet's new data sessions break out.
    pub effective_region: String,
    /// The regions this platform has a PGW in; the first is the default.
    pub regions: Vec<String>,
    pub url: String,
}

impl Breakout {
    fn from_fleet(origin: &str, b: FleetBreakout) -> Self {
        Self {
            url: format!("{origin}/v1/Fleets/{}/Breakout", b.fleet_sid),
            fleet_sid: b.fleet_sid,
            account_sid: b.account_sid,
            region: b.region.map(|r| r.as_str().to_owned()),
            effective_region: b.effective_region.as_str().to_owned(),
            regions: b.regions.iter().map(|r| r.as_str().to_owned()).collect(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct UpdateBreakoutParams {
    /// `us-east`, `eu-west` or `ap-southeast` (one this platform has a PGW in); `*none` returns
    /// the fleet to the default region.
    pub region: String,
}

/// Fetches a fleet's breakout region.
#[utoipa::path(get, path = "/v1/Fleets/{Sid}/Breakout", tag = "Fleets", operation_id = "FetchFleetBreakout",
    params(("Sid" = String, Path, description = "The SID or unique name of the Fleet")),
    responses((status = 200, body = Breakout), Errors),
    security(("accountSid_authToken" = [])))]
async fn fetch_breakout(
    State(state): State<AppState>,
    caller: Caller,
    Origin(origin): Origin,
    Path(sid): Path<String>,
) -> Result<Json<Breakout>, ApiError> {
    let breakout = state.commands.breakout(caller.account(), &sid).await?;
    Ok(Json(Breakout::from_fleet(&origin, breakout)))
}

/// Sets the region a fleet's new data sessions break out in.
#[utoipa::path(post, path = "/v1/Fleets/{Sid}/Breakout", tag = "Fleets", operation_id = "UpdateFleetBreakout",
    params(("Sid" = String, Path, description = "The SID or unique name of the Fleet")),
    request_body(content = UpdateBreakoutParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = Breakout), Errors, WriteErrors),
    security(("accountSid_authToken" = [])))]
async fn update_breakout(
    State(state): State<AppState>,
    caller: Caller,
    Origin(origin): Origin,
    Path(sid): Path<String>,
    headers: HeaderMap,
    Form(p): Form<UpdateBreakoutParams>,
) -> Result<Json<Breakout>, ApiError> {
    let region = match p.region.as_str() {
        "*none" => None,
        name => Some(name.parse::<BreakoutRegion>().map_err(|e| ApiError::invalid(format!("Region: {e}")))?),
    };
    let cmd = command_id(&headers, caller.account(), &format!("UpdateFleetBreakout:{sid}"));
    let breakout = state.commands.set_breakout(cmd, caller.account(), &sid, region).await?;
    Ok(Json(Breakout::from_fleet(&origin, breakout)))
}
