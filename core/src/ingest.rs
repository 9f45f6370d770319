//! Ingest: JetStream `CORE` → the event log, exactly once.
//!
//! A durable pull consumer hands over batches; each batch is appended through the log's group
//! commit and every message is acknowledged only after the commit. A crash between commit and
//! ack redelivers the batch, and the idempotent append turns it into a no-op. A message that is
//! not a valid event goes to the dead-letter stream with its reason and is acknowledged, so it
//! can never stall ingest.
//!
//! Acks are explicit, one per message, never `AckAll`: after a crash, messages delivered to the
//! dead process are still outstanding, and an `AckAll` from the restarted one would acknowledge
//! them without their ever having been appended (the crash test caught exactly that).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_nats::jetstream::{self, consumer, AckKind};
use futures_util::StreamExt;
use serde::Deserialize;
use simledger_eventlog::{Event, EventLog, ExpectedVersion, Metadata, NewEvent};
use uuid::Uuid;

use crate::{CoreError, CoreNames};

pub const CONSUMER: &str = "ingest";

/// Milliseconds from a node's publish to the commit of its event, for `bench ingest`.
static LATENCY_MS: std::sync::Mutex<Option<hdrhistogram::Histogram<u64>>> = std::sync::Mutex::new(None);

/// Starts (or restarts) recording publish→commit latency.
pub fn reset_latency() {
    *LATENCY_MS.lock().expect("latency lock") = hdrhistogram::Histogram::new_with_bounds(1, 600_000, 3).ok();
}

/// `(p50, p99, count)` in milliseconds since [`reset_latency`].
pub fn latency_percentiles() -> Option<(u64, u64, u64)> {
    let h = LATENCY_MS.lock().expect("latency lock");
    h.as_ref().map(|h| (h.value_at_quantile(0.5), h.value_at_quantile(0.99), h.len()))
}
const BATCH: usize = 4000;

#[derive(Deserialize)]
struct Envelope<'a> {
    event_id: Uuid,
    stream: String,
    #[serde(rename = "type")]
    event_type: &'a str,
    #[serde(borrow)]
    data: &'a serde_json::value::RawValue,
    #[serde(default)]
    metadata: Metadata,
    #[serde(default)]
    published_at_ms: u64,
}

