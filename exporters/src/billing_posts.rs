//! Billing's `*http_post` action, delivered: each `billing.http_post_requested` event is posted
//! to its URL as JSON (the account as `APIerSv2.GetAccount` shows it), signed.
//!
//! - The fold only appends the request, so the action never waits on the network (CGrateS's
//!   `*http_post_async`); this checkpointed subscriber posts it at least once, including after
//!   a crash (a post whose batch had not committed is made again; the `X-Simledger-Event-Id`
//!   header lets the receiver drop a repeat).
//! - A post that fails (no answer in 5 s, or not 2xx) is retried after 200 ms, 1 s and 5 s, then
//!   given up and counted in `simledger_billing_posts_failed_total`.
//! - Signature: `X-Simledger-Signature: v1=<hex HMAC-SHA256(key, "<timestamp>.<body>")>` with
//!   `X-Simledger-Timestamp: <unix seconds>`; the receiver recomputes it with the deployment's
//!   signing key and refuses stale timestamps.

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use simledger_eventlog::catalog::BillingHttpPostRequested;
use simledger_eventlog::checkpoint::{BoxError, Subscriber};
use simledger_eventlog::{Event, EventLog, RecordedEvent};
use simledger_outbound::{DestinationPolicy, OutboundClient};
use sqlx::PgConnection;
use tokio::task::JoinHandle;

pub const NAME: &str = "billing_posts";

#[derive(Clone)]
pub struct BillingPoster {
    http: OutboundClient,
    key: Vec<u8>,
    /// Pauses between attempts of one post.
    backoff: Vec<Duration>,
}

impl BillingPoster {
    pub fn new(key: impl Into<Vec<u8>>, policy: DestinationPolicy) -> Self {
        Self::with_backoff(
            key,
            policy,
            vec![Duration::from_millis(200), Duration::from_secs(1), Duration::from_secs(5)],
        )
    }

    pub fn with_backoff(key: impl Into<Vec<u8>>, policy: DestinationPolicy, backoff: Vec<Duration>) -> Self {
        Self { http: policy.client(Duration::from_secs(5)), key: key.into(), backoff }
    }

    async fn post(&self, event: &RecordedEvent, p: &BillingHttpPostRequested) {
        let body = bytes::Bytes::from(p.body.clone());
        for (attempt, pause) in std::iter::once(Duration::ZERO).chain(self.backoff.iter().copied()).enumerate() {
            tokio::time::sleep(pause).await;
            // Signed per attempt: the timestamp says when this attempt was made.
            let timestamp = chrono::Utc::now().timestamp().to_string();
            let request = match self.http.request(reqwest::Method::POST, &p.url) {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(account = %p.account, error = %e, "billing *http_post refused by the destination policy");
                    metrics::counter!("simledger_billing_posts_refused_total").increment(1);
                    return;
                }
            };
            let request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header("X-Simledger-Event-Id", event.event_id.to_string())
                .header("X-Simledger-Timestamp", &timestamp)
                .header("X-Simledger-Signature", signature(&self.key, &timestamp, &body))
                .body(body.clone());
            match request.send().await {
                Ok(r) if r.status().is_success() => return,
                Ok(r) => tracing::debug!(account = %p.account, attempt, status = %r.status(), "billing post refused"),
                Err(_) => tracing::debug!(account = %p.account, attempt, "billing post failed"),
            }
        }
        tracing::warn!(account = %p.account, "billing *http_post given up after retries");
        metrics::counter!("simledger_billing_posts_failed_total").increment(1);
    }
}

/// `v1=` and the hex HMAC-SHA256 of `"<timestamp>.<body>"` under `key`.
pub fn signature(key: &[u8], timestamp: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

impl Subscriber for BillingPoster {
    fn name(&self) -> &str {
        NAME
    }

    async fn apply(&mut self, _tx: &mut PgConnection, events: &[RecordedEvent]) -> Result<(), BoxError> {
        for e in events {
            if let Event::BillingHttpPostRequested(p) = &e.event {
                self.post(e, p).await;
            }
        }
        Ok(())
    }
}

/// Runs the poster for ever, resuming from its checkpoint after any failure.
pub fn spawn(log: EventLog, poster: BillingPoster) -> JoinHandle<()> {
    crate::spawn_sink(log, poster)
}
