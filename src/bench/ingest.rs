//! `simledger bench ingest`: the whole path — simulator → MME/HSS/PGW/SMSC → JetStream →
//! ingest → log, with every projection, decider and dispatcher of `up` following the log — at
//! full speed for a fixed wall time.
//! Reference, same run: the event log's append-only rate (`bench eventlog`'s append phase).
//!
//! The breakdown: processor time per event of each stage (the simulator, each core node, the
//! JetStream publish, ingest, the appender, the subscribers, the core's views, Postgres and the
//! NATS server), measured in the paced phase with `simledger_cputime`'s meters on, so that what
//! the platform costs per event shows apart from what simulating the devices costs. The
//! headline rate is measured with the meters off.

use std::time::{Duration, Instant};

use clap::Args;
use simledger_core::simulator::{FleetPlan, SimConfig};

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
    /// Run the simulated devices in a process of their own, as devices outside the platform
    /// reach it in production: the figures then leave out the simulator's share of this
    /// process's runtime, and its processor time is the child's.
    #[arg(long)]
    simulator_process: bool,
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
    let plan = FleetPlan::generate(super::devices::PLAN_SEED, args.sims);
    platform::provision(&p.commands, &plan, None).await?;
    let core = p.core.as_ref().expect("bench runs the core");
    anyhow::ensure!(core.views.caught_up(&p.log, Duration::from_secs(120)).await, "core views behind");

    // Phase 1: devices as fast as they go; the committed rate is the sustained maximum.
    let (ingest_rate, requests_per_event) = {
        let devices = start_devices(&bench_config, &p, &args, 0.0).await?;
        eprintln!("warming up…");
        tokio::time::sleep(Duration::from_secs(5)).await;
        let (t0, head0, req0) = (Instant::now(), p.log.head().await?, devices.requests());
        eprintln!("measuring the sustained rate for {} s…", args.seconds);
        tokio::time::sleep(Duration::from_secs(args.seconds)).await;
        let (t1, head1, req1) = (Instant::now(), p.log.head().await?, devices.requests());
        devices.stop().await?;
        anyhow::ensure!(req1 > req0, "the devices made no request while measured");
        platform::drain_ingest(&p, Duration::from_secs(300)).await?;
        let events = (head1 - head0).max(1) as f64;
        (events / (t1 - t0).as_secs_f64(), (req1 - req0) as f64 / events)
    };
    // Phase 2: the same devices paced at 70% of that, so queues are stable and the latency is
    // the pipeline's, not a backlog's.
    let paced = 0.7 * ingest_rate * requests_per_event;
    let devices = start_devices(&bench_config, &p, &args, paced).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    simledger_core::ingest::reset_latency();
    simledger_cputime::enable();
    let (cpu0, head0) = (CpuReading::now(devices.pid()), p.log.head().await?);
    eprintln!("measuring latency and processor time at 70% load for {} s…", args.seconds / 2 + 5);
    tokio::time::sleep(Duration::from_secs(args.seconds / 2 + 5)).await;
    let (cpu1, head1) = (CpuReading::now(devices.pid()), p.log.head().await?);
    simledger_cputime::disable();
    let (p50, p99, _) = simledger_core::ingest::latency_percentiles().unwrap_or_default();
    let paced_events = (head1 - head0).max(1) as f64;
    let paced_rate = paced_events / (cpu1.at - cpu0.at).as_secs_f64();
    devices.stop().await?;
    platform::drain_ingest(&p, Duration::from_secs(300)).await?;

    eprintln!("measuring the append-only reference…");
    let (ref_db, ref_pool) = BenchDatabase::create(config, "ingest_reference").await?;
    let ref_log = simledger_eventlog::EventLog::new(ref_pool);
    let spec = super::eventlog::spec(args.reference_events, 10_000);
    let ref_cpu0 = CpuReading::now(None);
    let secs = super::eventlog::append_all(&ref_log, &spec, 64, 20).await?;
    let ref_cpu1 = CpuReading::now(None);
    let append_rate = args.reference_events as f64 / secs;
    // Everything the append-only run used: this process (the appender and its callers) and
    // Postgres. Each difference on its own and saturating: a server backend that exited between
    // the readings (a pool closing an idle connection) takes its time out of the later one.
    let used = ref_cpu1.process.saturating_sub(ref_cpu0.process) + ref_cpu1.postgres.saturating_sub(ref_cpu0.postgres);
    let append_us = used as f64 / 1000.0 / args.reference_events as f64;

    let mut figures = vec![
        Figure::plain("sims", args.sims as f64, "devices"),
        Figure::plain("paced_70pct_rate", paced_rate, "events/s"),
        Figure::plain("ingest_latency_p50", p50 as f64, "ms"),
        Figure::plain("ingest_latency_p99", p99 as f64, "ms"),
    ];
    let breakdown = cpu0.breakdown(&cpu1, paced_events);
    figures.extend(breakdown.figures());
    figures.push(Figure::against(
        "platform_cpu_per_event",
        breakdown.platform_us,
        "µs/event",
        "append-only's, same run",
        append_us,
    ));
    figures.push(Figure::against("ingest", ingest_rate, "events/s", "append-only, same run", append_rate));
    print(&figures, args.json);
    drop(p);
    ref_db.drop_database().await?;
    db.drop_database().await?;
    Ok(())
}

