//! Billing commands (CGrateS's account APIs): each checked against billing (`simledger-policies`),
//! appended as a `billing.*` event, and answered once the projection shows it.

use chrono::Utc;
use simledger_billing::{Action, ActionPlan, ActionTrigger, ActionType, BalanceTiming, RateDef, SharedGroup};
use simledger_eventlog::catalog::{
    BillingAccountSet, BillingAccountTriggersAdded, BillingActionPlanSet, BillingActionsApplied, BillingActionsDefined,
    BillingDestinationSet, BillingRateSet, BillingRemovable, BillingRemoved, BillingSharedGroupSet, BillingTimingSet,
    BillingTpDestinationStaged, BillingTpSharedGroupStaged, BillingTpTimingStaged, BillingTriggersDefined,
};
use simledger_eventlog::{Event, ExpectedVersion, Metadata, NewEvent, Position};
use simledger_policies::billing::read;

use crate::{CommandError, Commands, Result};

/// `APIerSv2.SetAccount`'s settings.
#[derive(Debug, Clone, Default)]
pub struct AccountSettings {
    pub allow_negative: Option<bool>,
    pub disabled: Option<bool>,
    pub action_trigger_ids: Vec<String>,
    pub action_triggers_overwrite: bool,
    pub action_plan_ids: Vec<String>,
    pub action_plans_overwrite: bool,
}

impl Commands {
    async fn billing_commit(&self, tenant: &str, event: Event) -> Result<()> {
        self.billing_commit_all(tenant, vec![event]).await
    }

    /// Appends `events` in one request (all or none) and answers once billing has applied them.
    async fn billing_commit_all(&self, tenant: &str, events: Vec<Event>) -> Result<()> {
        let position = self.billing_append(tenant, events).await?;
        self.visible_in(&self.billing, position).await
    }

    /// Appends a tenant's billing definitions in one request (all or none); the position of the
    /// last.
    pub(crate) async fn billing_append(&self, tenant: &str, events: Vec<Event>) -> Result<Position> {
        let meta = Metadata::from_source("billing-api").with_account(tenant.to_owned());
        let stream = format!("billing-{tenant}");
        let events = events
            .iter()
            .map(|event| NewEvent::new(uuid::Uuid::now_v7(), stream.clone(), event, &meta))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let appended = self.log.append(events, ExpectedVersion::Any).await?;
        Ok(appended.last().map(|a| a.position).unwrap_or(0))
    }

    async fn check_trigger_groups(&self, tenant: &str, groups: &[String]) -> Result<()> {
        check_trigger_groups(&read::catalog(self.log.pool(), tenant).await?, groups)
    }

    pub async fn billing_set_account(&self, tenant: &str, account: &str, s: AccountSettings) -> Result<()> {
        if account.is_empty() {
            return Err(CommandError::Missing(vec!["Account"]));
        }
        let catalog = read::catalog(self.log.pool(), tenant).await?;
        check_trigger_groups(&catalog, &s.action_trigger_ids)?;
        if let Some(missing) = s.action_plan_ids.iter().find(|p| !catalog.plans.contains_key(*p)) {
            return Err(CommandError::NotFound { what: "ActionPlan", id: missing.clone() });
        }
        let asap = s
            .action_plan_ids
            .iter()
            .filter_map(|p| catalog.plans.get(p))
            .any(|plan| plan.timings.iter().any(|t| t.timing == simledger_billing::Timing::Asap));
        let event = Event::BillingAccountSet(BillingAccountSet {
            tenant: tenant.to_owned(),
            account: account.to_owned(),
            allow_negative: s.allow_negative,
            disabled: s.disabled,
            action_trigger_ids: s.action_trigger_ids,
            action_triggers_overwrite: s.action_triggers_overwrite,
            action_plan_ids: s.action_plan_ids,
            action_plans_overwrite: s.action_plans_overwrite,
        });
        self.billing_commit(tenant, event).await?;
        if asap {
            // As CGrateS answers: after the plan's *asap actions ran. The account is set
            // whatever happens here; a firing that cannot be made now is the scheduler's, which
            // makes it within a second and reports what fails.
            let now = chrono::Utc::now();
            match simledger_policies::plan_scheduler::fire_due_plans_of(&self.log, tenant, account, now).await {
                Ok(Some(position)) => self.visible_in(&self.billing, position).await?,
                Ok(None) => {}
                Err(e) => tracing::warn!(%tenant, %account, error = %simledger_eventlog::error::cause_chain(&e),
                    "firing an *asap plan at SetAccount; the scheduler will"),
            }
        }
        Ok(())
    }

