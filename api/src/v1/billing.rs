//! `/v1/Billing/Cdrs`: the account's CDRs in CGrateS's field names, in order-ID order, with
//! CGrateS's filters (`OrderIDStart` inclusive, `OrderIDEnd` exclusive) and keyset paging.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use simledger_projections::cdrs::read::{self, CdrFilter, CdrRow};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::paging::{list_envelope, meta, PagingParams};
use super::Errors;
use crate::extract::{Caller, Listing, Origin};
use crate::{ApiError, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_cdrs))
        .routes(routes!(create_exporter, list_exporters))
        .routes(routes!(run_exporter))
}

/// A CDR exporter (CGrateS's `ees.exporters`, `*file_csv`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ExporterResource {
    pub id: String,
    /// `*file_csv`.
    #[serde(rename = "type")]
    pub kind: String,
    pub export_path: String,
    pub filters: Vec<String>,
    pub field_separator: String,
    pub header: bool,
    pub last_exported_order_id: i64,
}

impl From<simledger_exporters::cdr_export::Exporter> for ExporterResource {
    fn from(e: simledger_exporters::cdr_export::Exporter) -> Self {
        Self {
            id: e.id,
            kind: e.kind,
            export_path: e.export_path,
            filters: e.filters,
            field_separator: e.field_separator,
            header: e.header,
            last_exported_order_id: e.last_exported_order_id,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExporterList {
    pub exporters: Vec<ExporterResource>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CreateExporterParams {
    pub id: Option<String>,
    /// `*file_csv`.
    pub r#type: Option<String>,
    /// A folder the server can write to.
    pub export_path: Option<String>,
    /// Repeatable; `*string:~*req.ToR:*data` or `*string:~*req.ToR:*sms`.
    #[serde(default)]
    pub filters: Vec<String>,
    /// One character; default `,`.
    pub field_separator: Option<String>,
    /// Whether each file starts with a header row; default true.
    pub header: Option<bool>,
}

fn export_error(e: simledger_exporters::cdr_export::ExportError) -> ApiError {
    use simledger_exporters::cdr_export::ExportError as E;
    match e {
        E::NotFound(id) => ApiError::not_found(format_args!("/v1/Billing/Exporters/{id}")),
        E::Invalid(m) => ApiError::invalid(m),
        E::Io { .. } | E::S3(_) => ApiError::Unavailable(e.to_string()),
        E::Database(d) => d.into(),
        E::EventLog(l) => l.into(),
    }
}

/// Creates a CDR exporter whose cursor starts before the first CDR.
#[utoipa::path(post, path = "/v1/Billing/Exporters", tag = "Billing", operation_id = "CreateExporter",
    request_body(content = CreateExporterParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 201, body = ExporterResource), Errors, super::WriteErrors),
    security(("accountSid_authToken" = [])))]
async fn create_exporter(
    State(state): State<AppState>,
    caller: Caller,
    crate::extract::Form(p): crate::extract::Form<CreateExporterParams>,
) -> Result<(axum::http::StatusCode, Json<ExporterResource>), ApiError> {
    let exporter = simledger_exporters::cdr_export::Exporter {
        id: p.id.ok_or_else(|| ApiError::missing("Id", true))?,
        kind: p.r#type.unwrap_or_else(|| "*file_csv".into()),
        export_path: p.export_path.ok_or_else(|| ApiError::missing("ExportPath", true))?,
        filters: p.filters,
        field_separator: p.field_separator.unwrap_or_else(|| ",".into()),
        header: p.header.unwrap_or(true),
        last_exported_order_id: 0,
    };
    simledger_exporters::cdr_export::create(state.pool(), caller.account(), &exporter).await.map_err(export_error)?;
    Ok((axum::http::StatusCode::CREATED, Json(exporter.into())))
}

/// Lists the account's CDR exporters with their cursors.
#[utoipa::path(get, path = "/v1/Billing/Exporters", tag = "Billing", operation_id = "ListExporters",
    responses((status = 200, body = ExporterList), Errors),
    security(("accountSid_authToken" = [])))]
async fn list_exporters(State(state): State<AppState>, caller: Caller) -> Result<Json<ExporterList>, ApiError> {
    let exporters =
        simledger_exporters::cdr_export::list(state.pool(), caller.account()).await.map_err(export_error)?;
    Ok(Json(ExporterList { exporters: exporters.into_iter().map(Into::into).collect() }))
}

/// What a run exported, in CGrateS's verbose metrics.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunReportResource {
    #[serde(rename = "FirstExpOrderID")]
    pub first_order_id: Option<i64>,
    #[serde(rename = "LastExpOrderID")]
    pub last_order_id: Option<i64>,
    #[serde(rename = "NumberOfEvents")]
    pub events: i64,
    #[serde(rename = "TotalCost")]
    pub total_cost: String,
    #[serde(rename = "TotalDataUsage")]
    pub data_usage: i64,
    #[serde(rename = "TotalSMSUsage")]
    pub sms_usage: i64,
    #[serde(rename = "FilePath")]
    pub file_path: Option<String>,
}

