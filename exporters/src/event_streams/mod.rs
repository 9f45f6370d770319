//! Event Streams delivery (Twilio Event Streams v1): every sink with a subscription gets a
//! worker of its own that delivers, from the sink's durable cursor, the log's events of the
//! subscription's types and the sink's account, as CloudEvents, to a webhook (signed as Twilio
//! signs) or a Kinesis stream.
//!
//! - **At least once, never skipped**: the cursor moves only after the receiver acknowledged;
//!   its write goes out while the next request is sent, so a crash repeats at most two requests
//!   (`cursor.rs`, `worker.rs`).
//! - **One SIM's events in log order**: a sink's worker delivers in log order, one request at a
//!   time, and retries a request until it is acknowledged before the next.
//! - **A slow or dead sink delays no other**: each sink is its own task, holding no transaction
//!   or connection while it waits on the network; requests in flight across sinks are bounded.
//! - **Failure**: retries with exponential backoff and jitter; after `fail_after` of failures the
//!   sink shows `failed`, and resumes from its cursor as soon as a delivery succeeds.
//! - **Tests**: `POST /v1/Sinks/{Sid}/Test` appends `sink.test_requested`; [`spawn`] delivers the
//!   test event once, at once, outside the sink's order (a stuck sink can still be tested).

mod cloudevent;
pub mod cursor;
pub mod kinesis;
pub mod webhook;
mod worker;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use simledger_commands::Accounts;
use simledger_eventlog::catalog::SinkConfiguration;
use simledger_eventlog::{EventLog, Position, NOTIFY_CHANNEL};
use simledger_outbound::{DestinationPolicy, OutboundClient};
use simledger_projections::event_streams::read;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;

pub use cloudevent::CloudEvent;
pub use kinesis::{AwsEnvironment, KinesisClient};

/// Why a delivery attempt failed. The texts are safe to show the sink's owner.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("the receiver answered HTTP {0}")]
    Status(u16),
    #[error("{0}")]
    Transport(String),
    #[error("refused: {0}")]
    Refused(String),
    #[error("the cursor was rewound")]
    Rewound,
    #[error(transparent)]
    EventLog(#[from] simledger_eventlog::EventLogError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Command(#[from] simledger_commands::CommandError),
}

/// How sinks deliver.
#[derive(Clone)]
pub struct SinkSettings {
    /// What webhook destinations may be reached.
    pub policy: DestinationPolicy,
    /// Derives each account's auth token again, to sign its webhooks.
    pub accounts: Accounts,
    /// How long deliveries may keep failing before the sink shows `failed`.
    pub fail_after: Duration,
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    /// Requests in flight across all sinks of this process.
    pub max_in_flight: usize,
    pub aws: AwsEnvironment,
}

impl SinkSettings {
    pub fn new(policy: DestinationPolicy, accounts: Accounts) -> Self {
        Self {
            policy,
            accounts,
            fail_after: Duration::from_secs(15 * 60),
            first_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(30),
            max_in_flight: 256,
            aws: AwsEnvironment::from_env(),
        }
    }
}

/// What every sink worker of a process shares.
pub(crate) struct Sinks {
    settings: SinkSettings,
    http: OutboundClient,
    kinesis: KinesisClient,
    in_flight: Semaphore,
}

/// Runs Event Streams delivery for ever: a worker per sink with a subscription (started and
/// stopped as sinks and subscriptions come and go) and the test-event deliverer.
pub fn spawn(log: EventLog, settings: SinkSettings) -> JoinHandle<()> {
    let sinks = Arc::new(Sinks {
        http: settings.policy.client(webhook::TIMEOUT),
        kinesis: KinesisClient::new(settings.aws.clone()),
        in_flight: Semaphore::new(settings.max_in_flight.max(1)),
        settings,
    });
    tokio::spawn(async move {
        let head = watch_head(log.clone());
        tokio::spawn(deliver_tests(log.clone(), sinks.clone(), head.clone()));
        supervise(log, sinks, head).await
    })
}

