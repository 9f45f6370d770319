//! A webhook receiver on a loopback port that records what it is sent and answers with the
//! status it is told to (shared by the API's and the binary's Event Streams tests).
#![allow(dead_code)]

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, StatusCode};

/// One request as received.
#[derive(Debug, Clone)]
pub struct Request {
    /// The URL as the sender requested it (what Twilio's validator is given).
    pub url: String,
    pub signature: Option<String>,
    pub authorization: Option<String>,
    pub body: Bytes,
}

impl Request {
    pub fn events(&self) -> Vec<serde_json::Value> {
        let value: serde_json::Value = serde_json::from_slice(&self.body).expect("a JSON body");
        value.as_array().expect("the body is a JSON array").clone()
    }
}

#[derive(Clone)]
pub struct Receiver {
    pub base: String,
    requests: Arc<Mutex<Vec<Request>>>,
    status: Arc<AtomicU16>,
}

struct Shared {
    base: String,
    requests: Arc<Mutex<Vec<Request>>>,
    status: Arc<AtomicU16>,
}

async fn receive(
    State(shared): State<Arc<Shared>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let status = StatusCode::from_u16(shared.status.load(Ordering::SeqCst)).unwrap();
    if status.is_success() {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        shared.requests.lock().unwrap().push(Request {
            url: format!("{}{}", shared.base, uri),
            signature: header("x-twilio-signature"),
            authorization: header("authorization"),
            body,
        });
    }
    status
}

impl Receiver {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let status = Arc::new(AtomicU16::new(200));
        let shared = Arc::new(Shared { base: base.clone(), requests: requests.clone(), status: status.clone() });
        let app = axum::Router::new().fallback(receive).with_state(shared);
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { base, requests, status }
    }

    /// The URL to give as a sink's destination.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// From now on, answer every request with `status` (and record only 2xx ones).
    pub fn answer(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// Waits (bounded) until at least `n` requests have been received.
    pub async fn wait_for_requests(&self, n: usize, timeout: Duration) {
        let deadline = std::time::Instant::now() + timeout;
        while self.requests().len() < n {
            assert!(std::time::Instant::now() < deadline, "timed out waiting for {n} requests");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Every form-encoded body received (callbacks), in arrival order.
    pub fn forms(&self) -> Vec<Vec<(String, String)>> {
        self.requests().iter().map(|r| form_urlencoded::parse(&r.body).into_owned().collect()).collect()
    }

    /// Every event received, in arrival order.
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.requests().iter().flat_map(Request::events).collect()
    }

    /// Waits (bounded) until `check` holds for the events received so far.
    pub async fn wait_for(&self, what: &str, timeout: Duration, check: impl Fn(&[serde_json::Value]) -> bool) {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if check(&self.events()) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting for {what}; got {} events",
                self.events().len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The `test_id` of the first test event received.
    pub async fn test_id(&self) -> String {
        self.wait_for("the test event", Duration::from_secs(20), |events| {
            events.iter().any(|e| e["type"] == "com.twilio.eventstreams.test-event")
        })
        .await;
        let events = self.events();
        let test = events.iter().find(|e| e["type"] == "com.twilio.eventstreams.test-event").unwrap();
        test["data"]["test_id"].as_str().unwrap().to_owned()
    }
}
