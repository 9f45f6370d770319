//! What devices and nodes say to each other over NATS request/reply, named after the 3GPP
//! interfaces they stand for: S1 (device/eNodeB → MME), S6a (MME → HSS), S11 (→ SGW/PGW), and
//! the SMSC's submit. JSON bodies.
//!
//! Every request carries the simulated time of the happening (`at`) and the device's sequence
//! number for it (`seq`): nodes derive event ids and SIDs from them, so a retried request
//! produces the very same events.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use simledger_eventlog::catalog::{BreakoutRegion, CellLocation, ConnectionError, NetworkRef};

/// Subject suffixes (after `<prefix>.`).
pub mod subjects {
    pub const S1_ATTACH: &str = "s1.attach";
    pub const S6A_UPDATE_LOCATION: &str = "s6a.update_location";
    pub const S11_CREATE_SESSION: &str = "s11.create_session";
    pub const S11_USAGE: &str = "s11.usage";
    pub const S11_DELETE_SESSION: &str = "s11.delete_session";
    pub const SMSC_SUBMIT: &str = "smsc.submit";
    /// SGi downlink: a datagram from the platform to a device's session address (IP Commands).
    pub const SGI_DOWNLINK: &str = "sgi.downlink";
    /// SGi uplink: a datagram a device sends from its session to the platform (MO IP Commands).
    pub const SGI_UPLINK: &str = "sgi.uplink";
    /// ES9+ (LPA → SM-DP+): a device downloading the profile its activation code names.
    pub const ES9_DOWNLOAD: &str = "es9.download";
    /// ES9+ (LPA → SM-DP+): the device's report of the profile's installation.
    pub const ES9_NOTIFY: &str = "es9.notify";

    /// What one PGW node serves, on subjects of its own: `pgw.<node>.<operation>`. The SGW
    /// forwards creates and downlinks there; a device sends its session's usage, deletion and
    /// uplink datagrams to the PGW its create answer named (the session's user-plane path).
    pub mod pgw {
        pub const CREATE_SESSION: &str = "create_session";
        pub const USAGE: &str = "usage";
        pub const DELETE_SESSION: &str = "delete_session";
        pub const DOWNLINK: &str = "downlink";
        pub const UPLINK: &str = "uplink";

        /// The subject suffix of `operation` on PGW `node`.
        pub fn subject(node: &str, operation: &str) -> String {
            format!("pgw.{node}.{operation}")
        }
    }
}

/// S1 attach request, as the MME receives it from the radio side.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AttachRequest {
    pub imsi: String,
    pub imei: Option<String>,
    pub mcc: String,
    pub mnc: String,
    pub cell_id: String,
    pub lac: String,
    pub rat_type: String,
    pub at: DateTime<Utc>,
    pub seq: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AttachAnswer {
    pub accepted: bool,
    /// The network could not decide (`attachment.failed`): a device tries the same request again.
    #[serde(default)]
    pub failed: bool,
    /// What the SGW/PGW and SMSC need to serve the device; present when accepted.
    pub context: Option<SessionContext>,
    pub error: Option<ConnectionError>,
}

/// S6a Update-Location request: may this IMSI attach to this serving network?
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UpdateLocationRequest {
    pub imsi: String,
    pub mcc: String,
    pub mnc: String,
}

/// S6a answer. `result_code` is the Diameter result (2001 success, 5xxx refusals); `error`
/// carries the Twilio code and the Diameter name for the connection event.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UpdateLocationAnswer {
    pub result_code: u32,
    pub error: Option<ConnectionError>,
    pub subscriber: Option<SubscriberProfile>,
}

/// The subscription data the HSS hands the MME.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriberProfile {
    pub sim_sid: String,
    pub sim_iccid: String,
    pub sim_unique_name: Option<String>,
    pub fleet_sid: Option<String>,
    pub account_sid: String,
    /// The fleet's breakout region; `None`: the platform's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breakout_region: Option<BreakoutRegion>,
}

/// The attach context (S11 carries the same: IMSI, serving network, RAT, location).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionContext {
    pub imsi: String,
    pub imei: Option<String>,
    pub subscriber: SubscriberProfile,
    pub network: NetworkRef,
    pub location: Option<CellLocation>,
    pub rat_type: String,
}

/// S11 Create-Session request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateSessionRequest {
    pub context: SessionContext,
    pub apn: String,
    pub at: DateTime<Utc>,
    pub seq: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateSessionAnswer {
    pub data_session_sid: String,
    /// None when the session could not be created (`error` says why).
    pub ip_address: Option<String>,
    pub error: Option<ConnectionError>,
    /// The PGW node that carries the session (the device sends its usage there) and its region.
    #[serde(default)]
    pub pgw: Option<String>,
    #[serde(default)]
    pub breakout_region: Option<BreakoutRegion>,
}

