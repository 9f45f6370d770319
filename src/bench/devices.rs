//! The simulated devices in a process of their own (`--simulator-process`): what a bench
//! measures is then the platform, as devices outside it reach it in production, without the
//! simulator's thousands of tasks in the platform's runtime queue.
//!
//! `simledger bench devices` (hidden) drives an already provisioned plan over NATS and prints
//! its running request count, one `requests N` line at a time; it stops when its standard input
//! closes, so it never outlives the bench that started it. [`Devices`] is the bench's side.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use simledger_core::simulator::{FleetPlan, SimConfig, Simulator};
use simledger_core::CoreNames;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use crate::config::Config;
use crate::platform::Platform;

/// The seed of the fleet plan the benches provision and their devices drive.
pub(crate) const PLAN_SEED: u64 = 7;

#[derive(Debug, Args)]
pub struct DevicesArgs {
    /// SIMs in the provisioned plan (the same `--sims` the bench provisioned, seed [`PLAN_SEED`]).
    #[arg(long)]
    sims: usize,
    /// Most device requests per wall second (0: unlimited).
    #[arg(long)]
    rate: f64,
    /// Simulated time of the first happening (RFC 3339).
    #[arg(long)]
    start: chrono::DateTime<chrono::Utc>,
}

/// How often the child reports its count: fine enough for a measured window of seconds.
const REPORT_EVERY: Duration = Duration::from_millis(100);

/// The child's side: runs the devices until standard input closes.
pub async fn run(config: &Config, args: DevicesArgs) -> anyhow::Result<()> {
    let nats = simledger_services::nats::connect(&config.nats_url).await?;
    let names = CoreNames::new(config.nats_prefix()?);
    let sim = Simulator::new(nats, names, sim_config(args.rate, args.start));
    let plan = FleetPlan::generate(PLAN_SEED, args.sims);
    let runner = sim.clone();
    let driving = tokio::spawn(async move { runner.run(&plan).await });
    let mut stdin = tokio::io::stdin();
    let mut stdout = tokio::io::stdout();
    let mut ticks = tokio::time::interval(REPORT_EVERY);
    let mut byte = [0u8; 64];
    loop {
        tokio::select! {
            _ = ticks.tick() => {
                stdout.write_all(format!("requests {}\n", requests(&sim)).as_bytes()).await?;
                stdout.flush().await?;
            }
            read = stdin.read(&mut byte) => {
                if matches!(read, Ok(0) | Err(_)) {
                    break;
                }
            }
        }
    }
    sim.stop();
    driving.abort();
    stdout.write_all(format!("requests {}\n", requests(&sim)).as_bytes()).await?;
    stdout.flush().await?;
    Ok(())
}

/// Ordinary traffic from `start` on, as fast as `rate` allows.
fn sim_config(rate: f64, start: chrono::DateTime<chrono::Utc>) -> SimConfig {
    SimConfig { scenario: Default::default(), seed: PLAN_SEED, start, duration: None, speed: 0.0, rate }
}

/// Device requests made so far (each is one NATS request to a node).
pub(crate) fn requests(sim: &Simulator) -> u64 {
    let s = &sim.stats;
    let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
    // attach + (create + delete per session) + reports + SMS + datagrams
    n(&s.attaches_accepted)
        + n(&s.attaches_rejected)
        + n(&s.attaches_failed)
        + 2 * n(&s.sessions_opened)
        + n(&s.sessions_failed)
        + n(&s.usage_reports)
        + n(&s.sms)
        + n(&s.ip_commands)
}

/// A bench's devices: in its own process, or in a child process.
pub(crate) enum Devices {
    InProcess(Simulator),
    Child { child: tokio::process::Child, requests: Arc<AtomicU64>, reader: tokio::task::JoinHandle<()> },
}

impl Devices {
    /// Starts driving the plan of `sims` SIMs (already provisioned) against the platform `p`,
    /// from the simulated time `start` on.
    pub(crate) async fn start(
        config: &Config,
        p: &Platform,
        sims: usize,
        rate: f64,
        start: chrono::DateTime<chrono::Utc>,
        own_process: bool,
    ) -> anyhow::Result<Self> {
        if !own_process {
            let sim = Simulator::new(p.nats.clone(), p.names.clone(), sim_config(rate, start));
            let (runner, plan) = (sim.clone(), FleetPlan::generate(PLAN_SEED, sims));
            tokio::spawn(async move { runner.run(&plan).await });
            return Ok(Self::InProcess(sim));
        }
        let prefix = config.nats_prefix()?;
        let mut child = tokio::process::Command::new(std::env::current_exe()?)
            .args(["bench", "devices", "--sims", &sims.to_string()])
            .args(["--rate", &rate.to_string(), "--start", &start.to_rfc3339()])
            .args(["--nats-url", &config.nats_url, "--nats-prefix", &prefix])
            .args(["--log", "warn"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let stdout = child.stdout.take().expect("piped");
        let requests = Arc::new(AtomicU64::new(0));
        let count = requests.clone();
        let (ready, started) = tokio::sync::oneshot::channel();
        let reader = tokio::spawn(async move {
            let mut ready = Some(ready);
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(n) = line.strip_prefix("requests ").and_then(|n| n.parse().ok()) {
                    count.store(n, Ordering::Relaxed);
                    if let Some(ready) = ready.take() {
                        let _ = ready.send(());
                    }
                }
            }
        });
        // The first count comes once the child is connected and its devices are starting: the
        // bench's warm-up counts from there, not from the process's start.
        match tokio::time::timeout(Duration::from_secs(60), started).await {
            Ok(Ok(())) => Ok(Self::Child { child, requests, reader }),
            _ => anyhow::bail!("the devices' process did not start"),
        }
    }

    /// The devices' own process, when they run in one.
    pub(crate) fn pid(&self) -> Option<u32> {
        match self {
            Self::InProcess(_) => None,
            Self::Child { child, .. } => child.id(),
        }
    }

    pub(crate) fn requests(&self) -> u64 {
        match self {
            Self::InProcess(sim) => requests(sim),
            Self::Child { requests, .. } => requests.load(Ordering::Relaxed),
        }
    }

    /// Stops the devices; a child is told by closing its input and waited for.
    pub(crate) async fn stop(self) -> anyhow::Result<()> {
        match self {
            Self::InProcess(sim) => sim.stop(),
            Self::Child { mut child, reader, .. } => {
                drop(child.stdin.take());
                let status = tokio::time::timeout(Duration::from_secs(30), child.wait()).await??;
                reader.await?;
                anyhow::ensure!(status.success(), "the devices' process ended with {status}");
            }
        }
        Ok(())
    }
}
