//! Online exporters against real receivers: an HTTP server and NATS JetStream. Each CDR is sent
//! once its session is closed, in order-ID order, signed; a receiver that fails holds its own
//! exporter (nothing skipped) and no other tenant's; JetStream drops a CDR sent twice.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use simledger_commands::{Accounts, Role};
use simledger_eventlog::{EventLog, ExpectedVersion, Metadata, NewEvent};
use simledger_exporters::cdr_export::{self, Exporter, ExporterKind, OnlineSettings};
use simledger_exporters::outbound_calls::http_post_signature;
use simledger_outbound::DestinationPolicy;
use simledger_services::testing::{self, TestDatabase};

const KEY: &[u8] = b"test-deployment-secret";

/// A request as received: CGRID header, timestamp, signature, body.
#[derive(Debug, Clone)]
struct Received {
    cgrid: String,
    order_id: String,
    timestamp: String,
    signature: String,
    content_type: String,
    body: Vec<u8>,
}

type Seen = Arc<Mutex<Vec<Received>>>;

/// A receiver on a random port whose answer is decided by `ok` (true: 200, false: 503).
async fn receiver(ok: Arc<std::sync::atomic::AtomicBool>) -> (String, Seen) {
    slow_receiver(ok, Duration::ZERO).await
}

/// A [`receiver`] that takes `delay` over each request.
async fn slow_receiver(ok: Arc<std::sync::atomic::AtomicBool>, delay: Duration) -> (String, Seen) {
    let seen: Seen = Arc::default();
    let state = seen.clone();
    let app = axum::Router::new().route(
        "/cdrs",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let (seen, ok) = (state.clone(), ok.clone());
            async move {
                tokio::time::sleep(delay).await;
                if !ok.load(std::sync::atomic::Ordering::SeqCst) {
                    return StatusCode::SERVICE_UNAVAILABLE;
                }
                let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
                seen.lock().unwrap().push(Received {
                    cgrid: serde_json::from_slice::<serde_json::Value>(&body)
                        .ok()
                        .and_then(|b| b["CGRID"].as_str().map(str::to_owned))
                        .or_else(|| {
                            form_urlencoded::parse(&body).find(|(k, _)| k == "CGRID").map(|(_, v)| v.into_owned())
                        })
                        .unwrap_or_default(),
                    order_id: h("x-simledger-order-id"),
                    timestamp: h("x-simledger-timestamp"),
                    signature: h("x-simledger-signature"),
                    content_type: h("content-type"),
                    body: body.to_vec(),
                });
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/cdrs", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

/// Appends `count` closed data sessions of `account` (numbered from `from`).
async fn sessions(log: &EventLog, account: &str, from: u32, count: u32) -> i64 {
    let events: Vec<NewEvent> = (from..from + count)
        .map(|n| {
            let at = chrono::DateTime::from_timestamp(1_780_000_000 + i64::from(n), 0).unwrap();
            let e = simledger_eventlog::Event::DataSessionEnded(simledger_test_support::ended(
                account,
                &format!("HS{:032}", n % 7),
                &format!("PI{n:032}"),
                at,
                at,
                1000 + i64::from(n),
            ));
            NewEvent::new(uuid::Uuid::new_v4(), "s", &e, &Metadata::from_source("test")).unwrap()
        })
        .collect();
    log.append(events, ExpectedVersion::Any).await.unwrap().last().unwrap().position
}

async fn cgrids(log: &EventLog, account: &str) -> Vec<String> {
    sqlx::query_scalar("SELECT cgrid FROM cdrs WHERE tenant = $1 ORDER BY order_id")
        .bind(account)
        .fetch_all(log.pool())
        .await
        .unwrap()
}

async fn cursor(log: &EventLog, tenant: &str, id: &str) -> i64 {
    cdr_export::get(log.pool(), tenant, id).await.unwrap().last_exported_order_id
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..600 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}

fn quick(accounts: &Accounts) -> OnlineSettings {
    let mut s = OnlineSettings::new(DestinationPolicy::ALLOW_PRIVATE, accounts.clone(), KEY);
    s.pauses = vec![Duration::from_millis(10)];
    s.max_backoff = Duration::from_millis(100);
    s.poll = Duration::from_millis(20);
    s.reserved_subject_prefix = Some("platform".into());
    s
}

/// A fresh database: its log, its accounts (tokens signed), and the CDR projection running.
struct World {
    _db: TestDatabase,
    log: EventLog,
    accounts: Accounts,
    cdrs: simledger_projections::ProjectionHandle,
}

async fn world() -> World {
    let db = TestDatabase::new().await;
    let log = EventLog::new(db.pool().await);
    let accounts = Accounts::new(log.pool().clone()).with_token_secret(b"token-secret");
    let cdrs = simledger_projections::spawn(log.clone(), "cdrs", simledger_projections::cdrs::Cdrs);
    World { _db: db, log, accounts, cdrs }
}

struct Running(Vec<tokio::task::JoinHandle<()>>);

impl Drop for Running {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn each_cdr_is_posted_once_in_order_signed_and_a_failing_receiver_holds_only_its_own_exporter() {
    let World { _db, log, accounts, cdrs } = world().await;
    let alice = accounts.create("alice", Role::Customer).await.unwrap();
    let bob = accounts.create("bob", Role::Customer).await.unwrap();

    let alice_up = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let bob_up = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (alice_url, alice_seen) = receiver(alice_up.clone()).await;
    let (bob_url, bob_seen) = receiver(bob_up.clone()).await;
    let mut json = Exporter::new("live", ExporterKind::HttpJsonMap, &alice_url);
    json.filters = vec!["*string:~*req.ToR:*data".into()];
    cdr_export::create(&log, &alice.sid, &json).await.unwrap();
    let mut form = Exporter::new("live", ExporterKind::HttpPost, &bob_url);
    form.fields = serde_json::from_value(serde_json::json!([
        {"tag": "CGRID", "path": "*exp.CGRID", "type": "*variable", "value": "~*req.CGRID"},
        {"tag": "Bytes", "path": "*exp.Bytes", "type": "*variable", "value": "~*req.Usage"},
    ]))
    .unwrap();
    cdr_export::create(&log, &bob.sid, &form).await.unwrap();
    let _running = Running(vec![cdr_export::spawn_online(log.pool().clone(), log.shard(), quick(&accounts))]);

    // Bob's receiver refuses everything; Alice's CDRs go through all the same.
    let head = sessions(&log, &alice.sid, 0, 300).await;
    let bob_head = sessions(&log, &bob.sid, 1000, 20).await;
    assert!(cdrs.reached(head.max(bob_head)).await);
    let alice_cdrs = cgrids(&log, &alice.sid).await;
    assert_eq!(alice_cdrs.len(), 300);
    wait_until("Alice's CDRs", || alice_seen.lock().unwrap().len() >= 300).await;
    let seen = alice_seen.lock().unwrap().clone();
    assert_eq!(seen.iter().map(|r| r.cgrid.clone()).collect::<Vec<_>>(), alice_cdrs, "each once, in order");
    for r in &seen {
        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["OrderID"].to_string(), r.order_id, "the order ID in the header");
        assert_eq!(body["Tenant"], alice.sid.as_str());
        assert_eq!(r.content_type, "application/json");
        let expected = http_post_signature(alice.secret.as_bytes(), &r.timestamp, &alice_url, &r.body);
        assert_eq!(r.signature, expected, "signed with Alice's own token");
    }
    let last_order: i64 = sqlx::query_scalar("SELECT max(order_id) FROM cdrs WHERE tenant = $1")
        .bind(&alice.sid)
        .fetch_one(log.pool())
        .await
        .unwrap();
    for _ in 0..200 {
        if cursor(&log, &alice.sid, "live").await >= last_order {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(cursor(&log, &alice.sid, "live").await, last_order);
    assert!(bob_seen.lock().unwrap().is_empty());
    assert_eq!(cursor(&log, &bob.sid, "live").await, 0, "nothing Bob's receiver refused counts as sent");

    // Bob's receiver comes back: every one of his CDRs arrives, none skipped, as a form.
    bob_up.store(true, std::sync::atomic::Ordering::SeqCst);
    wait_until("Bob's CDRs", || bob_seen.lock().unwrap().len() >= 20).await;
    let bob_cdrs = cgrids(&log, &bob.sid).await;
    let received: Vec<String> = bob_seen.lock().unwrap().iter().map(|r| r.cgrid.clone()).collect();
    assert_eq!(received, bob_cdrs);
    let first = bob_seen.lock().unwrap()[0].clone();
    assert_eq!(first.content_type, "application/x-www-form-urlencoded");
    let fields: HashMap<String, String> = form_urlencoded::parse(&first.body).into_owned().collect();
    assert_eq!(fields["CGRID"], bob_cdrs[0]);
    assert_eq!(fields["Bytes"], "2000");
    assert_eq!(fields.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_nats_exporter_publishes_each_cdr_once_even_when_its_range_is_sent_again() {
    let World { _db, log, accounts, cdrs } = world().await;
    let account = "AC00000000000000000000000000000077";
    let nats = async_nats::connect(testing::nats_url()).await.unwrap();
    let js = async_nats::jetstream::new(nats);
    let prefix = testing::unique_nats_prefix();
    let subject = format!("{prefix}.cdrs");
    let stream = js
        .create_stream(async_nats::jetstream::stream::Config {
            name: format!("{prefix}_CDRS"),
            subjects: vec![subject.clone()],
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        })
        .await
        .unwrap();
    let server = testing::nats_url().trim_start_matches("nats://").to_owned();
    let e = Exporter {
        nats_jetstream: true,
        ..Exporter::new("bus", ExporterKind::NatsJsonMap, format!("nats://{server}/{subject}"))
    };
    cdr_export::create(&log, account, &e).await.unwrap();
    let head = sessions(&log, account, 0, 40).await;
    assert!(cdrs.reached(head).await);
    let last_order: i64 = sqlx::query_scalar("SELECT max(order_id) FROM cdrs").fetch_one(log.pool()).await.unwrap();

    let running = Running(vec![cdr_export::spawn_online(log.pool().clone(), log.shard(), quick(&accounts))]);
    for _ in 0..400 {
        if cursor(&log, account, "bus").await >= last_order {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(cursor(&log, account, "bus").await, last_order);
    drop(running);
    // As if a kill had lost the cursor's move: the whole range is sent again.
    sqlx::query("UPDATE cdr_exporters SET last_exported_order_id = 0 WHERE exporter_id = 'bus'")
        .execute(log.pool())
        .await
        .unwrap();
    let _running = Running(vec![cdr_export::spawn_online(log.pool().clone(), log.shard(), quick(&accounts))]);
    for _ in 0..400 {
        if cursor(&log, account, "bus").await >= last_order {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(cursor(&log, account, "bus").await, last_order);
    let mut stream = stream;
    let info = stream.info().await.unwrap();
    assert_eq!(info.state.messages, 40, "JetStream dropped every repeat by its message id");
    let first = stream.get_raw_message(1).await.unwrap();
    let body: serde_json::Value = serde_json::from_slice(&first.payload).unwrap();
    assert_eq!(body["CGRID"], cgrids(&log, account).await[0].as_str());
    js.delete_stream(format!("{prefix}_CDRS")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plain_nats_exporter_as_cgrates_defaults_to_publishes_every_cdr_in_order_to_a_subscriber() {
    let World { _db, log, accounts, cdrs } = world().await;
    let account = "AC00000000000000000000000000000079";
    let subject = format!("{}.cdrs", testing::unique_nats_prefix());
    let nats = async_nats::connect(testing::nats_url()).await.unwrap();
    let mut heard = nats.subscribe(subject.clone()).await.unwrap();
    nats.flush().await.unwrap();
    let server = testing::nats_url().trim_start_matches("nats://").to_owned();
    // No `natsJetStream`: plain NATS, CGrateS's default; no stream exists for the subject.
    let e = Exporter::new("plain", ExporterKind::NatsJsonMap, format!("nats://{server}/{subject}"));
    assert!(!e.nats_jetstream);
    cdr_export::create(&log, account, &e).await.unwrap();
    let head = sessions(&log, account, 0, 12).await;
    assert!(cdrs.reached(head).await);
    let _running = Running(vec![cdr_export::spawn_online(log.pool().clone(), log.shard(), quick(&accounts))]);
    let mut ids = Vec::new();
    let mut cgrids_heard = Vec::new();
    while ids.len() < 12 {
        let m = tokio::time::timeout(Duration::from_secs(15), futures_util::StreamExt::next(&mut heard))
            .await
            .expect("every CDR is published")
            .unwrap();
        ids.push(m.headers.as_ref().and_then(|h| h.get("Nats-Msg-Id")).unwrap().to_string());
        let body: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
        cgrids_heard.push(body["CGRID"].as_str().unwrap().to_owned());
    }
    assert_eq!(cgrids_heard, cgrids(&log, account).await, "each CDR once, in order");
    let mut sorted = ids.clone();
    sorted.dedup();
    assert_eq!(sorted.len(), 12, "each with its own message id: {ids:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn online_exporters_never_publish_to_the_platforms_subjects_and_are_not_run_on_demand() {
    let World { _db, log, accounts, cdrs } = world().await;
    let account = "AC00000000000000000000000000000078";
    let server = testing::nats_url().trim_start_matches("nats://").to_owned();
    // The platform's prefix is "platform" here (see `quick`): its subjects are never published to.
    let e = Exporter::new("core", ExporterKind::NatsJsonMap, format!("nats://{server}/platform.core.mme.attach"));
    cdr_export::create(&log, account, &e).await.unwrap();
    let nats = async_nats::connect(testing::nats_url()).await.unwrap();
    let mut watch = futures_util::StreamExt::fuse(nats.subscribe("platform.core.>").await.unwrap());
    let head = sessions(&log, account, 0, 3).await;
    assert!(cdrs.reached(head).await);
    let running = Running(vec![cdr_export::spawn_online(log.pool().clone(), log.shard(), quick(&accounts))]);
    // The exporter is looked at (and refused) many times over this window.
    let got = tokio::time::timeout(Duration::from_secs(1), futures_util::StreamExt::next(&mut watch)).await;
    assert!(got.is_err(), "nothing was published on the platform's subjects");
    assert_eq!(cursor(&log, account, "core").await, 0, "nothing counts as sent");
    drop(running);
    // The aborted runner's lock goes with its connection.
    let mut run = Err(cdr_export::ExportError::Busy("core".into()));
    for _ in 0..200 {
        run = cdr_export::run(log.pool(), log.shard(), account, "core").await;
        if !matches!(run, Err(cdr_export::ExportError::Busy(_))) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let run = run.unwrap_err().to_string();
    assert!(run.contains("sends each CDR as it is closed"), "{run}");

    let mut scheduled = Exporter::new("sched", ExporterKind::HttpJsonMap, "https://example.com/cdrs");
    scheduled.schedule = Some("*hourly".into());
    assert!(cdr_export::create(&log, account, &scheduled).await.unwrap_err().to_string().contains("schedule"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_failing_exporters_do_not_starve_another_tenants_and_a_slow_one_gives_its_slot_back() {
    let World { _db, log, accounts, cdrs } = world().await;
    let alice = accounts.create("alice", Role::Customer).await.unwrap();
    let bob = accounts.create("bob", Role::Customer).await.unwrap();

    // The operator's configuration declares a thousand exporters (it is not capped) to an
    // address that refuses every connection; they sort before every customer's.
    for n in 0..1000 {
        let dead = Exporter::new(format!("dead-{n:04}"), ExporterKind::HttpJsonMap, "http://127.0.0.1:1/cdrs");
        cdr_export::upsert(&log, cdr_export::OPERATOR, &dead).await.unwrap();
    }
    // Bob's two slow exporters (0.2 s a CDR) hold his two slots.
    let up = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let slow = Duration::from_millis(200);
    let (slow_a_url, slow_a) = slow_receiver(up.clone(), slow).await;
    let (slow_b_url, slow_b) = slow_receiver(up.clone(), slow).await;
    cdr_export::create(&log, &bob.sid, &Exporter::new("slow-a", ExporterKind::HttpJsonMap, &slow_a_url)).await.unwrap();
    cdr_export::create(&log, &bob.sid, &Exporter::new("slow-b", ExporterKind::HttpJsonMap, &slow_b_url)).await.unwrap();
    let (alice_url, alice_seen) = receiver(up.clone()).await;
    cdr_export::create(&log, &alice.sid, &Exporter::new("live", ExporterKind::HttpJsonMap, &alice_url)).await.unwrap();
    let mut settings = quick(&accounts);
    settings.max_backoff = Duration::from_secs(60);
    settings.run_budget = Duration::from_millis(300);
    let _running = Running(vec![cdr_export::spawn_online(log.pool().clone(), log.shard(), settings)]);

    let head = sessions(&log, &alice.sid, 0, 40).await.max(sessions(&log, &bob.sid, 100, 40).await);
    assert!(cdrs.reached(head).await);
    wait_until("Alice's CDRs past a thousand failing exporters", || alice_seen.lock().unwrap().len() >= 40).await;
    wait_until("both slow exporters sending", || {
        !slow_a.lock().unwrap().is_empty() && !slow_b.lock().unwrap().is_empty()
    })
    .await;

    // A third exporter of Bob's: it gets a slot once a slow one's run ends at its budget, long
    // before either slow range (40 CDRs, 8 s) is done.
    let (fast_url, fast_seen) = receiver(up.clone()).await;
    cdr_export::create(&log, &bob.sid, &Exporter::new("fast", ExporterKind::HttpJsonMap, &fast_url)).await.unwrap();
    wait_until("the fast exporter's CDRs", || fast_seen.lock().unwrap().len() >= 40).await;
    let (a, b) = (slow_a.lock().unwrap().len(), slow_b.lock().unwrap().len());
    assert!(a < 40 && b < 40, "the slow ranges were still going: {a}, {b}");
    // The slow ones go on from where their runs stopped: each CDR once, in order.
    wait_until("the slow exporters' CDRs", || slow_a.lock().unwrap().len() >= 40 && slow_b.lock().unwrap().len() >= 40)
        .await;
    let bob_cdrs = cgrids(&log, &bob.sid).await;
    for seen in [&slow_a, &slow_b, &fast_seen] {
        assert_eq!(seen.lock().unwrap().iter().map(|r| r.cgrid.clone()).collect::<Vec<_>>(), bob_cdrs);
    }
    let alice_received: Vec<String> = alice_seen.lock().unwrap().iter().map(|r| r.cgrid.clone()).collect();
    assert_eq!(alice_received, cgrids(&log, &alice.sid).await);
}

#[tokio::test]
async fn a_customer_has_at_most_fifty_exporters_and_the_fifty_first_changes_nothing() {
    let db = TestDatabase::new().await;
    let log = EventLog::new(db.pool().await);
    let accounts = Accounts::new(log.pool().clone());
    let alice = accounts.create("alice", Role::Customer).await.unwrap();
    let bob = accounts.create("bob", Role::Customer).await.unwrap();
    let url = "https://example.com/cdrs";
    for n in 0..cdr_export::MAX_EXPORTERS_PER_TENANT - 5 {
        cdr_export::create(&log, &alice.sid, &Exporter::new(format!("e{n}"), ExporterKind::HttpJsonMap, url))
            .await
            .unwrap();
    }
    // Twelve creations at once for the last five places: five pass, however they interleave.
    let mut burst = tokio::task::JoinSet::new();
    for n in 0..12 {
        let (log, tenant) = (log.clone(), alice.sid.clone());
        burst.spawn(async move {
            cdr_export::create(&log, &tenant, &Exporter::new(format!("burst{n}"), ExporterKind::HttpJsonMap, url)).await
        });
    }
    let passed = burst.join_all().await.iter().filter(|r| r.is_ok()).count();
    assert_eq!(passed, 5);
    assert_eq!(cdr_export::list(log.pool(), &alice.sid).await.unwrap().len(), 50);
    let head = log.head().await.unwrap();
    let more = Exporter::new("one-more", ExporterKind::HttpJsonMap, url);
    let refused = cdr_export::create(&log, &alice.sid, &more).await.unwrap_err();
    assert!(refused.to_string().contains("at most 50 exporters"), "{refused}");
    let refused = cdr_export::upsert_own(&log, &alice.sid, &more).await.unwrap_err();
    assert!(refused.to_string().contains("at most 50 exporters"), "{refused}");
    assert_eq!(log.head().await.unwrap(), head, "nothing logged");
    assert!(cdr_export::get(log.pool(), &alice.sid, "one-more").await.is_err());
    // Redefining one of hers is not a new one; Bob is not affected.
    let mut again = Exporter::new("e0", ExporterKind::HttpPost, url);
    again.filters = vec!["*string:~*req.ToR:*data".into()];
    cdr_export::upsert_own(&log, &alice.sid, &again).await.unwrap();
    cdr_export::create(&log, &bob.sid, &more).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_account_whose_token_cannot_sign_waits_and_never_posts_under_the_deployment_key() {
    let World { _db, log, accounts, cdrs } = world().await;
    let alice = accounts.create("alice", Role::Customer).await.unwrap();
    let up = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let (url, seen) = receiver(up).await;
    cdr_export::create(&log, &alice.sid, &Exporter::new("live", ExporterKind::HttpJsonMap, &url)).await.unwrap();
    // Its token stops being one this deployment issued (as an account made before the secret).
    sqlx::query("UPDATE accounts SET auth_token_nonce = NULL WHERE account_sid = $1")
        .bind(&alice.sid)
        .execute(log.pool())
        .await
        .unwrap();
    let _running = Running(vec![cdr_export::spawn_online(log.pool().clone(), log.shard(), quick(&accounts))]);
    let head = sessions(&log, &alice.sid, 0, 10).await;
    assert!(cdrs.reached(head).await);
    // The runner looks for work every 20 ms here: let it look many times, then check nothing
    // was sent and nothing counted as sent.
    let planned = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM cdr_exporters WHERE pending_last IS NOT NULL")
            .fetch_one(log.pool())
            .await
            .unwrap()
    };
    for _ in 0..200 {
        if planned().await > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(planned().await, 1, "a run planned its range and stopped at the signature");
    assert!(seen.lock().unwrap().is_empty(), "nothing posted");
    assert_eq!(cursor(&log, &alice.sid, "live").await, 0);
    // A new token: the range goes out, signed with it.
    let renewed = accounts.set_token(&alice.sid, "alice", Role::Customer).await.unwrap();
    wait_until("the CDRs under the new token", || seen.lock().unwrap().len() >= 10).await;
    let first = seen.lock().unwrap()[0].clone();
    assert_eq!(first.signature, http_post_signature(renewed.secret.as_bytes(), &first.timestamp, &url, &first.body));
}
