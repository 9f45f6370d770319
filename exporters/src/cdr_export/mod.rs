//! CDR exporters (`*file_csv`, `*file_json`, `*s3_csv`, `*s3_json_map`): each run exports the
//! tenant's CDRs with an `OrderID` after the exporter's `last_exported_order_id`, up to the
//! `cdrs` projection's checkpoint (every CDR closed at or before it is in the table), to one
//! file or object named by its order-ID range. Filters and field templates follow CGrateS's
//! `ees.exporters` (see `filter` and `template`); `schedule` runs exporters on a timetable.
//!
//! A run (1) takes the exporter's lock (a Postgres advisory lock on a connection of its own, so
//! a killed runner releases it), (2) records its range as pending, (3) writes the file under a
//! temporary name, syncs it and renames it into place, or completes an S3 multipart upload,
//! (4) moves the cursor and clears the pending range. A crash anywhere leaves the old state or
//! the new one; a rerun finishes a pending range first, into the same name. So the union of
//! exported files holds every CDR exactly once. A range no CDR of which passes the filters
//! moves the cursor without writing a file.

pub mod config;
pub mod download;
pub mod filter;
pub mod grants;
pub mod record;
pub mod s3_access;
pub mod schedule;
pub mod template;

use std::io::Write;
use std::path::{Path, PathBuf};

use futures_util::TryStreamExt;
use rust_decimal::Decimal;
use simledger_eventlog::checkpoint;
use sqlx::{Connection, FromRow, PgPool, Row};

use self::filter::Filter;
use self::record::{CdrFields, CdrRecord};
use self::schedule::Schedule;
use self::template::{CompiledField, FieldTemplate};

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("no exporter {0}")]
    NotFound(String),
    /// Another run of the same exporter, or of the same tenant, is under way, or the process
    /// runs as many exports as it may.
    #[error("exporter {0} cannot run now: another export is under way")]
    Busy(String),
    #[error("invalid exporter: {0}")]
    Invalid(String),
    #[error("writing {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("S3: {0}")]
    S3(#[from] object_store::Error),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    EventLog(#[from] simledger_eventlog::EventLogError),
}

/// An exporter's definition and cursor.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Exporter {
    pub id: String,
    pub kind: String,
    pub export_path: String,
    pub filters: Vec<String>,
    pub fields: Vec<FieldTemplate>,
    pub field_separator: String,
    pub header: bool,
    /// `*hourly`, `*every:15m`, … (see [`schedule::Schedule`]); `None` runs on demand only.
    pub schedule: Option<String>,
    /// Declared in the configuration file rather than created through an API.
    pub declared: bool,
    pub last_exported_order_id: i64,
}

impl Exporter {
    /// A `*file_csv` exporter with the defaults: every field, a header row, comma-separated.
    pub fn new(id: impl Into<String>, kind: impl Into<String>, export_path: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            kind: kind.into(),
            export_path: export_path.into(),
            filters: Vec::new(),
            fields: Vec::new(),
            field_separator: ",".into(),
            header: true,
            schedule: None,
            declared: false,
            last_exported_order_id: 0,
        }
    }
}

/// Where a kind writes, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    JsonLines,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Store {
    File,
    S3,
}

pub const KINDS: &[&str] = &["*file_csv", "*file_json", "*s3_csv", "*s3_json_map"];

fn kind(kind: &str) -> Result<(Store, Format), ExportError> {
    match kind {
        "*file_csv" => Ok((Store::File, Format::Csv)),
        "*file_json" => Ok((Store::File, Format::JsonLines)),
        "*s3_csv" => Ok((Store::S3, Format::Csv)),
        "*s3_json_map" => Ok((Store::S3, Format::JsonLines)),
        other => Err(ExportError::Invalid(format!("unsupported type {other:?} (supported: {})", KINDS.join(", ")))),
    }
}

