//! `/v1/Sinks`: where a subscription's events go (webhook or Kinesis), with Twilio's test and
//! validate handshake; `/v1/Sinks/{Sid}/Delivery` (simledger's own) shows and moves the cursor.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use simledger_eventlog::catalog::SinkConfiguration;
use simledger_exporters::event_streams::cursor;
use simledger_projections::event_streams::read::{self, SinkFilter, SinkRow};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{command_id, Caller, Form, Listing, Origin};
use crate::v1::paging::{list_envelope, meta, PagingParams};
use crate::v1::{twilio_time, Errors, WriteErrors};
use crate::{ApiError, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_sink, list_sinks))
        .routes(routes!(fetch_sink, update_sink, delete_sink))
        .routes(routes!(test_sink))
        .routes(routes!(validate_sink))
        .routes(routes!(fetch_delivery, move_delivery))
}

/// A Sink: a destination for the events of a subscription.
#[derive(Debug, Serialize, ToSchema)]
pub struct Sink {
    #[serde(serialize_with = "twilio_time")]
    #[schema(value_type = String, format = DateTime)]
    pub date_created: chrono::DateTime<chrono::Utc>,
    #[serde(serialize_with = "twilio_time")]
    #[schema(value_type = String, format = DateTime)]
    pub date_updated: chrono::DateTime<chrono::Utc>,
    pub description: String,
    pub sid: String,
    /// `webhook`: `destination`, `method`, `batch_events`; `kinesis`: `arn`, `role_arn`,
    /// `external_id`.
    #[schema(value_type = Object)]
    pub sink_configuration: serde_json::Value,
    /// `webhook` or `kinesis`.
    pub sink_type: String,
    /// `initialized`, `active` (validated) or `failed` (deliveries keep failing).
    pub status: String,
    pub url: String,
    pub links: SinkLinks,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SinkLinks {
    pub sink_test: String,
    pub sink_validate: String,
}

impl Sink {
    fn from_row(origin: &str, r: SinkRow) -> Self {
        let url = format!("{origin}/v1/Sinks/{}", r.sink_sid);
        Self {
            links: SinkLinks { sink_test: format!("{url}/Test"), sink_validate: format!("{url}/Validate") },
            url,
            date_created: r.date_created,
            date_updated: r.date_updated,
            description: r.description,
            sid: r.sink_sid,
            sink_configuration: r.sink_configuration,
            sink_type: r.sink_type,
            status: r.status,
        }
    }
}

list_envelope!(SinkPage, sinks, Sink);

async fn fetch_row(state: &AppState, account: &str, sid: &str) -> Result<SinkRow, ApiError> {
    read::sink(state.pool(), account, sid).await?.ok_or_else(|| ApiError::not_found(format_args!("/v1/Sinks/{sid}")))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CreateSinkParams {
    /// A human readable description for the Sink.
    pub description: Option<String>,
    /// The sink's configuration, a JSON object: for `webhook` `{"destination": URL, "method":
    /// "POST", "batch_events": bool}`; for `kinesis` `{"arn", "role_arn", "external_id"}`.
    pub sink_configuration: Option<String>,
    /// `webhook` or `kinesis` (`segment` and `email` are not offered).
    pub sink_type: Option<String>,
}

/// Creates a Sink.
#[utoipa::path(post, path = "/v1/Sinks", tag = "EventStreams", operation_id = "CreateSink",
    request_body(content = CreateSinkParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 201, body = Sink), Errors, WriteErrors),
    security(("accountSid_authToken" = [])))]
async fn create_sink(
    State(state): State<AppState>,
    caller: Caller,
    Origin(origin): Origin,
    headers: HeaderMap,
    Form(p): Form<CreateSinkParams>,
) -> Result<(StatusCode, Json<Sink>), ApiError> {
    let description = p.description.ok_or_else(|| ApiError::missing("Description", true))?;
    let configuration = p.sink_configuration.ok_or_else(|| ApiError::missing("SinkConfiguration", true))?;
    let sink_type = p.sink_type.ok_or_else(|| ApiError::missing("SinkType", true))?;
    let configuration = simledger_commands::parse_sink_configuration(&sink_type, &configuration)?;
    if matches!(configuration, SinkConfiguration::Webhook(_))
        && state.accounts.signing_token(caller.account()).await?.is_none()
    {
        return Err(ApiError::invalid(
            "This account's auth token was not issued by this deployment's secret, so webhooks cannot be signed \
             with it; ask the operator to issue a new auth token",
        ));
    }
    let cmd = command_id(&headers, caller.account(), "CreateSink");
    let sid = state.commands.create_sink(cmd, caller.account(), &description, configuration).await?;
    Ok((StatusCode::CREATED, Json(Sink::from_row(&origin, fetch_row(&state, caller.account(), &sid).await?))))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SinkFilterParams {
    /// Only sinks a subscription uses (true) or none does (false).
    pub in_use: Option<bool>,
    /// Only sinks in this status: `initialized`, `validating`, `active` or `failed`.
    pub status: Option<String>,
}

/// Lists the account's Sinks.
#[utoipa::path(get, path = "/v1/Sinks", tag = "EventStreams", operation_id = "ListSink",
    params(SinkFilterParams, PagingParams),
    responses((status = 200, body = SinkPage), Errors),
    security(("accountSid_authToken" = [])))]
