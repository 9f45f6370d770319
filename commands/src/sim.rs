//! SIMs: operator inventory, customer registration, and updates with Twilio's status rules.

use simledger_eventlog::catalog::{SimProvisioned, SimRegistered, SimStatus, SimStatusChanged, SimUpdated};
use simledger_eventlog::{Event, ExpectedVersion, Metadata};
use simledger_ids::{FleetSid, Iccid, Imsi, SimSid};

use crate::ids::{registration_code_hash, registration_code_matches};
use crate::{metadata, stored_sid, CommandError, CommandId, Commands, Result, FLEET, SIM};

/// Fields to change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct SimChanges {
    pub unique_name: Option<Option<String>>,
    pub status: Option<SimStatus>,
    /// SID or unique name.
    pub fleet: Option<String>,
    pub callback_url: Option<Option<String>>,
    pub callback_method: Option<Option<String>>,
    /// IMSIs of the SIM the HSS must refuse (multi-IMSI control); replaces the previous set.
    pub disallowed_imsis: Option<Vec<String>>,
}

/// Twilio's status rules: new → ready/active; ready → active/inactive; active ↔ inactive;
/// never back to new. Staying in the same status is not a transition.
pub fn transition_allowed(from: SimStatus, to: SimStatus) -> bool {
    use SimStatus::*;
    from == to
        || matches!(
            (from, to),
            (New, Ready | Active) | (Ready, Active | Inactive) | (Active, Inactive) | (Inactive, Active)
        )
}

