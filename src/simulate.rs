//! `simledger simulate`: provisions a simulated fleet and drives its devices through the
//! embedded core until the simulated duration is over, ingest has committed every event and the
//! projections (with the data-limit decisions they append) have caught up.

use std::sync::atomic::Ordering;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use clap::Args;
use simledger_core::simulator::{FleetPlan, SimConfig, Simulator};

use crate::config::Config;
use crate::platform;

#[derive(Debug, Clone, Args)]
pub struct SimulateArgs {
    /// SIMs in the simulated fleet.
    #[arg(long, default_value_t = 100)]
    pub sims: usize,
    /// Most device requests per wall second (0: unlimited).
    #[arg(long, default_value_t = 1000.0)]
    pub rate: f64,
    /// Seed: same seed, same fleet, same traffic.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Simulated seconds per wall second (0: as fast as --rate allows).
    #[arg(long, default_value_t = 0.0)]
    pub speed: f64,
    /// Simulated time to cover: `90m`, `2h`, `1d`, `3600s`.
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    pub duration: Duration,
    /// The simulated fleet's data limit in MB (Twilio's default, 250, when not given).
    #[arg(long)]
    pub data_limit_mb: Option<i64>,
    /// Simulated start time (RFC 3339).
    #[arg(long, default_value = "2026-01-01T00:00:00Z")]
    pub start: DateTime<Utc>,
}

pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: i64 = n.parse().map_err(|_| format!("{s:?}: expected a number then s, m, h or d"))?;
    match unit {
        "s" | "" => Ok(Duration::seconds(n)),
        "m" => Ok(Duration::minutes(n)),
        "h" => Ok(Duration::hours(n)),
        "d" => Ok(Duration::days(n)),
        _ => Err(format!("{s:?}: unknown unit {unit:?} (use s, m, h or d)")),
    }
}

pub async fn run(config: &Config, args: SimulateArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let p = platform::start(config, true, true).await?;
    let plan = FleetPlan::generate(args.seed, args.sims);
    platform::provision(&p.commands, &plan, args.data_limit_mb).await?;
    let core = p.core.as_ref().expect("simulate runs the core");
    anyhow::ensure!(core.views.caught_up(&p.log, StdDuration::from_secs(60)).await, "core views did not catch up");
    tracing::info!(sims = args.sims, seed = args.seed, duration = %args.duration, "fleet provisioned; devices starting");

    let sim_config = SimConfig {
        seed: args.seed,
        start: args.start,
        duration: Some(args.duration),
        speed: args.speed,
        rate: args.rate,
    };
    let simulator = Simulator::new(p.nats.clone(), p.names.clone(), sim_config);
    simulator.run(&plan).await;
    platform::drain_ingest(&p, StdDuration::from_secs(300)).await?;
    // Data-limit decisions and usage are part of the run's result.
    platform::settle(&p).await?;

    let s = &simulator.stats;
    let head = p.log.head().await?;
    tracing::info!(
        "simulation done in {:.1}s: log position {head}; attaches accepted {} rejected {} failed {}; sessions {} (failed {}); usage reports {}; SMS {}; IP Commands from devices {}",
        started.elapsed().as_secs_f64(),
        s.attaches_accepted.load(Ordering::Relaxed),
        s.attaches_rejected.load(Ordering::Relaxed),
        s.attaches_failed.load(Ordering::Relaxed),
        s.sessions_opened.load(Ordering::Relaxed),
        s.sessions_failed.load(Ordering::Relaxed),
        s.usage_reports.load(Ordering::Relaxed),
        s.sms.load(Ordering::Relaxed),
        s.ip_commands.load(Ordering::Relaxed),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_duration;

    #[test]
    fn durations_read_as_a_number_and_a_unit() {
        assert_eq!(parse_duration("90m").unwrap(), chrono::Duration::minutes(90));
        assert_eq!(parse_duration("2h").unwrap(), chrono::Duration::hours(2));
        assert_eq!(parse_duration("45").unwrap(), chrono::Duration::seconds(45));
        assert!(parse_duration("2 weeks").is_err());
    }
}
