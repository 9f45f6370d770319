//! Fleets: groups of SIMs sharing a Network Access Profile and a data limit.

use simledger_eventlog::catalog::{FleetCreated, FleetUpdated};
use simledger_eventlog::{Event, ExpectedVersion};

use crate::{metadata, stored_sid, CommandError, CommandId, Commands, Result, FLEET, NAP};
use simledger_ids::{Fleet, FleetSid};

/// Twilio's bounds and default for `DataLimit`, in megabytes (the bounds shared with billing's
/// `*set_fleet_data_limit`).
pub const DATA_LIMIT_MB: std::ops::RangeInclusive<i64> = simledger_billing::action::FLEET_DATA_LIMIT_MB;
pub const DEFAULT_DATA_LIMIT_MB: i64 = 250;

#[derive(Debug, Clone)]
pub struct NewFleet {
    /// SID or unique name.
    pub network_access_profile: String,
    pub unique_name: Option<String>,
    pub data_enabled: bool,
    pub data_limit_mb: i64,
    pub sms_commands_enabled: bool,
    pub sms_commands_url: Option<String>,
    pub sms_commands_method: Option<String>,
    pub ip_commands_url: Option<String>,
    pub ip_commands_method: Option<String>,
}

impl NewFleet {
    pub fn with_nap(network_access_profile: impl Into<String>) -> Self {
        Self {
            network_access_profile: network_access_profile.into(),
            unique_name: None,
            data_enabled: true,
            data_limit_mb: DEFAULT_DATA_LIMIT_MB,
            sms_commands_enabled: true,
            sms_commands_url: None,
            sms_commands_method: None,
            ip_commands_url: None,
            ip_commands_method: None,
        }
    }
}

/// Fields to change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct FleetChanges {
    pub unique_name: Option<Option<String>>,
    pub network_access_profile: Option<String>,
    pub data_enabled: Option<bool>,
    pub data_limit_mb: Option<i64>,
    pub sms_commands_enabled: Option<bool>,
    pub sms_commands_url: Option<Option<String>>,
    pub sms_commands_method: Option<Option<String>>,
    pub ip_commands_url: Option<Option<String>>,
    pub ip_commands_method: Option<Option<String>>,
}

fn check_limit(mb: i64) -> Result<()> {
    if DATA_LIMIT_MB.contains(&mb) {
        Ok(())
    } else {
        Err(CommandError::invalid("DataLimit", format!("must be between 1 and 2000000 MB, got {mb}")))
    }
}

impl Commands {
    /// Creates a fleet. Returns its `HF` SID.
    pub async fn create_fleet(&self, cmd: CommandId, account_sid: &str, fleet: NewFleet) -> Result<String> {
        if let Some(done) = self.earlier_run(&cmd).await? {
            if let Event::FleetCreated(f) = done.event {
                return Ok(f.fleet_sid.into());
            }
        }
        check_limit(fleet.data_limit_mb)?;
        self.check_url("SmsCommandsUrl", fleet.sms_commands_url.as_deref()).await?;
        self.check_url("IpCommandsUrl", fleet.ip_commands_url.as_deref()).await?;
        let (nap_sid, _) = self.lookup(&NAP, account_sid, &fleet.network_access_profile).await?;
        if let Some(name) = &fleet.unique_name {
            self.ensure_name_free(&FLEET, account_sid, name, "").await?;
        }
        let fleet_sid: FleetSid = cmd.typed_sid();
        let event = Event::FleetCreated(FleetCreated {
            fleet_sid: fleet_sid.clone(),
            account_sid: account_sid.to_owned(),
            unique_name: fleet.unique_name,
            data_enabled: fleet.data_enabled,
            data_limit_mb: fleet.data_limit_mb,
            data_metering: "payg".into(),
            network_access_profile_sid: nap_sid,
            sms_commands_enabled: fleet.sms_commands_enabled,
            sms_commands_url: fleet.sms_commands_url,
            sms_commands_method: fleet.sms_commands_method,
            ip_commands_url: fleet.ip_commands_url,
            ip_commands_method: fleet.ip_commands_method,
        });
        self.commit(
            &cmd,
            format!("fleet-{fleet_sid}"),
            ExpectedVersion::NoStream,
            vec![event],
            metadata(&cmd, Some(account_sid)),
        )
        .await?;
        Ok(fleet_sid.into())
    }

    /// Changes a fleet (by SID or unique name). Returns its SID.
    pub async fn update_fleet(
        &self,
        cmd: CommandId,
        account_sid: &str,
        fleet: &str,
        changes: FleetChanges,
    ) -> Result<String> {
        self.deciding_again(&format!("fleet/{account_sid}/{fleet}"), || {
            self.update_fleet_once(cmd, account_sid, fleet, changes.clone())
        })
        .await
    }

    async fn update_fleet_once(
        &self,
        cmd: CommandId,
        account_sid: &str,
        fleet: &str,
        changes: FleetChanges,
    ) -> Result<String> {
        if let Some(done) = self.earlier_run(&cmd).await? {
            if let Event::FleetUpdated(f) = done.event {
                return Ok(f.fleet_sid.into());
            }
        }
        let (fleet_sid, version) = self.lookup(&FLEET, account_sid, fleet).await?;
        let fleet_sid = stored_sid::<Fleet>(&fleet_sid)?;
        if let Some(mb) = changes.data_limit_mb {
            check_limit(mb)?;
        }
        self.check_url("SmsCommandsUrl", changes.sms_commands_url.clone().flatten().as_deref()).await?;
        self.check_url("IpCommandsUrl", changes.ip_commands_url.clone().flatten().as_deref()).await?;
        let nap_sid = match &changes.network_access_profile {
            Some(nap) => Some(self.lookup(&NAP, account_sid, nap).await?.0),
            None => None,
        };
        if let Some(Some(name)) = &changes.unique_name {
            self.ensure_name_free(&FLEET, account_sid, name, &fleet_sid).await?;
        }
        let event = Event::FleetUpdated(FleetUpdated {
            fleet_sid: fleet_sid.clone(),
            account_sid: account_sid.to_owned(),
            unique_name: changes.unique_name,
            data_enabled: changes.data_enabled,
            data_limit_mb: changes.data_limit_mb,
            network_access_profile_sid: nap_sid,
            sms_commands_enabled: changes.sms_commands_enabled,
            sms_commands_url: changes.sms_commands_url,
            sms_commands_method: changes.sms_commands_method,
            ip_commands_url: changes.ip_commands_url,
            ip_commands_method: changes.ip_commands_method,
        });
        self.commit(
            &cmd,
            format!("fleet-{fleet_sid}"),
            ExpectedVersion::Exact(version),
            vec![event],
            metadata(&cmd, Some(account_sid)),
        )
        .await?;
        Ok(fleet_sid.into())
    }
}
