//! `/v1/UsageRecords`: data use summed from the `usage` projection, priced per MB by visited
//! country at the operator's rates (`POST /operator/Rates`).

use std::collections::HashMap;

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Duration, Months, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use simledger_eventlog::catalog::BreakoutRegion;
use simledger_projections::limits::BYTES_PER_MB;
use simledger_projections::usage::read::{self, UsageQuery};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::paging::{list_envelope, meta, page_slice, PagingParams};
use super::{fleet_filter, sim_filter, twilio_datetime as twilio, Errors};
use crate::extract::{Caller, Listing, Origin};
use crate::{ApiError, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_usage_records))
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UsagePeriod {
    #[schema(value_type = String, format = DateTime)]
    pub start_time: String,
    #[schema(value_type = String, format = DateTime)]
    pub end_time: String,
}

/// Data used in one period (and group).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UsageRecord {
    pub account_sid: String,
    pub sim_sid: Option<String>,
    pub network_sid: Option<String>,
    pub fleet_sid: Option<String>,
    pub iso_country: Option<String>,
    /// simledger's own: present when usage is grouped or filtered by breakout region.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breakout_region: Option<String>,
    pub period: UsagePeriod,
    pub data_upload: i64,
    pub data_download: i64,
    pub data_total: i64,
    /// The price of `data_total`, a decimal string (`"0.0300"`).
    pub data_total_billed: String,
    /// ISO 4217 currency of `data_total_billed`; null when no rate applies.
    pub billed_unit: Option<String>,
    /// Paging key; not part of Twilio's record.
    #[serde(skip)]
    key: String,
}

list_envelope!(UsageRecordPage, usage_records, UsageRecord);

#[derive(Debug, Clone, Copy, Deserialize, ToSchema, PartialEq, Eq)]
pub enum UsageGroup {
    #[serde(rename = "sim")]
    Sim,
    #[serde(rename = "fleet")]
    Fleet,
    #[serde(rename = "network")]
    Network,
    #[serde(rename = "isoCountry")]
    IsoCountry,
    /// simledger's own: by the region the data broke out in.
    #[serde(rename = "breakoutRegion")]
    BreakoutRegion,
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Granularity {
    Hour,
    Day,
    All,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UsageParams {
    /// SID or unique name of a SIM.
    pub sim: Option<String>,
    /// SID or unique name of a Fleet.
    pub fleet: Option<String>,
    /// `HW` SID of a visited network.
    pub network: Option<String>,
    /// ISO 3166-1 alpha-2 code of the visited country.
    pub iso_country: Option<String>,
    /// simledger's own: only data that broke out in this region (`us-east`, `eu-west`,
    /// `ap-southeast`).
    pub breakout_region: Option<String>,
    #[param(inline)]
    pub group: Option<UsageGroup>,
    /// Default `all`: one record for the whole window.
    #[param(inline)]
    pub granularity: Option<Granularity>,
    /// Inclusive; default one month before `EndTime`. Usage is kept per hour.
    #[param(value_type = Option<String>, format = DateTime)]
    pub start_time: Option<DateTime<Utc>>,
    /// Exclusive; default now.
    #[param(value_type = Option<String>, format = DateTime)]
    pub end_time: Option<DateTime<Utc>>,
}

/// Lists usage records.
#[utoipa::path(get, path = "/v1/UsageRecords", tag = "UsageRecords", operation_id = "ListUsageRecord",
    params(UsageParams, PagingParams),
    responses((status = 200, body = UsageRecordPage), Errors),
    security(("accountSid_authToken" = [])))]