/// An exporter's filters and fields, checked.
struct Compiled {
    store: Store,
    format: Format,
    filters: Vec<Filter>,
    /// Empty: every CDR field, in [`COLUMNS`] order.
    fields: Vec<CompiledField>,
    separator: u8,
}

fn compile(e: &Exporter) -> Result<Compiled, ExportError> {
    let (store, format) = kind(&e.kind)?;
    let filters = e.filters.iter().map(|f| Filter::parse(f)).collect::<Result<_, _>>().map_err(ExportError::Invalid)?;
    let fields: Vec<CompiledField> =
        e.fields.iter().map(CompiledField::compile).collect::<Result<_, _>>().map_err(ExportError::Invalid)?;
    let mut keys: Vec<&str> = fields.iter().map(|f| f.key.as_str()).collect();
    keys.sort_unstable();
    if let Some(w) = keys.windows(2).find(|w| w[0] == w[1]) {
        return Err(ExportError::Invalid(format!("two fields write *exp.{}", w[0])));
    }
    let separator = match e.field_separator.as_bytes() {
        [b] if b.is_ascii() && *b != b'"' && *b != b'\n' && *b != b'\r' => *b,
        _ => {
            return Err(ExportError::Invalid(
                "FieldSeparator must be one ASCII character other than a quote or newline".into(),
            ))
        }
    };
    if let Some(s) = &e.schedule {
        Schedule::parse(s).map_err(ExportError::Invalid)?;
    }
    Ok(Compiled { store, format, filters, fields, separator })
}

const COLUMNS: &[&str] = &[
    "CGRID",
    "RunID",
    "OrderID",
    "OriginHost",
    "Source",
    "OriginID",
    "ToR",
    "RequestType",
    "Tenant",
    "Category",
    "Account",
    "Subject",
    "Destination",
    "SetupTime",
    "AnswerTime",
    "Usage",
    "Cost",
    "ExtraFields",
    "ExtraInfo",
];

/// Checks a definition: its ID, type, filters, fields, schedule, and that a folder is writable
/// or an S3 location well formed. [`create`] and [`upsert`] check too; this lets a batch be
/// checked whole before any of it is stored.
/// The most fields (and filters) an exporter may have: a CDR row, not a document.
pub const MAX_FIELDS: usize = 256;

pub fn check(e: &Exporter) -> Result<(), ExportError> {
    if e.id.is_empty() || !e.id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        return Err(ExportError::Invalid("an exporter ID is letters, digits, - and _".into()));
    }
    if e.fields.len() > MAX_FIELDS || e.filters.len() > MAX_FIELDS {
        return Err(ExportError::Invalid(format!(
            "an exporter has at most {MAX_FIELDS} fields and {MAX_FIELDS} filters"
        )));
    }
    match compile(e)?.store {
        Store::File => {
            let probe = Path::new(&e.export_path).join(format!(".simledger-probe-{}", uuid::Uuid::new_v4().simple()));
            std::fs::write(&probe, b"").and_then(|()| std::fs::remove_file(&probe)).map_err(|source| {
                ExportError::Invalid(format!("ExportPath {} is not a writable folder: {source}", e.export_path))
            })?;
        }
        // Reaching the bucket is checked by each run (its credentials come from the runner's
        // environment); here, the shape.
        Store::S3 => {
            s3_location(&e.export_path)?;
        }
    }
    Ok(())
}

fn next_run(e: &Exporter) -> Option<chrono::DateTime<chrono::Utc>> {
    let schedule = Schedule::parse(e.schedule.as_deref()?).ok()?;
    Some(schedule.next(chrono::Utc::now()))
}

/// Creates an exporter whose cursor starts before the first CDR; an existing ID is an error.
pub async fn create(pool: &PgPool, tenant: &str, e: &Exporter) -> Result<(), ExportError> {
    if store(pool, tenant, e, "ON CONFLICT DO NOTHING").await? == 0 {
        return Err(ExportError::Invalid(format!("an exporter {} already exists", e.id)));
    }
    Ok(())
}

