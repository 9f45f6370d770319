//! Queries over Sinks and Subscriptions: the API's (always within one account) and the sink
//! workers'.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, QueryBuilder};

use crate::read::{page, PageQuery, Rows};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SinkRow {
    pub sink_sid: String,
    pub account_sid: String,
    pub description: String,
    pub sink_type: String,
    pub sink_configuration: serde_json::Value,
    /// `initialized`, `active`, or `failed` while the worker reports deliveries failing.
    pub status: String,
    pub last_test_id: Option<String>,
    pub in_use: bool,
    pub date_created: DateTime<Utc>,
    pub date_updated: DateTime<Utc>,
    pub version: i32,
}

const SINK_SELECT: &str = "SELECT * FROM (SELECT s.sink_sid, s.account_sid, s.description, s.sink_type, \
     s.sink_configuration, CASE WHEN c.failed THEN 'failed' ELSE s.status END AS status, s.last_test_id, \
     EXISTS (SELECT 1 FROM es_subscriptions u WHERE u.sink_sid = s.sink_sid) AS in_use, s.date_created, \
     s.date_updated, s.version FROM es_sinks s LEFT JOIN sink_cursors c USING (sink_sid)) sinks";

#[derive(Debug, Clone, Default)]
pub struct SinkFilter {
    pub in_use: Option<bool>,
    pub status: Option<String>,
}

pub async fn sink(pool: &PgPool, account: &str, sid: &str) -> sqlx::Result<Option<SinkRow>> {
    sqlx::query_as(&format!("{SINK_SELECT} WHERE account_sid = $1 AND sink_sid = $2"))
        .bind(account)
        .bind(sid)
        .fetch_optional(pool)
        .await
}

pub async fn sinks(pool: &PgPool, account: &str, filter: &SinkFilter, at: &PageQuery) -> sqlx::Result<Rows<SinkRow>> {
    let mut q = QueryBuilder::new(SINK_SELECT);
    q.push(" WHERE account_sid = ").push_bind(account.to_owned());
    if let Some(in_use) = filter.in_use {
        q.push(" AND in_use = ").push_bind(in_use);
    }
    if let Some(status) = &filter.status {
        q.push(" AND status = ").push_bind(status.clone());
    }
    page(pool, q, "sink_sid", at).await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SubscriptionRow {
    pub subscription_sid: String,
    pub account_sid: String,
    pub sink_sid: String,
    pub description: String,
    pub date_created: DateTime<Utc>,
    pub date_updated: DateTime<Utc>,
    pub version: i32,
}

const SUBSCRIPTION_SELECT: &str = "SELECT subscription_sid, account_sid, sink_sid, description, date_created, \
     date_updated, version FROM es_subscriptions";

pub async fn subscription(pool: &PgPool, account: &str, sid: &str) -> sqlx::Result<Option<SubscriptionRow>> {
    sqlx::query_as(&format!("{SUBSCRIPTION_SELECT} WHERE account_sid = $1 AND subscription_sid = $2"))
        .bind(account)
        .bind(sid)
        .fetch_optional(pool)
        .await
}

pub async fn subscriptions(
    pool: &PgPool,
    account: &str,
    sink_sid: Option<&str>,
    at: &PageQuery,
) -> sqlx::Result<Rows<SubscriptionRow>> {
    let mut q = QueryBuilder::new(SUBSCRIPTION_SELECT);
    q.push(" WHERE account_sid = ").push_bind(account.to_owned());
    if let Some(sink) = sink_sid {
        q.push(" AND sink_sid = ").push_bind(sink.to_owned());
    }
    page(pool, q, "subscription_sid", at).await
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SubscribedEventRow {
    pub subscription_sid: String,
    pub account_sid: String,
    #[sqlx(rename = "type")]
    pub event_type: String,
    pub schema_version: i32,
    pub from_position: i64,
}

const SUBSCRIBED_SELECT: &str =
    "SELECT subscription_sid, account_sid, type, schema_version, from_position FROM es_subscribed_events";

pub async fn subscribed_event(
    pool: &PgPool,
    account: &str,
    subscription: &str,
    event_type: &str,
) -> sqlx::Result<Option<SubscribedEventRow>> {
    sqlx::query_as(&format!("{SUBSCRIBED_SELECT} WHERE account_sid = $1 AND subscription_sid = $2 AND type = $3"))
        .bind(account)
        .bind(subscription)
        .bind(event_type)
        .fetch_optional(pool)
        .await
}

pub async fn subscribed_events(
    pool: &PgPool,
    account: &str,
    subscription: &str,
    at: &PageQuery,
) -> sqlx::Result<Rows<SubscribedEventRow>> {
    let mut q = QueryBuilder::new(SUBSCRIBED_SELECT);
    q.push(" WHERE account_sid = ").push_bind(account.to_owned());
    q.push(" AND subscription_sid = ").push_bind(subscription.to_owned());
    page(pool, q, "type", at).await
}

/// A sink with a subscription: what a delivery worker serves.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct DeliverySink {
    pub sink_sid: String,
    pub account_sid: String,
    pub sink_type: String,
    pub sink_configuration: serde_json::Value,
    pub subscription_sid: String,
}

/// Every sink that has a subscription, for the workers' supervisor.
pub async fn delivery_sinks(pool: &PgPool) -> sqlx::Result<Vec<DeliverySink>> {
    sqlx::query_as(
        "SELECT s.sink_sid, s.account_sid, s.sink_type, s.sink_configuration, u.subscription_sid \
         FROM es_sinks s JOIN es_subscriptions u USING (sink_sid) ORDER BY s.sink_sid",
    )
    .fetch_all(pool)
    .await
}

/// The types a sink's subscription delivers now.
pub async fn sink_types(pool: &PgPool, sink_sid: &str) -> sqlx::Result<Vec<SubscribedEventRow>> {
    sqlx::query_as(&format!(
        "{SUBSCRIBED_SELECT} WHERE subscription_sid = (SELECT subscription_sid FROM es_subscriptions \
         WHERE sink_sid = $1) ORDER BY type"
    ))
    .bind(sink_sid)
    .fetch_all(pool)
    .await
}
