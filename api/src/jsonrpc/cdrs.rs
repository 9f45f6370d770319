//! The CDR server and exporters over JSON-RPC: `CDRsV1.ProcessExternalCDR`, `…ProcessEvent`,
//! `…GetCDRs`,
//! `APIerSv1.ExportCDRs`, and exporter definitions through `ConfigSv1.SetConfig` /
//! `ConfigSv1.GetConfig` (section `ees`), as CGrateS defines exporters at run time.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;
use simledger_commands::{ExternalCdrInput, ProcessedCdr};
use simledger_eventlog::cgr::{format_go_duration, parse_time};
use simledger_exporters::cdr_export::config::{EesConfig, ExporterConfig};
use simledger_exporters::cdr_export::{self, ExportError};
use simledger_projections::cdrs::read::{self, CdrRow, CdrSearch};

use super::{ok, params, Call, Num, Reply, RpcError};

pub async fn process_external_cdr(call: &Call, p: &RawValue) -> Result<Reply, RpcError> {
    let input: ExternalCdrInput = params(p)?;
    let tenant = call.tenant(Some(&input.tenant))?;
    call.state.commands.process_external_cdr(&tenant, &input).await?;
    ok(&"OK")
}

/// `CDRsV1.ProcessEvent`'s argument: a `CGREvent` whose `Event` map holds the CDR's fields, and
/// the CDR server's flags.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct ProcessEventArgs {
    #[serde(default)]
    flags: Vec<String>,
    #[serde(default)]
    tenant: String,
    #[serde(rename = "ID", default)]
    _id: String,
    #[serde(default)]
    _time: Option<String>,
    #[serde(default)]
    event: BTreeMap<String, Value>,
    #[serde(rename = "APIOpts", default)]
    api_opts: Value,
}

/// The CDR server steps simledger always takes for a CDR, as CGrateS flags name them. Asking to
/// skip one (`*store:false`), or for a step simledger does not have, is refused rather than
/// ignored.
const PROCESS_EVENT_FLAGS: &[&str] = &["*rals", "*store", "*export", "*chargers"];

/// `CDRsV1.ProcessEvent`: the CDR is stored, rated, debited and exported; answers `OK`.
pub async fn process_event(call: &Call, p: &RawValue) -> Result<Reply, RpcError> {
    process(call, p).await?;
    ok(&"OK")
}

/// `CDRsV2.ProcessEvent`: the same, answered as CGrateS's `[]*utils.EventWithFlags` — each run
/// of the CDR (one per matching charger profile) as stored and rated (`CGRID`, `RunID`, `OrderID`, `Cost`, …) with the flags it was processed with.
pub async fn process_event_v2(call: &Call, p: &RawValue) -> Result<Reply, RpcError> {
    let (tenant, flags, processed) = process(call, p).await?;
    // Its runs are the rows of its CGRID in the order IDs its event holds.
    let search = read::CdrSearch {
        cgrids: vec![processed.cgrid],
        order_id_start: Some(*processed.order_ids.start()),
        order_id_end: Some(*processed.order_ids.end() + 1),
        limit: Some(simledger_projections::cdrs::RUNS_PER_POSITION),
        ..Default::default()
    };
    let mut rows = read::search(call.state.pool(), &tenant, &search).await?;
    rows.sort_by_key(|r| r.order_id);
    let events: Vec<Value> =
        rows.into_iter().map(|r| serde_json::json!({ "Flags": flags, "Event": ExternalCdr::from(r) })).collect();
    ok(&events)
}

