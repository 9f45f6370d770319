//! Exporter definitions and cursors in `cdr_exporters`: storing, listing, and planning a run's
//! range.

use super::*;

use simledger_eventlog::checkpoint;
use sqlx::{PgPool, Row};

use super::template::FieldTemplate;

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
pub(super) async fn store(pool: &PgPool, tenant: &str, e: &Exporter, on_conflict: &str) -> Result<u64, ExportError> {
    check(e)?;
    let sql = format!(
        "INSERT INTO cdr_exporters (exporter_id, tenant, kind, export_path, filters, fields, field_separator, header, \
         schedule, next_run_at, declared) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) {on_conflict}"
    );
    let done = sqlx::query(&sql)
        .bind(&e.id)
        .bind(tenant)
        .bind(e.kind.as_str())
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

pub(super) const EXPORTER_COLUMNS: &str =
    "exporter_id, kind, export_path, filters, fields, field_separator, header, schedule, declared, last_exported_order_id";

/// A stored definition; its kind was checked when it was stored, so one that no longer parses
/// is reported rather than guessed at.
pub(super) fn exporter_from_row(r: &sqlx::postgres::PgRow) -> Result<Exporter, ExportError> {
    Ok(Exporter {
        id: r.get(0),
        kind: r.get::<String, _>(1).parse()?,
        export_path: r.get(2),
        filters: r.get(3),
        fields: r.get::<sqlx::types::Json<Vec<FieldTemplate>>, _>(4).0,
        field_separator: r.get(5),
        header: r.get(6),
        schedule: r.get(7),
        declared: r.get(8),
        last_exported_order_id: r.get(9),
    })
}

pub async fn list(pool: &PgPool, tenant: &str) -> Result<Vec<Exporter>, ExportError> {
    let rows =
        sqlx::query(&format!("SELECT {EXPORTER_COLUMNS} FROM cdr_exporters WHERE tenant = $1 ORDER BY exporter_id"))
            .bind(tenant)
            .fetch_all(pool)
            .await?;
    rows.iter().map(exporter_from_row).collect()
}

pub async fn get(pool: &PgPool, tenant: &str, id: &str) -> Result<Exporter, ExportError> {
    let row =
        sqlx::query(&format!("SELECT {EXPORTER_COLUMNS} FROM cdr_exporters WHERE tenant = $1 AND exporter_id = $2"))
            .bind(tenant)
            .bind(id)
            .fetch_optional(pool)
            .await?
            .ok_or_else(|| ExportError::NotFound(id.to_owned()))?;
    exporter_from_row(&row)
}

/// Plans a run: a pending range left by an interrupted run, or the next one. `None`: nothing to do.
pub(super) async fn plan(
    pool: &PgPool,
    tenant: &str,
    id: &str,
    shard: i32,
) -> Result<Option<(Exporter, i64, i64)>, ExportError> {
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
    let exporter = exporter_from_row(&row)?;
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
