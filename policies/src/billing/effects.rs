//! What a fold decides beyond the account, as events whose ids derive from their cause.

use std::collections::BTreeMap;

use simledger_billing::{Effect, Outcome};
use simledger_eventlog::catalog::{
    BillingExportRequested, BillingHttpPostRequested, ExternalCdr, FleetUpdated, SimStatusChanged,
};
use simledger_eventlog::{Event, Metadata, NewEvent, RecordedEvent};
use sqlx::PgConnection;
use uuid::Uuid;

use super::batch::Batch;
use super::effect_rule;
use super::NAME;
use simledger_ids::{FleetSid, SimSid};
use simledger_projections::ApplyError;

/// An id derived from the event that caused a derived event.
pub(super) fn derived_id(source: Uuid, what: &str) -> Uuid {
    Uuid::new_v5(&source, what.as_bytes())
}

/// A decision caused by `cause`, with an id derived from it and `what`, and the position it is
/// taken at (which a replay compares with the live checkpoint).
fn decision(
    cause: &RecordedEvent,
    what: &str,
    stream: String,
    event: &Event,
    meta: &Metadata,
) -> Result<(i64, NewEvent), ApplyError> {
    Ok((cause.position, NewEvent::new(derived_id(cause.event_id, what), stream, event, meta)?))
}

/// Turns a fold's effects into events (or log lines). `sim` is the SIM the account's usage or
/// name points at, as text: it is read as a SID only when an effect acts on a SIM, since this
/// runs for every debit and almost none has an effect.
pub(super) async fn derive_effects(
    tx: &mut PgConnection,
    b: &mut Batch,
    e: &RecordedEvent,
    tenant: &str,
    account: &str,
    sim: Option<&str>,
    outcome: &Outcome,
) -> Result<(), ApplyError> {
    if outcome.effects.is_empty() {
        return Ok(());
    }
    let meta = Metadata::from_source(NAME).with_account(tenant.to_owned());
    let sim = sim.and_then(|s| SimSid::parse(s).ok());
    for (n, effect) in outcome.effects.iter().enumerate() {
        match effect {
            Effect::SimStatus { active } => {
                let Some(sim) = &sim else {
                    tracing::warn!(account, "*suspend_sim/*resume_sim on an account that is not a SIM's");
                    continue;
                };
                // Only a SIM of the tenant: a billing account named after another tenant's SIM
                // must not reach it.
                let Some(from) = super::registry::sim_status(tx, tenant, sim).await? else { continue };
                let Some(to) = effect_rule::sim_status_change(*active, from) else { continue };
                let change = Event::SimStatusChanged(SimStatusChanged {
                    sim_sid: sim.clone(),
                    account_sid: tenant.to_owned(),
                    from,
                    to,
                    reason: Some(format!("billing:{}", if *active { "*resume_sim" } else { "*suspend_sim" })),
                });
                b.derived.push(decision(e, &format!("sim_status:{n}"), format!("sim-{sim}"), &change, &meta)?);
            }
            Effect::CdrLog { action_type, balance_id, balance_type, value, fields } => {
                let origin_id = derived_id(e.event_id, &format!("cdrlog:{n}")).to_string();
                let mut cdr = ExternalCdr {
                    cgrid: simledger_projections::cdrs::cgrid(&origin_id, "billing"),
                    run_id: action_type.to_string(),
                    origin_host: "billing".into(),
                    source: simledger_projections::cdrs::CDRLOG_SOURCE.into(),
                    origin_id: origin_id.clone(),
                    tor: *balance_type,
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
                };
                effect_rule::apply_cdrlog_fields(&mut cdr, fields);
                let cdr = Event::CdrReceived(cdr);
                b.derived.push(decision(e, &format!("cdrlog-event:{n}"), format!("cdr-{tenant}"), &cdr, &meta)?);
            }
            Effect::SetFleetDataLimit { fleet, megabytes } => {
                let sim_fleet = match (fleet, &sim) {
                    (None, Some(sim)) => super::registry::sim_fleet(tx, tenant, sim).await?,
                    _ => None,
                };
                // A billing account named by a fleet's SID bills that fleet.
                let account_fleet = FleetSid::parse(account).ok();
                let target = effect_rule::limit_target(fleet.as_ref(), account_fleet.as_ref(), sim_fleet.as_ref());
                // Only the tenant's own fleet.
                let current = match target {
                    Some(f) => super::registry::fleet_limit(tx, tenant, f).await?,
                    None => None,
                };
                let (Some(fleet_sid), Some(current)) = (target, current) else {
                    tracing::warn!(account, ?fleet, "*set_fleet_data_limit: no fleet of the tenant to set");
                    continue;
                };
                let Some(limit) = effect_rule::limit_change(current, *megabytes) else { continue };
                let change = Event::FleetUpdated(FleetUpdated {
                    data_limit_mb: Some(limit),
                    ..FleetUpdated::new(fleet_sid.clone(), tenant.to_owned())
                });
                b.derived.push(decision(e, &format!("fleet_limit:{n}"), format!("fleet-{fleet_sid}"), &change, &meta)?);
            }
            Effect::HttpPost { url, account: snapshot } => {
                let post = Event::BillingHttpPostRequested(BillingHttpPostRequested {
                    tenant: tenant.to_owned(),
                    account: account.to_owned(),
                    url: url.clone(),
                    body: serde_json::to_string(&simledger_eventlog::cgr::AccountView::from(&**snapshot))?,
                });
                let stream = format!("billing-{tenant}-{account}");
                b.derived.push(decision(e, &format!("http_post:{n}"), stream, &post, &meta)?);
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
                let stream = format!("billing-{tenant}-{account}");
                b.derived.push(decision(e, &format!("export:{n}"), stream, &export, &meta)?);
            }
        }
    }
    Ok(())
}
