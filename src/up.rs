//! `simledger up`: every role in one process (or the ones named with `--roles`), with a small
//! simulated fleet so a fresh install has something to show.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, ValueEnum};
use simledger_api::{AppState, Application};
use simledger_core::simulator::{FleetPlan, SimConfig, SimStats, Simulator};
use simledger_eventlog::EventLog;

use crate::config::Config;
use crate::platform::{self, Platform};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Role {
    /// HTTP: REST, JSON-RPC, dashboard, health and metrics.
    Api,
    /// The embedded core nodes (HSS, MME, SGW/PGW, SMSC).
    Core,
    /// JetStream `CORE` → event log.
    Ingest,
    /// Projections of the log.
    Projections,
    /// CDR exporters.
    Exporters,
    /// Event-stream sinks.
    Sinks,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Roles this process runs.
    #[arg(long, value_delimiter = ',', default_value = "api,core,ingest,projections,exporters,sinks")]
    roles: Vec<Role>,
    /// Seconds between one-line activity summaries in the log.
    #[arg(long, env = "SIMLEDGER_SUMMARY_SECONDS", default_value_t = 10)]
    summary_seconds: u64,
    /// SIMs in the built-in simulated fleet (0: none). Needs the core role.
    #[arg(long, env = "SIMLEDGER_SIM_SIMS", default_value_t = 200)]
    sim_sims: usize,
    /// Requests per second each account may make to the API (0: no limit); over it, 429/20429.
    #[arg(long, env = "SIMLEDGER_API_RATE_LIMIT", default_value_t = simledger_api::DEFAULT_RATE_LIMIT)]
    api_rate_limit: u32,
    /// Simulated seconds per wall second for the built-in fleet (1: real time).
    #[arg(long, env = "SIMLEDGER_SIM_SPEED", default_value_t = 1.0)]
    sim_speed: f64,
}

pub async fn run(config: &Config, args: UpArgs) -> anyhow::Result<()> {
    let has = |r: Role| args.roles.contains(&r);
    let p = platform::start(config, has(Role::Core), has(Role::Ingest)).await?;
    let _ = simledger_api::prometheus_handle();
    tracing::info!(stream = %p.names.stream(), subjects = %p.names.all_subjects(), "core stream ready");
    if has(Role::Sinks) {
        simledger_exporters::callbacks::spawn(p.log.clone());
    }

    let server = if has(Role::Api) {
        let mut state = AppState::new(p.commands.clone(), Some(p.nats.clone())).with_rate_limit(args.api_rate_limit);
        if let Some(core) = &p.core {
            let publisher = core.publisher.clone();
            state = state.with_check("core_publisher", move || publisher.is_healthy());
        }
        let app =
            Application::bind(config.listen, state).await.with_context(|| format!("binding {}", config.listen))?;
        tracing::info!(
            "API listening on http://{addr} (docs: http://{addr}/docs, health: http://{addr}/readyz)",
            addr = app.local_addr()
        );
        Some(tokio::spawn(app.serve(shutdown_signal())))
    } else {
        None
    };
    // After the API is up: provisioning the built-in fleet takes a moment and is not what
    // readiness depends on.
    let simulation = if has(Role::Core) && args.sim_sims > 0 {
        let plan_account = FleetPlan::generate(1, 0).account_sid;
        let accounts = simledger_commands::Accounts::new(p.log.pool().clone());
        let credentials = platform::simulated_account(config, &accounts, &plan_account).await?;
        tracing::info!(
            "the simulated fleet belongs to account {plan_account}; its credentials for /v1 are in {}",
            credentials.display()
        );
        Some(start_simulated_fleet(&p, args.sim_sims, args.sim_speed))
    } else {
        None
    };
    // The database by name only: a URL may carry a password.
    let database = simledger_services::postgres::database_name(&config.database_url)?;
    tracing::info!(roles = ?args.roles, %database, nats_prefix = %p.names.prefix(), "simledger is up");

    let every = Duration::from_secs(args.summary_seconds.max(1));
    let stats = simulation.as_ref().map(|s| s.stats.clone());
    let summaries = tokio::spawn(summarize(
        p.log.clone(),
        [Some(&p.registry), p.limits.as_ref(), Some(&p.usage)]
            .into_iter()
            .flatten()
            .map(|h| h.progress.clone())
            .collect(),
        stats,
        p.core.as_ref().map(|c| c.pgw.clone()),
        every,
    ));
    shutdown_signal().await;
    tracing::info!("shutting down");
    summaries.abort();
    if let Some(ingest) = &p.ingest {
        ingest.abort();
    }
    if let Some(server) = server {
        server.await??;
    }
    Ok(())
}

/// Provisions the built-in fleet (idempotently) in the background, then runs its devices in
/// real time from now.
fn start_simulated_fleet(p: &Platform, sims: usize, speed: f64) -> Simulator {
    let config = SimConfig { seed: 1, start: chrono::Utc::now(), duration: None, speed, rate: 200.0 };
    let simulator = Simulator::new(p.nats.clone(), p.names.clone(), config);
    let (runner, commands, log) = (simulator.clone(), p.commands.clone(), p.log.clone());
    let views = p.core.as_ref().expect("the core role is running").views.clone();
    tokio::spawn(async move {
        let plan = FleetPlan::generate(1, sims);
        if let Err(e) = platform::provision(&commands, &plan, None).await {
            tracing::error!(error = %e, "could not provision the simulated fleet");
            return;
        }
        views.caught_up(&log, Duration::from_secs(60)).await;
        tracing::info!(sims, speed, "simulated fleet running");
        runner.run(&plan).await
    });
    simulator
}

/// One line per interval: what the operator wants to see scroll by.
async fn summarize(
    log: EventLog,
    projections: Vec<tokio::sync::watch::Receiver<i64>>,
    stats: Option<Arc<SimStats>>,
    pgw: Option<simledger_core::pgw::Pgw>,
    every: Duration,
) {
    let mut last = (Instant::now(), log.head().await.unwrap_or(0));
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tick.tick().await;
        let Ok(head) = log.head().await else { continue };
        let now = Instant::now();
        let rate = (head - last.1) as f64 / (now - last.0).as_secs_f64();
        // The slowest projection's distance from the head.
        let lag = head - projections.iter().map(|p| *p.borrow()).min().unwrap_or(head);
        metrics::gauge!("simledger_projection_lag_events").set(lag as f64);
        let (accepted, rejected) = stats
            .as_ref()
            .map(|s| (s.attaches_accepted.load(Ordering::Relaxed), s.attaches_rejected.load(Ordering::Relaxed)))
            .unwrap_or_default();
        let sessions = pgw.as_ref().map(|p| p.open_sessions()).unwrap_or(0);
        tracing::info!(
            "events/s {rate:.0} | log position {head} | projection lag {lag} | attaches accepted {accepted} rejected {rejected} | sessions open {sessions}"
        );
        last = (now, head);
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {},
        _ = term.recv() => {},
    }
}
