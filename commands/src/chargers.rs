//! ChargerS (`APIerSv1.SetChargerProfile` and friends): a tenant's charger profiles, which the
//! `cdrs` projection forks each of the tenant's CDRs by. Answered once `cdrs` shows the change.

use simledger_billing::chargers::{ChargerProfile, MAX_PROFILES};
use simledger_eventlog::catalog::{BillingChargerRemoved, BillingChargerSet};
use simledger_eventlog::{Event, ExpectedVersion, Metadata, NewEvent};

use crate::{CommandError, Commands, Result};

impl Commands {
    async fn chargers_commit(&self, tenant: &str, event: Event) -> Result<()> {
        let meta = Metadata::from_source("billing-api").with_account(tenant.to_owned());
        let event = NewEvent::new(uuid::Uuid::now_v7(), format!("chargers-{tenant}"), &event, &meta)?;
        let appended = self.log.append(vec![event], ExpectedVersion::Any).await?;
        let position = appended.last().map(|a| a.position).unwrap_or(0);
        self.cdrs_visible(position).await
    }

    /// The tenant's charger profiles, by ID.
    pub async fn billing_chargers(&self, tenant: &str) -> Result<Vec<ChargerProfile>> {
        let docs: Vec<sqlx::types::Json<ChargerProfile>> =
            sqlx::query_scalar("SELECT doc FROM cdr_chargers WHERE tenant = $1 ORDER BY id")
                .bind(tenant)
                .fetch_all(self.log.pool())
                .await?;
        Ok(docs.into_iter().map(|d| d.0).collect())
    }

    pub async fn billing_charger(&self, tenant: &str, id: &str) -> Result<Option<ChargerProfile>> {
        let doc: Option<sqlx::types::Json<ChargerProfile>> =
            sqlx::query_scalar("SELECT doc FROM cdr_chargers WHERE tenant = $1 AND id = $2")
                .bind(tenant)
                .bind(id)
                .fetch_optional(self.log.pool())
                .await?;
        Ok(doc.map(|d| d.0))
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
