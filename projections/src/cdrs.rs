//! `cdrs`: Call Detail Records in CGrateS's shape, one per ended or failed data session and
//! one per SMS, each rated when it is built; and one per external CDR (`cdr.received`), rated
//! the same way unless it came pre-rated.
//!
//! Rating takes the tenant's own rates first (`billing.rate_set`, matched by destination as the
//! billing matches them, charged per started increment), then the operator's
//! (`operator.cdr_rate_set`, kept in `cdr_rates`). Both are folded here from the log, so a CDR is
//! rated by the rates in force at its place in the log, and a replay rates it the same.
//!
//! ChargerS: a tenant with charger profiles (`billing.charger_set`) gets one CDR per matching
//! profile for each of its external CDRs (its `RunID`, its inline attributes), heavier profiles
//! first, at most [`RUNS_PER_POSITION`]; a profile run whose `RequestType` is `*none` is not
//! rated. The external CDR no profile matches is refused before it is logged (CGrateS stores
//! none); one that reaches the log anyway (profiles changed in between) keeps its own run, so
//! nothing logged is lost. The platform's own CDRs (data sessions, SMS) always keep their run
//! as the platform made it; a customer's profiles only add runs beside it. A tenant without
//! profiles, and a pre-rated CDR, get the one run they always had.
//!
//! `OrderID` derives from the log position of the event that closed the CDR, so exporters can
//! take "everything after N" and never miss or repeat one: the position itself before the first
//! charger profile was ever set, position × 16 + run index from then on (see
//! [`order_id_range`]), so order IDs only grow. A CDR no rate matches is kept with `Cost = -1`
//! and the reason in `ExtraInfo`, as CGrateS does.

use std::collections::{BTreeMap, HashMap};

use rust_decimal::Decimal;
use serde_json::json;
use sha2::{Digest, Sha256};
use simledger_billing::chargers::{self, CdrFields, ChargerProfile};
use simledger_billing::{Destinations, Rate, RateDef, Tor};
use simledger_eventlog::catalog::{ConnectionEvent, ExternalCdr, SmsEvent};
use simledger_eventlog::{Event, RecordedEvent};
use sqlx::PgConnection;

use crate::operator_rates::RateTable;
use crate::{ApplyError, Projection, Subscriber};

pub const NAME: &str = "cdrs";

#[derive(Debug, Clone, Default)]
pub struct Cdrs;

impl Projection for Cdrs {
    const TABLES: &'static [&'static str] =
        &["cdrs", "cdr_tenant_rates", "cdr_tenant_destinations", "cdr_rates", "cdr_chargers", "cdr_order_scheme"];
}

/// Order IDs a log position holds once charger profiles exist: one per run. Fixed for ever: a
/// different value would give every CDR after the switch another order ID on replay.
pub const RUNS_PER_POSITION: i64 = 16;

/// The position from which order IDs leave room for runs, if a charger profile was ever set.
async fn runs_since(conn: &mut PgConnection) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar("SELECT runs_since FROM cdr_order_scheme").fetch_optional(conn).await
}

fn order_id(runs_since: Option<i64>, position: i64, run: i64) -> i64 {
    match runs_since {
        Some(since) if position >= since => position * RUNS_PER_POSITION + run,
        _ => position,
    }
}

/// The order IDs the CDRs closed by the event at `position` have (first and last possible).
pub async fn order_id_range(conn: &mut PgConnection, position: i64) -> sqlx::Result<(i64, i64)> {
    let since = runs_since(conn).await?;
    Ok((order_id(since, position, 0), order_id(since, position, RUNS_PER_POSITION - 1)))
}

/// The `RunID`s an external CDR is stored under with these charger profiles: its own without
/// profiles (or pre-rated), else one per matching profile, none when none matches (CGrateS's
/// `PARTIALLY_EXECUTED`).
pub fn external_runs(c: &ExternalCdr, profiles: &[ChargerProfile]) -> Vec<String> {
    let cdr = external_cdr(c);
    if profiles.is_empty() || cdr.cost.is_some() {
        return vec![cdr.run_id];
    }
    let mut runs = Vec::new();
    add_profile_runs(&mut runs, &cdr, profiles);
    runs.into_iter().map(|r| r.run_id).collect()
}

/// An external CDR as each of its runs is stored: the CDR with the run's `RunID` and the
/// fields its profile's attributes set, in run order. Billing debits each run as CGrateS's RALs
/// do, so both read the runs from here.
pub fn external_cdr_runs(c: &ExternalCdr, profiles: &[ChargerProfile]) -> Vec<ExternalCdr> {
    fork(external_cdr(c), profiles)
        .into_iter()
        .map(|run| ExternalCdr {
            run_id: run.run_id,
            request_type: run.request_type,
            category: run.category,
            account: run.account,
            subject: run.subject,
            destination: run.destination,
            ..c.clone()
        })
        .collect()
}

