//! The dashboard's JSON endpoints (`/dashboard/api/…`). Each needs a session; a customer sees
//! its own account only (another account's SIM is "not found", as in `/v1`), an operator every
//! account or the one it picks. Reads come from the `dashboard` projection's aggregates and
//! one SIM's rows by key; writes go through the same commands as `/v1`.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use chrono::{Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use simledger_commands::{CommandId, SimChanges};
use simledger_eventlog::catalog::SimStatus;
use simledger_projections::dashboard::read::{self as dash, Granularity, Scope, UsageGroup};
use simledger_projections::read::{Cursor, PageQuery};
use simledger_projections::registry::read::{self as registry, SimFilter};

use super::feed::{self, FeedFilter, FeedItem};
use super::session::same_origin;
use simledger_ids::{shown as short, AccountSid, SimSid};

use super::{DashboardError, Session};
use crate::error::TwilioError;
use crate::extract::Query;
use crate::AppState;

/// The account a request reads: a customer's own (naming another is "not found"); an
/// operator's pick, or every account (`None`).
pub fn scope(session: &Session, requested: Option<String>) -> Result<Option<String>, DashboardError> {
    let requested = requested.filter(|a| !a.is_empty());
    if session.is_operator() {
        return match requested {
            Some(a) if !AccountSid::is_valid(&a) => Err(DashboardError::NotFound(format!("Account {}", short(&a)))),
            other => Ok(other),
        };
    }
    match requested {
        Some(a) if a != session.account() => Err(DashboardError::NotFound(format!("Account {}", short(&a)))),
        _ => Ok(Some(session.account().to_owned())),
    }
}

/// The one account a page about one account's things reads.
fn one_account(session: &Session, requested: Option<String>) -> Result<String, DashboardError> {
    scope(session, requested)?.ok_or_else(|| DashboardError::Invalid("Pick an account".into()))
}

/// Filters are SIDs or type names: anything else is refused before a query sees it.
pub fn check_filter(f: &FeedFilter) -> Result<(), DashboardError> {
    let fine = |v: &Option<String>| v.as_deref().is_none_or(|s| s.len() <= 120 && !s.contains('\0'));
    if fine(&f.sim) && fine(&f.fleet) && fine(&f.event_type) {
        Ok(())
    } else {
        Err(DashboardError::Invalid("A filter is too long or holds a NUL".into()))
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AccountParam {
    /// An operator's choice of account; customers read their own.
    pub account: Option<String>,
}

/// Who is signed in, and (for an operator) the accounts it may pick.
#[utoipa::path(get, path = "/dashboard/api/session", tag = "dashboard", operation_id = "DashboardSession",
    responses((status = 200, description = "The signed-in account and role", body = Object),
              (status = 401, description = "Not signed in", body = TwilioError)),
    security(("dashboardSession" = [])))]
pub async fn session_info(State(state): State<AppState>, session: Session) -> Result<Json<Value>, DashboardError> {
    let accounts = if session.is_operator() {
        state
            .accounts
            .list(500)
            .await?
            .into_iter()
            .map(|(sid, name, role)| json!({ "sid": sid, "friendly_name": name, "role": role }))
            .collect()
    } else {
        Vec::new()
    };
    Ok(Json(json!({
        "account_sid": session.account(),
        "role": if session.is_operator() { "operator" } else { "customer" },
        "accounts": accounts,
    })))
}

/// The overview: SIMs by status and fleet, the last hour per minute, open sessions, blocked
/// SIMs, data today, projection lags, exporters and sinks.
#[utoipa::path(get, path = "/dashboard/api/overview", tag = "dashboard", operation_id = "DashboardOverview",
    params(AccountParam),
    responses((status = 200, description = "The overview's figures", body = Object),
              (status = 400, description = "A bad parameter", body = TwilioError),
              (status = 401, description = "Not signed in", body = TwilioError),
              (status = 404, description = "Another account", body = TwilioError)),
    security(("dashboardSession" = [])))]
