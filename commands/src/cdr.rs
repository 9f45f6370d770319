//! External CDRs: usage from outside the embedded core, in CGrateS's `ExternalCDR` shape
//! (`CDRsV1.ProcessExternalCDR`, `POST /v1/Billing/Cdrs`), checked, parsed and appended as
//! `cdr.received`, so the `cdrs` projection bills it like the core's own.

use std::collections::BTreeMap;

use chrono::Utc;
use rust_decimal::Decimal;
use serde::Deserialize;
use simledger_eventlog::catalog::ExternalCdr;
use simledger_eventlog::cgr::{parse_go_duration, parse_time};
use simledger_eventlog::{Event, ExpectedVersion, Metadata, NewEvent};

use crate::{CommandError, Commands, Result};

/// CGrateS's `ExternalCDR`: times, Usage and Cost as the sender wrote them.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExternalCdrInput {
    #[serde(rename = "CGRID", default)]
    pub cgrid: String,
    #[serde(rename = "RunID", default)]
    pub run_id: String,
    /// Ignored: the order ID is the log position the CDR is recorded at.
    #[serde(rename = "OrderID", default)]
    pub order_id: Option<i64>,
    #[serde(rename = "OriginHost", default)]
    pub origin_host: String,
    #[serde(rename = "Source", default)]
    pub source: String,
    /// Mandatory: with OriginHost it makes the CGRID.
    #[serde(rename = "OriginID", default)]
    pub origin_id: String,
    /// `*voice` (default), `*data`, `*sms`, `*mms` or `*generic`.
    #[serde(rename = "ToR", default)]
    pub tor: String,
    /// Default `*postpaid`.
    #[serde(rename = "RequestType", default)]
    pub request_type: String,
    /// The caller's own tenant; another is refused.
    #[serde(rename = "Tenant", default)]
    pub tenant: String,
    /// Default `call`.
    #[serde(rename = "Category", default)]
    pub category: String,
    /// Mandatory.
    #[serde(rename = "Account", default)]
    pub account: String,
    /// Default: the Account.
    #[serde(rename = "Subject", default)]
    pub subject: String,
    #[serde(rename = "Destination", default)]
    pub destination: String,
    /// RFC 3339, `2006-01-02 15:04:05`, Unix seconds or `*now`; default: AnswerTime, else now.
    #[serde(rename = "SetupTime", default)]
    pub setup_time: String,
    #[serde(rename = "AnswerTime", default)]
    pub answer_time: String,
    /// A Go duration (`150s`) or a bare number of nanoseconds (bytes for `*data`).
    #[serde(rename = "Usage", default)]
    #[schema(value_type = String)]
    pub usage: serde_json::Value,
    #[serde(rename = "ExtraFields", default)]
    pub extra_fields: BTreeMap<String, String>,
    #[serde(rename = "CostSource", default)]
    pub cost_source: String,
    /// Used when PreRated; otherwise the CDR is rated from the rate table.
    #[serde(rename = "Cost", default)]
    #[schema(value_type = Option<String>)]
    pub cost: serde_json::Value,
    /// Accepted for compatibility; not stored.
    #[serde(rename = "CostDetails", default)]
    #[schema(value_type = Object)]
    pub cost_details: serde_json::Value,
    #[serde(rename = "ExtraInfo", default)]
    pub extra_info: String,
    #[serde(rename = "PreRated", default)]
    pub pre_rated: bool,
    #[serde(rename = "Partial", default)]
    pub partial: bool,
    #[serde(rename = "APIOpts", default)]
    #[schema(value_type = Object)]
    pub api_opts: serde_json::Value,
}

const REQUEST_TYPES: &[&str] =
    &["*prepaid", "*postpaid", "*pseudoprepaid", "*rated", "*none", "*dynaprepaid", "*directdebit"];

/// A recorded external CDR.
#[derive(Debug, Clone)]
pub struct ProcessedCdr {
    pub cgrid: String,
    /// The order IDs its runs may have (one run unless the tenant has charger profiles).
    pub order_ids: std::ops::RangeInclusive<i64>,
}

