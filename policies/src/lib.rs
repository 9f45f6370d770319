//! Deciders: subscribers of the log that append decisions, kept apart from the read models
//! (which only fold). Each keeps the state it decides from, folded from the log alone, commits
//! it with its checkpoint, and appends its decisions with event ids derived from their cause,
//! so a crash and a re-run append nothing twice.
//!
//! | decider | decides | from | state |
//! |---|---|---|---|
//! | [`data_limits`] | `sim.data_limit_reached` / `cleared` | SIM, fleet and data-session events | `limit_enforcer_*` |
//! | [`billing`] | `balance.debited`, and what actions and triggers decide: `sim.status_changed`, `fleet.updated`, `cdr.received` (`*cdrlog`), `billing.http_post_requested`, `billing.export_requested` | billing commands, usage windows, SMS, external CDRs, operator rates, SIM and fleet events | `billing_*`: CGrateS-style accounts and balances, the catalog, plan bindings, its own view of SIMs and fleets |
//! | [`device_signals`] | `sim.signal_raised` (IMEI change, impossible travel, usage spike, attach storm) | connection events, fleets' signal policies | `signal_sims`, `signal_fleets` |
//! | [`esim_installs`] | `sim.provisioned` + `sim.registered` for an installed eSIM profile | `esim_profile.created`, `esim_profile.installed` | `esim_installer_profiles` |
//! | [`plan_scheduler`] | `billing.plan_fired` | the clock, and the plan bindings `billing` keeps | none: ids from binding and moment |
//!
//! The pure part of each (what a cause decides, and the state after it) is a module of its own
//! with given/when/then tests: [`data_limits::rule`].

pub mod billing;
pub mod data_limits;
pub mod device_signals;
pub mod esim_installs;
pub mod plan_scheduler;

pub use data_limits::DataLimitEnforcer;

use simledger_eventlog::EventLog;
use simledger_projections::ProjectionHandle;

/// Names of the deciders `simledger replay --projection` rebuilds (beside the read models').
pub const NAMES: &[&str] = &[billing::NAME];

/// Every decider that keeps a checkpoint, for the operator's view of how far behind each is.
pub const DECIDERS: &[&str] = &[data_limits::NAME, billing::NAME, esim_installs::NAME, device_signals::NAME];

/// Runs the data-limit enforcer for ever, restarting it from its checkpoint after a failure.
pub fn spawn_data_limit_enforcer(log: EventLog) -> ProjectionHandle {
    simledger_projections::spawn_subscriber(log.clone(), data_limits::NAME, DataLimitEnforcer::new(log), BATCH)
}

/// Runs the eSIM installer for ever, restarting it from its checkpoint after a failure.
pub fn spawn_esim_installer(log: EventLog) -> ProjectionHandle {
    simledger_projections::spawn_subscriber(
        log.clone(),
        esim_installs::NAME,
        esim_installs::EsimInstaller::new(log),
        BATCH,
    )
}

/// Runs the device-signals decider for ever, restarting it from its checkpoint after a failure.
pub fn spawn_device_signals(log: EventLog) -> ProjectionHandle {
    let decider = device_signals::DeviceSignals::new(log.clone());
    simledger_projections::spawn_subscriber(log, device_signals::NAME, decider, BATCH)
}

/// Runs billing for ever, restarting it from its checkpoint after a failure.
pub fn spawn_billing(log: EventLog) -> ProjectionHandle {
    simledger_projections::spawn(log.clone(), billing::NAME, billing::Billing::new(log))
}

/// Events per decider batch: smaller than a read model's, so a decision waits less behind the
/// batch it is in.
const BATCH: i64 = 2000;
