//! Provisioning commands: the one path by which SIMs, fleets and Network Access Profiles change,
//! used by the REST API and by `simledger simulate` alike.
//!
//! Each command is validated against the `registry` projection, appended to the log with the
//! resource's version as its expected version, and answers only once the registry has applied
//! it (read-your-writes). Each is idempotent by its [`CommandId`]: run again with the same id,
//! it finds its own first event in the log and returns the same result without appending.

pub mod account;
mod billing;
mod breakout;
mod cdr;
mod chargers;
mod device;
mod error;
mod event_streams;
mod fleet;
mod ids;
mod imsi;
mod nap;
mod operator_rates;
mod signals;
mod sim;

use std::time::Duration;

use simledger_eventlog::{Event, EventLog, ExpectedVersion, Metadata, NewEvent, Position, RecordedEvent};
use tokio::sync::watch;

pub use account::{Accounts, Credential, Principal, RequestSigner, Role, UNSIGNABLE};
pub use billing::AccountSettings;
pub use breakout::FleetBreakout;
pub use cdr::{ExternalCdrInput, ProcessedCdr};
pub use device::{Callback, NewIpCommand, IP_PAYLOAD_MAX_BYTES, MAX_AVAILABLE_ESIM_PROFILES, SMS_PAYLOAD_MAX_CHARS};
pub(crate) use error::stored_sid;
pub use error::CommandError;
pub use event_streams::{parse_kinesis_arn, parse_sink_configuration, TypeRequest, MAX_SINKS_PER_ACCOUNT};
pub use fleet::{FleetChanges, NewFleet, DATA_LIMIT_MB, DEFAULT_DATA_LIMIT_MB};
pub use ids::CommandId;
pub use imsi::{Actor, ImsiChange, ImsiState, MAX_IMSI_NETWORKS};
pub use signals::{SignalPolicy, SignalPolicyChanges, ATTACH_STORM_REJECTIONS, USAGE_SPIKE_FACTOR};
pub use sim::{transition_allowed, SimChanges};
pub use simledger_outbound::DestinationPolicy;

pub type Result<T, E = CommandError> = std::result::Result<T, E>;

/// How long a command waits for the registry to show its effect before answering.
const VISIBILITY_TIMEOUT: Duration = Duration::from_secs(10);

/// How many times an update decides again after losing a race for its stream (to another
/// process: within one, updates of a resource take turns).
const MAX_DECISIONS: u32 = 16;

#[derive(Clone)]
pub struct Commands {
    log: EventLog,
    /// The projections a command's effect must be visible in before it answers.
    projections: Vec<watch::Receiver<Position>>,
    /// The `cdrs` projection, which external CDRs wait for; only they do.
    cdrs: Option<watch::Receiver<Position>>,
    /// The `billing` projection, which billing commands wait for.
    billing: Option<watch::Receiver<Position>>,
    /// What URLs customers may give (sink destinations).
    destinations: DestinationPolicy,
    /// Keys the registration codes' hashes (the deployment secret; see `ids`).
    code_pepper: std::sync::Arc<[u8]>,
    /// Updates of one resource in this process take turns (see [`Commands::deciding_again`]).
    turns: Turns,
    /// The regions with a PGW, the first the default (`up --pgw-regions`).
    breakout_regions: std::sync::Arc<[simledger_eventlog::catalog::BreakoutRegion]>,
}

/// One queue per resource being updated: concurrent updates of it in this process wait their
/// turn instead of racing for its stream; an entry lives only while someone holds or awaits it.
#[derive(Clone, Default)]
struct Turns(
    std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<tokio::sync::Mutex<()>>>>>,
);

impl Turns {
    async fn wait(&self, key: &str) -> TurnGuard {
        let queue = self.0.lock().expect("turns lock").entry(key.to_owned()).or_default().clone();
        let held = queue.clone().lock_owned().await;
        TurnGuard { turns: self.clone(), key: key.to_owned(), held: Some(held), queue: Some(queue) }
    }
}

struct TurnGuard {
    turns: Turns,
    key: String,
    held: Option<tokio::sync::OwnedMutexGuard<()>>,
    queue: Option<std::sync::Arc<tokio::sync::Mutex<()>>>,
}

impl Drop for TurnGuard {
    fn drop(&mut self) {
        self.held.take();
        let queue = self.queue.take();
        let mut map = self.turns.0.lock().expect("turns lock");
        // The map's own reference and ours: nobody else waits, so the entry goes.
        if queue.is_some_and(|q| std::sync::Arc::strong_count(&q) <= 2) {
            map.remove(&self.key);
        }
    }
}

