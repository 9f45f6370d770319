//! `simledger simulate`: provisions a simulated fleet and drives its devices through the
//! embedded core until the simulated duration is over, ingest has committed every event and the
//! projections (with the data-limit decisions they append) have caught up.

use std::sync::atomic::Ordering;
use std::time::{Duration as StdDuration, Instant};

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use clap::Args;
use simledger_commands::{CommandId, Commands, SignalPolicyChanges};
use simledger_core::simulator::{FleetPlan, Scenario, SimConfig, Simulator};

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
    /// `stolen-device`: a third of the way in, the fleet's first active card is put into another
    /// device abroad; the fleet binds `*suspend_sim` to device signals, so the card is suspended.
    #[arg(long, value_enum, default_value_t = ScenarioArg::Normal)]
    pub scenario: ScenarioArg,
    /// The simulated fleet's breakout region (one of `--pgw-regions`) [default: the first].
    #[arg(long)]
    pub breakout: Option<simledger_eventlog::catalog::BreakoutRegion>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ScenarioArg {
    Normal,
    StolenDevice,
}

/// The action group the stolen-device scenario binds to the fleet's device signals.
pub const STOLEN_ACTIONS: &str = "SUSPEND_ON_SIGNAL";

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
    if let Some(region) = args.breakout {
        let key = CommandId::named(&format!("simulated-fleet:{}:breakout:{region}", plan.seed));
        p.commands.set_breakout(key, &plan.account_sid, "simulated", Some(region)).await?;
        tracing::info!(%region, "the simulated fleet breaks out there");
    }
    let scenario = match args.scenario {
        ScenarioArg::Normal => Scenario::Normal,
        ScenarioArg::StolenDevice => {
            bind_suspension(&p.commands, &plan).await?;
            let card = plan.first_active().context("the fleet has no active card to steal")?;
            tracing::info!(iccid = %plan.cards[card].iccid, "this card is stolen a third of the way in");
            Scenario::StolenDevice { card, at: args.start + args.duration / 3 }
        }
    };
    let core = p.core.as_ref().expect("simulate runs the core");
    anyhow::ensure!(core.views.caught_up(&p.log, StdDuration::from_secs(60)).await, "core views did not catch up");
    tracing::info!(sims = args.sims, seed = args.seed, duration = %args.duration, "fleet provisioned; devices starting");

    let sim_config = SimConfig {
        scenario,
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

    if args.scenario == ScenarioArg::StolenDevice {
        let signals: Vec<(String, String)> = sqlx::query_as(
            "SELECT data->>'sim_sid', data->>'signal' FROM events WHERE type = 'sim.signal_raised' ORDER BY position",
        )
        .fetch_all(p.log.pool())
        .await?;
        tracing::info!(?signals, "device signals raised");
    }
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
    for (region, sessions, rtt_ms) in s.rtt_by_region() {
        tracing::info!(%region, sessions, rtt_ms = format!("{rtt_ms:.0}"), "modelled user-plane round trip by breakout region");
    }
    Ok(())
}

/// Defines `*suspend_sim` as the fleet's action group and binds it to its device signals.
async fn bind_suspension(commands: &Commands, plan: &FleetPlan) -> anyhow::Result<()> {
    let tenant = plan.account_sid.as_str();
    let suspend: simledger_billing::Action =
        serde_json::from_value(serde_json::json!({"Identifier": "*suspend_sim", "Weight": 10}))?;
    commands.billing_define_actions(tenant, STOLEN_ACTIONS, vec![suspend], true).await?;
    let changes = SignalPolicyChanges { actions_id: Some(Some(STOLEN_ACTIONS.into())), ..Default::default() };
    let key = CommandId::named(&format!("simulated-fleet:{}:signals", plan.seed));
    commands.set_signal_policy(key, tenant, "simulated", changes).await?;
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
