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
use simledger_exporters::cdr_export::template::FieldTemplate;
use simledger_exporters::cdr_export::RunReport;

use crate::extract::{Caller, JsonBody, Listing, Origin};
use crate::{ApiError, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_cdrs, process_external_cdr))
        .routes(routes!(download_cdrs))
        .routes(routes!(create_exporter, list_exporters))
        .routes(routes!(delete_exporter))
        .routes(routes!(run_exporter))
}

/// A CDR exporter (CGrateS's `ees.exporters`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ExporterResource {
    pub id: String,
    /// `*file_csv`, `*file_json`, `*s3_csv`, `*s3_json_map`, or an online kind: `*http_post`,
    /// `*http_json_map`, `*nats_json_map`.
    #[serde(rename = "type")]
    pub kind: String,
    pub export_path: String,
    pub filters: Vec<String>,
    /// The field template; empty: every CDR field.
    pub fields: Vec<FieldTemplate>,
    pub field_separator: String,
    pub header: bool,
    pub schedule: Option<String>,
    /// Declared in the configuration file.
    pub declared: bool,
    pub last_exported_order_id: i64,
    /// `*nats_json_map`: through JetStream rather than plain NATS.
    pub nats_jetstream: bool,
    /// Online exporters: tries at one CDR before the exporter rests.
    pub attempts: i16,
}