fn digits(s: &str, len: std::ops::RangeInclusive<usize>) -> bool {
    len.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

#[derive(sqlx::FromRow)]
struct SimRow {
    sim_sid: SimSid,
    account_sid: Option<String>,
    status: String,
    fleet_sid: Option<FleetSid>,
    registration_code_hash: Option<String>,
    version: i32,
}

fn parse_status(s: &str) -> SimStatus {
    match s {
        "ready" => SimStatus::Ready,
        "active" => SimStatus::Active,
        "inactive" => SimStatus::Inactive,
        "scheduled" => SimStatus::Scheduled,
        _ => SimStatus::New,
    }
}

impl Commands {
    /// Enters a SIM card into inventory (operator, not a Twilio endpoint). Returns its `HS` SID.
    pub async fn provision_sim(
        &self,
        cmd: CommandId,
        iccid: &str,
        registration_code: &str,
        imsis: Vec<String>,
    ) -> Result<String> {
        if let Some(done) = self.earlier_run(&cmd).await? {
            if let Event::SimProvisioned(p) = done.event {
                return Ok(p.sim_sid.into());
            }
        }
        let iccid = Iccid::parse(iccid).map_err(|_| CommandError::invalid("Iccid", "an ICCID is 18 to 22 digits"))?;
        if !digits(registration_code, 10..=10) {
            return Err(CommandError::invalid("RegistrationCode", "a registration code is 10 digits"));
        }
        if imsis.is_empty() || imsis.iter().any(|i| !Imsi::is_valid(i)) {
            return Err(CommandError::invalid("Imsis", "one or more IMSIs of 6 to 15 digits"));
        }
        let taken: Option<String> = sqlx::query_scalar(
            "SELECT iccid FROM registry_sims WHERE iccid = $1 \
             UNION ALL SELECT imsi FROM registry_sim_imsis WHERE imsi = ANY($2) LIMIT 1",
        )
        .bind(&iccid)
        .bind(&imsis)
        .fetch_optional(self.log.pool())
        .await?;
        if let Some(taken) = taken {
            return Err(CommandError::Conflict(format!("{taken} is already provisioned")));
        }
        let sim_sid: SimSid = cmd.typed_sid();
        let event = Event::SimProvisioned(SimProvisioned {
            sim_sid: sim_sid.clone(),
            iccid: iccid.into(),
            registration_code_hash: registration_code_hash(&self.code_pepper, registration_code),
            imsis,
        });
        let mut meta = Metadata::from_source("operator");
        meta.correlation_id = Some(cmd.as_uuid());
        self.commit(&cmd, format!("sim-{sim_sid}"), ExpectedVersion::NoStream, vec![event], meta).await?;
        Ok(sim_sid.into())
    }

    /// Registers a provisioned SIM to an account (Twilio `POST /v1/Sims`). Returns its SID.
    pub async fn register_sim(
        &self,
        cmd: CommandId,
        account_sid: &str,
        iccid: &str,
        registration_code: &str,
    ) -> Result<String> {
        if let Some(done) = self.earlier_run(&cmd).await? {
            if let Event::SimRegistered(r) = done.event {
                return Ok(r.sim_sid.into());
            }
        }
        let row: Option<SimRow> = sqlx::query_as(
            "SELECT sim_sid, account_sid, status, fleet_sid, registration_code_hash, version \
             FROM registry_sims WHERE iccid = $1",
        )
        .bind(iccid)
        .fetch_optional(self.log.pool())
        .await?;
        let not_registrable =
            || CommandError::rule(83002, "The ICCID and Registration Code do not belong to a registrable Super SIM");
        let row = row.ok_or_else(not_registrable)?;
        let matches = row
            .registration_code_hash
            .as_deref()
            .is_some_and(|stored| registration_code_matches(&self.code_pepper, stored, registration_code));
        if !matches {
            return Err(not_registrable());
        }
        match row.account_sid.as_deref() {
            Some(owner) if owner == account_sid => {
                return Err(CommandError::rule(
                    83003,
                    format!("The Super SIM already belongs to this Account: {}", row.sim_sid),
                ))
            }
            Some(_) => return Err(not_registrable()),
            None => {}
        }
        let event = Event::SimRegistered(SimRegistered {
            sim_sid: row.sim_sid.clone(),
            account_sid: account_sid.to_owned(),
            iccid: iccid.to_owned(),
            status: SimStatus::New,
            fleet_sid: None,
            unique_name: None,
        });
        self.commit(
            &cmd,
            format!("sim-{}", row.sim_sid),
            ExpectedVersion::Exact(row.version),
            vec![event],
            metadata(&cmd, Some(account_sid)),
        )
        .await?;
        Ok(row.sim_sid.into())
    }

    /// Updates a SIM (by SID or unique name) under Twilio's rules. Returns its SID.
    pub async fn update_sim(
        &self,
        cmd: CommandId,
        account_sid: &str,
        sim: &str,
        changes: SimChanges,
    ) -> Result<String> {
        self.deciding_again(&format!("sim/{account_sid}/{sim}"), || {
            self.update_sim_once(cmd, account_sid, sim, changes.clone())
        })
        .await
    }

    async fn update_sim_once(
        &self,
        cmd: CommandId,
        account_sid: &str,
        sim: &str,
        changes: SimChanges,
    ) -> Result<String> {
        if let Some(done) = self.earlier_run(&cmd).await? {
            match done.event {
                Event::SimUpdated(u) => return Ok(u.sim_sid.into()),
                Event::SimStatusChanged(s) => return Ok(s.sim_sid.into()),
                _ => {}
            }
        }
        let row: SimRow = sqlx::query_as(
            "SELECT sim_sid, account_sid, status, fleet_sid, registration_code_hash, version \
             FROM registry_sims WHERE account_sid = $1 AND (sim_sid = $2 OR unique_name = $2)",
        )
        .bind(account_sid)
        .bind(sim)
        .fetch_optional(self.log.pool())
        .await?
        .ok_or_else(|| CommandError::NotFound { what: "Sim", id: sim.to_owned() })?;
        self.check_url("CallbackUrl", changes.callback_url.clone().flatten().as_deref()).await?;
        let fleet_sid = match &changes.fleet {
            Some(f) => Some(
                self.lookup(&FLEET, account_sid, f)
                    .await
                    .map_err(|_| CommandError::rule(83006, format!("The Fleet {f} was not found")))
                    .and_then(|(sid, _)| stored_sid::<simledger_ids::Fleet>(&sid))?,
            ),
            None => None,
        };
        if let Some(Some(name)) = &changes.unique_name {
            self.ensure_name_free(&SIM, account_sid, name, &row.sim_sid).await?;
        }
        if let Some(imsis) = &changes.disallowed_imsis {
            let owned: i64 =
                sqlx::query_scalar("SELECT count(*) FROM registry_sim_imsis WHERE sim_sid = $1 AND imsi = ANY($2)")
                    .bind(&row.sim_sid)
                    .bind(imsis)
                    .fetch_one(self.log.pool())
                    .await?;
            if owned as usize != imsis.len() {
                return Err(CommandError::invalid("DisallowedImsis", "every IMSI must belong to this SIM"));
            }
        }
        let from = parse_status(&row.status);
        let mut events = Vec::new();
        let update = SimUpdated {
            sim_sid: row.sim_sid.clone(),
            account_sid: account_sid.to_owned(),
            unique_name: changes.unique_name,
            fleet_sid: fleet_sid.clone().map(Some),
            callback_url: changes.callback_url,
            callback_method: changes.callback_method,
            disallowed_imsis: changes.disallowed_imsis,
        };
        if update.unique_name.is_some()
            || update.fleet_sid.is_some()
            || update.callback_url.is_some()
            || update.callback_method.is_some()
            || update.disallowed_imsis.is_some()
        {
            events.push(Event::SimUpdated(update));
        }
        if let Some(to) = changes.status {
            if !matches!(to, SimStatus::Ready | SimStatus::Active | SimStatus::Inactive) {
                return Err(CommandError::invalid("Status", "must be one of ready, active, inactive"));
            }
            if !transition_allowed(from, to) {
                return Err(CommandError::rule(
                    83010,
                    format!("The Super SIM status cannot be changed from {} to {}", from.as_str(), to.as_str()),
                ));
            }
            if to == SimStatus::Active && fleet_sid.is_none() && row.fleet_sid.is_none() {
                return Err(CommandError::rule(
                    83007,
                    "Unable to activate the Super SIM as it does not belong to a Fleet",
                ));
            }
            if to != from {
                events.push(Event::SimStatusChanged(SimStatusChanged {
                    sim_sid: row.sim_sid.clone(),
                    account_sid: account_sid.to_owned(),
                    from,
                    to,
                    reason: None,
                }));
            }
        }
        if events.is_empty() {
            return Ok(row.sim_sid.into());
        }
        self.commit(
            &cmd,
            format!("sim-{}", row.sim_sid),
            ExpectedVersion::Exact(row.version),
            events,
            metadata(&cmd, Some(account_sid)),
        )
        .await?;
        Ok(row.sim_sid.into())
    }
}

#[cfg(test)]
mod tests {
    use super::transition_allowed;
    use simledger_eventlog::catalog::SimStatus::*;

    #[test]
    fn status_transitions_follow_twilio() {
        for (from, to) in
            [(New, Ready), (New, Active), (Ready, Active), (Ready, Inactive), (Active, Inactive), (Inactive, Active)]
        {
            assert!(transition_allowed(from, to), "{from:?} -> {to:?}");
        }
        for (from, to) in
            [(Ready, New), (Active, New), (Inactive, New), (Active, Ready), (Inactive, Ready), (New, Inactive)]
        {
            assert!(!transition_allowed(from, to), "{from:?} -> {to:?}");
        }
    }
}