/// The `RequestType` of a run that is stored but not rated.
const NOT_RATED: &str = "*none";

/// One CDR before rating.
#[derive(Debug, Clone)]
struct Cdr {
    cgrid: String,
    run_id: String,
    origin_host: String,
    source: String,
    origin_id: String,
    tor: Tor,
    request_type: String,
    tenant: String,
    category: String,
    account: String,
    subject: String,
    destination: String,
    /// What the rate's prefix is matched against.
    rating_key: String,
    setup_time: chrono::DateTime<chrono::Utc>,
    answer_time: chrono::DateTime<chrono::Utc>,
    usage: i64,
    extra_fields: serde_json::Value,
    /// A pre-rated external CDR's own cost.
    cost: Option<Decimal>,
    /// Made by a charger profile (its `RequestType *none` means "not rated").
    from_profile: bool,
}

impl Cdr {
    /// A CDR of the embedded core: default run, postpaid, the SIM as account and subject.
    #[allow(clippy::too_many_arguments)]
    fn core(
        origin_host: &str,
        origin_id: String,
        tor: Tor,
        tenant: String,
        category: &str,
        account: String,
        destination: String,
        rating_key: String,
        setup_time: chrono::DateTime<chrono::Utc>,
        usage: i64,
        extra_fields: serde_json::Value,
    ) -> Self {
        Self {
            cgrid: cgrid(&origin_id, origin_host),
            run_id: "*default".into(),
            origin_host: origin_host.into(),
            source: CORE_SOURCE.into(),
            origin_id,
            tor,
            request_type: "*postpaid".into(),
            tenant,
            category: category.into(),
            subject: account.clone(),
            account,
            destination,
            rating_key,
            setup_time,
            answer_time: setup_time,
            usage,
            extra_fields,
            cost: None,
            from_profile: false,
        }
    }
}

impl Cdr {
    /// Its fields by CGrateS name, as charger filters read them.
    fn fields(&self) -> BTreeMap<String, String> {
        let mut fields: BTreeMap<String, String> = self
            .extra_fields
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| match v {
                serde_json::Value::Null => None,
                serde_json::Value::String(s) => Some((k.clone(), s.clone())),
                other => Some((k.clone(), other.to_string())),
            })
            .collect();
        for (k, v) in [
            ("CGRID", self.cgrid.clone()),
            ("RunID", self.run_id.clone()),
            ("OriginHost", self.origin_host.clone()),
            ("Source", self.source.clone()),
            ("OriginID", self.origin_id.clone()),
            ("ToR", self.tor.as_str().to_owned()),
            ("RequestType", self.request_type.clone()),
            ("Tenant", self.tenant.clone()),
            ("Category", self.category.clone()),
            ("Account", self.account.clone()),
            ("Subject", self.subject.clone()),
            ("Destination", self.destination.clone()),
            ("SetupTime", self.setup_time.to_rfc3339()),
            ("AnswerTime", self.answer_time.to_rfc3339()),
            ("Usage", self.usage.to_string()),
        ] {
            fields.insert(k.to_owned(), v);
        }
        fields
    }

    /// The run of this CDR a charger profile makes: its `RunID`, its attributes applied.
    fn run(&self, profile: &ChargerProfile, fields: &BTreeMap<String, String>) -> Cdr {
        let mut set = fields.clone();
        profile.apply_attributes(&mut set);
        let mut run = self.clone();
        run.run_id = profile.run_id.clone();
        run.from_profile = true;
        let get = |name: &str| set.field(name).unwrap_or_default();
        run.request_type = get("RequestType");
        run.category = get("Category");
        run.subject = get("Subject");
        run.account = get("Account");
        let destination = get("Destination");
        // A CDR rated by its destination is rated by the run's.
        if run.rating_key == run.destination {
            run.rating_key = destination.clone();
        }
        run.destination = destination;
        run
    }
}

/// The runs a CDR forks into under the tenant's charger profiles, in run order: at most
/// [`RUNS_PER_POSITION`], one per `RunID`.
fn fork(cdr: Cdr, profiles: &[ChargerProfile]) -> Vec<Cdr> {
    // CGrateS does not fork a pre-rated CDR; without profiles there is the one run.
    if profiles.is_empty() || cdr.cost.is_some() {
        return vec![cdr];
    }
    // The platform's own run stays as the platform made it; profiles add runs beside it.
    let mut runs: Vec<Cdr> = if cdr.source == CORE_SOURCE { vec![cdr.clone()] } else { Vec::new() };
    add_profile_runs(&mut runs, &cdr, profiles);
    if runs.is_empty() {
        // Logged although no profile matches (the profiles changed after the command checked
        // them): kept as it came, so nothing logged is lost.
        let mut kept = cdr;
        kept.extra_fields["ChargerS"] = json!("no charger profile matched when the CDR was stored");
        runs.push(kept);
    }
    runs
}