impl From<simledger_exporters::cdr_export::Exporter> for ExporterResource {
    fn from(e: simledger_exporters::cdr_export::Exporter) -> Self {
        Self {
            id: e.id,
            kind: e.kind.to_string(),
            export_path: e.export_path,
            filters: e.filters,
            fields: e.fields,
            field_separator: e.field_separator,
            header: e.header,
            schedule: e.schedule,
            declared: e.declared,
            last_exported_order_id: e.last_exported_order_id,
            nats_jetstream: e.nats_jetstream,
            attempts: e.attempts,
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
    /// `*file_csv` (default), `*file_json` (JSON Lines), `*s3_csv` or `*s3_json_map`; online
    /// (each CDR sent as it is closed, signed, at least once): `*http_post` (a form),
    /// `*http_json_map` (a JSON map), `*nats_json_map` (a NATS message, `Nats-Msg-Id` the order ID).
    pub r#type: Option<String>,
    /// A folder the server can write to, `s3://bucket/prefix`, an `https://` URL, or
    /// `nats://host[:port]/subject`.
    pub export_path: Option<String>,
    /// Repeatable; CGrateS inline filters such as `*string:~*req.ToR:*sms`,
    /// `*prefix:~*req.Destination:44`, `*gte:~*req.SetupTime:2026-01-01T00:00:00Z`.
    #[serde(default)]
    pub filters: Vec<String>,
    /// The field template as a JSON array of `{tag, path, type, value, layout,
    /// rounding_decimals, filters}` (CGrateS's `fields`).
    pub fields: Option<String>,
    /// `*every:15m`, `*every_minute`, `*hourly`, `*daily` or `*month_end`.
    pub schedule: Option<String>,
    /// One character; default `,`.
    pub field_separator: Option<String>,
    /// Whether each file starts with a header row; default true.
    pub header: Option<bool>,
    /// `*nats_json_map`: publish through JetStream (acknowledged, deduplicated by
    /// `Nats-Msg-Id`) rather than plain NATS, CGrateS's `natsJetStream` (default false).
    pub nats_jet_stream: Option<bool>,
    /// Online exporters: tries at one CDR before the exporter rests (CGrateS's `attempts`,
    /// 1 to 10, default 3); a CDR is never skipped.
    #[schema(minimum = 1, maximum = 10)]
    pub attempts: Option<i64>,
}

pub(crate) fn export_error(e: simledger_exporters::cdr_export::ExportError) -> ApiError {
    use simledger_exporters::cdr_export::ExportError as E;
    match e {
        E::NotFound(id) => ApiError::not_found(format_args!("/v1/Billing/Exporters/{id}")),
        E::Invalid(m) => ApiError::invalid(m),
        E::Busy(id) => ApiError::Conflict(format!("Exporter {id} is already running; try again when it ends")),
        // The cause names server paths and storage internals: it goes to the operator's log.
        E::Io { .. } | E::S3(_) => {
            tracing::warn!(error = %e, "an export could not be written");
            ApiError::Unavailable("The export could not be written; try again later".into())
        }
        E::Database(d) => d.into(),
        E::EventLog(l) => l.into(),
        // Online exporters are not run here; a delivery failure is theirs to retry.
        E::Delivery { .. } => {
            tracing::warn!(error = %e, "an online export could not be delivered");
            ApiError::Unavailable("The CDR could not be delivered; it is sent again".into())
        }
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
    let fields = match p.fields.as_deref() {
        None | Some("") => Vec::new(),
        Some(json) => {
            serde_json::from_str(json).map_err(|e| ApiError::invalid(format!("Invalid parameter Fields: {e}")))?
        }
    };
    let exporter = simledger_exporters::cdr_export::Exporter {
        filters: p.filters,
        fields,
        field_separator: p.field_separator.unwrap_or_else(|| ",".into()),
        header: p.header.unwrap_or(true),
        schedule: p.schedule,
        nats_jetstream: p.nats_jet_stream.unwrap_or(false),
        attempts: simledger_exporters::cdr_export::attempts_given(p.attempts)
            .map_err(|why| ApiError::invalid(format!("Invalid parameter Attempts: {why}")))?,
        ..simledger_exporters::cdr_export::Exporter::new(
            p.id.ok_or_else(|| ApiError::missing("Id", true))?,
            match p.r#type.as_deref() {
                None | Some("") => simledger_exporters::cdr_export::ExporterKind::FileCsv,
                Some(kind) => kind.parse().map_err(export_error)?,
            },
            p.export_path.ok_or_else(|| ApiError::missing("ExportPath", true))?,
        )
    };
    let mut exporter = exporter;
    simledger_exporters::cdr_export::check_destination(&exporter, state.commands.destination_policy())
        .map_err(export_error)?;
    if caller.0.role != simledger_commands::Role::Operator {
        state.export_grants.confine(caller.account(), &mut exporter).map_err(export_error)?;
        simledger_exporters::cdr_export::check_signable(&state.accounts, caller.account(), &exporter)
            .await
            .map_err(export_error)?;
    }
    simledger_exporters::cdr_export::create(state.log(), caller.account(), &exporter).await.map_err(export_error)?;
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

/// Removes one of the account's exporters with its cursor (an exporter created again with the
/// ID starts before the first CDR). One the operator's configuration declares cannot be.
#[utoipa::path(delete, path = "/v1/Billing/Exporters/{Id}", tag = "Billing", operation_id = "DeleteExporter",
    params(("Id" = String, Path, description = "The exporter's ID")),
    responses((status = 204, description = "Removed"), Errors, super::WriteErrors),
    security(("accountSid_authToken" = [])))]
async fn delete_exporter(
    State(state): State<AppState>,
    caller: Caller,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<axum::http::StatusCode, ApiError> {
    simledger_exporters::cdr_export::remove(state.log(), caller.account(), &id).await.map_err(export_error)?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// Runs an exporter now: every CDR after its cursor, into one file.
#[utoipa::path(post, path = "/v1/Billing/Exporters/{Id}/Runs", tag = "Billing", operation_id = "RunExporter",
    params(("Id" = String, Path, description = "The exporter's ID")),
    responses((status = 201, body = RunReport), Errors,
        (status = 409, body = crate::error::TwilioError, description = "A run of this exporter is under way"),
        (status = 503, body = crate::error::TwilioError, description = "The export path cannot be written")),
    security(("accountSid_authToken" = [])))]
async fn run_exporter(
    State(state): State<AppState>,
    caller: Caller,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<(axum::http::StatusCode, Json<RunReport>), ApiError> {
    let report = run_export(&state, caller.account(), &id, false).await.map_err(export_error)?;
    Ok((axum::http::StatusCode::CREATED, Json(report)))
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
    /// `*data` or `*sms` from the core; external CDRs also `*voice`, `*mms`, `*generic`.
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
    /// Bytes for `*data`, messages for `*sms`, nanoseconds for `*voice`.
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
    #[serde(rename = "*voice")]
    Voice,
    #[serde(rename = "*mms")]
    Mms,
    #[serde(rename = "*generic")]
    Generic,
}

/// The query parameter's values, as OpenAPI lists them; the domain's type past the edge.
impl From<Tor> for simledger_billing::Tor {
    fn from(t: Tor) -> Self {
        match t {
            Tor::Data => Self::Data,
            Tor::Sms => Self::Sms,
            Tor::Voice => Self::Voice,
            Tor::Mms => Self::Mms,
            Tor::Generic => Self::Generic,
        }
    }
}

impl From<&CdrFilterParams> for CdrFilter {
    fn from(f: &CdrFilterParams) -> Self {
        CdrFilter {
            account: f.account.clone(),
            tor: f.tor.map(Into::into),
            setup_time_start: f.setup_time_start,
            setup_time_end: f.setup_time_end,
            order_id_start: f.order_id_start,
            order_id_end: f.order_id_end,
        }
    }
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
    let filter = CdrFilter::from(&list.filter);
    let rows = read::cdrs(state.pool(), caller.account(), &filter, &list.paging.query()).await?;
    let meta = meta(&origin, "/v1/Billing/Cdrs", &list.echoed, &list.paging, &rows, |r| &r.order_key, "cdrs");
    Ok(Json(CdrPage { cdrs: rows.items.into_iter().map(Cdr::from).collect(), meta }))
}

/// Records a CDR from outside the embedded core (CGrateS's `ExternalCDR`, as
/// `CDRsV1.ProcessExternalCDR` takes it), rated from the rate table unless `PreRated`. A CGRID
/// that was recorded before is refused with 409 and changes nothing.
#[utoipa::path(post, path = "/v1/Billing/Cdrs", tag = "Billing", operation_id = "CreateCdr",
    request_body(content = simledger_commands::ExternalCdrInput, content_type = "application/json"),
    responses((status = 201, body = Cdr), Errors, super::WriteErrors),
    security(("accountSid_authToken" = [])))]
