//! One sink's delivery: from its cursor, the log's events of its subscription's types and its
//! account, in log order, to its receiver; the cursor moves after each acknowledgement.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use simledger_eventlog::catalog::SinkConfiguration;
use simledger_eventlog::{stream_types, EventLog, Position, RecordedEvent};
use simledger_projections::event_streams::read::{self, DeliverySink, SubscribedEventRow};
use tokio::sync::watch;

use super::cursor::{self, Cursor};
use super::{kinesis, webhook, CloudEvent, DeliveryError, Sinks};

/// How far ahead of its cursor a sink looks in one read: the read is by position range, so a
/// sink subscribed to rare types still passes over the log quickly.
const SPAN: i64 = 20_000;

/// An event picked for delivery.
struct Picked {
    position: Position,
    recorded_at: chrono::DateTime<chrono::Utc>,
    partition: String,
    json: Vec<u8>,
}

pub(super) struct Worker {
    pub(super) log: EventLog,
    pub(super) sink: DeliverySink,
    pub(super) configuration: SinkConfiguration,
    pub(super) sinks: Arc<Sinks>,
    pub(super) head: watch::Receiver<Position>,
}

impl Worker {
    /// Serves the sink until its task is aborted (the sink or its subscription went away).
    pub(super) async fn run(mut self) {
        loop {
            if let Err(e) = self.serve().await {
                tracing::warn!(sink = %self.sink.sink_sid, error = %e, "sink worker stopped; resuming from its cursor");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }

    async fn serve(&mut self) -> Result<(), DeliveryError> {
        let pool = self.log.pool().clone();
        let sid = self.sink.sink_sid.clone();
        let types = read::sink_types(&pool, &sid).await?;
        // A new sink starts where its subscription started: nothing before it was asked for.
        let start = types.iter().map(|t| t.from_position).min().unwrap_or(0);
        let mut at = cursor::start(&pool, &sid, self.log.shard(), start).await?;
        let token = match &self.configuration {
            SinkConfiguration::Webhook(_) => self.sinks.settings.accounts.signing_token(&self.sink.account_sid).await?,
            SinkConfiguration::Kinesis(_) => None,
        };
        loop {
            let types = read::sink_types(&pool, &sid).await?;
            let log_types: Vec<String> = types
                .iter()
                .filter_map(|t| stream_types::by_name(&t.event_type).map(|s| s.log_type.to_owned()))
                .collect();
            let (events, upto) = if log_types.is_empty() {
                (Vec::new(), at.position.max(*self.head.borrow()))
            } else {
                self.log.read_types(at.position, SPAN, &log_types).await?
            };
            if upto <= at.position {
                self.wait_for_head(at.position).await;
                // Idle is when a rewind (which moves the stored cursor) is noticed.
                at = cursor::start(&pool, &sid, self.log.shard(), start).await?;
                continue;
            }
            let picked = self.pick(&events, &types);
            match self.deliver(&mut at, picked, upto, token.as_deref()).await {
                Ok(()) => {}
                Err(DeliveryError::Rewound) => {
                    at = cursor::start(&pool, &sid, self.log.shard(), start).await?;
                    tracing::info!(sink = %sid, position = at.position, "sink rewound; delivering from there");
                }
                Err(e) => return Err(e),
            }
            let head = *self.head.borrow();
            metrics::gauge!("simledger_sink_cursor", "sink" => sid.clone()).set(at.position as f64);
            metrics::gauge!("simledger_sink_lag_events", "sink" => sid.clone()).set((head - at.position).max(0) as f64);
        }
    }

    /// The events of the sink's account, each after the position its type was subscribed at.
    fn pick(&self, events: &[RecordedEvent], types: &[SubscribedEventRow]) -> Vec<Picked> {
        let mut picked = Vec::new();
        for e in events {
            if e.event.account_sid() != Some(self.sink.account_sid.as_str()) {
                continue;
            }
            let Some(stream_type) = stream_types::streamable(&e.event) else { continue };
            let Some(subscribed) = types.iter().find(|t| t.event_type == stream_type.name) else { continue };
            if e.position <= subscribed.from_position {
                continue;
            }
            let cloud = CloudEvent::of(e, stream_type, subscribed.schema_version);
            let partition = e.event.sim_sid().unwrap_or(&self.sink.account_sid).to_owned();
            picked.push(Picked { position: e.position, recorded_at: e.recorded_at, partition, json: cloud.to_json() });
        }
        picked
    }

    /// Delivers `picked` in order, each request retried until acknowledged, moving the cursor
    /// after each; ends with the cursor at `upto`.
    async fn deliver(
        &self,
        at: &mut Cursor,
        picked: Vec<Picked>,
        upto: Position,
        token: Option<&str>,
    ) -> Result<(), DeliveryError> {
        let sid = &self.sink.sink_sid;
        // Each unit of delivery: the events it carries and the position the cursor may take.
        let units: Vec<(std::ops::Range<usize>, Position)> = match &self.configuration {
            SinkConfiguration::Webhook(w) => {
                let sizes: Vec<usize> = picked.iter().map(|p| p.json.len()).collect();
                webhook::batches(&sizes, w.batch_events)
                    .into_iter()
                    .map(|r| (r.clone(), picked[r.end - 1].position))
                    .collect()
            }
            SinkConfiguration::Kinesis(_) => {
                let sizes: Vec<(usize, usize)> = picked.iter().map(|p| (p.partition.len(), p.json.len())).collect();
                kinesis::calls(&sizes).into_iter().map(|r| (r.clone(), picked[r.end - 1].position)).collect()
            }
        };
        // Each unit's cursor write goes to the database while the next unit is sent: a crash
        // then repeats at most the unit in flight and the one whose write had not committed.
        let count = units.len();
        let mut owed: Option<(Cursor, Position, i64)> = None;
        for (i, (range, to)) in units.into_iter().enumerate() {
            let to = if i + 1 == count { upto } else { to };
            let batch = &picked[range];
            let (sent, written) = tokio::join!(self.deliver_unit(batch, token), self.write(owed.take()));
            if !written? {
                return Err(DeliveryError::Rewound);
            }
            sent?;
            metrics::counter!("simledger_sink_delivered_total", "sink" => sid.clone()).increment(batch.len() as u64);
            if let Some(last) = batch.last() {
                let behind = (chrono::Utc::now() - last.recorded_at).num_milliseconds().max(0) as f64 / 1000.0;
                metrics::gauge!("simledger_sink_lag_seconds", "sink" => sid.clone()).set(behind);
            }
            owed = Some((*at, to, batch.len() as i64));
            *at = Cursor { position: to, generation: at.generation };
        }
        if count == 0 && upto > at.position {
            owed = Some((*at, upto, 0));
            *at = Cursor { position: upto, generation: at.generation };
        }
        if !self.write(owed).await? {
            return Err(DeliveryError::Rewound);
        }
        Ok(())
    }

    /// Moves the cursor as owed (`from`, `to`, events delivered); `false` when it was rewound.
    async fn write(&self, owed: Option<(Cursor, Position, i64)>) -> Result<bool, DeliveryError> {
        match owed {
            Some((from, to, delivered)) => {
                Ok(cursor::advance(self.log.pool(), &self.sink.sink_sid, from, to, delivered).await?)
            }
            None => Ok(true),
        }
    }

    /// One request's worth, retried with exponential backoff and jitter until the receiver
    /// acknowledges it. Nothing is dropped: a receiver that keeps refusing holds the sink (it
    /// turns `failed`), never another sink.
    async fn deliver_unit(&self, batch: &[Picked], token: Option<&str>) -> Result<(), DeliveryError> {
        let settings = &self.sinks.settings;
        let mut backoff = settings.first_backoff;
        let mut pending: Vec<usize> = (0..batch.len()).collect();
        loop {
            let attempt = {
                let _permit = self.sinks.in_flight.acquire().await.expect("the semaphore is never closed");
                match &self.configuration {
                    SinkConfiguration::Webhook(w) => match token {
                        Some(token) => {
                            let body = webhook::array(batch.iter().map(|p| p.json.as_slice()));
                            webhook::send(&self.sinks.http, w, token, body).await.map(|()| Vec::new())
                        }
                        None => Err(DeliveryError::Refused(
                            "the account's auth token cannot be derived to sign webhooks; reissue it".into(),
                        )),
                    },
                    SinkConfiguration::Kinesis(k) => {
                        let records: Vec<(String, Vec<u8>)> =
                            pending.iter().map(|&i| (batch[i].partition.clone(), batch[i].json.clone())).collect();
                        self.sinks.kinesis.put_records(k, &records).await.map(|taken| {
                            // Resend what was refused, and every later record of a SIM that had
                            // one refused, so each SIM's events still end in log order.
                            let mut held = std::collections::HashSet::new();
                            let mut again = Vec::new();
                            for (j, ok) in taken.iter().enumerate() {
                                let i = pending[j];
                                if !ok || held.contains(&batch[i].partition) {
                                    held.insert(batch[i].partition.clone());
                                    again.push(i);
                                }
                            }
                            again
                        })
                    }
                }
            };
            match attempt {
                Ok(again) if again.is_empty() => return Ok(()),
                Ok(again) => {
                    pending = again;
                    self.failed("Kinesis refused some records").await?;
                }
                Err(e) => self.failed(&e.to_string()).await?,
            }
            let jitter = rand::rng().random_range(0.5..1.5);
            tokio::time::sleep(backoff.mul_f64(jitter)).await;
            backoff = (backoff * 2).min(settings.max_backoff);
        }
    }

    async fn failed(&self, error: &str) -> Result<(), DeliveryError> {
        let sid = &self.sink.sink_sid;
        metrics::counter!("simledger_sink_failures_total", "sink" => sid.clone()).increment(1);
        let failed = cursor::record_failure(self.log.pool(), sid, error, self.sinks.settings.fail_after).await?;
        tracing::debug!(sink = %sid, error, failed, "delivery attempt failed; retrying");
        Ok(())
    }

    async fn wait_for_head(&mut self, past: Position) {
        // The head watch is fed by the log's NOTIFY; the timeout re-reads types and the cursor
        // now and then, so a subscription change is seen without new events.
        let _ = tokio::time::timeout(Duration::from_secs(1), self.head.wait_for(|h| *h > past)).await;
    }
}
