//! CDR exporters (`*file_csv`): each run exports the tenant's CDRs with an `OrderID` after the
//! exporter's `last_exported_order_id`, up to the `cdrs` projection's checkpoint (every CDR
//! closed at or before it is in the table), to one file named by its order-ID range.
//!
//! A run (1) records its range as pending, (2) writes the file under a temporary name, syncs it
//! and renames it into place, (3) moves the cursor and clears the pending range. A crash
//! anywhere leaves the old state or the new one; a rerun finishes a pending range first, into
//! the same file name. So the union of exported files holds every CDR exactly once.

use std::io::Write;
use std::path::{Path, PathBuf};

use futures_util::TryStreamExt;
use rust_decimal::Decimal;
use simledger_eventlog::checkpoint;
use sqlx::{PgPool, Row};

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("no exporter {0}")]
    NotFound(String),
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

/// An exporter's definition.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Exporter {
    pub id: String,
    pub kind: String,
    pub export_path: String,
    pub filters: Vec<String>,
    pub field_separator: String,
    pub header: bool,
    pub last_exported_order_id: i64,
}

/// What a run exported (CGrateS's verbose export metrics).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RunReport {
    #[serde(rename = "FirstExpOrderID")]
    pub first_order_id: Option<i64>,
    #[serde(rename = "LastExpOrderID")]
    pub last_order_id: Option<i64>,
    #[serde(rename = "NumberOfEvents")]
    pub events: i64,
    /// Decimal string; unrated CDRs (-1) are not counted.
    #[serde(rename = "TotalCost")]
    pub total_cost: String,
    #[serde(rename = "TotalDataUsage")]
    pub data_usage: i64,
    #[serde(rename = "TotalSMSUsage")]
    pub sms_usage: i64,
    #[serde(rename = "FilePath")]
    pub file_path: Option<String>,
}

/// A filter we understand: `*string:~*req.ToR:VALUE`.
fn tor_filter(filters: &[String]) -> Result<Option<String>, ExportError> {
    let mut tor = None;
    for f in filters {
        let parts: Vec<&str> = f.splitn(3, ':').collect();
        match parts.as_slice() {
            ["*string", "~*req.ToR", value @ ("*data" | "*sms")] => tor = Some((*value).to_owned()),
            _ => {
                return Err(ExportError::Invalid(format!(
                    "unsupported filter {f:?} (supported: *string:~*req.ToR:*data|*sms)"
                )))
            }
        }
    }
    Ok(tor)
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

/// Creates an exporter after checking its kind, filters and that its path is a writable folder.
pub async fn create(pool: &PgPool, tenant: &str, e: &Exporter) -> Result<(), ExportError> {
    if e.id.is_empty() || !e.id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        return Err(ExportError::Invalid("an exporter ID is letters, digits, - and _".into()));
    }
    if e.field_separator.chars().count() != 1 {
        return Err(ExportError::Invalid("FieldSeparator must be one character".into()));
    }
    tor_filter(&e.filters)?;
    match e.kind.as_str() {
        "*file_csv" => {
            let probe = Path::new(&e.export_path).join(format!(".simledger-probe-{}", uuid::Uuid::new_v4().simple()));
            std::fs::write(&probe, b"").and_then(|()| std::fs::remove_file(&probe)).map_err(|source| {
                ExportError::Invalid(format!("ExportPath {} is not a writable folder: {source}", e.export_path))
            })?;
        }
        // Reaching the bucket is checked by each run (its credentials come from the runner's
        // environment); here, the shape.
        "*s3_csv" => {
            s3_location(&e.export_path)?;
        }
        other => {
            return Err(ExportError::Invalid(format!("unsupported type {other:?} (supported: *file_csv, *s3_csv)")))
        }
    }
    let inserted = sqlx::query(
        "INSERT INTO cdr_exporters (exporter_id, tenant, kind, export_path, filters, field_separator, header) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
    )
    .bind(&e.id)
    .bind(tenant)
    .bind(&e.kind)
    .bind(&e.export_path)
    .bind(&e.filters)
    .bind(&e.field_separator)
    .bind(e.header)
    .execute(pool)
    .await?;
    if inserted.rows_affected() == 0 {
        return Err(ExportError::Invalid(format!("an exporter {} already exists", e.id)));
    }
    Ok(())
}

pub async fn list(pool: &PgPool, tenant: &str) -> Result<Vec<Exporter>, ExportError> {
    let rows = sqlx::query(
        "SELECT exporter_id, kind, export_path, filters, field_separator, header, last_exported_order_id \
         FROM cdr_exporters WHERE tenant = $1 ORDER BY exporter_id",
    )
    .bind(tenant)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Exporter {
            id: r.get(0),
            kind: r.get(1),
            export_path: r.get(2),
            filters: r.get(3),
            field_separator: r.get(4),
            header: r.get(5),
            last_exported_order_id: r.get(6),
        })
        .collect())
}