async fn process_external_cdr(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(input): JsonBody<simledger_commands::ExternalCdrInput>,
) -> Result<(axum::http::StatusCode, Json<Cdr>), ApiError> {
    let done = state.commands.process_external_cdr(caller.account(), &input).await?;
    // The first of its runs (the only one unless the account set charger profiles).
    let (first, last) = (*done.order_ids.start(), *done.order_ids.end());
    let filter = CdrFilter { order_id_start: Some(first), order_id_end: Some(last + 1), ..Default::default() };
    let query = simledger_projections::read::PageQuery { size: 1, cursor: simledger_projections::read::Cursor::Start };
    let mut rows = read::cdrs(state.pool(), caller.account(), &filter, &query).await?;
    let cdr =
        rows.items.pop().ok_or_else(|| ApiError::Unavailable("the CDR is recorded but not visible yet".into()))?;
    Ok((axum::http::StatusCode::CREATED, Json(cdr.into())))
}

/// The account's CDRs matching the filters as one CSV document (a header row, then every CDR
/// field in order-ID order), streamed however many match.
#[utoipa::path(get, path = "/v1/Billing/Cdrs.csv", tag = "Billing", operation_id = "DownloadCdrs",
    params(CdrFilterParams),
    responses((status = 200, content_type = "text/csv", body = String, description = "CSV with a header row"), Errors),
    security(("accountSid_authToken" = [])))]
async fn download_cdrs(
    State(state): State<AppState>,
    caller: Caller,
    crate::extract::Query(filter): crate::extract::Query<CdrFilterParams>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let rx = simledger_exporters::cdr_export::download::csv(
        state.pool().clone(),
        caller.account().to_owned(),
        CdrFilter::from(&filter),
    );
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    let headers = [
        (axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8"),
        (axum::http::header::CONTENT_DISPOSITION, "attachment; filename=\"cdrs.csv\""),
    ];
    Ok((headers, axum::body::Body::from_stream(stream)).into_response())
}

/// Runs an exporter in a task of its own, so a caller that goes away does not cut a run short.
pub(crate) async fn run_export(
    state: &AppState,
    tenant: &str,
    id: &str,
    verbose: bool,
) -> Result<RunReport, simledger_exporters::cdr_export::ExportError> {
    let (pool, shard, tenant, id) = (state.pool().clone(), state.log().shard(), tenant.to_owned(), id.to_owned());
    tokio::spawn(async move { simledger_exporters::cdr_export::run_with(&pool, shard, &tenant, &id, verbose).await })
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}