/// Starts every device of the plan, at `rate` requests/s (0: unlimited), on a fresh timeline.
async fn start_devices(
    config: &Config,
    p: &platform::Platform,
    args: &IngestArgs,
    rate: f64,
) -> anyhow::Result<super::devices::Devices> {
    // Each phase starts its own simulated day, so its requests are new happenings.
    let start = SimConfig::default_start() + chrono::Duration::days(if rate > 0.0 { 1 } else { 0 });
    super::devices::Devices::start(config, p, args.sims, rate, start, args.simulator_process).await
}

/// Processor time used so far: by each metered stage of this process, by this whole process,
/// and by the Postgres and NATS servers.
struct CpuReading {
    at: Instant,
    stages: Vec<(&'static str, u64)>,
    process: u64,
    /// The simulated devices' own process, when they run in one.
    devices_process: u64,
    postgres: u64,
    nats_server: u64,
}

/// Microseconds of processor time per event, by stage, between two readings.
struct CpuBreakdown {
    /// (stage, µs per event), the simulator's first.
    stages: Vec<(String, f64)>,
    /// Everything but the simulator's own stage: the cost of the platform per event.
    platform_us: f64,
    /// Cores busy on average over the interval, servers included.
    cores_busy: f64,
}

impl CpuReading {
    fn now(devices: Option<u32>) -> Self {
        Self {
            at: Instant::now(),
            stages: simledger_cputime::stages(),
            process: simledger_cputime::process_ns(),
            devices_process: devices.map_or(0, simledger_cputime::process),
            postgres: simledger_cputime::processes("postgres"),
            nats_server: simledger_cputime::processes("nats-server"),
        }
    }

    fn breakdown(&self, later: &CpuReading, events: f64) -> CpuBreakdown {
        let us = |ns: u64| ns as f64 / 1000.0 / events;
        let mut stages = Vec::new();
        let mut metered = 0;
        for &(name, ns) in &later.stages {
            let before = self.stages.iter().find(|(n, _)| *n == name).map_or(0, |s| s.1);
            let used = ns.saturating_sub(before);
            metered += used;
            stages.push((name.to_owned(), used));
        }
        let devices_process = later.devices_process.saturating_sub(self.devices_process);
        if devices_process > 0 {
            stages.push(("simulator".to_owned(), devices_process));
        }
        // The simulator first, then the platform's stages in the order they ran.
        stages.sort_by_key(|(name, _)| *name != "simulator");
        let simulator = stages.iter().find(|(n, _)| n == "simulator").map_or(0, |s| s.1);
        let process = later.process.saturating_sub(self.process);
        let (postgres, nats_server) =
            (later.postgres.saturating_sub(self.postgres), later.nats_server.saturating_sub(self.nats_server));
        // The runtime's own work and the NATS and Postgres clients' connection tasks, shared by
        // the simulator and the platform.
        stages.push(("unmetered_in_process".to_owned(), process.saturating_sub(metered)));
        stages.push(("postgres".to_owned(), postgres));
        stages.push(("nats_server".to_owned(), nats_server));
        let all = process + devices_process + postgres + nats_server;
        CpuBreakdown {
            stages: stages.into_iter().map(|(name, ns)| (name, us(ns))).collect(),
            platform_us: us(all.saturating_sub(simulator)),
            cores_busy: all as f64 / 1e9 / (later.at - self.at).as_secs_f64(),
        }
    }
}

impl CpuBreakdown {
    fn figures(&self) -> Vec<Figure> {
        let mut figures: Vec<Figure> =
            self.stages.iter().map(|(name, us)| Figure::plain(&format!("cpu_{name}"), *us, "µs/event")).collect();
        figures.push(Figure::plain("cores_busy", self.cores_busy, "cores"));
        figures
    }
}
