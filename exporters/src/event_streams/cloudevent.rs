//! Events as Twilio Event Streams delivers them: CloudEvents 1.0, structured JSON.

use chrono::{DateTime, Utc};
use serde::Serialize;
use simledger_eventlog::stream_types::{self, StreamType};
use simledger_eventlog::{Event, RecordedEvent};

/// One CloudEvent, ready to serialize.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CloudEvent {
    pub specversion: &'static str,
    #[serde(rename = "type")]
    pub event_type: &'static str,
    pub source: String,
    /// `EZ…`: a connection event's own `event_sid`, else one derived from the log's event id.
    pub id: String,
    pub dataschema: String,
    pub datacontenttype: &'static str,
    /// With milliseconds, as Twilio writes it.
    pub time: String,
    pub data: serde_json::Value,
}

fn twilio_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

impl CloudEvent {
    /// The CloudEvent of a log event of type `t`, in the subscribed `schema_version`.
    pub fn of(e: &RecordedEvent, t: &StreamType, schema_version: i32) -> Self {
        let mut data = e.event.to_value().expect("a recorded event serializes");
        stream_types::data_in_version(t, schema_version, &mut data);
        let (id, time, source) = match &e.event {
            Event::AttachmentAccepted(c)
            | Event::AttachmentRejected(c)
            | Event::AttachmentFailed(c)
            | Event::DataSessionStarted(c)
            | Event::DataSessionUpdated(c)
            | Event::DataSessionEnded(c)
            | Event::DataSessionFailed(c) => {
                (c.event_sid.clone(), c.timestamp, format!("/v1/SuperSim/ConnectionEvents/{}", c.event_sid))
            }
            _ => {
                let id = format!("EZ{}", e.event_id.simple());
                let source = format!("/v1/Simledger/Events/{id}");
                (id, e.recorded_at, source)
            }
        };
        Self {
            specversion: "1.0",
            event_type: t.name,
            source,
            id,
            dataschema: stream_types::schema_of(t).data_schema_uri(schema_version),
            datacontenttype: "application/json",
            time: twilio_time(time),
            data,
        }
    }

    /// The event `POST /v1/Sinks/{Sid}/Test` delivers (Twilio's shape: `id` is the account SID,
    /// `source` is `Sink`).
    pub fn test(account_sid: &str, test_id: &str, at: DateTime<Utc>) -> Self {
        let schema = stream_types::schema(stream_types::TEST_SCHEMA_ID).expect("the test schema is listed");
        Self {
            specversion: "1.0",
            event_type: stream_types::TEST_EVENT_TYPE,
            source: "Sink".into(),
            id: account_sid.to_owned(),
            dataschema: schema.data_schema_uri(1),
            datacontenttype: "application/json",
            time: twilio_time(at),
            data: serde_json::json!({ "test_id": test_id }),
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a CloudEvent serializes")
    }
}
