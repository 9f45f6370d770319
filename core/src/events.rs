//! Building Twilio-shaped connection events from what a node knows.

use chrono::{DateTime, Utc};
use simledger_eventlog::catalog::{CellLocation, ConnectionError, ConnectionEvent, NetworkRef};
use simledger_eventlog::{networks, Event, Metadata};
use uuid::Uuid;

use crate::happening;
use crate::protocol::{SessionContext, SubscriberProfile};

pub const ATTACHMENT_ACCEPTED: &str = "com.twilio.iot.supersim.connection.attachment.accepted";
pub const ATTACHMENT_REJECTED: &str = "com.twilio.iot.supersim.connection.attachment.rejected";
pub const ATTACHMENT_FAILED: &str = "com.twilio.iot.supersim.connection.attachment.failed";
pub const SESSION_STARTED: &str = "com.twilio.iot.supersim.connection.data-session.started";
pub const SESSION_UPDATED: &str = "com.twilio.iot.supersim.connection.data-session.updated";
pub const SESSION_ENDED: &str = "com.twilio.iot.supersim.connection.data-session.ended";
pub const SESSION_FAILED: &str = "com.twilio.iot.supersim.connection.data-session.failed";

/// The visited network as events show it; an MCC/MNC outside the catalogue keeps its codes.
pub fn network_ref(mcc: &str, mnc: &str) -> NetworkRef {
    match networks::catalog().by_plmn(mcc, mnc) {
        Some(n) => n.to_ref(),
        None => NetworkRef {
            mcc: mcc.to_owned(),
            mnc: mnc.to_owned(),
            friendly_name: "Unknown network".into(),
            iso_country: String::new(),
            sid: String::new(),
        },
    }
}

/// The fields every connection event has. `subscriber` is None for an unknown IMSI.
#[allow(clippy::too_many_arguments)]
pub fn base(
    event_type: &str,
    event_id: Uuid,
    at: DateTime<Utc>,
    imsi: &str,
    imei: Option<String>,
    subscriber: Option<&SubscriberProfile>,
    network: NetworkRef,
    location: Option<CellLocation>,
    rat_type: &str,
    error: Option<ConnectionError>,
) -> ConnectionEvent {
    ConnectionEvent {
        event_sid: happening::event_sid(event_id),
        account_sid: subscriber.map(|s| s.account_sid.clone()).unwrap_or_default(),
        sim_sid: subscriber.map(|s| s.sim_sid.clone()).unwrap_or_default(),
        sim_iccid: subscriber.map(|s| s.sim_iccid.clone()).unwrap_or_default(),
        sim_unique_name: subscriber.and_then(|s| s.sim_unique_name.clone()),
        fleet_sid: subscriber.and_then(|s| s.fleet_sid.clone()),
        imsi: imsi.to_owned(),
        imei,
        location,
        rat_type: rat_type.to_owned(),
        error,
        ..ConnectionEvent::on_network(event_type, at, network)
    }
}

/// A connection event for a device with an attach context.
pub fn from_context(event_type: &str, event_id: Uuid, at: DateTime<Utc>, ctx: &SessionContext) -> ConnectionEvent {
    base(
        event_type,
        event_id,
        at,
        &ctx.imsi,
        ctx.imei.clone(),
        Some(&ctx.subscriber),
        ctx.network.clone(),
        ctx.location.clone(),
        &ctx.rat_type,
        None,
    )
}

/// Wraps a connection event in its catalog variant.
pub fn typed(e: ConnectionEvent) -> Event {
    match e.event_type.as_str() {
        ATTACHMENT_ACCEPTED => Event::AttachmentAccepted(e),
        ATTACHMENT_REJECTED => Event::AttachmentRejected(e),
        ATTACHMENT_FAILED => Event::AttachmentFailed(e),
        SESSION_STARTED => Event::DataSessionStarted(e),
        SESSION_UPDATED => Event::DataSessionUpdated(e),
        SESSION_ENDED => Event::DataSessionEnded(e),
        _ => Event::DataSessionFailed(e),
    }
}

pub fn metadata(node: &str, account_sid: &str) -> Metadata {
    let m = Metadata::from_source(node);
    if account_sid.is_empty() {
        m
    } else {
        m.with_account(account_sid)
    }
}
