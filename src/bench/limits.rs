//! `simledger bench limits`: data-limit enforcement under the `bench ingest` load.
//!
//! Three runs in one invocation, each on its own database, the fleet's SIMs with a 1 MB limit:
//! devices as fast as they go without the limits projection (the reference) and with it, then
//! with it at 80% of the reference's request rate. Figures: the sustained ingest rate of the
//! first two and `limits_overhead` = 1 − with/without; the reaction time from the commit of
//! the window that crossed a limit to the PGW's view applying the block (p50/p99), at 80% load
//! (`reaction_*`) and at saturation (`reaction_saturated_*`, where every stage queues); and the
//! mean overshoot, bytes counted beyond the limit in blocked periods (what was in flight
//! before the block took hold).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use clap::Args;
use hdrhistogram::Histogram;
use simledger_core::simulator::FleetPlan;
use simledger_eventlog::Event;
use tokio::sync::Mutex;

use super::devices::{Devices, PLAN_SEED};
use super::report::{print, Figure};
use super::BenchDatabase;
use crate::config::Config;
use crate::platform::{self, Platform};

#[derive(Debug, Args)]
pub struct LimitsArgs {
    /// SIMs in the simulated fleet (each one a concurrent device).
    #[arg(long, default_value_t = 10_000)]
    sims: usize,
    /// Wall seconds of measured traffic per run.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// The fleet's data limit, in MB.
    #[arg(long, default_value_t = 1)]
    limit_mb: i64,
    /// Run the simulated devices in a process of their own, as devices outside the platform
    /// reach it in production: the figures then leave out the simulator's share of this
    /// process's runtime.
    #[arg(long)]
    simulator_process: bool,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
}

struct Run {
    rate: f64,
    requests_per_second: f64,
    reaction_ms: Option<Reactions>,
    overshoot_mean: f64,
    blocked: i64,
}

pub async fn run(config: &Config, args: LimitsArgs) -> anyhow::Result<()> {
    // Each run's databases stay until both are done: the first run's background tasks idle
    // on them rather than retrying against a dropped database during the second.
    let (without, reference_db) = one_run(config, &args, false, 0.0).await?;
    let (with, db) = one_run(config, &args, true, 0.0).await?;
    let paced_rate = 0.8 * without.requests_per_second;
    let (paced, paced_db) = one_run(config, &args, true, paced_rate).await?;
    for db in [reference_db, db, paced_db] {
        db.drop_database().await?;
    }
    let qn = |run: &Run, part: usize, p: f64| {
        let h = &run.reaction_ms.as_ref().expect("measured with the projection")[part];
        if h.is_empty() {
            0.0
        } else {
            h.value_at_quantile(p) as f64
        }
    };
    let q = |run: &Run, p: f64| qn(run, 0, p);
    let figures = vec![
        Figure::plain("sims", args.sims as f64, "devices"),
        Figure::plain("limit", args.limit_mb as f64, "MB"),
        Figure::plain("sims_blocked", with.blocked as f64, "SIMs"),
        Figure::plain("paced_80pct_rate", paced.rate, "events/s"),
        Figure::plain("reaction_p50", q(&paced, 0.5), "ms"),
        Figure::plain("reaction_p99", q(&paced, 0.99), "ms"),
        Figure::plain("reaction_decide_p99", qn(&paced, 1, 0.99), "ms"),
        Figure::plain("reaction_apply_p99", qn(&paced, 2, 0.99), "ms"),
        Figure::plain("reaction_saturated_p50", q(&with, 0.5), "ms"),
        Figure::plain("reaction_saturated_p99", q(&with, 0.99), "ms"),
        Figure::plain("overshoot_mean", with.overshoot_mean, "bytes"),
        Figure::against("ingest_with_limits", with.rate, "events/s", "same load, no limits projection", without.rate),
        Figure {
            ratio: Some(1.0 - with.rate / without.rate.max(1e-9)),
            ..Figure::against("limits_overhead", with.rate, "events/s", "1 - with/without", without.rate)
        },
    ];
    print(&figures, args.json);
    Ok(())
}