/// Creates or redefines an exporter (configuration file, `ConfigSv1.SetConfig`), keeping its
/// cursor and any pending range: a redefinition changes what later runs write, never which CDRs
/// count as exported.
pub async fn upsert(pool: &PgPool, tenant: &str, e: &Exporter) -> Result<(), ExportError> {
    let redefine = "ON CONFLICT (tenant, exporter_id) DO UPDATE SET kind = $3, export_path = $4, filters = $5, \
        fields = $6, field_separator = $7, header = $8, schedule = $9, declared = $11, next_run_at = CASE \
        WHEN cdr_exporters.schedule IS NOT DISTINCT FROM $9 THEN cdr_exporters.next_run_at ELSE $10 END";
    store(pool, tenant, e, redefine).await?;
    Ok(())
}

/// Creates or redefines a tenant's own exporter ([`upsert`]), refusing to touch one the operator
/// declared for it: those are the operator's.
pub async fn upsert_own(pool: &PgPool, tenant: &str, e: &Exporter) -> Result<(), ExportError> {
    let declared: Option<bool> =
        sqlx::query_scalar("SELECT declared FROM cdr_exporters WHERE tenant = $1 AND exporter_id = $2")
            .bind(tenant)
            .bind(&e.id)
            .fetch_optional(pool)
            .await?;
    if declared == Some(true) {
        return Err(ExportError::Invalid(format!("exporter {} is the operator's and cannot be changed here", e.id)));
    }
    let own = Exporter { declared: false, ..e.clone() };
    upsert(pool, tenant, &own).await
}

/// Checks and inserts a definition; `on_conflict` (a constant of this module) says what an
/// existing ID does. Returns the rows written.
async fn store(pool: &PgPool, tenant: &str, e: &Exporter, on_conflict: &str) -> Result<u64, ExportError> {
    check(e)?;
    let sql = format!(
        "INSERT INTO cdr_exporters (exporter_id, tenant, kind, export_path, filters, fields, field_separator, header, \
         schedule, next_run_at, declared) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) {on_conflict}"
    );
    let done = sqlx::query(&sql)
        .bind(&e.id)
        .bind(tenant)
        .bind(&e.kind)
        .bind(&e.export_path)
        .bind(&e.filters)
        .bind(sqlx::types::Json(&e.fields))
        .bind(&e.field_separator)
        .bind(e.header)
        .bind(&e.schedule)
        .bind(next_run(e))
        .bind(e.declared)
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}

const EXPORTER_COLUMNS: &str =
    "exporter_id, kind, export_path, filters, fields, field_separator, header, schedule, declared, last_exported_order_id";

fn exporter_from_row(r: &sqlx::postgres::PgRow) -> Exporter {
    Exporter {
        id: r.get(0),
        kind: r.get(1),
        export_path: r.get(2),
        filters: r.get(3),
        fields: r.get::<sqlx::types::Json<Vec<FieldTemplate>>, _>(4).0,
        field_separator: r.get(5),
        header: r.get(6),
        schedule: r.get(7),
        declared: r.get(8),
        last_exported_order_id: r.get(9),
    }
}

pub async fn list(pool: &PgPool, tenant: &str) -> Result<Vec<Exporter>, ExportError> {
    let rows =
        sqlx::query(&format!("SELECT {EXPORTER_COLUMNS} FROM cdr_exporters WHERE tenant = $1 ORDER BY exporter_id"))
            .bind(tenant)
            .fetch_all(pool)
            .await?;
    Ok(rows.iter().map(exporter_from_row).collect())
}

pub async fn get(pool: &PgPool, tenant: &str, id: &str) -> Result<Exporter, ExportError> {
    let row =
        sqlx::query(&format!("SELECT {EXPORTER_COLUMNS} FROM cdr_exporters WHERE tenant = $1 AND exporter_id = $2"))
            .bind(tenant)
            .bind(id)
            .fetch_optional(pool)
            .await?
            .ok_or_else(|| ExportError::NotFound(id.to_owned()))?;
    Ok(exporter_from_row(&row))
}