    /// Runs an action group on an account (made if missing). It is first run on a copy of the
    /// account as it is, so a refusal (`INSUFFICIENT_CREDIT`, an unknown action) answers the
    /// caller and changes nothing.
    pub async fn billing_apply_actions(
        &self,
        tenant: &str,
        account: &str,
        actions: Vec<Action>,
        reason: &str,
    ) -> Result<()> {
        if account.is_empty() {
            return Err(CommandError::Missing(vec!["Account"]));
        }
        for a in &actions {
            simledger_billing::action::check_to_store(a).map_err(|e| CommandError::Refused(e.to_string()))?;
        }
        let at = Utc::now();
        let mut copy = read::account(self.log.pool(), tenant, account)
            .await?
            .unwrap_or_else(|| simledger_billing::Account::new(tenant, account));
        let catalog = read::catalog(self.log.pool(), tenant).await?;
        simledger_billing::run_actions(&mut copy, &catalog, &actions, at, "check")
            .map_err(|e| CommandError::Refused(e.to_string()))?;
        self.check_http_posts(&actions).await?;
        let event = Event::BillingActionsApplied(BillingActionsApplied {
            tenant: tenant.to_owned(),
            account: account.to_owned(),
            actions,
            at,
            reason: reason.to_owned(),
        });
        self.billing_commit(tenant, event).await
    }

    /// `*http_post` URLs are called for the tenant: the destination policy applies.
    async fn check_http_posts(&self, actions: &[Action]) -> Result<()> {
        for a in actions.iter().filter(|a| matches!(a.action_type, ActionType::HttpPost | ActionType::HttpPostAsync)) {
            if let Err(e) = self.destinations.check(a.extra_parameters.trim()).await {
                return Err(CommandError::Refused(format!("SERVER_ERROR: *http_post URL {e}")));
            }
        }
        Ok(())
    }

    /// Runs a stored action group on an account.
    pub async fn billing_execute_actions(&self, tenant: &str, account: &str, actions_id: &str) -> Result<()> {
        let catalog = read::catalog(self.log.pool(), tenant).await?;
        let actions = catalog
            .actions
            .get(actions_id)
            .cloned()
            .ok_or_else(|| CommandError::NotFound { what: "Actions", id: actions_id.to_owned() })?;
        self.billing_apply_actions(tenant, account, actions, &format!("ExecuteAction {actions_id}")).await
    }

    /// `APIerSv1.SetActions`: refuses an existing ID unless `overwrite`.
    pub async fn billing_define_actions(
        &self,
        tenant: &str,
        actions_id: &str,
        actions: Vec<Action>,
        overwrite: bool,
    ) -> Result<()> {
        if actions_id.is_empty() {
            return Err(CommandError::Missing(vec!["ActionsId"]));
        }
        if actions.is_empty() {
            return Err(CommandError::Missing(vec!["Actions"]));
        }
        for a in &actions {
            simledger_billing::action::check_to_store(a).map_err(|e| CommandError::Refused(e.to_string()))?;
        }
        self.check_http_posts(&actions).await?;
        let catalog = read::catalog(self.log.pool(), tenant).await?;
        for id in actions.iter().flat_map(|a| a.balance.timing_ids.iter().flatten().map(|(id, _)| id)) {
            if catalog.timing(id).is_none() {
                return Err(CommandError::NotFound { what: "Timing", id: id.clone() });
            }
        }
        if !overwrite && read::has_own(self.log.pool(), tenant, "actions", actions_id).await? {
            return Err(CommandError::Duplicate(format!("actions {actions_id} exist")));
        }
        let event = Event::BillingActionsDefined(BillingActionsDefined {
            tenant: tenant.to_owned(),
            actions_id: actions_id.to_owned(),
            actions,
        });
        self.billing_commit(tenant, event).await
    }

    /// `APIerSv1.RemoveAccount`, `RemoveActions`, `RemoveActionPlan`, `RemoveActionTrigger`:
    /// what is named must exist (CGrateS's `NOT_FOUND` otherwise).
    pub async fn billing_remove(
        &self,
        tenant: &str,
        what: BillingRemovable,
        id: &str,
        unique_id: Option<&str>,
    ) -> Result<()> {
        if id.is_empty() {
            return Err(CommandError::Missing(vec![match what {
                BillingRemovable::Account => "Account",
                BillingRemovable::Actions => "ActionIDs",
                BillingRemovable::ActionPlan => "ID",
                BillingRemovable::TriggerGroup => "GroupID",
            }]));
        }
        let pool = self.log.pool();
        let exists = match what {
            BillingRemovable::Account => read::account(pool, tenant, id).await?.is_some(),
            // A tenant removes its own definitions, never a global one it reads.
            BillingRemovable::Actions => read::has_own(pool, tenant, "actions", id).await?,
            BillingRemovable::ActionPlan => read::has_own(pool, tenant, "plan", id).await?,
            BillingRemovable::TriggerGroup => read::own_trigger_group(pool, tenant, id)
                .await?
                .is_some_and(|g| unique_id.is_none_or(|u| g.iter().any(|t| t.unique_id == u))),
        };
        if !exists {
            return Err(CommandError::NotFound { what: "billing item", id: id.to_owned() });
        }
        let event = Event::BillingRemoved(BillingRemoved {
            tenant: tenant.to_owned(),
            what,
            id: id.to_owned(),
            unique_id: unique_id.map(str::to_owned),
        });
        self.billing_commit(tenant, event).await
    }