impl Commands {
    /// `registry` is the registry projection's progress (see `simledger_projections::spawn`).
    pub fn new(log: EventLog, registry: watch::Receiver<Position>) -> Self {
        Self {
            log,
            projections: vec![registry],
            cdrs: None,
            billing: None,
            destinations: DestinationPolicy::PUBLIC_ONLY,
            code_pepper: std::sync::Arc::from(&b""[..]),
            turns: Turns::default(),
            breakout_regions: std::sync::Arc::from(&[simledger_eventlog::catalog::BreakoutRegion::UsEast][..]),
        }
    }

    /// The regions with a PGW, the first the default; fleets may name only these. Panics on
    /// none (the core's configuration refuses that first).
    pub fn with_breakout_regions(mut self, regions: &[simledger_eventlog::catalog::BreakoutRegion]) -> Self {
        assert!(!regions.is_empty(), "the platform has at least one PGW region");
        self.breakout_regions = std::sync::Arc::from(regions);
        self
    }

    /// Hashes registration codes under a key derived from `secret` (the deployment secret) for
    /// this use alone. Without one they are still salted, but the log alone then suffices to
    /// try every code.
    pub fn with_code_pepper(mut self, secret: &[u8]) -> Self {
        use hmac::Mac;
        assert!(!secret.is_empty(), "the deployment secret must not be empty");
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
        mac.update(b"simledger registration codes");
        self.code_pepper = std::sync::Arc::from(&mac.finalize().into_bytes()[..]);
        self
    }

    /// Also waits for this projection before answering (one whose rows the caller reads back
    /// right after a command, such as the device commands' table).
    pub fn with_visibility(mut self, progress: watch::Receiver<Position>) -> Self {
        self.projections.push(progress);
        self
    }

    /// External CDRs answer once the `cdrs` projection shows them.
    pub fn with_cdrs(mut self, progress: watch::Receiver<Position>) -> Self {
        self.cdrs = Some(progress);
        self
    }

    /// Billing commands answer once billing (`simledger-policies`) shows them.
    pub fn with_billing(mut self, progress: watch::Receiver<Position>) -> Self {
        self.billing = Some(progress);
        self
    }

    /// Which destinations customers may give (`--allow-private-destinations`).
    pub fn with_destination_policy(mut self, policy: DestinationPolicy) -> Self {
        self.destinations = policy;
        self
    }

    pub fn destination_policy(&self) -> DestinationPolicy {
        self.destinations
    }

    pub fn log(&self) -> &EventLog {
        &self.log
    }

    /// The first event a command with this id appended, if it already ran; answered, like a
    /// first run, only once the projections commands read show that run's last event. A retry
    /// after a crash between append and answer would otherwise answer while the registry is
    /// still catching up, and the caller's next command would be decided on state without it.
    /// (Its own last event, not the head: a retry after a slow answer must not wait for
    /// everything appended since.)
    async fn earlier_run(&self, cmd: &CommandId) -> Result<Option<RecordedEvent>> {
        // Every id a command can give its events, in one read.
        let ids: Vec<_> = (0..=u8::MAX).map(|i| cmd.event_id(i)).collect();
        let mut found = self.log.find_all(&ids).await?;
        let Some(last) = found.last().map(|e| e.position) else { return Ok(None) };
        let Some(first) = found.iter().position(|e| e.event_id == ids[0]) else { return Ok(None) };
        self.visible(last).await?;
        Ok(Some(found.swap_remove(first)))
    }

    /// Appends a command's events on one stream and waits until the registry shows them.
    async fn commit(
        &self,
        cmd: &CommandId,
        stream: String,
        expected: ExpectedVersion,
        events: Vec<Event>,
        metadata: Metadata,
    ) -> Result<Position> {
        let batch = events
            .iter()
            .enumerate()
            .map(|(i, e)| NewEvent::new(cmd.event_id(i as u8), stream.clone(), e, &metadata))
            .collect::<Result<Vec<_>, _>>()?;
        let appended = self.log.append(batch, expected).await?;
        let last = appended.last().map(|a| a.position).unwrap_or(0);
        self.visible(last).await?;
        Ok(last)
    }

