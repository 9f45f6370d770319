//! Running an exporter: one run per exporter and per tenant at a time, the range recorded as
//! pending before it is written, the cursor moved after; and exports of a chosen selection.

use super::*;

use rust_decimal::Decimal;
use sqlx::{Connection, PgPool};

use super::record::CdrRecord;

/// The CSV file a range goes to.
pub fn file_name(exporter: &str, first: i64, last: i64) -> String {
    object_name(exporter, Format::Csv, first, last)
}

pub(super) fn object_name(exporter: &str, format: Format, first: i64, last: i64) -> String {
    let ext = match format {
        Format::Csv => "csv",
        Format::JsonLines => "jsonl",
        Format::Form => "form",
    };
    format!("cdrs_{exporter}_{first:020}_{last:020}.{ext}")
}

/// What a run exported (CGrateS's verbose export metrics).
#[derive(Debug, Clone, Default, serde::Serialize, utoipa::ToSchema)]
pub struct RunReport {
    #[serde(rename = "FirstExpOrderID")]
    pub first_order_id: Option<i64>,
    #[serde(rename = "LastExpOrderID")]
    pub last_order_id: Option<i64>,
    #[serde(rename = "NumberOfEvents")]
    pub events: i64,
    /// A decimal; unrated CDRs (-1) are not counted.
    #[serde(rename = "TotalCost", with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub total_cost: Decimal,
    #[serde(rename = "TotalDataUsage")]
    pub data_usage: i64,
    #[serde(rename = "TotalSMSUsage")]
    pub sms_usage: i64,
    /// Nanoseconds of `*voice` CDRs (external ones).
    #[serde(rename = "TotalDuration")]
    pub voice_usage: i64,
    #[serde(rename = "TotalGenericUsage")]
    pub generic_usage: i64,
    /// Every file or object this run completed.
    #[serde(rename = "FilePaths")]
    pub file_paths: Vec<String>,
    /// Filled when the run is verbose.
    #[serde(rename = "ExportedCGRIDs")]
    pub exported_cgrids: Vec<String>,
}

impl RunReport {
    pub(super) fn add(&mut self, cdr: &CdrRecord, verbose: bool) {
        self.first_order_id.get_or_insert(cdr.order_id);
        self.last_order_id = Some(cdr.order_id);
        self.events += 1;
        if cdr.cost >= Decimal::ZERO {
            self.total_cost += cdr.cost;
        }
        match cdr.tor.as_str() {
            "*data" => self.data_usage += cdr.usage,
            "*sms" => self.sms_usage += cdr.usage,
            "*voice" => self.voice_usage += cdr.usage,
            _ => self.generic_usage += cdr.usage,
        }
        if verbose {
            self.exported_cgrids.push(cdr.cgrid.clone());
        }
    }

    pub(super) fn merge(&mut self, other: RunReport) {
        self.first_order_id = self.first_order_id.or(other.first_order_id);
        self.last_order_id = other.last_order_id.or(self.last_order_id);
        self.events += other.events;
        self.total_cost += other.total_cost;
        self.data_usage += other.data_usage;
        self.sms_usage += other.sms_usage;
        self.voice_usage += other.voice_usage;
        self.generic_usage += other.generic_usage;
        self.file_paths.extend(other.file_paths);
        self.exported_cgrids.extend(other.exported_cgrids);
    }
}

impl super::template::Metrics for RunReport {
    fn metric(&self, m: super::template::Metric) -> String {
        use super::template::Metric as M;
        let id = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
        match m {
            M::NumberOfEvents => self.events.to_string(),
            M::TotalCost => self.total_cost.normalize().to_string(),
            M::FirstExpOrderID => id(self.first_order_id),
            M::LastExpOrderID => id(self.last_order_id),
            M::TotalDataUsage => self.data_usage.to_string(),
            M::TotalSMSUsage => self.sms_usage.to_string(),
            M::TotalDuration => self.voice_usage.to_string(),
            M::TotalGenericUsage => self.generic_usage.to_string(),
            M::TimeNow => chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }
    }
}