/// Adds a run per matching profile, in run order, until there are [`RUNS_PER_POSITION`]; a
/// `RunID` already there is not added again.
fn add_profile_runs(runs: &mut Vec<Cdr>, cdr: &Cdr, profiles: &[ChargerProfile]) {
    let fields = cdr.fields();
    for profile in chargers::runs(profiles, &fields, cdr.setup_time) {
        if runs.len() as i64 >= RUNS_PER_POSITION {
            break;
        }
        if !runs.iter().any(|r| r.run_id == profile.run_id) {
            runs.push(cdr.run(profile, &fields));
        }
    }
}

/// A tenant's charger profiles: read once per batch and tenant, and read again after the batch
/// changes them.
#[derive(Default)]
struct TenantChargers(HashMap<String, Vec<ChargerProfile>>);

impl TenantChargers {
    async fn of(&mut self, tx: &mut PgConnection, tenant: &str) -> Result<&[ChargerProfile], ApplyError> {
        if !self.0.contains_key(tenant) {
            let profiles = read::chargers(&mut *tx, tenant).await?;
            self.0.insert(tenant.to_owned(), profiles);
        }
        Ok(&self.0[tenant])
    }

    fn changed(&mut self, tenant: &str) {
        self.0.remove(tenant);
    }
}

fn external_cdr(c: &ExternalCdr) -> Cdr {
    Cdr {
        cgrid: c.cgrid.clone(),
        run_id: c.run_id.clone(),
        origin_host: c.origin_host.clone(),
        source: c.source.clone(),
        origin_id: c.origin_id.clone(),
        tor: c.tor,
        request_type: c.request_type.clone(),
        tenant: c.tenant.clone(),
        category: c.category.clone(),
        account: c.account.clone(),
        subject: c.subject.clone(),
        destination: c.destination.clone(),
        rating_key: c.destination.clone(),
        setup_time: c.setup_time,
        answer_time: c.answer_time,
        usage: c.usage,
        extra_fields: serde_json::to_value(&c.extra_fields).unwrap_or_default(),
        cost: c.cost,
        from_profile: false,
    }
}

/// The `Source` of the embedded core's CDRs.
pub const CORE_SOURCE: &str = "simledger-core";
/// The `Source` of the CDRs billing's `*cdrlog` action writes.
pub const CDRLOG_SOURCE: &str = "*cdrlog";
/// The origin hosts the platform's own CDRs come from; customers cannot claim them.
pub const RESERVED_ORIGIN_HOSTS: &[&str] = &["pgw", "sgw", "smsc", "mme", "hss", "billing"];

/// Whether a customer may send CDRs under `source` and `origin_host`: not under the
/// platform's own, in any case or spacing.
pub fn claimable(source: &str, origin_host: &str) -> bool {
    let source = source.trim().to_ascii_lowercase();
    let host = origin_host.trim().to_ascii_lowercase();
    source != CORE_SOURCE && source != CDRLOG_SOURCE && !RESERVED_ORIGIN_HOSTS.contains(&host.as_str())
}

/// CGrateS's CGRID: a stable hash of the origin ID and origin host (SHA-256 here, hex).
pub fn cgrid(origin_id: &str, origin_host: &str) -> String {
    hex::encode(Sha256::new().chain_update(origin_id).chain_update(origin_host).finalize())
}

fn data_cdr(c: &ConnectionEvent) -> Cdr {
    let start = c.data_session_start_time.unwrap_or(c.timestamp);
    Cdr::core(
        "pgw",
        c.data_session_sid.clone().unwrap_or_else(|| c.event_sid.clone()),
        Tor::Data,
        c.account_sid.clone(),
        "data",
        c.sim_sid.clone(),
        c.apn.clone().unwrap_or_default(),
        format!("{}{}", c.network.mcc, c.network.mnc),
        start,
        c.data_session_data_total.unwrap_or(0),
        data_extra_fields(c),
    )
}