/// Plans a run: a pending range left by an interrupted run, or the next one. `None`: nothing to do.
async fn plan(pool: &PgPool, tenant: &str, id: &str, shard: i32) -> Result<Option<(Exporter, i64, i64)>, ExportError> {
    let mut tx = pool.begin().await?;
    let row = sqlx::query(&format!(
        "SELECT {EXPORTER_COLUMNS}, pending_first, pending_last FROM cdr_exporters \
         WHERE tenant = $1 AND exporter_id = $2 FOR UPDATE"
    ))
    .bind(tenant)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| ExportError::NotFound(id.to_owned()))?;
    let exporter = exporter_from_row(&row);
    if let (Some(first), Some(last)) = (row.get::<Option<i64>, _>(10), row.get::<Option<i64>, _>(11)) {
        return Ok(Some((exporter, first, last)));
    }
    // Every CDR closed at or before the projection's checkpoint is in the table.
    let safe = checkpoint::load(&mut tx, simledger_projections::cdrs::NAME, shard).await?;
    let last: Option<i64> =
        sqlx::query_scalar("SELECT max(order_id) FROM cdrs WHERE tenant = $1 AND order_id > $2 AND order_id <= $3")
            .bind(tenant)
            .bind(exporter.last_exported_order_id)
            .bind(safe)
            .fetch_one(&mut *tx)
            .await?;
    let Some(last) = last else { return Ok(None) };
    let first = exporter.last_exported_order_id + 1;
    sqlx::query(
        "UPDATE cdr_exporters SET pending_first = $3, pending_last = $4 WHERE tenant = $1 AND exporter_id = $2",
    )
    .bind(tenant)
    .bind(id)
    .bind(first)
    .bind(last)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some((exporter, first, last)))
}

/// The CSV file a range goes to.
pub fn file_name(exporter: &str, first: i64, last: i64) -> String {
    object_name(exporter, Format::Csv, first, last)
}

