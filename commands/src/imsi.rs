//! Per-IMSI control, beyond Twilio's API: allow or disallow one IMSI of a multi-IMSI SIM, and
//! keep an IMSI to networks of its own within its fleet's Network Access Profile. The HSS
//! applies each change at the IMSI's next attach.
//!
//! A customer acts on the SIMs of their account; the operator on any SIM, inventory included.

use simledger_eventlog::catalog::SimImsiUpdated;
use simledger_eventlog::{networks, Event, ExpectedVersion, Metadata};
use simledger_ids::{shown, Imsi, Sim};

use crate::{metadata, stored_sid, CommandError, CommandId, Commands, Result};

/// The most networks one IMSI may be kept to: a bound on what one caller can make the HSS hold.
pub const MAX_IMSI_NETWORKS: usize = 100;

/// Who acts: a customer, within their account, or the operator.
#[derive(Debug, Clone, Copy)]
pub enum Actor<'a> {
    Customer(&'a str),
    Operator,
}

/// What to change of one IMSI.
#[derive(Debug, Clone)]
pub enum ImsiChange {
    Allow(bool),
    AddNetwork(String),
    RemoveNetwork(String),
}

/// An IMSI's state after a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImsiState {
    pub sim_sid: String,
    pub imsi: String,
    pub allowed: bool,
    pub networks: Vec<String>,
}

#[derive(sqlx::FromRow)]
struct ImsiRow {
    sim_sid: String,
    account_sid: Option<String>,
    version: i32,
    allowed: bool,
    networks: Vec<String>,
}

/// The IMSI's state after `change`, or why it cannot be made. Pure: the rule apart from storage.
pub fn apply(allowed: bool, networks: &[String], change: &ImsiChange) -> Result<(bool, Vec<String>)> {
    let mut networks = networks.to_vec();
    match change {
        ImsiChange::Allow(a) => return Ok((*a, networks)),
        ImsiChange::AddNetwork(n) => {
            if networks::catalog().by_sid(n).is_none() {
                return Err(CommandError::invalid("Network", format!("{} is not a Network", shown(n))));
            }
            if !networks.contains(n) {
                if networks.len() >= MAX_IMSI_NETWORKS {
                    return Err(CommandError::invalid(
                        "Network",
                        format!("an IMSI may be kept to at most {MAX_IMSI_NETWORKS} networks"),
                    ));
                }
                networks.push(n.clone());
                networks.sort();
            }
        }
        ImsiChange::RemoveNetwork(n) => networks.retain(|x| x != n),
    }
    Ok((allowed, networks))
}

impl Commands {
    /// Changes one IMSI of a SIM (by SID, or for a customer also by unique name).
    pub async fn update_imsi(
        &self,
        cmd: CommandId,
        actor: Actor<'_>,
        sim: &str,
        imsi: &str,
        change: ImsiChange,
    ) -> Result<ImsiState> {
        let key = match actor {
            Actor::Customer(account) => format!("sim/{account}/{sim}"),
            Actor::Operator => format!("sim/operator/{sim}"),
        };
        self.deciding_again(&key, || self.update_imsi_once(cmd, actor, sim, imsi, change.clone())).await
    }