/// A data CDR's `ExtraFields`. The breakout region and PGW only where the session had them, so
/// the CDRs of sessions logged before regions read as they always did.
fn data_extra_fields(c: &ConnectionEvent) -> serde_json::Value {
    let mut fields = json!({
        "iccid": c.sim_iccid, "imsi": c.imsi, "imei": c.imei, "mcc": c.network.mcc, "mnc": c.network.mnc,
        "iso_country": c.network.iso_country, "network_sid": c.network.sid,
        "cell_id": c.location.as_ref().map(|l| l.cell_id.clone()), "rat_type": c.rat_type,
        "fleet_sid": c.fleet_sid,
    });
    if let Some(region) = c.breakout_region {
        fields["breakout_region"] = json!(region.as_str());
    }
    if let Some(pgw) = &c.pgw {
        fields["pgw"] = json!(pgw);
    }
    fields
}

fn sms_cdr(s: &SmsEvent, delivered: bool) -> Cdr {
    // An MO SMS goes to the platform's short code 000 (Twilio's); an MT one to the SIM.
    let destination = if s.direction == "from_sim" { "000".to_owned() } else { s.imsi.clone() };
    Cdr::core(
        "smsc",
        s.sms_command_sid.clone(),
        Tor::Sms,
        s.account_sid.clone(),
        "sms",
        s.sim_sid.clone(),
        destination.clone(),
        destination,
        s.timestamp,
        i64::from(delivered),
        json!({
            "iccid": s.sim_iccid, "imsi": s.imsi, "direction": s.direction,
            "mcc": s.network.as_ref().map(|n| n.mcc.clone()), "mnc": s.network.as_ref().map(|n| n.mnc.clone()),
            "iso_country": s.network.as_ref().map(|n| n.iso_country.clone()),
            "network_sid": s.network.as_ref().map(|n| n.sid.clone()),
        }),
    )
}

impl Subscriber for Cdrs {
    fn name(&self) -> &str {
        NAME
    }

    async fn apply(&mut self, tx: &mut PgConnection, events: &[RecordedEvent]) -> Result<(), ApplyError> {
        let mut tenant_rates = TenantRates::default();
        let mut tenant_chargers = TenantChargers::default();
        let mut since = runs_since(tx).await?;
        for e in events {
            let cdr = match &e.event {
                Event::DataSessionEnded(c) | Event::DataSessionFailed(c) => data_cdr(c),
                Event::SmsMtDelivered(s) | Event::SmsMoDelivered(s) => sms_cdr(s, true),
                Event::SmsMtFailed(s) | Event::SmsMoFailed(s) => sms_cdr(s, false),
                Event::CdrReceived(c) => external_cdr(c),
                Event::BillingRateSet(s) => {
                    sqlx::query(
                        "INSERT INTO cdr_tenant_rates (tenant, id, tor, doc) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (tenant, id) DO UPDATE SET tor = $3, doc = $4",
                    )
                    .bind(&s.tenant)
                    .bind(&s.rate.id)
                    .bind(s.rate.tor.as_str())
                    .bind(sqlx::types::Json(&s.rate))
                    .execute(&mut *tx)
                    .await?;
                    tenant_rates.changed(&s.tenant);
                    continue;
                }
                Event::OperatorRateSet(r) => {
                    crate::operator_rates::record(tx, RateTable::Cdrs, r).await?;
                    continue;
                }
                Event::BillingChargerSet(c) => {
                    // The first profile ever set moves order IDs to room for runs, from here on.
                    if since.is_none() {
                        sqlx::query("INSERT INTO cdr_order_scheme (runs_since) VALUES ($1)")
                            .bind(e.position)
                            .execute(&mut *tx)
                            .await?;
                        since = Some(e.position);
                    }
                    sqlx::query(
                        "INSERT INTO cdr_chargers (tenant, id, doc) VALUES ($1, $2, $3) \
                         ON CONFLICT (tenant, id) DO UPDATE SET doc = $3",
                    )
                    .bind(&c.tenant)
                    .bind(&c.profile.id)
                    .bind(sqlx::types::Json(&c.profile))
                    .execute(&mut *tx)
                    .await?;
                    tenant_chargers.changed(&c.tenant);
                    continue;
                }
                Event::BillingChargerRemoved(r) => {
                    sqlx::query("DELETE FROM cdr_chargers WHERE tenant = $1 AND id = $2")
                        .bind(&r.tenant)
                        .bind(&r.id)
                        .execute(&mut *tx)
                        .await?;
                    tenant_chargers.changed(&r.tenant);
                    continue;
                }
                Event::BillingDestinationSet(s) => {
                    sqlx::query(
                        "INSERT INTO cdr_tenant_destinations (tenant, id, prefixes) VALUES ($1, $2, $3) \
                         ON CONFLICT (tenant, id) DO UPDATE SET prefixes = $3",
                    )
                    .bind(&s.tenant)
                    .bind(&s.id)
                    .bind(&s.prefixes)
                    .execute(&mut *tx)
                    .await?;
                    if s.tenant == simledger_billing::GLOBAL_TENANT {
                        tenant_rates.0.clear(); // every tenant rates against global destinations
                    } else {
                        tenant_rates.changed(&s.tenant);
                    }
                    continue;
                }
                _ => continue,
            };
            if cdr.tenant.is_empty() {
                continue; // an unknown subscriber's SMS belongs to no account
            }
            let tenant = cdr.tenant.clone();
            let runs = fork(cdr, tenant_chargers.of(tx, &tenant).await?);
            for (run, cdr) in (0..).zip(runs) {
                let own = match cdr.cost {
                    Some(_) => None,
                    None => tenant_rates.rate(tx, &cdr.tenant, cdr.tor, &cdr.rating_key).await?,
                };
                insert(tx, &cdr, own, order_id(since, e.position, run)).await?;
            }
        }
        Ok(())
    }
}

