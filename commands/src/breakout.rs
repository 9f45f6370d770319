//! A fleet's breakout region (`POST /v1/Fleets/{Sid}/Breakout`, simledger's own): the region
//! whose PGW its new data sessions use. Sessions already open stay where they are.

use simledger_eventlog::catalog::{BreakoutRegion, FleetBreakoutSet};
use simledger_eventlog::{Event, ExpectedVersion};
use simledger_ids::Fleet;

use crate::{metadata, stored_sid, CommandError, CommandId, Commands, Result, FLEET};

/// A fleet's breakout as the registry shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetBreakout {
    pub fleet_sid: String,
    pub account_sid: String,
    /// What the fleet set; `None`: the platform's default.
    pub region: Option<BreakoutRegion>,
    /// Where its new sessions break out.
    pub effective_region: BreakoutRegion,
    /// The regions the platform has a PGW in.
    pub regions: Vec<BreakoutRegion>,
}

impl Commands {
    /// The regions with a PGW, the first the default.
    pub fn breakout_regions(&self) -> &[BreakoutRegion] {
        &self.breakout_regions
    }

    fn fleet_breakout(&self, fleet_sid: String, account_sid: &str, region: Option<BreakoutRegion>) -> FleetBreakout {
        FleetBreakout {
            fleet_sid,
            account_sid: account_sid.to_owned(),
            region,
            effective_region: region.unwrap_or(self.breakout_regions[0]),
            regions: self.breakout_regions.to_vec(),
        }
    }

    /// The fleet's (by SID or unique name) breakout region.
    pub async fn breakout(&self, account_sid: &str, fleet: &str) -> Result<FleetBreakout> {
        let (fleet_sid, _) = self.lookup(&FLEET, account_sid, fleet).await?;
        let stored: Option<String> =
            sqlx::query_scalar("SELECT breakout_region FROM registry_fleets WHERE fleet_sid = $1 AND account_sid = $2")
                .bind(&fleet_sid)
                .bind(account_sid)
                .fetch_one(self.log.pool())
                .await?;
        // A region the table holds was parsed before it was logged; one that no longer parses
        // is damage, not input.
        let region = stored
            .map(|r| r.parse::<BreakoutRegion>().map_err(|e| CommandError::Database(sqlx::Error::Decode(e.into()))))
            .transpose()?;
        Ok(self.fleet_breakout(fleet_sid, account_sid, region))
    }

    /// Sets the fleet's breakout region (`None`: back to the default). Only a region with a PGW
    /// may be named: a fleet must never be left with no PGW to break out to.
    pub async fn set_breakout(
        &self,
        cmd: CommandId,
        account_sid: &str,
        fleet: &str,
        region: Option<BreakoutRegion>,
    ) -> Result<FleetBreakout> {
        if let Some(done) = self.earlier_run(&cmd).await? {
            if let Event::FleetBreakoutSet(b) = done.event {
                return self.breakout(account_sid, b.fleet_sid.as_str()).await;
            }
        }
        if let Some(r) = region.filter(|r| !self.breakout_regions.contains(r)) {
            let known: Vec<&str> = self.breakout_regions.iter().map(|r| r.as_str()).collect();
            return Err(CommandError::invalid(
                "Region",
                format!("this platform has no PGW in {r}; its regions are {}", known.join(", ")),
            ));
        }
        let (fleet_sid, _) = self.lookup(&FLEET, account_sid, fleet).await?;
        let event = FleetBreakoutSet {
            fleet_sid: stored_sid::<Fleet>(&fleet_sid)?,
            account_sid: account_sid.to_owned(),
            region,
        };
        let stream = format!("fleet-breakout-{fleet_sid}");
        let events = vec![Event::FleetBreakoutSet(event)];
        self.commit(&cmd, stream, ExpectedVersion::Any, events, metadata(&cmd, Some(account_sid))).await?;
        Ok(self.fleet_breakout(fleet_sid, account_sid, region))
    }
}
