//! `/v1/Subscriptions` and their `SubscribedEvents`: which events go to which sink.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use simledger_commands::TypeRequest;
use simledger_projections::event_streams::read::{self, SubscribedEventRow, SubscriptionRow};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{command_id, Caller, Form, Listing, Origin};
use crate::v1::paging::{list_envelope, meta, NoFilters, PagingParams};
use crate::v1::{twilio_time, Errors, WriteErrors};
use crate::{ApiError, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_subscription, list_subscriptions))
        .routes(routes!(fetch_subscription, update_subscription, delete_subscription))
        .routes(routes!(create_subscribed_event, list_subscribed_events))
        .routes(routes!(fetch_subscribed_event, update_subscribed_event, delete_subscribed_event))
}

/// A Subscription: the event types delivered to one sink.
#[derive(Debug, Serialize, ToSchema)]
pub struct Subscription {
    pub account_sid: String,
    pub sid: String,
    #[serde(serialize_with = "twilio_time")]
    #[schema(value_type = String, format = DateTime)]
    pub date_created: chrono::DateTime<chrono::Utc>,
    #[serde(serialize_with = "twilio_time")]
    #[schema(value_type = String, format = DateTime)]
    pub date_updated: chrono::DateTime<chrono::Utc>,
    pub description: String,
    pub sink_sid: String,
    pub url: String,
    pub links: SubscriptionLinks,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionLinks {
    pub subscribed_events: String,
}

impl Subscription {
    fn from_row(origin: &str, r: SubscriptionRow) -> Self {
        let url = format!("{origin}/v1/Subscriptions/{}", r.subscription_sid);
        Self {
            links: SubscriptionLinks { subscribed_events: format!("{url}/SubscribedEvents") },
            url,
            account_sid: r.account_sid,
            sid: r.subscription_sid,
            date_created: r.date_created,
            date_updated: r.date_updated,
            description: r.description,
            sink_sid: r.sink_sid,
        }
    }
}

/// A type a Subscription delivers, in a schema version.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubscribedEvent {
    pub account_sid: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub schema_version: i32,
    pub subscription_sid: String,
    pub url: String,
}

impl SubscribedEvent {
    fn from_row(origin: &str, r: SubscribedEventRow) -> Self {
        Self {
            url: format!("{origin}/v1/Subscriptions/{}/SubscribedEvents/{}", r.subscription_sid, r.event_type),
            account_sid: r.account_sid,
            event_type: r.event_type,
            schema_version: r.schema_version,
            subscription_sid: r.subscription_sid,
        }
    }
}

list_envelope!(SubscriptionPage, subscriptions, Subscription);
list_envelope!(SubscribedEventPage, types, SubscribedEvent);

async fn fetch_row(state: &AppState, account: &str, sid: &str) -> Result<SubscriptionRow, ApiError> {
    read::subscription(state.pool(), account, sid)
        .await?
        .ok_or_else(|| ApiError::not_found(format_args!("/v1/Subscriptions/{sid}")))
}

/// One `Types` value: a JSON object `{"type": …, "schema_version": N}` (Twilio sends each as a
/// repeated form field).
fn type_request(json: &str) -> Result<TypeRequest, ApiError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Wire {
        #[serde(rename = "type")]
        event_type: String,
        schema_version: Option<i32>,
    }
    let wire: Wire = serde_json::from_str(json).map_err(|_| {
        ApiError::invalid("Each Types value must be a JSON object {\"type\": …, \"schema_version\": N}")
    })?;
    Ok(TypeRequest { event_type: wire.event_type, schema_version: wire.schema_version })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CreateSubscriptionParams {
    pub description: Option<String>,
    /// The active Sink (of this account) to deliver to.
    pub sink_sid: Option<String>,
    /// Repeated: each a JSON object `{"type": …, "schema_version": N}`; the version defaults to
    /// the latest (for Twilio's connection events, Twilio's latest, 2: simledger's 3 adds the
    /// breakout region and PGW).
    #[serde(default)]
    pub types: Vec<String>,
}

