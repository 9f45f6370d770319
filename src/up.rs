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
use simledger_exporters::billing_posts::BillingPoster;
use simledger_exporters::event_streams::SinkSettings;

use crate::config::Config;
use crate::config_file::ConfigFile;
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
    /// Configuration file, TOML or JSON, in CGrateS's shape (`general.default_tenant`,
    /// `ees.exporters`). Without one, the simulated fleet's CDRs are exported to
    /// `<data dir>/exports/<database>` every 5 minutes.
    #[arg(long, env = "SIMLEDGER_CONFIG")]
    config: Option<std::path::PathBuf>,
    /// The CGrateS-style JSON-RPC listener (`POST /jsonrpc`; no credentials on loopback, operator
    /// credentials elsewhere), or `off`.
    #[arg(long, env = "SIMLEDGER_JSONRPC_LISTEN", default_value = "127.0.0.1:2080")]
    jsonrpc_listen: String,
    /// The folder under which each customer's own file exporters write, one folder per account
    /// [default: `<data dir>/exports/tenants`].
    #[arg(long, env = "SIMLEDGER_TENANT_EXPORT_ROOT")]
    tenant_export_root: Option<std::path::PathBuf>,
    /// An S3 location an account's own exporters may write under, and the credentials they
    /// write with: `AC…=s3://bucket/prefix@name`, the set `SIMLEDGER_S3_<NAME>_ACCESS_KEY_ID`,
    /// `_SECRET_ACCESS_KEY` (and `_SESSION_TOKEN`, `_REGION`, `_ENDPOINT`, `_ALLOW_HTTP`), or
    /// `@process` for the process's own (repeat, or comma-separate in the environment).
    /// Without one an account has no S3 exporter.
    #[arg(long, env = "SIMLEDGER_TENANT_S3", value_delimiter = ',')]
    tenant_s3: Vec<String>,
    /// Failed logins a minute per account or key SID before the API answers 429.
    #[arg(long, env = "SIMLEDGER_MAX_FAILED_LOGINS", default_value_t = 10)]
    max_failed_logins: u32,
    /// Failed logins a minute per client address before the API answers 429.
    #[arg(long, env = "SIMLEDGER_MAX_FAILED_LOGINS_PER_SOURCE", default_value_t = 30)]
    max_failed_logins_per_source: u32,
    /// How long a sink's deliveries may keep failing before it shows `failed` (it keeps
    /// retrying, and resumes from its cursor when the receiver answers again).
    #[arg(long, env = "SIMLEDGER_SINK_FAIL_AFTER_SECONDS", default_value_t = 900)]
    sink_fail_after_seconds: u64,
    /// The longest pause between two delivery attempts of a failing sink.
    #[arg(long, env = "SIMLEDGER_SINK_MAX_BACKOFF_MS", default_value_t = 30_000)]
    sink_max_backoff_ms: u64,
}

