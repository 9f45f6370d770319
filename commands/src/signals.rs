//! A fleet's device-signal policy (`POST /v1/Fleets/{Sid}/DeviceSignals`, simledger's own): the
//! thresholds the device-signals decider applies to its SIMs and the billing action group a
//! signal runs.

use simledger_eventlog::catalog::FleetSignalPolicySet;
use simledger_eventlog::{Event, ExpectedVersion};

use crate::{metadata, stored_sid, CommandError, CommandId, Commands, Result, FLEET};
use simledger_ids::Fleet;

/// Bounds a customer may set: below them a fleet would signal on noise, above them never.
pub const USAGE_SPIKE_FACTOR: std::ops::RangeInclusive<i64> = 2..=1000;
pub const ATTACH_STORM_REJECTIONS: std::ops::RangeInclusive<i64> = 2..=10_000;

/// What a request changes; `None` keeps the current value (or the default).
#[derive(Debug, Clone, Default)]
pub struct SignalPolicyChanges {
    /// `Some(None)` unbinds the actions.
    pub actions_id: Option<Option<String>>,
    pub usage_spike_factor: Option<i64>,
    pub attach_storm_rejections: Option<i64>,
}

/// A fleet's policy as the registry shows it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SignalPolicy {
    pub fleet_sid: String,
    pub account_sid: String,
    pub actions_id: Option<String>,
    pub usage_spike_factor: i64,
    pub attach_storm_rejections: i64,
}

impl SignalPolicy {
    /// The policy of a fleet that never set one.
    pub fn default_for(fleet_sid: String, account_sid: String) -> Self {
        Self {
            fleet_sid,
            account_sid,
            actions_id: None,
            usage_spike_factor: FleetSignalPolicySet::DEFAULT_USAGE_SPIKE_FACTOR,
            attach_storm_rejections: FleetSignalPolicySet::DEFAULT_ATTACH_STORM_REJECTIONS,
        }
    }
}

fn check_actions_id(id: &str) -> Result<()> {
    let ok = (1..=64).contains(&id.len()) && id.chars().all(|c| c.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(CommandError::invalid("ActionsId", "an action group ID is 1 to 64 visible ASCII characters"))
    }
}

fn check_range(param: &'static str, value: Option<i64>, range: &std::ops::RangeInclusive<i64>) -> Result<()> {
    match value.filter(|v| !range.contains(v)) {
        Some(v) => {
            Err(CommandError::invalid(param, format!("must be between {} and {}, got {v}", range.start(), range.end())))
        }
        None => Ok(()),
    }
}

impl Commands {
    /// The fleet's policy (by SID or unique name), the defaults if it never set one.
    pub async fn signal_policy(&self, account_sid: &str, fleet: &str) -> Result<SignalPolicy> {
        let (fleet_sid, _) = self.lookup(&FLEET, account_sid, fleet).await?;
        let stored: Option<SignalPolicy> = sqlx::query_as(
            "SELECT fleet_sid, account_sid, actions_id, usage_spike_factor, attach_storm_rejections \
             FROM registry_fleet_signal_policies WHERE fleet_sid = $1 AND account_sid = $2",
        )
        .bind(&fleet_sid)
        .bind(account_sid)
        .fetch_optional(self.log.pool())
        .await?;
        Ok(stored.unwrap_or_else(|| SignalPolicy::default_for(fleet_sid, account_sid.to_owned())))
    }

    /// Sets the fleet's policy; returns it as it now stands.
    pub async fn set_signal_policy(
        &self,
        cmd: CommandId,
        account_sid: &str,
        fleet: &str,
        changes: SignalPolicyChanges,
    ) -> Result<SignalPolicy> {
        if let Some(done) = self.earlier_run(&cmd).await? {
            if let Event::FleetSignalPolicySet(p) = done.event {
                return self.signal_policy(account_sid, p.fleet_sid.as_str()).await;
            }
        }
        if let Some(Some(id)) = &changes.actions_id {
            check_actions_id(id)?;
        }
        check_range("UsageSpikeFactor", changes.usage_spike_factor, &USAGE_SPIKE_FACTOR)?;
        check_range("AttachStormRejections", changes.attach_storm_rejections, &ATTACH_STORM_REJECTIONS)?;
        let current = self.signal_policy(account_sid, fleet).await?;
        let event = FleetSignalPolicySet {
            fleet_sid: stored_sid::<Fleet>(&current.fleet_sid)?,
            account_sid: account_sid.to_owned(),
            actions_id: changes.actions_id.unwrap_or(current.actions_id),
            usage_spike_factor: changes.usage_spike_factor.unwrap_or(current.usage_spike_factor),
            attach_storm_rejections: changes.attach_storm_rejections.unwrap_or(current.attach_storm_rejections),
        };
        let set = SignalPolicy {
            fleet_sid: current.fleet_sid,
            account_sid: event.account_sid.clone(),
            actions_id: event.actions_id.clone(),
            usage_spike_factor: event.usage_spike_factor,
            attach_storm_rejections: event.attach_storm_rejections,
        };
        let stream = format!("fleet-signals-{}", set.fleet_sid);
        let events = vec![Event::FleetSignalPolicySet(event)];
        self.commit(&cmd, stream, ExpectedVersion::Any, events, metadata(&cmd, Some(account_sid))).await?;
        Ok(set)
    }
}