pub async fn overview(
    State(state): State<AppState>,
    session: Session,
    Query(p): Query<AccountParam>,
) -> Result<Json<dash::Overview>, DashboardError> {
    let account = scope(&session, p.account)?;
    // How far each read model and decider is behind the whole log is the operator's to see.
    let subscribers: Vec<&str> = if session.is_operator() {
        simledger_projections::NAMES.iter().chain(simledger_policies::DECIDERS).copied().collect()
    } else {
        Vec::new()
    };
    let mut overview = dash::overview(state.pool(), Scope(account.as_deref()), &subscribers, Utc::now()).await?;
    if !session.is_operator() {
        overview.log_head = 0;
    }
    Ok(Json(overview))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SimsParams {
    pub account: Option<String>,
    /// `new`, `ready`, `active`, `inactive`, `scheduled`.
    pub status: Option<String>,
    pub fleet: Option<String>,
    /// The last SID of the previous page.
    pub after: Option<String>,
}

/// A page of 50 SIMs in SID order.
#[utoipa::path(get, path = "/dashboard/api/sims", tag = "dashboard", operation_id = "DashboardSims",
    params(SimsParams),
    responses((status = 200, description = "SIMs, and the SID to ask `after` for the next page", body = Object),
              (status = 400, description = "A bad parameter, or no account picked", body = TwilioError),
              (status = 401, description = "Not signed in", body = TwilioError),
              (status = 404, description = "Another account", body = TwilioError)),
    security(("dashboardSession" = [])))]
pub async fn sims(
    State(state): State<AppState>,
    session: Session,
    Query(p): Query<SimsParams>,
) -> Result<Json<Value>, DashboardError> {
    let account = one_account(&session, p.account)?;
    if let Some(s) = &p.status {
        if !["new", "ready", "active", "inactive", "scheduled"].contains(&s.as_str()) {
            return Err(DashboardError::Invalid(format!("Unknown status {}", short(s))));
        }
    }
    let filter = SimFilter { status: p.status, fleet_sid: p.fleet.filter(|f| !f.is_empty()), iccid: None };
    let cursor = match p.after.filter(|a| !a.is_empty()) {
        Some(a) => Cursor::After(short(&a)),
        None => Cursor::Start,
    };
    let rows = registry::sims(state.pool(), &account, &filter, &PageQuery { size: 50, cursor }).await?;
    let next = if rows.more { rows.items.last().map(|r| r.sim_sid.clone()) } else { None };
    let sims: Vec<Value> = rows
        .items
        .into_iter()
        .map(|r| {
            json!({ "sid": r.sim_sid, "unique_name": r.unique_name, "iccid": r.iccid, "status": r.status,
                    "fleet_sid": r.fleet_sid, "date_created": r.date_created })
        })
        .collect();
    Ok(Json(json!({ "sims": sims, "next": next })))
}

/// The account whose SIM this is, if the viewer may see it; "not found" otherwise.
async fn sim_owner(state: &AppState, session: &Session, sid: &str) -> Result<String, DashboardError> {
    let not_found = || DashboardError::NotFound(format!("Sim {}", short(sid)));
    if !SimSid::is_valid(sid) {
        return Err(not_found());
    }
    let owner = dash::sim_account(state.pool(), sid).await?.ok_or_else(not_found)?;
    if session.is_operator() || owner == session.account() {
        Ok(owner)
    } else {
        Err(not_found())
    }
}

/// A SIM's page: its registration, IMSIs, where it was last seen, its billing period and
/// limit, balances, newest CDRs and its newest events from the log.
#[utoipa::path(get, path = "/dashboard/api/sims/{sid}", tag = "dashboard", operation_id = "DashboardSim",
    params(("sid" = String, Path, description = "The SIM's SID")),
    responses((status = 200, description = "The SIM page's figures", body = Object),
              (status = 401, description = "Not signed in", body = TwilioError),
              (status = 404, description = "No such SIM in the viewer's account", body = TwilioError)),
    security(("dashboardSession" = [])))]
