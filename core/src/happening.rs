//! Ids of happenings: derived, never random, so a node that handles the same request twice (a
//! device retry, a redelivery, a simulator re-run after a crash) emits identical events.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// The event id of a happening named `key` at `at`: time-ordered, deterministic.
pub fn event_id(key: &str, at: DateTime<Utc>) -> Uuid {
    let d = digest(key);
    let mut low = [0u8; 16];
    low.copy_from_slice(&d[..16]);
    simledger_eventlog::time_ordered_id(at.timestamp_millis().max(0) as u64, u128::from_be_bytes(low))
}

/// A Twilio-style SID (`prefix` + 32 hex) for the thing `key` names.
pub fn sid(prefix: &str, key: &str) -> String {
    format!("{prefix}{}", hex::encode(&digest(key)[..16]))
}

/// The Twilio `EZ…` event SID of an event id.
pub fn event_sid(event_id: Uuid) -> String {
    format!("EZ{}", event_id.simple())
}