async fn process(call: &Call, p: &RawValue) -> Result<(String, Vec<String>, ProcessedCdr), RpcError> {
    let args: ProcessEventArgs = params(p)?;
    for flag in &args.flags {
        let (name, on) = flag.split_once(':').unwrap_or((flag.as_str(), "true"));
        if !PROCESS_EVENT_FLAGS.contains(&name) || on != "true" {
            return Err(RpcError::server(format!(
                "flag {flag} is not supported: simledger stores, rates, debits and exports every CDR ({})",
                PROCESS_EVENT_FLAGS.join(", ")
            )));
        }
    }
    let flags = args.flags.clone();
    let mut event = args.event;
    let text = |event: &mut BTreeMap<String, Value>, key: &str| -> Result<String, RpcError> {
        match event.remove(key) {
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::String(s)) => Ok(s),
            Some(v @ Value::Number(_)) => Ok(v.to_string()),
            Some(other) => Err(RpcError::server(format!("Event.{key} must be a string, not {other}"))),
        }
    };
    let flag = |event: &mut BTreeMap<String, Value>, key: &str| -> Result<bool, RpcError> {
        match event.remove(key) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(b),
            Some(Value::String(s)) if s == "true" || s == "false" => Ok(s == "true"),
            Some(other) => Err(RpcError::server(format!("Event.{key} must be true or false, not {other}"))),
        }
    };
    let event_tenant = text(&mut event, "Tenant")?;
    let input = ExternalCdrInput {
        cgrid: text(&mut event, "CGRID")?,
        run_id: text(&mut event, "RunID")?,
        origin_host: text(&mut event, "OriginHost")?,
        source: text(&mut event, "Source")?,
        origin_id: text(&mut event, "OriginID")?,
        tor: text(&mut event, "ToR")?,
        request_type: text(&mut event, "RequestType")?,
        tenant: if args.tenant.is_empty() { event_tenant } else { args.tenant },
        category: text(&mut event, "Category")?,
        account: text(&mut event, "Account")?,
        subject: text(&mut event, "Subject")?,
        destination: text(&mut event, "Destination")?,
        setup_time: text(&mut event, "SetupTime")?,
        answer_time: text(&mut event, "AnswerTime")?,
        usage: event.remove("Usage").unwrap_or(Value::Null),
        cost: event.remove("Cost").unwrap_or(Value::Null),
        pre_rated: flag(&mut event, "PreRated")?,
        partial: flag(&mut event, "Partial")?,
        api_opts: args.api_opts,
        // What is left of `Event` after the CDR's own fields: extra fields, as CGrateS files the
        // keys it does not know.
        extra_fields: event
            .into_iter()
            .map(|(k, v)| match v {
                Value::String(s) => (k, s),
                other => (k, other.to_string()),
            })
            .collect(),
        ..ExternalCdrInput::default()
    };
    let tenant = call.tenant(Some(&input.tenant))?;
    let processed = call.state.commands.process_external_cdr(&tenant, &input).await?;
    Ok((tenant, flags, processed))
}

/// The part of CGrateS's `RPCCDRsFilter` simledger answers; other members are refused by name
/// rather than ignored, so a filter never silently selects more than asked.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct CdrsFilter {
    #[serde(default)]
    tenants: Vec<String>,
    #[serde(rename = "CGRIDs", default)]
    cgrids: Vec<String>,
    #[serde(rename = "ToRs", default)]
    tors: Vec<String>,
    #[serde(default)]
    accounts: Vec<String>,
    #[serde(rename = "OriginIDs", default)]
    origin_ids: Vec<String>,
    #[serde(default)]
    setup_time_start: String,
    #[serde(default)]
    setup_time_end: String,
    #[serde(rename = "OrderIDStart")]
    order_id_start: Option<i64>,
    #[serde(rename = "OrderIDEnd")]
    order_id_end: Option<i64>,
    #[serde(default)]
    extra_args: BTreeMap<String, Value>,
    limit: Option<i64>,
    offset: Option<i64>,
    #[serde(default)]
    order_by: String,
    #[serde(rename = "APIOpts", default)]
    _api_opts: Value,
}

impl CdrsFilter {
    fn tenant(&self, call: &Call) -> Result<String, RpcError> {
        match self.tenants.as_slice() {
            [] => call.tenant(None),
            [one] => call.tenant(Some(one)),
            _ => Err(RpcError::server("one tenant per call")),
        }
    }