pub async fn sim(
    State(state): State<AppState>,
    session: Session,
    Path(sid): Path<String>,
) -> Result<Json<Value>, DashboardError> {
    let account = sim_owner(&state, &session, &sid).await?;
    let pool = state.pool();
    let row = registry::sim(pool, &account, &sid)
        .await?
        .ok_or_else(|| DashboardError::NotFound(format!("Sim {}", short(&sid))))?;
    let fleet = match &row.fleet_sid {
        Some(f) => registry::fleet(pool, &account, f).await?,
        None => None,
    };
    let imsis: Vec<Value> = dash::sim_imsis(pool, &sid)
        .await?
        .into_iter()
        .map(|(imsi, allowed)| json!({ "imsi": imsi, "allowed": allowed }))
        .collect();
    let positions = dash::sim_event_positions(pool, &sid, 50).await?;
    let mut events: Vec<FeedItem> = state
        .log()
        .read_at(&positions)
        .await?
        .iter()
        .map(FeedItem::of)
        .filter(|i| i.account_sid.as_deref() == Some(account.as_str()))
        .collect();
    events.reverse();
    let named = [row.sim_sid.clone(), row.iccid.clone()];
    let balances = simledger_policies::billing::read::accounts_named(pool, &account, &named).await?;
    Ok(Json(json!({
        "sid": row.sim_sid,
        "account_sid": row.account_sid,
        "unique_name": row.unique_name,
        "iccid": row.iccid,
        "status": row.status,
        "fleet": fleet.map(|f| json!({ "sid": f.fleet_sid, "unique_name": f.unique_name,
                                       "data_limit_mb": f.data_limit_mb, "data_enabled": f.data_enabled })),
        "imsis": imsis,
        "live": dash::sim_live(pool, &account, &sid).await?,
        "billing_period": dash::sim_period(pool, &sid).await?,
        "balances": balances,
        "cdrs": dash::sim_cdrs(pool, &account, &sid, 20).await?,
        "events": events,
    })))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct GranularityParam {
    /// `hour` (the last 24 hours, default) or `day` (the last 30 days).
    pub granularity: Option<String>,
}

fn granularity(g: Option<&str>) -> Result<(Granularity, chrono::DateTime<Utc>), DashboardError> {
    let now = Utc::now();
    match g.unwrap_or("hour") {
        "hour" => Ok((Granularity::Hour, now - Duration::hours(24))),
        "day" => Ok((Granularity::Day, now - Duration::days(30))),
        other => Err(DashboardError::Invalid(format!("Unknown granularity {}; use hour or day", short(other)))),
    }
}

/// A SIM's bytes per hour or day.
#[utoipa::path(get, path = "/dashboard/api/sims/{sid}/usage", tag = "dashboard", operation_id = "DashboardSimUsage",
    params(("sid" = String, Path, description = "The SIM's SID"), GranularityParam),
    responses((status = 200, description = "Bytes per period", body = Object),
              (status = 400, description = "A bad parameter", body = TwilioError),
              (status = 401, description = "Not signed in", body = TwilioError),
              (status = 404, description = "No such SIM in the viewer's account", body = TwilioError)),
    security(("dashboardSession" = [])))]
pub async fn sim_usage(
    State(state): State<AppState>,
    session: Session,
    Path(sid): Path<String>,
    Query(p): Query<GranularityParam>,
) -> Result<Json<Value>, DashboardError> {
    let (granularity, since) = granularity(p.granularity.as_deref())?;
    let account = sim_owner(&state, &session, &sid).await?;
    let points = dash::sim_usage(state.pool(), &account, &sid, granularity, since).await?;
    Ok(Json(json!({ "points": points })))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SimAction {
    /// `ready`, `active` or `inactive`.
    pub status: Option<String>,
    /// The fleet (SID or unique name) to move the SIM to.
    pub fleet: Option<String>,
}

/// Activates, deactivates or moves a SIM: `/v1`'s UpdateSim command.
#[utoipa::path(post, path = "/dashboard/api/sims/{sid}", tag = "dashboard", operation_id = "DashboardUpdateSim",
    params(("sid" = String, Path, description = "The SIM's SID")),
    request_body(content = SimAction, content_type = "application/json"),
    responses((status = 200, description = "The change was committed", body = Object),
              (status = 400, description = "A bad change (Twilio's rule codes)", body = TwilioError),
              (status = 401, description = "Not signed in", body = TwilioError),
              (status = 403, description = "Not sent from the dashboard's own page", body = TwilioError),
              (status = 404, description = "No such SIM in the viewer's account", body = TwilioError),
              (status = 409, description = "A concurrent change won", body = TwilioError),
              (status = 415, description = "Not JSON", body = TwilioError)),
    security(("dashboardSession" = [])))]
