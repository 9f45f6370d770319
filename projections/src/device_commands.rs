//! `device_commands`: SMS Commands and IP Commands with their delivery status.
//!
//! An MT SMS command is `queued` when created, `sent` when the SMSC submitted it, then
//! `delivered` or `failed`. An MO SMS (from a device) is `received`, or `failed` if the SMSC
//! refused it. IP Commands stay `queued`: the PGW does not carry downlink datagrams yet.
//! The IP addresses each SIM's data sessions were given are kept too.

use simledger_eventlog::catalog::{EsimProfileProgress, EsimStep, SmsEvent};
use simledger_eventlog::{Event, RecordedEvent};
use sqlx::PgConnection;

use crate::{ApplyError, Projection, Subscriber};

pub const NAME: &str = "device_commands";

#[derive(Debug, Clone, Default)]
pub struct DeviceCommands;

impl Projection for DeviceCommands {
    const TABLES: &'static [&'static str] =
        &["device_sms_commands", "device_ip_commands", "device_sim_ip_addresses", "device_esim_profiles"];
}

impl Subscriber for DeviceCommands {
    fn name(&self) -> &str {
        NAME
    }

    async fn apply(&mut self, tx: &mut PgConnection, events: &[RecordedEvent]) -> Result<(), ApplyError> {
        for e in events {
            apply_one(tx, e).await?;
        }
        Ok(())
    }
}