/// Export runs under way at once in one process.
pub(super) const CONCURRENT_RUNS: usize = 4;
pub(super) static RUNS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(CONCURRENT_RUNS);
/// Tenants with a run under way in this process.
pub(super) static RUNNING_TENANTS: std::sync::Mutex<std::collections::BTreeSet<String>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// A tenant's one run in this process, for as long as it lives.
pub(super) struct TenantRun(String);

impl TenantRun {
    pub(super) fn start(tenant: &str) -> Option<Self> {
        RUNNING_TENANTS.lock().expect("running tenants lock").insert(tenant.to_owned()).then(|| Self(tenant.to_owned()))
    }
}

impl Drop for TenantRun {
    fn drop(&mut self) {
        RUNNING_TENANTS.lock().expect("running tenants lock").remove(&self.0);
    }
}

/// Runs an exporter once: finishes a range an interrupted run left pending (into its own
/// file), then exports everything new since. Runs of one exporter take turns.
pub async fn run(pool: &PgPool, shard: i32, tenant: &str, id: &str) -> Result<RunReport, ExportError> {
    run_with(pool, shard, tenant, id, false).await
}

/// [`run`], listing the exported CGRIDs in the report when `verbose`.
pub async fn run_with(
    pool: &PgPool,
    shard: i32,
    tenant: &str,
    id: &str,
    verbose: bool,
) -> Result<RunReport, ExportError> {
    let held = hold(pool, tenant, id).await?;
    let exporter = get(pool, tenant, id).await?;
    if exporter.kind.is_online() {
        held.release().await;
        return Err(online_only(&exporter));
    }
    if exporter.kind.store() == Store::File {
        remove_stale_temporaries(&exporter);
    }
    let mut total = RunReport::default();
    // At most two ranges: one an interrupted run left pending, and the fresh one after it.
    for _ in 0..2 {
        let Some(report) = run_one_range(pool, shard, tenant, id, verbose).await? else { break };
        total.merge(report);
    }
    held.release().await;
    Ok(total)
}

/// An exporter held for one run: its tenant's place, a place among the process's runs, and the
/// exporter's own lock.
pub(super) struct Held {
    pub(super) _tenant: TenantRun,
    pub(super) _permit: tokio::sync::SemaphorePermit<'static>,
    pub(super) lock: sqlx::PgConnection,
}

impl Held {
    pub(super) async fn release(self) {
        let _ = self.lock.close().await;
    }
}

pub(super) async fn hold(pool: &PgPool, tenant: &str, id: &str) -> Result<Held, ExportError> {
    // Runs are few at a time, so the connections their locks hold stay bounded however many
    // are asked for, and one tenant runs one at a time, so no tenant can hold them all. Neither
    // is waited for: a run that cannot start now is refused, and its caller tries later.
    let tenant_run = TenantRun::start(tenant).ok_or_else(|| ExportError::Busy(id.to_owned()))?;
    let permit = RUNS.try_acquire().map_err(|_| ExportError::Busy(id.to_owned()))?;
    // The lock lives on a connection of its own, outside the pool: if this process dies or the
    // run is abandoned midway, the connection closes and the lock goes with it, and a run never
    // waits for the pool while holding a pooled connection. It is only tried: a second run of
    // the same exporter is refused at once instead of queueing a connection behind the first.
    let lock = lock_exporter(pool, tenant, id).await?;
    Ok(Held { _tenant: tenant_run, _permit: permit, lock })
}

/// Takes exporter `id`'s lock on a connection of its own, or answers `Busy` at once.
pub(super) async fn lock_exporter(pool: &PgPool, tenant: &str, id: &str) -> Result<sqlx::PgConnection, ExportError> {
    let mut lock = sqlx::PgConnection::connect_with(&pool.connect_options()).await?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtextextended($1, 0))")
        .bind(format!("cdr_export/{tenant}/{id}"))
        .fetch_one(&mut lock)
        .await?;
    if !locked {
        let _ = lock.close().await;
        return Err(ExportError::Busy(id.to_owned()));
    }
    Ok(lock)
}