async fn list_sinks(
    State(state): State<AppState>,
    caller: Caller,
    Origin(origin): Origin,
    list: Listing<SinkFilterParams>,
) -> Result<Json<SinkPage>, ApiError> {
    let filter = SinkFilter { in_use: list.filter.in_use, status: list.filter.status.clone() };
    let rows = read::sinks(state.pool(), caller.account(), &filter, &list.paging.query()).await?;
    let meta = meta(&origin, "/v1/Sinks", &list.echoed, &list.paging, &rows, |r| &r.sink_sid, "sinks");
    Ok(Json(SinkPage { sinks: rows.items.into_iter().map(|r| Sink::from_row(&origin, r)).collect(), meta }))
}

/// Fetches a Sink.
#[utoipa::path(get, path = "/v1/Sinks/{Sid}", tag = "EventStreams", operation_id = "FetchSink",
    params(("Sid" = String, Path, description = "The SID of the Sink")),
    responses((status = 200, body = Sink), Errors),
    security(("accountSid_authToken" = [])))]
async fn fetch_sink(
    State(state): State<AppState>,
    caller: Caller,
    Origin(origin): Origin,
    Path(sid): Path<String>,
) -> Result<Json<Sink>, ApiError> {
    Ok(Json(Sink::from_row(&origin, fetch_row(&state, caller.account(), &sid).await?)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct UpdateSinkParams {
    /// A human readable description for the Sink.
    pub description: Option<String>,
}

/// Updates a Sink's description.
#[utoipa::path(post, path = "/v1/Sinks/{Sid}", tag = "EventStreams", operation_id = "UpdateSink",
    params(("Sid" = String, Path, description = "The SID of the Sink")),
    request_body(content = UpdateSinkParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = Sink), Errors, WriteErrors),
    security(("accountSid_authToken" = [])))]
async fn update_sink(
    State(state): State<AppState>,
    caller: Caller,
    Origin(origin): Origin,
    Path(sid): Path<String>,
    headers: HeaderMap,
    Form(p): Form<UpdateSinkParams>,
) -> Result<Json<Sink>, ApiError> {
    let description = p.description.ok_or_else(|| ApiError::missing("Description", true))?;
    let row = fetch_row(&state, caller.account(), &sid).await?;
    let cmd = command_id(&headers, caller.account(), &format!("UpdateSink:{}", row.sink_sid));
    state.commands.update_sink(cmd, caller.account(), &row.sink_sid, &description).await?;
    Ok(Json(Sink::from_row(&origin, fetch_row(&state, caller.account(), &sid).await?)))
}

/// Deletes a Sink no subscription uses.
#[utoipa::path(delete, path = "/v1/Sinks/{Sid}", tag = "EventStreams", operation_id = "DeleteSink",
    params(("Sid" = String, Path, description = "The SID of the Sink")),
    responses((status = 204, description = "Deleted"), Errors, WriteErrors),
    security(("accountSid_authToken" = [])))]
async fn delete_sink(
    State(state): State<AppState>,
    caller: Caller,
    Path(sid): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let row = fetch_row(&state, caller.account(), &sid).await?;
    let cmd = command_id(&headers, caller.account(), &format!("DeleteSink:{}", row.sink_sid));
    state.commands.delete_sink(cmd, caller.account(), &row.sink_sid).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The answer of Test and Validate.
#[derive(Debug, Serialize, ToSchema)]
pub struct SinkResult {
    /// `submitted` (Test) or `valid` (Validate).
    pub result: String,
}

/// Sends a test event to the Sink; its `data.test_id` validates the Sink.
#[utoipa::path(post, path = "/v1/Sinks/{Sid}/Test", tag = "EventStreams", operation_id = "CreateSinkTest",
    params(("Sid" = String, Path, description = "The SID of the Sink")),
    responses((status = 201, body = SinkResult), Errors, WriteErrors),
    security(("accountSid_authToken" = [])))]
async fn test_sink(
    State(state): State<AppState>,
    caller: Caller,
    Path(sid): Path<String>,
    headers: HeaderMap,
) -> Result<(StatusCode, Json<SinkResult>), ApiError> {
    let row = fetch_row(&state, caller.account(), &sid).await?;
    let cmd = command_id(&headers, caller.account(), &format!("TestSink:{}", row.sink_sid));
    state.commands.test_sink(cmd, caller.account(), &row.sink_sid).await?;
    Ok((StatusCode::CREATED, Json(SinkResult { result: "submitted".into() })))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ValidateSinkParams {
    /// The `test_id` of the test event the Sink received.
    pub test_id: Option<String>,
}

/// Validates a Sink with the id of the test event it received; the Sink becomes `active`.
#[utoipa::path(post, path = "/v1/Sinks/{Sid}/Validate", tag = "EventStreams", operation_id = "CreateSinkValidate",
    params(("Sid" = String, Path, description = "The SID of the Sink")),
    request_body(content = ValidateSinkParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 201, body = SinkResult), Errors, WriteErrors),
    security(("accountSid_authToken" = [])))]
