//! Starting simledger's components in one process: what `up` and `simulate` share.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures_util::{stream, TryStreamExt};
use std::path::PathBuf;

use simledger_commands::{Accounts, CommandId, Commands, NewFleet, Role, SimChanges};
use simledger_core::simulator::FleetPlan;
use simledger_core::{CoreNames, RunningCore};
use simledger_eventlog::catalog::SimStatus;
use simledger_eventlog::EventLog;
use simledger_projections::{
    cdrs, dashboard, device_commands, event_streams, limits, registry, usage, ProjectionHandle,
};
use tokio::task::JoinHandle;

use crate::config::Config;

pub struct Platform {
    pub log: EventLog,
    /// The `limits` read model; `None` when started without enforcement (`bench limits`'
    /// reference run).
    pub limits: Option<ProjectionHandle>,
    /// The data-limit enforcer (a decider), started with the read model.
    pub enforcer: Option<ProjectionHandle>,
    pub usage: ProjectionHandle,
    pub cdrs: ProjectionHandle,
    /// `None` when started without it (`bench billing`'s reference run).
    pub billing: Option<ProjectionHandle>,
    /// The device-signals decider (its decisions are part of a run's result).
    pub device_signals: ProjectionHandle,
    pub nats: async_nats::Client,
    pub names: CoreNames,
    pub registry: ProjectionHandle,
    pub commands: Commands,
    pub core: Option<RunningCore>,
    pub ingest: Option<JoinHandle<()>>,
    /// Background tasks with no handle above (device commands, plan scheduler, SMS dispatcher).
    others: Vec<tokio::task::AbortHandle>,
}

/// The platform's tasks end with it: a benchmark run that drops its platform (and then its
/// database) leaves nothing running against either.
impl Drop for Platform {
    fn drop(&mut self) {
        let projections = [
            Some(&self.registry),
            Some(&self.usage),
            Some(&self.cdrs),
            self.limits.as_ref(),
            self.enforcer.as_ref(),
            self.billing.as_ref(),
            Some(&self.device_signals),
        ];
        for p in projections.into_iter().flatten() {
            p.task.abort();
        }
        if let Some(ingest) = &self.ingest {
            ingest.abort();
        }
        for task in self.others.drain(..) {
            task.abort();
        }
    }
}

/// Prepares the services and starts the registry projection, and the core nodes and ingest
/// when asked.
pub async fn start(config: &Config, core: bool, ingest: bool) -> anyhow::Result<Platform> {
    start_with(config, core, ingest, Projections { limits: true, billing: true }).await
}

/// The optional projections (benchmarks measure the platform without them).
#[derive(Debug, Clone, Copy)]
pub struct Projections {
    pub limits: bool,
    pub billing: bool,
}

/// Connections in the platform's pool. The subscriptions share one `LISTEN` connection (see
/// `eventlog/src/wakeups.rs`), so the pool serves transactions and reads; when each held a
/// listener of its own, a dozen of them left a read waiting out the 10 s acquire timeout.
const POOL_CONNECTIONS: u32 = 16;

/// PostgreSQL prepared (created, migrated) with a pool of `connections`, and a NATS connection,
/// each server started first if it is local and not running.
pub async fn services(config: &Config, connections: u32) -> anyhow::Result<(sqlx::PgPool, async_nats::Client)> {
    let data_dir = config.data_dir();
    let pool = simledger_services::postgres::prepare(&config.database_url, &data_dir, connections)
        .await
        .context("preparing PostgreSQL")?;
    simledger_services::nats::ensure_running(&config.nats_url, &data_dir).await.context("starting NATS")?;
    // Retries for ever after the first connection: a NATS restart must not take simledger down.
    let nats = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .connect(&config.nats_url)
        .await
        .with_context(|| format!("connecting to NATS at {}", config.nats_url))?;
    Ok((pool, nats))
}