/// Plans a run: a pending range left by an interrupted run, or the next one. `None`: nothing to do.
async fn plan(pool: &PgPool, tenant: &str, id: &str, shard: i32) -> Result<Option<(Exporter, i64, i64)>, ExportError> {
    let mut tx = pool.begin().await?;
    let row = sqlx::query(
        "SELECT exporter_id, kind, export_path, filters, field_separator, header, last_exported_order_id, \
         pending_first, pending_last FROM cdr_exporters WHERE tenant = $1 AND exporter_id = $2 FOR UPDATE",
    )
    .bind(tenant)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| ExportError::NotFound(id.to_owned()))?;
    let exporter = Exporter {
        id: row.get(0),
        kind: row.get(1),
        export_path: row.get(2),
        filters: row.get(3),
        field_separator: row.get(4),
        header: row.get(5),
        last_exported_order_id: row.get(6),
    };
    if let (Some(first), Some(last)) = (row.get::<Option<i64>, _>(7), row.get::<Option<i64>, _>(8)) {
        return Ok(Some((exporter, first, last)));
    }
    // Every CDR closed at or before the projection's checkpoint is in the table.
    let safe = checkpoint::load(&mut tx, simledger_projections::cdrs::NAME, shard).await?;
    let tor = tor_filter(&exporter.filters)?;
    let last: Option<i64> = sqlx::query_scalar(
        "SELECT max(order_id) FROM cdrs WHERE tenant = $1 AND order_id > $2 AND order_id <= $3 \
         AND ($4::text IS NULL OR tor = $4)",
    )
    .bind(tenant)
    .bind(exporter.last_exported_order_id)
    .bind(safe)
    .bind(&tor)
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

/// The file a range goes to.
pub fn file_name(exporter: &str, first: i64, last: i64) -> String {
    format!("cdrs_{exporter}_{first:020}_{last:020}.csv")
}

/// Runs an exporter once: finishes a range an interrupted run left pending (into its own
/// file), then exports everything new since.
pub async fn run(pool: &PgPool, shard: i32, tenant: &str, id: &str) -> Result<RunReport, ExportError> {
    let mut total = RunReport::default();
    let mut cost = Decimal::ZERO;
    // At most two ranges: one an interrupted run left pending, and the fresh one after it.
    for _ in 0..2 {
        let Some(report) = run_one_range(pool, shard, tenant, id).await? else { break };
        total.first_order_id = total.first_order_id.or(report.first_order_id);
        total.last_order_id = report.last_order_id.or(total.last_order_id);
        total.events += report.events;
        total.data_usage += report.data_usage;
        total.sms_usage += report.sms_usage;
        cost += report.total_cost.parse::<Decimal>().unwrap_or_default();
        total.file_path = report.file_path;
    }
    total.total_cost = cost.normalize().to_string();
    Ok(total)
}

/// Plans, writes and commits one range; `None` when there is nothing to export.
async fn run_one_range(pool: &PgPool, shard: i32, tenant: &str, id: &str) -> Result<Option<RunReport>, ExportError> {
    let Some((exporter, first, last)) = plan(pool, tenant, id, shard).await? else {
        return Ok(None);
    };
    let report = match exporter.kind.as_str() {
        "*s3_csv" => upload_range(pool, tenant, &exporter, first, last).await?,
        _ => write_range(pool, tenant, &exporter, first, last).await?,
    };
    sqlx::query(
        "UPDATE cdr_exporters SET last_exported_order_id = pending_last, pending_first = NULL, pending_last = NULL \
         WHERE tenant = $1 AND exporter_id = $2 AND pending_last = $3",
    )
    .bind(tenant)
    .bind(id)
    .bind(last)
    .execute(pool)
    .await?;
    Ok(Some(report))
}

/// Streams the range's CDRs into a temporary file, syncs it, and renames it into place.
async fn write_range(
    pool: &PgPool,
    tenant: &str,
    exporter: &Exporter,
    first: i64,
    last: i64,
) -> Result<RunReport, ExportError> {
    let dir = Path::new(&exporter.export_path);
    let path = dir.join(file_name(&exporter.id, first, last));
    let tmp = dir.join(format!(".{}.{}.tmp", file_name(&exporter.id, first, last), uuid::Uuid::new_v4().simple()));
    let io = |source| ExportError::Io { path: tmp.clone(), source };
    let mut file = std::io::BufWriter::new(std::fs::File::create(&tmp).map_err(io)?);
    let mut report = RunReport::default();
    let mut buffer = Vec::with_capacity(1 << 20);
    let mut failed = None;
    stream_csv(pool, tenant, exporter, first, last, &mut buffer, &mut report, |chunk| {
        if failed.is_none() {
            failed = file.write_all(chunk).err();
        }
    })
    .await?;
    file.write_all(&buffer).map_err(io)?;
    if let Some(e) = failed {
        return Err(io(e));
    }
    file.flush().map_err(io)?;
    file.get_ref().sync_all().map_err(io)?;
    drop(file);
    std::fs::rename(&tmp, &path).map_err(|source| ExportError::Io { path: path.clone(), source })?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all(); // the rename itself survives a power cut
    }
    report.file_path = Some(path.display().to_string());
    Ok(report)
}