impl ExternalCdrInput {
    /// Checks and parses the CDR for `tenant`.
    pub fn parse(&self, tenant: &str) -> Result<ExternalCdr> {
        let mut missing = Vec::new();
        if self.origin_id.trim().is_empty() {
            missing.push("OriginID");
        }
        if self.account.trim().is_empty() {
            missing.push("Account");
        }
        if !missing.is_empty() {
            return Err(CommandError::Missing(missing));
        }
        if !self.tenant.is_empty() && self.tenant != tenant {
            return Err(CommandError::invalid("Tenant", format!("{} is not the caller's tenant", self.tenant)));
        }
        if !simledger_projections::cdrs::claimable(&self.source, &self.origin_host) {
            return Err(CommandError::invalid(
                "OriginHost",
                "the platform's own origin hosts and sources are reserved for its CDRs",
            ));
        }
        let tor = if self.tor.is_empty() { "*voice" } else { self.tor.as_str() };
        let tor = simledger_billing::BalanceType::parse_usage(tor).map_err(|m| CommandError::invalid("ToR", m))?;
        let request_type = if self.request_type.is_empty() { "*postpaid" } else { self.request_type.as_str() };
        if !REQUEST_TYPES.contains(&request_type) {
            return Err(CommandError::invalid(
                "RequestType",
                format!("{request_type:?} is not one of {}", REQUEST_TYPES.join(", ")),
            ));
        }
        let usage = match &self.usage {
            serde_json::Value::Null => 0,
            serde_json::Value::Number(n) => n.as_i64().ok_or_else(|| {
                CommandError::invalid("Usage", format!("{n} is not a whole number of nanoseconds or units"))
            })?,
            serde_json::Value::String(s) => parse_go_duration(s).map_err(|e| CommandError::invalid("Usage", e))?,
            other => return Err(CommandError::invalid("Usage", format!("{other} is not a duration"))),
        };
        if usage < 0 {
            return Err(CommandError::invalid("Usage", "must not be negative"));
        }
        simledger_billing::bounds::within("Usage", Decimal::from(usage), simledger_billing::bounds::MAX_UNIT)
            .map_err(|e| CommandError::invalid("Usage", e))?;
        let now = Utc::now();
        let time = |param: &'static str, s: &str| parse_time(s, now).map_err(|e| CommandError::invalid(param, e));
        let answer_time = if self.answer_time.is_empty() { None } else { Some(time("AnswerTime", &self.answer_time)?) };
        let setup_time = if self.setup_time.is_empty() { None } else { Some(time("SetupTime", &self.setup_time)?) };
        let setup_time = setup_time.or(answer_time).unwrap_or(now);
        let cost = match (&self.cost, self.pre_rated) {
            (_, false) => None,
            (serde_json::Value::Number(n), true) => Some(n.to_string()),
            (serde_json::Value::String(s), true) => Some(s.clone()),
            (_, true) => return Err(CommandError::Missing(vec!["Cost"])),
        };
        let cost = cost
            .map(|c| {
                c.parse::<Decimal>()
                    .or_else(|_| Decimal::from_scientific(&c))
                    .map_err(|_| CommandError::invalid("Cost", format!("{c} is not a decimal")))
            })
            .transpose()?;
        if cost.is_some_and(|c| c < Decimal::ZERO) {
            return Err(CommandError::invalid("Cost", "a pre-rated cost must not be negative"));
        }
        if let Some(c) = cost {
            simledger_billing::bounds::within("Cost", c, simledger_billing::bounds::MAX_AMOUNT)
                .map_err(|e| CommandError::invalid("Cost", e))?;
        }
        let cgrid = if self.cgrid.is_empty() {
            simledger_projections::cdrs::cgrid(&self.origin_id, &self.origin_host)
        } else {
            self.cgrid.clone()
        };
        Ok(ExternalCdr {
            cgrid,
            run_id: if self.run_id.is_empty() { "*default".into() } else { self.run_id.clone() },
            origin_host: self.origin_host.clone(),
            source: if self.source.is_empty() { "external".into() } else { self.source.clone() },
            origin_id: self.origin_id.clone(),
            tor,
            request_type: request_type.to_owned(),
            tenant: tenant.to_owned(),
            category: if self.category.is_empty() { "call".into() } else { self.category.clone() },
            subject: if self.subject.is_empty() { self.account.clone() } else { self.subject.clone() },
            account: self.account.clone(),
            destination: self.destination.clone(),
            setup_time,
            answer_time: answer_time.unwrap_or(setup_time),
            usage,
            extra_fields: self.extra_fields.clone(),
            cost,
        })
    }
}

