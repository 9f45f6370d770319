//! What billing's effects need of SIMs and fleets, folded by billing from the
//! log itself (`billing_sims`, `billing_fleets`), so `*suspend_sim`, `*resume_sim` and
//! `*set_fleet_data_limit` decide from the state at their cause's place in the log, as a replay
//! will see it, never from the registry as it is now.

use simledger_eventlog::catalog::SimStatus;
use simledger_eventlog::Event;
use simledger_ids::{FleetSid, SimSid};
use sqlx::PgConnection;

/// Folds one event's SIM or fleet change, if it has one. Changes in another account's name than
/// the owner's change nothing, as in the registry.
pub(crate) async fn fold(tx: &mut PgConnection, e: &Event) -> sqlx::Result<()> {
    match e {
        Event::SimRegistered(r) => {
            sqlx::query(
                "INSERT INTO billing_sims (sim_sid, account_sid, fleet_sid, status) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (sim_sid) DO UPDATE SET account_sid = $2, fleet_sid = $3, status = $4",
            )
            .bind(&r.sim_sid)
            .bind(&r.account_sid)
            .bind(&r.fleet_sid)
            .bind(r.status.as_str())
            .execute(tx)
            .await?;
        }
        Event::SimStatusChanged(s) => {
            sqlx::query("UPDATE billing_sims SET status = $3 WHERE sim_sid = $1 AND account_sid = $2")
                .bind(&s.sim_sid)
                .bind(&s.account_sid)
                .bind(s.to.as_str())
                .execute(tx)
                .await?;
        }
        Event::SimUpdated(u) => {
            if let Some(fleet) = &u.fleet_sid {
                sqlx::query("UPDATE billing_sims SET fleet_sid = $3 WHERE sim_sid = $1 AND account_sid = $2")
                    .bind(&u.sim_sid)
                    .bind(&u.account_sid)
                    .bind(fleet)
                    .execute(tx)
                    .await?;
            }
        }
        Event::FleetCreated(f) => {
            sqlx::query(
                "INSERT INTO billing_fleets (fleet_sid, account_sid, data_limit_mb) VALUES ($1, $2, $3) \
                 ON CONFLICT (fleet_sid) DO NOTHING",
            )
            .bind(&f.fleet_sid)
            .bind(&f.account_sid)
            .bind(f.data_limit_mb)
            .execute(tx)
            .await?;
        }
        Event::FleetUpdated(f) => {
            if let Some(limit) = f.data_limit_mb {
                sqlx::query("UPDATE billing_fleets SET data_limit_mb = $3 WHERE fleet_sid = $1 AND account_sid = $2")
                    .bind(&f.fleet_sid)
                    .bind(&f.account_sid)
                    .bind(limit)
                    .execute(tx)
                    .await?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// A SIM's status, if the SIM is the tenant's.
pub(crate) async fn sim_status(tx: &mut PgConnection, tenant: &str, sim: &SimSid) -> sqlx::Result<Option<SimStatus>> {
    let status: Option<String> =
        sqlx::query_scalar("SELECT status FROM billing_sims WHERE sim_sid = $1 AND account_sid = $2")
            .bind(sim)
            .bind(tenant)
            .fetch_optional(tx)
            .await?;
    Ok(status.and_then(|s| serde_json::from_value(serde_json::Value::String(s)).ok()))
}

/// A SIM's fleet, if the SIM is the tenant's.
pub(crate) async fn sim_fleet(tx: &mut PgConnection, tenant: &str, sim: &SimSid) -> sqlx::Result<Option<FleetSid>> {
    let fleet: Option<Option<FleetSid>> =
        sqlx::query_scalar("SELECT fleet_sid FROM billing_sims WHERE sim_sid = $1 AND account_sid = $2")
            .bind(sim)
            .bind(tenant)
            .fetch_optional(tx)
            .await?;
    Ok(fleet.flatten())
}

/// A fleet's data limit, if the fleet is the tenant's.
pub(crate) async fn fleet_limit(tx: &mut PgConnection, tenant: &str, fleet: &FleetSid) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar("SELECT data_limit_mb FROM billing_fleets WHERE fleet_sid = $1 AND account_sid = $2")
        .bind(fleet)
        .bind(tenant)
        .fetch_optional(tx)
        .await
}
