//! ChargerS (`APIerSv1.SetChargerProfile` and friends): a tenant's charger profiles, which the
//! `cdrs` projection forks each of the tenant's CDRs by. Answered once `cdrs` shows the change.

use simledger_billing::chargers::{ChargerProfile, MAX_PROFILES};
use simledger_eventlog::catalog::{BillingChargerRemoved, BillingChargerSet};
use simledger_eventlog::Event;
use simledger_projections::cdrs;

use crate::{CommandError, Commands, Result};

impl Commands {
    /// Appends a charger event and answers once `cdrs`, which folds profiles, shows it.
    async fn chargers_commit(&self, tenant: &str, event: Event) -> Result<()> {
        let position = self.billing_append(tenant, vec![event]).await?;
        self.cdrs_visible(position).await
    }

    /// The tenant's charger profiles, by ID.
    pub async fn billing_chargers(&self, tenant: &str) -> Result<Vec<ChargerProfile>> {
        Ok(cdrs::read::chargers(self.log.pool(), tenant).await?)
    }

    pub async fn billing_charger(&self, tenant: &str, id: &str) -> Result<Option<ChargerProfile>> {
        Ok(cdrs::read::charger(self.log.pool(), tenant, id).await?)
    }

    /// Sets (or replaces) one of the tenant's charger profiles; the profile's own `Tenant` is
    /// the tenant's whatever it said.
    pub async fn billing_set_charger(&self, tenant: &str, mut profile: ChargerProfile) -> Result<()> {
        profile.tenant = tenant.to_owned();
        profile.validate().map_err(|e| CommandError::Refused(e.to_string()))?;
        let existing = self.billing_chargers(tenant).await?;
        // One run per RunID: a second profile of the same RunID would be a run that is never stored.
        if let Some(other) = existing.iter().find(|p| p.run_id == profile.run_id && p.id != profile.id) {
            return Err(CommandError::Refused(format!(
                "SERVER_ERROR: RunID {} is already charger profile {}'s",
                profile.run_id, other.id
            )));
        }
        if existing.len() >= MAX_PROFILES && !existing.iter().any(|p| p.id == profile.id) {
            return Err(CommandError::Refused(format!(
                "SERVER_ERROR: a tenant keeps at most {MAX_PROFILES} charger profiles (each CDR forks into at most that many runs)"
            )));
        }
        let event = Event::BillingChargerSet(BillingChargerSet { tenant: tenant.to_owned(), profile });
        self.chargers_commit(tenant, event).await
    }

    /// Removes one of the tenant's charger profiles (`NotFound` when it has no such one).
    pub async fn billing_remove_charger(&self, tenant: &str, id: &str) -> Result<()> {
        if self.billing_charger(tenant, id).await?.is_none() {
            return Err(CommandError::NotFound { what: "ChargerProfile", id: id.to_owned() });
        }
        let event =
            Event::BillingChargerRemoved(BillingChargerRemoved { tenant: tenant.to_owned(), id: id.to_owned() });
        self.chargers_commit(tenant, event).await
    }
}
