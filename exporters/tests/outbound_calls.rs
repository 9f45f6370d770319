//! Calls to customers' URLs (billing's `*http_post`, SMS callbacks) against real HTTP
//! receivers: signed with the tenant's own secret, retried until accepted, made again when the
//! deliverer dies mid-call, and queued per tenant so one tenant's dead endpoint delays no one else.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use simledger_commands::{Accounts, Role};
use simledger_eventlog::catalog::BillingHttpPostRequested;
use simledger_eventlog::{Event, EventLog, ExpectedVersion, Metadata, NewEvent};
use simledger_exporters::billing_posts::{self, BillingPoster};
use simledger_exporters::outbound_calls::{self, http_post_signature, Deliverer};
use simledger_services::testing::TestDatabase;
use uuid::Uuid;

const KEY: &[u8] = b"test-deployment-secret";

/// What a receiver saw: event id, timestamp, signature, body.
type Seen = Arc<Mutex<Vec<(String, String, String, Vec<u8>)>>>;

/// A receiver on a random port; `answer(n)` is the status of the n-th request (0-based), and
/// `None` never answers.
async fn receiver(answer: fn(usize) -> Option<StatusCode>) -> (String, Seen) {
    let seen: Seen = Arc::default();
    let state = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let seen = state.clone();
            async move {
                let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
                let n = {
                    let mut seen = seen.lock().unwrap();
                    seen.push((
                        h("x-simledger-event-id"),
                        h("x-simledger-timestamp"),
                        h("x-simledger-signature"),
                        body.to_vec(),
                    ));
                    seen.len() - 1
                };
                match answer(n) {
                    Some(status) => status,
                    None => std::future::pending().await,
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

async fn request_post(log: &EventLog, tenant: &str, url: &str) -> Uuid {
    let post = BillingHttpPostRequested {
        tenant: tenant.into(),
        account: "1001".into(),
        url: url.into(),
        body: r#"{"ID":"1001","BalanceMap":{"*monetary":[{"Value":0.10000000000000000001}]}}"#.into(),
    };
    let id = Uuid::new_v4();
    let e = NewEvent::new(id, "billing-test", &Event::BillingHttpPostRequested(post), &Metadata::from_source("test"))
        .unwrap();
    log.append(vec![e], ExpectedVersion::Any).await.unwrap();
    id
}

async fn wait_for(seen: &Seen, n: usize) {
    for _ in 0..400 {
        if seen.lock().unwrap().len() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the receiver saw {} requests, expected {n}", seen.lock().unwrap().len());
}

/// Calls queued, of one tenant or (`None`) of all.
async fn queued(log: &EventLog, tenant: Option<&str>) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM outbound_calls WHERE $1::text IS NULL OR tenant = $1")
        .bind(tenant)
        .fetch_one(log.pool())
        .await
        .unwrap()
}

async fn wait_until_queue_empty(log: &EventLog) {
    wait_until_none_queued(log, None).await
}

async fn wait_until_none_queued(log: &EventLog, tenant: Option<&str>) {
    for _ in 0..400 {
        if queued(log, tenant).await == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{} calls of {tenant:?} still queued", queued(log, tenant).await);
}

fn quick(log: &EventLog, accounts: &Accounts) -> Deliverer {
    let mut d =
        Deliverer::new(log.pool().clone(), simledger_outbound::DestinationPolicy::ALLOW_PRIVATE, accounts.clone(), KEY);
    d.backoff = vec![Duration::from_millis(20), Duration::from_millis(20)];
    d.lease = Duration::from_millis(500);
    d.poll = Duration::from_millis(10);
    d
}

struct Running(Vec<tokio::task::JoinHandle<()>>);

impl Drop for Running {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

#[tokio::test]
async fn a_post_is_signed_with_the_tenants_token_and_retried_until_accepted() {
    let db = TestDatabase::new().await;
    let log = EventLog::new(db.pool().await);
    let accounts = Accounts::new(log.pool().clone()).with_token_secret(KEY);
    let tenant = accounts.create("t", Role::Customer).await.unwrap();
    let (url, seen) = receiver(|n| Some(if n == 0 { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::OK })).await;
    let id = request_post(&log, &tenant.sid, &url).await;
    let _running = Running(vec![
        billing_posts::spawn(log.clone(), BillingPoster::new()),
        outbound_calls::spawn(quick(&log, &accounts)),
    ]);
    wait_for(&seen, 2).await;
    wait_until_queue_empty(&log).await;
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2, "one refused attempt, one accepted, nothing after");
    for (event_id, timestamp, sig, body) in seen.iter() {
        assert_eq!(event_id, &id.to_string());
        let expected = http_post_signature(tenant.secret.as_bytes(), timestamp, &url, body);
        assert_eq!(sig, &expected, "under the tenant's auth token, over timestamp, URL and body");
        let text = std::str::from_utf8(body).unwrap();
        assert!(text.contains("0.10000000000000000001"), "{text}");
    }
    assert_ne!(seen[0].2, http_post_signature(KEY, &seen[0].1, &url, &seen[0].3), "not the deployment's key");
}

#[tokio::test]
async fn a_call_in_flight_when_the_deliverer_dies_is_made_again_by_the_next_one() {
    let db = TestDatabase::new().await;
    let log = EventLog::new(db.pool().await);
    let accounts = Accounts::new(log.pool().clone()).with_token_secret(KEY);
    // The first request hangs until the deliverer is gone; later ones are accepted.
    let (url, seen) = receiver(|n| (n > 0).then_some(StatusCode::NO_CONTENT)).await;
    let id = request_post(&log, "cgrates.org", &url).await;
    let _poster = Running(vec![billing_posts::spawn(log.clone(), BillingPoster::new())]);
    let first = outbound_calls::spawn(quick(&log, &accounts));
    wait_for(&seen, 1).await;
    first.abort();
    let _ = first.await;
    let _second = Running(vec![outbound_calls::spawn(quick(&log, &accounts))]);
    wait_for(&seen, 2).await;
    wait_until_queue_empty(&log).await;
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2, "made again once its lease ended, then never more");
    assert!(seen.iter().all(|s| s.0 == id.to_string()), "the same event id lets the receiver drop the repeat");
    // Not an account: signed with the deployment secret.
    assert_eq!(seen[1].2, http_post_signature(KEY, &seen[1].1, &url, &seen[1].3));
}

#[tokio::test]
async fn one_tenants_dead_endpoint_does_not_delay_another_tenants_calls() {
    let db = TestDatabase::new().await;
    let log = EventLog::new(db.pool().await);
    let accounts = Accounts::new(log.pool().clone()).with_token_secret(KEY);
    let (dead, dead_seen) = receiver(|_| None).await;
    let (alive, alive_seen) = receiver(|_| Some(StatusCode::OK)).await;
    // The dead endpoint's tenant queues first, and more.
    for _ in 0..20 {
        request_post(&log, "tenant-a", &dead).await;
    }
    for _ in 0..5 {
        request_post(&log, "tenant-b", &alive).await;
    }
    let mut deliverer = quick(&log, &accounts);
    deliverer.lease = Duration::from_secs(30);
    let _running =
        Running(vec![billing_posts::spawn(log.clone(), BillingPoster::new()), outbound_calls::spawn(deliverer)]);
    wait_for(&alive_seen, 5).await;
    // The receiver answers before the deliverer takes the call off the queue: wait for that.
    wait_until_none_queued(&log, Some("tenant-b")).await;
    // Each of tenant a's calls waits 5 s for an answer; b's were all made meanwhile.
    assert!(dead_seen.lock().unwrap().len() <= 2, "{} dead calls", dead_seen.lock().unwrap().len());
    let left: Vec<(String, i64)> =
        sqlx::query_as("SELECT tenant, count(*) FROM outbound_calls GROUP BY tenant ORDER BY tenant")
            .fetch_all(log.pool())
            .await
            .unwrap();
    assert_eq!(left, vec![("tenant-a".to_owned(), 20)], "b's queue is empty, a's waits");
}

#[tokio::test]
async fn an_account_without_a_token_of_this_deployment_never_borrows_the_deployment_key() {
    let db = TestDatabase::new().await;
    let log = EventLog::new(db.pool().await);
    let accounts = Accounts::new(log.pool().clone()).with_token_secret(KEY);
    let legacy = accounts.create("legacy", Role::Customer).await.unwrap();
    // An account whose token predates the deployment's secret: it has no nonce to derive from.
    sqlx::query("UPDATE accounts SET auth_token_nonce = NULL WHERE account_sid = $1")
        .bind(&legacy.sid)
        .execute(log.pool())
        .await
        .unwrap();
    let (url, seen) = receiver(|_| Some(StatusCode::OK)).await;
    // Its post could name the operator's own receiver: it is not made. The operator's tenant
    // (no account, as `cgrates.org` on JSON-RPC) is signed with the deployment key.
    request_post(&log, &legacy.sid, &url).await;
    request_post(&log, "cgrates.org", &url).await;
    let _running = Running(vec![
        billing_posts::spawn(log.clone(), BillingPoster::new()),
        outbound_calls::spawn(quick(&log, &accounts)),
    ]);
    wait_for(&seen, 1).await;
    wait_until_queue_empty(&log).await;
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1, "only the operator's tenant's post was made");
    let (_, timestamp, sig, body) = &seen[0];
    assert_eq!(sig, &http_post_signature(KEY, timestamp, &url, body));
}
