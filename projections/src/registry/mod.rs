//! `registry`: the current state of SIMs, their IMSIs, fleets and Network Access Profiles.
//!
//! Timestamps come from the events' `recorded_at`, never from the clock, so a replay rebuilds
//! the same rows byte for byte.

use simledger_eventlog::catalog::{FleetCreated, FleetUpdated, SimRegistered, SimUpdated};
use simledger_eventlog::{Event, RecordedEvent};
use sqlx::PgConnection;

use crate::{ApplyError, Projection, Subscriber};

pub mod read;

pub const NAME: &str = "registry";

#[derive(Debug, Clone, Default)]
pub struct Registry;

impl Projection for Registry {
    const TABLES: &'static [&'static str] = &[
        "registry_sim_imsis",
        "registry_sims",
        "registry_nap_networks",
        "registry_naps",
        "registry_fleets",
        "registry_fleet_signal_policies",
    ];
}

impl Subscriber for Registry {
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

async fn apply_one(tx: &mut PgConnection, e: &RecordedEvent) -> Result<(), sqlx::Error> {
    let (at, pos) = (e.recorded_at, e.position);
    match &e.event {
        Event::SimProvisioned(p) => {
            sqlx::query(
                "INSERT INTO registry_sims (sim_sid, iccid, registration_code_hash, status, date_created, \
                 date_updated, version, last_position) VALUES ($1, $2, $3, 'new', $4, $4, $5, $6)",
            )
            .bind(&p.sim_sid)
            .bind(&p.iccid)
            .bind(&p.registration_code_hash)
            .bind(at)
            .bind(e.stream_version)
            .bind(pos)
            .execute(&mut *tx)
            .await?;
            sqlx::query("INSERT INTO registry_sim_imsis (imsi, sim_sid) SELECT unnest($1::text[]), $2")
                .bind(&p.imsis)
                .bind(&p.sim_sid)
                .execute(&mut *tx)
                .await?;
        }
        Event::SimRegistered(SimRegistered { sim_sid, account_sid, iccid, status, fleet_sid, unique_name }) => {
            // A SIM registered without prior provisioning (imported inventory) gets its row here.
            sqlx::query(
                "INSERT INTO registry_sims (sim_sid, iccid, account_sid, status, fleet_sid, unique_name, \
                 date_created, date_updated, version, last_position) VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $9, $8) \
                 ON CONFLICT (sim_sid) DO UPDATE SET account_sid = $3, status = $4, fleet_sid = $5, \
                 unique_name = $6, date_created = $7, date_updated = $7, version = $9, last_position = $8",
            )
            .bind(sim_sid)
            .bind(iccid)
            .bind(account_sid)
            .bind(status.as_str())
            .bind(fleet_sid)
            .bind(unique_name)
            .bind(at)
            .bind(pos)
            .bind(e.stream_version)
            .execute(&mut *tx)
            .await?;
        }
        Event::SimUpdated(u) => update_sim(tx, u, e).await?,
        Event::FleetSignalPolicySet(p) => {
            // The owner's policy only (commands check; a fold does not trust that alone).
            sqlx::query(
                "INSERT INTO registry_fleet_signal_policies (fleet_sid, account_sid, actions_id, usage_spike_factor, \
                 attach_storm_rejections, date_updated) \
                 SELECT $1, $2, $3, $4, $5, $6 WHERE EXISTS \
                 (SELECT 1 FROM registry_fleets WHERE fleet_sid = $1 AND account_sid = $2) \
                 ON CONFLICT (fleet_sid) DO UPDATE SET actions_id = $3, usage_spike_factor = $4, \
                 attach_storm_rejections = $5, date_updated = $6",
            )
            .bind(&p.fleet_sid)
            .bind(&p.account_sid)
            .bind(&p.actions_id)
            .bind(p.usage_spike_factor)
            .bind(p.attach_storm_rejections)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        Event::FleetBreakoutSet(b) => {
            // The owner's setting only (commands check; a fold does not trust that alone).
            sqlx::query("UPDATE registry_fleets SET breakout_region = $3 WHERE fleet_sid = $1 AND account_sid = $2")
                .bind(&b.fleet_sid)
                .bind(&b.account_sid)
                .bind(b.region.map(|r| r.as_str()))
                .execute(&mut *tx)
                .await?;
        }
        Event::SimStatusChanged(s) => {
            // A change in another account's name than the SIM's owner's changes no status (the
            // stream's version still moves, so the owner's next command is not refused for it).
            sqlx::query(
                "UPDATE registry_sims SET status = CASE WHEN account_sid = $6 THEN $2 ELSE status END, \
                 date_updated = CASE WHEN account_sid = $6 THEN $3 ELSE date_updated END, \
                 last_position = $4, version = $5 WHERE sim_sid = $1",
            )
            .bind(&s.sim_sid)
            .bind(s.to.as_str())
            .bind(at)
            .bind(pos)
            .bind(e.stream_version)
            .bind(&s.account_sid)
            .execute(&mut *tx)
            .await?;
        }
        Event::SimImsiUpdated(u) => {
            // As with a status: only a change in the name of the SIM's owner (or, for a card in
            // inventory, of nobody) counts; the stream's version moves either way.
            sqlx::query(
                "UPDATE registry_sim_imsis i SET allowed = $3, networks = $4 FROM registry_sims s \
                 WHERE i.sim_sid = $1 AND i.imsi = $2 AND s.sim_sid = i.sim_sid \
                 AND s.account_sid IS NOT DISTINCT FROM $5",
            )
            .bind(&u.sim_sid)
            .bind(&u.imsi)
            .bind(u.allowed)
            .bind(&u.networks)
            .bind(&u.account_sid)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE registry_sims SET date_updated = $2, last_position = $3, version = $4 WHERE sim_sid = $1",
            )
            .bind(&u.sim_sid)
            .bind(at)
            .bind(pos)
            .bind(e.stream_version)
            .execute(&mut *tx)
            .await?;
        }
        Event::FleetCreated(f) => insert_fleet(tx, f, e).await?,
        Event::FleetUpdated(f) => update_fleet(tx, f, e).await?,
        Event::NapCreated(n) => {
            sqlx::query(
                "INSERT INTO registry_naps (nap_sid, account_sid, unique_name, date_created, date_updated, \
                 version, last_position) VALUES ($1, $2, $3, $4, $4, $5, $6)",
            )
            .bind(&n.nap_sid)
            .bind(&n.account_sid)
            .bind(&n.unique_name)
            .bind(at)
            .bind(e.stream_version)
            .bind(pos)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO registry_nap_networks (nap_sid, network_sid) SELECT $1, unnest($2::text[]) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(&n.nap_sid)
            .bind(&n.networks)
            .execute(&mut *tx)
            .await?;
        }
        Event::NapUpdated(n) => {
            sqlx::query(
                "UPDATE registry_naps SET unique_name = CASE WHEN $2 THEN $3 ELSE unique_name END WHERE nap_sid = $1",
            )
            .bind(&n.nap_sid)
            .bind(n.unique_name.is_some())
            .bind(n.unique_name.clone().flatten())
            .execute(&mut *tx)
            .await?;
            touch_nap(tx, &n.nap_sid, e).await?;
        }
        Event::NapNetworkAdded(n) => {
            sqlx::query(
                "INSERT INTO registry_nap_networks (nap_sid, network_sid) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(&n.nap_sid)
            .bind(&n.network_sid)
            .execute(&mut *tx)
            .await?;
            touch_nap(tx, &n.nap_sid, e).await?;
        }
        Event::NapNetworkRemoved(n) => {
            sqlx::query("DELETE FROM registry_nap_networks WHERE nap_sid = $1 AND network_sid = $2")
                .bind(&n.nap_sid)
                .bind(&n.network_sid)
                .execute(&mut *tx)
                .await?;
            touch_nap(tx, &n.nap_sid, e).await?;
        }
        _ => {}
    }
    Ok(())
}

async fn touch_nap(tx: &mut PgConnection, nap_sid: &str, e: &RecordedEvent) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE registry_naps SET date_updated = $2, last_position = $3, version = $4 WHERE nap_sid = $1")
        .bind(nap_sid)
        .bind(e.recorded_at)
        .bind(e.position)
        .bind(e.stream_version)
        .execute(tx)
        .await?;
    Ok(())
}

async fn update_sim(tx: &mut PgConnection, u: &SimUpdated, e: &RecordedEvent) -> Result<(), sqlx::Error> {
    // Each patch field is (changed?, new value); unchanged columns keep their value.
    sqlx::query(
        "UPDATE registry_sims SET \
           unique_name = CASE WHEN $2 THEN $3 ELSE unique_name END, \
           fleet_sid = CASE WHEN $4 THEN $5 ELSE fleet_sid END, \
           callback_url = CASE WHEN $6 THEN $7 ELSE callback_url END, \
           callback_method = CASE WHEN $8 THEN $9 ELSE callback_method END, \
           date_updated = $10, last_position = $11, version = $12 \
         WHERE sim_sid = $1",
    )
    .bind(&u.sim_sid)
    .bind(u.unique_name.is_some())
    .bind(u.unique_name.clone().flatten())
    .bind(u.fleet_sid.is_some())
    .bind(u.fleet_sid.clone().flatten())
    .bind(u.callback_url.is_some())
    .bind(u.callback_url.clone().flatten())
    .bind(u.callback_method.is_some())
    .bind(u.callback_method.clone().flatten())
    .bind(e.recorded_at)
    .bind(e.position)
    .bind(e.stream_version)
    .execute(&mut *tx)
    .await?;
    if let Some(disallowed) = &u.disallowed_imsis {
        sqlx::query("UPDATE registry_sim_imsis SET allowed = NOT (imsi = ANY($2)) WHERE sim_sid = $1")
            .bind(&u.sim_sid)
            .bind(disallowed)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

async fn insert_fleet(tx: &mut PgConnection, f: &FleetCreated, e: &RecordedEvent) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO registry_fleets (fleet_sid, account_sid, unique_name, data_enabled, data_limit_mb, \
         data_metering, network_access_profile_sid, sms_commands_enabled, sms_commands_url, sms_commands_method, \
         ip_commands_url, ip_commands_method, date_created, date_updated, last_position, version) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $14, $15)",
    )
    .bind(&f.fleet_sid)
    .bind(&f.account_sid)
    .bind(&f.unique_name)
    .bind(f.data_enabled)
    .bind(f.data_limit_mb)
    .bind(&f.data_metering)
    .bind(&f.network_access_profile_sid)
    .bind(f.sms_commands_enabled)
    .bind(&f.sms_commands_url)
    .bind(&f.sms_commands_method)
    .bind(&f.ip_commands_url)
    .bind(&f.ip_commands_method)
    .bind(e.recorded_at)
    .bind(e.position)
    .bind(e.stream_version)
    .execute(tx)
    .await?;
    Ok(())
}

