//! Network Access Profiles and their allowed networks.

use simledger_eventlog::catalog::{NapCreated, NapNetworkChange, NapUpdated};
use simledger_eventlog::networks;
use simledger_eventlog::{Event, ExpectedVersion};

use crate::{metadata, CommandError, CommandId, Commands, Result, NAP};

impl Commands {
    /// Creates a NAP allowing `networks` (`HW` SIDs from the catalogue). Returns its `HA` SID.
    pub async fn create_nap(
        &self,
        cmd: CommandId,
        account_sid: &str,
        unique_name: Option<String>,
        networks: Vec<String>,
    ) -> Result<String> {
        if let Some(done) = self.earlier_run(&cmd).await? {
            if let Event::NapCreated(n) = done.event {
                return Ok(n.nap_sid);
            }
        }
        for sid in &networks {
            if networks::catalog().by_sid(sid).is_none() {
                return Err(CommandError::invalid("Networks", format!("{sid} is not a Network")));
            }
        }
        if let Some(name) = &unique_name {
            self.ensure_name_free(&NAP, account_sid, name, "").await?;
        }
        let nap_sid = cmd.sid("HA");
        let mut networks = networks;
        networks.sort();
        networks.dedup();
        let event = Event::NapCreated(NapCreated {
            nap_sid: nap_sid.clone(),
            account_sid: account_sid.to_owned(),
            unique_name,
            networks,
        });
        self.commit(
            &cmd,
            format!("nap-{nap_sid}"),
            ExpectedVersion::NoStream,
            vec![event],
            metadata(&cmd, Some(account_sid)),
        )
        .await?;
        Ok(nap_sid)
    }

    /// Renames a NAP (by SID or unique name). Returns its SID.
    pub async fn update_nap(
        &self,
        cmd: CommandId,
        account_sid: &str,
        nap: &str,
        unique_name: Option<Option<String>>,
    ) -> Result<String> {
        self.deciding_again(&format!("nap/{account_sid}/{nap}"), || {
            self.update_nap_once(cmd, account_sid, nap, unique_name.clone())
        })
        .await
    }

    async fn update_nap_once(
        &self,
        cmd: CommandId,
        account_sid: &str,
        nap: &str,
        unique_name: Option<Option<String>>,
    ) -> Result<String> {
        if let Some(done) = self.earlier_run(&cmd).await? {
            if let Event::NapUpdated(n) = done.event {
                return Ok(n.nap_sid);
            }
        }
        let (nap_sid, version) = self.lookup(&NAP, account_sid, nap).await?;
        if let Some(Some(name)) = &unique_name {
            self.ensure_name_free(&NAP, account_sid, name, &nap_sid).await?;
        }
        if unique_name.is_none() {
            return Ok(nap_sid);
        }
        let event = Event::NapUpdated(NapUpdated {
            nap_sid: nap_sid.clone(),
            account_sid: account_sid.to_owned(),
            unique_name,
        });
        self.commit(
            &cmd,
            format!("nap-{nap_sid}"),
            ExpectedVersion::Exact(version),
            vec![event],
            metadata(&cmd, Some(account_sid)),
        )
        .await?;
        Ok(nap_sid)
    }

    /// Allows one more network on a NAP.
    pub async fn add_nap_network(&self, cmd: CommandId, account_sid: &str, nap: &str, network_sid: &str) -> Result<()> {
        self.deciding_again(&format!("nap/{account_sid}/{nap}"), || {
            self.change_nap_network(cmd, account_sid, nap, network_sid, true)
        })
        .await
    }

    /// Stops allowing a network on a NAP.
    pub async fn remove_nap_network(
        &self,
        cmd: CommandId,
        account_sid: &str,
        nap: &str,
        network_sid: &str,
    ) -> Result<()> {
        self.deciding_again(&format!("nap/{account_sid}/{nap}"), || {
            self.change_nap_network(cmd, account_sid, nap, network_sid, false)
        })
        .await
    }

    async fn change_nap_network(
        &self,
        cmd: CommandId,
        account_sid: &str,
        nap: &str,
        network_sid: &str,
        add: bool,
    ) -> Result<()> {
        if self.earlier_run(&cmd).await?.is_some() {
            return Ok(());
        }
        let (nap_sid, version) = self.lookup(&NAP, account_sid, nap).await?;
        if networks::catalog().by_sid(network_sid).is_none() {
            return Err(CommandError::invalid("Network", format!("{network_sid} is not a Network")));
        }
        let allowed: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM registry_nap_networks WHERE nap_sid = $1 AND network_sid = $2)",
        )
        .bind(&nap_sid)
        .bind(network_sid)
        .fetch_one(self.log.pool())
        .await?;
        if add == allowed {
            return Ok(());
        }
        let change = NapNetworkChange {
            nap_sid: nap_sid.clone(),
            account_sid: account_sid.to_owned(),
            network_sid: network_sid.to_owned(),
        };
        let event = if add { Event::NapNetworkAdded(change) } else { Event::NapNetworkRemoved(change) };
        self.commit(
            &cmd,
            format!("nap-{nap_sid}"),
            ExpectedVersion::Exact(version),
            vec![event],
            metadata(&cmd, Some(account_sid)),
        )
        .await?;
        Ok(())
    }
}
