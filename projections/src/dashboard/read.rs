//! The dashboard's queries: each reads aggregates or one SIM's rows by key, never every SIM or
//! the whole log, so a page costs the same at a million SIMs as at ten.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use sqlx::PgPool;

/// Whose figures: one account, or (an operator's view) every account.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a>(pub Option<&'a str>);

impl Scope<'_> {
    fn account(&self) -> Option<&str> {
        self.0
    }
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct StatusCount {
    pub status: String,
    pub sims: i64,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct FleetCount {
    /// `None` for SIMs in no fleet.
    pub fleet_sid: Option<String>,
    pub unique_name: Option<String>,
    pub data_limit_mb: Option<i64>,
    pub sims: i64,
    pub active: i64,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Minute {
    pub minute: DateTime<Utc>,
    #[serde(flatten)]
    #[sqlx(flatten)]
    pub counts: super::MinuteCounts,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ProjectionLag {
    pub name: String,
    pub position: i64,
    /// Events committed to the log that it has not applied yet.
    pub lag: i64,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ExporterLag {
    pub tenant: String,
    pub exporter_id: String,
    pub kind: String,
    pub export_path: String,
    pub schedule: Option<String>,
    pub next_run_at: Option<DateTime<Utc>>,
    pub declared: bool,
    pub last_exported_order_id: i64,
    /// Whether a run was interrupted and will write its range again.
    pub pending: bool,
    /// The order ID of the tenant's newest CDR.
    pub latest_order_id: Option<i64>,
    /// CDRs after the cursor, counted up to [`MAX_COUNTED`] (more shows as that figure).
    pub cdrs_behind: i64,
}

/// Counts stop here, so a far-behind exporter costs a bounded read.
pub const MAX_COUNTED: i64 = 1_000;

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct SinkLag {
    pub sink_sid: String,
    pub account_sid: String,
    pub description: String,
    pub sink_type: String,
    pub status: String,
    pub failed: bool,
    pub position: Option<i64>,
    /// Log positions after the sink's cursor.
    pub lag: Option<i64>,
    pub delivered: Option<i64>,
    pub last_error: Option<String>,
    pub last_delivered_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    pub sims_total: i64,
    pub sims_active: i64,
    pub sims_by_status: Vec<StatusCount>,
    pub sims_by_fleet: Vec<FleetCount>,
    /// The last hour, oldest first; minutes without events are left out.
    pub minutes: Vec<Minute>,
    /// Over the last full minute.
    pub events_per_second: f64,
    pub open_sessions: i64,
    pub blocked_sims: i64,
    pub bytes_today: i64,
    pub log_head: i64,
    pub projections: Vec<ProjectionLag>,
    pub exporters: Vec<ExporterLag>,
    pub sinks: Vec<SinkLag>,
}

pub async fn overview(
    pool: &PgPool,
    scope: Scope<'_>,
    projections: &[&str],
    now: DateTime<Utc>,
) -> sqlx::Result<Overview> {
    let account = scope.account();
    let sims_by_status: Vec<StatusCount> = sqlx::query_as(
        "SELECT status, sum(sims)::int8 AS sims FROM dash_sim_counts \
         WHERE ($1::text IS NULL OR account_sid = $1) GROUP BY status HAVING sum(sims) > 0 ORDER BY status",
    )
    .bind(account)
    .fetch_all(pool)
    .await?;
    let sims_by_fleet = fleets(pool, scope).await?;
    let since = super::minute_of(now) - Duration::minutes(59);
    let minutes: Vec<Minute> = sqlx::query_as(
        "SELECT minute, sum(events)::int8 AS events, sum(attaches_accepted)::int8 AS attaches_accepted, \
         sum(attaches_rejected)::int8 AS attaches_rejected, \
         sum(data_sessions_started)::int8 AS data_sessions_started, sum(sms)::int8 AS sms, \
         sum(bytes)::int8 AS bytes \
         FROM dash_minutes WHERE ($1::text IS NULL OR account_sid = $1) AND minute >= $2 \
         GROUP BY minute ORDER BY minute",
    )
    .bind(account)
    .bind(since)
    .fetch_all(pool)
    .await?;
    let last_full = super::minute_of(now) - Duration::minutes(1);
    let events_per_second =
        minutes.iter().find(|m| m.minute == last_full).map_or(0.0, |m| m.counts.events as f64 / 60.0);
    let (open_sessions, blocked_sims): (i64, i64) = sqlx::query_as(
        "SELECT coalesce(sum(open_sessions), 0)::int8, coalesce(sum(blocked_sims), 0)::int8 FROM dash_accounts \
         WHERE ($1::text IS NULL OR account_sid = $1)",
    )
    .bind(account)
    .fetch_one(pool)
    .await?;
    let midnight = now.date_naive().and_hms_opt(0, 0, 0).map(|t| t.and_utc()).unwrap_or(now);
    let bytes_today: i64 = sqlx::query_scalar(
        "SELECT coalesce(sum(bytes), 0)::int8 FROM dash_minutes \
         WHERE ($1::text IS NULL OR account_sid = $1) AND minute >= $2",
    )
    .bind(account)
    .bind(midnight)
    .fetch_one(pool)
    .await?;
    let log_head: i64 = sqlx::query_scalar("SELECT head FROM log_shards WHERE shard = 0").fetch_one(pool).await?;
    let names: Vec<String> = projections.iter().map(|s| (*s).to_owned()).collect();
    let projections: Vec<ProjectionLag> = sqlx::query_as(
        "SELECT name, position, $2 - position AS lag, updated_at FROM checkpoints \
         WHERE shard = 0 AND name = ANY($1) ORDER BY name",
    )
    .bind(&names)
    .bind(log_head)
    .fetch_all(pool)
    .await?;
    Ok(Overview {
        sims_total: sims_by_status.iter().map(|s| s.sims).sum(),
        sims_active: sims_by_status.iter().filter(|s| s.status == "active").map(|s| s.sims).sum(),
        sims_by_status,
        sims_by_fleet,
        minutes,
        events_per_second,
        open_sessions,
        blocked_sims,
        bytes_today,
        log_head,
        projections,
        exporters: exporters(pool, scope).await?,
        sinks: sinks(pool, scope, log_head).await?,
    })
}

/// SIMs per fleet, with each fleet's name and data limit (fleets with no SIMs too).
pub async fn fleets(pool: &PgPool, scope: Scope<'_>) -> sqlx::Result<Vec<FleetCount>> {
    sqlx::query_as(
        "WITH counts AS ( \
            SELECT account_sid, fleet_sid, sum(sims)::int8 AS sims, \
                   sum(sims) FILTER (WHERE status = 'active')::int8 AS active \
            FROM dash_sim_counts WHERE ($1::text IS NULL OR account_sid = $1) GROUP BY account_sid, fleet_sid) \
         SELECT nullif(coalesce(c.fleet_sid, f.fleet_sid), '') AS fleet_sid, f.unique_name, f.data_limit_mb, \
                coalesce(c.sims, 0) AS sims, coalesce(c.active, 0) AS active \
         FROM counts c FULL JOIN (SELECT * FROM registry_fleets WHERE ($1::text IS NULL OR account_sid = $1)) f \
              ON f.fleet_sid = c.fleet_sid \
         WHERE coalesce(c.sims, 0) > 0 OR f.fleet_sid IS NOT NULL \
         ORDER BY 1 NULLS FIRST LIMIT 500",
    )
    .bind(scope.account())
    .fetch_all(pool)
    .await
}

pub async fn exporters(pool: &PgPool, scope: Scope<'_>) -> sqlx::Result<Vec<ExporterLag>> {
    sqlx::query_as(
        "SELECT e.tenant, e.exporter_id, e.kind, e.export_path, e.schedule, e.next_run_at, e.declared, \
                e.last_exported_order_id, e.pending_last IS NOT NULL AS pending, latest.order_id AS latest_order_id, \
                (SELECT count(*) FROM (SELECT 1 FROM cdrs c WHERE c.tenant = e.tenant \
                    AND lpad(c.order_id::text, 20, '0') > lpad(e.last_exported_order_id::text, 20, '0') \
                    LIMIT $2) behind) AS cdrs_behind \
         FROM cdr_exporters e \
         LEFT JOIN LATERAL (SELECT order_id FROM cdrs c WHERE c.tenant = e.tenant \
                            ORDER BY lpad(c.order_id::text, 20, '0') DESC LIMIT 1) latest ON true \
         WHERE ($1::text IS NULL OR e.tenant = $1) ORDER BY e.tenant, e.exporter_id LIMIT 200",
    )
    .bind(scope.account())
    .bind(MAX_COUNTED)
    .fetch_all(pool)
    .await
}

pub async fn sinks(pool: &PgPool, scope: Scope<'_>, log_head: i64) -> sqlx::Result<Vec<SinkLag>> {
    sqlx::query_as(
        "SELECT s.sink_sid, s.account_sid, s.description, s.sink_type, s.status, coalesce(c.failed, false) AS failed, \
                c.position, $2 - c.position AS lag, c.delivered, c.last_error, c.last_delivered_at \
         FROM es_sinks s LEFT JOIN sink_cursors c USING (sink_sid) \
         WHERE ($1::text IS NULL OR s.account_sid = $1) ORDER BY s.account_sid, s.sink_sid LIMIT 200",
    )
    .bind(scope.account())
    .bind(log_head)
    .fetch_all(pool)
    .await
}

/// Where the network last saw a SIM, its open sessions and block.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct SimLive {
    pub open_sessions: i32,
    pub blocked: bool,
    pub network_sid: Option<String>,
    pub network_name: Option<String>,
    pub mcc: Option<String>,
    pub mnc: Option<String>,
    pub iso_country: Option<String>,
    pub cell_id: Option<String>,
    pub lac: Option<String>,
    pub rat_type: Option<String>,
    pub last_event: Option<String>,
    pub last_seen_at: Option<DateTime<Utc>>,
}

pub async fn sim_live(pool: &PgPool, account: &str, sim: &str) -> sqlx::Result<Option<SimLive>> {
    sqlx::query_as(
        "SELECT open_sessions, blocked, network_sid, network_name, mcc, mnc, iso_country, cell_id, lac, rat_type, \
                last_event, last_seen_at \
         FROM dash_sims WHERE sim_sid = $1 AND account_sid = $2",
    )
    .bind(sim)
    .bind(account)
    .fetch_optional(pool)
    .await
}

/// The newest `limit` log positions of a SIM's events, newest first.
pub async fn sim_event_positions(pool: &PgPool, sim: &str, limit: i64) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar("SELECT position FROM dash_sim_events WHERE sim_sid = $1 ORDER BY position DESC LIMIT $2")
        .bind(sim)
        .bind(limit)
        .fetch_all(pool)
        .await
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct UsagePoint {
    pub period: DateTime<Utc>,
    /// The fleet, network or country, by the grouping asked for; `None` ungrouped.
    pub key: Option<String>,
    pub bytes: i64,
}

/// How usage is split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageGroup {
    Fleet,
    Network,
    Country,
}

/// Hourly or daily.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    Hour,
    Day,
}

impl Granularity {
    fn trunc(self) -> &'static str {
        match self {
            Self::Hour => "hour",
            Self::Day => "day",
        }
    }
}

