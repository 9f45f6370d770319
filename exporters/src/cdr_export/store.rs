//! Exporter definitions and cursors in `cdr_exporters`: definitions logged as
//! `cdr_exporter.defined` and folded in, listing, and planning a run's range.

use super::*;

use simledger_eventlog::catalog::{CdrExporterDefined, CdrExporterRemoved, ExporterDefinitionMode};
use simledger_eventlog::{checkpoint, Event, EventLog, ExpectedVersion, Metadata, NewEvent};
use sqlx::{PgPool, Row};

use super::template::FieldTemplate;

/// The exporters a tenant may define itself (REST, `ConfigSv1.SetConfig`): each is polled and
/// may hold a sending slot, so their number is bounded. The operator's configuration is not.
pub const MAX_EXPORTERS_PER_TENANT: i64 = 50;

/// Creates an exporter whose cursor starts before the first CDR; an existing ID is an error.
pub async fn create(log: &EventLog, tenant: &str, e: &Exporter) -> Result<(), ExportError> {
    let _serialised = lock_definitions_of(log.pool(), tenant).await?;
    if get(log.pool(), tenant, &e.id).await.is_ok() {
        return Err(already_exists(e));
    }
    check_room_for(log.pool(), tenant, &[e.id.as_str()]).await?;
    if define(log, tenant, e, ExporterDefinitionMode::Create).await? == 0 {
        // Another request created it between the check and the append: its definition stands.
        return Err(already_exists(e));
    }
    Ok(())
}

/// Refuses exporters `ids` of `tenant` if those of them that are new would take its own
/// (undeclared) exporters past [`MAX_EXPORTERS_PER_TENANT`]. Exact under
/// [`lock_definitions_of`]; a check ahead of it (a whole `ees` section before any is stored)
/// refuses early.
pub async fn check_room_for(pool: &PgPool, tenant: &str, ids: &[&str]) -> Result<(), ExportError> {
    let (own, new): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM cdr_exporters WHERE tenant = $1 AND NOT declared), \
                (SELECT count(DISTINCT id) FROM unnest($2::text[]) AS id \
                 WHERE NOT EXISTS (SELECT 1 FROM cdr_exporters WHERE tenant = $1 AND exporter_id = id))",
    )
    .bind(tenant)
    .bind(ids)
    .fetch_one(pool)
    .await?;
    if new > 0 && own + new > MAX_EXPORTERS_PER_TENANT {
        return Err(ExportError::Invalid(format!(
            "an account has at most {MAX_EXPORTERS_PER_TENANT} exporters; remove or redefine one of them instead"
        )));
    }
    Ok(())
}

/// The advisory-lock class of a tenant's exporter definitions (the key is the tenant's hash).
const DEFINITIONS_LOCK: i32 = 0x5e_d0;

/// Serialises a tenant's customer-side definitions for as long as the returned transaction
/// lives, so that parallel creations cannot all pass the cap's count.
async fn lock_definitions_of(
    pool: &PgPool,
    tenant: &str,
) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, ExportError> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
        .bind(DEFINITIONS_LOCK)
        .bind(tenant)
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

fn already_exists(e: &Exporter) -> ExportError {
    ExportError::Invalid(format!("an exporter {} already exists", e.id))
}

/// Creates or redefines an exporter (configuration file, `ConfigSv1.SetConfig`), keeping its
/// cursor and any pending range: a redefinition changes what later runs write, never which CDRs
/// count as exported. Declaring the definition already in force appends nothing, so restarts
/// with the same configuration leave the log as it is.
pub async fn upsert(log: &EventLog, tenant: &str, e: &Exporter) -> Result<(), ExportError> {
    if let Ok(stored) = get(log.pool(), tenant, &e.id).await {
        let same = Exporter { last_exported_order_id: stored.last_exported_order_id, ..e.clone() };
        if same == stored {
            return Ok(());
        }
    }
    define(log, tenant, e, ExporterDefinitionMode::Redefine).await?;
    Ok(())
}

/// Creates or redefines a tenant's own exporter ([`upsert`]), refusing to touch one the operator
/// declared for it: those are the operator's. The fold refuses it too once the declaration is
/// applied; a declaration applied after a later redefinition of the tenant's (the two commands
/// raced) gives way to it until the configuration is declared again at the next start.
pub async fn upsert_own(log: &EventLog, tenant: &str, e: &Exporter) -> Result<(), ExportError> {
    let refused = || ExportError::Invalid(format!("exporter {} is the operator's and cannot be changed here", e.id));
    let _serialised = lock_definitions_of(log.pool(), tenant).await?;
    let declared: Option<bool> =
        sqlx::query_scalar("SELECT declared FROM cdr_exporters WHERE tenant = $1 AND exporter_id = $2")
            .bind(tenant)
            .bind(&e.id)
            .fetch_optional(log.pool())
            .await?;
    if declared == Some(true) {
        return Err(refused());
    }
    if declared.is_none() {
        check_room_for(log.pool(), tenant, &[e.id.as_str()]).await?;
    }
    let own = Exporter { declared: false, ..e.clone() };
    if define(log, tenant, &own, ExporterDefinitionMode::RedefineOwn).await? == 0 {
        return Err(refused());
    }
    Ok(())
}

