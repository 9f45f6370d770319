//! `/v1/Fleets/{Sid}/DeviceSignals` (simledger's own, beyond Twilio): the fleet's thresholds for
//! the signals of stolen or hacked devices, and the billing action group a signal runs for the
//! SIM (`*suspend_sim`, `*http_post`, `*set_fleet_data_limit`, …, defined with CGrateS's
//! `APIerSv1.SetActions`).

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::{Deserialize, Serialize};
use simledger_commands::{SignalPolicy, SignalPolicyChanges};
use simledger_eventlog::catalog::DeviceSignal;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Errors, WriteErrors};
use crate::extract::{command_id, Caller, Form, Origin};
use crate::{ApiError, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(fetch_device_signals, update_device_signals))
}

/// A fleet's device-signal policy.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceSignals {
    pub fleet_sid: String,
    pub account_sid: String,
    /// The signals watched for: `imei_changed`, `impossible_travel`, `usage_spike`, `attach_storm`.
    pub signals: Vec<String>,
    /// The billing action group each signal runs for the SIM (its billing account is the SIM's SID).
    pub actions_id: Option<String>,
    /// A data window above this many times the SIM's own baseline is a `usage_spike`.
    pub usage_spike_factor: i64,
    /// This many rejected attaches within ten minutes is an `attach_storm`.
    pub attach_storm_rejections: i64,
    pub url: String,
}

impl DeviceSignals {
    fn from_policy(origin: &str, p: SignalPolicy) -> Self {
        Self {
            url: format!("{origin}/v1/Fleets/{}/DeviceSignals", p.fleet_sid),
            fleet_sid: p.fleet_sid,
            account_sid: p.account_sid,
            signals: DeviceSignal::ALL.iter().map(|s| s.as_str().to_owned()).collect(),
            actions_id: p.actions_id,
            usage_spike_factor: p.usage_spike_factor,
            attach_storm_rejections: p.attach_storm_rejections,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct UpdateDeviceSignalsParams {
    /// A billing action group ID; `*none` unbinds.
    pub actions_id: Option<String>,
    #[schema(minimum = 2, maximum = 1000)]
    pub usage_spike_factor: Option<i64>,
    #[schema(minimum = 2, maximum = 10000)]
    pub attach_storm_rejections: Option<i64>,
}

/// Fetches a fleet's device-signal policy (the defaults until one is set).
#[utoipa::path(get, path = "/v1/Fleets/{Sid}/DeviceSignals", tag = "Fleets", operation_id = "FetchDeviceSignals",
    params(("Sid" = String, Path, description = "The SID or unique name of the Fleet")),
    responses((status = 200, body = DeviceSignals), Errors),
    security(("accountSid_authToken" = [])))]
async fn fetch_device_signals(
    State(state): State<AppState>,
    caller: Caller,
    Origin(origin): Origin,
    Path(sid): Path<String>,
) -> Result<Json<DeviceSignals>, ApiError> {
    let policy = state.commands.signal_policy(caller.account(), &sid).await?;
    Ok(Json(DeviceSignals::from_policy(&origin, policy)))
}

/// Sets a fleet's device-signal thresholds and bound actions.
#[utoipa::path(post, path = "/v1/Fleets/{Sid}/DeviceSignals", tag = "Fleets", operation_id = "UpdateDeviceSignals",
    params(("Sid" = String, Path, description = "The SID or unique name of the Fleet")),
    request_body(content = UpdateDeviceSignalsParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = DeviceSignals), Errors, WriteErrors),
    security(("accountSid_authToken" = [])))]
async fn update_device_signals(
    State(state): State<AppState>,
    caller: Caller,
    Origin(origin): Origin,
    Path(sid): Path<String>,
    headers: HeaderMap,
    Form(p): Form<UpdateDeviceSignalsParams>,
) -> Result<Json<DeviceSignals>, ApiError> {
    let changes = SignalPolicyChanges {
        actions_id: p.actions_id.map(|id| Some(id).filter(|id| id != "*none")),
        usage_spike_factor: p.usage_spike_factor,
        attach_storm_rejections: p.attach_storm_rejections,
    };
    let cmd = command_id(&headers, caller.account(), &format!("UpdateDeviceSignals:{sid}"));
    let policy = state.commands.set_signal_policy(cmd, caller.account(), &sid, changes).await?;
    Ok(Json(DeviceSignals::from_policy(&origin, policy)))
}