/// One run: devices at `rate` requests/s (0: as fast as they go).
async fn one_run(config: &Config, args: &LimitsArgs, limits: bool, rate: f64) -> anyhow::Result<(Run, BenchDatabase)> {
    let name = match (limits, rate > 0.0) {
        (false, _) => "limits_reference",
        (true, false) => "limits",
        (true, true) => "limits_paced",
    };
    let (db, pool) = BenchDatabase::create(config, name).await?;
    let mut bench_config = config.clone();
    bench_config.database_url = db.url.clone();
    bench_config.nats_prefix = Some(format!("bench{}", &uuid::Uuid::new_v4().simple().to_string()[..8]));
    let p = platform::start_with(&bench_config, true, true, platform::Projections { limits, billing: false }).await?;
    eprintln!("{name}: provisioning {} SIMs with a {} MB limit…", args.sims, args.limit_mb);
    let plan = FleetPlan::generate(PLAN_SEED, args.sims);
    platform::provision(&p.commands, &plan, Some(args.limit_mb)).await?;
    let core = p.core.as_ref().expect("bench runs the core");
    anyhow::ensure!(core.views.caught_up(&p.log, Duration::from_secs(120)).await, "core views behind");

    let reaction = limits.then(|| track_reactions(&p));
    let start = simledger_core::simulator::SimConfig::default_start();
    let devices = Devices::start(&bench_config, &p, args.sims, rate, start, args.simulator_process).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (t0, head0, req0) = (Instant::now(), p.log.head().await?, devices.requests());
    eprintln!("{name}: measuring for {} s…", args.seconds);
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    let (t1, head1, req1) = (Instant::now(), p.log.head().await?, devices.requests());
    devices.stop().await?;
    anyhow::ensure!(req1 > req0, "{name}: the devices made no request while measured");
    platform::drain_ingest(&p, Duration::from_secs(300)).await?;
    for handle in [&p.enforcer, &p.limits].into_iter().flatten() {
        handle.reached(p.log.head().await?).await;
    }
    let (overshoot_mean, blocked) = if limits {
        let row: (Option<f64>, i64) =
            sqlx::query_as("SELECT avg(used_bytes - $1)::float8, count(*) FROM limits_periods WHERE used_bytes > $1")
                .bind(args.limit_mb * simledger_projections::limits::BYTES_PER_MB)
                .fetch_one(&pool)
                .await?;
        (row.0.unwrap_or(0.0), row.1)
    } else {
        (0.0, 0)
    };
    let reaction_ms = match reaction {
        Some((task, hist)) => {
            task.abort();
            Some(hist.lock().await.clone())
        }
        None => None,
    };
    drop(p);
    let secs = (t1 - t0).as_secs_f64();
    let (rate, requests_per_second) = ((head1 - head0) as f64 / secs, (req1 - req0) as f64 / secs);
    Ok((Run { rate, requests_per_second, reaction_ms, overshoot_mean, blocked }, db))
}

/// Reaction times (ms): [crossing → view applied, crossing → decision logged, logged → applied].
type Reactions = [Histogram<u64>; 3];

/// When the views reached each position they moved to, in order.
type ViewStamps = Vec<(i64, DateTime<Utc>)>;

/// Follows the log: for each `sim.data_limit_reached`, the time from the commit of that SIM's
/// last usage window (the crossing) to the moment the PGW's view applied the decision. The
/// view's progress is timestamped as it moves, so a tracker running behind does not inflate
/// the figure.
fn track_reactions(p: &Platform) -> (tokio::task::JoinHandle<()>, Arc<Mutex<Reactions>>) {
    let new = || Histogram::<u64>::new(3).expect("histogram");
    let hist = Arc::new(Mutex::new([new(), new(), new()]));
    let views = p.core.as_ref().expect("core").views.clone();
    let applied: Arc<std::sync::Mutex<ViewStamps>> = Arc::default();
    let mut progress = views.progress();
    let stamps = applied.clone();
    let stamper = tokio::spawn(async move {
        while progress.changed().await.is_ok() {
            let position = *progress.borrow_and_update();
            stamps.lock().expect("stamps lock").push((position, Utc::now()));
        }
    });
    let (log, out) = (p.log.clone(), hist.clone());
    let task = tokio::spawn(async move {
        let Ok(head) = log.head().await else { return };
        let Ok(mut sub) = log.subscribe(head, 1000).await else { return };
        let mut last_usage: HashMap<String, DateTime<Utc>> = HashMap::new();
        loop {
            let Ok(events) = sub.next_batch().await else { break };
            for e in events {
                match &e.event {
                    Event::DataSessionUpdated(c) | Event::DataSessionEnded(c) => {
                        last_usage.insert(c.sim_sid.clone(), e.recorded_at);
                    }
                    Event::SimDataLimitReached(d) => {
                        let Some(crossed) = last_usage.get(d.sim_sid.as_str()).copied() else { continue };
                        // The view applies positions in order; wait until it has this one.
                        let applied_at = loop {
                            let found = {
                                let stamps = applied.lock().expect("stamps lock");
                                let i = stamps.partition_point(|(p, _)| *p < e.position);
                                stamps.get(i).map(|(_, at)| *at)
                            };
                            match found {
                                Some(at) => break at,
                                None => tokio::time::sleep(Duration::from_millis(1)).await,
                            }
                        };
                        let ms = |d: chrono::Duration| (d.num_milliseconds().max(0) as u64).max(1);
                        let mut h = out.lock().await;
                        // [crossing → view applied, crossing → decision logged, logged → applied]
                        let _ = h[0].record(ms(applied_at - crossed));
                        let _ = h[1].record(ms(e.recorded_at - crossed));
                        let _ = h[2].record(ms(applied_at - e.recorded_at));
                    }
                    _ => {}
                }
            }
        }
        stamper.abort();
    });
    (task, hist)
}
