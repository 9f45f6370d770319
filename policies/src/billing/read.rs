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
    /// The account's tenant (of interest when the plan is global).
    pub tenant: String,
    pub plan_id: String,
    pub account: String,
    pub timing_index: i32,
    pub anchor: DateTime<Utc>,
    pub last_fired: Option<DateTime<Utc>>,
}

/// Which accounts each of a tenant's action plans is bound to, and when each timing last fired.
/// For [`simledger_billing::GLOBAL_TENANT`]: every tenant's bindings to a global plan (those of
/// a tenant that has a plan of its own of the ID are to that one).
pub async fn plan_bindings(pool: &PgPool, tenant: &str, limit: i64) -> sqlx::Result<Vec<PlanBinding>> {
    sqlx::query_as(
        "SELECT b.tenant, b.plan_id, b.account, b.timing_index, b.anchor, b.last_fired FROM billing_plan_bindings b \
         WHERE b.tenant = $1 OR ($1 = $2 AND NOT EXISTS (SELECT 1 FROM billing_catalog c \
           WHERE c.tenant = b.tenant AND c.kind = 'plan' AND c.id = b.plan_id)) \
         ORDER BY b.plan_id, b.tenant, b.account, b.timing_index LIMIT $3",
    )
    .bind(tenant)
    .bind(simledger_billing::GLOBAL_TENANT)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// The tenant's definitions (destinations, action groups, trigger groups, plans), with the
/// global ones it reads where it has none of its own of the ID.
pub async fn catalog(pool: &PgPool, tenant: &str) -> sqlx::Result<Catalog> {
    let rows: Vec<(String, String, serde_json::Value)> = sqlx::query_as(super::batch::CATALOG_ROWS)
        .bind(tenant)
        .bind(simledger_billing::GLOBAL_TENANT)
        .fetch_all(pool)
        .await?;
    super::batch::catalog_from_rows(rows).map_err(|e| sqlx::Error::Decode(e.into()))
}

/// Whether the tenant has a definition of `kind` (`destination`, `actions`, `plan`,
/// `triggers`) and `id` of its own: what it may overwrite or remove (a global one it reads does
/// not count).
pub async fn has_own(pool: &PgPool, tenant: &str, kind: &str, id: &str) -> sqlx::Result<bool> {
    Ok(own_doc(pool, tenant, kind, id).await?.is_some())
}

/// The tenant's own trigger group `id`, if it has one.
pub async fn own_trigger_group(
    pool: &PgPool,
    tenant: &str,
    id: &str,
) -> sqlx::Result<Option<Vec<simledger_billing::ActionTrigger>>> {
    own_doc(pool, tenant, "triggers", id)
        .await?
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| sqlx::Error::Decode(e.into()))
}

async fn own_doc(pool: &PgPool, tenant: &str, kind: &str, id: &str) -> sqlx::Result<Option<serde_json::Value>> {
    sqlx::query_scalar(super::batch::OWN_DEFINITION).bind(tenant).bind(kind).bind(id).fetch_optional(pool).await
}

/// The destinations staged under a tariff plan ID (`SetTPDestination`), by ID.
pub async fn staged_destinations(pool: &PgPool, tenant: &str, tpid: &str) -> sqlx::Result<Vec<(String, Vec<String>)>> {
    sqlx::query_as("SELECT id, prefixes FROM billing_tp_destinations WHERE tenant = $1 AND tpid = $2 ORDER BY id")
        .bind(tenant)
        .bind(tpid)
        .fetch_all(pool)
        .await
}

/// The kinds `billing_tp_staged` holds.
pub const STAGED_TIMING: &str = "timing";
pub const STAGED_SHARED_GROUP: &str = "shared_group";

/// The definitions of `kind` staged under a tariff plan ID (`SetTPTiming`,
/// `SetTPSharedGroups`), by ID.
pub async fn staged<T: serde::de::DeserializeOwned + Send + Unpin + 'static>(
    pool: &PgPool,
    tenant: &str,
    tpid: &str,
    kind: &str,
) -> sqlx::Result<Vec<T>> {
    let docs: Vec<sqlx::types::Json<T>> = sqlx::query_scalar(
        "SELECT doc FROM billing_tp_staged WHERE tenant = $1 AND tpid = $2 AND kind = $3 ORDER BY id",
    )
    .bind(tenant)
    .bind(tpid)
    .bind(kind)
    .fetch_all(pool)
    .await?;
    Ok(docs.into_iter().map(|d| d.0).collect())
}

/// The IDs of `kind` staged under a tariff plan ID.
pub async fn staged_ids(pool: &PgPool, tenant: &str, tpid: &str, kind: &str) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar("SELECT id FROM billing_tp_staged WHERE tenant = $1 AND tpid = $2 AND kind = $3 ORDER BY id")
        .bind(tenant)
        .bind(tpid)
        .bind(kind)
        .fetch_all(pool)
        .await
}

/// The members `(tenant, account)` of a shared group: `tenant`'s, or every tenant's for
/// [`simledger_billing::GLOBAL_TENANT`] (the operator reading a global group), at most 1000.
pub async fn shared_group_members(pool: &PgPool, tenant: &str, group: &str) -> sqlx::Result<Vec<(String, String)>> {
    sqlx::query_as(
        "SELECT tenant, account FROM billing_shared_group_members \
         WHERE group_id = $2 AND (tenant = $1 OR $1 = $3) ORDER BY tenant, account LIMIT 1000",
    )
    .bind(tenant)
    .bind(group)
    .bind(simledger_billing::GLOBAL_TENANT)
    .fetch_all(pool)
    .await
}
