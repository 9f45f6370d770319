//! The real app on a random port, against a fresh database (and, for tests that need the core,
//! the real core nodes and ingest on their own NATS prefix).
#![allow(dead_code)]

pub mod cdr_events;
pub mod receiver;

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use simledger_api::{AppState, Application};
use simledger_commands::DestinationPolicy;
use simledger_commands::{Accounts, CommandId, Commands, Credential, Role};
use simledger_eventlog::catalog::BreakoutRegion;
use simledger_eventlog::EventLog;
use simledger_exporters::event_streams::SinkSettings;
use simledger_projections::device_commands::{self, DeviceCommands};
use simledger_projections::event_streams;
use simledger_projections::limits::Limits;
use simledger_projections::registry::Registry;
use simledger_projections::usage::Usage;
use simledger_projections::ProjectionHandle;
use simledger_services::testing::{self, TestDatabase};

/// The key the test apps' billing poster signs `*http_post` requests with.
pub const SIGNING_KEY: &[u8] = b"test-signing-key";

pub struct TestApp {
    pub base: String,
    /// The CGrateS-style JSON-RPC listener (loopback, no credentials; default tenant alice).
    pub jsonrpc: String,
    pub log: EventLog,
    pub commands: Commands,
    pub accounts: Accounts,
    pub http: reqwest::Client,
    /// Two customer accounts (isolation tests) and an operator.
    pub alice: Credential,
    pub bob: Credential,
    pub operator: Credential,
    pub core: Option<(simledger_core::RunningCore, simledger_core::CoreNames)>,
    pub nats: async_nats::Client,
    pub limits: ProjectionHandle,
    /// The data-limit enforcer (a decider).
    pub enforcer: ProjectionHandle,
    pub esim_installer: ProjectionHandle,
    pub device_signals: ProjectionHandle,
    pub usage: ProjectionHandle,
    pub cdrs: ProjectionHandle,
    pub billing: ProjectionHandle,
    pub event_streams: ProjectionHandle,
    pub dashboard: ProjectionHandle,
    /// Where customers' own file exporters write: `<export_root>/<account SID>/…`.
    pub export_root: std::path::PathBuf,
    _db: TestDatabase,
}

pub async fn spawn_app() -> TestApp {
    spawn(false, simledger_api::DEFAULT_RATE_LIMIT, DestinationPolicy::ALLOW_PRIVATE).await
}

/// Customers' URLs held to public addresses, as a deployment without
/// `--allow-private-destinations` holds them.
pub async fn spawn_app_public_only() -> TestApp {
    spawn(false, simledger_api::DEFAULT_RATE_LIMIT, DestinationPolicy::PUBLIC_ONLY).await
}

/// With the core nodes, ingest and the SMS and IP Command dispatchers running.
pub async fn spawn_app_with_core() -> TestApp {
    spawn(true, simledger_api::DEFAULT_RATE_LIMIT, DestinationPolicy::ALLOW_PRIVATE).await
}

/// Each account may make `per_second` requests a second.
pub async fn spawn_app_with_rate_limit(per_second: u32) -> TestApp {
    spawn(false, per_second, DestinationPolicy::ALLOW_PRIVATE).await
}

