//! The embedded mobile core: HSS, MME, SGW/PGW and SMSC nodes and the device simulator. Nodes
//! publish every happening to the JetStream stream `<PREFIX>_CORE` (subjects
//! `<prefix>.core.<node>.<type>`); ingest appends them to the event log.
//!
//! This module holds the names and the stream that every node and ingest agree on.

use std::time::Duration;

use async_nats::jetstream::{self, stream};

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("JetStream: {0}")]
    JetStream(String),
}

/// Names of one instance's NATS resources; instances side by side use different prefixes.
#[derive(Debug, Clone)]
pub struct CoreNames {
    prefix: String,
}

impl CoreNames {
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    /// The JetStream stream every node publishes to.
    pub fn stream(&self) -> String {
        format!("{}_CORE", self.prefix)
    }

    /// `<prefix>.core.<node>.<type>`.
    pub fn subject(&self, node: &str, event_type: &str) -> String {
        format!("{}.core.{node}.{event_type}", self.prefix)
    }

    /// Every subject of the stream.
    pub fn all_subjects(&self) -> String {
        format!("{}.core.>", self.prefix)
    }
}

/// Creates (or finds) the `CORE` stream: file storage, so published happenings survive a NATS
/// restart, and a de-duplication window for `Nats-Msg-Id`, so a node that retries a publish
/// after a lost ack stores it once.
pub async fn ensure_core_stream(
    js: &jetstream::Context,
    names: &CoreNames,
) -> Result<stream::Stream, CoreError> {
    js.get_or_create_stream(stream::Config {
        name: names.stream(),
        subjects: vec![names.all_subjects()],
        storage: stream::StorageType::File,
        duplicate_window: Duration::from_secs(120),
        ..Default::default()
    })
    .await
    .map_err(|e| CoreError::JetStream(e.to_string()))
}