/// A one-off choice of CDRs (CGrateS's `RPCCDRsFilter` on `ExportCDRs`): exported through an
/// exporter's format and its own filters plus these, into a file of its own. The exporter's
/// cursor does not move: its scheduled runs still export every CDR once.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// The first order ID to look at (inclusive).
    pub order_id_start: Option<i64>,
    /// The order ID to stop before (exclusive).
    pub order_id_end: Option<i64>,
    pub filters: Vec<filter::Filter>,
    /// Names the file, so the same selection asked again writes the same file again.
    pub key: String,
}

/// Exports a [`Selection`] through exporter `id`.
pub async fn export_selection(
    pool: &PgPool,
    tenant: &str,
    id: &str,
    selection: &Selection,
    verbose: bool,
) -> Result<RunReport, ExportError> {
    let held = hold(pool, tenant, id).await?;
    let exporter = get(pool, tenant, id).await?;
    if exporter.kind.is_online() {
        held.release().await;
        return Err(online_only(&exporter));
    }
    let mut compiled = compile(&exporter)?;
    compiled.filters.extend(selection.filters.iter().cloned());
    // The operator's exporters choose among every tenant's CDRs.
    let newest: Option<i64> = if tenant == OPERATOR {
        sqlx::query_scalar("SELECT max(order_id) FROM cdrs").fetch_one(pool).await?
    } else {
        sqlx::query_scalar(
            "SELECT order_id FROM cdrs WHERE tenant = $1 ORDER BY lpad(order_id::text, 20, '0') DESC LIMIT 1",
        )
        .bind(tenant)
        .fetch_optional(pool)
        .await?
    };
    let first = selection.order_id_start.unwrap_or(1).max(1);
    let last = newest.unwrap_or(0).min(selection.order_id_end.map_or(i64::MAX, |end| end.saturating_sub(1)));
    let report = if first > last {
        RunReport::default()
    } else {
        let label = format!("{}_selection_{}", exporter.id, selection.key);
        let range =
            Range { pool, tenant, exporter: &exporter, label: &label, compiled: &compiled, first, last, verbose };
        match compiled.store {
            Store::S3 => range.upload().await?,
            Store::File => range.write_file().await?,
            Store::Http | Store::Nats => return Err(online_only(&exporter)),
        }
    };
    held.release().await;
    Ok(report)
}

/// Temporary files of runs that were killed; with the exporter's lock held, no run is writing one.
pub(super) fn remove_stale_temporaries(e: &Exporter) {
    let prefix = format!(".cdrs_{}_", e.id);
    let Ok(entries) = std::fs::read_dir(&e.export_path) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(&prefix) && name.ends_with(".tmp") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Plans, writes and commits one range; `None` when there is nothing to export.
pub(super) async fn run_one_range(
    pool: &PgPool,
    shard: i32,
    tenant: &str,
    id: &str,
    verbose: bool,
) -> Result<Option<RunReport>, ExportError> {
    let Some((exporter, first, last)) = plan(pool, tenant, id, shard, None).await? else {
        return Ok(None);
    };
    let compiled = compile(&exporter)?;
    let range =
        Range { pool, tenant, exporter: &exporter, label: &exporter.id, compiled: &compiled, first, last, verbose };
    let report = match compiled.store {
        Store::S3 => range.upload().await?,
        Store::File => range.write_file().await?,
        Store::Http | Store::Nats => return Err(online_only(&exporter)),
    };
    // The cursor moves and the run is recorded in one statement: a run shows in the history
    // exactly when it counts.
    sqlx::query(
        "WITH advanced AS (UPDATE cdr_exporters SET last_exported_order_id = pending_last, pending_first = NULL, \
         pending_last = NULL WHERE tenant = $1 AND exporter_id = $2 AND pending_last = $3 RETURNING tenant) \
         INSERT INTO cdr_export_runs (tenant, exporter_id, first_order_id, last_order_id, cdrs, files) \
         SELECT tenant, $2, $4, $3, $5, $6 FROM advanced ON CONFLICT DO NOTHING",
    )
    .bind(tenant)
    .bind(id)
    .bind(last)
    .bind(first)
    .bind(report.events)
    .bind(&report.file_paths)
    .execute(pool)
    .await?;
    Ok(Some(report))
}