async fn update_fleet(tx: &mut PgConnection, f: &FleetUpdated, e: &RecordedEvent) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE registry_fleets SET \
           unique_name = CASE WHEN $2 THEN $3 ELSE unique_name END, \
           data_enabled = coalesce($4, data_enabled), \
           data_limit_mb = coalesce($5, data_limit_mb), \
           network_access_profile_sid = coalesce($6, network_access_profile_sid), \
           sms_commands_enabled = coalesce($7, sms_commands_enabled), \
           sms_commands_url = CASE WHEN $8 THEN $9 ELSE sms_commands_url END, \
           sms_commands_method = CASE WHEN $10 THEN $11 ELSE sms_commands_method END, \
           ip_commands_url = CASE WHEN $12 THEN $13 ELSE ip_commands_url END, \
           ip_commands_method = CASE WHEN $14 THEN $15 ELSE ip_commands_method END, \
           date_updated = $16, last_position = $17, version = $18 \
         WHERE fleet_sid = $1",
    )
    .bind(&f.fleet_sid)
    .bind(f.unique_name.is_some())
    .bind(f.unique_name.clone().flatten())
    .bind(f.data_enabled)
    .bind(f.data_limit_mb)
    .bind(&f.network_access_profile_sid)
    .bind(f.sms_commands_enabled)
    .bind(f.sms_commands_url.is_some())
    .bind(f.sms_commands_url.clone().flatten())
    .bind(f.sms_commands_method.is_some())
    .bind(f.sms_commands_method.clone().flatten())
    .bind(f.ip_commands_url.is_some())
    .bind(f.ip_commands_url.clone().flatten())
    .bind(f.ip_commands_method.is_some())
    .bind(f.ip_commands_method.clone().flatten())
    .bind(e.recorded_at)
    .bind(e.position)
    .bind(e.stream_version)
    .execute(tx)
    .await?;
    Ok(())
}

/// Writes `n` registered, active SIMs of one account straight into the registry tables, as the
/// projection would write them from their events. Only for load tests (`simledger bench api`):
/// a million SIMs through the log would take the benchmark's whole budget to set up.
pub async fn bulk_load_sims(pool: &sqlx::PgPool, account_sid: &str, n: i64) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO registry_sims (sim_sid, iccid, account_sid, status, date_created, date_updated, version, \
         last_position) \
         SELECT 'HS' || md5('bench-sim-' || i), (8988307000000000000 + i)::text, $1, 'active', now(), now(), 1, 0 \
         FROM generate_series(1, $2) AS i",
    )
    .bind(account_sid)
    .bind(n)
    .execute(pool)
    .await?;
    sqlx::query("ANALYZE registry_sims").execute(pool).await?;
    Ok(())
}