/// A tenant's own rates and the destinations they name: read once per batch and tenant, and
/// read again after the batch changes either.
#[derive(Default)]
struct TenantRates(HashMap<String, (BTreeMap<String, RateDef>, Destinations)>);

impl TenantRates {
    /// The tenant's own rate for usage of `tor` towards `destination`, as billing
    /// would choose it.
    async fn rate(
        &mut self,
        tx: &mut PgConnection,
        tenant: &str,
        tor: Tor,
        destination: &str,
    ) -> Result<Option<Rate>, ApplyError> {
        if !self.0.contains_key(tenant) {
            let loaded = load_tenant_rates(tx, tenant).await?;
            self.0.insert(tenant.to_owned(), loaded);
        }
        let (rates, destinations) = &self.0[tenant];
        Ok(simledger_billing::rating::rate_for(rates, destinations, tor, destination))
    }

    fn changed(&mut self, tenant: &str) {
        self.0.remove(tenant);
    }
}

async fn load_tenant_rates(
    tx: &mut PgConnection,
    tenant: &str,
) -> Result<(BTreeMap<String, RateDef>, Destinations), ApplyError> {
    let defs: Vec<sqlx::types::Json<RateDef>> =
        sqlx::query_scalar("SELECT doc FROM cdr_tenant_rates WHERE tenant = $1")
            .bind(tenant)
            .fetch_all(&mut *tx)
            .await?;
    let rates: BTreeMap<String, RateDef> = defs.into_iter().map(|d| (d.0.id.clone(), d.0)).collect();
    let mut destinations = Destinations::default();
    if rates.is_empty() {
        return Ok((rates, destinations));
    }
    let ids: Vec<&str> = rates.values().map(|d| d.destination_id.as_str()).collect();
    // The global destinations first, so that the tenant's own of the same ID replaces them.
    let rows: Vec<(String, Vec<String>)> = sqlx::query_as(
        "SELECT id, prefixes FROM cdr_tenant_destinations WHERE (tenant = $1 OR tenant = $3) AND id = ANY($2) \
         ORDER BY tenant = $1",
    )
    .bind(tenant)
    .bind(&ids)
    .bind(simledger_billing::GLOBAL_TENANT)
    .fetch_all(&mut *tx)
    .await?;
    for (id, prefixes) in rows {
        destinations.set(&id, prefixes);
    }
    Ok((rates, destinations))
}

