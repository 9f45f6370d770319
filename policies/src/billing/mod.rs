//! `billing`: CGrateS-style accounts folded from the log through `simledger_billing`.
//!
//! - Definitions and changes come from commands: `billing.account_set`, `…actions_applied`,
//!   `…actions_defined`, `…triggers_defined`, `…account_triggers_added`, `…destination_set`,
//!   `…action_plan_set`, `…rate_set`.
//! - Usage debits accounts as it happens: every `data-session.updated`/`ended` window (`*data`,
//!   destination = the visited network's MCC+MNC), every delivered SMS (`*sms`), every external
//!   CDR (its ToR, on its `Account`). Core usage goes to the first billing account that exists
//!   among the SIM's SID, its fleet's SID and its account's SID: creating an account under one
//!   of those names is how per-SIM, per-fleet or per-customer billing is chosen.
//! - Usage no unit balance covers is priced by the tenant's own rates (`billing.rate_set`), else
//!   from the operator's rates (`operator.cdr_rate_set`, per started unit).
//! - What a fold decides beyond the account is appended as events whose ids derive from the
//!   event that caused it: `balance.debited` (the balance-by-balance breakdown and the triggers
//!   fired), `sim.status_changed` (`*suspend_sim`/`*resume_sim`), `fleet.updated`
//!   (`*set_fleet_data_limit`), `cdr.received` (`*cdrlog`), `billing.http_post_requested`
//!   (`*http_post`, delivered by the exporters' `BillingPoster`), `billing.export_requested`
//!   (`*export`, written by the exporters' `AccountExporter`).
//!   The fold never reads them back. Effects on SIMs and fleets decide from billing's own fold
//!   of them (`registry.rs`), never from the registry as it is now, so a replay
//!   ([`Billing::replaying`]) decides exactly what the live fold did and appends none of that.

mod batch;
pub mod effect_rule;
mod effects;
pub mod read;
mod registry;
mod usage;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};
use simledger_billing::{Account, Catalog};
use simledger_eventlog::catalog::{BillingRemovable, BillingRemoved};
use simledger_eventlog::{Event, EventLog, ExpectedVersion, NewEvent, RecordedEvent};
use sqlx::PgConnection;
use uuid::Uuid;

use simledger_projections::{ApplyError, Projection, Subscriber};

use batch::{Batch, Cache};
use effects::derive_effects;
use usage::{data_usage, debit, external_usage, sms_usage};

pub const NAME: &str = "billing";

#[derive(Clone)]
pub struct Billing {
    log: EventLog,
    cache: Cache,
    /// `Some` in a replay: what becomes of the decisions it takes again.
    replay: Option<Replay>,
}

impl Billing {
    /// The live fold: its decisions go to the log.
    pub fn new(log: EventLog) -> Self {
        Self { log, cache: Cache::default(), replay: None }
    }

    /// The fold for `simledger replay`: it rebuilds the tables and appends no decision the
    /// live fold took already (those at or before the live checkpoint). Each of those must be
    /// in the log under the same id; one that is not is counted ([`Billing::divergent`]) and
    /// logged, never appended: it would mean the fold read something besides the log. Causes
    /// past the live checkpoint are decided for the first time, so their decisions are appended
    /// (the live worker resumes after the replay).
    pub fn replaying(log: EventLog) -> Self {
        let replay = Replay { live_at: Arc::new(OnceLock::new()), divergent: Arc::new(AtomicU64::new(0)) };
        Self { log, cache: Cache::default(), replay: Some(replay) }
    }

    /// Decisions a replay took that the live fold had not: 0 unless the fold depends on more
    /// than the log.
    pub fn divergent(&self) -> u64 {
        self.replay.as_ref().map_or(0, |r| r.divergent.load(Ordering::Relaxed))
    }

