//! Billing's `*http_post` delivery against a real HTTP receiver: signed, retried until accepted,
//! and made again when the poster dies before its checkpoint commits.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use simledger_eventlog::catalog::BillingHttpPostRequested;
use simledger_eventlog::{Event, EventLog, ExpectedVersion, Metadata, NewEvent};
use simledger_exporters::billing_posts::{self, signature, BillingPoster};
use simledger_services::testing::TestDatabase;
use uuid::Uuid;

const KEY: &str = "test-signing-key";

/// What the receiver saw: event id, timestamp, signature, body.
type Seen = Arc<Mutex<Vec<(String, String, String, Vec<u8>)>>>;

/// A receiver on a random port; `answer(n)` is the status of the n-th request (0-based), and
/// `None` never answers (a post in flight when the poster dies).
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

async fn request_post(log: &EventLog, url: &str) -> Uuid {
    let post = BillingHttpPostRequested {
        tenant: "cgrates.org".into(),
        account: "1001".into(),
        url: url.into(),
        body: r#"{"ID":"cgrates.org:1001","BalanceMap":{"*monetary":[{"Value":0.10000000000000000001}]}}"#.into(),
    };
    let id = Uuid::new_v4();
    let e = NewEvent::new(id, "billing-test", &Event::BillingHttpPostRequested(post), &Metadata::from_source("test"))
        .unwrap();
    log.append(vec![e], ExpectedVersion::Any).await.unwrap();
    id
}

async fn wait_for(seen: &Seen, n: usize) {
    for _ in 0..200 {
        if seen.lock().unwrap().len() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the receiver saw {} requests, expected {n}", seen.lock().unwrap().len());
}

fn quick_poster() -> BillingPoster {
    BillingPoster::with_backoff(
        KEY,
        simledger_outbound::DestinationPolicy::ALLOW_PRIVATE,
        vec![Duration::from_millis(20), Duration::from_millis(20)],
    )
}

#[tokio::test]
async fn a_post_is_signed_and_retried_until_the_receiver_accepts_it() {
    let db = TestDatabase::new().await;
    let log = EventLog::new(db.pool().await);
    let (url, seen) = receiver(|n| Some(if n == 0 { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::OK })).await;
    let id = request_post(&log, &url).await;
    let poster = billing_posts::spawn(log.clone(), quick_poster());
    wait_for(&seen, 2).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    poster.abort();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2, "one refused attempt, one accepted, nothing after");
    for (event_id, timestamp, sig, body) in seen.iter() {
        assert_eq!(event_id, &id.to_string());
        assert_eq!(sig, &signature(KEY.as_bytes(), timestamp, body), "the signature covers timestamp and body");
        let text = std::str::from_utf8(body).unwrap();
        assert!(text.contains(r#""ID":"cgrates.org:1001""#) && text.contains("0.10000000000000000001"), "{text}");
    }
    assert_ne!(seen[0].2, signature(b"another key", &seen[0].1, &seen[0].3));
}

#[tokio::test]
async fn a_post_in_flight_when_the_poster_dies_is_made_again_by_the_next_one() {
    let db = TestDatabase::new().await;
    let log = EventLog::new(db.pool().await);
    // The first request hangs until the poster is gone; later ones are accepted.
    let (url, seen) = receiver(|n| (n > 0).then_some(StatusCode::NO_CONTENT)).await;
    let id = request_post(&log, &url).await;
    let first = billing_posts::spawn(log.clone(), quick_poster());
    wait_for(&seen, 1).await;
    first.abort();
    let _ = first.await;
    let second = billing_posts::spawn(log.clone(), quick_poster());
    wait_for(&seen, 2).await;
    // Accepted: its checkpoint moves past it and nothing is posted a third time.
    let head = log.head().await.unwrap();
    for _ in 0..200 {
        let at: i64 = sqlx::query_scalar("SELECT position FROM checkpoints WHERE name = $1")
            .bind(billing_posts::NAME)
            .fetch_one(log.pool())
            .await
            .unwrap();
        if at >= head {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    second.abort();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|s| s.0 == id.to_string()), "the same event id lets the receiver drop the repeat");
}
