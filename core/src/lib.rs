//! The embedded mobile core: MME, HSS, SGW/PGW and SMSC nodes, ingest, and the device simulator.
//!
//! ```text
//! device ──s1.attach──► MME ──s6a.update_location──► HSS (subscriber view)
//!        ──s11.create_session──► SGW ──pgw.<node>.*──► PGW of the fleet's region (limits view)
//!        ──pgw.<node>.usage/delete_session/uplink──► that PGW (the session's user plane)
//!                                                     SMSC ◄──smsc.submit── device / SMS commands
//!   LPA ──es9.*──────► SM-DP+ (eSIM profiles view)
//!                 every node ──► JetStream <PREFIX>_CORE (<prefix>.core.<node>.<type>) ──► ingest ──► log
//! ```
//!
//! Nodes talk over NATS request/reply on subjects named after the 3GPP interfaces, so each can
//! later run in its own process or region. The views they decide from are built from the log.

pub mod dispatch;
pub mod events;
pub mod happening;
pub mod hss;
pub mod ingest;
pub mod lpa;
pub mod mme;
pub mod pgw;
pub mod protocol;
mod publish;
pub mod regions;
mod serve;
pub mod sgw;
pub mod simulator;
pub mod smdp;
pub mod smsc;
pub mod snapshot;
pub mod views;

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, stream};
use simledger_eventlog::EventLog;
use tokio::task::JoinHandle;

pub use publish::{CoreEnvelope, CorePublisher};
pub use views::CoreViews;

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("JetStream: {0}")]
    JetStream(String),
    #[error("ingest did not drain the core stream within {0:?}")]
    NotDrained(Duration),
    #[error("the core views did not catch up with the log within {0:?}")]
    ViewsBehind(Duration),
    #[error("{0} is already running: a region has one PGW")]
    PgwRunning(String),
}

/// Names of one instance's NATS resources; instances side by side use different prefixes.
#[derive(Debug, Clone)]
pub struct CoreNames {
    prefix: String,
}

impl CoreNames {
    pub fn new(prefix: impl Into<String>) -> Self {
        Self { prefix: prefix.into() }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The JetStream stream every node publishes to.
    pub fn stream(&self) -> String {
        format!("{}_CORE", self.prefix)
    }

    /// `<prefix>.core.<node>.<type>`.
    pub fn subject(&self, node: &str, event_type: &str) -> String {
        format!("{}.core.{node}.{event_type}", self.prefix)
    }

    /// Every subject of the stream.
    pub fn all_subjects(&self) -> String {
        format!("{}.core.>", self.prefix)
    }

    /// A request/reply subject between nodes: `<prefix>.<interface>.<operation>`.
    pub fn request(&self, suffix: &str) -> String {
        format!("{}.{suffix}", self.prefix)
    }

    pub fn dead_letter_stream(&self) -> String {
        format!("{}_DEADLETTER", self.prefix)
    }

    pub fn dead_letter_subject(&self) -> String {
        format!("{}.deadletter.core", self.prefix)
    }
}

/// Creates (or finds) the `CORE` stream and its dead-letter stream: file storage, so published
/// happenings survive a NATS restart, and a de-duplication window for `Nats-Msg-Id`, so a node
/// that retries a publish after a lost ack stores it once.
pub async fn ensure_streams(js: &jetstream::Context, names: &CoreNames) -> Result<(), CoreError> {
    let streams = [
        // A work queue: a message is removed once ingest acknowledges it, which it does only after
        // the event is committed to the log, the durable copy.
        (names.stream(), names.all_subjects(), stream::RetentionPolicy::WorkQueue, Duration::ZERO),
        // Dead letters are kept for 30 days for an operator to look at.
        (
            names.dead_letter_stream(),
            names.dead_letter_subject(),
            stream::RetentionPolicy::Limits,
            Duration::from_secs(30 * 24 * 3600),
        ),
    ];
    for (name, subject, retention, max_age) in streams {
        js.get_or_create_stream(stream::Config {
            name,
            subjects: vec![subject],
            retention,
            max_age,
            storage: stream::StorageType::File,
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        })
        .await
        .map_err(|e| CoreError::JetStream(e.to_string()))?;
    }
    Ok(())
}

/// The running nodes of one process.
pub struct RunningCore {
    pub views: Arc<CoreViews>,
    /// The PGWs of the regions this process runs, and the task serving each.
    pub pgws: Vec<pgw::Pgw>,
    pgw_tasks: Vec<JoinHandle<()>>,
    pub publisher: CorePublisher,
    pub tasks: Vec<JoinHandle<()>>,
}

impl RunningCore {
    /// Stops this process's PGW of `region` (its subscriptions go, its sessions stay in the
    /// log for the next one to take over), as a crash of it would. Whether it ran here.
    pub fn stop_pgw(&self, region: simledger_eventlog::catalog::BreakoutRegion) -> bool {
        let at = self.pgws.iter().position(|p| p.region() == region);
        at.map(|i| self.pgw_tasks[i].abort()).is_some()
    }