    /// Sends the batch's decisions where they go: the log, or (replaying) only those not taken
    /// before.
    async fn emit(&self, derived: Vec<(i64, NewEvent)>) -> Result<(), ApplyError> {
        if derived.is_empty() {
            return Ok(());
        }
        let Some(replay) = &self.replay else {
            self.log.append(derived.into_iter().map(|(_, e)| e).collect(), ExpectedVersion::Any).await?;
            return Ok(());
        };
        let live_at = match replay.live_at.get() {
            Some(at) => *at,
            None => {
                // Committed state, read beside the replay's transaction: the replay holds the
                // checkpoint row, so the live worker cannot move it meanwhile.
                let at: Option<i64> =
                    sqlx::query_scalar("SELECT position FROM checkpoints WHERE name = $1 AND shard = $2")
                        .bind(NAME)
                        .bind(self.log.shard())
                        .fetch_optional(self.log.pool())
                        .await?;
                *replay.live_at.get_or_init(|| at.unwrap_or(0))
            }
        };
        let (taken, new): (Vec<_>, Vec<_>) = derived.into_iter().partition(|(cause, _)| *cause <= live_at);
        if !taken.is_empty() {
            let ids: Vec<Uuid> = taken.iter().map(|(_, e)| e.event_id).collect();
            let found: Vec<Uuid> = sqlx::query_scalar("SELECT event_id FROM events WHERE event_id = ANY($1)")
                .bind(&ids)
                .fetch_all(self.log.pool())
                .await?;
            for (cause, e) in taken.iter().filter(|(_, e)| !found.contains(&e.event_id)) {
                tracing::warn!(cause, event_type = %e.event_type, event_id = %e.event_id, "replay decided what the live fold did not; not appended");
                replay.divergent.fetch_add(1, Ordering::Relaxed);
            }
        }
        if !new.is_empty() {
            self.log.append(new.into_iter().map(|(_, e)| e).collect(), ExpectedVersion::Any).await?;
        }
        Ok(())
    }
}

/// A replay's view of the live fold.
#[derive(Clone)]
struct Replay {
    /// The live checkpoint when the replay began.
    live_at: Arc<OnceLock<i64>>,
    divergent: Arc<AtomicU64>,
}

impl Projection for Billing {
    const TABLES: &'static [&'static str] = &[
        "billing_accounts",
        "billing_catalog",
        "billing_plan_bindings",
        "billing_operator_rates",
        "billing_sims",
        "billing_fleets",
        "billing_tp_destinations",
        "billing_tp_staged",
        "billing_shared_group_members",
        "billing_chargers",
    ];
}

impl Subscriber for Billing {
    fn name(&self) -> &str {
        NAME
    }