/// [`start`], with or without the limits projection.
pub async fn start_with(config: &Config, core: bool, ingest: bool, extra: Projections) -> anyhow::Result<Platform> {
    let (pool, nats) = services(config, POOL_CONNECTIONS).await?;
    let names = CoreNames::new(config.nats_prefix()?);
    let breakout = config.breakout()?;
    let log = EventLog::new(pool);
    let registry = simledger_projections::spawn(log.clone(), registry::NAME, registry::Registry);
    let device_commands =
        simledger_projections::spawn(log.clone(), device_commands::NAME, device_commands::DeviceCommands);
    let mut others = vec![device_commands.task.abort_handle()];
    let limits = extra
        .limits
        .then(|| simledger_projections::spawn(log.clone(), simledger_projections::limits::NAME, limits::Limits));
    let enforcer = extra.limits.then(|| simledger_policies::spawn_data_limit_enforcer(log.clone()));
    let usage = simledger_projections::spawn(log.clone(), usage::NAME, usage::Usage);
    let cdrs = simledger_projections::spawn(log.clone(), cdrs::NAME, cdrs::Cdrs);
    let billing = extra.billing.then(|| simledger_policies::spawn_billing(log.clone()));
    let event_streams = simledger_projections::spawn(log.clone(), event_streams::NAME, event_streams::EventStreams);
    others.push(event_streams.task.abort_handle());
    let dashboard = simledger_projections::spawn(log.clone(), dashboard::NAME, dashboard::Dashboard);
    others.push(dashboard.task.abort_handle());
    others.push(simledger_policies::spawn_esim_installer(log.clone()).task.abort_handle());
    let device_signals = simledger_policies::spawn_device_signals(log.clone());
    let mut commands = Commands::new(log.clone(), registry.progress.clone())
        .with_code_pepper(config.deployment_secret()?.as_bytes())
        .with_visibility(device_commands.progress.clone())
        .with_visibility(event_streams.progress.clone())
        .with_cdrs(cdrs.progress.clone())
        .with_destination_policy(config.destination_policy())
        .with_breakout_regions(&breakout.regions);
    if let Some(b) = &billing {
        commands = commands.with_billing(b.progress.clone());
        others.push(simledger_policies::plan_scheduler::spawn(log.clone()).abort_handle());
    }
    simledger_core::ensure_streams(&async_nats::jetstream::new(nats.clone()), &names).await?;
    let core = if core {
        let interval = chrono::Duration::minutes(6);
        Some(simledger_core::start_nodes_with(nats.clone(), &names, log.clone(), interval, &breakout).await?)
    } else {
        None
    };
    let ingest = ingest.then(|| simledger_core::start_ingest(nats.clone(), names.clone(), log.clone()));
    if core.is_some() {
        let dispatcher = simledger_core::dispatch::SmsDispatcher::new(nats.clone(), &names);
        others.push(simledger_core::dispatch::spawn(log.clone(), dispatcher).abort_handle());
        let ip = simledger_core::dispatch::IpDispatcher::new(nats.clone(), &names);
        others.push(simledger_core::dispatch::spawn_dispatcher(log.clone(), ip).abort_handle());
    }
    Ok(Platform {
        log,
        limits,
        enforcer,
        usage,
        cdrs,
        billing,
        device_signals,
        nats,
        names,
        registry,
        commands,
        core,
        ingest,
        others,
    })
}

/// The event log and the registry, without NATS: what the operator's CLI commands need.
pub async fn open_store(config: &Config) -> anyhow::Result<(Commands, ProjectionHandle)> {
    let pool = simledger_services::postgres::prepare(&config.database_url, &config.data_dir(), 4)
        .await
        .context("preparing PostgreSQL")?;
    let log = EventLog::new(pool);
    let registry = simledger_projections::spawn(log.clone(), registry::NAME, registry::Registry);
    let commands = Commands::new(log, registry.progress.clone())
        .with_code_pepper(config.deployment_secret()?.as_bytes())
        .with_breakout_regions(&config.breakout()?.regions);
    Ok((commands, registry))
}

/// Credentials of the simulated fleet's account, kept in the data directory so they survive
/// restarts; made afresh (and the token reset) when the file is missing or no longer valid.
pub async fn simulated_account(config: &Config, accounts: &Accounts, account_sid: &str) -> anyhow::Result<PathBuf> {
    let path = config.data_dir().absolute()?.join("simulated-account.json");
    if let Ok(text) = std::fs::read_to_string(&path) {
        if let Ok(saved) = serde_json::from_str::<serde_json::Value>(&text) {
            if let (Some(sid), Some(token)) = (saved["sid"].as_str(), saved["auth_token"].as_str()) {
                // A token from before the deployment secret cannot sign webhooks: reissue it.
                if sid == account_sid
                    && accounts.authenticate(sid, token).await?.is_some()
                    && accounts.signing_token(sid).await?.as_deref() == Some(token)
                {
                    // It holds a credential: readable by its owner only, whoever made it.
                    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
                    return Ok(path);
                }
            }
        }
    }
    let c = accounts.set_token(account_sid, "simulated fleet", Role::Customer).await?;
    let json = serde_json::json!({"sid": c.sid, "auth_token": c.secret});
    write_private(&path, &serde_json::to_vec_pretty(&json)?)?;
    Ok(path)
}

