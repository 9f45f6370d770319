//! Actions (CGrateS's `*topup`, `*debit`, `*set_balance`, …) and their all-or-nothing
//! execution, plus simledger's two that reach the network: `*suspend_sim` / `*resume_sim` and
//! `*set_fleet_data_limit`.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use simledger_ids::FleetSid;

use crate::account::Account;
use crate::balance::{resolve_expiry, Balance, BalanceType};
use crate::debit::{self, DebitMode, DebitRequest};
use crate::Catalog;

/// Which balances an action or trigger means: every field given must match (`None`: any).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BalanceFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    #[serde(rename = "ID", default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "Type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<BalanceType>,
    /// The action's units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Decimal>,
    /// An expiry string (`*month_end`, `+20m`, …), resolved when the action runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<Decimal>,
    #[serde(rename = "DestinationIDs", default, skip_serializing_if = "Option::is_none")]
    pub destination_ids: Option<BTreeMap<String, bool>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating_subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categories: Option<BTreeSet<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocker: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factors: Option<BTreeMap<String, Decimal>>,
    /// Timing ID → include (`true`) or veto (`false`); resolved to the catalog's timings when
    /// the action runs.
    #[serde(rename = "TimingIDs", default, skip_serializing_if = "Option::is_none")]
    pub timing_ids: Option<BTreeMap<String, bool>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_groups: Option<BTreeSet<String>>,
}

impl BalanceFilter {
    /// CGrateS's `MatchFilter`: the UUID if given, else the ID if given, else every given
    /// field (sets by inclusion).
    pub fn matches(&self, b: &Balance) -> bool {
        if let Some(uuid) = &self.uuid {
            return &b.uuid == uuid;
        }
        if let Some(id) = &self.id {
            return &b.id == id;
        }
        self.weight.is_none_or(|w| w == b.weight)
            && self.rating_subject.as_ref().is_none_or(|r| r == &b.rating_subject)
            && self.blocker.is_none_or(|x| x == b.blocker)
            && self.disabled.is_none_or(|x| x == b.disabled)
            && self.destination_ids.as_ref().is_none_or(|d| d.iter().all(|(k, v)| b.destination_ids.get(k) == Some(v)))
            && self.categories.as_ref().is_none_or(|c| c.is_subset(&b.categories))
            && self.shared_groups.as_ref().is_none_or(|g| g.is_subset(&b.shared_groups))
            && self.timing_ids.as_ref().is_none_or(|t| t.iter().all(|(k, v)| b.timing_ids.get(k) == Some(v)))
    }

    /// CGrateS's `HardMatchFilter` (triggers): equality on every given field.
    pub fn hard_matches(&self, b: &Balance) -> bool {
        if self.uuid.as_ref().is_some_and(|u| u != &b.uuid) || self.id.as_ref().is_some_and(|i| i != &b.id) {
            return false;
        }
        self.weight.is_none_or(|w| w == b.weight)
            && self.rating_subject.as_ref().is_none_or(|r| r == &b.rating_subject)
            && self.blocker.is_none_or(|x| x == b.blocker)
            && self.disabled.is_none_or(|x| x == b.disabled)
            && self.destination_ids.as_ref().is_none_or(|d| d == &b.destination_ids)
            && self.categories.as_ref().is_none_or(|c| c == &b.categories)
            && self.shared_groups.as_ref().is_none_or(|g| g == &b.shared_groups)
            && self.timing_ids.as_ref().is_none_or(|t| t == &b.timing_ids)
    }

    /// Writes the given fields onto a balance, its timings as the catalog has them now.
    fn apply(&self, b: &mut Balance, at: DateTime<Utc>, catalog: &Catalog) -> Result<(), ActionError> {
        if let Some(ids) = &self.timing_ids {
            b.timings = ids
                .keys()
                .map(|id| catalog.timing(id).ok_or_else(|| ActionError::UnknownTiming(id.clone())))
                .collect::<Result<_, _>>()?;
            b.timing_ids = ids.clone();
        }
        if let Some(groups) = &self.shared_groups {
            b.shared_groups = groups.clone();
        }
        if let Some(e) = &self.expiry_time {
            b.expiration_date = resolve_expiry(e, at).map_err(ActionError::Invalid)?;
        }
        if let Some(w) = self.weight {
            b.weight = w;
        }
        if let Some(d) = &self.destination_ids {
            b.destination_ids = d.clone();
        }
        if let Some(r) = &self.rating_subject {
            b.rating_subject = r.clone();
        }
        if let Some(c) = &self.categories {
            b.categories = c.clone();
        }
        if let Some(x) = self.blocker {
            b.blocker = x;
        }
        if let Some(x) = self.disabled {
            b.disabled = x;
        }
        if let Some(f) = &self.factors {
            b.factors = f.clone();
        }
        Ok(())
    }
}

