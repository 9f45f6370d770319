//! The operator's CDR rates (`operator.cdr_rate_set`) as the `cdrs` and `billing` folds keep
//! them: each in a table of its own, so each fold depends on the log alone and a replay of one
//! never sees the other's state.

use rust_decimal::Decimal;
use simledger_billing::Tor;
use simledger_eventlog::catalog::OperatorRateSet;
use sqlx::PgConnection;

/// Which fold's copy.
#[derive(Debug, Clone, Copy)]
pub enum RateTable {
    Cdrs,
    Billing,
}

impl RateTable {
    fn name(self) -> &'static str {
        match self {
            Self::Cdrs => "cdr_rates",
            Self::Billing => "billing_operator_rates",
        }
    }
}

/// Records a rate in the fold's copy.
pub async fn record(tx: &mut PgConnection, table: RateTable, r: &OperatorRateSet) -> sqlx::Result<()> {
    // The table name is one of two constants, never input.
    sqlx::query(&format!(
        "INSERT INTO {} (tor, prefix, price_per_unit, unit_size) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (tor, prefix) DO UPDATE SET price_per_unit = $3, unit_size = $4",
        table.name()
    ))
    .bind(r.tor.as_str())
    .bind(&r.prefix)
    .bind(r.price_per_unit)
    .bind(r.unit_size)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The price and unit of a ToR's usage for `key`: the longest matching prefix wins.
pub async fn price(
    tx: &mut PgConnection,
    table: RateTable,
    tor: Tor,
    key: &str,
) -> sqlx::Result<Option<(Decimal, i64)>> {
    sqlx::query_as(&format!(
        "SELECT price_per_unit, unit_size FROM {} WHERE tor = $1 AND starts_with($2, prefix) \
         ORDER BY length(prefix) DESC LIMIT 1",
        table.name()
    ))
    .bind(tor.as_str())
    .bind(key)
    .fetch_optional(&mut *tx)
    .await
}
