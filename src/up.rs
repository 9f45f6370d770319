//! `simledger up`: every role in one process (or the ones named with `--roles`).

use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, ValueEnum};
use simledger_api::{AppState, Application};
use simledger_eventlog::EventLog;
use simledger_projections::{registry, ProjectionHandle};

use crate::config::Config;

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
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "api,core,ingest,projections,exporters,sinks"
    )]
    roles: Vec<Role>,
    /// Seconds between one-line activity summaries in the log.
    #[arg(long, env = "SIMLEDGER_SUMMARY_SECONDS", default_value_t = 10)]
    summary_seconds: u64,
}

pub async fn run(config: &Config, args: UpArgs) -> anyhow::Result<()> {
    let data_dir = config.data_dir();
    let pool = simledger_services::postgres::prepare(&config.database_url, &data_dir, 16)
        .await
        .context("preparing PostgreSQL")?;
    simledger_services::nats::ensure_running(&config.nats_url, &data_dir)
        .await
        .context("starting NATS")?;
    let nats = async_nats_connect(&config.nats_url).await?;
    let prefix = config.nats_prefix()?;
    let log = EventLog::new(pool);
    let _ = simledger_api::prometheus_handle();
    let has = |r: Role| args.roles.contains(&r);

    if has(Role::Core) || has(Role::Ingest) {
        let names = simledger_core::CoreNames::new(&prefix);
        let js = async_nats::jetstream::new(nats.clone());
        simledger_core::ensure_core_stream(&js, &names).await?;
        tracing::info!(stream = %names.stream(), subjects = %names.all_subjects(), "core stream ready");
    }
    let mut projections: Vec<ProjectionHandle> = Vec::new();
    if has(Role::Projections) {
        projections.push(simledger_projections::spawn(
            log.clone(),
            registry::NAME,
            registry::Registry,
        ));
    }
    let server = if has(Role::Api) {
        let app = Application::bind(
            config.listen,
            AppState::new(log.clone(), Some(nats.clone())),
        )
        .await
        .with_context(|| format!("binding {}", config.listen))?;
        tracing::info!(
            "API listening on http://{addr} (docs: http://{addr}/docs, health: http://{addr}/readyz)",
            addr = app.local_addr()
        );
        Some(tokio::spawn(app.serve(shutdown_signal())))
    } else {
        None
    };
    // The database by name only: a URL may carry a password.
    let database = simledger_services::postgres::database_name(&config.database_url)?;
    tracing::info!(roles = ?args.roles, %database, nats_prefix = %prefix, "simledger is up");

    let summaries = tokio::spawn(summarize(
        log.clone(),
        projections,
        Duration::from_secs(args.summary_seconds.max(1)),
    ));
    shutdown_signal().await;
    tracing::info!("shutting down");
    summaries.abort();
    if let Some(server) = server {
        server.await??;
    }
    Ok(())
}

async fn async_nats_connect(url: &str) -> anyhow::Result<async_nats::Client> {
    // Retries for ever after the first connection: a NATS restart must not take simledger down.
    async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .connect(url)
        .await
        .with_context(|| format!("connecting to NATS at {url}"))
}

/// One line per interval: what the operator wants to see scroll by.
async fn summarize(log: EventLog, projections: Vec<ProjectionHandle>, every: Duration) {
    let mut last = (Instant::now(), log.head().await.unwrap_or(0));
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tick.tick().await;
        let Ok(head) = log.head().await else { continue };
        let now = Instant::now();
        let rate = (head - last.1) as f64 / (now - last.0).as_secs_f64();
        let lag = projections
            .iter()
            .map(|p| head - *p.progress.borrow())
            .max()
            .unwrap_or(0);
        metrics::gauge!("simledger_projection_lag_events").set(lag as f64);
        tracing::info!("events/s {rate:.0} | log position {head} | projection lag {lag}");
        last = (now, head);
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {},
        _ = term.recv() => {},
    }
}
