use clap::Args;
use simledger_eventlog::EventLog;
use simledger_policies::billing;
use simledger_projections::{
    cdrs, dashboard, device_commands, event_streams, limits, registry, usage, ProjectionError,
};

use crate::config::Config;

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The read model (or billing, a decider whose state the APIs read) to rebuild.
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(replayable()))]
    projection: String,
}

/// Every name `--projection` accepts: the read models, then the replayable deciders.
fn replayable() -> Vec<&'static str> {
    simledger_projections::NAMES.iter().chain(simledger_policies::NAMES).copied().collect()
}

pub async fn run(config: &Config, args: ReplayArgs) -> anyhow::Result<()> {
    // The replay's transaction, its pages read ahead (three) and a decider's own reads.
    let pool = simledger_services::postgres::prepare(&config.database_url, &config.data_dir(), 6).await?;
    let log = EventLog::new(pool);
    let started = std::time::Instant::now();
    let position = match args.projection.as_str() {
        registry::NAME => simledger_projections::replay(&log, registry::Registry).await?,
        limits::NAME => simledger_projections::replay(&log, limits::Limits).await?,
        usage::NAME => simledger_projections::replay(&log, usage::Usage).await?,
        cdrs::NAME => simledger_projections::replay(&log, cdrs::Cdrs).await?,
        billing::NAME => {
            let billing = billing::Billing::replaying(log.clone());
            let at = simledger_projections::replay(&log, billing.clone()).await?;
            if billing.divergent() > 0 {
                tracing::warn!(
                    decisions = billing.divergent(),
                    "the replay decided what the live fold had not; nothing of it was appended"
                );
            }
            at
        }
        device_commands::NAME => simledger_projections::replay(&log, device_commands::DeviceCommands).await?,
        event_streams::NAME => simledger_projections::replay(&log, event_streams::EventStreams).await?,
        dashboard::NAME => simledger_projections::replay(&log, dashboard::Dashboard).await?,
        other => return Err(ProjectionError::Unknown(other.to_owned()).into()),
    };
    tracing::info!(projection = %args.projection, position, elapsed = ?started.elapsed(), "replayed from position 0");
    Ok(())
}