    fn search(&self) -> Result<CdrSearch, RpcError> {
        let now = chrono::Utc::now();
        let time = |field: &str, s: &str| -> Result<Option<_>, RpcError> {
            if s.is_empty() {
                return Ok(None);
            }
            parse_time(s, now).map(Some).map_err(|e| RpcError::server(format!("{field}: {e}")))
        };
        let extra = |key: &str| -> Result<Option<i64>, RpcError> {
            match self.extra_args.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Number(n)) => {
                    n.as_i64().map(Some).ok_or_else(|| RpcError::server(format!("ExtraArgs.{key} must be an integer")))
                }
                Some(other) => Err(RpcError::server(format!("ExtraArgs.{key} must be an integer, not {other}"))),
            }
        };
        if let Some(key) = self.extra_args.keys().find(|k| !["OrderIDStart", "OrderIDEnd"].contains(&k.as_str())) {
            return Err(RpcError::server(format!("ExtraArgs.{key} is not supported (OrderIDStart, OrderIDEnd)")));
        }
        let descending = match self.order_by.as_str() {
            "" | "OrderID" => false,
            "OrderID;desc" => true,
            other => {
                return Err(RpcError::server(format!("OrderBy {other:?} is not supported (OrderID, OrderID;desc)")))
            }
        };
        let non_negative = |field: &str, v: Option<i64>| match v {
            Some(n) if n < 0 => Err(RpcError::server(format!("{field} must not be negative"))),
            _ => Ok(v),
        };
        Ok(CdrSearch {
            cgrids: self.cgrids.clone(),
            tors: self.tors.clone(),
            accounts: self.accounts.clone(),
            origin_ids: self.origin_ids.clone(),
            setup_time_start: time("SetupTimeStart", &self.setup_time_start)?,
            setup_time_end: time("SetupTimeEnd", &self.setup_time_end)?,
            order_id_start: self.order_id_start.or(extra("OrderIDStart")?),
            order_id_end: self.order_id_end.or(extra("OrderIDEnd")?),
            limit: match non_negative("Limit", self.limit)? {
                Some(n) if n > read::MAX_SEARCH_ROWS => {
                    return Err(RpcError::server(format!(
                        "Limit must be at most {}; page with Offset or OrderIDStart",
                        read::MAX_SEARCH_ROWS
                    )))
                }
                other => other,
            },
            offset: non_negative("Offset", self.offset)?,
            descending,
        })
    }
}

/// A CDR as CGrateS's `ExternalCDR`: Usage as text (a Go duration for `*voice`), Cost a number.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ExternalCdr {
    #[serde(rename = "CGRID")]
    cgrid: String,
    #[serde(rename = "RunID")]
    run_id: String,
    #[serde(rename = "OrderID")]
    order_id: i64,
    origin_host: String,
    source: String,
    #[serde(rename = "OriginID")]
    origin_id: String,
    #[serde(rename = "ToR")]
    tor: String,
    request_type: String,
    tenant: String,
    category: String,
    account: String,
    subject: String,
    destination: String,
    setup_time: String,
    answer_time: String,
    usage: String,
    extra_fields: Value,
    cost_source: &'static str,
    cost: Num,
    extra_info: String,
    pre_rated: bool,
    partial: bool,
}

impl From<CdrRow> for ExternalCdr {
    fn from(r: CdrRow) -> Self {
        let usage = if r.tor == "*voice" { format_go_duration(r.usage) } else { r.usage.to_string() };
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
            setup_time: r.setup_time.to_rfc3339(),
            answer_time: r.answer_time.to_rfc3339(),
            usage,
            extra_fields: r.extra_fields,
            cost_source: "",
            cost: Num(r.cost),
            extra_info: r.extra_info.unwrap_or_default(),
            pre_rated: false,
            partial: false,
        }
    }
}

