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
//!   of them (`billing_registry.rs`), never from the registry as it is now, so a replay
//!   ([`Billing::replaying`]) decides exactly what the live fold did and appends none of that.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use simledger_billing::{Account, Catalog, DebitMode, DebitRequest, Effect, Outcome, Rate};
use simledger_eventlog::catalog::{
    BalanceDebited, BillingExportRequested, BillingHttpPostRequested, BillingRemovable, BillingRemoved,
    ConnectionEvent, ExternalCdr, FleetUpdated, SimStatus, SimStatusChanged, SmsEvent,
};
use simledger_eventlog::{Event, EventLog, ExpectedVersion, Metadata, NewEvent, RecordedEvent};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{BoxError, Projection, Subscriber};

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
    async fn emit(&self, derived: Vec<(i64, NewEvent)>) -> Result<(), BoxError> {
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

/// Accounts and catalogs as this worker last wrote them, so a batch reads from the database only
/// what it has not seen. Sound because only this projection writes its tables and a worker lives
/// only while its batches commit (the runner drops it on any failure, and a fresh one starts
/// with an empty cache); a write by anyone else (a replay, another process's worker) moves the
/// checkpoint's `updated_at` away from the one this worker last committed, which empties it.
#[derive(Clone, Default)]
struct Cache {
    accounts: HashMap<(String, String), Option<Account>>,
    catalogs: HashMap<String, Catalog>,
    /// `now()` of the last transaction this worker applied a batch in: the checkpoint's
    /// `updated_at` for as long as no one else advances it.
    committed_at: Option<DateTime<Utc>>,
}

impl Cache {
    /// Past this many accounts the cache starts again empty (memory stays bounded).
    const MAX_ACCOUNTS: usize = 250_000;

    /// Empties the cache unless the checkpoint was last advanced by this worker.
    async fn validate(&mut self, tx: &mut PgConnection, name: &str, shard: i32) -> Result<(), BoxError> {
        let (updated_at, now): (Option<DateTime<Utc>>, DateTime<Utc>) =
            sqlx::query_as("SELECT (SELECT updated_at FROM checkpoints WHERE name = $1 AND shard = $2), now()")
                .bind(name)
                .bind(shard)
                .fetch_one(&mut *tx)
                .await?;
        if self.committed_at.is_none() || updated_at != self.committed_at {
            self.accounts.clear();
            self.catalogs.clear();
        }
        // The checkpoint advance in this transaction stamps `updated_at = now()`.
        self.committed_at = Some(now);
        Ok(())
    }
}

impl Projection for Billing {
    const TABLES: &'static [&'static str] = &[
        "billing_accounts",
        "billing_catalog",
        "billing_plan_bindings",
        "billing_operator_rates",
        "billing_sims",
        "billing_fleets",
    ];
}

