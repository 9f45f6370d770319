//! `usage`: bytes per SIM, fleet, visited network, breakout region and hour, from every
//! data-session window; what `GET /v1/UsageRecords` sums.

use simledger_eventlog::{Event, RecordedEvent};
use sqlx::PgConnection;

use crate::billing_periods::usage_time;
use crate::{ApplyError, Projection, Subscriber};

pub const NAME: &str = "usage";

#[derive(Debug, Clone, Default)]
pub struct Usage;

impl Projection for Usage {
    const TABLES: &'static [&'static str] = &["usage_hourly"];
}

impl Subscriber for Usage {
    fn name(&self) -> &str {
        NAME
    }

    async fn apply(&mut self, tx: &mut PgConnection, events: &[RecordedEvent]) -> Result<(), ApplyError> {
        for e in events {
            let (Event::DataSessionUpdated(c) | Event::DataSessionEnded(c)) = &e.event else { continue };
            let (up, down) = (c.data_upload.unwrap_or(0), c.data_download.unwrap_or(0));
            if up == 0 && down == 0 {
                continue;
            }
            sqlx::query(
                "INSERT INTO usage_hourly (account_sid, sim_sid, fleet_sid, network_sid, iso_country, hour, \
                 data_upload, data_download, data_total, breakout_region) \
                 VALUES ($1, $2, $3, $4, $5, date_trunc('hour', $6::timestamptz), $7, $8, $7 + $8, $9) \
                 ON CONFLICT (sim_sid, network_sid, fleet_sid, breakout_region, hour) DO UPDATE SET \
                 data_upload = usage_hourly.data_upload + $7, data_download = usage_hourly.data_download + $8, \
                 data_total = usage_hourly.data_total + $7 + $8",
            )
            .bind(&c.account_sid)
            .bind(&c.sim_sid)
            .bind(c.fleet_sid.as_deref().unwrap_or(""))
            .bind(&c.network.sid)
            .bind(&c.network.iso_country)
            .bind(usage_time(c))
            .bind(up)
            .bind(down)
            .bind(c.breakout_region.map(|r| r.as_str()).unwrap_or(""))
            .execute(&mut *tx)
            .await?;
        }
        Ok(())
    }
}

/// Queries the API answers from.
pub mod read {
    use chrono::{DateTime, Utc};
    use rust_decimal::Decimal;
    use sqlx::{PgPool, QueryBuilder};

    /// What to sum, and how to split it.
    #[derive(Debug, Clone, Default)]
    pub struct UsageQuery {
        pub sim_sid: Option<String>,
        pub fleet_sid: Option<String>,
        pub network_sid: Option<String>,
        pub iso_country: Option<String>,
        /// `sim`, `fleet`, `network`, `isoCountry` or `breakoutRegion`.
        pub group: Option<String>,
        /// Only usage that broke out in this region.
        pub breakout_region: Option<String>,
        /// `hour`, `day` or `all`.
        pub granularity: String,
        pub start: DateTime<Utc>,
        pub end: DateTime<Utc>,
    }

    #[derive(Debug, Clone, sqlx::FromRow)]
    pub struct UsageRow {
        /// The period's start (`start` of the query for granularity `all`).
        pub period_start: DateTime<Utc>,
        pub group_key: Option<String>,
        pub iso_country: String,
        pub data_upload: i64,
        pub data_download: i64,
        pub data_total: i64,
    }

    /// Sums per period (newest first), group key and visited country: the country is kept so
    /// the caller can price each part at its own rate.
    pub async fn usage(pool: &PgPool, account: &str, q: &UsageQuery) -> sqlx::Result<Vec<UsageRow>> {
        let group_column = match q.group.as_deref() {
            Some("sim") => "sim_sid",
            Some("fleet") => "nullif(fleet_sid, '')",
            Some("network") => "network_sid",
            Some("isoCountry") => "iso_country",
            Some("breakoutRegion") => "nullif(breakout_region, '')",
            _ => "NULL::text",
        };
        let mut b = QueryBuilder::new("SELECT ");
        match q.granularity.as_str() {
            "hour" => b.push("hour"),
            "day" => b.push("date_trunc('day', hour, 'UTC')"),
            _ => b.push("").push_bind(q.start).push("::timestamptz"),
        };
        b.push(format_args!(
            " AS period_start, {group_column} AS group_key, iso_country, sum(data_upload)::bigint AS data_upload, \
             sum(data_download)::bigint AS data_download, sum(data_total)::bigint AS data_total \
             FROM usage_hourly WHERE account_sid = "
        ));
        b.push_bind(account.to_owned());
        b.push(" AND hour >= ").push_bind(q.start).push(" AND hour < ").push_bind(q.end);
        if let Some(v) = &q.sim_sid {
            b.push(" AND sim_sid = ").push_bind(v.clone());
        }
        if let Some(v) = &q.fleet_sid {
            b.push(" AND fleet_sid = ").push_bind(v.clone());
        }
        if let Some(v) = &q.network_sid {
            b.push(" AND network_sid = ").push_bind(v.clone());
        }
        if let Some(v) = &q.iso_country {
            b.push(" AND iso_country = ").push_bind(v.to_uppercase());
        }
        if let Some(v) = &q.breakout_region {
            b.push(" AND breakout_region = ").push_bind(v.clone());
        }
        b.push(" GROUP BY 1, 2, 3 ORDER BY 1 DESC, 2, 3");
        b.build_query_as().fetch_all(pool).await
    }

    /// The operator's price per MB by visited country.
    pub async fn rates(pool: &PgPool) -> sqlx::Result<Vec<(String, Decimal, String)>> {
        sqlx::query_as("SELECT iso_country, price_per_mb, currency FROM usage_rates").fetch_all(pool).await
    }

    /// Sets the price per MB for a visited country.
    pub async fn set_rate(pool: &PgPool, iso_country: &str, price_per_mb: Decimal, currency: &str) -> sqlx::Result<()> {
        sqlx::query(
            "INSERT INTO usage_rates (iso_country, price_per_mb, currency) VALUES ($1, $2, $3) \
             ON CONFLICT (iso_country) DO UPDATE SET price_per_mb = $2, currency = $3",
        )
        .bind(iso_country.to_uppercase())
        .bind(price_per_mb)
        .bind(currency)
        .execute(pool)
        .await?;
        Ok(())
    }
}