/// One action of an action group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Action {
    #[serde(rename = "Identifier")]
    pub action_type: ActionType,
    #[serde(default)]
    pub extra_parameters: String,
    pub weight: Decimal,
    #[serde(default)]
    pub balance: BalanceFilter,
}

macro_rules! action_types {
    ($($variant:ident => $name:literal,)*) => {
        /// The action types simledger runs, by CGrateS's names (`*topup`, …) plus its own
        /// three that reach the network. Parsed once where an action enters; an unknown name
        /// is refused there ([`ActionError::Unsupported`]).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ActionType { $($variant,)* }

        impl ActionType {
            pub const ALL: &'static [ActionType] = &[$(Self::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $name,)* }
            }
        }
    };
}

action_types! {
    Topup => "*topup",
    TopupReset => "*topup_reset",
    TopupZeroNegative => "*topup_zero_negative",
    Debit => "*debit",
    DebitReset => "*debit_reset",
    SetBalance => "*set_balance",
    RemoveBalance => "*remove_balance",
    RemoveExpired => "*remove_expired",
    SetExpiry => "*set_expiry",
    ResetAccount => "*reset_account",
    EnableAccount => "*enable_account",
    DisableAccount => "*disable_account",
    AllowNegative => "*allow_negative",
    DenyNegative => "*deny_negative",
    ResetTriggers => "*reset_triggers",
    SetRecurrent => "*set_recurrent",
    UnsetRecurrent => "*unset_recurrent",
    ResetCounters => "*reset_counters",
    Log => "*log",
    Cdrlog => "*cdrlog",
    HttpPost => "*http_post",
    HttpPostAsync => "*http_post_async",
    Export => "*export",
    SuspendSim => "*suspend_sim",
    ResumeSim => "*resume_sim",
    SetFleetDataLimit => "*set_fleet_data_limit",
}

impl ActionType {
    /// The actions that change a balance, so need its type.
    pub fn needs_balance_type(self) -> bool {
        matches!(
            self,
            Self::Topup
                | Self::TopupReset
                | Self::TopupZeroNegative
                | Self::Debit
                | Self::DebitReset
                | Self::SetBalance
        )
    }
}

simledger_ids::named_kind!(ActionType);

impl std::str::FromStr for ActionType {
    type Err = ActionError;

    fn from_str(s: &str) -> Result<Self, ActionError> {
        Self::ALL
            .iter()
            .copied()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| ActionError::Unsupported(simledger_ids::shown(s)))
    }
}

/// The data limits a fleet accepts, in megabytes (as `POST /v1/Fleets` `DataLimit`).
pub const FLEET_DATA_LIMIT_MB: std::ops::RangeInclusive<i64> = 1..=2_000_000;

/// `*set_fleet_data_limit`'s ExtraParameters: `<megabytes>` (the fleet of the account's SIM, or
/// the account's own fleet) or `<HF fleet SID>:<megabytes>`.
pub fn parse_fleet_data_limit(extra: &str) -> Result<(Option<FleetSid>, i64), ActionError> {
    let extra = extra.trim();
    let (fleet, mb) = match extra.split_once(':') {
        Some((fleet, mb)) => (Some(fleet.trim()), mb),
        None => (None, extra),
    };
    let invalid = || {
        ActionError::Invalid(format!(
            "*set_fleet_data_limit takes `<megabytes>` or `<HF fleet SID>:<megabytes>` in ExtraParameters, \
             megabytes between {} and {}, got {extra:?}",
            FLEET_DATA_LIMIT_MB.start(),
            FLEET_DATA_LIMIT_MB.end()
        ))
    };
    let mb: i64 = mb.trim().parse().map_err(|_| invalid())?;
    if !FLEET_DATA_LIMIT_MB.contains(&mb) {
        return Err(invalid());
    }
    let fleet = fleet.map(FleetSid::parse).transpose().map_err(|_| invalid())?;
    Ok((fleet, mb))
}