/// Removes a tenant's own exporter, cursor and all (a later one of the ID starts before the
/// first CDR). One the operator declared is the operator's, and stays.
pub async fn remove(log: &EventLog, tenant: &str, id: &str) -> Result<(), ExportError> {
    let existing = get(log.pool(), tenant, id).await?;
    if existing.declared {
        return Err(ExportError::Invalid(format!("exporter {id} is the operator's and cannot be removed here")));
    }
    let removed = CdrExporterRemoved { tenant: tenant.to_owned(), exporter_id: id.to_owned() };
    let position = append(log, tenant, &Event::CdrExporterRemoved(removed.clone())).await?;
    apply_removal(&mut *log.pool().acquire().await?, &removed, position).await?;
    Ok(())
}

/// Logs one event of `tenant`'s exporters; returns its position.
async fn append(log: &EventLog, tenant: &str, event: &Event) -> Result<i64, ExportError> {
    let meta = Metadata::from_source("cdr-exporters").with_account(tenant.to_owned());
    let new = NewEvent::new(uuid::Uuid::now_v7(), format!("cdr-exporter-{tenant}"), event, &meta)?;
    Ok(log.append(vec![new], ExpectedVersion::Any).await?.first().map(|a| a.position).unwrap_or(0))
}

/// The fold of one `cdr_exporter.removed` at `position`: the exporter goes unless it was
/// defined after the removal (applied late, or again from the log) or the operator declared it.
pub async fn apply_removal(
    conn: &mut sqlx::PgConnection,
    r: &CdrExporterRemoved,
    position: i64,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM cdr_exporters WHERE tenant = $1 AND exporter_id = $2 AND defined_position < $3 AND NOT declared",
    )
    .bind(&r.tenant)
    .bind(&r.exporter_id)
    .bind(position)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// Checks a definition, logs it as `cdr_exporter.defined`, and applies it at once (the
/// [`ExporterDefinitions`] subscriber applies it too, after a crash between the two). Returns
/// the rows the definition wrote: 0 when its mode let an existing exporter stand.
async fn define(log: &EventLog, tenant: &str, e: &Exporter, mode: ExporterDefinitionMode) -> Result<u64, ExportError> {
    check(e)?;
    let defined = CdrExporterDefined {
        tenant: tenant.to_owned(),
        exporter_id: e.id.clone(),
        kind: e.kind.as_str().to_owned(),
        export_path: e.export_path.clone(),
        filters: e.filters.clone(),
        fields: serde_json::to_value(&e.fields).map_err(|e| ExportError::Invalid(e.to_string()))?,
        field_separator: e.field_separator.clone(),
        header: e.header,
        schedule: e.schedule.clone(),
        declared: e.declared,
        mode,
        nats_jetstream: e.nats_jetstream,
        attempts: e.attempts,
    };
    let event = Event::CdrExporterDefined(defined);
    let position = append(log, tenant, &event).await?;
    let Event::CdrExporterDefined(defined) = event else { unreachable!("built above") };
    Ok(apply_definition(&mut *log.pool().acquire().await?, &defined, position).await?)
}

