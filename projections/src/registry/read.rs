//! Queries the API answers from: always within one account, so another account's rows are
//! simply not found.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, QueryBuilder};

use crate::read::{page, PageQuery, Rows};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SimRow {
    pub sim_sid: String,
    pub account_sid: String,
    pub unique_name: Option<String>,
    pub iccid: String,
    pub status: String,
    pub fleet_sid: Option<String>,
    pub date_created: DateTime<Utc>,
    pub date_updated: DateTime<Utc>,
}

const SIM_COLUMNS: &str =
    "SELECT sim_sid, account_sid, unique_name, iccid, status, fleet_sid, date_created, date_updated FROM registry_sims";

#[derive(Debug, Clone, Default)]
pub struct SimFilter {
    pub status: Option<String>,
    pub fleet_sid: Option<String>,
    pub iccid: Option<String>,
}

/// A SIM of the account, by SID or unique name.
pub async fn sim(pool: &PgPool, account: &str, sid_or_name: &str) -> sqlx::Result<Option<SimRow>> {
    sqlx::query_as(&format!("{SIM_COLUMNS} WHERE account_sid = $1 AND (sim_sid = $2 OR unique_name = $2)"))
        .bind(account)
        .bind(sid_or_name)
        .fetch_optional(pool)
        .await
}

pub async fn sims(pool: &PgPool, account: &str, filter: &SimFilter, at: &PageQuery) -> sqlx::Result<Rows<SimRow>> {
    let mut q = QueryBuilder::new(SIM_COLUMNS);
    q.push(" WHERE account_sid = ").push_bind(account.to_owned());
    if let Some(s) = &filter.status {
        q.push(" AND status = ").push_bind(s.clone());
    }
    if let Some(f) = &filter.fleet_sid {
        q.push(" AND fleet_sid = ").push_bind(f.clone());
    }
    if let Some(i) = &filter.iccid {
        q.push(" AND iccid = ").push_bind(i.clone());
    }
    page(pool, q, "sim_sid", at).await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FleetRow {
    pub fleet_sid: String,
    pub account_sid: String,
    pub unique_name: Option<String>,
    pub data_enabled: bool,
    pub data_limit_mb: i64,
    pub data_metering: String,
    pub network_access_profile_sid: String,
    pub sms_commands_enabled: bool,
    pub sms_commands_url: Option<String>,
    pub sms_commands_method: Option<String>,
    pub ip_commands_url: Option<String>,
    pub ip_commands_method: Option<String>,
    pub date_created: DateTime<Utc>,
    pub date_updated: DateTime<Utc>,
}

const FLEET_COLUMNS: &str = "SELECT fleet_sid, account_sid, unique_name, data_enabled, data_limit_mb, data_metering, \
    network_access_profile_sid, sms_commands_enabled, sms_commands_url, sms_commands_method, ip_commands_url, \
    ip_commands_method, date_created, date_updated FROM registry_fleets";

pub async fn fleet(pool: &PgPool, account: &str, sid_or_name: &str) -> sqlx::Result<Option<FleetRow>> {
    sqlx::query_as(&format!("{FLEET_COLUMNS} WHERE account_sid = $1 AND (fleet_sid = $2 OR unique_name = $2)"))
        .bind(account)
        .bind(sid_or_name)
        .fetch_optional(pool)
        .await
}

pub async fn fleets(
    pool: &PgPool,
    account: &str,
    nap_sid: Option<&str>,
    at: &PageQuery,
) -> sqlx::Result<Rows<FleetRow>> {
    let mut q = QueryBuilder::new(FLEET_COLUMNS);
    q.push(" WHERE account_sid = ").push_bind(account.to_owned());
    if let Some(n) = nap_sid {
        q.push(" AND network_access_profile_sid = ").push_bind(n.to_owned());
    }
    page(pool, q, "fleet_sid", at).await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct NapRow {
    pub nap_sid: String,
    pub account_sid: String,
    pub unique_name: Option<String>,
    pub date_created: DateTime<Utc>,
    pub date_updated: DateTime<Utc>,
}

const NAP_COLUMNS: &str = "SELECT nap_sid, account_sid, unique_name, date_created, date_updated FROM registry_naps";

pub async fn nap(pool: &PgPool, account: &str, sid_or_name: &str) -> sqlx::Result<Option<NapRow>> {
    sqlx::query_as(&format!("{NAP_COLUMNS} WHERE account_sid = $1 AND (nap_sid = $2 OR unique_name = $2)"))
        .bind(account)
        .bind(sid_or_name)
        .fetch_optional(pool)
        .await
}

pub async fn naps(pool: &PgPool, account: &str, at: &PageQuery) -> sqlx::Result<Rows<NapRow>> {
    let mut q = QueryBuilder::new(NAP_COLUMNS);
    q.push(" WHERE account_sid = ").push_bind(account.to_owned());
    page(pool, q, "nap_sid", at).await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct NapNetworkRow {
    pub network_sid: String,
}

/// The networks a NAP allows, in SID order.
pub async fn nap_networks(pool: &PgPool, nap_sid: &str, at: &PageQuery) -> sqlx::Result<Rows<NapNetworkRow>> {
    let mut q = QueryBuilder::new("SELECT network_sid FROM registry_nap_networks WHERE nap_sid = ");
    q.push_bind(nap_sid.to_owned());
    page(pool, q, "network_sid", at).await
}

pub async fn nap_allows(pool: &PgPool, nap_sid: &str, network_sid: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM registry_nap_networks WHERE nap_sid = $1 AND network_sid = $2)")
        .bind(nap_sid)
        .bind(network_sid)
        .fetch_one(pool)
        .await
}

/// Whether a card with this ICCID is in inventory (registered or not).
pub async fn iccid_exists(pool: &PgPool, iccid: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM registry_sims WHERE iccid = $1)").bind(iccid).fetch_one(pool).await
}

/// One IMSI of a SIM: whether it may attach and the networks of its own it is kept to.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ImsiRow {
    pub imsi: String,
    pub sim_sid: String,
    pub allowed: bool,
    pub networks: Vec<String>,
}

/// A SIM's IMSIs, in IMSI order. The caller has checked the SIM is the account's.
pub async fn sim_imsis(pool: &PgPool, sim_sid: &str, at: &PageQuery) -> sqlx::Result<Rows<ImsiRow>> {
    let mut q = QueryBuilder::new("SELECT imsi, sim_sid, allowed, networks FROM registry_sim_imsis WHERE sim_sid = ");
    q.push_bind(sim_sid.to_owned());
    page(pool, q, "imsi", at).await
}

/// One IMSI of a SIM, if it is that SIM's.
pub async fn sim_imsi(pool: &PgPool, sim_sid: &str, imsi: &str) -> sqlx::Result<Option<ImsiRow>> {
    sqlx::query_as("SELECT imsi, sim_sid, allowed, networks FROM registry_sim_imsis WHERE sim_sid = $1 AND imsi = $2")
        .bind(sim_sid)
        .bind(imsi)
        .fetch_optional(pool)
        .await
}

/// A SIM by SID in any account or in inventory: the operator's lookup.
pub async fn sim_anywhere(pool: &PgPool, sim_sid: &str) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT sim_sid FROM registry_sims WHERE sim_sid = $1").bind(sim_sid).fetch_optional(pool).await
}