async fn insert(tx: &mut PgConnection, cdr: &Cdr, own: Option<Rate>, order_id: i64) -> Result<(), ApplyError> {
    // A run a charger made unrated (`RequestType *none`) is stored with CGrateS's -1.
    let unrated = cdr.from_profile && cdr.request_type == NOT_RATED;
    let own = own.filter(|_| !unrated);
    let operator: Option<(Decimal, i64)> = if cdr.cost.is_some() || own.is_some() || unrated {
        None
    } else {
        crate::operator_rates::price(tx, RateTable::Cdrs, cdr.tor, &cdr.rating_key).await?
    };
    let usage = Decimal::from(cdr.usage);
    // A cost too large to represent is "not rated" (-1, as CGrateS marks a CDR it could not
    // rate), with the reason: the CDR is kept, and the projection goes on.
    let (cost, extra_info) = match (cdr.cost, own, operator) {
        (Some(cost), _, _) => (Some(cost), None),
        (None, _, _) if unrated => (Some(Decimal::NEGATIVE_ONE), None),
        (None, Some(rate), _) => (rate.cost(usage), None),
        (None, None, Some((price, unit))) => {
            (usage.checked_div(Decimal::from(unit)).and_then(|u| u.checked_mul(price)).map(|c| c.round_dp(6)), None)
        }
        (None, None, None) => {
            (Some(Decimal::NEGATIVE_ONE), Some(format!("no rate for {} {}", cdr.tor, cdr.rating_key)))
        }
    };
    let (cost, extra_info) = match cost {
        Some(cost) => (cost, extra_info),
        None => (Decimal::NEGATIVE_ONE, Some(format!("the cost of {} {} is out of range", cdr.usage, cdr.tor))),
    };
    sqlx::query(
        "INSERT INTO cdrs (cgrid, run_id, order_id, origin_host, source, origin_id, tor, request_type, tenant, \
         category, account, subject, destination, setup_time, answer_time, usage, cost, extra_fields, extra_info) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19) \
         ON CONFLICT (tenant, cgrid, run_id, source) DO NOTHING",
    )
    .bind(&cdr.cgrid)
    .bind(&cdr.run_id)
    .bind(order_id)
    .bind(&cdr.origin_host)
    .bind(&cdr.source)
    .bind(&cdr.origin_id)
    .bind(cdr.tor.as_str())
    .bind(&cdr.request_type)
    .bind(&cdr.tenant)
    .bind(&cdr.category)
    .bind(&cdr.account)
    .bind(&cdr.subject)
    .bind(&cdr.destination)
    .bind(cdr.setup_time)
    .bind(cdr.answer_time)
    .bind(cdr.usage)
    .bind(cost)
    .bind(&cdr.extra_fields)
    .bind(extra_info)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Queries the API answers from, always within one tenant.
pub mod read {
    use chrono::{DateTime, Utc};
    use rust_decimal::Decimal;
    use simledger_billing::chargers::ChargerProfile;
    use sqlx::{PgPool, QueryBuilder};

    use crate::read::{page, PageQuery, Rows};

    /// The tenant's charger profiles, by ID.
    pub async fn chargers<'e>(db: impl sqlx::PgExecutor<'e>, tenant: &str) -> sqlx::Result<Vec<ChargerProfile>> {
        let docs: Vec<sqlx::types::Json<ChargerProfile>> =
            sqlx::query_scalar("SELECT doc FROM cdr_chargers WHERE tenant = $1 ORDER BY id")
                .bind(tenant)
                .fetch_all(db)
                .await?;
        Ok(docs.into_iter().map(|d| d.0).collect())
    }

    /// One of the tenant's charger profiles.
    pub async fn charger(pool: &PgPool, tenant: &str, id: &str) -> sqlx::Result<Option<ChargerProfile>> {
        let doc: Option<sqlx::types::Json<ChargerProfile>> =
            sqlx::query_scalar("SELECT doc FROM cdr_chargers WHERE tenant = $1 AND id = $2")
                .bind(tenant)
                .bind(id)
                .fetch_optional(pool)
                .await?;
        Ok(doc.map(|d| d.0))
    }

    #[derive(Debug, Clone, sqlx::FromRow)]
    pub struct CdrRow {
        pub cgrid: String,
        pub run_id: String,
        pub order_id: i64,
        pub origin_host: String,
        pub source: String,
        pub origin_id: String,
        pub tor: String,
        pub request_type: String,
        pub tenant: String,
        pub category: String,
        pub account: String,
        pub subject: String,
        pub destination: String,
        pub setup_time: DateTime<Utc>,
        pub answer_time: DateTime<Utc>,
        pub usage: i64,
        pub cost: Decimal,
        pub extra_fields: serde_json::Value,
        pub extra_info: Option<String>,
        /// The paging key: the zero-padded order ID.
        pub order_key: String,
    }

    #[derive(Debug, Clone, Default)]
    pub struct CdrFilter {
        pub account: Option<String>,
        pub tor: Option<simledger_billing::Tor>,
        pub setup_time_start: Option<DateTime<Utc>>,
        pub setup_time_end: Option<DateTime<Utc>>,
        /// Inclusive, as CGrateS's `OrderIDStart`.
        pub order_id_start: Option<i64>,
        /// Exclusive, as CGrateS's `OrderIDEnd`.
        pub order_id_end: Option<i64>,
    }

    /// The paging key of an order ID.
    pub fn order_key(order_id: i64) -> String {
        format!("{order_id:020}")
    }

    pub async fn cdrs(pool: &PgPool, tenant: &str, f: &CdrFilter, at: &PageQuery) -> sqlx::Result<Rows<CdrRow>> {
        let mut q = QueryBuilder::new(
            "SELECT cgrid, run_id, order_id, origin_host, source, origin_id, tor, request_type, tenant, category, \
             account, subject, destination, setup_time, answer_time, usage, cost, extra_fields, extra_info, \
             lpad(order_id::text, 20, '0') AS order_key FROM cdrs WHERE ",
        );
        push_filter(&mut q, tenant, f);
        page(pool, q, "lpad(order_id::text, 20, '0')", at).await
    }

    /// The most CDRs one search answers.
    pub const MAX_SEARCH_ROWS: i64 = 10_000;

    /// CGrateS's `RPCCDRsFilter`, the part `GetCDRs` takes: lists match any member, order IDs are
    /// `[start, end)`, rows come in order-ID order (or reversed).
    #[derive(Debug, Clone, Default)]
    pub struct CdrSearch {
        pub cgrids: Vec<String>,
        pub tors: Vec<String>,
        pub accounts: Vec<String>,
        pub origin_ids: Vec<String>,
        pub setup_time_start: Option<DateTime<Utc>>,
        pub setup_time_end: Option<DateTime<Utc>>,
        pub order_id_start: Option<i64>,
        pub order_id_end: Option<i64>,
        pub limit: Option<i64>,
        pub offset: Option<i64>,
        pub descending: bool,
    }

    pub async fn search(pool: &PgPool, tenant: &str, s: &CdrSearch) -> sqlx::Result<Vec<CdrRow>> {
        let mut q = QueryBuilder::new(
            "SELECT cgrid, run_id, order_id, origin_host, source, origin_id, tor, request_type, tenant, category, \
             account, subject, destination, setup_time, answer_time, usage, cost, extra_fields, extra_info, \
             lpad(order_id::text, 20, '0') AS order_key FROM cdrs WHERE tenant = ",
        );
        q.push_bind(tenant.to_owned());
        for (column, values) in
            [("cgrid", &s.cgrids), ("tor", &s.tors), ("account", &s.accounts), ("origin_id", &s.origin_ids)]
        {
            if !values.is_empty() {
                // Column names are this module's constants, never input.
                q.push(format!(" AND {column} = ANY(")).push_bind(values.clone()).push(")");
            }
        }
        let filter = CdrFilter {
            setup_time_start: s.setup_time_start,
            setup_time_end: s.setup_time_end,
            order_id_start: s.order_id_start,
            order_id_end: s.order_id_end,
            ..Default::default()
        };
        push_conditions(&mut q, &filter);
        q.push(if s.descending { " ORDER BY order_id DESC" } else { " ORDER BY order_id" });
        // A search answers at most MAX_SEARCH_ROWS CDRs: no caller holds the whole table in
        // the API's memory (callers page with Offset or OrderIDStart).
        q.push(" LIMIT ").push_bind(s.limit.unwrap_or(MAX_SEARCH_ROWS).min(MAX_SEARCH_ROWS));
        if let Some(offset) = s.offset {
            q.push(" OFFSET ").push_bind(offset);
        }
        q.build_query_as().fetch_all(pool).await
    }

    /// Appends the conditions that select a tenant's CDRs matching `f` to a `WHERE`.
    pub fn push_filter(q: &mut QueryBuilder<'_, sqlx::Postgres>, tenant: &str, f: &CdrFilter) {
        q.push("tenant = ").push_bind(tenant.to_owned());
        push_conditions(q, f);
    }

    fn push_conditions(q: &mut QueryBuilder<'_, sqlx::Postgres>, f: &CdrFilter) {
        if let Some(v) = &f.account {
            q.push(" AND account = ").push_bind(v.clone());
        }
        if let Some(v) = f.tor {
            q.push(" AND tor = ").push_bind(v.as_str());
        }
        if let Some(v) = f.setup_time_start {
            q.push(" AND setup_time >= ").push_bind(v);
        }
        if let Some(v) = f.setup_time_end {
            q.push(" AND setup_time < ").push_bind(v);
        }
        if let Some(v) = f.order_id_start {
            q.push(" AND order_id >= ").push_bind(v);
        }
        if let Some(v) = f.order_id_end {
            q.push(" AND order_id < ").push_bind(v);
        }
    }
}