    /// `APIerSv1.SetActionPlan`: every timing's actions must exist; an existing ID is refused
    /// unless `overwrite`.
    pub async fn billing_set_action_plan(&self, tenant: &str, plan: ActionPlan, overwrite: bool) -> Result<()> {
        if plan.id.is_empty() {
            return Err(CommandError::Missing(vec!["Id"]));
        }
        if plan.timings.is_empty() {
            return Err(CommandError::Missing(vec!["ActionPlan"]));
        }
        let catalog = read::catalog(self.log.pool(), tenant).await?;
        if let Some(t) = plan.timings.iter().find(|t| !catalog.actions.contains_key(&t.actions_id)) {
            return Err(CommandError::NotFound { what: "Actions", id: t.actions_id.clone() });
        }
        if !overwrite && read::has_own(self.log.pool(), tenant, "plan", &plan.id).await? {
            return Err(CommandError::Duplicate(format!("action plan {} exists", plan.id)));
        }
        let event = Event::BillingActionPlanSet(BillingActionPlanSet { tenant: tenant.to_owned(), plan });
        self.billing_commit(tenant, event).await
    }

    /// `APIerSv1.SetActionTrigger`: adds the trigger to its group (replacing one of the same
    /// `UniqueID`), or with `overwrite` makes it the group's only trigger.
    pub async fn billing_define_trigger(
        &self,
        tenant: &str,
        group_id: &str,
        trigger: ActionTrigger,
        overwrite: bool,
    ) -> Result<()> {
        if group_id.is_empty() {
            return Err(CommandError::Missing(vec!["GroupID"]));
        }
        if trigger.balance.kind.is_none() {
            return Err(CommandError::Missing(vec!["BalanceType"]));
        }
        trigger.check_bounds().map_err(|e| CommandError::invalid("ActionTrigger", e))?;
        let event = Event::BillingTriggersDefined(BillingTriggersDefined {
            tenant: tenant.to_owned(),
            group_id: group_id.to_owned(),
            triggers: vec![trigger],
            overwrite,
        });
        self.billing_commit(tenant, event).await
    }

    pub async fn billing_add_account_triggers(
        &self,
        tenant: &str,
        account: &str,
        added: BillingAccountTriggersAdded,
    ) -> Result<()> {
        if account.is_empty() {
            return Err(CommandError::Missing(vec!["Account"]));
        }
        self.check_trigger_groups(tenant, &added.group_ids).await?;
        self.billing_commit(tenant, Event::BillingAccountTriggersAdded(added)).await
    }

    /// `APIerSv1.SetDestination`: refuses an existing ID unless `overwrite`.
    pub async fn billing_set_destination(
        &self,
        tenant: &str,
        id: &str,
        prefixes: Vec<String>,
        overwrite: bool,
    ) -> Result<()> {
        check_destination(id, &prefixes)?;
        if !overwrite && read::has_own(self.log.pool(), tenant, "destination", id).await? {
            return Err(CommandError::Duplicate(format!("destination {id} exists")));
        }
        let event = Event::BillingDestinationSet(BillingDestinationSet {
            tenant: tenant.to_owned(),
            id: id.to_owned(),
            prefixes,
        });
        self.billing_commit(tenant, event).await
    }

    /// `APIerSv1.SetTPDestination`: stages a destination under a tariff plan ID; it is not
    /// live until the plan is loaded.
    pub async fn billing_stage_destination(
        &self,
        tenant: &str,
        tpid: &str,
        id: &str,
        prefixes: Vec<String>,
    ) -> Result<()> {
        check_tpid(tpid)?;
        check_destination(id, &prefixes)?;
        // A plan is loaded in one append: its size is bounded so a load never holds the log's
        // head for long.
        let others = read::staged_destinations(self.log.pool(), tenant, tpid).await?;
        if others.len() >= MAX_TP_DESTINATIONS && !others.iter().any(|(staged, _)| staged == id) {
            let message = format!("a tariff plan holds at most {MAX_TP_DESTINATIONS} destinations");
            return Err(CommandError::invalid("ID", message));
        }
        let event = Event::BillingTpDestinationStaged(BillingTpDestinationStaged {
            tenant: tenant.to_owned(),
            tpid: tpid.to_owned(),
            id: id.to_owned(),
            prefixes,
        });
        self.billing_commit(tenant, event).await
    }