/// Runs an exporter now: every CDR after its cursor, into one file.
#[utoipa::path(post, path = "/v1/Billing/Exporters/{Id}/Runs", tag = "Billing", operation_id = "RunExporter",
    params(("Id" = String, Path, description = "The exporter's ID")),
    responses((status = 201, body = RunReportResource), Errors,
        (status = 503, body = crate::error::TwilioError, description = "The export path cannot be written")),
    security(("accountSid_authToken" = [])))]
async fn run_exporter(
    State(state): State<AppState>,
    caller: Caller,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<(axum::http::StatusCode, Json<RunReportResource>), ApiError> {
    let r = simledger_exporters::cdr_export::run(state.pool(), state.log().shard(), caller.account(), &id)
        .await
        .map_err(export_error)?;
    Ok((
        axum::http::StatusCode::CREATED,
        Json(RunReportResource {
            first_order_id: r.first_order_id,
            last_order_id: r.last_order_id,
            events: r.events,
            total_cost: r.total_cost,
            data_usage: r.data_usage,
            sms_usage: r.sms_usage,
            file_path: r.file_path,
        }),
    ))
}

/// A CDR, as CGrateS names its fields.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct Cdr {
    #[serde(rename = "CGRID")]
    pub cgrid: String,
    #[serde(rename = "RunID")]
    pub run_id: String,
    /// The log position of the event that closed the CDR.
    #[serde(rename = "OrderID")]
    pub order_id: i64,
    pub origin_host: String,
    pub source: String,
    #[serde(rename = "OriginID")]
    pub origin_id: String,
    /// `*data` or `*sms`.
    #[serde(rename = "ToR")]
    pub tor: String,
    pub request_type: String,
    pub tenant: String,
    pub category: String,
    pub account: String,
    pub subject: String,
    pub destination: String,
    #[schema(value_type = String, format = DateTime)]
    pub setup_time: DateTime<Utc>,
    #[schema(value_type = String, format = DateTime)]
    pub answer_time: DateTime<Utc>,
    /// Bytes for `*data`, messages for `*sms`.
    pub usage: i64,
    /// Decimal string; `-1` when unrated.
    pub cost: String,
    #[schema(value_type = Object)]
    pub extra_fields: serde_json::Value,
    pub extra_info: Option<String>,
}

impl From<CdrRow> for Cdr {
    fn from(r: CdrRow) -> Self {
        Self {
            cgrid: r.cgrid,
            run_id: r.run_id,
            order_id: r.order_id,
            origin_host: r.origin_host,
            source: r.source,
            origin_id: r.origin_id,
            tor: r.tor,
            request_type: r.request_type,
            tenant: r.tenant,
            category: r.category,
            account: r.account,
            subject: r.subject,
            destination: r.destination,
            setup_time: r.setup_time,
            answer_time: r.answer_time,
            usage: r.usage,
            cost: r.cost.normalize().to_string(),
            extra_fields: r.extra_fields,
            extra_info: r.extra_info,
        }
    }
}

list_envelope!(CdrPage, cdrs, Cdr);

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
pub enum Tor {
    #[serde(rename = "*data")]
    Data,
    #[serde(rename = "*sms")]
    Sms,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CdrFilterParams {
    /// A SIM's SID.
    pub account: Option<String>,
    #[serde(rename = "ToR")]
    #[param(inline, rename = "ToR")]
    pub tor: Option<Tor>,
    #[param(value_type = Option<String>, format = DateTime)]
    pub setup_time_start: Option<DateTime<Utc>>,
    #[param(value_type = Option<String>, format = DateTime)]
    pub setup_time_end: Option<DateTime<Utc>>,
    /// Inclusive.
    #[serde(rename = "OrderIDStart")]
    #[param(rename = "OrderIDStart", minimum = 0)]
    pub order_id_start: Option<i64>,
    /// Exclusive.
    #[serde(rename = "OrderIDEnd")]
    #[param(rename = "OrderIDEnd", minimum = 0)]
    pub order_id_end: Option<i64>,
}

/// Lists the account's CDRs in order-ID order.
#[utoipa::path(get, path = "/v1/Billing/Cdrs", tag = "Billing", operation_id = "ListCdrs",
    params(CdrFilterParams, PagingParams),
    responses((status = 200, body = CdrPage), Errors),
    security(("accountSid_authToken" = [])))]
async fn list_cdrs(
    State(state): State<AppState>,
    caller: Caller,
    Origin(origin): Origin,
    list: Listing<CdrFilterParams>,
) -> Result<Json<CdrPage>, ApiError> {
    let f = &list.filter;
    let filter = CdrFilter {
        account: f.account.clone(),
        tor: f.tor.map(|t| match t {
            Tor::Data => "*data".to_owned(),
            Tor::Sms => "*sms".to_owned(),
        }),
        setup_time_start: f.setup_time_start,
        setup_time_end: f.setup_time_end,
        order_id_start: f.order_id_start,
        order_id_end: f.order_id_end,
    };
    let rows = read::cdrs(state.pool(), caller.account(), &filter, &list.paging.query()).await?;
    let meta = meta(&origin, "/v1/Billing/Cdrs", &list.echoed, &list.paging, &rows, |r| &r.order_key, "cdrs");
    Ok(Json(CdrPage { cdrs: rows.items.into_iter().map(Cdr::from).collect(), meta }))
}
