//! Queries the API answers from.

use chrono::{DateTime, Utc};
use simledger_billing::{Account, Catalog};
use sqlx::PgPool;

pub async fn account(pool: &PgPool, tenant: &str, account: &str) -> sqlx::Result<Option<Account>> {
    let doc: Option<sqlx::types::Json<Account>> =
        sqlx::query_scalar("SELECT doc FROM billing_accounts WHERE tenant = $1 AND account = $2")
            .bind(tenant)
            .bind(account)
            .fetch_optional(pool)
            .await?;
    Ok(doc.map(|d| d.0))
}

/// The tenant's accounts named in `ids` (those that exist), by ID.
pub async fn accounts_named(pool: &PgPool, tenant: &str, ids: &[String]) -> sqlx::Result<Vec<Account>> {
    let docs: Vec<sqlx::types::Json<Account>> =
        sqlx::query_scalar("SELECT doc FROM billing_accounts WHERE tenant = $1 AND account = ANY($2) ORDER BY account")
            .bind(tenant)
            .bind(ids)
            .fetch_all(pool)
            .await?;
    Ok(docs.into_iter().map(|d| d.0).collect())
}

/// The tenant's accounts by ID, `offset` skipped, at most `limit`.
pub async fn accounts_at(pool: &PgPool, tenant: &str, offset: i64, limit: i64) -> sqlx::Result<Vec<Account>> {
    let docs: Vec<sqlx::types::Json<Account>> =
        sqlx::query_scalar("SELECT doc FROM billing_accounts WHERE tenant = $1 ORDER BY account OFFSET $2 LIMIT $3")
            .bind(tenant)
            .bind(offset)
            .bind(limit)
            .fetch_all(pool)
            .await?;
    Ok(docs.into_iter().map(|d| d.0).collect())
}

pub async fn accounts(pool: &PgPool, tenant: &str, after: &str, limit: i64) -> sqlx::Result<Vec<Account>> {
    let docs: Vec<sqlx::types::Json<Account>> = sqlx::query_scalar(
        "SELECT doc FROM billing_accounts WHERE tenant = $1 AND account > $2 ORDER BY account LIMIT $3",
    )
    .bind(tenant)
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(docs.into_iter().map(|d| d.0).collect())
}
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct PlanBinding {
    pub plan_id: String,
    pub account: String,
    pub timing_index: i32,
    pub anchor: DateTime<Utc>,
    pub last_fired: Option<DateTime<Utc>>,
}

/// Which accounts each of a tenant's action plans is bound to, and when each timing last fired.
pub async fn plan_bindings(pool: &PgPool, tenant: &str, limit: i64) -> sqlx::Result<Vec<PlanBinding>> {
    sqlx::query_as(
        "SELECT plan_id, account, timing_index, anchor, last_fired FROM billing_plan_bindings \
         WHERE tenant = $1 ORDER BY plan_id, account, timing_index LIMIT $2",
    )
    .bind(tenant)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// The tenant's definitions (destinations, action groups, trigger groups, plans), with the
/// global destinations it rates against.
pub async fn catalog(pool: &PgPool, tenant: &str) -> sqlx::Result<Catalog> {
    let rows: Vec<(String, String, serde_json::Value)> = sqlx::query_as(super::batch::CATALOG_ROWS)
        .bind(tenant)
        .bind(simledger_billing::GLOBAL_TENANT)
        .fetch_all(pool)
        .await?;
    super::batch::catalog_from_rows(rows).map_err(|e| sqlx::Error::Decode(e.into()))
}

/// Whether the tenant has a destination `id` of its own (a global one does not count).
pub async fn has_own_destination(pool: &PgPool, tenant: &str, id: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM billing_catalog WHERE tenant = $1 AND kind = 'destination' AND id = $2)",
    )
    .bind(tenant)
    .bind(id)
    .fetch_one(pool)
    .await
}

/// The destinations staged under a tariff plan ID (`SetTPDestination`), by ID.
pub async fn staged_destinations(pool: &PgPool, tenant: &str, tpid: &str) -> sqlx::Result<Vec<(String, Vec<String>)>> {
    sqlx::query_as("SELECT id, prefixes FROM billing_tp_destinations WHERE tenant = $1 AND tpid = $2 ORDER BY id")
        .bind(tenant)
        .bind(tpid)
        .fetch_all(pool)
        .await
}