fn object_name(exporter: &str, format: Format, first: i64, last: i64) -> String {
    let ext = match format {
        Format::Csv => "csv",
        Format::JsonLines => "jsonl",
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
    fn add(&mut self, cdr: &CdrRecord, verbose: bool) {
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

    fn merge(&mut self, other: RunReport) {
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

/// Export runs under way at once in one process.
const CONCURRENT_RUNS: usize = 4;
static RUNS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(CONCURRENT_RUNS);
/// Tenants with a run under way in this process.
static RUNNING_TENANTS: std::sync::Mutex<std::collections::BTreeSet<String>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// A tenant's one run in this process, for as long as it lives.
struct TenantRun(String);

impl TenantRun {
    fn start(tenant: &str) -> Option<Self> {
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
    if kind(&exporter.kind)?.0 == Store::File {
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
struct Held {
    _tenant: TenantRun,
    _permit: tokio::sync::SemaphorePermit<'static>,
    lock: sqlx::PgConnection,
}

impl Held {
    async fn release(self) {
        let _ = self.lock.close().await;
    }
}

async fn hold(pool: &PgPool, tenant: &str, id: &str) -> Result<Held, ExportError> {
    // Runs are few at a time, so the connections their locks hold stay bounded however many
    // are asked for, and one tenant runs one at a time, so no tenant can hold them all. Neither
    // is waited for: a run that cannot start now is refused, and its caller tries later.
    let tenant_run = TenantRun::start(tenant).ok_or_else(|| ExportError::Busy(id.to_owned()))?;
    let permit = RUNS.try_acquire().map_err(|_| ExportError::Busy(id.to_owned()))?;
    // The lock lives on a connection of its own, outside the pool: if this process dies or the
    // run is abandoned midway, the connection closes and the lock goes with it, and a run never
    // waits for the pool while holding a pooled connection. It is only tried: a second run of
    // the same exporter is refused at once instead of queueing a connection behind the first.
    let mut lock = sqlx::PgConnection::connect_with(&pool.connect_options()).await?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtextextended($1, 0))")
        .bind(format!("cdr_export/{tenant}/{id}"))
        .fetch_one(&mut lock)
        .await?;
    if !locked {
        let _ = lock.close().await;
        return Err(ExportError::Busy(id.to_owned()));
    }
    Ok(Held { _tenant: tenant_run, _permit: permit, lock })
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
    let mut compiled = compile(&exporter)?;
    compiled.filters.extend(selection.filters.iter().cloned());
    let newest: Option<i64> = sqlx::query_scalar(
        "SELECT order_id FROM cdrs WHERE tenant = $1 ORDER BY lpad(order_id::text, 20, '0') DESC LIMIT 1",
    )
    .bind(tenant)
    .fetch_optional(pool)
    .await?;
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
        }
    };
    held.release().await;
    Ok(report)
}

/// Temporary files of runs that were killed; with the exporter's lock held, no run is writing one.
fn remove_stale_temporaries(e: &Exporter) {
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
async fn run_one_range(
    pool: &PgPool,
    shard: i32,
    tenant: &str,
    id: &str,
    verbose: bool,
) -> Result<Option<RunReport>, ExportError> {
    let Some((exporter, first, last)) = plan(pool, tenant, id, shard).await? else {
        return Ok(None);
    };
    let compiled = compile(&exporter)?;
    let range =
        Range { pool, tenant, exporter: &exporter, label: &exporter.id, compiled: &compiled, first, last, verbose };
    let report = match compiled.store {
        Store::S3 => range.upload().await?,
        Store::File => range.write_file().await?,
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

/// One range of one exporter, being written.
struct Range<'a> {
    pool: &'a PgPool,
    tenant: &'a str,
    exporter: &'a Exporter,
    /// What the file is named after: the exporter, or the exporter and a selection.
    label: &'a str,
    compiled: &'a Compiled,
    first: i64,
    last: i64,
    verbose: bool,
}

/// Bytes handed to the file or the upload at a time.
const CHUNK: usize = 1 << 20;

impl Range<'_> {
    fn name(&self) -> String {
        object_name(self.label, self.compiled.format, self.first, self.last)
    }

    /// Streams the range's CDRs into a temporary file, syncs it, and renames it into place.
    async fn write_file(&self) -> Result<RunReport, ExportError> {
        let dir = Path::new(&self.exporter.export_path);
        let name = self.name();
        let path = dir.join(&name);
        let tmp = dir.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
        let io = |source| ExportError::Io { path: tmp.clone(), source };
        let mut file = std::io::BufWriter::new(std::fs::File::create(&tmp).map_err(io)?);
        let mut failed = None;
        let streamed = self
            .stream(|chunk| {
                if failed.is_none() {
                    failed = file.write_all(chunk).err();
                }
            })
            .await;
        let mut report = match streamed {
            Ok(report) => report,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
        };
        if let Some(e) = failed {
            let _ = std::fs::remove_file(&tmp);
            return Err(io(e));
        }
        if report.events == 0 {
            let _ = std::fs::remove_file(&tmp); // no CDR in the range passed the filters
            return Ok(report);
        }
        file.flush().map_err(io)?;
        file.get_ref().sync_all().map_err(io)?;
        drop(file);
        rename_into_place(&tmp, &path)?;
        report.file_paths.push(path.display().to_string());
        Ok(report)
    }

    /// Streams the range's CDRs into one S3 object by multipart upload (parts of 5 MiB, so
    /// memory stays flat); the object exists only once the upload is completed.
    async fn upload(&self) -> Result<RunReport, ExportError> {
        use object_store::{ObjectStore, WriteMultipart};

        let (bucket, prefix) = s3_location(&self.exporter.export_path)?;
        let store = s3_access::store(self.tenant, self.exporter, &bucket)?;
        let name = self.name();
        let key = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
        let location = object_store::path::Path::from(key.as_str());
        let mut upload = WriteMultipart::new(store.put_multipart(&location).await?);
        let mut report = match self.stream(|chunk| upload.write(chunk)).await {
            Ok(report) => report,
            Err(e) => {
                let _ = upload.abort().await; // no half object: the upload is never completed
                return Err(e);
            }
        };
        if report.events == 0 {
            upload.abort().await?;
            return Ok(report);
        }
        upload.finish().await?;
        report.file_paths.push(format!("s3://{bucket}/{key}"));
        Ok(report)
    }

    /// Writes the range's CDRs that pass the filters, handing `out` a chunk at a time.
    async fn stream(&self, mut out: impl FnMut(&[u8])) -> Result<RunReport, ExportError> {
        let c = self.compiled;
        let mut report = RunReport::default();
        let mut line = String::new();
        let csv_err = |e: csv::Error| ExportError::Invalid(format!("CSV: {e}"));
        let io_err = |e: std::io::Error| ExportError::Invalid(format!("CSV: {e}"));
        // CSV rows go through the writer into its Vec, JSON lines into `json`; either is handed
        // on whenever it holds a chunk.
        let new_writer =
            || csv::WriterBuilder::new().delimiter(c.separator).from_writer(Vec::with_capacity(CHUNK + (64 << 10)));
        let mut w = new_writer();
        let mut json: Vec<u8> = Vec::new();
        if c.format == Format::Csv && self.exporter.header {
            if c.fields.is_empty() {
                w.write_record(COLUMNS).map_err(csv_err)?;
            } else {
                w.write_record(c.fields.iter().map(|f| f.tag.as_str())).map_err(csv_err)?;
            }
        }
        let sql = format!(
            "SELECT {} FROM cdrs WHERE tenant = $1 AND order_id BETWEEN $2 AND $3 ORDER BY order_id",
            record::SELECT
        );
        let mut rows = sqlx::query(&sql).bind(self.tenant).bind(self.first).bind(self.last).fetch(self.pool);
        while let Some(row) = rows.try_next().await? {
            let cdr = CdrRecord::from_row(&row)?;
            if !c.filters.iter().all(|f| f.passes(&cdr)) {
                continue;
            }
            match (c.format, c.fields.is_empty()) {
                (Format::Csv, true) => write_default_csv(&mut w, &cdr).map_err(csv_err)?,
                (Format::Csv, false) => {
                    for f in &c.fields {
                        line.clear();
                        f.render(&cdr, &mut line);
                        w.write_field(&line).map_err(csv_err)?;
                    }
                    w.write_record(None::<&[u8]>).map_err(csv_err)?;
                }
                (Format::JsonLines, all) => {
                    let value = if all {
                        cdr.to_json()
                    } else {
                        let mut map = serde_json::Map::new();
                        for f in &c.fields {
                            line.clear();
                            f.render(&cdr, &mut line);
                            map.insert(f.key.clone(), serde_json::Value::String(line.clone()));
                        }
                        serde_json::Value::Object(map)
                    };
                    serde_json::to_writer(&mut json, &value).map_err(|e| ExportError::Invalid(format!("JSON: {e}")))?;
                    json.push(b'\n');
                }
            }
            report.add(&cdr, self.verbose);
            if w.get_ref().len() >= CHUNK {
                let full = std::mem::replace(&mut w, new_writer());
                out(&full.into_inner().map_err(|e| io_err(e.into_error()))?);
            }
            if json.len() >= CHUNK {
                out(&json);
                json.clear();
            }
        }
        let rest = w.into_inner().map_err(|e| io_err(e.into_error()))?;
        if report.events > 0 {
            out(&rest);
            out(&json);
        }
        Ok(report)
    }
}

/// Every field in [`COLUMNS`] order.
fn write_default_csv(csv: &mut csv::Writer<Vec<u8>>, cdr: &CdrRecord) -> csv::Result<()> {
    csv.write_field(&cdr.cgrid)?;
    csv.write_field(&cdr.run_id)?;
    csv.write_field(cdr.order_id.to_string())?;
    csv.write_field(&cdr.origin_host)?;
    csv.write_field(&cdr.source)?;
    csv.write_field(&cdr.origin_id)?;
    csv.write_field(&cdr.tor)?;
    csv.write_field(&cdr.request_type)?;
    csv.write_field(&cdr.tenant)?;
    csv.write_field(&cdr.category)?;
    csv.write_field(&cdr.account)?;
    csv.write_field(&cdr.subject)?;
    csv.write_field(&cdr.destination)?;
    csv.write_field(cdr.setup_time.to_rfc3339())?;
    csv.write_field(cdr.answer_time.to_rfc3339())?;
    csv.write_field(cdr.usage.to_string())?;
    csv.write_field(cdr.cost.normalize().to_string())?;
    csv.write_field(serde_json::to_string(&cdr.extra_fields).unwrap_or_default())?;
    csv.write_field(cdr.extra_info.as_deref().unwrap_or_default())?;
    csv.write_record(None::<&[u8]>)
}

/// Renames a synced temporary file to `path`, and syncs the folder so the rename survives a
/// power cut.
fn rename_into_place(tmp: &Path, path: &Path) -> Result<(), ExportError> {
    std::fs::rename(tmp, path).map_err(|source| ExportError::Io { path: path.to_owned(), source })?;
    if let Some(Ok(d)) = path.parent().map(std::fs::File::open) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// How an exporter writes a document that is not a CDR range (billing's `*export`): CSV with
/// its separator and header choice, or JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentFormat {
    Csv { separator: u8, header: bool },
    Json,
}

pub fn document_format(e: &Exporter) -> Result<DocumentFormat, ExportError> {
    let c = compile(e)?;
    Ok(match c.format {
        Format::Csv => DocumentFormat::Csv { separator: c.separator, header: e.header },
        Format::JsonLines => DocumentFormat::Json,
    })
}

/// Writes `bytes` whole as `name` where `e` writes: a file written under a temporary name,
/// synced and renamed into place, or one S3 object. Callers give a name that always gets the
/// same bytes, so writing it again (a redelivery) changes nothing, and do not write one name
/// from two places at once. Returns where it went.
pub async fn write_document(tenant: &str, e: &Exporter, name: &str, bytes: Vec<u8>) -> Result<String, ExportError> {
    match compile(e)?.store {
        Store::File => {
            let path = Path::new(&e.export_path).join(name);
            // One temporary name per document: a write killed half way leaves a file the redo
            // of the same document overwrites and renames, so none is left behind.
            let tmp = Path::new(&e.export_path).join(format!(".{name}.tmp"));
            let written = std::fs::File::create(&tmp).and_then(|mut f| {
                f.write_all(&bytes)?;
                f.sync_all()
            });
            if let Err(source) = written {
                let _ = std::fs::remove_file(&tmp);
                return Err(ExportError::Io { path: tmp, source });
            }
            rename_into_place(&tmp, &path)?;
            Ok(path.display().to_string())
        }
        Store::S3 => {
            use object_store::ObjectStore;
            let (bucket, prefix) = s3_location(&e.export_path)?;
            let store = s3_access::store(tenant, e, &bucket)?;
            let key = if prefix.is_empty() { name.to_owned() } else { format!("{prefix}/{name}") };
            store.put(&object_store::path::Path::from(key.as_str()), bytes.into()).await?;
            Ok(format!("s3://{bucket}/{key}"))
        }
    }
}

/// `s3://bucket/prefix` → (bucket, prefix).
fn s3_location(path: &str) -> Result<(String, String), ExportError> {
    let rest = path
        .strip_prefix("s3://")
        .ok_or_else(|| ExportError::Invalid(format!("ExportPath {path:?} must be s3://bucket[/prefix]")))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(ExportError::Invalid(format!("ExportPath {path:?} names no bucket")));
    }
    Ok((bucket.to_owned(), prefix.trim_matches('/').to_owned()))
}
