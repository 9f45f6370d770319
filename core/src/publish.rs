//! Nodes publish events to JetStream, not to the log: the core keeps working while Postgres is
//! slow or down, and ingest catches up afterwards.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_nats::jetstream;
use async_nats::HeaderMap;
use serde::{Deserialize, Serialize};
use simledger_eventlog::{Event, Metadata};
use uuid::Uuid;

use crate::CoreNames;

/// What travels on the `CORE` stream: an event with everything ingest needs to append it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CoreEnvelope {
    pub event_id: Uuid,
    pub stream: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub data: Box<serde_json::value::RawValue>,
    pub metadata: Metadata,
    /// Wall-clock milliseconds when the node published it (for ingest latency).
    pub published_at_ms: u64,
}

/// The last two dot-separated parts of a type, for subjects: `data-session.updated`.
fn subject_suffix(event_type: &str) -> &str {
    let mut dots = event_type.rmatch_indices('.');
    match (dots.next(), dots.next()) {
        (Some(_), Some((i, _))) => &event_type[i + 1..],
        _ => event_type,
    }
}

#[derive(Clone)]
pub struct CorePublisher {
    js: jetstream::Context,
    names: CoreNames,
    healthy: Arc<AtomicBool>,
}

impl CorePublisher {
    pub fn new(js: jetstream::Context, names: CoreNames) -> Self {
        Self { js, names, healthy: Arc::new(AtomicBool::new(true)) }
    }

    /// False while publishes are failing (NATS down); `/readyz` reports it.
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    /// Publishes until JetStream has stored the event, retrying with backoff: a node never
    /// drops a happening, and `Nats-Msg-Id` makes a retry after a lost ack a no-op.
    pub async fn publish(&self, node: &str, stream: String, event_id: Uuid, event: &Event, metadata: Metadata) {
        simledger_cputime::metered("publish", self.publish_until_stored(node, stream, event_id, event, metadata)).await
    }

    async fn publish_until_stored(
        &self,
        node: &str,
        stream: String,
        event_id: Uuid,
        event: &Event,
        metadata: Metadata,
    ) {
        let envelope = CoreEnvelope {
            event_id,
            stream,
            event_type: event.event_type().to_owned(),
            // The event's JSON, serialized once and embedded as is.
            data: serde_json::value::RawValue::from_string(event.to_json().expect("catalog events serialize"))
                .expect("serde_json writes valid JSON"),
            metadata,
            published_at_ms: SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0),
        };
        let payload: bytes::Bytes = serde_json::to_vec(&envelope).expect("envelopes serialize").into();
        let subject = self.names.subject(node, subject_suffix(event.event_type()));
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Msg-Id", event_id.to_string().as_str());
        let mut backoff = Duration::from_millis(20);
        loop {
            let attempt = match self.js.publish_with_headers(subject.clone(), headers.clone(), payload.clone()).await {
                Ok(ack) => ack.await.map(|_| ()).map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match attempt {
                Ok(()) => {
                    self.healthy.store(true, Ordering::Relaxed);
                    metrics::counter!("simledger_core_published_total", "node" => node.to_owned()).increment(1);
                    return;
                }
                Err(e) => {
                    if self.healthy.swap(false, Ordering::Relaxed) {
                        tracing::warn!(node, error = %e, "publishing to JetStream failed; retrying with backoff");
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn subjects_take_the_last_two_parts_of_a_type() {
        assert_eq!(
            super::subject_suffix("com.twilio.iot.supersim.connection.data-session.updated"),
            "data-session.updated"
        );
        assert_eq!(super::subject_suffix("sms.mo.submitted"), "mo.submitted");
    }
}