pub async fn get_cdrs(call: &Call, p: &RawValue) -> Result<Reply, RpcError> {
    let filter: CdrsFilter = params(p)?;
    let tenant = filter.tenant(call)?;
    let rows = read::search(call.state.pool(), &tenant, &filter.search()?).await?;
    if rows.is_empty() {
        return Err(RpcError::not_found());
    }
    ok(&rows.into_iter().map(ExternalCdr::from).collect::<Vec<_>>())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ExportCdrsParams {
    #[serde(rename = "ExporterIDs", default)]
    exporter_ids: Vec<String>,
    #[serde(default)]
    verbose: bool,
    #[serde(default)]
    tenant: String,
    #[serde(rename = "APIOpts", default)]
    _api_opts: Value,
    /// `RPCCDRsFilter` members: accepted only empty (see [`export_cdrs`]).
    #[serde(flatten)]
    filter: BTreeMap<String, Value>,
}

/// Metrics of one exporter's run, as CGrateS's verbose reply.
#[derive(Serialize)]
struct ExportMetrics {
    #[serde(rename = "FirstExpOrderID")]
    first: Option<i64>,
    #[serde(rename = "LastExpOrderID")]
    last: Option<i64>,
    #[serde(rename = "NumberOfEvents")]
    events: i64,
    /// CGrateS keys these by event ID; here they are the CGRIDs.
    #[serde(rename = "PositiveExports")]
    positive: Vec<String>,
    #[serde(rename = "NegativeExports")]
    negative: Vec<String>,
    #[serde(rename = "TotalCost")]
    total_cost: Num,
    #[serde(rename = "TotalDataUsage")]
    data: i64,
    #[serde(rename = "TotalSMSUsage")]
    sms: i64,
    #[serde(rename = "TotalDuration")]
    voice: i64,
    #[serde(rename = "TotalGenericUsage")]
    generic: i64,
    #[serde(rename = "FilePath")]
    file_path: Option<String>,
    #[serde(rename = "FilePaths")]
    file_paths: Vec<String>,
    #[serde(rename = "ExportedCGRIDs")]
    exported: Vec<String>,
    /// A run writes all its CDRs or none (then the call fails), so this is always empty.
    #[serde(rename = "UnexportedCGRIDs")]
    unexported: Vec<String>,
}

/// Runs exporters now (`ExporterIDs`, or every exporter of the tenant). Without a filter each
/// exports from its own cursor through its own filters: simledger keeps the "last exported order
/// ID" CGrateS leaves to the caller, so a repeat exports nothing twice. With `RPCCDRsFilter`
/// members (`Accounts`, `ToRs`, `OrderIDStart`/`OrderIDEnd` at the top level or in `ExtraArgs`,
/// `SetupTimeStart`/`End`, `MinUsage`/`MaxUsage`, `MinCost`/`MaxCost`, …) each writes exactly the
/// CDRs chosen, in its format, into a file of its own, and its cursor does not move. Members it
/// cannot honour are refused, never ignored. `NOT_FOUND` when nothing was exported.
pub async fn export_cdrs(call: &Call, p: &RawValue) -> Result<Reply, RpcError> {
    let args: ExportCdrsParams = params(p)?;
    let tenant = call.tenant(Some(&args.tenant))?;
    let selection = selection(&tenant, &args.filter)?;
    let ids = if args.exporter_ids.is_empty() {
        cdr_export::list(call.state.pool(), &tenant).await.map_err(export_error)?.into_iter().map(|e| e.id).collect()
    } else {
        args.exporter_ids.clone()
    };
    let mut metrics = BTreeMap::new();
    let mut exported = 0;
    for id in ids {
        let r = match &selection {
            None => crate::v1::billing::run_export(&call.state, &tenant, &id, args.verbose).await,
            Some(chosen) => cdr_export::export_selection(call.state.pool(), &tenant, &id, chosen, args.verbose).await,
        }
        .map_err(export_error)?;
        exported += r.events;
        metrics.insert(
            id,
            ExportMetrics {
                first: r.first_order_id,
                last: r.last_order_id,
                events: r.events,
                positive: r.exported_cgrids.clone(),
                negative: Vec::new(),
                total_cost: Num(r.total_cost),
                data: r.data_usage,
                sms: r.sms_usage,
                voice: r.voice_usage,
                generic: r.generic_usage,
                file_path: r.file_paths.last().cloned(),
                file_paths: r.file_paths,
                exported: r.exported_cgrids,
                unexported: Vec::new(),
            },
        );
    }
    if exported == 0 {
        return Err(RpcError::not_found());
    }
    if args.verbose {
        ok(&metrics)
    } else {
        ok(&serde_json::json!({}))
    }
}

/// `RPCCDRsFilter` as a [`cdr_export::Selection`]; `None` when every member is empty.
fn selection(tenant: &str, filter: &BTreeMap<String, Value>) -> Result<Option<cdr_export::Selection>, RpcError> {
    use cdr_export::filter::Filter;
    use cdr_export::record::Field;
    use rust_decimal::Decimal;

    let bad = |key: &str, why: &str| RpcError::server(format!("invalid {key}: {why}"));
    let texts = |key: &str, v: &Value| -> Result<Vec<String>, RpcError> {
        match v {
            Value::Array(items) => items
                .iter()
                .map(|i| i.as_str().map(str::to_owned).ok_or_else(|| bad(key, "expected a list of strings")))
                .collect(),
            Value::String(s) => Ok(vec![s.clone()]),
            _ => Err(bad(key, "expected a list of strings")),
        }
    };
    let integer = |key: &str, v: &Value| v.as_i64().ok_or_else(|| bad(key, "expected an integer"));
    let decimal = |key: &str, v: &Value| -> Result<Decimal, RpcError> {
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return Err(bad(key, "expected a number")),
        };
        text.parse::<Decimal>()
            .or_else(|_| simledger_eventlog::cgr::parse_go_duration(&text).map(Decimal::from))
            .map_err(|_| bad(key, "expected a number or a Go duration"))
    };
    let time = |key: &str, v: &Value| {
        v.as_str()
            .ok_or_else(|| bad(key, "expected a time"))
            .and_then(|t| parse_time(t, chrono::Utc::now()).map_err(|e| bad(key, &e)))
    };
    let mut chosen = cdr_export::Selection::default();
    let mut refused = Vec::new();
    let mut members: Vec<(String, &Value)> = filter.iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect();
    // `ExtraArgs` carries OrderIDStart/End in CGrateS versions that moved them there.
    if let Some((_, Value::Object(extra))) = members.iter().find(|(k, _)| k == "extraargs").cloned() {
        members.extend(extra.iter().map(|(k, v)| (k.to_ascii_lowercase(), v)));
    }
    for (key, value) in members {
        if is_empty(value) || key == "extraargs" {
            continue;
        }
        let field_list = |field: Field, negate: bool| -> Result<Filter, RpcError> {
            Ok(Filter::one_of(field, texts(&key, value)?, negate))
        };
        let filter = match key.as_str() {
            "cgrids" => field_list(Field::Cgrid, false)?,
            "notcgrids" => field_list(Field::Cgrid, true)?,
            "runids" => field_list(Field::RunId, false)?,
            "notrunids" => field_list(Field::RunId, true)?,
            "originids" => field_list(Field::OriginId, false)?,
            "notoriginids" => field_list(Field::OriginId, true)?,
            "originhosts" => field_list(Field::OriginHost, false)?,
            "notoriginhosts" => field_list(Field::OriginHost, true)?,
            "sources" => field_list(Field::Source, false)?,
            "notsources" => field_list(Field::Source, true)?,
            "tors" => field_list(Field::Tor, false)?,
            "nottors" => field_list(Field::Tor, true)?,
            "requesttypes" => field_list(Field::RequestType, false)?,
            "notrequesttypes" => field_list(Field::RequestType, true)?,
            "categories" => field_list(Field::Category, false)?,
            "notcategories" => field_list(Field::Category, true)?,
            "accounts" => field_list(Field::Account, false)?,
            "notaccounts" => field_list(Field::Account, true)?,
            "subjects" => field_list(Field::Subject, false)?,
            "notsubjects" => field_list(Field::Subject, true)?,
            "destinationprefixes" => Filter::prefixed(Field::Destination, texts(&key, value)?, false),
            "notdestinationprefixes" => Filter::prefixed(Field::Destination, texts(&key, value)?, true),
            // A tenant's CDRs are all of this tenant; naming another selects nothing of it.
            "tenants" => {
                if !texts(&key, value)?.iter().any(|t| t == tenant) {
                    return Err(RpcError::server(format!("Tenants: only {tenant} may be exported here")));
                }
                continue;
            }
            "orderidstart" => {
                chosen.order_id_start = Some(integer(&key, value)?);
                continue;
            }
            "orderidend" => {
                chosen.order_id_end = Some(integer(&key, value)?);
                continue;
            }
            "setuptimestart" => Filter::since(Field::SetupTime, time(&key, value)?),
            "setuptimeend" => Filter::until(Field::SetupTime, time(&key, value)?),
            "answertimestart" => Filter::since(Field::AnswerTime, time(&key, value)?),
            "answertimeend" => Filter::until(Field::AnswerTime, time(&key, value)?),
            "minusage" => Filter::at_least(Field::Usage, decimal(&key, value)?),
            "maxusage" => Filter::below(Field::Usage, decimal(&key, value)?),
            "mincost" => Filter::at_least(Field::Cost, decimal(&key, value)?),
            "maxcost" => Filter::below(Field::Cost, decimal(&key, value)?),
            _ => {
                refused.push(key);
                continue;
            }
        };
        chosen.filters.push(filter);
    }
    if !refused.is_empty() {
        return Err(RpcError::server(format!(
            "ExportCDRs cannot filter by {}: supported are CGRIDs, RunIDs, OriginIDs, OriginHosts, Sources, \
             ToRs, RequestTypes, Categories, Accounts, Subjects, DestinationPrefixes (and their Not… forms), \
             Tenants, OrderIDStart/End, SetupTimeStart/End, AnswerTimeStart/End, MinUsage/MaxUsage, MinCost/MaxCost",
            refused.join(", ")
        )));
    }
    if chosen.filters.is_empty() && chosen.order_id_start.is_none() && chosen.order_id_end.is_none() {
        return Ok(None);
    }
    // The same selection names the same file: a repeated request rewrites it, never adds one.
    use sha2::Digest;
    let mut canonical: Vec<String> = filter.iter().map(|(k, v)| format!("{}={v}", k.to_ascii_lowercase())).collect();
    canonical.sort();
    chosen.key = hex::encode(&sha2::Sha256::digest(canonical.join("&").as_bytes())[..6]);
    Ok(Some(chosen))
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.values().all(is_empty),
    }
}