/// Creates a Subscription: from now on, events of its types go to its sink.
#[utoipa::path(post, path = "/v1/Subscriptions", tag = "EventStreams", operation_id = "CreateSubscription",
    request_body(content = CreateSubscriptionParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 201, body = Subscription), Errors, WriteErrors),
    security(("accountSid_authToken" = [])))]
async fn create_subscription(
    State(state): State<AppState>,
    caller: Caller,
    Origin(origin): Origin,
    headers: HeaderMap,
    Form(p): Form<CreateSubscriptionParams>,
) -> Result<(StatusCode, Json<Subscription>), ApiError> {
    let description = p.description.ok_or_else(|| ApiError::missing("Description", true))?;
    let sink_sid = p.sink_sid.ok_or_else(|| ApiError::missing("SinkSid", true))?;
    if p.types.is_empty() {
        return Err(ApiError::missing("Types", true));
    }
    let types = p.types.iter().map(|t| type_request(t)).collect::<Result<Vec<_>, _>>()?;
    let cmd = command_id(&headers, caller.account(), "CreateSubscription");
    let sid = state.commands.create_subscription(cmd, caller.account(), &description, &sink_sid, &types).await?;
    Ok((StatusCode::CREATED, Json(Subscription::from_row(&origin, fetch_row(&state, caller.account(), &sid).await?))))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SubscriptionFilterParams {
    /// Only the Subscription of this Sink.
    pub sink_sid: Option<String>,
}

/// Lists the account's Subscriptions.
#[utoipa::path(get, path = "/v1/Subscriptions", tag = "EventStreams", operation_id = "ListSubscription",
    params(SubscriptionFilterParams, PagingParams),
    responses((status = 200, body = SubscriptionPage), Errors),
    security(("accountSid_authToken" = [])))]
async fn list_subscriptions(
    State(state): State<AppState>,
    caller: Caller,
    Origin(origin): Origin,
    list: Listing<SubscriptionFilterParams>,
) -> Result<Json<SubscriptionPage>, ApiError> {
    let rows =
        read::subscriptions(state.pool(), caller.account(), list.filter.sink_sid.as_deref(), &list.paging.query())
            .await?;
    let meta =
        meta(&origin, "/v1/Subscriptions", &list.echoed, &list.paging, &rows, |r| &r.subscription_sid, "subscriptions");
    let subscriptions = rows.items.into_iter().map(|r| Subscription::from_row(&origin, r)).collect();
    Ok(Json(SubscriptionPage { subscriptions, meta }))
}

/// Fetches a Subscription.
#[utoipa::path(get, path = "/v1/Subscriptions/{Sid}", tag = "EventStreams", operation_id = "FetchSubscription",
    params(("Sid" = String, Path, description = "The SID of the Subscription")),
    responses((status = 200, body = Subscription), Errors),
    security(("accountSid_authToken" = [])))]
async fn fetch_subscription(
    State(state): State<AppState>,
    caller: Caller,
    Origin(origin): Origin,
    Path(sid): Path<String>,
) -> Result<Json<Subscription>, ApiError> {
    Ok(Json(Subscription::from_row(&origin, fetch_row(&state, caller.account(), &sid).await?)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct UpdateSubscriptionParams {
    pub description: Option<String>,
}

/// Updates a Subscription's description.
#[utoipa::path(post, path = "/v1/Subscriptions/{Sid}", tag = "EventStreams", operation_id = "UpdateSubscription",
    params(("Sid" = String, Path, description = "The SID of the Subscription")),
    request_body(content = UpdateSubscriptionParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = Subscription), Errors, WriteErrors),
    security(("accountSid_authToken" = [])))]
async fn update_subscription(
    State(state): State<AppState>,
    caller: Caller,
    Origin(origin): Origin,
    Path(sid): Path<String>,
    headers: HeaderMap,
    Form(p): Form<UpdateSubscriptionParams>,
) -> Result<Json<Subscription>, ApiError> {
    let row = fetch_row(&state, caller.account(), &sid).await?;
    if let Some(description) = p.description {
        let cmd = command_id(&headers, caller.account(), &format!("UpdateSubscription:{}", row.subscription_sid));
        state.commands.update_subscription(cmd, caller.account(), &row.subscription_sid, &description).await?;
    }
    Ok(Json(Subscription::from_row(&origin, fetch_row(&state, caller.account(), &sid).await?)))
}

