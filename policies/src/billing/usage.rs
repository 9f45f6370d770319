//! Usage the fold debits: from PGW windows, delivered SMS and external CDRs, priced past the
//! unit balances by the tenant's rates, else the operator's.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use simledger_billing::{DebitMode, DebitRequest, Rate};
use simledger_eventlog::catalog::{BalanceDebited, ConnectionEvent, ExternalCdr, SmsEvent};
use simledger_eventlog::{Event, Metadata, NewEvent, RecordedEvent};
use sqlx::PgConnection;

use super::batch::Batch;
use super::effects::{derive_effects, derived_id};
use super::NAME;
use simledger_projections::ApplyError;

/// Usage the fold debits: whose, what, and where.
pub(super) struct Usage {
    pub(super) tenant: String,
    /// Billing accounts to try, in order.
    pub(super) accounts: Vec<String>,
    pub(super) sim_sid: Option<String>,
    pub(super) tor: simledger_billing::BalanceType,
    pub(super) units: Decimal,
    pub(super) destination: String,
    pub(super) category: String,
    pub(super) at: DateTime<Utc>,
    /// A charger run other than the CDR's own: its debit's ids derive from the run too.
    pub(super) run: Option<String>,
}

pub(super) fn data_usage(c: &ConnectionEvent) -> Option<Usage> {
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
        run: None,
    })
}

pub(super) fn sms_usage(s: &SmsEvent) -> Option<Usage> {
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
        run: None,
    })
}

pub(super) fn external_usage(c: &ExternalCdr) -> Option<Usage> {
    // `*cdrlog` CDRs record billing's own actions; `*none` and `*rated` CDRs debit nothing.
    if c.source == simledger_projections::cdrs::CDRLOG_SOURCE
        || !["*prepaid", "*postpaid", "*pseudoprepaid"].contains(&c.request_type.as_str())
    {
        return None;
    }
    Some(Usage {
        tenant: c.tenant.clone(),
        accounts: vec![c.account.clone()],
        sim_sid: None,
        tor: c.tor,
        units: Decimal::from(c.usage),
        destination: c.destination.clone(),
        category: c.category.clone(),
        at: c.answer_time,
        run: None,
    })
}

/// The price of usage past the unit balances: the longest prefix of its ToR among the
/// operator's rates, as folded here from the log (in force at the usage's place in it).
pub(super) async fn rate(
    tx: &mut PgConnection,
    tor: simledger_billing::Tor,
    destination: &str,
) -> Result<Option<Rate>, ApplyError> {
    let found = simledger_projections::operator_rates::price(
        tx,
        simledger_projections::operator_rates::RateTable::Billing,
        tor,
        destination,
    )
    .await?;
    Ok(found.map(|(price, unit)| Rate {
        price,
        unit: Decimal::from(unit),
        increment: Decimal::from(unit),
        rounding_decimals: 6,
    }))
}

pub(super) async fn debit(tx: &mut PgConnection, b: &mut Batch, e: &RecordedEvent, u: Usage) -> Result<(), ApplyError> {
    match &u.run {
        None => debit_as(tx, b, e, u, e.event_id).await,
        // Another run of the same CDR is its own cause: its debit, effects and balance UUIDs get
        // ids of their own, derived from the CDR's event and the run.
        Some(run) => {
            let cause = RecordedEvent { event_id: derived_id(e.event_id, &format!("run:{run}")), ..e.clone() };
            debit_as(tx, b, &cause, u, e.event_id).await
        }
    }
}

/// Debits `u` as caused by `e`; the debit records `source_event_id`, the usage's own event.
async fn debit_as(
    tx: &mut PgConnection,
    b: &mut Batch,
    e: &RecordedEvent,
    u: Usage,
    source_event_id: uuid::Uuid,
) -> Result<(), ApplyError> {
    let mut holder = None;
    for id in &u.accounts {
        if b.account(tx, &u.tenant, id).await?.is_some() {
            holder = Some(id.clone());
            break;
        }
    }
    let Some(account_id) = holder else { return Ok(()) };
    // The tenant's own rate, else the operator's rate table.
    let rate = match b.catalog(tx, &u.tenant).await?.rate_for(u.tor, &u.destination) {
        Some(own) => Some(own),
        None => b.rate(tx, u.tor, &u.destination).await?,
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
    // The other members of the shared groups its balances name, taken out of the batch for
    // the debit and put back after it.
    let account = b.account(tx, &u.tenant, &account_id).await?.expect("found above");
    let groups: Vec<String> = simledger_billing::debit::shared_groups_of(account)
        .into_iter()
        .filter(|g| catalog.shared_groups.contains_key(g))
        .collect();
    let mut members: Vec<simledger_billing::Account> = Vec::new();
    if !groups.is_empty() {
        for id in b.shared_group_members(tx, &u.tenant, &account_id, &groups).await? {
            if let Some(Some(member)) = b.accounts.remove(&(u.tenant.clone(), id)) {
                members.push(member);
            }
        }
    }
    let account = b.account(tx, &u.tenant, &account_id).await?.expect("found above");
    let seed = e.event_id.to_string();
    let debited = simledger_billing::debit_usage_shared(account, &mut members, &catalog, &req, &seed);
    b.catalogs.insert(u.tenant.clone(), catalog);
    let drawn_on: Vec<String> = match &debited {
        Ok((result, _)) => result.parts.iter().filter_map(|p| p.account.clone()).collect(),
        Err(_) => Vec::new(),
    };
    for member in members {
        let key = (u.tenant.clone(), member.id.clone());
        b.accounts.insert(key, Some(member));
    }
    for member in drawn_on {
        b.touch(&u.tenant, &member);
    }
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
        source_event_id,
        tor: u.tor,
        usage: u.units,
        at: u.at,
        debit: result,
        fired: outcome.fired.clone(),
        run_id: u.run.clone(),
    });
    let meta = Metadata::from_source(NAME).with_account(u.tenant.clone());
    let id = derived_id(e.event_id, &format!("balance.debited:{account_id}"));
    b.derived.push((e.position, NewEvent::new(id, format!("billing-{}-{account_id}", u.tenant), &debited, &meta)?));
    derive_effects(tx, b, e, &u.tenant, &account_id, u.sim_sid.as_deref(), &outcome).await
}