fn export_error(e: ExportError) -> RpcError {
    match e {
        ExportError::NotFound(_) => RpcError::not_found(),
        ExportError::Busy(_) => RpcError::server("EXPORTER_BUSY"),
        ExportError::Io { .. } | ExportError::S3(_) => {
            tracing::warn!(error = %e, "an export could not be written");
            RpcError::server("the export could not be written")
        }
        // Ours, not the caller's: logged with its cause, answered without database text.
        e @ (ExportError::Database(_) | ExportError::EventLog(_)) => RpcError::internal(&e),
        other => RpcError::server(other),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SetConfigParams {
    #[serde(default)]
    tenant: String,
    config: BTreeMap<String, Value>,
    #[serde(default)]
    dry_run: bool,
    #[serde(rename = "APIOpts", default)]
    _api_opts: Value,
}

/// Creates or redefines exporters from an `ees` section; cursors are kept. Every definition is
/// checked before any is stored.
pub async fn set_config(call: &Call, p: &RawValue) -> Result<Reply, RpcError> {
    let args: SetConfigParams = params(p)?;
    if let Some(other) = args.config.keys().find(|k| k.as_str() != "ees") {
        return Err(RpcError::server(format!("section {other:?} cannot be set here; only \"ees\" can")));
    }
    let Some(ees) = args.config.get("ees") else { return Err(RpcError::missing(&["Config.ees"])) };
    let ees: EesConfig = serde_json::from_value(ees.clone())
        .map_err(|e| RpcError::server(format!("invalid params: Config.ees: {e}")))?;
    let default_tenant = call.tenant(Some(&args.tenant))?;
    let mut checked = Vec::new();
    for e in &ees.exporters {
        let (tenant, mut exporter) = e.to_exporter(Some(&default_tenant), &mut Vec::new()).map_err(export_error)?;
        let tenant = call.tenant(Some(&tenant))?;
        cdr_export::check_destination(&exporter, call.state.commands.destination_policy()).map_err(export_error)?;
        // A customer's exporters write only where the operator granted it.
        if !call.is_operator() {
            call.state.export_grants.confine(&tenant, &mut exporter).map_err(export_error)?;
            cdr_export::check_signable(&call.state.accounts, &tenant, &exporter).await.map_err(export_error)?;
        }
        cdr_export::check(&exporter).map_err(export_error)?;
        checked.push((tenant, exporter));
    }
    if !call.is_operator() {
        // The cap, for the whole section before any of it is stored (customers name only
        // their own tenant).
        let ids: Vec<&str> = checked.iter().map(|(_, e)| e.id.as_str()).collect();
        cdr_export::check_room_for(call.state.pool(), &default_tenant, &ids).await.map_err(export_error)?;
    }
    if !args.dry_run {
        for (tenant, exporter) in &checked {
            if call.is_operator() {
                cdr_export::upsert(call.state.log(), tenant, exporter).await.map_err(export_error)?;
            } else {
                cdr_export::upsert_own(call.state.log(), tenant, exporter).await.map_err(export_error)?;
            }
        }
    }
    ok(&"OK")
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetConfigParams {
    #[serde(default)]
    section: String,
    #[serde(default)]
    tenant: String,
    #[serde(rename = "APIOpts", default)]
    _api_opts: Value,
}

/// The tenant's exporters as an `ees` section.
pub async fn get_config(call: &Call, p: &RawValue) -> Result<Reply, RpcError> {
    let args: GetConfigParams = params(p)?;
    if args.section != "ees" {
        return Err(RpcError::server(format!("section {:?} is not available; \"ees\" is", args.section)));
    }
    let tenant = call.tenant(Some(&args.tenant))?;
    let mut ees = EesConfig::default();
    // The operator sees its own exporters (the configuration file's, every tenant's CDRs), as
    // CGrateS's configuration holds them, beside the tenant's.
    let mut tenants = vec![tenant];
    if call.is_operator() && tenants[0] != cdr_export::OPERATOR {
        tenants.insert(0, cdr_export::OPERATOR.to_owned());
    }
    for tenant in &tenants {
        let exporters = cdr_export::list(call.state.pool(), tenant).await.map_err(export_error)?;
        ees.exporters.extend(exporters.iter().map(|e| ExporterConfig::from_exporter(tenant, e)));
    }
    ok(&serde_json::json!({ "ees": ees }))
}