/// One batch's working set: accounts and catalogs loaded once, written back once.
#[derive(Default)]
struct Batch {
    accounts: HashMap<(String, String), Option<Account>>,
    dirty: Vec<(String, String)>,
    catalogs: HashMap<String, Catalog>,
    catalog_writes: BTreeMap<(String, &'static str, String), serde_json::Value>,
    /// Decisions, each with the position of the event that caused it.
    derived: Vec<(i64, NewEvent)>,
    rates: HashMap<(&'static str, String), Option<Rate>>,
}

impl Batch {
    async fn account(
        &mut self,
        tx: &mut PgConnection,
        tenant: &str,
        id: &str,
    ) -> Result<Option<&mut Account>, BoxError> {
        let key = (tenant.to_owned(), id.to_owned());
        if !self.accounts.contains_key(&key) {
            let doc: Option<sqlx::types::Json<Account>> =
                sqlx::query_scalar("SELECT doc FROM billing_accounts WHERE tenant = $1 AND account = $2")
                    .bind(tenant)
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
            self.accounts.insert(key.clone(), doc.map(|d| d.0));
        }
        Ok(self.accounts.get_mut(&key).and_then(Option::as_mut))
    }

    async fn account_or_new(
        &mut self,
        tx: &mut PgConnection,
        tenant: &str,
        id: &str,
    ) -> Result<&mut Account, BoxError> {
        if self.account(tx, tenant, id).await?.is_none() {
            self.accounts.insert((tenant.to_owned(), id.to_owned()), Some(Account::new(tenant, id)));
        }
        Ok(self.account(tx, tenant, id).await?.expect("just made"))
    }

    /// Loads every account the batch may touch in one query.
    async fn prefetch(&mut self, tx: &mut PgConnection, keys: Vec<(String, String)>) -> Result<(), BoxError> {
        let keys: Vec<(String, String)> = keys.into_iter().filter(|k| !self.accounts.contains_key(k)).collect();
        if keys.is_empty() {
            return Ok(());
        }
        let (tenants, ids): (Vec<String>, Vec<String>) = keys.iter().cloned().unzip();
        let found: Vec<(String, String, sqlx::types::Json<Account>)> = sqlx::query_as(
            "SELECT a.tenant, a.account, a.doc FROM billing_accounts a \
             JOIN unnest($1::text[], $2::text[]) AS k(tenant, account) ON a.tenant = k.tenant AND a.account = k.account",
        )
        .bind(&tenants)
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await?;
        for key in keys {
            self.accounts.entry(key).or_insert(None);
        }
        for (tenant, id, doc) in found {
            self.accounts.insert((tenant, id), Some(doc.0));
        }
        Ok(())
    }

    /// The price of usage past the unit balances, looked up once per batch.
    async fn rate(
        &mut self,
        tx: &mut PgConnection,
        tor: &'static str,
        destination: &str,
    ) -> Result<Option<Rate>, BoxError> {
        let key = (tor, destination.to_owned());
        if let Some(r) = self.rates.get(&key) {
            return Ok(r.clone());
        }
        let r = rate(tx, tor, destination).await?;
        self.rates.insert(key, r.clone());
        Ok(r)
    }

    fn touch(&mut self, tenant: &str, id: &str) {
        self.dirty.push((tenant.to_owned(), id.to_owned()));
    }

    async fn catalog(&mut self, tx: &mut PgConnection, tenant: &str) -> Result<&mut Catalog, BoxError> {
        if !self.catalogs.contains_key(tenant) {
            let rows: Vec<(String, String, serde_json::Value)> =
                sqlx::query_as("SELECT kind, id, doc FROM billing_catalog WHERE tenant = $1")
                    .bind(tenant)
                    .fetch_all(&mut *tx)
                    .await?;
            self.catalogs.insert(tenant.to_owned(), catalog_from_rows(rows)?);
        }
        Ok(self.catalogs.get_mut(tenant).expect("just loaded"))
    }

    async fn write(&mut self, tx: &mut PgConnection) -> Result<(), BoxError> {
        self.dirty.sort();
        self.dirty.dedup();
        let (mut tenants, mut ids, mut docs) = (Vec::new(), Vec::new(), Vec::new());
        for key in std::mem::take(&mut self.dirty) {
            if let Some(Some(account)) = self.accounts.get(&key) {
                docs.push(serde_json::to_string(account)?);
                tenants.push(key.0);
                ids.push(key.1);
            }
        }
        if !docs.is_empty() {
            sqlx::query(
                "INSERT INTO billing_accounts (tenant, account, doc) \
                 SELECT t, a, d::jsonb FROM unnest($1::text[], $2::text[], $3::text[]) AS u(t, a, d) \
                 ON CONFLICT (tenant, account) DO UPDATE SET doc = EXCLUDED.doc",
            )
            .bind(&tenants)
            .bind(&ids)
            .bind(&docs)
            .execute(&mut *tx)
            .await?;
        }
        for ((tenant, kind, id), doc) in std::mem::take(&mut self.catalog_writes) {
            sqlx::query(
                "INSERT INTO billing_catalog (tenant, kind, id, doc) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (tenant, kind, id) DO UPDATE SET doc = $4",
            )
            .bind(tenant)
            .bind(kind)
            .bind(id)
            .bind(doc)
            .execute(&mut *tx)
            .await?;
        }
        Ok(())
    }
}

/// Applies a `billing.removed`: in the batch's working set and in the tables at once, so a
/// later event of the same batch sees it gone (and one that makes it again writes it anew).
async fn remove(tx: &mut PgConnection, b: &mut Batch, r: &BillingRemoved) -> Result<(), BoxError> {
    let tenant = &r.tenant;
    let kind = match r.what {
        BillingRemovable::Account => {
            b.accounts.insert((tenant.clone(), r.id.clone()), None);
            for table in ["billing_accounts", "billing_plan_bindings"] {
                sqlx::query(&format!("DELETE FROM {table} WHERE tenant = $1 AND account = $2"))
                    .bind(tenant)
                    .bind(&r.id)
                    .execute(&mut *tx)
                    .await?;
            }
            return Ok(());
        }
        BillingRemovable::Actions => {
            b.catalog(tx, tenant).await?.actions.remove(&r.id);
            "actions"
        }
        BillingRemovable::ActionPlan => {
            b.catalog(tx, tenant).await?.plans.remove(&r.id);
            sqlx::query("DELETE FROM billing_plan_bindings WHERE tenant = $1 AND plan_id = $2")
                .bind(tenant)
                .bind(&r.id)
                .execute(&mut *tx)
                .await?;
            "plan"
        }
        BillingRemovable::TriggerGroup => {
            let groups = &mut b.catalog(tx, tenant).await?.trigger_groups;
            // One trigger out of a group that keeps others: the group is written again.
            let kept = match (&r.unique_id, groups.get_mut(&r.id)) {
                (Some(unique), Some(group)) => {
                    group.retain(|t| &t.unique_id != unique);
                    (!group.is_empty()).then(|| serde_json::to_value(&*group)).transpose()?
                }
                _ => None,
            };
            if let Some(doc) = kept {
                b.catalog_writes.insert((tenant.clone(), "triggers", r.id.clone()), doc);
                return Ok(());
            }
            groups.remove(&r.id);
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

/// An id derived from the event that caused a derived event.
fn derived_id(source: Uuid, what: &str) -> Uuid {
    Uuid::new_v5(&source, what.as_bytes())
}

/// Usage the fold debits: whose, what, and where.
struct Usage {
    tenant: String,
    /// Billing accounts to try, in order.
    accounts: Vec<String>,
    sim_sid: Option<String>,
    tor: simledger_billing::BalanceType,
    units: Decimal,
    destination: String,
    category: String,
    at: DateTime<Utc>,
}

fn data_usage(c: &ConnectionEvent) -> Option<Usage> {
    let bytes = c.data_total.filter(|b| *b > 0)?;
    let mut accounts = vec![c.sim_sid.clone()];
    accounts.extend(c.fleet_sid.clone());
    accounts.push(c.account_sid.clone());
    Some(Usage {
        tenant: c.account_sid.clone(),
        accounts,
        sim_sid: Some(c.sim_sid.clone()),
        tor: simledger_billing::BalanceType::Data,
        units: Decimal::from(bytes),
        destination: format!("{}{}", c.network.mcc, c.network.mnc),
        category: "data".into(),
        at: c.data_session_update_end_time.unwrap_or(c.timestamp),
    })
}

fn sms_usage(s: &SmsEvent) -> Option<Usage> {
    if s.account_sid.is_empty() {
        return None;
    }
    let destination = if s.direction == "from_sim" { "000".to_owned() } else { s.imsi.clone() };
    Some(Usage {
        tenant: s.account_sid.clone(),
        accounts: vec![s.sim_sid.clone(), s.account_sid.clone()],
        sim_sid: Some(s.sim_sid.clone()),
        tor: simledger_billing::BalanceType::Sms,
        units: Decimal::ONE,
        destination,
        category: "sms".into(),
        at: s.timestamp,
    })
}

fn external_usage(c: &ExternalCdr) -> Option<Usage> {
    // `*cdrlog` CDRs record billing's own actions; `*none` and `*rated` CDRs debit nothing.
    if c.source == crate::cdrs::CDRLOG_SOURCE
        || !["*prepaid", "*postpaid", "*pseudoprepaid"].contains(&c.request_type.as_str())
    {
        return None;
    }
    Some(Usage {
        tenant: c.tenant.clone(),
        accounts: vec![c.account.clone()],
        sim_sid: None,
        tor: simledger_billing::BalanceType::parse(&c.tor)?,
        units: Decimal::from(c.usage),
        destination: c.destination.clone(),
        category: c.category.clone(),
        at: c.answer_time,
    })
}

impl Subscriber for Billing {
    fn name(&self) -> &str {
        NAME
    }

    async fn apply(&mut self, tx: &mut PgConnection, events: &[RecordedEvent]) -> Result<(), BoxError> {
        // Taken for the batch and given back only when it is applied: a failed batch leaves
        // the cache empty (and the runner drops this worker anyway).
        let mut cache = std::mem::take(&mut self.cache);
        cache.validate(tx, NAME, self.log.shard()).await?;
        let mut b = Batch {
            accounts: std::mem::take(&mut cache.accounts),
            catalogs: std::mem::take(&mut cache.catalogs),
            ..Batch::default()
        };
        b.prefetch(tx, events.iter().flat_map(accounts_touched).collect()).await?;
        for e in events {
            crate::billing_registry::fold(tx, &e.event).await?;
            match &e.event {
                Event::OperatorRateSet(r) => {
                    crate::operator_rates::record(tx, crate::operator_rates::RateTable::Billing, r).await?;
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
                    let catalog = b.catalog(tx, &s.tenant).await?.clone();
                    let account = b.account_or_new(tx, &s.tenant, &s.account).await?;
                    let seed = e.event_id.to_string();
                    match simledger_billing::run_actions(account, &catalog, &s.actions, s.at, &seed) {
                        Ok(outcome) => {
                            b.touch(&s.tenant, &s.account);
                            let sim = s.account.starts_with("HS").then(|| s.account.clone());
                            derive_effects(tx, &mut b, e, &s.tenant, &s.account, sim.as_deref(), &outcome).await?;
                        }
                        // Commands check first; a race with another change can still refuse it.
                        Err(err) => tracing::warn!(event = %e.event_id, error = %err, "billing actions refused"),
                    }
                }
                Event::BillingActionsDefined(s) => {
                    b.catalog(tx, &s.tenant).await?.actions.insert(s.actions_id.clone(), s.actions.clone());
                    b.catalog_writes
                        .insert((s.tenant.clone(), "actions", s.actions_id.clone()), serde_json::to_value(&s.actions)?);
                }
                Event::BillingTriggersDefined(s) => {
                    let catalog = b.catalog(tx, &s.tenant).await?;
                    let group = catalog.trigger_groups.entry(s.group_id.clone()).or_default();
                    if s.overwrite {
                        group.clear();
                    }
                    for t in &s.triggers {
                        group.retain(|old| old.unique_id != t.unique_id);
                        group.push(t.clone());
                    }
                    let doc = serde_json::to_value(&*group)?;
                    b.catalog_writes.insert((s.tenant.clone(), "triggers", s.group_id.clone()), doc);
                }
                Event::BillingRateSet(s) => {
                    b.catalog(tx, &s.tenant).await?.rates.insert(s.rate.id.clone(), s.rate.clone());
                    b.catalog_writes
                        .insert((s.tenant.clone(), "rate", s.rate.id.clone()), serde_json::to_value(&s.rate)?);
                }
                Event::BillingRemoved(r) => remove(tx, &mut b, r).await?,
                Event::BillingActionPlanSet(s) => {
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
                            let sim = f.account.starts_with("HS").then(|| f.account.clone());
                            derive_effects(tx, &mut b, e, &f.tenant, &f.account, sim.as_deref(), &outcome).await?;
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
                    if let Some(u) = external_usage(c) {
                        debit(tx, &mut b, e, u).await?;
                    }
                }
                _ => {}
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
        self.cache = cache;
        Ok(())
    }
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
) -> Result<(), BoxError> {
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

/// The accounts an event may read or change, for the batch's prefetch.
fn accounts_touched(e: &RecordedEvent) -> Vec<(String, String)> {
    let usage = match &e.event {
        Event::DataSessionUpdated(c) | Event::DataSessionEnded(c) => data_usage(c),
        Event::SmsMoDelivered(s) | Event::SmsMtDelivered(s) => sms_usage(s),
        Event::CdrReceived(c) => external_usage(c),
        Event::BillingAccountSet(s) => return vec![(s.tenant.clone(), s.account.clone())],
        Event::BillingActionsApplied(s) => return vec![(s.tenant.clone(), s.account.clone())],
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

/// The price of usage past the unit balances: the longest prefix of its ToR among the
/// operator's rates, as folded here from the log (in force at the usage's place in it).
async fn rate(tx: &mut PgConnection, tor: &str, destination: &str) -> Result<Option<Rate>, BoxError> {
    let found = crate::operator_rates::price(tx, crate::operator_rates::RateTable::Billing, tor, destination).await?;
    Ok(found.map(|(price, unit)| Rate {
        price,
        unit: Decimal::from(unit),
        increment: Decimal::from(unit),
        rounding_decimals: 6,
    }))
}

async fn debit(tx: &mut PgConnection, b: &mut Batch, e: &RecordedEvent, u: Usage) -> Result<(), BoxError> {
    let mut holder = None;
    for id in &u.accounts {
        if b.account(tx, &u.tenant, id).await?.is_some() {
            holder = Some(id.clone());
            break;
        }
    }
    let Some(account_id) = holder else { return Ok(()) };
    // The tenant's own rate, else the operator's rate table.
    let rate = match b.catalog(tx, &u.tenant).await?.rate_for(u.tor.as_str(), &u.destination) {
        Some(own) => Some(own),
        None => b.rate(tx, u.tor.as_str(), &u.destination).await?,
    };
    // Taken out while the account is borrowed, put back below: no copy per debit.
    let catalog = b.catalogs.remove(&u.tenant).expect("loaded above");
    let req = DebitRequest {
        tor: u.tor,
        destination: u.destination.clone(),
        category: u.category.clone(),
        usage: u.units,
        at: u.at,
        factor_id: None,
        rate,
        mode: DebitMode::Usage,
    };
    let account = b.account(tx, &u.tenant, &account_id).await?.expect("found above");
    let seed = e.event_id.to_string();
    let debited = simledger_billing::debit_usage(account, &catalog, &req, &seed);
    b.catalogs.insert(u.tenant.clone(), catalog);
    let (result, outcome) = match debited {
        Ok(done) => done,
        Err(err) => {
            // A disabled account: the usage is not billed to it (its CDR still is).
            tracing::debug!(event = %e.event_id, account = %account_id, error = %err, "usage not debited");
            return Ok(());
        }
    };
    b.touch(&u.tenant, &account_id);
    let debited = Event::BalanceDebited(BalanceDebited {
        tenant: u.tenant.clone(),
        account: account_id.clone(),
        source_event_id: e.event_id,
        tor: u.tor,
        usage: u.units,
        at: u.at,
        debit: result,
        fired: outcome.fired.clone(),
    });
    let meta = Metadata::from_source(NAME).with_account(u.tenant.clone());
    let id = derived_id(e.event_id, &format!("balance.debited:{account_id}"));
    b.derived.push((e.position, NewEvent::new(id, format!("billing-{}-{account_id}", u.tenant), &debited, &meta)?));
    derive_effects(tx, b, e, &u.tenant, &account_id, u.sim_sid.as_deref(), &outcome).await
}

/// Turns a fold's effects into events (or log lines).
async fn derive_effects(
    tx: &mut PgConnection,
    b: &mut Batch,
    e: &RecordedEvent,
    tenant: &str,
    account: &str,
    sim: Option<&str>,
    outcome: &Outcome,
) -> Result<(), BoxError> {
    let meta = Metadata::from_source(NAME).with_account(tenant.to_owned());
    for (n, effect) in outcome.effects.iter().enumerate() {
        match effect {
            Effect::SimStatus { active } => {
                let Some(sim) = sim else {
                    tracing::warn!(account, "*suspend_sim/*resume_sim on an account that is not a SIM's");
                    continue;
                };
                // Only a SIM of the tenant: a billing account named after another tenant's SIM
                // must not reach it.
                let status = crate::billing_registry::sim_status(tx, tenant, sim).await?;
                let Some(from) = status else { continue };
                let to = if *active { SimStatus::Active } else { SimStatus::Inactive };
                if from == to || (*active && from != SimStatus::Inactive) {
                    continue;
                }
                let change = Event::SimStatusChanged(SimStatusChanged {
                    sim_sid: sim.to_owned(),
                    account_sid: tenant.to_owned(),
                    from,
                    to,
                    reason: Some(format!("billing:{}", if *active { "*resume_sim" } else { "*suspend_sim" })),
                });
                let id = derived_id(e.event_id, &format!("sim_status:{n}"));
                b.derived.push((e.position, NewEvent::new(id, format!("sim-{sim}"), &change, &meta)?));
            }
            Effect::CdrLog { action_type, balance_id, balance_type, value } => {
                let origin_id = derived_id(e.event_id, &format!("cdrlog:{n}")).to_string();
                let cdr = Event::CdrReceived(ExternalCdr {
                    cgrid: crate::cdrs::cgrid(&origin_id, "billing"),
                    run_id: action_type.clone(),
                    origin_host: "billing".into(),
                    source: crate::cdrs::CDRLOG_SOURCE.into(),
                    origin_id: origin_id.clone(),
                    tor: balance_type.as_str().into(),
                    request_type: "*none".into(),
                    tenant: tenant.to_owned(),
                    category: balance_id.clone(),
                    account: account.to_owned(),
                    subject: account.to_owned(),
                    destination: String::new(),
                    setup_time: e.recorded_at,
                    answer_time: e.recorded_at,
                    usage: 1,
                    extra_fields: BTreeMap::new(),
                    cost: Some(*value),
                });
                let id = derived_id(e.event_id, &format!("cdrlog-event:{n}"));
                b.derived.push((e.position, NewEvent::new(id, format!("cdr-{tenant}"), &cdr, &meta)?));
            }
            Effect::SetFleetDataLimit { fleet, megabytes } => {
                let fleet = match fleet {
                    Some(f) => Some(f.clone()),
                    None if account.starts_with("HF") => Some(account.to_owned()),
                    None => match sim {
                        Some(sim) => crate::billing_registry::sim_fleet(tx, tenant, sim).await?,
                        None => None,
                    },
                };
                // Only the tenant's own fleet, and only when the limit changes.
                let current = match &fleet {
                    Some(f) => crate::billing_registry::fleet_limit(tx, tenant, f).await?.map(|l| (f.clone(), l)),
                    None => None,
                };
                let Some((fleet_sid, limit)) = current else {
                    tracing::warn!(account, ?fleet, "*set_fleet_data_limit: no fleet of the tenant to set");
                    continue;
                };
                if limit == *megabytes {
                    continue;
                }
                let change = Event::FleetUpdated(FleetUpdated {
                    fleet_sid: fleet_sid.clone(),
                    account_sid: tenant.to_owned(),
                    data_limit_mb: Some(*megabytes),
                    ..Default::default()
                });
                let id = derived_id(e.event_id, &format!("fleet_limit:{n}"));
                b.derived.push((e.position, NewEvent::new(id, format!("fleet-{fleet_sid}"), &change, &meta)?));
            }
            Effect::HttpPost { url, account: snapshot } => {
                let post = Event::BillingHttpPostRequested(BillingHttpPostRequested {
                    tenant: tenant.to_owned(),
                    account: account.to_owned(),
                    url: url.clone(),
                    body: serde_json::to_string(&simledger_eventlog::cgr::AccountView::from(&**snapshot))?,
                });
                let id = derived_id(e.event_id, &format!("http_post:{n}"));
                b.derived.push((e.position, NewEvent::new(id, format!("billing-{tenant}-{account}"), &post, &meta)?));
            }
            Effect::Log { account } => {
                tracing::info!(account = %serde_json::to_string(account).unwrap_or_default(), "billing *log")
            }
            Effect::Export { exporter_ids, account: snapshot } => {
                let export = Event::BillingExportRequested(BillingExportRequested {
                    tenant: tenant.to_owned(),
                    account: account.to_owned(),
                    exporter_ids: exporter_ids.clone(),
                    account_view: serde_json::to_string(&simledger_eventlog::cgr::AccountView::from(&**snapshot))?,
                });
                let id = derived_id(e.event_id, &format!("export:{n}"));
                b.derived.push((e.position, NewEvent::new(id, format!("billing-{tenant}-{account}"), &export, &meta)?));
            }
        }
    }
    Ok(())
}

/// A tenant's definitions from its `billing_catalog` rows `(kind, id, doc)`.
fn catalog_from_rows(rows: Vec<(String, String, serde_json::Value)>) -> Result<Catalog, serde_json::Error> {
    let mut catalog = Catalog::default();
    for (kind, id, doc) in rows {
        match kind.as_str() {
            "actions" => {
                catalog.actions.insert(id, serde_json::from_value(doc)?);
            }
            "triggers" => {
                catalog.trigger_groups.insert(id, serde_json::from_value(doc)?);
            }
            "plan" => {
                catalog.plans.insert(id, serde_json::from_value(doc)?);
            }
            "rate" => {
                catalog.rates.insert(id, serde_json::from_value(doc)?);
            }
            _ => {
                let prefixes: Vec<String> = serde_json::from_value(doc)?;
                catalog.destinations.set(&id, prefixes);
            }
        }
    }
    Ok(catalog)
}

/// Queries the API answers from.
pub mod read {
    use chrono::{DateTime, Utc};
    use simledger_billing::{Account, Catalog};
    use sqlx::PgPool;

    pub async fn account(pool: &PgPool, tenant: &str, account: &str) -> sqlx::Result<Option<Account>> {
        let doc: Option<sqlx::types::Json<Account>> =
            sqlx::query_scalar("SELECT doc FROM billing_accounts WHERE tenant = $1 AND account = $2")
                .bind(tenant)
                .bind(account)
                .fetch_optional(pool)
                .await?;
        Ok(doc.map(|d| d.0))
    }

    /// The tenant's accounts named in `ids` (those that exist), by ID.
    pub async fn accounts_named(pool: &PgPool, tenant: &str, ids: &[String]) -> sqlx::Result<Vec<Account>> {
        let docs: Vec<sqlx::types::Json<Account>> = sqlx::query_scalar(
            "SELECT doc FROM billing_accounts WHERE tenant = $1 AND account = ANY($2) ORDER BY account",
        )
        .bind(tenant)
        .bind(ids)
        .fetch_all(pool)
        .await?;
        Ok(docs.into_iter().map(|d| d.0).collect())
    }

    /// The tenant's accounts by ID, `offset` skipped, at most `limit`.
    pub async fn accounts_at(pool: &PgPool, tenant: &str, offset: i64, limit: i64) -> sqlx::Result<Vec<Account>> {
        let docs: Vec<sqlx::types::Json<Account>> = sqlx::query_scalar(
            "SELECT doc FROM billing_accounts WHERE tenant = $1 ORDER BY account OFFSET $2 LIMIT $3",
        )
        .bind(tenant)
        .bind(offset)
        .bind(limit)
        .fetch_all(pool)
        .await?;
        Ok(docs.into_iter().map(|d| d.0).collect())
    }

    pub async fn accounts(pool: &PgPool, tenant: &str, after: &str, limit: i64) -> sqlx::Result<Vec<Account>> {
        let docs: Vec<sqlx::types::Json<Account>> = sqlx::query_scalar(
            "SELECT doc FROM billing_accounts WHERE tenant = $1 AND account > $2 ORDER BY account LIMIT $3",
        )
        .bind(tenant)
        .bind(after)
        .bind(limit)
        .fetch_all(pool)
        .await?;
        Ok(docs.into_iter().map(|d| d.0).collect())
    }
    #[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
    pub struct PlanBinding {
        pub plan_id: String,
        pub account: String,
        pub timing_index: i32,
        pub anchor: DateTime<Utc>,
        pub last_fired: Option<DateTime<Utc>>,
    }

    /// Which accounts each of a tenant's action plans is bound to, and when each timing last fired.
    pub async fn plan_bindings(pool: &PgPool, tenant: &str, limit: i64) -> sqlx::Result<Vec<PlanBinding>> {
        sqlx::query_as(
            "SELECT plan_id, account, timing_index, anchor, last_fired FROM billing_plan_bindings \
             WHERE tenant = $1 ORDER BY plan_id, account, timing_index LIMIT $2",
        )
        .bind(tenant)
        .bind(limit)
        .fetch_all(pool)
        .await
    }

    /// The tenant's definitions (destinations, action groups, trigger groups, plans).
    pub async fn catalog(pool: &PgPool, tenant: &str) -> sqlx::Result<Catalog> {
        let rows: Vec<(String, String, serde_json::Value)> =
            sqlx::query_as("SELECT kind, id, doc FROM billing_catalog WHERE tenant = $1")
                .bind(tenant)
                .fetch_all(pool)
                .await?;
        super::catalog_from_rows(rows).map_err(|e| sqlx::Error::Decode(e.into()))
    }
}
