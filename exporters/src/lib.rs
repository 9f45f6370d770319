//! Getting data out of simledger, each path resumable from a cursor in the log:
//!
//! - CDR exporters: CSV files and S3 objects, each run exporting exactly the CDRs after the
//!   exporter's last exported order ID (an order ID is the log position that closed the CDR).
//! - Pushes to customers' URLs, each a checkpointed log subscriber (at least once):
//!
//! - `cdr_export`: `*file_csv` exporters, one file per run named by its order-ID range.
//! - `callbacks`: customers' SMS Command callbacks (`CallbackUrl`, a fleet's `SmsCommandsUrl`).
//! - `billing_posts`: billing's `*http_post` actions, signed, retried.
//! - `account_exports`: billing's `*export` actions, one document per exporter it names.
//! - `event_streams`: Twilio Event Streams sinks (webhook, Kinesis), each a worker delivering
//!   from its own cursor in the log.
//!
//! `simledger up` runs the `sinks` role (the callback notifier, the billing poster, the
//! account exporter and the Event Streams sinks).

pub mod account_exports;
pub mod billing_posts;
pub mod callbacks;
pub mod cdr_export;
pub mod event_streams;
pub mod outbound_calls;

/// Runs a sink's subscriber for ever: from its checkpoint, and again from its checkpoint half a
/// second after any failure (a database restart, a write that failed and must be retried).
fn spawn_sink<S>(log: simledger_eventlog::EventLog, sink: S) -> tokio::task::JoinHandle<()>
where
    S: simledger_eventlog::checkpoint::Subscriber + Clone + Sync + 'static,
{
    tokio::spawn(async move {
        let (progress, _) = tokio::sync::watch::channel(0);
        loop {
            let run =
                simledger_eventlog::checkpoint::run_checkpointed(log.clone(), sink.clone(), 256, progress.clone());
            if let Err(e) = run.await {
                tracing::warn!(sink = sink.name(), error = %simledger_eventlog::error::cause_chain(&e), "sink stopped; resuming from its checkpoint");
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
    })
}
