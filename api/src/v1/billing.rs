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
    OpenApiRouter::new().routes(routes!(list_cdrs))
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