/// Bytes the device moved since its previous report (the PGW's counters, sampled).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UsageReport {
    pub data_session_sid: String,
    /// 1, 2, 3… per session; a report at or below the last one seen is a retry and is ignored.
    pub report_seq: u64,
    pub at: DateTime<Utc>,
    pub upload: i64,
    pub download: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UsageAnswer {
    /// The session is unknown to this PGW (it restarted): the device must open a new one.
    pub unknown_session: bool,
    /// The SIM is over its data limit: these bytes were not passed.
    pub blocked: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeleteSessionRequest {
    pub data_session_sid: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeleteSessionAnswer {
    pub found: bool,
}

/// An SMS into the SMSC: mobile-originated from a device, or mobile-terminated (an SMS command).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SmsSubmit {
    /// `from_sim` (MO) or `to_sim` (MT).
    pub direction: String,
    pub imsi: String,
    pub payload: String,
    pub at: DateTime<Utc>,
    pub seq: u64,
    /// Set for MT (the SMS command's SID); minted by the SMSC for MO.
    pub sms_command_sid: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SmsAnswer {
    pub sms_command_sid: String,
    pub delivered: bool,
    pub error: Option<ConnectionError>,
}

/// An IP Command's datagram into the PGW, for the device of `sim_sid`'s open data session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Downlink {
    pub ip_command_sid: String,
    pub account_sid: String,
    pub sim_sid: String,
    pub sim_iccid: String,
    pub device_port: i32,
    /// `text` or `binary` (base64).
    pub payload_type: String,
    pub payload: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DownlinkAnswer {
    /// The session address it went to; `None` when it could not be sent.
    pub device_ip: Option<String>,
    pub error: Option<ConnectionError>,
}

/// A datagram from a device's data session to the platform (an MO IP Command).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Uplink {
    pub imsi: String,
    /// The device's source port.
    pub device_port: i32,
    /// `text` or `binary` (base64).
    pub payload_type: String,
    pub payload: String,
    pub at: DateTime<Utc>,
    pub seq: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UplinkAnswer {
    /// The IP Command it became; `None` when it was dropped (`error` says why).
    pub ip_command_sid: Option<String>,
    pub error: Option<ConnectionError>,
}

/// ES9+ download: a device's LPA presents its EID and the activation code's matching ID (none
/// for a profile reserved for its EID). SGP.22 splits this into authentication and the bound
/// profile package; the simulated SM-DP+ answers both in one exchange.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DownloadRequest {
    pub eid: String,
    #[serde(default)]
    pub matching_id: Option<String>,
    pub at: DateTime<Utc>,
}

/// The profile package a device installs: the ICCID and IMSIs it will attach with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfilePackage {
    pub iccid: String,
    pub imsis: Vec<String>,
}

/// Why the SM-DP+ refused a request, as SGP.22 names the subject and reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Es9Refusal {
    /// `8.1.1` EID, `8.2.6` matching ID, `8.2.1` profile ICCID, `8.2` profile.
    pub subject_code: String,
    /// `3.8` refused, `3.9` unknown, `3.3` already in use, `1.2` not allowed.
    pub reason_code: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DownloadAnswer {
    pub package: Option<ProfilePackage>,
    pub refusal: Option<Es9Refusal>,
}

/// SGP.22's ProfileInstallationResult: installed, or the eUICC's reason for not installing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum InstallResult {
    Installed,
    InstallFailedDueToIccidAlreadyExistsOnEuicc,
    InstallFailedDueToInsufficientMemoryForProfile,
    InstallFailedDueToInterruption,
    InstallFailedDueToPeProcessingError,
    InstallFailedDueToDataMismatch,
    InstallFailedDueToUnknownError,
}

impl InstallResult {
    /// SGP.22's errorReason number and name; `None` when installed.
    pub fn error(self) -> Option<(u8, &'static str)> {
        Some(match self {
            Self::Installed => return None,
            Self::InstallFailedDueToIccidAlreadyExistsOnEuicc => (9, "installFailedDueToIccidAlreadyExistsOnEuicc"),
            Self::InstallFailedDueToInsufficientMemoryForProfile => {
                (10, "installFailedDueToInsufficientMemoryForProfile")
            }
            Self::InstallFailedDueToInterruption => (11, "installFailedDueToInterruption"),
            Self::InstallFailedDueToPeProcessingError => (12, "installFailedDueToPEProcessingError"),
            Self::InstallFailedDueToDataMismatch => (13, "installFailedDueToDataMismatch"),
            Self::InstallFailedDueToUnknownError => (127, "installFailedDueToUnknownError"),
        })
    }
}

/// ES9+ HandleNotification: the device's report of what became of the package.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstallNotification {
    pub eid: String,
    pub iccid: String,
    pub result: InstallResult,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NotifyAnswer {
    pub acknowledged: bool,
    pub refusal: Option<Es9Refusal>,
}