    async fn update_imsi_once(
        &self,
        cmd: CommandId,
        actor: Actor<'_>,
        sim: &str,
        imsi: &str,
        change: ImsiChange,
    ) -> Result<ImsiState> {
        if let Some(done) = self.earlier_run(&cmd).await? {
            if let Event::SimImsiUpdated(u) = done.event {
                return Ok(ImsiState {
                    sim_sid: u.sim_sid.into(),
                    imsi: u.imsi.into(),
                    allowed: u.allowed,
                    networks: u.networks,
                });
            }
        }
        let not_found = || CommandError::NotFound { what: "Imsi", id: format!("{}/{}", shown(sim), shown(imsi)) };
        let imsi = Imsi::parse(imsi).map_err(|_| not_found())?;
        // A customer finds the SIM by SID or unique name within their account; the operator by
        // SID anywhere, inventory included.
        let account = match actor {
            Actor::Customer(account) => Some(account),
            Actor::Operator => None,
        };
        let row: ImsiRow = sqlx::query_as(
            "SELECT s.sim_sid, s.account_sid, s.version, i.allowed, i.networks \
             FROM registry_sims s JOIN registry_sim_imsis i ON i.sim_sid = s.sim_sid \
             WHERE i.imsi = $3 AND CASE WHEN $1::text IS NULL THEN s.sim_sid = $2 \
             ELSE s.account_sid = $1 AND (s.sim_sid = $2 OR s.unique_name = $2) END",
        )
        .bind(account)
        .bind(sim)
        .bind(&imsi)
        .fetch_optional(self.log.pool())
        .await?
        .ok_or_else(not_found)?;
        let (allowed, networks) = apply(row.allowed, &row.networks, &change)?;
        let state = ImsiState { sim_sid: row.sim_sid.clone(), imsi: imsi.to_string(), allowed, networks };
        if allowed == row.allowed && state.networks == row.networks {
            return Ok(state);
        }
        let sim_sid = stored_sid::<Sim>(&row.sim_sid)?;
        let event = Event::SimImsiUpdated(SimImsiUpdated {
            sim_sid: sim_sid.clone(),
            account_sid: row.account_sid.clone(),
            imsi,
            allowed,
            networks: state.networks.clone(),
        });
        let meta = match actor {
            Actor::Customer(account) => metadata(&cmd, Some(account)),
            Actor::Operator => {
                let mut meta = Metadata::from_source("operator");
                meta.correlation_id = Some(cmd.as_uuid());
                meta
            }
        };
        self.commit(&cmd, format!("sim-{sim_sid}"), ExpectedVersion::Exact(row.version), vec![event], meta).await?;
        Ok(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use simledger_eventlog::networks::network_sid;

    #[test]
    fn given_an_imsi_when_a_network_is_added_twice_then_it_is_kept_to_it_once() {
        let uk = network_sid("234", "15");
        let (_, once) = apply(true, &[], &ImsiChange::AddNetwork(uk.clone())).unwrap();
        let (_, twice) = apply(true, &once, &ImsiChange::AddNetwork(uk.clone())).unwrap();
        assert_eq!(twice, vec![uk]);
    }

    #[test]
    fn given_an_imsi_when_its_last_network_is_removed_then_the_profile_alone_decides_again() {
        let uk = network_sid("234", "15");
        let (allowed, networks) =
            apply(true, std::slice::from_ref(&uk), &ImsiChange::RemoveNetwork(uk.clone())).unwrap();
        assert!(allowed && networks.is_empty());
    }

    #[test]
    fn given_a_network_that_is_not_one_then_nothing_changes() {
        let refused = apply(true, &[], &ImsiChange::AddNetwork("HW".repeat(500)));
        let Err(CommandError::InvalidParameter { param: "Network", message }) = refused else { panic!("{refused:?}") };
        assert!(message.len() < 100, "the input is echoed bounded: {message}");
    }

    #[test]
    fn given_an_imsi_at_its_bound_when_another_network_is_added_then_it_is_refused() {
        let all: Vec<String> = networks::catalog().all().iter().map(|n| n.sid.clone()).collect();
        assert!(all.len() > MAX_IMSI_NETWORKS, "the catalogue has more networks than the bound");
        let full = all[..MAX_IMSI_NETWORKS].to_vec();
        assert!(apply(true, &full, &ImsiChange::AddNetwork(all[MAX_IMSI_NETWORKS].clone())).is_err());
        assert!(apply(true, &full, &ImsiChange::AddNetwork(all[0].clone())).is_ok(), "one it holds already");
    }

    #[test]
    fn allowing_keeps_the_networks() {
        let uk = network_sid("234", "15");
        assert_eq!(apply(true, std::slice::from_ref(&uk), &ImsiChange::Allow(false)).unwrap(), (false, vec![uk]));
    }
}
