//! Builders of the log's events for tests. A connection event has 27 fields; a test names the
//! few it is about and takes the rest from here, with struct-update syntax:
//!
//! ```
//! use simledger_test_support::{window, SIM_ICCID};
//! let e = simledger_eventlog::catalog::ConnectionEvent {
//!     fleet_sid: Some("HF1".into()),
//!     ..window("AC1", "HS1", chrono::Utc::now(), 100, 200)
//! };
//! assert_eq!((e.data_total, e.sim_iccid.as_str()), (Some(300), SIM_ICCID));
//! ```

use chrono::{DateTime, Duration, Utc};
use simledger_eventlog::catalog::{ConnectionEvent, NetworkRef};

/// The ICCID and IMSI test SIMs carry unless a test says otherwise.
pub const SIM_ICCID: &str = "8988307000000000001";
pub const SIM_IMSI: &str = "234150000000001";

/// Twilio's prefix of every connection event type.
const PREFIX: &str = "com.twilio.iot.supersim.connection.";

/// Vodafone UK (234-15), from the network catalogue.
pub fn vodafone_uk() -> NetworkRef {
    simledger_eventlog::networks::catalog().by_plmn("234", "15").expect("Vodafone UK is in the catalogue").to_ref()
}

/// A connection event of `kind` (`attachment.accepted`, `data-session.updated`, …) for `sim`
/// of `account` at `at`, on Vodafone UK over 4G, with every session and traffic field empty.
pub fn connection(kind: &str, account: &str, sim: &str, at: DateTime<Utc>) -> ConnectionEvent {
    ConnectionEvent {
        event_sid: format!("EZ{}", at.timestamp_nanos_opt().unwrap_or_default()),
        account_sid: account.into(),
        sim_sid: sim.into(),
        sim_iccid: SIM_ICCID.into(),
        imsi: SIM_IMSI.into(),
        rat_type: "4G LTE".into(),
        apn: Some("super".into()),
        ..ConnectionEvent::on_network(&format!("{PREFIX}{kind}"), at, vodafone_uk())
    }
}

/// A data-session window (`data-session.updated`) of session `PI1`: `up` and `down` bytes in
/// the six minutes up to `end`.
pub fn window(account: &str, sim: &str, end: DateTime<Utc>, up: i64, down: i64) -> ConnectionEvent {
    ConnectionEvent {
        data_session_sid: Some("PI1".into()),
        data_session_start_time: Some(end - Duration::minutes(6)),
        data_session_update_start_time: Some(end - Duration::minutes(6)),
        data_session_update_end_time: Some(end),
        data_upload: Some(up),
        data_download: Some(down),
        data_total: Some(up + down),
        ..connection("data-session.updated", account, sim, end)
    }
}

/// A data session's end (`data-session.ended`): `session` ran from `start` to `end` and
/// carried `bytes` in all (half down, the rest up).
pub fn ended(
    account: &str,
    sim: &str,
    session: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    bytes: i64,
) -> ConnectionEvent {
    ConnectionEvent {
        data_session_sid: Some(session.into()),
        data_session_start_time: Some(start),
        data_session_end_time: Some(end),
        data_session_data_download: Some(bytes / 2),
        data_session_data_upload: Some(bytes - bytes / 2),
        data_session_data_total: Some(bytes),
        ..connection("data-session.ended", account, sim, end)
    }
}