/// The event id of a tenant's external CDR: its identity, encoded so that no two
/// (tenant, CGRID, RunID) triples share a name.
fn external_cdr_id(tenant: &str, cgrid: &str, run_id: &str) -> uuid::Uuid {
    let name = serde_json::to_string(&["simledger-cdr", tenant, cgrid, run_id]).expect("strings serialise");
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, name.as_bytes())
}

impl Commands {
    /// Records an external CDR once and answers when `cdrs` and billing have
    /// applied it. The event's id is derived from its tenant, CGRID and RunID,
    /// so a retry appends nothing, and a CGRID and RunID the tenant already billed is refused
    /// (CGrateS's `ERR_EXISTS`). Other tenants' CDRs are neither consulted nor revealed.
    pub async fn process_external_cdr(&self, tenant: &str, input: &ExternalCdrInput) -> Result<ProcessedCdr> {
        let cdr = input.parse(tenant)?;
        // A tenant with charger profiles stores only the runs they make: none matching, CGrateS
        // answers PARTIALLY_EXECUTED and stores nothing; so does this, logging nothing.
        let profiles = self.billing_chargers(tenant).await?;
        let runs = simledger_projections::cdrs::external_runs(&cdr, &profiles);
        if runs.is_empty() {
            return Err(CommandError::Refused("PARTIALLY_EXECUTED".into()));
        }
        // Any of its runs recorded before is CGrateS's ERR_EXISTS.
        let exists: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM cdrs WHERE tenant = $1 AND cgrid = $2 AND run_id = ANY($3))",
        )
        .bind(tenant)
        .bind(&cdr.cgrid)
        .bind(&runs)
        .fetch_one(self.log.pool())
        .await?;
        if exists {
            return Err(CommandError::Duplicate(format!("a CDR with CGRID {} exists", cdr.cgrid)));
        }
        // Under charger profiles the runs are the profiles', not the input's: the CDR is one
        // happening whatever RunID it came with, so a resend with another one is the same event.
        let run_key = if profiles.is_empty() || cdr.cost.is_some() { cdr.run_id.as_str() } else { "*chargers" };
        let id = external_cdr_id(tenant, &cdr.cgrid, run_key);
        let cgrid = cdr.cgrid.clone();
        let event =
            NewEvent::new(id, format!("cdr-{tenant}"), &Event::CdrReceived(cdr), &Metadata::from_source("cdrs"))?;
        let appended = self.log.append(vec![event], ExpectedVersion::Any).await?;
        let a = appended.first().expect("one event appended");
        if a.duplicate {
            return Err(CommandError::Duplicate(format!("a CDR with CGRID {cgrid} exists")));
        }
        // Answered once it is rated and debited, as CGrateS's synchronous RALs answer: a
        // GetAccount right after sees the debit.
        self.cdrs_visible(a.position).await?;
        self.visible_in(&self.billing, a.position).await?;
        let mut conn = self.log.pool().acquire().await?;
        let (first, last) = simledger_projections::cdrs::order_id_range(&mut conn, a.position).await?;
        Ok(ProcessedCdr { cgrid, order_ids: first..=last })
    }
}