pub async fn update_sim(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(sid): Path<String>,
    crate::extract::JsonBody(action): crate::extract::JsonBody<SimAction>,
) -> Result<Json<Value>, DashboardError> {
    same_origin(&headers)?;
    let account = sim_owner(&state, &session, &sid).await?;
    let status = match action.status.as_deref() {
        None => None,
        Some("ready") => Some(SimStatus::Ready),
        Some("active") => Some(SimStatus::Active),
        Some("inactive") => Some(SimStatus::Inactive),
        Some(other) => return Err(DashboardError::Invalid(format!("Unknown status {}", short(other)))),
    };
    let changes = SimChanges {
        unique_name: None,
        status,
        fleet: action.fleet.filter(|f| !f.is_empty()),
        callback_url: None,
        callback_method: None,
        disallowed_imsis: None,
    };
    state.commands.update_sim(CommandId::random(), &account, &sid, changes).await?;
    Ok(Json(json!({ "sid": sid })))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SmsAction {
    /// Up to 160 characters.
    pub payload: String,
}

/// Sends an SMS Command to the SIM: `/v1`'s CreateSmsCommand.
#[utoipa::path(post, path = "/dashboard/api/sims/{sid}/sms", tag = "dashboard", operation_id = "DashboardSendSms",
    params(("sid" = String, Path, description = "The SIM's SID")),
    request_body(content = SmsAction, content_type = "application/json"),
    responses((status = 200, description = "The SMS Command's SID", body = Object),
              (status = 400, description = "A bad payload (Twilio's rule codes)", body = TwilioError),
              (status = 401, description = "Not signed in", body = TwilioError),
              (status = 403, description = "Not sent from the dashboard's own page", body = TwilioError),
              (status = 404, description = "No such SIM in the viewer's account", body = TwilioError),
              (status = 415, description = "Not JSON", body = TwilioError)),
    security(("dashboardSession" = [])))]
pub async fn send_sms(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(sid): Path<String>,
    crate::extract::JsonBody(action): crate::extract::JsonBody<SmsAction>,
) -> Result<Json<Value>, DashboardError> {
    same_origin(&headers)?;
    let account = sim_owner(&state, &session, &sid).await?;
    let callback = simledger_commands::Callback { url: None, method: None };
    let sms = state.commands.create_sms_command(CommandId::random(), &account, &sid, &action.payload, callback).await?;
    Ok(Json(json!({ "sid": sms })))
}

/// Fleets with their SIM counts and data limits.
#[utoipa::path(get, path = "/dashboard/api/fleets", tag = "dashboard", operation_id = "DashboardFleets",
    params(AccountParam),
    responses((status = 200, description = "Fleets", body = Object),
              (status = 400, description = "A bad parameter", body = TwilioError),
              (status = 401, description = "Not signed in", body = TwilioError),
              (status = 404, description = "Another account", body = TwilioError)),
    security(("dashboardSession" = [])))]
pub async fn fleets(
    State(state): State<AppState>,
    session: Session,
    Query(p): Query<AccountParam>,
) -> Result<Json<Value>, DashboardError> {
    let account = scope(&session, p.account)?;
    Ok(Json(json!({ "fleets": dash::fleets(state.pool(), Scope(account.as_deref())).await? })))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UsageParams {
    pub account: Option<String>,
    /// `fleet` (default), `network` or `country`.
    pub group: Option<String>,
    /// `hour` (the last 24 hours, default) or `day` (the last 30 days).
    pub granularity: Option<String>,
}

/// Bytes per hour or day, split by fleet, network or country.
#[utoipa::path(get, path = "/dashboard/api/usage", tag = "dashboard", operation_id = "DashboardUsage",
    params(UsageParams),
    responses((status = 200, description = "Bytes per period and group", body = Object),
              (status = 400, description = "A bad parameter", body = TwilioError),
              (status = 401, description = "Not signed in", body = TwilioError),
              (status = 404, description = "Another account", body = TwilioError)),
    security(("dashboardSession" = [])))]
pub async fn usage(
    State(state): State<AppState>,
    session: Session,
    Query(p): Query<UsageParams>,
) -> Result<Json<Value>, DashboardError> {
    let group = match p.group.as_deref().unwrap_or("fleet") {
        "fleet" => UsageGroup::Fleet,
        "network" => UsageGroup::Network,
        "country" => UsageGroup::Country,
        other => {
            return Err(DashboardError::Invalid(format!(
                "Unknown group {}; use fleet, network or country",
                short(other)
            )))
        }
    };
    let (granularity, since) = granularity(p.granularity.as_deref())?;
    let account = scope(&session, p.account)?;
    let points = dash::usage(state.pool(), Scope(account.as_deref()), group, granularity, since).await?;
    Ok(Json(json!({ "points": points })))
}