/// `*http_post`'s ExtraParameters: an `http://` or `https://` URL.
fn http_post_url(extra: &str) -> Result<&str, ActionError> {
    let url = extra.trim();
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(url)
    } else {
        Err(ActionError::Invalid(format!(
            "*http_post takes an http:// or https:// URL in ExtraParameters, got {url:?}"
        )))
    }
}

/// `*export`'s ExtraParameters: exporter IDs separated by `;`, as CGrateS's.
pub fn export_ids(extra: &str) -> Result<Vec<String>, ActionError> {
    let ids: Vec<String> = extra.split(';').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect();
    let valid = |id: &String| id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ids.is_empty() || !ids.iter().all(valid) {
        return Err(ActionError::Invalid(format!(
            "*export takes exporter IDs separated by ; in ExtraParameters, got {extra:?}"
        )));
    }
    Ok(ids)
}

/// What an action does beyond the account; the caller carries it out (appends an event, posts).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "Effect")]
pub enum Effect {
    /// Suspend (`active: false`) or resume the SIM the account bills.
    SimStatus {
        active: bool,
    },
    /// Set the data limit of `fleet` (`None`: the fleet of the account's SIM, or the account's
    /// own when it is named by a fleet SID).
    SetFleetDataLimit {
        fleet: Option<FleetSid>,
        megabytes: i64,
    },
    Log {
        account: Box<Account>,
    },
    /// CGrateS's `*cdrlog`: one CDR per balance-changing action of the group.
    CdrLog {
        action_type: ActionType,
        balance_id: String,
        balance_type: BalanceType,
        value: Decimal,
        /// The CDR fields the group's `*cdrlog` template set (see [`crate::cdrlog`]).
        #[serde(default)]
        fields: BTreeMap<String, String>,
    },
    HttpPost {
        url: String,
        account: Box<Account>,
    },
    Export {
        exporter_ids: Vec<String>,
        account: Box<Account>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    #[error("unsupported action {0}")]
    Unsupported(String),
    #[error("{0}")]
    Invalid(String),
    /// A balance names a timing the catalog does not have (CGrateS answers `NOT_FOUND`).
    #[error("NOT_FOUND")]
    UnknownTiming(String),
    #[error("{0}")]
    Debit(#[from] debit::DebitError),
}

/// Checks an action before it is stored: [`check`], and what only new actions are held to (a
/// `*cdrlog` template that reads as one; groups stored before templates were read still run).
pub fn check_to_store(a: &Action) -> Result<(), ActionError> {
    check(a)?;
    if a.action_type == ActionType::Cdrlog {
        crate::cdrlog::parse(&a.extra_parameters)?;
    }
    Ok(())
}

/// Checks an action, stored or about to be run.
pub fn check(a: &Action) -> Result<(), ActionError> {
    a.check_bounds().map_err(ActionError::Invalid)?;
    if let Some(v) = a.balance.value {
        let topup = matches!(a.action_type, ActionType::Topup | ActionType::TopupReset | ActionType::TopupZeroNegative);
        if v < Decimal::ZERO && topup {
            return Err(ActionError::Invalid(format!("{} takes non-negative units, not {v}", a.action_type)));
        }
    }
    if let Some(e) = &a.balance.expiry_time {
        resolve_expiry(e, Utc::now()).map_err(ActionError::Invalid)?;
    }
    if a.action_type.needs_balance_type() && a.balance.kind.is_none() {
        return Err(ActionError::Invalid(format!("{} needs a balance type", a.action_type)));
    }
    match a.action_type {
        ActionType::SetFleetDataLimit => {
            parse_fleet_data_limit(&a.extra_parameters)?;
        }
        ActionType::HttpPost | ActionType::HttpPostAsync => {
            http_post_url(&a.extra_parameters)?;
        }
        ActionType::Export => {
            export_ids(&a.extra_parameters)?;
        }

        _ => {}
    }
    Ok(())
}

/// Runs an action group on `account` in weight order, all or nothing: on an error the account
/// is unchanged. `seed` names the run (the event that caused it), so balances it creates get
/// UUIDs a replay makes again.
pub fn execute(
    account: &mut Account,
    actions: &[Action],
    at: DateTime<Utc>,
    seed: &str,
    catalog: &Catalog,
) -> Result<(Vec<Effect>, Vec<BalanceType>), ActionError> {
    let mut work = account.clone();
    // Set first, so the snapshots `*log`, `*http_post` and `*export` take show it too.
    work.update_time = Some(at);
    let mut effects = Vec::new();
    // What a `*cdrlog` template may read of each balance-changing action, as it ran.
    let mut cdrlog_vars = Vec::new();
    let mut dirty = Vec::new();
    let mut ordered: Vec<(usize, &Action)> = actions.iter().enumerate().collect();
    ordered.sort_by(|(ia, a), (ib, b)| b.weight.cmp(&a.weight).then(ia.cmp(ib)));
    for (n, a) in ordered {
        check(a)?;
        let kind = a.balance.kind;
        let units = a.balance.value.unwrap_or_default();
        let uuid = |i: usize| format!("{seed}:{n}:{i}");
        match a.action_type {
            ActionType::Topup | ActionType::TopupReset | ActionType::TopupZeroNegative => {
                let kind = kind.expect("checked");
                let list = work.balances_mut(kind);
                let mut matched = false;
                for b in list.iter_mut().filter(|b| a.balance.matches(b)) {
                    matched = true;
                    match a.action_type {
                        ActionType::TopupReset => b.value = units,
                        ActionType::TopupZeroNegative if b.value < Decimal::ZERO => b.value = units,
                        _ => b.value += units,
                    }
                    // A topup of an existing balance keeps its expiry unless one is given
                    // explicitly (CGrateS #814 complained it could not be extended).
                    a.balance.apply(b, at, catalog)?;
                }
                if !matched {
                    let mut b = Balance::new(a.balance.id.clone().unwrap_or_else(|| uuid(0)), uuid(0));
                    b.value = units;
                    a.balance.apply(&mut b, at, catalog)?;
                    list.push(b);
                }
                cdrlog_vars.push((effects.len(), cdrlog_variables(a, kind, units, &work)));
                effects.push(cdrlog(a, kind, units));
                dirty.push(kind);
            }
            ActionType::Debit | ActionType::DebitReset => {
                let kind = kind.expect("checked");
                if a.action_type == ActionType::DebitReset {
                    for b in work.balances_mut(kind).iter_mut().filter(|b| a.balance.matches(b)) {
                        b.value = Decimal::ZERO;
                    }
                }
                // A targeted debit takes from the matching balances; otherwise the debit
                // algorithm picks, and the account's negative policy decides the rest.
                let targeted = a.balance.id.is_some() || a.balance.uuid.is_some();
                if targeted {
                    let allow_negative = work.allow_negative;
                    let list = work.balances_mut(kind);
                    let Some(b) = list.iter_mut().find(|b| a.balance.matches(b)) else {
                        return Err(ActionError::Invalid(format!("no balance {:?} to debit", a.balance.id)));
                    };
                    if b.value - units < Decimal::ZERO && !allow_negative {
                        return Err(debit::DebitError::InsufficientCredit.into());
                    }
                    b.value -= units;
                } else {
                    let req = DebitRequest {
                        tor: kind,
                        destination: String::new(),
                        category: String::new(),
                        usage: units,
                        at,
                        factor_id: None,
                        rate: None,
                        mode: DebitMode::Strict,
                    };
                    debit::debit(&mut work, &req, &catalog.destinations)?;
                }
                cdrlog_vars.push((effects.len(), cdrlog_variables(a, kind, units, &work)));
                effects.push(cdrlog(a, kind, units));
                dirty.push(kind);
            }
            ActionType::SetBalance => {
                let kind = kind.expect("checked");
                let list = work.balances_mut(kind);
                let found = list.iter().position(|b| {
                    a.balance.uuid.as_ref().is_some_and(|u| &b.uuid == u)
                        || a.balance.id.as_ref().is_some_and(|i| &b.id == i)
                });
                let b = match found {
                    Some(i) => &mut list[i],
                    None if a.balance.uuid.is_some() && a.balance.id.is_none() => {
                        return Err(ActionError::Invalid("no balance with that UUID".into()))
                    }
                    None => {
                        list.push(Balance::new(a.balance.id.clone().unwrap_or_else(|| uuid(0)), uuid(0)));
                        list.last_mut().expect("just pushed")
                    }
                };
                if let Some(v) = a.balance.value {
                    b.value = v;
                }
                a.balance.apply(b, at, catalog)?;
                cdrlog_vars.push((effects.len(), cdrlog_variables(a, kind, units, &work)));
                effects.push(cdrlog(a, kind, units));
                dirty.push(kind);
            }
            ActionType::RemoveBalance => {
                for kind in kinds(kind) {
                    work.balances_mut(kind).retain(|b| !a.balance.matches(b));
                }
            }
            ActionType::RemoveExpired => {
                for kind in kinds(kind) {
                    work.balances_mut(kind).retain(|b| !(a.balance.matches(b) && b.is_expired(at)));
                }
            }
            ActionType::SetExpiry => {
                let expiry =
                    resolve_expiry(a.balance.expiry_time.as_deref().unwrap_or(""), at).map_err(ActionError::Invalid)?;
                for kind in kinds(kind) {
                    let filter = BalanceFilter { expiry_time: None, ..a.balance.clone() };
                    for b in work.balances_mut(kind).iter_mut().filter(|b| filter.matches(b)) {
                        b.expiration_date = expiry;
                    }
                }
            }
            ActionType::ResetAccount => {
                for list in work.balance_map.values_mut() {
                    for b in list.iter_mut() {
                        b.value = Decimal::ZERO;
                    }
                }
                work.unit_counters.clear();
                for t in &mut work.action_triggers {
                    t.executed = false;
                }
            }
            ActionType::EnableAccount => work.disabled = false,
            ActionType::DisableAccount => work.disabled = true,
            ActionType::AllowNegative => work.allow_negative = true,
            ActionType::DenyNegative => work.allow_negative = false,
            ActionType::ResetTriggers | ActionType::SetRecurrent | ActionType::UnsetRecurrent => {
                for t in work.action_triggers.iter_mut().filter(|t| trigger_matches(a, t)) {
                    match a.action_type {
                        ActionType::ResetTriggers => t.executed = false,
                        ActionType::SetRecurrent => t.recurrent = true,
                        _ => t.recurrent = false,
                    }
                }
                if a.action_type == ActionType::ResetTriggers {
                    dirty.extend(BalanceType::ALL);
                }
            }
            ActionType::ResetCounters => work.unit_counters.clear(),
            ActionType::Log => effects.push(Effect::Log { account: Box::new(work.clone()) }),
            ActionType::Cdrlog => {} // the balance-changing actions of the group already queued theirs
            // Both are queued and made at least once, after the account is written: CGrateS's
            // synchronous form never holds a debit here.
            ActionType::HttpPost | ActionType::HttpPostAsync => {
                let url = http_post_url(&a.extra_parameters)?.to_owned();
                effects.push(Effect::HttpPost { url, account: Box::new(work.clone()) });
            }
            ActionType::Export => {
                let exporter_ids = export_ids(&a.extra_parameters)?;
                effects.push(Effect::Export { exporter_ids, account: Box::new(work.clone()) });
            }
            ActionType::SuspendSim => effects.push(Effect::SimStatus { active: false }),
            ActionType::ResumeSim => effects.push(Effect::SimStatus { active: true }),
            ActionType::SetFleetDataLimit => {
                let (fleet, megabytes) = parse_fleet_data_limit(&a.extra_parameters)?;
                effects.push(Effect::SetFleetDataLimit { fleet, megabytes });
            }
        }
    }
    // `*cdrlog` asks for the CDRs, shaped by its template; without it they are not written.
    match actions.iter().find(|a| a.action_type == ActionType::Cdrlog) {
        Some(log) => {
            // Checked when the group was stored; a group stored before templates were read may
            // hold text that is not one, and it runs as it always did: without.
            let template = crate::cdrlog::parse(&log.extra_parameters).unwrap_or_default();
            for (i, vars) in cdrlog_vars {
                if let Effect::CdrLog { fields, .. } = &mut effects[i] {
                    *fields = template.resolve(&vars);
                }
            }
        }
        None => effects.retain(|e| !matches!(e, Effect::CdrLog { .. })),
    }
    *account = work;
    dirty.sort();
    dirty.dedup();
    Ok((effects, dirty))
}

fn cdrlog(a: &Action, kind: BalanceType, units: Decimal) -> Effect {
    Effect::CdrLog {
        action_type: a.action_type,
        balance_id: a.balance.id.clone().unwrap_or_default(),
        balance_type: kind,
        value: units,
        fields: BTreeMap::new(),
    }
}

/// The values a `*cdrlog` template reads (`~Name`), for an action that just changed a balance.
fn cdrlog_variables(
    a: &Action,
    kind: BalanceType,
    units: Decimal,
    account: &Account,
) -> BTreeMap<&'static str, String> {
    let balance = account.balances(kind).iter().find(|b| a.balance.matches(b));
    let joined = |items: Vec<String>| items.join(";");
    BTreeMap::from([
        ("AccountID", format!("{}:{}", account.tenant, account.id)),
        ("Tenant", account.tenant.clone()),
        ("Account", account.id.clone()),
        ("ActionType", a.action_type.to_string()),
        ("ActionValue", units.normalize().to_string()),
        ("BalanceType", kind.to_string()),
        ("BalanceID", balance.map(|b| b.id.clone()).or_else(|| a.balance.id.clone()).unwrap_or_default()),
        ("BalanceUUID", balance.map(|b| b.uuid.clone()).unwrap_or_default()),
        ("BalanceValue", balance.map(|b| b.value.normalize().to_string()).unwrap_or_default()),
        (
            "DestinationIDs",
            joined(balance.map_or_else(Vec::new, |b| {
                b.destination_ids.iter().map(|(id, on)| if *on { id.clone() } else { format!("!{id}") }).collect()
            })),
        ),
        ("ExtraParameters", a.extra_parameters.clone()),
        ("RatingSubject", balance.map(|b| b.rating_subject.clone()).unwrap_or_default()),
        ("Category", joined(balance.map_or_else(Vec::new, |b| b.categories.iter().cloned().collect()))),
    ])
}

fn kinds(kind: Option<BalanceType>) -> Vec<BalanceType> {
    kind.map(|k| vec![k]).unwrap_or_else(|| BalanceType::ALL.to_vec())
}

/// `*reset_triggers` and friends: triggers of the balance type the action names (all when it
/// names none), or of the trigger group in `ExtraParameters`.
fn trigger_matches(a: &Action, t: &crate::trigger::ActionTrigger) -> bool {
    let group = a.extra_parameters.trim();
    (group.is_empty() || t.id == group) && a.balance.kind.is_none_or(|k| t.balance.kind == Some(k))
}

#[cfg(test)]
mod action_type_tests {
    use super::*;

    #[test]
    fn every_action_type_reads_back_from_its_cgrates_name() {
        for t in ActionType::ALL {
            assert_eq!(t.as_str().parse::<ActionType>(), Ok(*t));
            let json = serde_json::to_string(t).unwrap();
            assert_eq!(json, format!("\"{}\"", t.as_str()), "stored as CGrateS's name");
            assert_eq!(serde_json::from_str::<ActionType>(&json).unwrap(), *t);
        }
    }

    #[test]
    fn an_unknown_action_type_is_refused_where_it_is_read() {
        assert_eq!("*teleport".parse::<ActionType>(), Err(ActionError::Unsupported("*teleport".into())));
        assert!("*TOPUP".parse::<ActionType>().is_err(), "names are case-sensitive, as CGrateS's");
        let long = format!("*{}", "x".repeat(500));
        match long.parse::<ActionType>() {
            Err(ActionError::Unsupported(shown)) => assert!(shown.len() <= 40, "quoted input is bounded"),
            other => panic!("{other:?}"),
        }
        assert!(serde_json::from_str::<Action>(r#"{"Identifier":"*teleport","Weight":1}"#).is_err());
    }
}
