//! Which log events customers can subscribe to through Event Streams, under which type names
//! and JSON Schemas: the catalog `GET /v1/Types` and `GET /v1/Schemas` serve and sinks deliver.
//!
//! Twilio's seven Super SIM connection types keep their names and schema
//! (`SuperSim.ConnectionEvent`, versions 1 and 2). simledger's own types live under
//! `com.simledger.*` with `Simledger.*` schemas; their `dataschema` is a `urn:simledger:schema:`
//! URN, since no public host serves them.
//!
//! A delivered event's `data` is the log event's data as stored (the catalog's stable JSON), so
//! the schemas below describe [`crate::catalog`]'s types; `stream_types` tests check they agree.

use crate::Event;

/// An Event Streams type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamType {
    /// The CloudEvents `type` and the name subscriptions use.
    pub name: &'static str,
    /// The log's `type` string it is delivered from.
    pub log_type: &'static str,
    pub schema_id: &'static str,
    pub description: &'static str,
}

/// Who published a schema version: Twilio's are named by Twilio's URLs and are what a
/// subscription gets by default; simledger's are `urn:simledger:schema:` URNs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Publisher {
    Twilio,
    Simledger,
}

/// A JSON Schema document of one version of a schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaVersion {
    pub version: i32,
    /// When this version was published (Twilio's `date_created`).
    pub date_created: &'static str,
    pub document: &'static str,
    pub publisher: Publisher,
    /// The keys of `data` this version added to the one before: an older version is delivered
    /// without them.
    pub adds: &'static [&'static str],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schema {
    pub id: &'static str,
    /// Oldest first; the last is the latest.
    pub versions: &'static [SchemaVersion],
}

impl Schema {
    pub fn latest(&self) -> &SchemaVersion {
        self.versions.last().expect("a schema has a version")
    }

    pub fn version(&self, n: i32) -> Option<&SchemaVersion> {
        self.versions.iter().find(|v| v.version == n)
    }

    /// The version a subscription gets when it names none: Twilio's latest of a schema Twilio
    /// publishes (so a Twilio customer's code sees Twilio's shape unless it asks for
    /// simledger's later version), else the latest.
    pub fn default_version(&self) -> i32 {
        let twilios = self.versions.iter().rev().find(|v| v.publisher == Publisher::Twilio);
        twilios.unwrap_or_else(|| self.latest()).version
    }

    /// The CloudEvents `dataschema` of events delivered in version `n`.
    pub fn data_schema_uri(&self, n: i32) -> String {
        match self.version(n).map(|v| v.publisher) {
            Some(Publisher::Twilio) => format!("https://events-schemas.twilio.com/{}/{n}", self.id),
            _ => format!("urn:simledger:schema:{}:{n}", self.id),
        }
    }
}

/// The type of the event `POST /v1/Sinks/{Sid}/Test` delivers.
pub const TEST_EVENT_TYPE: &str = "com.twilio.eventstreams.test-event";
pub const TEST_SCHEMA_ID: &str = "EventStreams.TestSink";

const CONNECTION: &str = "SuperSim.ConnectionEvent";
const SMS: &str = "Simledger.SmsEvent";

macro_rules! version {
    ($publisher:ident $n:literal, $date:literal, $file:literal, adds $adds:expr) => {
        SchemaVersion {
            version: $n,
            date_created: $date,
            document: include_str!(concat!("../schemas/", $file)),
            publisher: Publisher::$publisher,
            adds: &$adds,
        }
    };
    ($publisher:ident $n:literal, $date:literal, $file:literal) => {
        version!($publisher $n, $date, $file, adds [])
    };
}

