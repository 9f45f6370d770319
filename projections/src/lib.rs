//! Projections of the event log: tables rebuilt from the log alone, each advanced in the same
//! transaction as its checkpoint, each replayable from position 0 with identical results.
//! Read models only fold: none of them appends. The deciders that append (data-limit enforcement,
//! billing, the plan scheduler) live in `simledger-policies`.
//!
//! | projection | tables | fed by |
//! |---|---|---|
//! | `registry` | `registry_*`: SIMs, IMSIs, fleets, NAPs | provisioning events |
//! | `limits` | `limits_*`: use per SIM per billing period, and whether it is blocked | SIM and data-session events, the enforcer's `sim.data_limit_*` |
//! | `usage` | `usage_hourly`: bytes per SIM, fleet, network, hour | data-session windows |
//! | `cdrs` | `cdrs`: one CDR per ended data session, SMS and external CDR (one per charger run where the tenant has charger profiles), `order_id` from the closing position; `cdr_chargers` | session, SMS, CDR and charger events |
//! | `device_commands` | `device_sms_commands`, `device_ip_commands` | command and SMSC events |
//! | `event_streams` | `es_*`: Event Streams sinks, subscriptions, subscribed types | `sink.*`, `subscription.*` |
//! | `dashboard` | `dash_*`: SIMs by status and fleet, per-minute counters, usage by fleet/network/country, last sighting and event positions per SIM | SIM, network, SMS and limit events |

pub mod billing_periods;
pub mod cdrs;
pub mod dashboard;
pub mod device_commands;
pub mod event_streams;
pub mod limits;
pub mod operator_rates;
pub mod read;
pub mod registry;
mod runner;
pub mod usage;

pub use runner::{replay, snapshot, spawn, spawn_subscriber, ProjectionHandle};
pub use simledger_eventlog::checkpoint::{ApplyError, BoxError, Subscriber};

/// A projection: a [`Subscriber`] that owns tables it can wipe and rebuild.
pub trait Projection: Subscriber + Sized + 'static {
    /// Every table this projection writes; emptied before a replay.
    const TABLES: &'static [&'static str];
    /// The most events applied in one transaction: larger batches cost fewer commits, smaller
    /// ones let a decision out sooner.
    const BATCH: i64 = 2000;
}

/// Names accepted by `simledger replay --projection`.
pub const NAMES: &[&str] = &[
    registry::NAME,
    device_commands::NAME,
    limits::NAME,
    usage::NAME,
    cdrs::NAME,
    event_streams::NAME,
    dashboard::NAME,
];

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error("unknown projection {0:?}; known: {known}", known = NAMES.join(", "))]
    Unknown(String),
    #[error(transparent)]
    EventLog(#[from] simledger_eventlog::EventLogError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}
