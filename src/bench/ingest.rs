//! `simledger bench ingest`: the whole path — simulator → MME/HSS/PGW/SMSC → JetStream →
//! ingest → log, with the registry projection applying — at full speed for a fixed wall time.
//! Reference, same run: the event log's append-only rate (`bench eventlog`'s append phase).

use std::time::{Duration, Instant};

use clap::Args;
use simledger_core::simulator::{FleetPlan, SimConfig, Simulator};

use super::report::{print, Figure};
use super::BenchDatabase;
use crate::config::Config;
use crate::platform;

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// SIMs in the simulated fleet (each one a concurrent device).
    #[arg(long, default_value_t = 10_000)]
    sims: usize,
    /// Wall seconds of measured traffic (after a short warm-up).
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Events appended for the append-only reference.
    #[arg(long, default_value_t = 200_000)]
    reference_events: usize,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
}

pub async fn run(config: &Config, args: IngestArgs) -> anyhow::Result<()> {
    let (db, _) = BenchDatabase::create(config, "ingest").await?;
    let mut bench_config = config.clone();
    bench_config.database_url = db.url.clone();
    bench_config.nats_prefix = Some(format!("bench{}", &uuid::Uuid::new_v4().simple().to_string()[..8]));
    let p = platform::start(&bench_config, true, true).await?;
    eprintln!("provisioning {} SIMs…", args.sims);
    let plan = FleetPlan::generate(7, args.sims);
    platform::provision(&p.commands, &plan, None).await?;
    let core = p.core.as_ref().expect("bench runs the core");
    anyhow::ensure!(core.views.caught_up(&p.log, Duration::from_secs(120)).await, "core views behind");

    // Phase 1: devices as fast as they go; the committed rate is the sustained maximum.
    let (ingest_rate, requests_per_event) = {
        let sim = start_devices(&p, &plan, 0.0);
        eprintln!("warming up…");
        tokio::time::sleep(Duration::from_secs(5)).await;
        let (t0, head0, req0) = (Instant::now(), p.log.head().await?, requests(&sim));
        eprintln!("measuring the sustained rate for {} s…", args.seconds);
        tokio::time::sleep(Duration::from_secs(args.seconds)).await;
        let (t1, head1, req1) = (Instant::now(), p.log.head().await?, requests(&sim));
        sim.stop();
        platform::drain_ingest(&p, Duration::from_secs(300)).await?;
        let events = (head1 - head0).max(1) as f64;
        (events / (t1 - t0).as_secs_f64(), (req1 - req0) as f64 / events)
    };
    // Phase 2: the same devices paced at 70% of that, so queues are stable and the latency is
    // the pipeline's, not a backlog's.
    let paced = 0.7 * ingest_rate * requests_per_event;
    let sim = start_devices(&p, &plan, paced);
    tokio::time::sleep(Duration::from_secs(3)).await;
    simledger_core::ingest::reset_latency();
    let (t0, head0) = (Instant::now(), p.log.head().await?);
    eprintln!("measuring latency at 70% load for {} s…", args.seconds / 2 + 5);
    tokio::time::sleep(Duration::from_secs(args.seconds / 2 + 5)).await;
    let (t1, head1) = (Instant::now(), p.log.head().await?);
    let (p50, p99, _) = simledger_core::ingest::latency_percentiles().unwrap_or_default();
    let paced_rate = (head1 - head0) as f64 / (t1 - t0).as_secs_f64();
    sim.stop();
    platform::drain_ingest(&p, Duration::from_secs(300)).await?;

    eprintln!("measuring the append-only reference…");
    let (ref_db, ref_pool) = BenchDatabase::create(config, "ingest_reference").await?;
    let ref_log = simledger_eventlog::EventLog::new(ref_pool);
    let spec = super::eventlog::spec(args.reference_events, 10_000);
    let secs = super::eventlog::append_all(&ref_log, &spec, 64, 20).await?;
    let append_rate = args.reference_events as f64 / secs;

    let figures = vec![
        Figure::plain("sims", args.sims as f64, "devices"),
        Figure::plain("paced_70pct_rate", paced_rate, "events/s"),
        Figure::plain("ingest_latency_p50", p50 as f64, "ms"),
        Figure::plain("ingest_latency_p99", p99 as f64, "ms"),
        Figure::against("ingest", ingest_rate, "events/s", "append-only, same run", append_rate),
    ];
    print(&figures, args.json);
    drop(p);
    ref_db.drop_database().await?;
    db.drop_database().await?;
    Ok(())
}

/// Starts every device of the plan, at `rate` requests/s (0: unlimited), on a fresh timeline.
fn start_devices(p: &platform::Platform, plan: &FleetPlan, rate: f64) -> Simulator {
    // Each phase starts its own simulated day, so its requests are new happenings.
    let start = SimConfig::default_start() + chrono::Duration::days(if rate > 0.0 { 1 } else { 0 });
    let sim = Simulator::new(
        p.nats.clone(),
        p.names.clone(),
        SimConfig { scenario: Default::default(), seed: 7, start, duration: None, speed: 0.0, rate },
    );
    let (runner, plan) = (sim.clone(), plan.clone());
    tokio::spawn(async move { runner.run(&plan).await });
    sim
}

/// Device requests made so far (each is one NATS request to a node).
pub(crate) fn requests(sim: &Simulator) -> u64 {
    use std::sync::atomic::Ordering::Relaxed;
    let s = &sim.stats;
    // attach + (create + delete per session) + reports + SMS + datagrams
    s.attaches_accepted.load(Relaxed)
        + s.attaches_rejected.load(Relaxed)
        + s.attaches_failed.load(Relaxed)
        + 2 * s.sessions_opened.load(Relaxed)
        + s.sessions_failed.load(Relaxed)
        + s.usage_reports.load(Relaxed)
        + s.sms.load(Relaxed)
        + s.ip_commands.load(Relaxed)
}