/// The log's head, kept current by one `LISTEN` for the whole process (not one per sink).
fn watch_head(log: EventLog) -> watch::Receiver<Position> {
    let (tx, rx) = watch::channel(0);
    tokio::spawn(async move {
        loop {
            let listen = async {
                let mut listener = sqlx::postgres::PgListener::connect_with(log.pool()).await?;
                listener.listen(NOTIFY_CHANNEL).await?;
                // Read after listening, so no commit falls between.
                tx.send_replace(log.head().await.map_err(|e| sqlx::Error::Protocol(e.to_string()))?);
                loop {
                    let n = listener.recv().await?;
                    if let Ok(head) = n.payload().parse::<Position>() {
                        tx.send_if_modified(|h| {
                            let newer = head > *h;
                            if newer {
                                *h = head;
                            }
                            newer
                        });
                    }
                }
                #[allow(unreachable_code)]
                Ok::<(), sqlx::Error>(())
            };
            if let Err(e) = listen.await {
                tracing::warn!(error = %e, "watching the log's head; listening again");
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    rx
}

/// Keeps one worker per sink with a subscription.
async fn supervise(log: EventLog, sinks: Arc<Sinks>, head: watch::Receiver<Position>) {
    let mut workers: HashMap<String, (read::DeliverySink, JoinHandle<()>)> = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tick.tick().await;
        let wanted = match read::delivery_sinks(log.pool()).await {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(error = %e, "reading the sinks to serve");
                continue;
            }
        };
        let wanted: HashMap<String, read::DeliverySink> = wanted.into_iter().map(|s| (s.sink_sid.clone(), s)).collect();
        workers.retain(|sid, (sink, task)| {
            let keep = wanted.get(sid) == Some(sink) && !task.is_finished();
            if !keep {
                task.abort();
            }
            keep
        });
        for (sid, sink) in wanted {
            if workers.contains_key(&sid) {
                continue;
            }
            let configuration = match configuration_of(&sink.sink_type, &sink.sink_configuration) {
                Some(c) => c,
                None => {
                    tracing::error!(sink = %sid, "a sink's stored configuration does not parse; not serving it");
                    continue;
                }
            };
            let worker = worker::Worker {
                log: log.clone(),
                sink: sink.clone(),
                configuration,
                sinks: sinks.clone(),
                head: head.clone(),
            };
            tracing::info!(sink = %sid, account = %sink.account_sid, kind = %sink.sink_type, "serving sink");
            workers.insert(sid, (sink, tokio::spawn(worker.run())));
        }
        metrics::gauge!("simledger_sinks_served").set(workers.len() as f64);
    }
}

/// A sink's typed configuration from its read-model columns.
fn configuration_of(sink_type: &str, configuration: &serde_json::Value) -> Option<SinkConfiguration> {
    let tagged = serde_json::json!({ "sink_type": sink_type, "sink_configuration": configuration });
    serde_json::from_value(tagged).ok()
}

/// The checkpoint of the test-event deliverer.
pub const TESTS_NAME: &str = "sink_tests";

/// Delivers each requested test event once (three attempts), each in a task of its own so a
/// dead receiver delays no other test.
async fn deliver_tests(log: EventLog, sinks: Arc<Sinks>, mut head: watch::Receiver<Position>) {
    let types = vec!["sink.test_requested".to_owned()];
    // Tests in flight at once: a customer asking for many tests of a dead receiver waits for
    // its own earlier tests, and takes nothing from delivery.
    let in_flight = Arc::new(Semaphore::new(32));
    loop {
        let run = async {
            let mut conn = log.pool().acquire().await?;
            let mut at = simledger_eventlog::checkpoint::load(&mut conn, TESTS_NAME, log.shard()).await?;
            drop(conn);
            loop {
                let (events, upto) = log.read_types(at, 100_000, &types).await?;
                for e in events {
                    // A test nobody delivered for this long is stale: its requester gave up.
                    if chrono::Utc::now() - e.recorded_at > chrono::Duration::minutes(10) {
                        continue;
                    }
                    if let simledger_eventlog::Event::SinkTestRequested(t) = e.event {
                        let permit = in_flight.clone().acquire_owned().await.expect("never closed");
                        let (log, sinks) = (log.clone(), sinks.clone());
                        tokio::spawn(async move {
                            deliver_test(log, sinks, t, e.recorded_at).await;
                            drop(permit);
                        });
                    }
                }
                if upto > at {
                    let mut tx = log.pool().begin().await?;
                    simledger_eventlog::checkpoint::advance(&mut tx, TESTS_NAME, log.shard(), at, upto).await?;
                    tx.commit().await?;
                    at = upto;
                } else {
                    let _ = tokio::time::timeout(Duration::from_secs(1), head.wait_for(|h| *h > at)).await;
                }
            }
            #[allow(unreachable_code)]
            Ok::<(), DeliveryError>(())
        };
        if let Err(e) = run.await {
            tracing::warn!(error = %e, "delivering sink tests; resuming");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn deliver_test(
    log: EventLog,
    sinks: Arc<Sinks>,
    test: simledger_eventlog::catalog::SinkTest,
    at: chrono::DateTime<chrono::Utc>,
) {
    let result: Result<(), DeliveryError> = async {
        let row = read::sink(log.pool(), &test.account_sid, &test.sink_sid).await?;
        let Some(row) = row else { return Ok(()) };
        let Some(configuration) = configuration_of(&row.sink_type, &row.sink_configuration) else { return Ok(()) };
        let event = CloudEvent::test(&test.account_sid, &test.test_id, at);
        let mut last = Ok(());
        for pause in [0, 1, 5] {
            tokio::time::sleep(Duration::from_secs(pause)).await;
            last = match &configuration {
                SinkConfiguration::Webhook(w) => {
                    let token = sinks.settings.accounts.signing_token(&test.account_sid).await?.ok_or_else(|| {
                        DeliveryError::Refused("the account's auth token cannot be derived to sign webhooks".into())
                    })?;
                    webhook::send(&sinks.http, w, &token, webhook::array(std::iter::once(event.to_json().as_slice())))
                        .await
                }
                SinkConfiguration::Kinesis(k) => {
                    // Twilio's Kinesis test event carries its data as a JSON string.
                    let mut json = event.clone();
                    json.data = serde_json::Value::String(event.data.to_string());
                    sinks.kinesis.put_records(k, &[(test.account_sid.clone(), json.to_json())]).await.and_then(
                        |taken| {
                            if taken.iter().all(|t| *t) {
                                Ok(())
                            } else {
                                Err(DeliveryError::Transport("Kinesis refused the test record".into()))
                            }
                        },
                    )
                }
            };
            if last.is_ok() {
                break;
            }
        }
        last
    }
    .await;
    match result {
        Ok(()) => tracing::info!(sink = %test.sink_sid, test_id = %test.test_id, "test event delivered"),
        Err(e) => tracing::warn!(sink = %test.sink_sid, error = %e, "test event not delivered"),
    }
}