    /// `APIerSv1.LoadTariffPlanFromStorDb`: makes a plan's staged destinations, timings and
    /// shared groups live, all in one append (a `billing.destination_set`, `billing.timing_set`
    /// or `billing.shared_group_set` each, overwriting), so a load is all or nothing.
    pub async fn billing_load_tariff_plan(&self, tenant: &str, tpid: &str) -> Result<()> {
        if tpid.is_empty() {
            return Err(CommandError::Missing(vec!["TPid"]));
        }
        let pool = self.log.pool();
        let destinations = read::staged_destinations(pool, tenant, tpid).await?;
        let timings = read::staged::<BalanceTiming>(pool, tenant, tpid, read::STAGED_TIMING).await?;
        let groups = read::staged::<SharedGroup>(pool, tenant, tpid, read::STAGED_SHARED_GROUP).await?;
        if destinations.is_empty() && timings.is_empty() && groups.is_empty() {
            return Err(CommandError::NotFound { what: "TariffPlan", id: tpid.to_owned() });
        }
        let owned = || tenant.to_owned();
        let events = destinations
            .into_iter()
            .map(|(id, prefixes)| Event::BillingDestinationSet(BillingDestinationSet { tenant: owned(), id, prefixes }))
            .chain(
                timings.into_iter().map(|timing| Event::BillingTimingSet(BillingTimingSet { tenant: owned(), timing })),
            )
            .chain(
                groups
                    .into_iter()
                    .map(|group| Event::BillingSharedGroupSet(BillingSharedGroupSet { tenant: owned(), group })),
            )
            .collect();
        self.billing_commit_all(tenant, events).await
    }

    /// `APIerSv1.SetTiming`: a balance timing, live at once (replacing one of the ID). A
    /// tenant keeps at most [`MAX_TP_DESTINATIONS`] (every batch of its usage loads them).
    pub async fn billing_set_timing(&self, tenant: &str, timing: BalanceTiming) -> Result<()> {
        let catalog = read::catalog(self.log.pool(), tenant).await?;
        if catalog.timings.len() >= MAX_TP_DESTINATIONS && !catalog.timings.contains_key(&timing.id) {
            return Err(CommandError::invalid("ID", format!("at most {MAX_TP_DESTINATIONS} timings")));
        }
        self.billing_commit(tenant, Event::BillingTimingSet(BillingTimingSet { tenant: tenant.to_owned(), timing }))
            .await
    }

    /// `APIerSv1.SetTPTiming`: stages a timing under a tariff plan ID.
    pub async fn billing_stage_timing(&self, tenant: &str, tpid: &str, timing: BalanceTiming) -> Result<()> {
        self.check_stage_room(tenant, tpid, read::STAGED_TIMING, &timing.id).await?;
        let event = Event::BillingTpTimingStaged(BillingTpTimingStaged {
            tenant: tenant.to_owned(),
            tpid: tpid.to_owned(),
            timing,
        });
        self.billing_commit(tenant, event).await
    }

    /// `APIerSv1.SetTPSharedGroups`: stages a shared group under a tariff plan ID.
    pub async fn billing_stage_shared_group(&self, tenant: &str, tpid: &str, group: SharedGroup) -> Result<()> {
        group.check().map_err(|e| CommandError::invalid("SharedGroups", e))?;
        self.check_stage_room(tenant, tpid, read::STAGED_SHARED_GROUP, &group.id).await?;
        let event = Event::BillingTpSharedGroupStaged(BillingTpSharedGroupStaged {
            tenant: tenant.to_owned(),
            tpid: tpid.to_owned(),
            group,
        });
        self.billing_commit(tenant, event).await
    }

    /// A tariff plan stages at most [`MAX_TP_DESTINATIONS`] definitions of a kind, so its load
    /// is one append of at most three times that; a definition already staged may always be
    /// replaced.
    async fn check_stage_room(&self, tenant: &str, tpid: &str, kind: &str, id: &str) -> Result<()> {
        check_tpid(tpid)?;
        let ids = read::staged_ids(self.log.pool(), tenant, tpid, kind).await?;
        if ids.len() >= MAX_TP_DESTINATIONS && !ids.iter().any(|staged| staged == id) {
            let message = format!("a tariff plan holds at most {MAX_TP_DESTINATIONS} of a kind");
            return Err(CommandError::invalid("ID", message));
        }
        Ok(())
    }

