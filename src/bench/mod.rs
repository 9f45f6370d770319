//! `simledger bench …`: programs that print figures, never timed tests. The machine is shared and
//! noisy, so every figure comes with a reference measured in the same run and their ratio.

mod api;
mod billing;
mod core_startup;
mod dashboard;
mod devices;
mod eventlog;
mod export;
mod ingest;
mod limits;
mod report;
mod sinks;

use clap::{Args, Subcommand};

use crate::config::Config;

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    which: Which,
}

#[derive(Debug, Subcommand)]
enum Which {
    /// Append and catch-up read through the real event log, against raw COPY of the same rows.
    Eventlog(eventlog::EventlogArgs),
    /// A core node's start to ready: replaying the log from 0 against starting from a snapshot,
    /// at two log lengths.
    CoreStartup(core_startup::CoreStartupArgs),
    /// A *file_csv CDR export, against COPY TO of the same rows; peak memory.
    Export(export::ExportArgs),
    /// Balance debits through billing under load, with and without triggers.
    Billing(billing::BillingArgs),
    /// Data-limit enforcement under load: reaction time, overshoot, cost to ingest.
    Limits(limits::LimitsArgs),
    /// The /v1 read path over HTTP (fetch by SID, list pages) against the same sqlx query.
    Api(api::ApiArgs),
    /// End to end: simulator → core nodes → JetStream → ingest → log, against the append-only rate.
    Ingest(ingest::IngestArgs),
    /// The dashboard's overview and SIM page at a million SIMs under an append load, against
    /// /v1/Sims/{Sid}; live feed delivery lag against a bare log subscription.
    Dashboard(dashboard::DashboardArgs),
    /// The simulated devices alone, driving a fleet a bench provisioned (`--simulator-process`).
    #[command(hide = true)]
    Devices(devices::DevicesArgs),
    /// Event Streams delivery to a local webhook, batched and unbatched, against the catch-up
    /// read; delivery lag under a steady append load.
    Sinks(sinks::SinksArgs),
}

pub async fn run(config: &Config, args: BenchArgs) -> anyhow::Result<()> {
    match args.which {
        Which::Eventlog(a) => eventlog::run(config, a).await,
        Which::Ingest(a) => ingest::run(config, a).await,
        Which::Api(a) => api::run(config, a).await,
        Which::Limits(a) => limits::run(config, a).await,
        Which::Devices(a) => devices::run(config, a).await,
        Which::Billing(a) => billing::run(config, a).await,
        Which::Export(a) => export::run(config, a).await,
        Which::Sinks(a) => sinks::run(config, a).await,
        Which::Dashboard(a) => dashboard::run(config, a).await,
        Which::CoreStartup(a) => core_startup::run(config, a).await,
    }
}

/// A database of its own for one benchmark run on the configured server, dropped afterwards.
pub(crate) struct BenchDatabase {
    pub url: String,
}

impl BenchDatabase {
    pub async fn create(config: &Config, what: &str) -> anyhow::Result<(Self, sqlx::PgPool)> {
        use simledger_services::postgres;
        let data_dir = config.data_dir();
        postgres::ensure_running(&config.database_url, &data_dir).await?;
        let name = format!("{}_bench_{what}", postgres::database_name(&config.database_url)?);
        let db = Self { url: postgres::with_database(&config.database_url, &name) };
        db.drop_database().await?;
        let pool = postgres::prepare(&db.url, &data_dir, 16).await?;
        Ok((db, pool))
    }

    pub async fn drop_database(&self) -> anyhow::Result<()> {
        Ok(simledger_services::postgres::drop_database(&self.url).await?)
    }
}
