//! `/v1/Types` and `/v1/Schemas`: the catalog of event types a subscription may name, and the
//! JSON Schemas of what is delivered (`simledger_eventlog::stream_types`).

use axum::extract::Path;
use axum::Json;
use serde::{Deserialize, Serialize};
use simledger_eventlog::stream_types::{self, Schema as CatalogSchema, StreamType};
use simledger_projections::read::page_in_memory;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::{Caller, Listing, Origin};
use crate::v1::paging::{list_envelope, meta, NoFilters, PagingParams};
use crate::v1::Errors;
use crate::{ApiError, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_types))
        .routes(routes!(fetch_type))
        .routes(routes!(fetch_schema))
        .routes(routes!(list_schema_versions))
        .routes(routes!(fetch_schema_version))
        .routes(routes!(fetch_schema_document))
}

/// When the catalog was published (the types carry no dates of their own).
const CATALOG_DATE: &str = "2026-11-30T00:00:00Z";

/// An event type a subscription may name.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventType {
    #[serde(rename = "type")]
    pub event_type: String,
    pub schema_id: String,
    pub date_created: String,
    pub date_updated: String,
    pub description: String,
    /// `available`.
    pub status: String,
    pub documentation_url: String,
    pub url: String,
    pub links: EventTypeLinks,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventTypeLinks {
    pub schema: String,
}

impl EventType {
    fn of(origin: &str, t: &StreamType) -> Self {
        Self {
            event_type: t.name.to_owned(),
            schema_id: t.schema_id.to_owned(),
            date_created: CATALOG_DATE.to_owned(),
            date_updated: CATALOG_DATE.to_owned(),
            description: t.description.to_owned(),
            status: "available".into(),
            documentation_url: format!("{origin}/docs"),
            url: format!("{origin}/v1/Types/{}", t.name),
            links: EventTypeLinks { schema: format!("{origin}/v1/Schemas/{}/Versions", t.schema_id) },
        }
    }
}

/// A JSON Schema of event data, in numbered versions.
#[derive(Debug, Serialize, ToSchema)]
pub struct Schema {
    pub id: String,
    pub url: String,
    pub links: SchemaLinks,
    pub latest_version_date_created: String,
    pub latest_version: i32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SchemaLinks {
    pub versions: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SchemaVersion {
    pub id: String,
    pub schema_version: i32,
    pub date_created: String,
    pub url: String,
    /// Where the JSON Schema document itself is served.
    pub raw: String,
}

fn version_of(origin: &str, schema: &CatalogSchema, v: &stream_types::SchemaVersion) -> SchemaVersion {
    let url = format!("{origin}/v1/Schemas/{}/Versions/{}", schema.id, v.version);
    SchemaVersion {
        id: schema.id.to_owned(),
        schema_version: v.version,
        date_created: v.date_created.to_owned(),
        raw: format!("{url}/Raw"),
        url,
    }
}

list_envelope!(EventTypePage, types, EventType);
list_envelope!(SchemaVersionPage, schema_versions, SchemaVersion);

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TypeFilterParams {
    /// Only the types of this schema.
    pub schema_id: Option<String>,
}

/// Lists the event types a subscription may name.
#[utoipa::path(get, path = "/v1/Types", tag = "EventStreams", operation_id = "ListEventType",
    params(TypeFilterParams, PagingParams),
    responses((status = 200, body = EventTypePage), Errors),
    security(("accountSid_authToken" = [])))]
async fn list_types(
    _caller: Caller,
    Origin(origin): Origin,
    list: Listing<TypeFilterParams>,
) -> Result<Json<EventTypePage>, ApiError> {
    let wanted = list.filter.schema_id.as_deref();
    let all: Vec<&StreamType> =
        stream_types::TYPES.iter().filter(|t| wanted.is_none_or(|s| t.schema_id == s)).collect();
    let rows = page_in_memory(all, |t| t.name, &list.paging.query());
    let meta = meta(&origin, "/v1/Types", &list.echoed, &list.paging, &rows, |t| t.name, "types");
    Ok(Json(EventTypePage { types: rows.items.into_iter().map(|t| EventType::of(&origin, t)).collect(), meta }))
}

/// Fetches an event type.
#[utoipa::path(get, path = "/v1/Types/{Type}", tag = "EventStreams", operation_id = "FetchEventType",
    params(("Type" = String, Path, description = "The event type")),
    responses((status = 200, body = EventType), Errors),
    security(("accountSid_authToken" = [])))]
async fn fetch_type(
    _caller: Caller,
    Origin(origin): Origin,
    Path(name): Path<String>,
) -> Result<Json<EventType>, ApiError> {
    let t = stream_types::by_name(&name).ok_or_else(|| ApiError::not_found(format_args!("/v1/Types/{name}")))?;
    Ok(Json(EventType::of(&origin, t)))
}