/// Deletes a Subscription: its sink receives nothing more.
#[utoipa::path(delete, path = "/v1/Subscriptions/{Sid}", tag = "EventStreams", operation_id = "DeleteSubscription",
    params(("Sid" = String, Path, description = "The SID of the Subscription")),
    responses((status = 204, description = "Deleted"), Errors, WriteErrors),
    security(("accountSid_authToken" = [])))]
async fn delete_subscription(
    State(state): State<AppState>,
    caller: Caller,
    Path(sid): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let row = fetch_row(&state, caller.account(), &sid).await?;
    let cmd = command_id(&headers, caller.account(), &format!("DeleteSubscription:{}", row.subscription_sid));
    state.commands.delete_subscription(cmd, caller.account(), &row.subscription_sid).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CreateSubscribedEventParams {
    /// The event type to add.
    #[serde(rename = "Type")]
    pub event_type: Option<String>,
    /// Its schema version; the latest when left out.
    pub schema_version: Option<i32>,
}

/// Adds a type to a Subscription.
#[utoipa::path(post, path = "/v1/Subscriptions/{SubscriptionSid}/SubscribedEvents", tag = "EventStreams",
    operation_id = "CreateSubscribedEvent",
    params(("SubscriptionSid" = String, Path, description = "The SID of the Subscription")),
    request_body(content = CreateSubscribedEventParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 201, body = SubscribedEvent), Errors, WriteErrors),
    security(("accountSid_authToken" = [])))]
async fn create_subscribed_event(
    State(state): State<AppState>,
    caller: Caller,
    Origin(origin): Origin,
    Path(sid): Path<String>,
    headers: HeaderMap,
    Form(p): Form<CreateSubscribedEventParams>,
) -> Result<(StatusCode, Json<SubscribedEvent>), ApiError> {
    let event_type = p.event_type.ok_or_else(|| ApiError::missing("Type", true))?;
    let row = fetch_row(&state, caller.account(), &sid).await?;
    let request = TypeRequest { event_type, schema_version: p.schema_version };
    let cmd = command_id(&headers, caller.account(), &format!("AddSubscribedEvent:{}", row.subscription_sid));
    let set = state.commands.set_subscribed_event(cmd, caller.account(), &row.subscription_sid, &request, true).await?;
    let fetched = fetch_subscribed(&state, caller.account(), &row.subscription_sid, &set.event_type).await?;
    Ok((StatusCode::CREATED, Json(SubscribedEvent::from_row(&origin, fetched))))
}

async fn fetch_subscribed(
    state: &AppState,
    account: &str,
    subscription: &str,
    event_type: &str,
) -> Result<SubscribedEventRow, ApiError> {
    read::subscribed_event(state.pool(), account, subscription, event_type).await?.ok_or_else(|| {
        ApiError::not_found(format_args!("/v1/Subscriptions/{subscription}/SubscribedEvents/{event_type}"))
    })
}

/// Lists a Subscription's types.
#[utoipa::path(get, path = "/v1/Subscriptions/{SubscriptionSid}/SubscribedEvents", tag = "EventStreams",
    operation_id = "ListSubscribedEvent",
    params(("SubscriptionSid" = String, Path, description = "The SID of the Subscription"), PagingParams),
    responses((status = 200, body = SubscribedEventPage), Errors),
    security(("accountSid_authToken" = [])))]
async fn list_subscribed_events(
    State(state): State<AppState>,
    caller: Caller,
    Origin(origin): Origin,
    Path(sid): Path<String>,
    list: Listing<NoFilters>,
) -> Result<Json<SubscribedEventPage>, ApiError> {
    let row = fetch_row(&state, caller.account(), &sid).await?;
    let rows =
        read::subscribed_events(state.pool(), caller.account(), &row.subscription_sid, &list.paging.query()).await?;
    let path = format!("/v1/Subscriptions/{}/SubscribedEvents", row.subscription_sid);
    let meta = meta(&origin, &path, &list.echoed, &list.paging, &rows, |r| &r.event_type, "types");
    Ok(Json(SubscribedEventPage {
        types: rows.items.into_iter().map(|r| SubscribedEvent::from_row(&origin, r)).collect(),
        meta,
    }))
}

