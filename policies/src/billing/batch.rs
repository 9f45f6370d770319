//! One batch's working set of accounts and catalogs, and the cache that carries it between
//! batches.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use simledger_billing::{Account, Catalog, Rate};
use simledger_eventlog::NewEvent;
use sqlx::PgConnection;

use super::usage::rate;
use simledger_projections::ApplyError;

/// Accounts and catalogs as this worker last wrote them, so a batch reads from the database only
/// what it has not seen. Sound because only this projection writes its tables and a worker lives
/// only while its batches commit (the runner drops it on any failure, and a fresh one starts
/// with an empty cache); a write by anyone else (a replay, another process's worker) moves the
/// checkpoint's `updated_at` away from the one this worker last committed, which empties it.
#[derive(Clone, Default)]
pub(super) struct Cache {
    pub(super) accounts: HashMap<(String, String), Option<Account>>,
    pub(super) catalogs: HashMap<String, Catalog>,
    /// `now()` of the last transaction this worker applied a batch in: the checkpoint's
    /// `updated_at` for as long as no one else advances it.
    pub(super) committed_at: Option<DateTime<Utc>>,
    /// Where billing's rule changes take effect in this shard's log; read once per worker.
    pub(super) upgrade_points: Option<UpgradePoints>,
    /// Whether any account belongs to a shared group: until one does, writing accounts
    /// checks no membership.
    pub(super) members_exist: Option<bool>,
}

/// The last positions folded by billing's earlier rules (`billing_upgrade_points`): events
/// after them follow the current ones.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct UpgradePoints {
    pub(super) charger_runs: i64,
    pub(super) plan_rebinds: i64,
}

impl UpgradePoints {
    pub(super) async fn load(tx: &mut PgConnection, shard: i32) -> Result<Self, ApplyError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT name, until_position FROM billing_upgrade_points WHERE shard = $1")
                .bind(shard)
                .fetch_all(&mut *tx)
                .await?;
        let until = |name: &str| rows.iter().find(|(n, _)| n == name).map_or(0, |(_, p)| *p);
        Ok(Self { charger_runs: until("charger_runs"), plan_rebinds: until("plan_rebinds") })
    }
}

impl Cache {
    /// Past this many accounts the cache starts again empty (memory stays bounded).
    pub(super) const MAX_ACCOUNTS: usize = 250_000;

    /// Empties the cache unless the checkpoint was last advanced by this worker.
    pub(super) async fn validate(&mut self, tx: &mut PgConnection, name: &str, shard: i32) -> Result<(), ApplyError> {
        let (updated_at, now): (Option<DateTime<Utc>>, DateTime<Utc>) =
            sqlx::query_as("SELECT (SELECT updated_at FROM checkpoints WHERE name = $1 AND shard = $2), now()")
                .bind(name)
                .bind(shard)
                .fetch_one(&mut *tx)
                .await?;
        if self.committed_at.is_none() || updated_at != self.committed_at {
            self.accounts.clear();
            self.catalogs.clear();
            self.members_exist = None;
        }
        // The checkpoint advance in this transaction stamps `updated_at = now()`.
        self.committed_at = Some(now);
        Ok(())
    }
}