async fn spawn(with_core: bool, rate_limit: u32, destinations: DestinationPolicy) -> TestApp {
    let db = TestDatabase::new().await;
    let log = EventLog::new(db.pool().await);
    let registry = simledger_projections::spawn(log.clone(), "registry", Registry);
    let device = simledger_projections::spawn(log.clone(), device_commands::NAME, DeviceCommands);
    let limits = simledger_projections::spawn(log.clone(), simledger_projections::limits::NAME, Limits);
    let enforcer = simledger_policies::spawn_data_limit_enforcer(log.clone());
    let esim_installer = simledger_policies::spawn_esim_installer(log.clone());
    let device_signals = simledger_policies::spawn_device_signals(log.clone());
    let usage = simledger_projections::spawn(log.clone(), "usage", Usage);
    let cdrs = simledger_projections::spawn(log.clone(), "cdrs", simledger_projections::cdrs::Cdrs);
    let billing = simledger_projections::spawn(
        log.clone(),
        simledger_policies::billing::NAME,
        simledger_policies::billing::Billing::new(log.clone()),
    );
    let event_streams = simledger_projections::spawn(log.clone(), event_streams::NAME, event_streams::EventStreams);
    let dashboard = simledger_projections::spawn(
        log.clone(),
        simledger_projections::dashboard::NAME,
        simledger_projections::dashboard::Dashboard,
    );
    let commands = Commands::new(log.clone(), registry.progress)
        .with_code_pepper(SIGNING_KEY)
        .with_visibility(device.progress)
        .with_visibility(event_streams.progress.clone())
        .with_cdrs(cdrs.progress.clone())
        .with_billing(billing.progress.clone())
        .with_destination_policy(destinations)
        .with_breakout_regions(&BreakoutRegion::ALL);
    // Tokens derived from a deployment secret, so webhook sinks can sign with them; delivery
    // retried quickly and `failed` after a second, so the failure tests take seconds.
    let accounts = Accounts::new(log.pool().clone()).with_token_secret(SIGNING_KEY);
    let mut sinks = SinkSettings::new(destinations, accounts.clone());
    sinks.first_backoff = Duration::from_millis(20);
    sinks.max_backoff = Duration::from_millis(200);
    sinks.fail_after = Duration::from_secs(1);
    simledger_exporters::event_streams::spawn(log.clone(), sinks);
    simledger_exporters::billing_posts::spawn(log.clone(), simledger_exporters::billing_posts::BillingPoster::new());
    let mut deliverer = simledger_exporters::outbound_calls::Deliverer::new(
        log.pool().clone(),
        destinations,
        accounts.clone(),
        SIGNING_KEY,
    );
    deliverer.poll = Duration::from_millis(20);
    simledger_exporters::outbound_calls::spawn(deliverer);
    simledger_exporters::account_exports::spawn(log.clone());
    let nats = simledger_services::nats::connect(&testing::nats_url()).await.unwrap();
    let core = if with_core {
        let names = simledger_core::CoreNames::new(testing::unique_nats_prefix());
        // A PGW in every region, the US one the default.
        let breakout = simledger_core::regions::Breakout::new(BreakoutRegion::ALL.to_vec(), &[]).unwrap();
        let interval = chrono::Duration::minutes(6);
        let core =
            simledger_core::start_nodes_with(nats.clone(), &names, log.clone(), interval, &breakout).await.unwrap();
        simledger_core::start_ingest(nats.clone(), names.clone(), log.clone());
        simledger_core::dispatch::spawn(
            log.clone(),
            simledger_core::dispatch::SmsDispatcher::new(nats.clone(), &names),
        );
        simledger_core::dispatch::spawn_dispatcher(
            log.clone(),
            simledger_core::dispatch::IpDispatcher::new(nats.clone(), &names),
        );
        simledger_exporters::callbacks::spawn(log.clone());
        Some((core, names))
    } else {
        None
    };
    // Each app's customers export under a folder of its own.
    let export_root = std::env::temp_dir().join(format!("simledger-tenant-exports-{}", uuid::Uuid::new_v4().simple()));
    let state = AppState::new(commands.clone(), Some(nats.clone()))
        .with_accounts(accounts)
        .with_rate_limit(rate_limit)
        .with_export_grants(simledger_exporters::cdr_export::grants::ExportGrants::new(&export_root));
    let accounts = state.accounts.clone();
    let app = Application::bind(SocketAddr::from(([127, 0, 0, 1], 0)), state.clone()).await.unwrap();
    let base = format!("http://{}", app.local_addr());
    tokio::spawn(app.serve(std::future::pending()));
    let alice = accounts.create("alice", Role::Customer).await.unwrap();
    let rpc_state = state.with_default_tenant(Some(alice.sid.clone()));
    let rpc = Application::bind_jsonrpc(SocketAddr::from(([127, 0, 0, 1], 0)), rpc_state).await.unwrap();
    let jsonrpc = format!("http://{}/jsonrpc", rpc.local_addr());
    tokio::spawn(rpc.serve(std::future::pending()));
    let bob = accounts.create("bob", Role::Customer).await.unwrap();
    let operator = accounts.create("ops", Role::Operator).await.unwrap();
    TestApp {
        base,
        jsonrpc,
        log,
        commands,
        accounts,
        http: reqwest::Client::new(),
        alice,
        bob,
        operator,
        core,
        nats,
        limits,
        enforcer,
        esim_installer,
        device_signals,
        usage,
        cdrs,
        billing,
        event_streams,
        dashboard,
        export_root,
        _db: db,
    }
}