    /// Data sessions open on this process's PGWs.
    pub fn open_sessions(&self) -> usize {
        self.pgws.iter().map(|p| p.open_sessions()).sum()
    }
}

/// The nodes and their views stop with the handle: a process that drops its core (a benchmark
/// run, a test) leaves nothing answering or following a log it is done with.
impl Drop for RunningCore {
    fn drop(&mut self) {
        for task in self.tasks.iter().chain(&self.pgw_tasks) {
            task.abort();
        }
        self.views.stop();
    }
}

/// Starts HSS, MME, SGW, one PGW in the US, SMSC and SM-DP+: [`start_nodes_with`] the
/// default breakout.
pub async fn start_nodes(
    client: async_nats::Client,
    names: &CoreNames,
    log: EventLog,
    update_interval: chrono::Duration,
) -> Result<RunningCore, CoreError> {
    start_nodes_with(client, names, log, update_interval, &regions::Breakout::default()).await
}

/// Follows the log until the views have caught up with it, so no node answers from a partial
/// view (a restarted HSS must not reject a known IMSI).
async fn caught_up_views(log: &EventLog) -> Result<Arc<CoreViews>, CoreError> {
    let views = CoreViews::follow(log.clone());
    // Long enough for a replay from 0 of a long log (the first start of a new snapshot format).
    let wait = Duration::from_secs(15 * 60);
    if !views.caught_up(log, wait).await {
        return Err(CoreError::ViewsBehind(wait));
    }
    Ok(views)
}

/// Starts a region's PGW, which first takes over the sessions of its region the log shows open.
async fn start_pgw_on(
    client: &async_nats::Client,
    names: &CoreNames,
    publisher: &CorePublisher,
    views: &Arc<CoreViews>,
    update_interval: chrono::Duration,
    region: simledger_eventlog::catalog::BreakoutRegion,
    default_region: bool,
) -> Result<(pgw::Pgw, JoinHandle<()>), CoreError> {
    let pgw = pgw::Pgw::new(publisher.clone(), views.clone(), update_interval, region, default_region);
    // Two PGWs of a region would each hold half its sessions in memory: refuse to be the second.
    let subject = names.request(&protocol::subjects::pgw::subject(pgw.node(), protocol::subjects::pgw::CREATE_SESSION));
    match tokio::time::timeout(Duration::from_secs(2), client.request(subject, "{}".into())).await {
        Ok(Err(e)) if e.kind() == async_nats::RequestErrorKind::NoResponders => {}
        _ => return Err(CoreError::PgwRunning(pgw.node().to_owned())),
    }
    let subscriptions = pgw.subscribe(client, names).await?;
    let recovered = pgw.recover(pgw::RECOVERY_GRACE);
    if recovered > 0 {
        tracing::info!(sessions = recovered, pgw = pgw.node(), "the PGW took over the sessions the log shows open");
    }
    let task = tokio::spawn(pgw.clone().run(subscriptions, client.clone()));
    Ok((pgw, task))
}

/// Starts HSS, MME, SGW, the PGWs of `breakout.local`, SMSC and SM-DP+, once the views have
/// caught up with the log.
pub async fn start_nodes_with(
    client: async_nats::Client,
    names: &CoreNames,
    log: EventLog,
    update_interval: chrono::Duration,
    breakout: &regions::Breakout,
) -> Result<RunningCore, CoreError> {
    let js = jetstream::new(client.clone());
    ensure_streams(&js, names).await?;
    let views = caught_up_views(&log).await?;
    let publisher = CorePublisher::new(js, names.clone());
    let (mut pgws, mut pgw_tasks) = (Vec::new(), Vec::new());
    for &region in &breakout.local {
        let default_region = region == breakout.default_region();
        let (pgw, task) =
            start_pgw_on(&client, names, &publisher, &views, update_interval, region, default_region).await?;
        pgws.push(pgw);
        pgw_tasks.push(task);
    }
    let mme = mme::Mme {
        client: client.clone(),
        hss_subject: names.request(protocol::subjects::S6A_UPDATE_LOCATION),
        hss_timeout: mme::HSS_TIMEOUT,
        publisher: publisher.clone(),
    };
    let sgw = sgw::Sgw {
        client: client.clone(),
        names: names.clone(),
        publisher: publisher.clone(),
        views: views.clone(),
        selection: Arc::new(breakout.selection()),
    };
    let smsc = smsc::Smsc { publisher: publisher.clone(), views: views.clone() };
    use protocol::subjects::*;
    let sub = |subject: &str, node| serve::subscribe(&client, names.request(subject), node);
    let (hss_in, mme_in, smsc_in) =
        (sub(S6A_UPDATE_LOCATION, "hss").await?, sub(S1_ATTACH, "mme").await?, sub(SMSC_SUBMIT, "smsc").await?);
    let (create, downlink) = (sub(S11_CREATE_SESSION, "sgw").await?, sub(SGI_DOWNLINK, "sgw").await?);
    let (es9_download, es9_notify) = (sub(ES9_DOWNLOAD, "smdp").await?, sub(ES9_NOTIFY, "smdp").await?);
    let smdp = smdp::SmdpPlus::new(publisher.clone(), views.clone());
    let tasks = vec![
        tokio::spawn(hss::run(client.clone(), hss_in, views.clone(), hss::MAX_IN_FLIGHT)),
        tokio::spawn(mme.run(mme_in)),
        tokio::spawn(sgw.run(create, downlink, client.clone())),
        tokio::spawn(smsc.run(smsc_in, client.clone())),
        tokio::spawn(smdp.run(client.clone(), es9_download, es9_notify)),
    ];
    // The subscriptions are registered with the server before any caller is told we started.
    client.flush().await.map_err(|e| CoreError::JetStream(e.to_string()))?;
    Ok(RunningCore { views, pgws, pgw_tasks, publisher, tasks })
}

/// Starts one region's PGW alone (`simledger pgw`), against the same log and NATS as the rest
/// of the core: a PGW in its own process, which a restart takes over from the log.
pub async fn start_pgw(
    client: async_nats::Client,
    names: &CoreNames,
    log: EventLog,
    update_interval: chrono::Duration,
    region: simledger_eventlog::catalog::BreakoutRegion,
    default_region: bool,
) -> Result<RunningCore, CoreError> {
    let js = jetstream::new(client.clone());
    ensure_streams(&js, names).await?;
    // Started beside a running platform: the sessions the region's previous PGW opened just
    // before it stopped are in the log before they are taken over (ingest runs elsewhere).
    let wait = Duration::from_secs(30);
    if let Err(e) = ingest::ingested_until_now(&js, names, wait).await {
        tracing::warn!(error = %e, "taking sessions over from the log as it is");
    }
    let views = caught_up_views(&log).await?;
    let publisher = CorePublisher::new(js, names.clone());
    let (pgw, task) = start_pgw_on(&client, names, &publisher, &views, update_interval, region, default_region).await?;
    client.flush().await.map_err(|e| CoreError::JetStream(e.to_string()))?;
    Ok(RunningCore { views, pgws: vec![pgw], pgw_tasks: vec![task], publisher, tasks: vec![] })
}

/// Starts ingest, restarting it if its consumer stream ends.
pub fn start_ingest(client: async_nats::Client, names: CoreNames, log: EventLog) -> JoinHandle<()> {
    tokio::spawn(async move {
        let js = jetstream::new(client);
        loop {
            let run = simledger_cputime::metered("ingest", ingest::run(js.clone(), names.clone(), log.clone()));
            if let Err(e) = run.await {
                tracing::error!(error = %e, "ingest stopped; restarting");
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    })
}