/// Turns one message into an appendable event, or says why it is not one.
///
/// The data is decoded into its catalog type and serialized again rather than stored as it
/// came: the log holds each type's canonical JSON even when a node sends fields it should not.
fn decode(payload: &[u8]) -> Result<(NewEvent, u64), String> {
    let env: Envelope = serde_json::from_slice(payload).map_err(|e| format!("not an event envelope: {e}"))?;
    let event = Event::decode(env.event_type, env.data.get()).map_err(|e| format!("{}: {e}", env.event_type))?;
    if !event.reported_by_core() {
        return Err(format!("{} is not a type the core's nodes report", env.event_type));
    }
    let new = NewEvent::new(env.event_id, env.stream, &event, &env.metadata).map_err(|e| e.to_string())?;
    Ok((new, env.published_at_ms))
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

pub(crate) async fn consumer(js: &jetstream::Context, names: &CoreNames) -> Result<consumer::PullConsumer, CoreError> {
    let stream = js.get_stream(names.stream()).await.map_err(|e| CoreError::JetStream(e.to_string()))?;
    stream
        .get_or_create_consumer(
            CONSUMER,
            consumer::pull::Config {
                durable_name: Some(CONSUMER.into()),
                ack_policy: consumer::AckPolicy::Explicit,
                // How soon a dead ingest's unacknowledged messages are delivered again. Longer
                // than any healthy append; a redelivery that overlaps one is deduplicated.
                ack_wait: Duration::from_secs(10),
                max_ack_pending: 100_000,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| CoreError::JetStream(e.to_string()))
}

/// Waits until ingest has committed and acknowledged every message stored in `CORE` now (later
/// ones may still be on their way): what a node about to decide from the log needs of what
/// others published before it started.
pub async fn ingested_until_now(
    js: &jetstream::Context,
    names: &CoreNames,
    timeout: Duration,
) -> Result<(), CoreError> {
    let mut stream = js.get_stream(names.stream()).await.map_err(|e| CoreError::JetStream(e.to_string()))?;
    let now = stream.info().await.map_err(|e| CoreError::JetStream(e.to_string()))?.state.last_sequence;
    until_consumer(js, names, timeout, |info| info.ack_floor.stream_sequence >= now).await
}

/// Waits until ingest has committed and acknowledged every message stored in `CORE`.
pub async fn drained(js: &jetstream::Context, names: &CoreNames, timeout: Duration) -> Result<(), CoreError> {
    until_consumer(js, names, timeout, |info| info.num_pending == 0 && info.num_ack_pending == 0).await
}

/// Polls ingest's consumer until `done` holds of it, for at most `timeout`.
async fn until_consumer(
    js: &jetstream::Context,
    names: &CoreNames,
    timeout: Duration,
    done: impl Fn(&consumer::Info) -> bool,
) -> Result<(), CoreError> {
    let mut c = consumer(js, names).await?;
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let info = c.info().await.map_err(|e| CoreError::JetStream(e.to_string()))?;
        if done(info) {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            return Err(CoreError::NotDrained(timeout));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs ingest until the consumer's message stream ends (NATS gone for good).
pub async fn run(js: jetstream::Context, names: CoreNames, log: EventLog) -> Result<(), CoreError> {
    let c = consumer(&js, &names).await?;
    let messages = c
        .stream()
        .max_messages_per_batch(BATCH)
        .heartbeat(Duration::from_secs(5))
        .messages()
        .await
        .map_err(|e| CoreError::JetStream(e.to_string()))?;
    let mut messages = std::pin::pin!(messages);
    while let Some(chunk) = next_chunk(&mut messages, BATCH).await {
        let mut batch = Vec::with_capacity(chunk.len());
        let mut published = Vec::with_capacity(chunk.len());
        // Which message each event of `batch` came from.
        let mut sources = Vec::with_capacity(chunk.len());
        let mut done = Vec::with_capacity(chunk.len());
        for msg in chunk {
            let msg = match msg {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(error = %e, "ingest consumer hiccup");
                    continue;
                }
            };
            match decode(&msg.payload) {
                Ok((event, at)) => {
                    batch.push(event);
                    published.push(at);
                    sources.push(done.len());
                }
                Err(reason) => dead_letter(&js, &names, &msg, &reason).await,
            }
            done.push(msg);
        }
        if !batch.is_empty() {
            for (index, reason) in append_until_committed(&log, batch).await {
                dead_letter(&js, &names, &done[sources[index]], &format!("the log refused it: {reason}")).await;
            }
            let now = now_ms();
            let mut recording = LATENCY_MS.lock().expect("latency lock");
            for at in published {
                let ms = now.saturating_sub(at);
                metrics::histogram!("simledger_ingest_latency_seconds").record(ms as f64 / 1000.0);
                if let Some(h) = recording.as_mut() {
                    let _ = h.record(ms.max(1));
                }
            }
        }
        for msg in done {
            if let Err(e) = msg.ack_with(AckKind::Ack).await {
                tracing::warn!(error = %e, "ack lost; the message will be redelivered and deduplicated");
            }
        }
    }
    Ok(())
}

/// Waits for one message, then takes every message already delivered, up to `max`.
///
/// Not `ready_chunks`: the consumer stream returns `Pending` whenever tokio's cooperative budget
/// (128 polls) runs out, which capped batches at 127 messages however long the backlog. Yielding
/// once resets the budget; only a stream still empty after a yield ends the batch.
async fn next_chunk<S, T>(messages: &mut std::pin::Pin<&mut S>, max: usize) -> Option<Vec<T>>
where
    S: futures_util::Stream<Item = T>,
{
    use futures_util::FutureExt;
    let mut chunk = vec![messages.next().await?];
    let mut yielded = false;
    while chunk.len() < max {
        match messages.next().now_or_never() {
            Some(Some(m)) => {
                chunk.push(m);
                yielded = false;
            }
            Some(None) => break,
            None if yielded => break,
            None => {
                tokio::task::yield_now().await;
                yielded = true;
            }
        }
    }
    Some(chunk)
}

/// Appends `batch`, retrying while the database is unreachable: nothing is acknowledged (so
/// nothing can be lost) until this returns. A batch the log refuses for good is appended event
/// by event, so that only the events it still refuses fail; those are returned, by index, with
/// the reason, for the dead-letter stream. Ingest never stalls on one of them.
async fn append_until_committed(log: &EventLog, batch: Vec<NewEvent>) -> Vec<(usize, String)> {
    let Err(e) = append_retrying(log, batch.clone()).await else { return Vec::new() };
    tracing::warn!(error = %e, events = batch.len(), "the log refused an ingest batch; appending it event by event");
    let mut refused = Vec::new();
    for (index, event) in batch.into_iter().enumerate() {
        if let Err(e) = append_retrying(log, vec![event]).await {
            refused.push((index, e.to_string()));
        }
    }
    refused
}

/// Appends `batch`, retrying for as long as the failure is transient.
async fn append_retrying(log: &EventLog, batch: Vec<NewEvent>) -> Result<(), simledger_eventlog::EventLogError> {
    let n = batch.len() as u64;
    let mut backoff = Duration::from_millis(50);
    loop {
        match log.append(batch.clone(), ExpectedVersion::Any).await {
            Ok(out) => {
                let fresh = out.iter().filter(|a| !a.duplicate).count() as u64;
                metrics::counter!("simledger_ingest_events_total").increment(fresh);
                metrics::counter!("simledger_ingest_duplicates_total").increment(n - fresh);
                return Ok(());
            }
            Err(e) if e.is_transient() => {
                tracing::warn!(error = %e, events = n, "ingest append failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
            Err(e) => return Err(e),
        }
    }
}

async fn dead_letter(js: &jetstream::Context, names: &CoreNames, msg: &jetstream::Message, reason: &str) {
    tracing::warn!(subject = %msg.subject, %reason, "message sent to the dead-letter stream");
    metrics::counter!("simledger_ingest_dead_letters_total").increment(1);
    let mut headers = async_nats::HeaderMap::new();
    headers
        .insert("Simledger-Reason", reason.chars().filter(|c| !c.is_control()).take(500).collect::<String>().as_str());
    headers.insert("Simledger-Original-Subject", msg.subject.as_str());
    let mut backoff = Duration::from_millis(50);
    loop {
        let sent =
            match js.publish_with_headers(names.dead_letter_subject(), headers.clone(), msg.payload.clone()).await {
                Ok(ack) => ack.await.map(|_| ()).map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
        match sent {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(error = %e, "dead-letter publish failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::decode;

    fn envelope(event_type: &str, data: serde_json::Value) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "event_id": uuid::Uuid::now_v7(), "stream": "x", "type": event_type, "data": data,
        }))
        .unwrap()
    }

    #[test]
    fn only_the_types_the_nodes_report_are_taken_from_the_core_stream() {
        // A rate, as a publisher on the core's stream might forge it: refused, never logged.
        let rate = serde_json::json!({"tor": "*data", "prefix": "", "price_per_unit": "0", "unit_size": 1});
        let refused = decode(&envelope("operator.cdr_rate_set", rate)).unwrap_err();
        assert!(refused.contains("not a type the core's nodes report"), "{refused}");
        let from_sim = serde_json::json!({
            "ip_command_sid": "HG1", "account_sid": "AC1", "sim_sid": "HS1", "sim_iccid": "89", "device_ip": "10.64.0.1",
            "device_port": 5000, "payload_type": "text", "payload": "pong", "timestamp": "2026-05-01T10:00:00Z",
        });
        assert!(decode(&envelope("ip_command.from_sim", from_sim)).is_ok());
    }
}
