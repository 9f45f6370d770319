#![allow(dead_code)]

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use simledger_commands::{CommandId, Commands, NewFleet, SimChanges};
use simledger_core::protocol::*;
use simledger_core::{CoreNames, RunningCore};
use simledger_eventlog::catalog::SimStatus;
use simledger_eventlog::networks::network_sid;
use simledger_eventlog::{Event, EventLog, RecordedEvent};
use simledger_projections::registry::Registry;
use simledger_services::testing::{self, TestDatabase};

pub const ACCOUNT: &str = "AC00000000000000000000000000000007";

pub struct Core {
    pub _db: TestDatabase,
    pub log: EventLog,
    pub nats: async_nats::Client,
    pub names: CoreNames,
    pub commands: Commands,
    pub core: RunningCore,
    pub nap: String,
    pub fleet: String,
}

/// A running core on a fresh database and NATS prefix, with ingest, and a fleet whose NAP
/// allows Vodafone UK (234/15) only.
pub async fn start() -> Core {
    start_with(simledger_core::regions::Breakout::default()).await
}

/// As [`start`], with PGWs in these regions.
pub async fn start_with(breakout: simledger_core::regions::Breakout) -> Core {
    let db = TestDatabase::new().await;
    let log = EventLog::new(db.pool().await);
    let registry = simledger_projections::spawn(log.clone(), "registry", Registry);
    let commands = Commands::new(log.clone(), registry.progress).with_breakout_regions(&breakout.regions);
    let nats = simledger_services::nats::connect(&testing::nats_url()).await.unwrap();
    let names = CoreNames::new(testing::unique_nats_prefix());
    let interval = chrono::Duration::minutes(6);
    let core = simledger_core::start_nodes_with(nats.clone(), &names, log.clone(), interval, &breakout).await.unwrap();
    simledger_core::start_ingest(nats.clone(), names.clone(), log.clone());
    let nap = commands.create_nap(CommandId::random(), ACCOUNT, None, vec![network_sid("234", "15")]).await.unwrap();
    let fleet = commands.create_fleet(CommandId::random(), ACCOUNT, NewFleet::with_nap(&nap)).await.unwrap();
    Core { _db: db, log, nats, names, commands, core, nap, fleet }
}

impl Core {
    /// Provisions and registers a SIM with these IMSIs, in the fleet, in `status`.
    pub async fn sim(&self, n: u32, imsis: &[&str], status: SimStatus) -> String {
        let iccid = format!("89883070000000{n:05}");
        let c = &self.commands;
        let imsis = imsis.iter().map(|s| s.to_string()).collect();
        let sim = c.provision_sim(CommandId::random(), &iccid, "1234567890", imsis).await.unwrap();
        c.register_sim(CommandId::random(), ACCOUNT, &iccid, "1234567890").await.unwrap();
        if status != SimStatus::New {
            let first = if status == SimStatus::Ready { SimStatus::Ready } else { SimStatus::Active };
            let changes = SimChanges { fleet: Some(self.fleet.clone()), status: Some(first), ..Default::default() };
            c.update_sim(CommandId::random(), ACCOUNT, &sim, changes).await.unwrap();
            if status == SimStatus::Inactive {
                let off = SimChanges { status: Some(SimStatus::Inactive), ..Default::default() };
                c.update_sim(CommandId::random(), ACCOUNT, &sim, off).await.unwrap();
            }
        }
        self.views_current().await;
        sim
    }

    /// Waits (bounded) until the nodes' views have applied everything in the log now.
    pub async fn views_current(&self) {
        assert!(self.core.views.caught_up(&self.log, Duration::from_secs(10)).await, "views caught up");
    }

    pub async fn call<Req: serde::Serialize, Resp: serde::de::DeserializeOwned>(
        &self,
        subject: &str,
        req: &Req,
    ) -> Resp {
        let reply = self
            .nats
            .request(self.names.request(subject), serde_json::to_vec(req).unwrap().into())
            .await
            .expect("a node answers");
        serde_json::from_slice(&reply.payload)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&reply.payload)))
    }

    pub async fn attach(&self, imsi: &str, mcc: &str, mnc: &str, seq: u64) -> AttachAnswer {
        self.call(subjects::S1_ATTACH, &attach_request(imsi, mcc, mnc, seq)).await
    }

    /// The first event in the log matching `pred`, waiting (bounded) for ingest to bring it.
    pub async fn event(&self, pred: impl Fn(&RecordedEvent) -> bool) -> RecordedEvent {
        let mut sub = self.log.subscribe(0, 1000).await.unwrap();
        tokio::time::timeout(Duration::from_secs(15), async {
            loop {
                if let Some(e) = sub.next_batch().await.unwrap().into_iter().find(|e| pred(e)) {
                    return e;
                }
            }
        })
        .await
        .expect("the event reached the log in time")
    }

    /// Every event of the log's network types, once ingest has drained.
    pub async fn network_events(&self) -> Vec<RecordedEvent> {
        let js = async_nats::jetstream::new(self.nats.clone());
        simledger_core::ingest::drained(&js, &self.names, Duration::from_secs(30)).await.expect("ingest drained");
        self.log.read(0, 1_000_000).await.unwrap().into_iter().filter(|e| connection(&e.event).is_some()).collect()
    }
}

/// A device's attach on `mcc`/`mnc`, its `seq`th request, `seq` minutes into the test.
pub fn attach_request(imsi: &str, mcc: &str, mnc: &str, seq: u64) -> AttachRequest {
    AttachRequest {
        imsi: imsi.into(),
        imei: Some("356938035643809".into()),
        mcc: mcc.into(),
        mnc: mnc.into(),
        cell_id: "1a2b3c".into(),
        lac: "00ff".into(),
        rat_type: "4G LTE".into(),
        at: at(seq as i64),
        seq,
    }
}

pub fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap() + chrono::Duration::minutes(minutes)
}

pub fn connection(e: &Event) -> Option<&simledger_eventlog::catalog::ConnectionEvent> {
    match e {
        Event::AttachmentAccepted(c)
        | Event::AttachmentRejected(c)
        | Event::AttachmentFailed(c)
        | Event::DataSessionStarted(c)
        | Event::DataSessionUpdated(c)
        | Event::DataSessionEnded(c)
        | Event::DataSessionFailed(c) => Some(c),
        _ => None,
    }
}