    async fn apply(&mut self, tx: &mut PgConnection, events: &[RecordedEvent]) -> Result<(), ApplyError> {
        // Taken for the batch and given back only when it is applied: a failed batch leaves
        // the cache empty (and the runner drops this worker anyway).
        let mut cache = std::mem::take(&mut self.cache);
        cache.validate(tx, NAME, self.log.shard()).await?;
        let upgrade_points = match cache.upgrade_points {
            Some(points) => points,
            None => batch::UpgradePoints::load(tx, self.log.shard()).await?,
        };
        cache.upgrade_points = Some(upgrade_points);
        let members_exist = match cache.members_exist {
            Some(exist) => exist,
            None => {
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM billing_shared_group_members)")
                    .fetch_one(&mut *tx)
                    .await?
            }
        };
        let mut b = Batch {
            accounts: std::mem::take(&mut cache.accounts),
            catalogs: std::mem::take(&mut cache.catalogs),
            upgrade_points,
            members_exist,
            ..Batch::default()
        };
        b.prefetch(tx, events.iter().flat_map(accounts_touched).collect()).await?;
        for e in events {
            registry::fold(tx, &e.event).await?;
            match &e.event {
                Event::OperatorRateSet(r) => {
                    simledger_projections::operator_rates::record(
                        tx,
                        simledger_projections::operator_rates::RateTable::Billing,
                        r,
                    )
                    .await?;
                    // Usage later in this batch is priced at the new rate, as in any other cut.
                    b.rates.clear();
                }
                Event::BillingAccountSet(s) => {
                    let catalog = b.catalog(tx, &s.tenant).await?;
                    let triggers = copy_triggers(catalog, &s.action_trigger_ids);
                    let plans: Vec<(String, usize)> = s
                        .action_plan_ids
                        .iter()
                        .filter_map(|id| catalog.plans.get(id).map(|p| (id.clone(), p.timings.len())))
                        .collect();
                    bind_plans(tx, &s.tenant, &s.account, &plans, s.action_plans_overwrite, e.recorded_at).await?;
                    let account = b.account_or_new(tx, &s.tenant, &s.account).await?;
                    if let Some(v) = s.allow_negative {
                        account.allow_negative = v;
                    }
                    if let Some(v) = s.disabled {
                        account.disabled = v;
                    }
                    add_triggers(account, triggers, s.action_triggers_overwrite);
                    b.touch(&s.tenant, &s.account);
                }
                Event::BillingAccountTriggersAdded(s) => {
                    let mut triggers = copy_triggers(b.catalog(tx, &s.tenant).await?, &s.group_ids);
                    for t in &mut triggers {
                        t.executed = s.executed;
                        if s.activation_date.is_some() {
                            t.activation_date = s.activation_date;
                        }
                    }
                    let account = b.account_or_new(tx, &s.tenant, &s.account).await?;
                    add_triggers(account, triggers, s.overwrite);
                    b.touch(&s.tenant, &s.account);
                }
                Event::BillingActionsApplied(s) => {
                    run_actions_on(tx, &mut b, e, &s.tenant, &s.account, ActionsToRun::Given(&s.actions), s.at).await?;
                }
                // A device signal runs the action group its fleet bound (`*suspend_sim`,
                // `*http_post`, `*set_fleet_data_limit`, …) on the SIM's billing account.
                Event::SimSignalRaised(s) => {
                    let Some(actions_id) = &s.actions_id else { continue };
                    let group = ActionsToRun::Group(actions_id);
                    run_actions_on(tx, &mut b, e, &s.account_sid, s.sim_sid.as_str(), group, s.timestamp).await?;
                }
                Event::BillingActionsDefined(s) => {
                    b.catalog(tx, &s.tenant).await?.actions.insert(s.actions_id.clone(), s.actions.clone());
                    b.catalog_writes
                        .insert((s.tenant.clone(), "actions", s.actions_id.clone()), serde_json::to_value(&s.actions)?);
                }
                Event::BillingTriggersDefined(s) => {
                    let mut group = b.own_trigger_group(tx, &s.tenant, &s.group_id).await?;
                    if s.overwrite {
                        group.clear();
                    }
                    for t in &s.triggers {
                        group.retain(|old| old.unique_id != t.unique_id);
                        group.push(t.clone());
                    }
                    let doc = serde_json::to_value(&group)?;
                    b.catalog(tx, &s.tenant).await?.trigger_groups.insert(s.group_id.clone(), group);
                    b.catalog_writes.insert((s.tenant.clone(), "triggers", s.group_id.clone()), doc);
                }
                Event::BillingRateSet(s) => {
                    b.catalog(tx, &s.tenant).await?.rates.insert(s.rate.id.clone(), s.rate.clone());
                    b.catalog_writes
                        .insert((s.tenant.clone(), "rate", s.rate.id.clone()), serde_json::to_value(&s.rate)?);
                }
                Event::BillingRemoved(r) => remove(tx, &mut b, r).await?,
                Event::BillingActionPlanSet(s) => {
                    // The plan the bound accounts followed until now: the tenant's own, else the
                    // global one it read (which a tenant's own plan of the ID now shadows).
                    let before = b.catalog(tx, &s.tenant).await?.plans.get(&s.plan.id).cloned();
                    if let Some(before) = before.filter(|_| e.position > b.upgrade_points.plan_rebinds) {
                        b.write_catalog(tx).await?;
                        rebind_changed_timings(tx, &s.tenant, &before, &s.plan, e.recorded_at).await?;
                    }
                    b.catalog(tx, &s.tenant).await?.plans.insert(s.plan.id.clone(), s.plan.clone());
                    b.catalog_writes
                        .insert((s.tenant.clone(), "plan", s.plan.id.clone()), serde_json::to_value(&s.plan)?);
                }
                Event::BillingPlanFired(f) => {
                    // Applied once per binding and moment, whoever appended the firing.
                    let fresh = sqlx::query(
                        "UPDATE billing_plan_bindings SET last_fired = $5 WHERE tenant = $1 AND plan_id = $2 \
                         AND account = $3 AND timing_index = $4 AND (last_fired IS NULL OR last_fired < $5)",
                    )
                    .bind(&f.tenant)
                    .bind(&f.plan_id)
                    .bind(&f.account)
                    .bind(f.timing_index)
                    .bind(f.at)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                        == 1;
                    let catalog = b.catalog(tx, &f.tenant).await?.clone();
                    let Some(actions) = catalog.actions.get(&f.actions_id).cloned() else { continue };
                    if !fresh {
                        continue;
                    }
                    let account = b.account_or_new(tx, &f.tenant, &f.account).await?;
                    match simledger_billing::run_actions(account, &catalog, &actions, f.at, &e.event_id.to_string()) {
                        Ok(outcome) => {
                            b.touch(&f.tenant, &f.account);
                            let sim = Some(f.account.as_str());
                            derive_effects(tx, &mut b, e, &f.tenant, &f.account, sim, &outcome).await?;
                        }
                        Err(err) => {
                            tracing::warn!(plan = %f.plan_id, account = %f.account, error = %err, "plan actions refused")
                        }
                    }
                }
                Event::BillingDestinationSet(s) => {
                    b.catalog(tx, &s.tenant).await?.destinations.set(&s.id, s.prefixes.clone());
                    b.catalog_writes
                        .insert((s.tenant.clone(), "destination", s.id.clone()), serde_json::to_value(&s.prefixes)?);
                }
                Event::BillingTpDestinationStaged(s) => {
                    // Staged, not live: read only by `LoadTariffPlanFromStorDb`, which loads the
                    // plan as `billing.destination_set`s.
                    sqlx::query(
                        "INSERT INTO billing_tp_destinations (tenant, tpid, id, prefixes) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (tenant, tpid, id) DO UPDATE SET prefixes = $4",
                    )
                    .bind(&s.tenant)
                    .bind(&s.tpid)
                    .bind(&s.id)
                    .bind(&s.prefixes)
                    .execute(&mut *tx)
                    .await?;
                }
                Event::BillingTimingSet(s) => {
                    let id = s.timing.id.clone();
                    b.catalog(tx, &s.tenant).await?.timings.insert(id.clone(), s.timing.clone());
                    b.catalog_writes.insert((s.tenant.clone(), "timing", id), serde_json::to_value(&s.timing)?);
                }
                Event::BillingSharedGroupSet(s) => {
                    let id = s.group.id.clone();
                    b.catalog(tx, &s.tenant).await?.shared_groups.insert(id.clone(), s.group.clone());
                    b.catalog_writes.insert((s.tenant.clone(), "shared_group", id), serde_json::to_value(&s.group)?);
                }
                Event::BillingTpTimingStaged(s) => {
                    let doc = serde_json::to_value(&s.timing)?;
                    stage(tx, &s.tenant, &s.tpid, "timing", &s.timing.id, doc).await?;
                }
                Event::BillingTpSharedGroupStaged(s) => {
                    let doc = serde_json::to_value(&s.group)?;
                    stage(tx, &s.tenant, &s.tpid, "shared_group", &s.group.id, doc).await?;
                }
                Event::DataSessionUpdated(c) | Event::DataSessionEnded(c) => {
                    if let Some(u) = data_usage(c) {
                        debit(tx, &mut b, e, u).await?;
                    }
                }
                Event::SmsMoDelivered(s) | Event::SmsMtDelivered(s) => {
                    if let Some(u) = sms_usage(s) {
                        debit(tx, &mut b, e, u).await?;
                    }
                }
                Event::CdrReceived(c) => {
                    // Each run the tenant's charger profiles fork it into is debited, as
                    // CGrateS's RALs debit each rated run; a `*none` run debits nothing.
                    let profiles = if e.position > b.upgrade_points.charger_runs {
                        b.chargers(tx, &c.tenant).await?.to_vec()
                    } else {
                        // Applied before runs were debited: one debit, on its own fields.
                        Vec::new()
                    };
                    let runs = if profiles.is_empty() {
                        vec![c.clone()]
                    } else {
                        simledger_projections::cdrs::external_cdr_runs(c, &profiles)
                    };
                    for run in runs {
                        if let Some(mut u) = external_usage(&run) {
                            // The CDR's own run keeps the ids its debit always had.
                            if run.run_id != c.run_id {
                                u.run = Some(run.run_id.clone());
                            }
                            debit(tx, &mut b, e, u).await?;
                        }
                    }
                }
                Event::BillingChargerSet(s) => {
                    sqlx::query(
                        "INSERT INTO billing_chargers (tenant, id, doc) VALUES ($1, $2, $3) \
                         ON CONFLICT (tenant, id) DO UPDATE SET doc = $3",
                    )
                    .bind(&s.tenant)
                    .bind(&s.profile.id)
                    .bind(serde_json::to_value(&s.profile)?)
                    .execute(&mut *tx)
                    .await?;
                    b.chargers.remove(&s.tenant);
                }
                Event::BillingChargerRemoved(r) => {
                    sqlx::query("DELETE FROM billing_chargers WHERE tenant = $1 AND id = $2")
                        .bind(&r.tenant)
                        .bind(&r.id)
                        .execute(&mut *tx)
                        .await?;
                    b.chargers.remove(&r.tenant);
                }
                _ => {}
            }
            if let Some(tenant) = catalogs_to_reload(&e.event) {
                b.reload_catalogs_of(tx, tenant).await?;
            }
        }
        // The accounts go into this batch's transaction and the derived events into the log's
        // own, side by side. A crash between the two commits is already allowed for: the redo
        // appends the derived events again under the same ids, which the log drops.
        let derived = std::mem::take(&mut b.derived);
        let (written, appended) = tokio::join!(b.write(tx), self.emit(derived));
        written?;
        appended?;
        if b.accounts.len() <= Cache::MAX_ACCOUNTS {
            cache.accounts = b.accounts;
        }
        cache.catalogs = b.catalogs;
        cache.members_exist = Some(b.members_exist);
        self.cache = cache;
        Ok(())
    }
}