/// Fetches one of a Subscription's types.
#[utoipa::path(get, path = "/v1/Subscriptions/{SubscriptionSid}/SubscribedEvents/{Type}", tag = "EventStreams",
    operation_id = "FetchSubscribedEvent",
    params(("SubscriptionSid" = String, Path, description = "The SID of the Subscription"),
           ("Type" = String, Path, description = "The event type")),
    responses((status = 200, body = SubscribedEvent), Errors),
    security(("accountSid_authToken" = [])))]
async fn fetch_subscribed_event(
    State(state): State<AppState>,
    caller: Caller,
    Origin(origin): Origin,
    Path((sid, event_type)): Path<(String, String)>,
) -> Result<Json<SubscribedEvent>, ApiError> {
    let row = fetch_row(&state, caller.account(), &sid).await?;
    Ok(Json(SubscribedEvent::from_row(
        &origin,
        fetch_subscribed(&state, caller.account(), &row.subscription_sid, &event_type).await?,
    )))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct UpdateSubscribedEventParams {
    /// The schema version to deliver the type in; the latest when left out.
    pub schema_version: Option<i32>,
}

/// Changes the schema version a Subscription's type is delivered in.
#[utoipa::path(post, path = "/v1/Subscriptions/{SubscriptionSid}/SubscribedEvents/{Type}", tag = "EventStreams",
    operation_id = "UpdateSubscribedEvent",
    params(("SubscriptionSid" = String, Path, description = "The SID of the Subscription"),
           ("Type" = String, Path, description = "The event type")),
    request_body(content = UpdateSubscribedEventParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = SubscribedEvent), Errors, WriteErrors),
    security(("accountSid_authToken" = [])))]
async fn update_subscribed_event(
    State(state): State<AppState>,
    caller: Caller,
    Origin(origin): Origin,
    Path((sid, event_type)): Path<(String, String)>,
    headers: HeaderMap,
    Form(p): Form<UpdateSubscribedEventParams>,
) -> Result<Json<SubscribedEvent>, ApiError> {
    let row = fetch_row(&state, caller.account(), &sid).await?;
    fetch_subscribed(&state, caller.account(), &row.subscription_sid, &event_type).await?;
    let request = TypeRequest { event_type: event_type.clone(), schema_version: p.schema_version };
    let cmd =
        command_id(&headers, caller.account(), &format!("SetSubscribedEvent:{}:{event_type}", row.subscription_sid));
    state.commands.set_subscribed_event(cmd, caller.account(), &row.subscription_sid, &request, false).await?;
    Ok(Json(SubscribedEvent::from_row(
        &origin,
        fetch_subscribed(&state, caller.account(), &row.subscription_sid, &event_type).await?,
    )))
}

/// Removes a type from a Subscription.
#[utoipa::path(delete, path = "/v1/Subscriptions/{SubscriptionSid}/SubscribedEvents/{Type}", tag = "EventStreams",
    operation_id = "DeleteSubscribedEvent",
    params(("SubscriptionSid" = String, Path, description = "The SID of the Subscription"),
           ("Type" = String, Path, description = "The event type")),
    responses((status = 204, description = "Deleted"), Errors, WriteErrors),
    security(("accountSid_authToken" = [])))]
async fn delete_subscribed_event(
    State(state): State<AppState>,
    caller: Caller,
    Path((sid, event_type)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let row = fetch_row(&state, caller.account(), &sid).await?;
    fetch_subscribed(&state, caller.account(), &row.subscription_sid, &event_type).await?;
    let cmd =
        command_id(&headers, caller.account(), &format!("RemoveSubscribedEvent:{}:{event_type}", row.subscription_sid));
    state.commands.remove_subscribed_event(cmd, caller.account(), &row.subscription_sid, &event_type).await?;
    Ok(StatusCode::NO_CONTENT)
}