/// An eSIM profile's download step, on the profile's row.
async fn set_esim_step(
    tx: &mut PgConnection,
    step: EsimStep,
    p: &EsimProfileProgress,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<(), sqlx::Error> {
    // Twilio's statuses have no `downloading`: the profile shows `available`, with the EID it
    // is going to, until it is downloaded.
    let (status, rank) = match step {
        EsimStep::Downloading => ("available", 1),
        EsimStep::Downloaded => ("downloaded", 2),
        EsimStep::Installed | EsimStep::Failed => (step.as_str(), 3),
    };
    // Steps only move forward (available < downloaded < installed or failed): a step the
    // SM-DP+ repeated after a later one changes nothing.
    sqlx::query(
        "UPDATE device_esim_profiles SET status = $2, eid = $3, sim_sid = COALESCE($4, sim_sid), \
         error_code = $5, error_message = $6, date_updated = $7 \
         WHERE esim_profile_sid = $1 AND account_sid = $8 AND CASE status \
         WHEN 'available' THEN 0 WHEN 'downloaded' THEN 2 ELSE 3 END < $9",
    )
    .bind(&p.esim_profile_sid)
    .bind(status)
    .bind(&p.eid)
    .bind(p.sim_sid.as_ref().map(|s| s.as_str()))
    .bind(&p.error_code)
    .bind(&p.error_message)
    .bind(at)
    .bind(&p.account_sid)
    .bind(rank)
    .execute(tx)
    .await?;
    Ok(())
}

async fn apply_one(tx: &mut PgConnection, e: &RecordedEvent) -> Result<(), sqlx::Error> {
    let at = e.recorded_at;
    if let Some((step, p)) = e.event.esim_progress() {
        return set_esim_step(tx, step, p, at).await;
    }
    match &e.event {
        Event::SmsCommandCreated(c) => {
            sqlx::query(
                "INSERT INTO device_sms_commands (sms_command_sid, account_sid, sim_sid, payload, status, direction, \
                 callback_url, callback_method, date_created, date_updated) \
                 VALUES ($1, $2, $3, $4, 'queued', 'to_sim', $5, $6, $7, $7)",
            )
            .bind(&c.sms_command_sid)
            .bind(&c.account_sid)
            .bind(&c.sim_sid)
            .bind(&c.payload)
            .bind(&c.callback_url)
            .bind(&c.callback_method)
            .bind(at)
            .execute(tx)
            .await?;
        }
        Event::SmsMtSubmitted(s) => set_sms_status(tx, s, "sent", e).await?,
        Event::SmsMtDelivered(s) => set_sms_status(tx, s, "delivered", e).await?,
        Event::SmsMtFailed(s) => set_sms_status(tx, s, "failed", e).await?,
        Event::SmsMoSubmitted(s) if !s.account_sid.is_empty() => {
            sqlx::query(
                "INSERT INTO device_sms_commands (sms_command_sid, account_sid, sim_sid, payload, status, direction, \
                 date_created, date_updated) VALUES ($1, $2, $3, $4, 'received', 'from_sim', $5, $5) \
                 ON CONFLICT (sms_command_sid) DO NOTHING",
            )
            .bind(&s.sms_command_sid)
            .bind(&s.account_sid)
            .bind(&s.sim_sid)
            .bind(&s.payload)
            .bind(at)
            .execute(tx)
            .await?;
        }
        Event::SmsMoFailed(s) => set_sms_status(tx, s, "failed", e).await?,
        Event::DataSessionStarted(c) => {
            if let Some(ip) = &c.ip_address {
                sqlx::query(
                    "INSERT INTO device_sim_ip_addresses (sim_sid, ip_address) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                )
                .bind(&c.sim_sid)
                .bind(ip)
                .execute(tx)
                .await?;
            }
        }
        Event::EsimProfileCreated(p) => {
            sqlx::query(
                "INSERT INTO device_esim_profiles (esim_profile_sid, account_sid, iccid, status, eid, smdp_plus_address, \
                 matching_id, activation_code, date_created, date_updated) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
            )
            .bind(&p.esim_profile_sid)
            .bind(&p.account_sid)
            .bind(&p.iccid)
            .bind(&p.status)
            .bind(&p.eid)
            .bind(&p.smdp_plus_address)
            .bind(&p.matching_id)
            .bind(&p.activation_code)
            .bind(at)
            .execute(tx)
            .await?;
        }
        Event::IpCommandCreated(c) => {
            sqlx::query(
                "INSERT INTO device_ip_commands (ip_command_sid, account_sid, sim_sid, sim_iccid, status, direction, \
                 device_port, payload_type, payload, callback_url, callback_method, date_created, date_updated) \
                 VALUES ($1, $2, $3, $4, 'queued', 'to_sim', $5, $6, $7, $8, $9, $10, $10)",
            )
            .bind(&c.ip_command_sid)
            .bind(&c.account_sid)
            .bind(&c.sim_sid)
            .bind(&c.sim_iccid)
            .bind(c.device_port)
            .bind(&c.payload_type)
            .bind(&c.payload)
            .bind(&c.callback_url)
            .bind(&c.callback_method)
            .bind(at)
            .execute(tx)
            .await?;
        }
        Event::IpCommandFromSim(c) => {
            sqlx::query(
                "INSERT INTO device_ip_commands (ip_command_sid, account_sid, sim_sid, sim_iccid, status, direction, \
                 device_ip, device_port, payload_type, payload, date_created, date_updated) \
                 VALUES ($1, $2, $3, $4, 'received', 'from_sim', $5, $6, $7, $8, $9, $9) ON CONFLICT DO NOTHING",
            )
            .bind(&c.ip_command_sid)
            .bind(&c.account_sid)
            .bind(&c.sim_sid)
            .bind(&c.sim_iccid)
            .bind(&c.device_ip)
            .bind(c.device_port)
            .bind(&c.payload_type)
            .bind(&c.payload)
            .bind(at)
            .execute(tx)
            .await?;
        }
        Event::IpCommandSent(c) | Event::IpCommandReceived(c) | Event::IpCommandFailed(c) => {
            let status = match &e.event {
                Event::IpCommandSent(_) => "sent",
                Event::IpCommandReceived(_) => "received",
                _ => "failed",
            };
            // Only forward (queued → sent → received, or failed), so a redelivered `sent` after
            // `received` leaves it received.
            sqlx::query(
                "UPDATE device_ip_commands SET status = $2, device_ip = COALESCE($3, device_ip), date_updated = $4 \
                 WHERE ip_command_sid = $1 AND account_sid = $5 AND CASE status WHEN 'queued' THEN true \
                 WHEN 'sent' THEN $2 IN ('received', 'failed') ELSE false END",
            )
            .bind(&c.ip_command_sid)
            .bind(status)
            .bind(&c.device_ip)
            .bind(at)
            .bind(&c.account_sid)
            .execute(tx)
            .await?;
        }
        _ => {}
    }
    Ok(())
}

async fn set_sms_status(tx: &mut PgConnection, s: &SmsEvent, status: &str, e: &RecordedEvent) -> sqlx::Result<()> {
    sqlx::query("UPDATE device_sms_commands SET status = $2, date_updated = $3 WHERE sms_command_sid = $1")
        .bind(&s.sms_command_sid)
        .bind(status)
        .bind(e.recorded_at)
        .execute(tx)
        .await?;
    Ok(())
}

/// Queries the API answers from, always within one account.
pub mod read {
    use chrono::{DateTime, Utc};
    use sqlx::{PgPool, QueryBuilder};

    use crate::read::{page, PageQuery, Rows};

    #[derive(Debug, Clone, sqlx::FromRow)]
    pub struct SmsCommandRow {
        pub sms_command_sid: String,
        pub account_sid: String,
        pub sim_sid: String,
        pub payload: String,
        pub status: String,
        pub direction: String,
        pub date_created: DateTime<Utc>,
        pub date_updated: DateTime<Utc>,
    }

    const SMS_COLUMNS: &str = "SELECT sms_command_sid, account_sid, sim_sid, payload, status, direction, \
        date_created, date_updated FROM device_sms_commands";

    #[derive(Debug, Clone, Default)]
    pub struct CommandFilter {
        pub sim_sid: Option<String>,
        pub sim_iccid: Option<String>,
        pub status: Option<String>,
        pub direction: Option<String>,
    }

    pub async fn sms_command(pool: &PgPool, account: &str, sid: &str) -> sqlx::Result<Option<SmsCommandRow>> {
        sqlx::query_as(&format!("{SMS_COLUMNS} WHERE account_sid = $1 AND sms_command_sid = $2"))
            .bind(account)
            .bind(sid)
            .fetch_optional(pool)
            .await
    }

    pub async fn sms_commands(
        pool: &PgPool,
        account: &str,
        filter: &CommandFilter,
        at: &PageQuery,
    ) -> sqlx::Result<Rows<SmsCommandRow>> {
        let mut q = QueryBuilder::new(SMS_COLUMNS);
        q.push(" WHERE account_sid = ").push_bind(account.to_owned());
        push_filter(&mut q, filter);
        page(pool, q, "sms_command_sid", at).await
    }

    fn push_filter(q: &mut QueryBuilder<'_, sqlx::Postgres>, filter: &CommandFilter) {
        if let Some(v) = &filter.sim_sid {
            q.push(" AND sim_sid = ").push_bind(v.clone());
        }
        if let Some(v) = &filter.sim_iccid {
            q.push(" AND sim_iccid = ").push_bind(v.clone());
        }
        if let Some(v) = &filter.status {
            q.push(" AND status = ").push_bind(v.clone());
        }
        if let Some(v) = &filter.direction {
            q.push(" AND direction = ").push_bind(v.clone());
        }
    }

    #[derive(Debug, Clone, sqlx::FromRow)]
    pub struct EsimProfileRow {
        pub esim_profile_sid: String,
        pub account_sid: String,
        pub iccid: String,
        pub sim_sid: Option<String>,
        pub status: String,
        pub eid: Option<String>,
        pub smdp_plus_address: String,
        pub matching_id: Option<String>,
        pub activation_code: String,
        pub error_code: Option<String>,
        pub error_message: Option<String>,
        pub date_created: DateTime<Utc>,
        pub date_updated: DateTime<Utc>,
    }

    const ESIM_COLUMNS: &str = "SELECT esim_profile_sid, account_sid, iccid, sim_sid, status, eid, smdp_plus_address, \
        matching_id, activation_code, error_code, error_message, date_created, date_updated FROM device_esim_profiles";

    #[derive(Debug, Clone, Default)]
    pub struct EsimFilter {
        pub eid: Option<String>,
        pub sim_sid: Option<String>,
        pub status: Option<String>,
    }

    pub async fn esim_profile(pool: &PgPool, account: &str, sid: &str) -> sqlx::Result<Option<EsimProfileRow>> {
        sqlx::query_as(&format!("{ESIM_COLUMNS} WHERE account_sid = $1 AND esim_profile_sid = $2"))
            .bind(account)
            .bind(sid)
            .fetch_optional(pool)
            .await
    }

    pub async fn esim_profiles(
        pool: &PgPool,
        account: &str,
        filter: &EsimFilter,
        at: &PageQuery,
    ) -> sqlx::Result<Rows<EsimProfileRow>> {
        let mut q = QueryBuilder::new(ESIM_COLUMNS);
        q.push(" WHERE account_sid = ").push_bind(account.to_owned());
        if let Some(v) = &filter.eid {
            q.push(" AND eid = ").push_bind(v.clone());
        }
        if let Some(v) = &filter.sim_sid {
            q.push(" AND sim_sid = ").push_bind(v.clone());
        }
        if let Some(v) = &filter.status {
            q.push(" AND status = ").push_bind(v.clone());
        }
        page(pool, q, "esim_profile_sid", at).await
    }

    #[derive(Debug, Clone, sqlx::FromRow)]
    pub struct IpAddressRow {
        pub ip_address: String,
    }

    pub async fn sim_ip_addresses(pool: &PgPool, sim_sid: &str, at: &PageQuery) -> sqlx::Result<Rows<IpAddressRow>> {
        let mut q = QueryBuilder::new("SELECT ip_address FROM device_sim_ip_addresses WHERE sim_sid = ");
        q.push_bind(sim_sid.to_owned());
        page(pool, q, "ip_address", at).await
    }

    #[derive(Debug, Clone, sqlx::FromRow)]
    pub struct IpCommandRow {
        pub ip_command_sid: String,
        pub account_sid: String,
        pub sim_sid: String,
        pub sim_iccid: String,
        pub status: String,
        pub direction: String,
        pub device_ip: Option<String>,
        pub device_port: i32,
        pub payload_type: String,
        pub payload: String,
        pub date_created: DateTime<Utc>,
        pub date_updated: DateTime<Utc>,
    }

    const IP_COLUMNS: &str = "SELECT ip_command_sid, account_sid, sim_sid, sim_iccid, status, direction, device_ip, \
        device_port, payload_type, payload, date_created, date_updated FROM device_ip_commands";

    pub async fn ip_command(pool: &PgPool, account: &str, sid: &str) -> sqlx::Result<Option<IpCommandRow>> {
        sqlx::query_as(&format!("{IP_COLUMNS} WHERE account_sid = $1 AND ip_command_sid = $2"))
            .bind(account)
            .bind(sid)
            .fetch_optional(pool)
            .await
    }

    pub async fn ip_commands(
        pool: &PgPool,
        account: &str,
        filter: &CommandFilter,
        at: &PageQuery,
    ) -> sqlx::Result<Rows<IpCommandRow>> {
        let mut q = QueryBuilder::new(IP_COLUMNS);
        q.push(" WHERE account_sid = ").push_bind(account.to_owned());
        push_filter(&mut q, filter);
        page(pool, q, "ip_command_sid", at).await
    }
}