/// A definition staged under a tariff plan ID (read only by `LoadTariffPlanFromStorDb`).
async fn stage(
    tx: &mut PgConnection,
    tenant: &str,
    tpid: &str,
    kind: &str,
    id: &str,
    doc: serde_json::Value,
) -> Result<(), ApplyError> {
    sqlx::query(
        "INSERT INTO billing_tp_staged (tenant, tpid, kind, id, doc) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (tenant, tpid, kind, id) DO UPDATE SET doc = $5",
    )
    .bind(tenant)
    .bind(tpid)
    .bind(kind)
    .bind(id)
    .bind(doc)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Whose cached catalogs an event leaves stale: every tenant's after a change to the global
/// definitions (each tenant reads them), and a tenant's after a removal of its own (which may
/// uncover a global definition of the same ID).
fn catalogs_to_reload(event: &Event) -> Option<&str> {
    let tenant = match event {
        Event::BillingRemoved(r) if r.what != BillingRemovable::Account => return Some(&r.tenant),
        Event::BillingActionsDefined(s) => &s.tenant,
        Event::BillingTriggersDefined(s) => &s.tenant,
        Event::BillingActionPlanSet(s) => &s.tenant,
        Event::BillingDestinationSet(s) => &s.tenant,
        Event::BillingTimingSet(s) => &s.tenant,
        Event::BillingSharedGroupSet(s) => &s.tenant,
        _ => return None,
    };
    (tenant == simledger_billing::GLOBAL_TENANT).then_some(tenant)
}

/// Binds an account to plans (each timing a binding anchored now); `overwrite` unbinds it from
/// every other plan first.
async fn bind_plans(
    tx: &mut PgConnection,
    tenant: &str,
    account: &str,
    plans: &[(String, usize)],
    overwrite: bool,
    anchor: DateTime<Utc>,
) -> Result<(), ApplyError> {
    if overwrite {
        let keep: Vec<String> = plans.iter().map(|(id, _)| id.clone()).collect();
        sqlx::query("DELETE FROM billing_plan_bindings WHERE tenant = $1 AND account = $2 AND NOT plan_id = ANY($3)")
            .bind(tenant)
            .bind(account)
            .bind(&keep)
            .execute(&mut *tx)
            .await?;
    }
    for (plan, timings) in plans {
        for index in 0..*timings as i32 {
            sqlx::query(
                "INSERT INTO billing_plan_bindings (tenant, plan_id, account, timing_index, anchor) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            )
            .bind(tenant)
            .bind(plan)
            .bind(account)
            .bind(index)
            .bind(anchor)
            .execute(&mut *tx)
            .await?;
        }
    }
    Ok(())
}

/// After a plan's definition changed (overwritten, or a tenant's own plan now shadowing the
/// global one of the ID): the accounts bound to it keep each timing that is the same at its
/// index, so nothing fires twice; a changed or added timing starts afresh, anchored at the
/// change (an `*asap` one runs once more, as the plan it belongs to is new); a removed one
/// goes. The bindings are the tenant's, or for a global plan every tenant's without a plan of
/// its own of the ID.
async fn rebind_changed_timings(
    tx: &mut PgConnection,
    tenant: &str,
    before: &simledger_billing::ActionPlan,
    after: &simledger_billing::ActionPlan,
    at: DateTime<Utc>,
) -> Result<(), ApplyError> {
    let len = before.timings.len().max(after.timings.len());
    let changed: Vec<i32> =
        (0..len).filter(|&i| before.timings.get(i) != after.timings.get(i)).map(|i| i as i32).collect();
    if changed.is_empty() {
        return Ok(());
    }
    let added: Vec<i32> = changed.iter().copied().filter(|&i| (i as usize) < after.timings.len()).collect();
    const BOUND: &str =
        "b.plan_id = $2 AND (b.tenant = $1 OR ($1 = $3 AND NOT EXISTS (SELECT 1 FROM billing_catalog c \
         WHERE c.tenant = b.tenant AND c.kind = 'plan' AND c.id = b.plan_id)))";
    let bound: Vec<(String, String)> =
        sqlx::query_as(&format!("SELECT DISTINCT b.tenant, b.account FROM billing_plan_bindings b WHERE {BOUND}"))
            .bind(tenant)
            .bind(&after.id)
            .bind(simledger_billing::GLOBAL_TENANT)
            .fetch_all(&mut *tx)
            .await?;
    sqlx::query(&format!("DELETE FROM billing_plan_bindings b WHERE {BOUND} AND b.timing_index = ANY($4)"))
        .bind(tenant)
        .bind(&after.id)
        .bind(simledger_billing::GLOBAL_TENANT)
        .bind(&changed)
        .execute(&mut *tx)
        .await?;
    let (tenants, accounts): (Vec<String>, Vec<String>) = bound.into_iter().unzip();
    sqlx::query(
        "INSERT INTO billing_plan_bindings (tenant, plan_id, account, timing_index, anchor) \
         SELECT a.tenant, $3, a.account, i, $5 FROM unnest($1::text[], $2::text[]) AS a(tenant, account) \
         CROSS JOIN unnest($4::int[]) AS i ON CONFLICT DO NOTHING",
    )
    .bind(&tenants)
    .bind(&accounts)
    .bind(&after.id)
    .bind(&added)
    .bind(at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Which actions [`run_actions_on`] runs: given with the event, or a group of the tenant's catalog.
enum ActionsToRun<'a> {
    Given(&'a [simledger_billing::Action]),
    Group(&'a str),
}

/// Runs actions on a tenant's account (made if new) and derives their effects; an account named
/// by a SIM's SID bills that SIM. A refusal (or a group no longer defined) is logged, not an
/// error: commands check first, and a race with another change can still refuse.
async fn run_actions_on(
    tx: &mut PgConnection,
    b: &mut Batch,
    e: &RecordedEvent,
    tenant: &str,
    account: &str,
    actions: ActionsToRun<'_>,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<(), ApplyError> {
    let catalog = b.catalog(tx, tenant).await?.clone();
    let actions = match actions {
        ActionsToRun::Given(actions) => actions,
        ActionsToRun::Group(id) => match catalog.actions.get(id) {
            Some(group) => group.as_slice(),
            None => {
                tracing::warn!(event = %e.event_id, actions = %id, "an action group to run is not defined");
                return Ok(());
            }
        },
    };
    let state = b.account_or_new(tx, tenant, account).await?;
    match simledger_billing::run_actions(state, &catalog, actions, at, &e.event_id.to_string()) {
        Ok(outcome) => {
            b.touch(tenant, account);
            derive_effects(tx, b, e, tenant, account, Some(account), &outcome).await?;
        }
        Err(err) => tracing::warn!(event = %e.event_id, error = %err, "billing actions refused"),
    }
    Ok(())
}

/// The accounts an event may read or change, for the batch's prefetch.
fn accounts_touched(e: &RecordedEvent) -> Vec<(String, String)> {
    let usage = match &e.event {
        Event::DataSessionUpdated(c) | Event::DataSessionEnded(c) => data_usage(c),
        Event::SmsMoDelivered(s) | Event::SmsMtDelivered(s) => sms_usage(s),
        Event::CdrReceived(c) => external_usage(c),
        Event::BillingAccountSet(s) => return vec![(s.tenant.clone(), s.account.clone())],
        Event::BillingActionsApplied(s) => return vec![(s.tenant.clone(), s.account.clone())],
        Event::SimSignalRaised(s) if s.actions_id.is_some() => {
            return vec![(s.account_sid.clone(), s.sim_sid.to_string())]
        }
        _ => None,
    };
    usage.map(|u| u.accounts.iter().map(|a| (u.tenant.clone(), a.clone())).collect()).unwrap_or_default()
}

fn copy_triggers(catalog: &Catalog, groups: &[String]) -> Vec<simledger_billing::ActionTrigger> {
    groups.iter().flat_map(|g| catalog.trigger_groups.get(g).cloned().unwrap_or_default()).collect()
}

fn add_triggers(account: &mut Account, triggers: Vec<simledger_billing::ActionTrigger>, overwrite: bool) {
    if overwrite && !triggers.is_empty() {
        account.action_triggers.clear();
    }
    for t in triggers {
        account.action_triggers.retain(|old| old.unique_id != t.unique_id);
        account.action_triggers.push(t);
    }
}

/// Applies a `billing.removed`: in the batch's working set and in the tables at once, so a
/// later event of the same batch sees it gone (and one that makes it again writes it anew).
async fn remove(tx: &mut PgConnection, b: &mut Batch, r: &BillingRemoved) -> Result<(), ApplyError> {
    let tenant = &r.tenant;
    let kind = match r.what {
        BillingRemovable::Account => {
            b.accounts.insert((tenant.clone(), r.id.clone()), None);
            for table in ["billing_accounts", "billing_plan_bindings", "billing_shared_group_members"] {
                sqlx::query(&format!("DELETE FROM {table} WHERE tenant = $1 AND account = $2"))
                    .bind(tenant)
                    .bind(&r.id)
                    .execute(&mut *tx)
                    .await?;
            }
            return Ok(());
        }
        // The tenant's cached catalog is loaded again after a removal ([`catalogs_to_reload`]),
        // so only the table and this batch's pending writes change here.
        BillingRemovable::Actions => "actions",
        BillingRemovable::ActionPlan => {
            // The bindings to it go: the tenant's, or for a global plan every tenant's that
            // has no plan of its own of the ID (written first, so this batch's count).
            b.write_catalog(tx).await?;
            sqlx::query(
                "DELETE FROM billing_plan_bindings b WHERE b.plan_id = $2 AND (b.tenant = $1 OR ($1 = $3 \
                 AND NOT EXISTS (SELECT 1 FROM billing_catalog c \
                   WHERE c.tenant = b.tenant AND c.kind = 'plan' AND c.id = b.plan_id)))",
            )
            .bind(tenant)
            .bind(&r.id)
            .bind(simledger_billing::GLOBAL_TENANT)
            .execute(&mut *tx)
            .await?;
            "plan"
        }
        BillingRemovable::TriggerGroup => {
            // One trigger out of a group of the tenant's own that keeps others: the group is
            // written again.
            if let Some(unique) = &r.unique_id {
                let mut group = b.own_trigger_group(tx, tenant, &r.id).await?;
                group.retain(|t| &t.unique_id != unique);
                if !group.is_empty() {
                    b.catalog_writes.insert((tenant.clone(), "triggers", r.id.clone()), serde_json::to_value(&group)?);
                    return Ok(());
                }
            }
            "triggers"
        }
    };
    // The entry goes from this batch's pending writes and from the table.
    b.catalog_writes.remove(&(tenant.clone(), kind, r.id.clone()));
    sqlx::query("DELETE FROM billing_catalog WHERE tenant = $1 AND kind = $2 AND id = $3")
        .bind(tenant)
        .bind(kind)
        .bind(&r.id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}