async fn validate_sink(
    State(state): State<AppState>,
    caller: Caller,
    Path(sid): Path<String>,
    headers: HeaderMap,
    Form(p): Form<ValidateSinkParams>,
) -> Result<(StatusCode, Json<SinkResult>), ApiError> {
    let test_id = p.test_id.ok_or_else(|| ApiError::missing("TestId", true))?;
    let row = fetch_row(&state, caller.account(), &sid).await?;
    let cmd = command_id(&headers, caller.account(), &format!("ValidateSink:{}:{test_id}", row.sink_sid));
    state.commands.validate_sink(cmd, caller.account(), &row.sink_sid, &test_id).await?;
    Ok((StatusCode::CREATED, Json(SinkResult { result: "valid".into() })))
}

/// simledger's own: where a Sink's delivery stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct SinkDelivery {
    pub sink_sid: String,
    /// Every subscribed event at or below this log position was acknowledged by the receiver.
    pub position: i64,
    /// The log's head: `head - position` bounds what is still to deliver.
    pub head: i64,
    pub delivered: i64,
    pub failures: i64,
    pub failed: bool,
    pub last_error: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_delivered_at: Option<chrono::DateTime<chrono::Utc>>,
    pub url: String,
}

async fn delivery(state: &AppState, origin: &str, account: &str, sid: &str) -> Result<SinkDelivery, ApiError> {
    let row = fetch_row(state, account, sid).await?;
    let status = cursor::status(state.pool(), account, &row.sink_sid).await?;
    let head = state.log().head().await?;
    let url = format!("{origin}/v1/Sinks/{}/Delivery", row.sink_sid);
    Ok(match status {
        Some(s) => SinkDelivery {
            sink_sid: s.sink_sid,
            position: s.position,
            head,
            delivered: s.delivered,
            failures: s.failures,
            failed: s.failed,
            last_error: s.last_error,
            last_delivered_at: s.last_delivered_at,
            url,
        },
        None => SinkDelivery {
            sink_sid: row.sink_sid,
            position: 0,
            head,
            delivered: 0,
            failures: 0,
            failed: false,
            last_error: None,
            last_delivered_at: None,
            url,
        },
    })
}

/// simledger's own, not Twilio's: the Sink's delivery cursor and figures.
#[utoipa::path(get, path = "/v1/Sinks/{Sid}/Delivery", tag = "EventStreams", operation_id = "FetchSinkDelivery",
    params(("Sid" = String, Path, description = "The SID of the Sink")),
    responses((status = 200, body = SinkDelivery), Errors),
    security(("accountSid_authToken" = [])))]
async fn fetch_delivery(
    State(state): State<AppState>,
    caller: Caller,
    Origin(origin): Origin,
    Path(sid): Path<String>,
) -> Result<Json<SinkDelivery>, ApiError> {
    Ok(Json(delivery(&state, &origin, caller.account(), &sid).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct MoveDeliveryParams {
    /// Redeliver every subscribed event after this log position.
    pub position: Option<i64>,
    /// Redeliver every subscribed event recorded at or after this time (ISO 8601).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub time: Option<chrono::DateTime<chrono::Utc>>,
}

/// simledger's own, not Twilio's: rewinds the Sink to a log position or a time, so everything
/// of its subscription from there is delivered again (or skips ahead, up to the log's head).
#[utoipa::path(post, path = "/v1/Sinks/{Sid}/Delivery", tag = "EventStreams", operation_id = "UpdateSinkDelivery",
    params(("Sid" = String, Path, description = "The SID of the Sink")),
    request_body(content = MoveDeliveryParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = SinkDelivery), Errors, WriteErrors),
    security(("accountSid_authToken" = [])))]
async fn move_delivery(
    State(state): State<AppState>,
    caller: Caller,
    Origin(origin): Origin,
    Path(sid): Path<String>,
    Form(p): Form<MoveDeliveryParams>,
) -> Result<Json<SinkDelivery>, ApiError> {
    let row = fetch_row(&state, caller.account(), &sid).await?;
    let head = state.log().head().await?;
    let position = match (p.position, p.time) {
        (Some(n), None) if (0..=head).contains(&n) => n,
        (Some(_), None) => {
            return Err(ApiError::invalid(format!("Position must be between 0 and the log's head, {head}")))
        }
        (None, Some(t)) => state.log().position_before(t).await?,
        _ => return Err(ApiError::invalid("Give exactly one of Position and Time")),
    };
    if cursor::rewind(state.pool(), caller.account(), &row.sink_sid, position).await?.is_none() {
        return Err(ApiError::Conflict("The sink has not started delivering yet: subscribe it first".into()));
    }
    Ok(Json(delivery(&state, &origin, caller.account(), &sid).await?))
}