fn schema_or_404(id: &str) -> Result<&'static CatalogSchema, ApiError> {
    stream_types::schema(id).ok_or_else(|| ApiError::not_found(format_args!("/v1/Schemas/{id}")))
}

/// Fetches a schema.
#[utoipa::path(get, path = "/v1/Schemas/{Id}", tag = "EventStreams", operation_id = "FetchSchema",
    params(("Id" = String, Path, description = "The schema's id")),
    responses((status = 200, body = Schema), Errors),
    security(("accountSid_authToken" = [])))]
async fn fetch_schema(
    _caller: Caller,
    Origin(origin): Origin,
    Path(id): Path<String>,
) -> Result<Json<Schema>, ApiError> {
    let s = schema_or_404(&id)?;
    let url = format!("{origin}/v1/Schemas/{}", s.id);
    // A client that subscribes to the latest version it is told of gets Twilio's shape for
    // Twilio's schema; simledger's later versions are listed under Versions.
    let latest = s.version(s.default_version()).unwrap_or_else(|| s.latest());
    Ok(Json(Schema {
        id: s.id.to_owned(),
        links: SchemaLinks { versions: format!("{url}/Versions") },
        url,
        latest_version_date_created: latest.date_created.to_owned(),
        latest_version: latest.version,
    }))
}

/// Lists a schema's versions.
#[utoipa::path(get, path = "/v1/Schemas/{Id}/Versions", tag = "EventStreams", operation_id = "ListSchemaVersion",
    params(("Id" = String, Path, description = "The schema's id"), PagingParams),
    responses((status = 200, body = SchemaVersionPage), Errors),
    security(("accountSid_authToken" = [])))]
async fn list_schema_versions(
    _caller: Caller,
    Origin(origin): Origin,
    Path(id): Path<String>,
    list: Listing<NoFilters>,
) -> Result<Json<SchemaVersionPage>, ApiError> {
    let s = schema_or_404(&id)?;
    // Keys are the versions, zero-padded so that they sort as numbers.
    let all: Vec<(String, &stream_types::SchemaVersion)> =
        s.versions.iter().map(|v| (format!("{:010}", v.version), v)).collect();
    let rows = page_in_memory(all, |(k, _)| k, &list.paging.query());
    let path = format!("/v1/Schemas/{}/Versions", s.id);
    let meta = meta(&origin, &path, &list.echoed, &list.paging, &rows, |(k, _)| k, "schema_versions");
    let schema_versions = rows.items.into_iter().map(|(_, v)| version_of(&origin, s, v)).collect();
    Ok(Json(SchemaVersionPage { schema_versions, meta }))
}

fn version_or_404(
    id: &str,
    n: &str,
) -> Result<(&'static CatalogSchema, &'static stream_types::SchemaVersion), ApiError> {
    let s = schema_or_404(id)?;
    let v = n
        .parse::<i32>()
        .ok()
        .and_then(|n| s.version(n))
        .ok_or_else(|| ApiError::not_found(format_args!("/v1/Schemas/{id}/Versions/{n}")))?;
    Ok((s, v))
}

/// Fetches a schema version.
#[utoipa::path(get, path = "/v1/Schemas/{Id}/Versions/{SchemaVersion}", tag = "EventStreams",
    operation_id = "FetchSchemaVersion",
    params(("Id" = String, Path, description = "The schema's id"),
           ("SchemaVersion" = i32, Path, description = "The version")),
    responses((status = 200, body = SchemaVersion), Errors),
    security(("accountSid_authToken" = [])))]
async fn fetch_schema_version(
    _caller: Caller,
    Origin(origin): Origin,
    Path((id, n)): Path<(String, String)>,
) -> Result<Json<SchemaVersion>, ApiError> {
    let (s, v) = version_or_404(&id, &n)?;
    Ok(Json(version_of(&origin, s, v)))
}

/// simledger's own: the JSON Schema document of a schema version (what `raw` points at).
#[utoipa::path(get, path = "/v1/Schemas/{Id}/Versions/{SchemaVersion}/Raw", tag = "EventStreams",
    operation_id = "FetchSchemaVersionDocument",
    params(("Id" = String, Path, description = "The schema's id"),
           ("SchemaVersion" = i32, Path, description = "The version")),
    responses((status = 200, description = "A JSON Schema (draft 2020-12)", body = Object), Errors),
    security(("accountSid_authToken" = [])))]
async fn fetch_schema_document(
    _caller: Caller,
    Path((id, n)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (_, v) = version_or_404(&id, &n)?;
    let doc = serde_json::from_str(v.document).map_err(|e| ApiError::Internal(Box::new(e)))?;
    Ok(Json(doc))
}