/// An account's (or every account's) bytes from `since`, per period and group.
pub async fn usage(
    pool: &PgPool,
    scope: Scope<'_>,
    group: UsageGroup,
    granularity: Granularity,
    since: DateTime<Utc>,
) -> sqlx::Result<Vec<UsagePoint>> {
    // The column is chosen from an enum, never from input.
    let key = match group {
        UsageGroup::Fleet => "nullif(fleet_sid, '')",
        UsageGroup::Network => "network_sid",
        UsageGroup::Country => "iso_country",
    };
    let sql = format!(
        "SELECT date_trunc('{}', hour, 'UTC') AS period, {key} AS key, sum(bytes)::int8 AS bytes \
         FROM dash_usage_hourly WHERE ($1::text IS NULL OR account_sid = $1) AND hour >= $2 \
         GROUP BY 1, 2 ORDER BY 1, 2 LIMIT 5000",
        granularity.trunc()
    );
    sqlx::query_as(&sql).bind(scope.account()).bind(since).fetch_all(pool).await
}

/// One SIM's bytes from `since`, per period (its own rows of `usage_hourly`, by key).
pub async fn sim_usage(
    pool: &PgPool,
    account: &str,
    sim: &str,
    granularity: Granularity,
    since: DateTime<Utc>,
) -> sqlx::Result<Vec<UsagePoint>> {
    let sql = format!(
        "SELECT date_trunc('{}', hour, 'UTC') AS period, NULL::text AS key, sum(data_total)::int8 AS bytes \
         FROM usage_hourly WHERE sim_sid = $1 AND account_sid = $2 AND hour >= $3 GROUP BY 1 ORDER BY 1 LIMIT 1000",
        granularity.trunc()
    );
    sqlx::query_as(&sql).bind(sim).bind(account).bind(since).fetch_all(pool).await
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct CdrLine {
    pub order_id: i64,
    pub tor: String,
    pub destination: String,
    pub setup_time: DateTime<Utc>,
    pub usage: i64,
    #[serde(with = "rust_decimal::serde::str")]
    pub cost: rust_decimal::Decimal,
    pub run_id: String,
}

/// A SIM's newest CDRs (a CDR's account is its SIM).
pub async fn sim_cdrs(pool: &PgPool, account: &str, sim: &str, limit: i64) -> sqlx::Result<Vec<CdrLine>> {
    sqlx::query_as(
        "SELECT order_id, tor, destination, setup_time, usage, cost, run_id FROM cdrs \
         WHERE tenant = $1 AND account = $2 ORDER BY order_id DESC LIMIT $3",
    )
    .bind(account)
    .bind(sim)
    .bind(limit)
    .fetch_all(pool)
    .await
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct BillingPeriodLine {
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub period_type: String,
    pub used_bytes: i64,
    pub blocked: bool,
}

/// A SIM's current (newest) billing period as the limits projection counts it.
pub async fn sim_period(pool: &PgPool, sim: &str) -> sqlx::Result<Option<BillingPeriodLine>> {
    sqlx::query_as(
        "SELECT period_start, period_end, period_type, used_bytes, blocked FROM limits_periods \
         WHERE sim_sid = $1 ORDER BY period_start DESC LIMIT 1",
    )
    .bind(sim)
    .fetch_optional(pool)
    .await
}

/// The account a SIM is registered to (how an operator's SIM page finds it).
pub async fn sim_account(pool: &PgPool, sim: &str) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT account_sid FROM registry_sims WHERE sim_sid = $1 AND account_sid IS NOT NULL")
        .bind(sim)
        .fetch_optional(pool)
        .await
}

/// A SIM's IMSIs and whether the HSS lets each attach.
pub async fn sim_imsis(pool: &PgPool, sim: &str) -> sqlx::Result<Vec<(String, bool)>> {
    sqlx::query_as("SELECT imsi, allowed FROM registry_sim_imsis WHERE sim_sid = $1 ORDER BY imsi")
        .bind(sim)
        .fetch_all(pool)
        .await
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ExportRun {
    pub tenant: String,
    pub exporter_id: String,
    pub first_order_id: i64,
    pub last_order_id: i64,
    pub cdrs: i64,
    /// The files or objects the run completed.
    pub files: Vec<String>,
    pub finished_at: DateTime<Utc>,
}

/// The newest `limit` export runs (every tenant's when `scope` is everyone).
pub async fn export_runs(pool: &PgPool, scope: Scope<'_>, limit: i64) -> sqlx::Result<Vec<ExportRun>> {
    sqlx::query_as(
        "SELECT tenant, exporter_id, first_order_id, last_order_id, cdrs, files, finished_at FROM cdr_export_runs \
         WHERE ($1::text IS NULL OR tenant = $1) ORDER BY finished_at DESC LIMIT $2",
    )
    .bind(scope.account())
    .bind(limit)
    .fetch_all(pool)
    .await
}