    /// Runs a read-decide-append update of the resource `key` names so that concurrent updates
    /// of it all succeed (last write wins) unless a rule refuses one, as Twilio's API does.
    /// Within this process they take turns; against another process (a second API replica, the
    /// billing effects) the loser of the race for the stream decides again, after waiting until
    /// the projections show what was appended meanwhile, so the re-read sees the winner, and a
    /// short random pause spreads the contenders out.
    pub(crate) async fn deciding_again<T, F, Fut>(&self, key: &str, mut decide: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let _turn = self.turns.wait(key).await;
        let mut attempt = 0;
        loop {
            match decide().await {
                Err(CommandError::EventLog(simledger_eventlog::EventLogError::Conflict { .. }))
                    if attempt + 1 < MAX_DECISIONS =>
                {
                    attempt += 1;
                    self.visible(self.log.head().await?).await?;
                    let pause = rand::random_range(0..(1u64 << attempt.min(6)));
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                }
                other => return other,
            }
        }
    }

    /// Waits until the `cdrs` projection has applied `position` (at once without one).
    async fn cdrs_visible(&self, position: Position) -> Result<()> {
        self.visible_in(&self.cdrs, position).await
    }

    /// Waits until a projection has applied `position` (at once when it is not wired).
    async fn visible_in(&self, progress: &Option<watch::Receiver<Position>>, position: Position) -> Result<()> {
        let Some(progress) = progress else { return Ok(()) };
        match tokio::time::timeout(VISIBILITY_TIMEOUT, progress.clone().wait_for(|p| *p >= position)).await {
            Ok(Ok(_)) => Ok(()),
            _ => Err(CommandError::NotVisible(position)),
        }
    }

    /// Waits until every projection commands answer from has applied `position`.
    pub async fn visible(&self, position: Position) -> Result<()> {
        let all = async {
            for progress in &self.projections {
                if progress.clone().wait_for(|p| *p >= position).await.is_err() {
                    return false;
                }
            }
            true
        };
        match tokio::time::timeout(VISIBILITY_TIMEOUT, all).await {
            Ok(true) => Ok(()),
            _ => Err(CommandError::NotVisible(position)),
        }
    }
}

/// A registry resource that can be named by SID or unique name within an account.
pub(crate) struct Kind {
    what: &'static str,
    table: &'static str,
    sid: &'static str,
}

pub(crate) const NAP: Kind = Kind { what: "NetworkAccessProfile", table: "registry_naps", sid: "nap_sid" };
pub(crate) const FLEET: Kind = Kind { what: "Fleet", table: "registry_fleets", sid: "fleet_sid" };
pub(crate) const SIM: Kind = Kind { what: "Sim", table: "registry_sims", sid: "sim_sid" };

impl Commands {
    /// `(sid, version)` of an account's resource, by SID or unique name; another account's is
    /// not found.
    pub(crate) async fn lookup(&self, kind: &Kind, account_sid: &str, sid_or_name: &str) -> Result<(String, i32)> {
        // Table and column names are constants of this crate, never input.
        let sql = format!(
            "SELECT {sid}, version FROM {table} WHERE account_sid = $1 AND ({sid} = $2 OR unique_name = $2)",
            sid = kind.sid,
            table = kind.table
        );
        sqlx::query_as(&sql)
            .bind(account_sid)
            .bind(sid_or_name)
            .fetch_optional(self.log.pool())
            .await?
            .ok_or_else(|| CommandError::NotFound { what: kind.what, id: sid_or_name.to_owned() })
    }

    /// Refuses a unique name another resource of the account already has.
    pub(crate) async fn ensure_name_free(
        &self,
        kind: &Kind,
        account_sid: &str,
        name: &str,
        except: &str,
    ) -> Result<()> {
        let sql = format!(
            "SELECT EXISTS (SELECT 1 FROM {table} WHERE account_sid = $1 AND unique_name = $2 AND {sid} <> $3)",
            sid = kind.sid,
            table = kind.table
        );
        let taken: bool =
            sqlx::query_scalar(&sql).bind(account_sid).bind(name).bind(except).fetch_one(self.log.pool()).await?;
        if taken {
            return Err(CommandError::Conflict(format!("A {} named {name} already exists", kind.what)));
        }
        Ok(())
    }
}

fn metadata(cmd: &CommandId, account_sid: Option<&str>) -> Metadata {
    let mut m = Metadata::from_source("api");
    m.correlation_id = Some(cmd.as_uuid());
    m.account_sid = account_sid.map(str::to_owned);
    m
}