/// The account's CGrateS-style billing: accounts and balances (with their triggers and whether
/// each fired), action plans and their bindings, actions and triggers defined.
#[utoipa::path(get, path = "/dashboard/api/billing", tag = "dashboard", operation_id = "DashboardBilling",
    params(AccountParam),
    responses((status = 200, description = "Billing accounts, plans, actions and triggers", body = Object),
              (status = 400, description = "A bad parameter, or no account picked", body = TwilioError),
              (status = 401, description = "Not signed in", body = TwilioError),
              (status = 404, description = "Another account", body = TwilioError)),
    security(("dashboardSession" = [])))]
pub async fn billing(
    State(state): State<AppState>,
    session: Session,
    Query(p): Query<AccountParam>,
) -> Result<Json<Value>, DashboardError> {
    let tenant = one_account(&session, p.account)?;
    let pool = state.pool();
    use simledger_policies::billing::read as billing;
    let catalog = billing::catalog(pool, &tenant).await?;
    Ok(Json(json!({
        "accounts": billing::accounts(pool, &tenant, "", 100).await?,
        "plan_bindings": billing::plan_bindings(pool, &tenant, 100).await?,
        "action_plans": catalog.plans,
        "actions": catalog.actions,
        "triggers": catalog.trigger_groups,
    })))
}

/// CDR exporters, their cursors and how far behind they are, their latest runs and the files
/// each wrote; event-stream sinks likewise.
#[utoipa::path(get, path = "/dashboard/api/exports", tag = "dashboard", operation_id = "DashboardExports",
    params(AccountParam),
    responses((status = 200, description = "Exporters and sinks", body = Object),
              (status = 400, description = "A bad parameter", body = TwilioError),
              (status = 401, description = "Not signed in", body = TwilioError),
              (status = 404, description = "Another account", body = TwilioError)),
    security(("dashboardSession" = [])))]
pub async fn exports(
    State(state): State<AppState>,
    session: Session,
    Query(p): Query<AccountParam>,
) -> Result<Json<Value>, DashboardError> {
    let account = scope(&session, p.account)?;
    let pool = state.pool();
    let head = state.log().head().await?;
    let scope = Scope(account.as_deref());
    Ok(Json(json!({
        "log_head": head,
        "exporters": dash::exporters(pool, scope).await?,
        "runs": dash::export_runs(pool, scope, 50).await?,
        "sinks": dash::sinks(pool, scope, head).await?,
    })))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsParams {
    pub account: Option<String>,
    /// Events after this log position (default: 2,000 before `before`).
    pub after: Option<i64>,
    /// Up to and including this position (default: the log's head).
    pub before: Option<i64>,
    pub sim: Option<String>,
    pub fleet: Option<String>,
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub event_type: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventsPage {
    pub events: Vec<FeedItem>,
    /// The last position looked at: a feed resumed from here misses nothing.
    pub upto: i64,
}

/// The events of a range of the log a viewer may see (at most 10,000 positions looked at).
#[utoipa::path(get, path = "/dashboard/api/events", tag = "dashboard", operation_id = "DashboardEvents",
    params(EventsParams),
    responses((status = 200, description = "Events in position order", body = EventsPage),
              (status = 400, description = "A bad parameter", body = TwilioError),
              (status = 401, description = "Not signed in", body = TwilioError),
              (status = 404, description = "Another account", body = TwilioError),
              (status = 429, description = "Another read of the log for this account is under way", body = TwilioError)),
    security(("dashboardSession" = [])))]
pub async fn events(
    State(state): State<AppState>,
    session: Session,
    Query(p): Query<EventsParams>,
) -> Result<Json<EventsPage>, DashboardError> {
    let account = scope(&session, p.account)?;
    let filter = FeedFilter { account, sim: p.sim, fleet: p.fleet, event_type: p.event_type };
    check_filter(&filter)?;
    if p.before.is_some_and(|b| b < 0) || p.after.is_some_and(|a| a < 0) {
        return Err(DashboardError::Invalid("after and before are log positions, never negative".into()));
    }
    let head = state.log().head().await?;
    let before = p.before.unwrap_or(head).min(head);
    let after = p.after.unwrap_or(before.saturating_sub(2000)).max(0);
    if after > before {
        return Err(DashboardError::Invalid("after must not be past before".into()));
    }
    let _place = state.feeds.scan_now(session.account())?;
    let (events, upto) = feed::history(state.log(), &filter, after, before).await?;
    Ok(Json(EventsPage { events, upto }))
}