/// An answer: status and JSON body (`Null` when there is none).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl TestApp {
    pub async fn get(&self, who: &Credential, path: &str) -> Answer {
        self.send(self.http.get(self.url(path)).basic_auth(&who.sid, Some(&who.secret))).await
    }

    pub async fn post(&self, who: &Credential, path: &str, form: &[(&str, &str)]) -> Answer {
        self.send(self.http.post(self.url(path)).basic_auth(&who.sid, Some(&who.secret)).form(form)).await
    }

    pub async fn delete(&self, who: &Credential, path: &str) -> Answer {
        self.send(self.http.delete(self.url(path)).basic_auth(&who.sid, Some(&who.secret))).await
    }

    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        }
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let r = request.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        let body =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        Answer { status, body }
    }

    /// A CGrateS JSON-RPC call on the loopback listener: `(result, error)`.
    pub async fn rpc(&self, method: &str, params: Value) -> (Value, Value) {
        let body = serde_json::json!({"method": method, "params": [params], "id": 1});
        let r = self.http.post(&self.jsonrpc).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 200, "{method}");
        let answer: Value = r.json().await.unwrap();
        assert_eq!(answer["id"], 1);
        (answer["result"].clone(), answer["error"].clone())
    }

    /// A CGrateS call that must answer `"OK"`.
    #[allow(dead_code)] // not every test binary speaks CGrateS
    pub async fn rpc_ok(&self, method: &str, params: Value) {
        let (result, error) = self.rpc(method, params.clone()).await;
        assert_eq!((result, error), (serde_json::json!("OK"), Value::Null), "{method} {params}");
    }

    /// A billing account's balances of `kind` (`*voice`, `*data`…) as (ID, Value), by ID,
    /// read through `APIerSv2.GetAccount` (under `tenant`, or the caller's own).
    #[allow(dead_code)] // not every test binary speaks CGrateS
    pub async fn balances(&self, tenant: Option<&str>, account: &str, kind: &str) -> Vec<(String, i64)> {
        let mut params = serde_json::json!({"Account": account});
        if let Some(tenant) = tenant {
            params["Tenant"] = tenant.into();
        }
        let (account, error) = self.rpc("APIerSv2.GetAccount", params).await;
        assert_eq!(error, Value::Null);
        let mut list: Vec<(String, i64)> = account["BalanceMap"][kind]
            .as_array()
            .map(|l| l.iter().map(|b| (b["ID"].as_str().unwrap().to_owned(), b["Value"].as_i64().unwrap())).collect())
            .unwrap_or_default();
        list.sort();
        list
    }

    /// Waits until billing has applied everything in the log (the usage debits of external
    /// CDRs are applied after the call that recorded them answers), and the CDR projection
    /// everything billing appended (`*cdrlog` CDRs).
    #[allow(dead_code)] // not every test binary bills
    pub async fn billing_settled(&self) {
        assert!(self.billing.reached(self.log.head().await.unwrap()).await);
        assert!(self.cdrs.reached(self.log.head().await.unwrap()).await);
    }

    /// Puts a card into inventory (as the operator would) and returns its ICCID.
    pub async fn card(&self, n: u32) -> String {
        let iccid = format!("89883070000000{n:05}");
        let imsis = vec![format!("2341500000{n:05}")];
        self.commands.provision_sim(CommandId::random(), &iccid, "1234567890", imsis).await.unwrap();
        iccid
    }

    /// A NAP allowing Vodafone UK and a fleet using it, for `who`; returns (nap, fleet) SIDs.
    pub async fn fleet(&self, who: &Credential) -> (String, String) {
        let nap = self.post(who, "/v1/NetworkAccessProfiles", &[("Networks", &vodafone_uk())]).await;
        assert_eq!(nap.status, 201, "{:?}", nap.body);
        let nap = nap.body["sid"].as_str().unwrap().to_owned();
        let fleet = self.post(who, "/v1/Fleets", &[("NetworkAccessProfile", &nap)]).await;
        assert_eq!(fleet.status, 201, "{:?}", fleet.body);
        (nap, fleet.body["sid"].as_str().unwrap().to_owned())
    }

    /// An attach through the MME and HSS over NATS, once the nodes' views hold the whole log.
    #[allow(dead_code)] // not every test binary attaches
    pub async fn attach(&self, imsi: &str, network: (&str, &str), seq: u64) -> simledger_core::protocol::AttachAnswer {
        self.attach_from(imsi, "356938035643809", network, chrono::Utc::now(), seq).await
    }

    /// An attach from the device `imei` at `at`.
    #[allow(dead_code)] // not every test binary attaches
    pub async fn attach_from(
        &self,
        imsi: &str,
        imei: &str,
        (mcc, mnc): (&str, &str),
        at: chrono::DateTime<chrono::Utc>,
        seq: u64,
    ) -> simledger_core::protocol::AttachAnswer {
        use simledger_core::protocol::{subjects, AttachRequest};
        let (core, names) = self.core.as_ref().expect("the core runs");
        assert!(core.views.caught_up(&self.log, Duration::from_secs(10)).await, "views caught up");
        let req = AttachRequest {
            imsi: imsi.into(),
            imei: Some(imei.into()),
            mcc: mcc.into(),
            mnc: mnc.into(),
            cell_id: "1a2b3c".into(),
            lac: "00ff".into(),
            rat_type: "4G LTE".into(),
            at,
            seq,
        };
        let reply = self
            .nats
            .request(names.request(subjects::S1_ATTACH), serde_json::to_vec(&req).unwrap().into())
            .await
            .expect("the MME answers");
        serde_json::from_slice(&reply.payload).unwrap()
    }

    /// Registers card `n` to `who`; returns the SIM's SID.
    pub async fn sim(&self, who: &Credential, n: u32) -> String {
        let iccid = self.card(n).await;
        let r = self.post(who, "/v1/Sims", &[("Iccid", &iccid), ("RegistrationCode", "1234567890")]).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        r.body["sid"].as_str().unwrap().to_owned()
    }

    /// Waits (bounded) until `check` holds for the JSON at `path`.
    pub async fn eventually(&self, who: &Credential, path: &str, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            let r = self.get(who, path).await;
            if check(&r.body) {
                return r.body;
            }
            assert!(std::time::Instant::now() < deadline, "{path} never matched; last: {:?}", r.body);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Every row of `tables`, as JSON text in order: what a replay must rebuild exactly.
#[allow(dead_code)] // not every test binary replays
pub async fn table_rows(app: &TestApp, tables: &[&str]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for table in tables {
        let rows: Vec<String> = sqlx::query_scalar(&format!("SELECT row_to_json(t)::text FROM {table} t ORDER BY 1"))
            .fetch_all(app.log.pool())
            .await
            .unwrap();
        out.push(rows);
    }
    out
}

/// Replays billing once it has settled and checks that it rebuilds `tables` row for row, takes
/// no decision the live fold did not, and appends nothing. Returns the log's head.
#[allow(dead_code)] // not every test binary replays billing
pub async fn assert_billing_replay_rebuilds(app: &TestApp, tables: &[&str]) -> i64 {
    app.billing_settled().await;
    let live = table_rows(app, tables).await;
    let head = app.log.head().await.unwrap();
    let replaying = simledger_policies::billing::Billing::replaying(app.log.clone());
    simledger_projections::replay(&app.log, replaying.clone()).await.unwrap();
    assert_eq!(table_rows(app, tables).await, live, "a replay rebuilds the same rows");
    assert_eq!(replaying.divergent(), 0, "a replay takes no decision the live fold did not");
    assert_eq!(app.log.head().await.unwrap(), head, "a replay appends nothing");
    head
}

pub fn vodafone_uk() -> String {
    simledger_eventlog::networks::network_sid("234", "15")
}

/// Asserts a Twilio error body with this status and code.
pub fn assert_error(a: &Answer, status: u16, code: u64) {
    assert_eq!(a.status, status, "{:?}", a.body);
    assert_eq!(a.body["code"], code, "{:?}", a.body);
    assert_eq!(a.body["status"], status, "{:?}", a.body);
    assert!(a.body["message"].as_str().is_some_and(|m| !m.is_empty()), "{:?}", a.body);
    assert_eq!(a.body["more_info"], format!("https://www.twilio.com/docs/errors/{code}"));
}