/// Writes a file only its owner can read: it holds a credential.
fn write_private(path: &std::path::Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    // `mode` applies only to a file it creates: one that already existed keeps its bits.
    f.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    f.write_all(data)
}

/// Provisions a simulated fleet through the same commands the REST API uses. Every command is
/// named after the plan's seed, so provisioning again (after a crash) changes nothing.
/// `data_limit_mb` is the fleet's `DataLimit` (Twilio's default when `None`).
pub async fn provision(commands: &Commands, plan: &FleetPlan, data_limit_mb: Option<i64>) -> anyhow::Result<()> {
    let key = |what: &str| CommandId::named(&format!("simulated-fleet:{}:{what}", plan.seed));
    let account = plan.account_sid.as_str();
    let nap = commands.create_nap(key("nap"), account, Some("simulated".into()), plan.nap_networks.clone()).await?;
    let mut fleet = NewFleet { unique_name: Some("simulated".into()), ..NewFleet::with_nap(&nap) };
    if let Some(mb) = data_limit_mb {
        fleet.data_limit_mb = mb;
    }
    let fleet = commands.create_fleet(key("fleet"), account, fleet).await?;
    let fleet = Arc::new(fleet);
    stream::iter(plan.cards.iter().map(Ok::<_, anyhow::Error>))
        .try_for_each_concurrent(32, |card| {
            let fleet = fleet.clone();
            async move {
                let k = |step: &str| key(&format!("card:{}:{step}", card.index));
                let sim = commands
                    .provision_sim(k("provision"), &card.iccid, &card.registration_code, card.imsis.clone())
                    .await?;
                commands.register_sim(k("register"), account, &card.iccid, &card.registration_code).await?;
                if card.status == SimStatus::New {
                    return Ok(());
                }
                let first = if card.status == SimStatus::Ready { SimStatus::Ready } else { SimStatus::Active };
                let changes = SimChanges {
                    unique_name: Some(Some(card.unique_name.clone())),
                    fleet: Some(fleet.to_string()),
                    status: Some(first),
                    disallowed_imsis: (!card.disallowed_imsis.is_empty()).then(|| card.disallowed_imsis.clone()),
                    ..Default::default()
                };
                commands.update_sim(k("activate"), account, &sim, changes).await?;
                if card.status == SimStatus::Inactive {
                    let off = SimChanges { status: Some(SimStatus::Inactive), ..Default::default() };
                    commands.update_sim(k("deactivate"), account, &sim, off).await?;
                }
                Ok(())
            }
        })
        .await
}

/// Waits until every projection and decider has applied the whole log, the decisions appended
/// meanwhile included.
pub async fn settle(platform: &Platform) -> anyhow::Result<()> {
    let handles = [
        Some(&platform.registry),
        platform.limits.as_ref(),
        platform.enforcer.as_ref(),
        Some(&platform.usage),
        Some(&platform.cdrs),
        platform.billing.as_ref(),
        Some(&platform.device_signals),
    ];
    loop {
        let head = platform.log.head().await?;
        for h in handles.iter().flatten() {
            h.reached(head).await;
        }
        if platform.log.head().await? == head {
            return Ok(());
        }
    }
}

/// Waits until ingest has committed everything the nodes published.
pub async fn drain_ingest(platform: &Platform, timeout: Duration) -> anyhow::Result<()> {
    let js = async_nats::jetstream::new(platform.nats.clone());
    Ok(simledger_core::ingest::drained(&js, &platform.names, timeout).await?)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_credential_file_that_was_world_readable_is_made_private() {
        let path = std::env::temp_dir().join(format!("simledger-account-{}.json", uuid::Uuid::new_v4().simple()));
        std::fs::write(&path, "{}").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        super::write_private(&path, b"{\"sid\": \"AC1\"}").unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"sid\": \"AC1\"}");
        std::fs::remove_file(&path).unwrap();
    }
}
