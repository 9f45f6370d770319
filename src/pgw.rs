//! `simledger pgw --region R`: one region's PGW in a process of its own, beside a platform
//! started with `--pgw-remote R`. It follows the same log and NATS; a restart takes the
//! region's open sessions over from the log.

use clap::Args;
use simledger_eventlog::catalog::BreakoutRegion;
use simledger_eventlog::EventLog;

use crate::config::Config;

#[derive(Debug, Args)]
pub struct PgwArgs {
    /// The region this PGW serves; one of `--pgw-regions`.
    #[arg(long)]
    pub region: BreakoutRegion,
}

pub async fn run(config: &Config, args: PgwArgs) -> anyhow::Result<()> {
    let breakout = config.breakout()?;
    anyhow::ensure!(
        breakout.regions.contains(&args.region),
        "{} is not one of the PGW regions ({:?}); give it in --pgw-regions too",
        args.region,
        breakout.regions.iter().map(|r| r.as_str()).collect::<Vec<_>>()
    );
    let (pool, nats) = crate::platform::services(config, 4).await?;
    let names = simledger_core::CoreNames::new(config.nats_prefix()?);
    let default_region = args.region == breakout.default_region();
    let interval = chrono::Duration::minutes(6);
    let core =
        simledger_core::start_pgw(nats, &names, EventLog::new(pool), interval, args.region, default_region).await?;
    tracing::info!(region = %args.region, pgw = core.pgws[0].node(), default_region, "the PGW is up");
    crate::up::shutdown_signal().await;
    tracing::info!("PGW shutting down");
    Ok(())
}