async fn list_usage_records(
    State(state): State<AppState>,
    caller: Caller,
    Origin(origin): Origin,
    list: Listing<UsageParams>,
) -> Result<Json<UsageRecordPage>, ApiError> {
    let p = &list.filter;
    let end = p.end_time.unwrap_or_else(Utc::now);
    let start = p.start_time.unwrap_or_else(|| end.checked_sub_months(Months::new(1)).unwrap_or(end));
    if start >= end {
        return Err(ApiError::invalid("StartTime must be before EndTime"));
    }
    let account = caller.account();
    let sim_sid = sim_filter(state.pool(), account, p.sim.as_deref()).await?;
    let fleet_sid = fleet_filter(state.pool(), account, p.fleet.as_deref()).await?;
    let granularity = p.granularity.unwrap_or(Granularity::All);
    let group = p.group.map(|g| match g {
        UsageGroup::Sim => "sim",
        UsageGroup::Fleet => "fleet",
        UsageGroup::Network => "network",
        UsageGroup::IsoCountry => "isoCountry",
        UsageGroup::BreakoutRegion => "breakoutRegion",
    });
    let breakout_region = p
        .breakout_region
        .as_deref()
        .map(|r| r.parse::<BreakoutRegion>().map_err(|e| ApiError::invalid(format!("BreakoutRegion: {e}"))))
        .transpose()?
        .map(|r| r.as_str().to_owned());
    let query = UsageQuery {
        sim_sid: sim_sid.clone(),
        fleet_sid: fleet_sid.clone(),
        network_sid: p.network.clone(),
        iso_country: p.iso_country.clone(),
        breakout_region: breakout_region.clone(),
        group: group.map(str::to_owned),
        granularity: match granularity {
            Granularity::Hour => "hour",
            Granularity::Day => "day",
            Granularity::All => "all",
        }
        .to_owned(),
        start,
        end,
    };
    let rows = read::usage(state.pool(), account, &query).await?;
    let rates: HashMap<String, (Decimal, String)> =
        read::rates(state.pool()).await?.into_iter().map(|(c, price, cur)| (c, (price, cur))).collect();

    // One record per (period, group key); countries summed into it, each at its own price.
    let mut records: Vec<UsageRecord> = Vec::new();
    for r in rows {
        let key = format!("{}|{}", r.period_start.timestamp(), r.group_key.as_deref().unwrap_or(""));
        if records.last().is_none_or(|last| last.key != key) {
            let period_end = match granularity {
                Granularity::Hour => r.period_start + Duration::hours(1),
                Granularity::Day => r.period_start + Duration::days(1),
                Granularity::All => end,
            };
            let dim = |name: &str, filtered: &Option<String>| {
                if group == Some(name) {
                    r.group_key.clone()
                } else {
                    filtered.clone()
                }
            };
            records.push(UsageRecord {
                account_sid: account.to_owned(),
                sim_sid: dim("sim", &sim_sid),
                fleet_sid: dim("fleet", &fleet_sid),
                network_sid: dim("network", &p.network),
                iso_country: dim("isoCountry", &p.iso_country.as_ref().map(|c| c.to_uppercase())),
                breakout_region: dim("breakoutRegion", &breakout_region),
                period: UsagePeriod { start_time: twilio(r.period_start), end_time: twilio(period_end) },
                data_upload: 0,
                data_download: 0,
                data_total: 0,
                data_total_billed: "0".into(),
                billed_unit: None,
                key,
            });
        }
        let rec = records.last_mut().expect("pushed above");
        rec.data_upload += r.data_upload;
        rec.data_download += r.data_download;
        rec.data_total += r.data_total;
        if let Some((price, currency)) = rates.get(&r.iso_country) {
            let billed: Decimal = rec.data_total_billed.parse().unwrap_or_default();
            let part = Decimal::from(r.data_total) / Decimal::from(BYTES_PER_MB) * price;
            rec.data_total_billed = (billed + part).round_dp(4).normalize().to_string();
            rec.billed_unit = Some(currency.clone());
        }
    }
    // Page by position in this (newest-first) order.
    for (i, rec) in records.iter_mut().enumerate() {
        rec.key = format!("{i:010}");
    }
    let rows = page_slice(&records, |r| &r.key, &list.paging.query());
    let meta = meta(&origin, "/v1/UsageRecords", &list.echoed, &list.paging, &rows, |r| &r.key, "usage_records");
    Ok(Json(UsageRecordPage { usage_records: rows.items, meta }))
}