/// Writes the range's CDRs as CSV, handing each full megabyte to `flush`; the last, partial
/// part is left in `buffer` for the caller to write. Fills the report's metrics.
#[allow(clippy::too_many_arguments)]
async fn stream_csv(
    pool: &PgPool,
    tenant: &str,
    exporter: &Exporter,
    first: i64,
    last: i64,
    buffer: &mut Vec<u8>,
    report: &mut RunReport,
    mut flush: impl FnMut(&[u8]),
) -> Result<(), ExportError> {
    let separator = exporter.field_separator.as_bytes()[0];
    let csv_err = |e: csv::Error| ExportError::Invalid(format!("CSV: {e}"));
    let writer = || csv::WriterBuilder::new().delimiter(separator).from_writer(Vec::with_capacity(1 << 20));
    let mut csv = writer();
    if exporter.header {
        csv.write_record(COLUMNS).map_err(csv_err)?;
    }
    let tor = tor_filter(&exporter.filters)?;
    let mut rows = sqlx::query(
        "SELECT cgrid, run_id, order_id, origin_host, source, origin_id, tor, request_type, tenant, category, \
         account, subject, destination, setup_time, answer_time, usage, cost, extra_fields, extra_info \
         FROM cdrs WHERE tenant = $1 AND order_id BETWEEN $2 AND $3 AND ($4::text IS NULL OR tor = $4) \
         ORDER BY order_id",
    )
    .bind(tenant)
    .bind(first)
    .bind(last)
    .bind(&tor)
    .fetch(pool);
    let mut total = Decimal::ZERO;
    while let Some(r) = rows.try_next().await? {
        let order_id: i64 = r.get("order_id");
        let cost: Decimal = r.get("cost");
        let usage: i64 = r.get("usage");
        let tor: String = r.get("tor");
        let time = |c: &str| r.get::<chrono::DateTime<chrono::Utc>, _>(c).to_rfc3339();
        let record = [
            r.get::<String, _>("cgrid"),
            r.get("run_id"),
            order_id.to_string(),
            r.get("origin_host"),
            r.get("source"),
            r.get("origin_id"),
            tor.clone(),
            r.get("request_type"),
            r.get("tenant"),
            r.get("category"),
            r.get("account"),
            r.get("subject"),
            r.get("destination"),
            time("setup_time"),
            time("answer_time"),
            usage.to_string(),
            cost.normalize().to_string(),
            r.get::<serde_json::Value, _>("extra_fields").to_string(),
            r.get::<Option<String>, _>("extra_info").unwrap_or_default(),
        ];
        csv.write_record(&record).map_err(csv_err)?;
        if csv.get_ref().len() >= 1 << 20 {
            let full = std::mem::replace(&mut csv, writer());
            flush(&full.into_inner().map_err(|e| ExportError::Invalid(format!("CSV: {}", e.error())))?);
        }
        report.first_order_id.get_or_insert(order_id);
        report.last_order_id = Some(order_id);
        report.events += 1;
        if cost >= Decimal::ZERO {
            total += cost;
        }
        match tor.as_str() {
            "*data" => report.data_usage += usage,
            "*sms" => report.sms_usage += usage,
            _ => {}
        }
    }
    buffer.extend_from_slice(&csv.into_inner().map_err(|e| ExportError::Invalid(format!("CSV: {}", e.error())))?);
    report.total_cost = total.normalize().to_string();
    Ok(())
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

/// Streams the range's CDRs as CSV into one S3 object by multipart upload (parts of 5 MiB, so
/// memory stays flat); the object exists only once the upload is completed.
async fn upload_range(
    pool: &PgPool,
    tenant: &str,
    exporter: &Exporter,
    first: i64,
    last: i64,
) -> Result<RunReport, ExportError> {
    use object_store::aws::AmazonS3Builder;
    use object_store::{ObjectStore, WriteMultipart};

    let (bucket, prefix) = s3_location(&exporter.export_path)?;
    // Endpoint, region and credentials from the standard AWS_* environment variables.
    let store = AmazonS3Builder::from_env().with_bucket_name(&bucket).build()?;
    let name = file_name(&exporter.id, first, last);
    let key = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
    let location = object_store::path::Path::from(key.as_str());
    let mut upload = WriteMultipart::new(store.put_multipart(&location).await?);
    let mut report = RunReport::default();
    let mut buffer = Vec::with_capacity(1 << 20);
    let streamed =
        stream_csv(pool, tenant, exporter, first, last, &mut buffer, &mut report, |chunk| upload.write(chunk)).await;
    if let Err(e) = streamed {
        let _ = upload.abort().await; // no half object: the upload is never completed
        return Err(e);
    }
    upload.write(&buffer);
    upload.finish().await?;
    report.file_path = Some(format!("s3://{bucket}/{key}"));
    Ok(report)
}