    /// `POST /v1/Billing/Rates`: the destination must exist (or be `*any`); an existing ID is
    /// refused unless `overwrite`.
    pub async fn billing_set_rate(&self, tenant: &str, rate: RateDef, overwrite: bool) -> Result<()> {
        let mut missing = Vec::new();
        for (field, empty) in [("ID", rate.id.is_empty()), ("DestinationID", rate.destination_id.is_empty())] {
            if empty {
                missing.push(field);
            }
        }
        if !missing.is_empty() {
            return Err(CommandError::Missing(missing));
        }
        if !simledger_billing::BalanceType::USAGE.contains(&rate.tor) {
            let refused = simledger_billing::BalanceType::parse_usage(rate.tor.as_str());
            return Err(CommandError::invalid("ToR", refused.err().unwrap_or_default()));
        }
        if rate.rate.is_sign_negative() {
            return Err(CommandError::invalid("Rate", "must not be negative"));
        }
        for (field, value) in [("RateUnit", rate.rate_unit), ("RateIncrement", rate.rate_increment)] {
            if value <= rust_decimal::Decimal::ZERO {
                return Err(CommandError::invalid(field, "must be more than 0"));
            }
        }
        rate.check_bounds().map_err(|e| CommandError::invalid("Rate", e))?;
        if rate.rounding_decimals > MAX_ROUNDING_DECIMALS {
            return Err(CommandError::invalid("RoundingDecimals", format!("must be at most {MAX_ROUNDING_DECIMALS}")));
        }
        let catalog = read::catalog(self.log.pool(), tenant).await?;
        if rate.destination_id != simledger_billing::rating::ANY_DESTINATION
            && catalog.destinations.prefixes(&rate.destination_id).is_none()
        {
            return Err(CommandError::NotFound { what: "Destination", id: rate.destination_id });
        }
        if !overwrite && catalog.rates.contains_key(&rate.id) {
            return Err(CommandError::Duplicate(format!("rate {} exists", rate.id)));
        }
        self.billing_commit(tenant, Event::BillingRateSet(BillingRateSet { tenant: tenant.to_owned(), rate })).await
    }
}

/// More decimals than any currency's minor unit needs, and few enough that a cost stays exact.
pub const MAX_ROUNDING_DECIMALS: u32 = 10;

fn check_trigger_groups(catalog: &simledger_billing::Catalog, groups: &[String]) -> Result<()> {
    match groups.iter().find(|g| !catalog.trigger_groups.contains_key(*g)) {
        Some(missing) => Err(CommandError::NotFound { what: "ActionTrigger", id: missing.clone() }),
        None => Ok(()),
    }
}

/// The most destinations one tariff plan stages (its load is one append).
pub const MAX_TP_DESTINATIONS: usize = 1000;
/// The most prefixes of one destination, and the longest prefix.
pub const MAX_PREFIXES: usize = 1000;
pub const MAX_PREFIX_LEN: usize = 32;

/// A tariff plan ID: present, and short enough to key the rows staged under it.
fn check_tpid(tpid: &str) -> Result<()> {
    if tpid.is_empty() {
        return Err(CommandError::Missing(vec!["TPid"]));
    }
    if tpid.len() > simledger_billing::bounds::MAX_ID_LEN || tpid.chars().any(char::is_control) {
        let message = format!("must be 1 to {} bytes", simledger_billing::bounds::MAX_ID_LEN);
        return Err(CommandError::invalid("TPid", message));
    }
    Ok(())
}

/// A destination's ID and prefixes, as `SetDestination` and `SetTPDestination` take them.
fn check_destination(id: &str, prefixes: &[String]) -> Result<()> {
    let mut missing = Vec::new();
    if id.is_empty() {
        missing.push("Id");
    }
    if prefixes.is_empty() {
        missing.push("Prefixes");
    }
    if !missing.is_empty() {
        return Err(CommandError::Missing(missing));
    }
    if prefixes.len() > MAX_PREFIXES {
        return Err(CommandError::invalid("Prefixes", format!("at most {MAX_PREFIXES} prefixes")));
    }
    if let Some(bad) = prefixes.iter().find(|p| {
        p.is_empty() || p.len() > MAX_PREFIX_LEN || !p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+')
    }) {
        return Err(CommandError::invalid("Prefixes", format!("{bad:?} is not a number prefix")));
    }
    Ok(())
}