pub async fn run(config: &Config, args: UpArgs) -> anyhow::Result<()> {
    let has = |r: Role| args.roles.contains(&r);
    let mut file = match &args.config {
        Some(path) => ConfigFile::load(path)?,
        None => ConfigFile::default(),
    };
    let jsonrpc_listen: Option<std::net::SocketAddr> = match args.jsonrpc_listen.as_str() {
        "off" | "" => None,
        addr => Some(addr.parse().with_context(|| format!("--jsonrpc-listen {addr:?} is not host:port or off"))?),
    };
    // Before any role that exports starts: runs, schedules and billing's *export all write
    // with the credentials these grants name.
    let root = match &args.tenant_export_root {
        Some(r) => r.clone(),
        None => config.data_dir().absolute()?.join("exports").join("tenants"),
    };
    let mut grants = simledger_exporters::cdr_export::grants::ExportGrants::new(root);
    for grant in &args.tenant_s3 {
        grants = grants.allow_s3_grant(grant).context("--tenant-s3")?;
    }

    let p = platform::start(config, has(Role::Core), has(Role::Ingest)).await?;
    let simulated_account = (has(Role::Core) && args.sim_sims > 0).then(|| FleetPlan::generate(1, 0).account_sid);
    let default_tenant = file.default_tenant.clone().or(simulated_account.clone());
    declare_exporters(config, &mut file, args.config.is_none(), simulated_account.as_deref(), &p).await?;
    if !file.ignored.is_empty() {
        tracing::info!(ignored = ?file.ignored, "configuration keys with no meaning in simledger were ignored");
    }
    let _ = simledger_api::prometheus_handle();
    tracing::info!(stream = %p.names.stream(), subjects = %p.names.all_subjects(), "core stream ready");
    // Read once: the accounts store derives tokens from the deployment secret, which sinks,
    // online exporters, the API and the simulated fleet all share.
    let secret = config.deployment_secret()?;
    let accounts = simledger_commands::Accounts::new(p.log.pool().clone()).with_token_secret(secret.as_bytes());
    if has(Role::Exporters) {
        // Definitions a command logged but did not get to apply (it crashed) are applied here.
        simledger_exporters::cdr_export::spawn_definitions(p.log.clone());
        tokio::spawn(run_export_schedules(p.log.clone()));
        let mut online = simledger_exporters::cdr_export::OnlineSettings::new(
            config.destination_policy(),
            accounts.clone(),
            secret.clone(),
        );
        online.reserved_subject_prefix = Some(p.names.prefix().to_owned());
        simledger_exporters::cdr_export::spawn_online(p.log.pool().clone(), p.log.shard(), online);
    }
    if has(Role::Sinks) {
        simledger_exporters::callbacks::spawn(p.log.clone());
        simledger_exporters::billing_posts::spawn(p.log.clone(), BillingPoster::new());
        simledger_exporters::outbound_calls::spawn(simledger_exporters::outbound_calls::Deliverer::new(
            p.log.pool().clone(),
            config.destination_policy(),
            accounts.clone(),
            secret.clone(),
        ));
        simledger_exporters::account_exports::spawn(p.log.clone());
        let mut settings = SinkSettings::new(config.destination_policy(), accounts.clone());
        settings.fail_after = Duration::from_secs(args.sink_fail_after_seconds);
        settings.max_backoff = Duration::from_millis(args.sink_max_backoff_ms.max(1));
        settings.first_backoff = settings.first_backoff.min(settings.max_backoff);
        simledger_exporters::event_streams::spawn(p.log.clone(), settings);
    }

    let server = if has(Role::Api) {
        let mut state = AppState::new(p.commands.clone(), Some(p.nats.clone()))
            .with_export_grants(grants)
            .with_login_limits(simledger_api::LoginLimits {
                per_credential: args.max_failed_logins,
                per_source: args.max_failed_logins_per_source,
            })
            .with_accounts(accounts.clone())
            .with_rate_limit(args.api_rate_limit)
            .with_default_tenant(default_tenant.clone());
        if let Some(core) = &p.core {
            let publisher = core.publisher.clone();
            state = state.with_check("core_publisher", move || publisher.is_healthy());
        }
        if let Some(addr) = jsonrpc_listen {
            let rpc = Application::bind_jsonrpc(addr, state.clone()).await.with_context(|| {
                format!("binding the JSON-RPC listener {addr} (--jsonrpc-listen off to go without)")
            })?;
            tracing::info!(
                tenant = default_tenant.as_deref().unwrap_or("(none: name one with Tenant)"),
                "CGrateS JSON-RPC listening on http://{}/jsonrpc",
                rpc.local_addr()
            );
            tokio::spawn(rpc.serve(shutdown_signal()));
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
        p.core.as_ref().map(|c| c.pgws.clone()).unwrap_or_default(),
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

/// Stores the exporters the configuration file declares (keeping their cursors); without a
/// file, one for the simulated fleet, so a fresh `up` exports CDRs out of the box.
async fn declare_exporters(
    config: &Config,
    file: &mut ConfigFile,
    no_file: bool,
    simulated_account: Option<&str>,
    p: &Platform,
) -> anyhow::Result<()> {
    let mut declared = file.exporters()?;
    if let (true, Some(account)) = (no_file, simulated_account) {
        // One folder per database, so instances sharing a data directory never share files.
        let database = simledger_services::postgres::database_name(&config.database_url)?;
        let dir = config.data_dir().absolute()?.join("exports").join(database);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut e = simledger_exporters::cdr_export::Exporter::new(
            "cdrs_csv",
            simledger_exporters::cdr_export::ExporterKind::FileCsv,
            dir.display().to_string(),
        );
        e.schedule = Some("*every:5m".into());
        e.declared = true;
        declared.push((account.to_owned(), e));
    }
    for (tenant, exporter) in &declared {
        simledger_exporters::cdr_export::check(exporter)
            .and_then(|()| simledger_exporters::cdr_export::check_destination(exporter, config.destination_policy()))
            .with_context(|| format!("exporter {} of {tenant} in the configuration", exporter.id))?;
    }
    for (tenant, exporter) in &declared {
        simledger_exporters::cdr_export::upsert(&p.log, tenant, exporter)
            .await
            .with_context(|| format!("declaring exporter {} of {tenant}", exporter.id))?;
        let scope = if tenant == simledger_exporters::cdr_export::OPERATOR { "every tenant" } else { "one tenant" };
        tracing::info!(id = %exporter.id, %tenant, scope, kind = %exporter.kind, path = %exporter.export_path,
            schedule = exporter.schedule.as_deref().unwrap_or("on demand"), "CDR exporter declared");
    }
    // An exporter an earlier configuration declared and this one does not (or declares for
    // another tenant) keeps its cursor but is no longer scheduled: two exporters must not go
    // on writing one folder.
    let stale = simledger_exporters::cdr_export::declared(p.log.pool()).await?;
    for (tenant, old) in stale {
        let still = declared.iter().any(|(t, e)| t == &tenant && e.id == old.id);
        if still || old.schedule.is_none() {
            continue;
        }
        tracing::warn!(id = %old.id, %tenant, "a CDR exporter no longer in the configuration is unscheduled");
        let unscheduled = simledger_exporters::cdr_export::Exporter { schedule: None, ..old };
        if let Err(e) = simledger_exporters::cdr_export::upsert(&p.log, &tenant, &unscheduled).await {
            // Its folder may be gone with its configuration: it stays as it was, and says so.
            tracing::warn!(id = %unscheduled.id, %tenant, error = %e, "the exporter could not be unscheduled");
        }
    }
    Ok(())
}

/// Runs scheduled CDR exporters when they are due (the `exporters` role).
async fn run_export_schedules(log: EventLog) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match simledger_exporters::cdr_export::schedule::run_due(log.pool(), log.shard()).await {
            Ok(runs) => {
                for run in runs {
                    match run.result {
                        Ok(r) if r.events > 0 => tracing::info!(exporter = %run.id, tenant = %run.tenant,
                            cdrs = r.events, files = ?r.file_paths, "scheduled CDR export"),
                        Ok(_) => tracing::debug!(exporter = %run.id, "scheduled CDR export: nothing new"),
                        Err(e) => tracing::warn!(exporter = %run.id, tenant = %run.tenant, error = %e,
                            "scheduled CDR export failed; the next firing retries it"),
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "checking CDR export schedules"),
        }
    }
}

/// Provisions the built-in fleet (idempotently) in the background, then runs its devices in
/// real time from now.
fn start_simulated_fleet(p: &Platform, sims: usize, speed: f64) -> Simulator {
    let config = SimConfig {
        scenario: Default::default(),
        seed: 1,
        start: chrono::Utc::now(),
        duration: None,
        speed,
        rate: 200.0,
    };
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
    pgws: Vec<simledger_core::pgw::Pgw>,
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
        let sessions: usize = pgws.iter().map(|p| p.open_sessions()).sum();
        let rtt = stats.as_ref().map(|s| rtt_summary(s)).unwrap_or_default();
        tracing::info!(
            "events/s {rate:.0} | log position {head} | projection lag {lag} | attaches accepted {accepted} rejected {rejected} | sessions open {sessions}{rtt}"
        );
        last = (now, head);
    }
}

/// ` | user-plane RTT eu-west 61 ms (120 sessions), …`: the simulator's modelled round trip per
/// breakout region.
pub fn rtt_summary(stats: &SimStats) -> String {
    stats
        .rtt_by_region()
        .iter()
        .map(|(region, sessions, ms)| format!(" | user-plane RTT {region} {ms:.0} ms ({sessions} sessions)"))
        .collect()
}

pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {},
        _ = term.recv() => {},
    }
}