/// The fold of one `cdr_exporter.defined` at `position` into `cdr_exporters`: definition columns
/// only, never the cursor. Applying a definition twice, or an older one after a newer, changes
/// nothing (`defined_position`), so the command and the subscriber may both apply it in any
/// order. Returns the rows written.
pub async fn apply_definition(
    conn: &mut sqlx::PgConnection,
    d: &CdrExporterDefined,
    position: i64,
) -> Result<u64, sqlx::Error> {
    let on_conflict = match d.mode {
        ExporterDefinitionMode::Create => "ON CONFLICT DO NOTHING",
        ExporterDefinitionMode::Redefine => REDEFINE_NEWER,
        ExporterDefinitionMode::RedefineOwn => REDEFINE_NEWER_UNDECLARED,
    };
    let schedule = d.schedule.as_deref().and_then(|s| schedule::Schedule::parse(s).ok());
    let next_run_at = schedule.map(|s| s.next(chrono::Utc::now()));
    let sql = format!(
        "INSERT INTO cdr_exporters (exporter_id, tenant, kind, export_path, filters, fields, field_separator, header, \
         schedule, next_run_at, declared, defined_position, nats_jetstream, attempts) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
         {on_conflict}"
    );
    let done = sqlx::query(&sql)
        .bind(&d.exporter_id)
        .bind(&d.tenant)
        .bind(&d.kind)
        .bind(&d.export_path)
        .bind(&d.filters)
        .bind(&d.fields)
        .bind(&d.field_separator)
        .bind(d.header)
        .bind(&d.schedule)
        .bind(next_run_at)
        .bind(d.declared)
        .bind(position)
        .bind(d.nats_jetstream)
        .bind(d.attempts)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

macro_rules! redefine {
    () => {
        "ON CONFLICT (tenant, exporter_id) DO UPDATE SET kind = $3, export_path = $4, filters = $5, fields = $6, \
         field_separator = $7, header = $8, schedule = $9, declared = $11, defined_position = $12, \
         nats_jetstream = $13, attempts = $14, next_run_at = \
         CASE WHEN cdr_exporters.schedule IS NOT DISTINCT FROM $9 THEN cdr_exporters.next_run_at ELSE $10 END \
         WHERE cdr_exporters.defined_position < $12"
    };
}
const REDEFINE_NEWER: &str = redefine!();
const REDEFINE_NEWER_UNDECLARED: &str = concat!(redefine!(), " AND NOT cdr_exporters.declared");

/// Folds `cdr_exporter.defined` and `cdr_exporter.removed` into `cdr_exporters` from the log:
/// what makes a definition or removal whose command crashed after the append count all the
/// same. Each applies only over what is older than itself, so running it again from position 0
/// ends with every definition and cursor as it was.
#[derive(Clone)]
pub struct ExporterDefinitions;

pub const DEFINITIONS: &str = "cdr_exporter_definitions";

impl checkpoint::Subscriber for ExporterDefinitions {
    fn name(&self) -> &str {
        DEFINITIONS
    }

    async fn apply(
        &mut self,
        tx: &mut sqlx::PgConnection,
        events: &[simledger_eventlog::RecordedEvent],
    ) -> Result<(), checkpoint::ApplyError> {
        for e in events {
            match &e.event {
                Event::CdrExporterDefined(d) => {
                    apply_definition(tx, d, e.position).await?;
                }
                Event::CdrExporterRemoved(r) => {
                    apply_removal(tx, r, e.position).await?;
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Runs [`ExporterDefinitions`] for ever, resuming from its checkpoint after any failure.
pub fn spawn_definitions(log: EventLog) -> tokio::task::JoinHandle<()> {
    crate::spawn_sink(log, ExporterDefinitions)
}

pub(super) const EXPORTER_COLUMNS: &str =
    "exporter_id, kind, export_path, filters, fields, field_separator, header, schedule, declared, last_exported_order_id, \
     nats_jetstream, attempts";

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
        nats_jetstream: r.get(10),
        attempts: r.get(11),
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

/// Every exporter a configuration file declared, with its tenant.
pub async fn declared(pool: &PgPool) -> Result<Vec<(String, Exporter)>, ExportError> {
    let rows = sqlx::query(&format!(
        "SELECT {EXPORTER_COLUMNS}, tenant FROM cdr_exporters WHERE declared ORDER BY tenant, exporter_id"
    ))
    .fetch_all(pool)
    .await?;
    rows.iter().map(|r| Ok((r.get::<String, _>(12), exporter_from_row(r)?))).collect()
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
/// `limit` bounds the CDRs of a new range (online exporters send a bounded range at a time).
pub(super) async fn plan(
    pool: &PgPool,
    tenant: &str,
    id: &str,
    shard: i32,
    limit: Option<i64>,
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
    if let (Some(first), Some(last)) = (row.get::<Option<i64>, _>(12), row.get::<Option<i64>, _>(13)) {
        return Ok(Some((exporter, first, last)));
    }
    // Every CDR closed at or before the projection's checkpoint is in the table: every order ID
    // up to the last that position's runs may have.
    let checkpoint = checkpoint::load(&mut tx, simledger_projections::cdrs::NAME, shard).await?;
    let (_, safe) = simledger_projections::cdrs::order_id_range(&mut tx, checkpoint).await?;
    let whose = whose_cdrs(tenant);
    let in_range = format!("FROM cdrs WHERE {whose} AND order_id > $2 AND order_id <= $3");
    let sql = match limit {
        None => format!("SELECT max(order_id) {in_range}"),
        Some(_) => format!("SELECT max(order_id) FROM (SELECT order_id {in_range} ORDER BY order_id LIMIT $4) AS r"),
    };
    let mut query = sqlx::query_scalar(&sql).bind(tenant).bind(exporter.last_exported_order_id).bind(safe);
    if let Some(limit) = limit {
        query = query.bind(limit);
    }
    let last: Option<i64> = query.fetch_one(&mut *tx).await?;
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