pub const SCHEMAS: &[Schema] = &[
    Schema {
        id: CONNECTION,
        versions: &[
            version!(Twilio 1, "2021-05-01T00:00:00Z", "SuperSim.ConnectionEvent-1.json"),
            version!(Twilio 2, "2022-06-01T00:00:00Z", "SuperSim.ConnectionEvent-2.json",
                adds ["data_session_data_download", "data_session_data_upload", "data_session_data_total"]),
            version!(Simledger 3, "2026-12-01T00:00:00Z", "SuperSim.ConnectionEvent-3.json",
                adds ["breakout_region", "pgw"]),
        ],
    },
    Schema {
        id: TEST_SCHEMA_ID,
        versions: &[version!(Twilio 1, "2021-05-01T00:00:00Z", "EventStreams.TestSink-1.json")],
    },
    Schema { id: SMS, versions: &[version!(Simledger 1, "2026-11-30T00:00:00Z", "Simledger.SmsEvent-1.json")] },
    Schema {
        id: "Simledger.SimStatusChange",
        versions: &[version!(Simledger 1, "2026-11-30T00:00:00Z", "Simledger.SimStatusChange-1.json")],
    },
    Schema {
        id: "Simledger.DataLimitDecision",
        versions: &[version!(Simledger 1, "2026-11-30T00:00:00Z", "Simledger.DataLimitDecision-1.json")],
    },
    Schema {
        id: "Simledger.SimSignal",
        versions: &[version!(Simledger 1, "2026-12-01T00:00:00Z", "Simledger.SimSignal-1.json")],
    },
    Schema {
        id: "Simledger.BalanceDebited",
        versions: &[
            version!(Simledger 1, "2026-11-30T00:00:00Z", "Simledger.BalanceDebited-1.json"),
            version!(Simledger 2, "2026-12-01T00:00:00Z", "Simledger.BalanceDebited-2.json", adds ["run_id"]),
        ],
    },
    Schema {
        id: "Simledger.ExternalCdr",
        versions: &[version!(Simledger 1, "2026-11-30T00:00:00Z", "Simledger.ExternalCdr-1.json")],
    },
];

macro_rules! connection {
    ($suffix:literal, $description:literal) => {
        StreamType {
            name: concat!("com.twilio.iot.supersim.connection.", $suffix),
            log_type: concat!("com.twilio.iot.supersim.connection.", $suffix),
            schema_id: CONNECTION,
            description: $description,
        }
    };
}

macro_rules! sms {
    ($suffix:literal, $description:literal) => {
        StreamType {
            name: concat!("com.simledger.sms.", $suffix),
            log_type: concat!("sms.", $suffix),
            schema_id: SMS,
            description: $description,
        }
    };
}

/// Every type a subscription may name.
pub const TYPES: &[StreamType] = &[
    connection!("attachment.accepted", "A SIM attached to a network"),
    connection!("attachment.rejected", "A SIM was refused attachment (status, network or IMSI not allowed)"),
    connection!("attachment.failed", "An attachment failed for a transient reason"),
    connection!("data-session.started", "A data session began"),
    connection!("data-session.updated", "A data session's bytes for its last window (about every 6 minutes)"),
    connection!("data-session.ended", "A data session ended, with its totals"),
    connection!("data-session.failed", "A data session could not be created or kept"),
    sms!("mo.submitted", "simledger: a SIM sent an SMS"),
    sms!("mo.delivered", "simledger: an SMS from a SIM was delivered to the fleet's URL"),
    sms!("mo.failed", "simledger: an SMS from a SIM could not be delivered"),
    sms!("mt.submitted", "simledger: an SMS Command was handed to the SMSC (status sent)"),
    sms!("mt.delivered", "simledger: an SMS Command reached its SIM (status delivered)"),
    sms!("mt.failed", "simledger: an SMS Command could not be delivered (status failed)"),
    StreamType {
        name: "com.simledger.sim.status_changed",
        log_type: "sim.status_changed",
        schema_id: "Simledger.SimStatusChange",
        description: "simledger: a SIM's status changed",
    },
    StreamType {
        name: "com.simledger.sim.data_limit_reached",
        log_type: "sim.data_limit_reached",
        schema_id: "Simledger.DataLimitDecision",
        description: "simledger: a SIM went over its fleet's data limit; its data is blocked",
    },
    StreamType {
        name: "com.simledger.sim.data_limit_cleared",
        log_type: "sim.data_limit_cleared",
        schema_id: "Simledger.DataLimitDecision",
        description: "simledger: a blocked SIM may use data again",
    },
    StreamType {
        name: "com.simledger.sim.signal_raised",
        log_type: "sim.signal_raised",
        schema_id: "Simledger.SimSignal",
        description: "simledger: a SIM behaved as a stolen or hacked device would (IMEI change, impossible travel, usage spike, attach storm)",
    },
    StreamType {
        name: "com.simledger.balance.debited",
        log_type: "balance.debited",
        schema_id: "Simledger.BalanceDebited",
        description: "simledger: usage debited from a billing account, with the action triggers it fired",
    },
    StreamType {
        name: "com.simledger.cdr.received",
        log_type: "cdr.received",
        schema_id: "Simledger.ExternalCdr",
        description: "simledger: a CDR from outside the embedded core was recorded",
    },
];

