use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Event, EventLogError, Position, Result};

/// Largest `data` payload the log accepts. Events are facts about one happening, not documents.
pub const MAX_PAYLOAD_BYTES: usize = 1024 * 1024;

/// A time-ordered event id (UUIDv7 layout): the happening's time in milliseconds, then 74 bits
/// the caller chooses. Deterministic when `discriminator` is (a hash of what happened), so a
/// node that republishes the same happening produces the same id; and time-ordered, so the
/// log's `event_id` index grows at its right edge instead of splitting pages at random.
pub fn time_ordered_id(unix_millis: u64, discriminator: u128) -> Uuid {
    let bytes = discriminator.to_be_bytes();
    let mut tail = [0u8; 10];
    tail.copy_from_slice(&bytes[6..16]);
    uuid::Builder::from_unix_timestamp_millis(unix_millis, &tail).into_uuid()
}

/// Why an event happened and where it came from; never part of the event's meaning.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// The request or happening that started the chain of events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<Uuid>,
    /// The event or command that directly caused this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<Uuid>,
    /// What appended it: `api`, `hss`, `pgw`, `projection:limits`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The tenant the event belongs to (the future shard key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_sid: Option<String>,
}

impl Metadata {
    pub fn from_source(source: impl Into<String>) -> Self {
        Self { source: Some(source.into()), ..Self::default() }
    }

    pub fn with_account(mut self, account_sid: impl Into<String>) -> Self {
        self.account_sid = Some(account_sid.into());
        self
    }
}

/// An event ready to append: typed, validated and serialized once.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// Idempotency key: appending an id that is already in the log is a no-op.
    pub event_id: Uuid,
    pub stream: String,
    pub event_type: &'static str,
    pub(crate) data: String,
    pub(crate) metadata: String,
}

impl NewEvent {
    pub fn new(event_id: Uuid, stream: impl Into<String>, event: &Event, metadata: &Metadata) -> Result<Self> {
        let stream = stream.into();
        if stream.is_empty() || stream.len() > 200 {
            return Err(EventLogError::InvalidEvent(format!(
                "stream name must be 1 to 200 bytes, got {}",
                stream.len()
            )));
        }
        let data = event.to_json().map_err(|e| EventLogError::InvalidEvent(e.to_string()))?;
        if data.len() > MAX_PAYLOAD_BYTES {
            return Err(EventLogError::PayloadTooLarge { size: data.len(), limit: MAX_PAYLOAD_BYTES });
        }
        let metadata = serde_json::to_string(metadata).map_err(|e| EventLogError::InvalidEvent(e.to_string()))?;
        // jsonb cannot hold U+0000; refuse here rather than fail the whole group commit.
        if holds_nul(&data) || holds_nul(&metadata) {
            return Err(EventLogError::InvalidEvent("text may not contain U+0000".into()));
        }
        Ok(Self { event_id, stream, event_type: event.event_type(), data, metadata })
    }

    pub fn data_json(&self) -> &str {
        &self.data
    }

    pub fn payload_len(&self) -> usize {
        self.data.len() + self.metadata.len() + self.stream.len()
    }
}

/// An event as the log holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedEvent {
    pub shard: i32,
    pub position: Position,
    pub event_id: Uuid,
    pub stream: String,
    pub stream_version: i32,
    pub event: Event,
    pub metadata: Metadata,
    pub recorded_at: DateTime<Utc>,
}

/// Whether JSON text holds U+0000, raw or escaped (`\u0000`), which `jsonb` cannot store.
/// An escaped backslash followed by `u0000` is text, not a NUL, and does not count.
pub fn holds_nul(json: &str) -> bool {
    let bytes = json.as_bytes();
    if bytes.contains(&0) {
        return true;
    }
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            if bytes.get(i + 1..i + 6) == Some(b"u0000") {
                return true;
            }
            // Skip the escaped character, so `\\u0000` is read as `\\` then text.
            i += 2;
        } else {
            i += 1;
        }
    }
    false
}

#[cfg(test)]
mod nul_tests {
    use super::holds_nul;

    #[test]
    fn an_escaped_or_raw_nul_is_found_and_an_escaped_backslash_is_not_one() {
        assert!(holds_nul(r#"{"a":"x\u0000"}"#));
        assert!(holds_nul("{\"a\":\"x\0\"}"));
        assert!(holds_nul(r#"{"a":"\\\u0000"}"#), "an escaped backslash, then an escaped NUL");
        assert!(!holds_nul(r#"{"a":"\\u0000"}"#), "an escaped backslash, then text");
        assert!(!holds_nul(r#"{"a":"\u0001"}"#));
        assert!(!holds_nul(r#"{"a":"plain"}"#));
    }
}