/// One batch's working set: accounts and catalogs loaded once, written back once.
#[derive(Default)]
pub(super) struct Batch {
    pub(super) accounts: HashMap<(String, String), Option<Account>>,
    pub(super) dirty: Vec<(String, String)>,
    pub(super) catalogs: HashMap<String, Catalog>,
    pub(super) catalog_writes: BTreeMap<(String, &'static str, String), serde_json::Value>,
    /// Decisions, each with the position of the event that caused it.
    pub(super) derived: Vec<(i64, NewEvent)>,
    pub(super) rates: HashMap<(simledger_billing::Tor, String), Option<Rate>>,
    /// Tenants' charger profiles, as folded so far.
    pub(super) chargers: HashMap<String, Vec<simledger_billing::ChargerProfile>>,
    pub(super) upgrade_points: UpgradePoints,
    /// Whether any account belongs to a shared group (see [`Cache::members_exist`]).
    pub(super) members_exist: bool,
    /// Accounts changed in this batch that hold a balance in a shared group, by tenant and
    /// group: members the table does not show yet.
    pub(super) joined: HashMap<(String, String), BTreeSet<String>>,
}

impl Batch {
    pub(super) async fn account(
        &mut self,
        tx: &mut PgConnection,
        tenant: &str,
        id: &str,
    ) -> Result<Option<&mut Account>, ApplyError> {
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

    pub(super) async fn account_or_new(
        &mut self,
        tx: &mut PgConnection,
        tenant: &str,
        id: &str,
    ) -> Result<&mut Account, ApplyError> {
        if self.account(tx, tenant, id).await?.is_none() {
            self.accounts.insert((tenant.to_owned(), id.to_owned()), Some(Account::new(tenant, id)));
        }
        Ok(self.account(tx, tenant, id).await?.expect("just made"))
    }

    /// Loads every account the batch may touch in one query.
    pub(super) async fn prefetch(
        &mut self,
        tx: &mut PgConnection,
        keys: Vec<(String, String)>,
    ) -> Result<(), ApplyError> {
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
    pub(super) async fn rate(
        &mut self,
        tx: &mut PgConnection,
        tor: simledger_billing::Tor,
        destination: &str,
    ) -> Result<Option<Rate>, ApplyError> {
        let key = (tor, destination.to_owned());
        if let Some(r) = self.rates.get(&key) {
            return Ok(r.clone());
        }
        let r = rate(tx, tor, destination).await?;
        self.rates.insert(key, r.clone());
        Ok(r)
    }

    /// The tenant's charger profiles, loaded once per batch (and again after a change).
    pub(super) async fn chargers(
        &mut self,
        tx: &mut PgConnection,
        tenant: &str,
    ) -> Result<&[simledger_billing::ChargerProfile], ApplyError> {
        if !self.chargers.contains_key(tenant) {
            let docs: Vec<sqlx::types::Json<simledger_billing::ChargerProfile>> =
                sqlx::query_scalar("SELECT doc FROM billing_chargers WHERE tenant = $1 ORDER BY id")
                    .bind(tenant)
                    .fetch_all(&mut *tx)
                    .await?;
            self.chargers.insert(tenant.to_owned(), docs.into_iter().map(|d| d.0).collect());
        }
        Ok(&self.chargers[tenant])
    }

    pub(super) fn touch(&mut self, tenant: &str, id: &str) {
        let key = (tenant.to_owned(), id.to_owned());
        if let Some(Some(account)) = self.accounts.get(&key) {
            for group in simledger_billing::debit::shared_groups_of(account) {
                self.joined.entry((tenant.to_owned(), group)).or_default().insert(id.to_owned());
            }
        }
        self.dirty.push(key);
    }

    pub(super) async fn catalog(&mut self, tx: &mut PgConnection, tenant: &str) -> Result<&mut Catalog, ApplyError> {
        if !self.catalogs.contains_key(tenant) {
            let rows: Vec<(String, String, serde_json::Value)> = sqlx::query_as(CATALOG_ROWS)
                .bind(tenant)
                .bind(simledger_billing::GLOBAL_TENANT)
                .fetch_all(&mut *tx)
                .await?;
            self.catalogs.insert(tenant.to_owned(), catalog_from_rows(rows)?);
        }
        Ok(self.catalogs.get_mut(tenant).expect("just loaded"))
    }

    pub(super) async fn write(&mut self, tx: &mut PgConnection) -> Result<(), ApplyError> {
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
        self.write_memberships(tx, &tenants, &ids).await?;
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
        self.write_catalog(tx).await
    }

    /// Keeps the written accounts' shared-group memberships current: a member is an account
    /// that holds a balance in the group now, so a debit of another member finds it, and one
    /// whose balances left the group is no longer drawn on or counted. In this batch's
    /// transaction, beside the accounts.
    async fn write_memberships(
        &mut self,
        tx: &mut PgConnection,
        tenants: &[String],
        ids: &[String],
    ) -> Result<(), ApplyError> {
        let (mut m_tenants, mut m_groups, mut m_ids) = (Vec::new(), Vec::new(), Vec::new());
        for (tenant, id) in tenants.iter().zip(ids) {
            let Some(Some(account)) = self.accounts.get(&(tenant.clone(), id.clone())) else { continue };
            for group in simledger_billing::debit::shared_groups_of(account) {
                m_tenants.push(tenant.clone());
                m_groups.push(group);
                m_ids.push(id.clone());
            }
        }
        if !self.members_exist && m_tenants.is_empty() {
            return Ok(());
        }
        self.members_exist = true;
        sqlx::query(
            "DELETE FROM billing_shared_group_members m \
             USING unnest($1::text[], $2::text[]) AS w(tenant, account) \
             WHERE m.tenant = w.tenant AND m.account = w.account AND NOT EXISTS ( \
               SELECT 1 FROM unnest($3::text[], $4::text[], $5::text[]) AS k(tenant, group_id, account) \
               WHERE k.tenant = m.tenant AND k.group_id = m.group_id AND k.account = m.account)",
        )
        .bind(tenants)
        .bind(ids)
        .bind(&m_tenants)
        .bind(&m_groups)
        .bind(&m_ids)
        .execute(&mut *tx)
        .await?;
        if m_tenants.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO billing_shared_group_members (tenant, group_id, account) \
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) ON CONFLICT DO NOTHING",
        )
        .bind(&m_tenants)
        .bind(&m_groups)
        .bind(&m_ids)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }

    /// The accounts of `tenant` other than `except` that ever held a balance in one of
    /// `groups`, loaded into the batch, at most [`simledger_billing::shared_group::MAX_MEMBERS`].
    pub(super) async fn shared_group_members(
        &mut self,
        tx: &mut PgConnection,
        tenant: &str,
        except: &str,
        groups: &[String],
    ) -> Result<Vec<String>, ApplyError> {
        // Members that joined earlier in this batch are not in the table yet; those in it may
        // have left since. Either way, what counts is who holds a balance in a group now.
        let mut members: BTreeSet<String> = groups
            .iter()
            .flat_map(|g| self.joined.get(&(tenant.to_owned(), g.clone())).into_iter().flatten())
            .filter(|id| id.as_str() != except)
            .cloned()
            .collect();
        let stored: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT account FROM billing_shared_group_members \
             WHERE tenant = $1 AND group_id = ANY($2) AND account <> $3 ORDER BY account LIMIT $4",
        )
        .bind(tenant)
        .bind(groups)
        .bind(except)
        .bind(2 * simledger_billing::shared_group::MAX_MEMBERS as i64)
        .fetch_all(&mut *tx)
        .await?;
        members.extend(stored);
        let keys = members.iter().map(|m| (tenant.to_owned(), m.clone())).collect();
        self.prefetch(tx, keys).await?;
        let mut holding: Vec<String> = members
            .into_iter()
            .filter(|m| {
                self.accounts.get(&(tenant.to_owned(), m.clone())).and_then(Option::as_ref).is_some_and(|a| {
                    a.balance_map.values().flatten().any(|b| groups.iter().any(|g| b.shared_groups.contains(g)))
                })
            })
            .collect();
        if holding.len() > simledger_billing::shared_group::MAX_MEMBERS {
            tracing::warn!(
                tenant,
                ?groups,
                members = holding.len(),
                "a shared group has more members than a debit draws on; the first by account ID are used"
            );
            holding.truncate(simledger_billing::shared_group::MAX_MEMBERS);
        }
        Ok(holding)
    }

    /// The tenant's own trigger group `id` as this batch has it: its pending write, else its
    /// row; never the global group of that ID, which a tenant's change must not copy in.
    pub(super) async fn own_trigger_group(
        &self,
        tx: &mut PgConnection,
        tenant: &str,
        id: &str,
    ) -> Result<Vec<simledger_billing::ActionTrigger>, ApplyError> {
        let pending = self.catalog_writes.get(&(tenant.to_owned(), "triggers", id.to_owned())).cloned();
        let doc = match pending {
            Some(doc) => Some(doc),
            None => {
                sqlx::query_scalar(OWN_DEFINITION)
                    .bind(tenant)
                    .bind("triggers")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?
            }
        };
        Ok(doc.map(serde_json::from_value).transpose()?.unwrap_or_default())
    }

    /// After a change to `tenant`'s definitions that the cached catalogs cannot follow by
    /// themselves (a removal, which uncovers a global definition; any change to the global
    /// ones, which every tenant reads): the changes so far are written, and the catalogs it
    /// touches are loaded again when next read.
    pub(super) async fn reload_catalogs_of(&mut self, tx: &mut PgConnection, tenant: &str) -> Result<(), ApplyError> {
        self.write_catalog(tx).await?;
        if tenant == simledger_billing::GLOBAL_TENANT {
            self.catalogs.clear();
        } else {
            self.catalogs.remove(tenant);
        }
        Ok(())
    }

    /// Writes the catalog changes made so far.
    pub(super) async fn write_catalog(&mut self, tx: &mut PgConnection) -> Result<(), ApplyError> {
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

/// A tenant's `billing_catalog` rows (`$1`) with the global definitions (`$2`: destinations,
/// actions, trigger groups and plans, all global in CGrateS) before them, so that
/// [`catalog_from_rows`] lets the tenant's own definition of an ID replace the global one.
/// Rates stay the tenant's.
pub(super) const CATALOG_ROWS: &str = "SELECT kind, id, doc FROM billing_catalog \
     WHERE tenant = $1 OR (tenant = $2 AND kind <> 'rate') ORDER BY tenant = $1";

/// A tenant's own definition of a kind and ID (`$1`, `$2`, `$3`), never the global one.
pub(super) const OWN_DEFINITION: &str = "SELECT doc FROM billing_catalog WHERE tenant = $1 AND kind = $2 AND id = $3";

/// A tenant's definitions from its `billing_catalog` rows `(kind, id, doc)`, later rows
/// replacing earlier ones of the same kind and ID.
pub(super) fn catalog_from_rows(rows: Vec<(String, String, serde_json::Value)>) -> Result<Catalog, serde_json::Error> {
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
            "timing" => {
                catalog.timings.insert(id, serde_json::from_value(doc)?);
            }
            "shared_group" => {
                catalog.shared_groups.insert(id, serde_json::from_value(doc)?);
            }
            _ => {
                let prefixes: Vec<String> = serde_json::from_value(doc)?;
                catalog.destinations.set(&id, prefixes);
            }
        }
    }
    Ok(catalog)
}