pub fn by_name(name: &str) -> Option<&'static StreamType> {
    TYPES.iter().find(|t| t.name == name)
}

pub fn by_log_type(log_type: &str) -> Option<&'static StreamType> {
    TYPES.iter().find(|t| t.log_type == log_type)
}

pub fn schema(id: &str) -> Option<&'static Schema> {
    SCHEMAS.iter().find(|s| s.id == id)
}

/// The schema of a stream type (every type's schema is in [`SCHEMAS`]).
pub fn schema_of(t: &StreamType) -> &'static Schema {
    schema(t.schema_id).expect("every stream type's schema is listed")
}

/// An event's `data` as delivered in `schema_version`: the stored JSON, less what an older
/// version did not have (`SuperSim.ConnectionEvent` 1 has no cumulative byte counts, 1 and 2
/// no breakout region or PGW).
pub fn data_in_version(t: &StreamType, schema_version: i32, data: &mut serde_json::Value) {
    let Some(map) = data.as_object_mut() else { return };
    for newer in schema_of(t).versions.iter().filter(|v| v.version > schema_version) {
        for key in newer.adds {
            map.remove(*key);
        }
    }
}

/// Whether the log's event can be delivered as an Event Streams type.
pub fn streamable(event: &Event) -> Option<&'static StreamType> {
    by_log_type(event.event_type())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_maps_to_a_catalog_event_and_a_parsable_schema() {
        for t in TYPES {
            assert!(Event::TYPES.contains(&t.log_type), "{} is not a log type", t.log_type);
            let schema = schema_of(t);
            for v in schema.versions {
                let doc: serde_json::Value = serde_json::from_str(v.document).unwrap();
                assert_eq!(doc["type"], "object", "{} v{}", schema.id, v.version);
            }
        }
        for s in SCHEMAS {
            assert!(!s.versions.is_empty());
        }
    }

    #[test]
    fn version_one_of_connection_events_has_no_cumulative_counts() {
        let t = by_name("com.twilio.iot.supersim.connection.data-session.ended").unwrap();
        let mut data = serde_json::json!({"data_total": 5, "data_session_data_total": 9});
        data_in_version(t, 1, &mut data);
        assert_eq!(data, serde_json::json!({"data_total": 5}));
        let mut data = serde_json::json!({"data_total": 5, "data_session_data_total": 9});
        data_in_version(t, 2, &mut data);
        assert_eq!(data["data_session_data_total"], 9);
    }

    #[test]
    fn only_version_three_carries_the_breakout_region_and_is_opt_in() {
        let t = by_name("com.twilio.iot.supersim.connection.data-session.updated").unwrap();
        let stored = serde_json::json!({"data_total": 5, "breakout_region": "eu-west", "pgw": "pgw-eu-west"});
        let mut v2 = stored.clone();
        data_in_version(t, 2, &mut v2);
        assert_eq!(v2, serde_json::json!({"data_total": 5}));
        let mut v3 = stored.clone();
        data_in_version(t, 3, &mut v3);
        assert_eq!(v3, stored);
        let connection = schema(CONNECTION).unwrap();
        assert_eq!(connection.default_version(), 2, "Twilio's customers keep Twilio's shape");
        assert_eq!(connection.latest().version, 3);
        assert_eq!(connection.data_schema_uri(3), "urn:simledger:schema:SuperSim.ConnectionEvent:3");
        assert_eq!(schema(SMS).unwrap().default_version(), 1);
    }

    #[test]
    fn schema_uris_point_at_twilio_for_twilio_schemas_only() {
        assert_eq!(
            schema(CONNECTION).unwrap().data_schema_uri(2),
            "https://events-schemas.twilio.com/SuperSim.ConnectionEvent/2"
        );
        assert_eq!(schema(SMS).unwrap().data_schema_uri(1), "urn:simledger:schema:Simledger.SmsEvent:1");
    }
}