/// Writes `n` data CDRs of one tenant straight into the table, with order IDs 1..=n, as the
/// projection would write them. Only for load tests (`simledger bench export`).
pub async fn bulk_load(pool: &sqlx::PgPool, tenant: &str, n: i64) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO cdrs (cgrid, run_id, order_id, origin_host, source, origin_id, tor, request_type, tenant, \
         category, account, subject, destination, setup_time, answer_time, usage, cost, extra_fields) \
         SELECT encode(sha256(('bench-' || i)::bytea), 'hex'), '*default', i, 'pgw', 'simledger-core', \
         'PI' || lpad(i::text, 32, '0'), '*data', '*postpaid', $1, 'data', 'HS' || lpad((i % 10000)::text, 32, '0'), \
         'HS' || lpad((i % 10000)::text, 32, '0'), 'super', now() - make_interval(secs => i), \
         now() - make_interval(secs => i), 1000 + i % 5000, round((1000 + i % 5000) / 1e6 * 0.1, 6), \
         jsonb_build_object('mcc', '234', 'mnc', '15', 'iso_country', 'GB') \
         FROM generate_series(1, $2) AS i",
    )
    .bind(tenant)
    .bind(n)
    .execute(pool)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn profile(id: &str, run: &str, filters: &[&str], weight: i64) -> ChargerProfile {
        ChargerProfile {
            tenant: "AC1".into(),
            id: id.into(),
            filter_ids: filters.iter().map(|f| f.to_string()).collect(),
            activation_interval: None,
            run_id: run.into(),
            attribute_ids: vec!["*constant:*req.RequestType:*none".into()],
            weight: Decimal::from(weight),
        }
    }

    fn cdr(source: &str) -> Cdr {
        let at = chrono::Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap();
        Cdr {
            cgrid: "c".into(),
            run_id: "*default".into(),
            origin_host: "pbx".into(),
            source: source.into(),
            origin_id: "o".into(),
            tor: Tor::Voice,
            request_type: "*postpaid".into(),
            tenant: "AC1".into(),
            category: "call".into(),
            account: "1001".into(),
            subject: "1001".into(),
            destination: "614".into(),
            rating_key: "614".into(),
            setup_time: at,
            answer_time: at,
            usage: 1,
            extra_fields: json!({}),
            cost: None,
            from_profile: false,
        }
    }

    fn run_ids(runs: &[Cdr]) -> Vec<&str> {
        runs.iter().map(|r| r.run_id.as_str()).collect()
    }

    #[test]
    fn a_cdr_forks_into_at_most_sixteen_runs_one_per_run_id() {
        let mut profiles: Vec<ChargerProfile> =
            (0..20).map(|n| profile(&format!("P{n:02}"), &format!("r{n:02}"), &[], 0)).collect();
        profiles.push(profile("SAME", "r00", &[], 100));
        let runs = fork(cdr("pbx"), &profiles);
        assert_eq!(runs.len() as i64, RUNS_PER_POSITION, "never more order IDs than a position holds");
        assert_eq!(runs.iter().filter(|r| r.run_id == "r00").count(), 1, "one run per RunID");
        assert!(runs.iter().all(|r| r.from_profile && r.request_type == NOT_RATED));
    }

    #[test]
    fn the_platforms_own_cdr_keeps_its_run_whatever_the_profiles_say() {
        let profiles = vec![profile("ONLY_1002", "resale", &["*string:~*req.Account:1002"], 0)];
        let runs = fork(cdr(CORE_SOURCE), &profiles);
        assert_eq!(run_ids(&runs), ["*default"], "no profile matches: the platform's run alone");
        assert!(!runs[0].from_profile && runs[0].request_type == "*postpaid");
        let profiles = vec![profile("ALL", "resale", &[], 0), profile("DEFAULT", "*default", &[], 5)];
        let runs = fork(cdr(CORE_SOURCE), &profiles);
        assert_eq!(run_ids(&runs), ["*default", "resale"], "profiles add runs beside it, never replace it");
        assert!(!runs[0].from_profile, "the platform's *default is its own, not the profile's");
    }

    #[test]
    fn an_external_cdr_no_profile_matches_is_kept_if_it_was_logged() {
        let profiles = vec![profile("ONLY_1002", "resale", &["*string:~*req.Account:1002"], 0)];
        let runs = fork(cdr("pbx"), &profiles);
        assert_eq!(run_ids(&runs), ["*default"]);
        assert!(runs[0].extra_fields["ChargerS"].is_string());
        let mut pre_rated = cdr("pbx");
        pre_rated.cost = Some(Decimal::ONE);
        assert_eq!(run_ids(&fork(pre_rated, &profiles)), ["*default"], "pre-rated CDRs are not forked");
    }

    #[test]
    fn order_ids_only_grow_across_the_switch_to_room_for_runs() {
        let since = Some(1000);
        assert_eq!(order_id(None, 999, 0), 999);
        assert_eq!(order_id(since, 999, 0), 999, "before the switch: the position");
        assert_eq!(order_id(since, 1000, 0), 16_000);
        assert_eq!(order_id(since, 1000, 15), 16_015);
        assert_eq!(order_id(since, 1001, 0), 16_016, "the next position's first run follows the last run");
    }
}
