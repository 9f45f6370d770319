//! The event catalog: every `type` string the log may hold, with its data shape.
//!
//! The JSON written here is the stable wire format on disk and on every sink. Renaming or
//! retyping a field is a migration of stored events, not a refactor: add fields as `Option` with
//! `#[serde(default)]` instead.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
pub use simledger_ids::{FleetSid, Imsi, SimSid};

macro_rules! catalog {
    ($( $(#[$doc:meta])* $variant:ident($data:ty) = $type:literal, )*) => {
        /// One fact in the log. The variant is the envelope's `type`; its data is `data`.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Event {
            $( $(#[$doc])* #[doc = concat!("`", $type, "`")] $variant($data), )*
        }

        impl Event {
            /// Every type string in the catalog.
            pub const TYPES: &'static [&'static str] = &[$($type),*];

            pub fn event_type(&self) -> &'static str {
                match self { $( Event::$variant(_) => $type, )* }
            }

            /// The `data` JSON.
            pub fn to_json(&self) -> serde_json::Result<String> {
                match self { $( Event::$variant(d) => serde_json::to_string(d), )* }
            }

            /// The `data` as a JSON value.
            pub fn to_value(&self) -> serde_json::Result<serde_json::Value> {
                match self { $( Event::$variant(d) => serde_json::to_value(d), )* }
            }

            /// Rebuilds an event from its stored type and data.
            pub fn decode(event_type: &str, data: &str) -> Result<Self, DecodeError> {
                match event_type {
                    $( $type => serde_json::from_str(data).map(Event::$variant).map_err(DecodeError::Data), )*
                    _ => Err(DecodeError::UnknownType),
                }
            }
        }
    };
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("unknown event type")]
    UnknownType,
    #[error("{0}")]
    Data(serde_json::Error),
}

catalog! {
    // Provisioning, from commands.
    SimProvisioned(SimProvisioned) = "sim.provisioned",
    SimRegistered(SimRegistered) = "sim.registered",
    SimUpdated(SimUpdated) = "sim.updated",
    SimStatusChanged(SimStatusChanged) = "sim.status_changed",
    SimImsiUpdated(SimImsiUpdated) = "sim.imsi_updated",
    FleetCreated(FleetCreated) = "fleet.created",
    FleetUpdated(FleetUpdated) = "fleet.updated",
    NapCreated(NapCreated) = "nap.created",
    NapUpdated(NapUpdated) = "nap.updated",
    NapNetworkAdded(NapNetworkChange) = "nap.network_added",
    NapNetworkRemoved(NapNetworkChange) = "nap.network_removed",
    SmsCommandCreated(SmsCommandCreated) = "sms_command.created",
    IpCommandCreated(IpCommandCreated) = "ip_command.created",
    // From the PGW: a datagram carried to the device's session address, its receipt, or why not.
    IpCommandSent(IpCommandStatus) = "ip_command.sent",
    IpCommandReceived(IpCommandStatus) = "ip_command.received",
    IpCommandFailed(IpCommandStatus) = "ip_command.failed",
    // From the PGW: a datagram a device sent to the platform (an MO IP Command, `from_sim`).
    IpCommandFromSim(IpCommandFromSim) = "ip_command.from_sim",
    EsimProfileCreated(EsimProfileCreated) = "esim_profile.created",
    // A fleet's device-signal thresholds and the actions a signal runs (simledger's own).
    FleetSignalPolicySet(FleetSignalPolicySet) = "fleet.signal_policy_set",
    // Where a fleet's data sessions break out to the internet (simledger's own).
    FleetBreakoutSet(FleetBreakoutSet) = "fleet.breakout_set",
    // From the SM-DP+: a device's LPA downloading and installing a reserved profile.
    EsimProfileDownloading(EsimProfileProgress) = "esim_profile.downloading",
    EsimProfileDownloaded(EsimProfileProgress) = "esim_profile.downloaded",
    EsimProfileInstalled(EsimProfileProgress) = "esim_profile.installed",
    EsimProfileFailed(EsimProfileProgress) = "esim_profile.failed",

    // Network, from the core nodes: Twilio Super SIM connection events, data unchanged.
    AttachmentAccepted(ConnectionEvent) = "com.twilio.iot.supersim.connection.attachment.accepted",
    AttachmentRejected(ConnectionEvent) = "com.twilio.iot.supersim.connection.attachment.rejected",
    AttachmentFailed(ConnectionEvent) = "com.twilio.iot.supersim.connection.attachment.failed",
    DataSessionStarted(ConnectionEvent) = "com.twilio.iot.supersim.connection.data-session.started",
    DataSessionUpdated(ConnectionEvent) = "com.twilio.iot.supersim.connection.data-session.updated",
    DataSessionEnded(ConnectionEvent) = "com.twilio.iot.supersim.connection.data-session.ended",
    DataSessionFailed(ConnectionEvent) = "com.twilio.iot.supersim.connection.data-session.failed",
    SmsMoSubmitted(SmsEvent) = "sms.mo.submitted",
    SmsMoDelivered(SmsEvent) = "sms.mo.delivered",
    SmsMoFailed(SmsEvent) = "sms.mo.failed",
    SmsMtSubmitted(SmsEvent) = "sms.mt.submitted",
    SmsMtDelivered(SmsEvent) = "sms.mt.delivered",
    SmsMtFailed(SmsEvent) = "sms.mt.failed",

    // Usage from outside the embedded core (`CDRsV1.ProcessExternalCDR`), billed as the core's.
    CdrReceived(ExternalCdr) = "cdr.received",

    // Billing definitions and changes, from commands (CGrateS's APIs).
    BillingAccountSet(BillingAccountSet) = "billing.account_set",
    BillingActionsApplied(BillingActionsApplied) = "billing.actions_applied",
    BillingActionsDefined(BillingActionsDefined) = "billing.actions_defined",
    BillingTriggersDefined(BillingTriggersDefined) = "billing.triggers_defined",
    BillingAccountTriggersAdded(BillingAccountTriggersAdded) = "billing.account_triggers_added",
    BillingDestinationSet(BillingDestinationSet) = "billing.destination_set",
    BillingTpDestinationStaged(BillingTpDestinationStaged) = "billing.tp_destination_staged",
    // Balance timings and shared groups, set directly or staged under a tariff plan and loaded.
    BillingTimingSet(BillingTimingSet) = "billing.timing_set",
    BillingTpTimingStaged(BillingTpTimingStaged) = "billing.tp_timing_staged",
    BillingSharedGroupSet(BillingSharedGroupSet) = "billing.shared_group_set",
    BillingTpSharedGroupStaged(BillingTpSharedGroupStaged) = "billing.tp_shared_group_staged",
    BillingActionPlanSet(BillingActionPlanSet) = "billing.action_plan_set",
    BillingRateSet(BillingRateSet) = "billing.rate_set",
    BillingRemoved(BillingRemoved) = "billing.removed",
    // A tenant's charger profile (`APIerSv1.SetChargerProfile`) and its removal: the runs each
    // of its CDRs forks into.
    BillingChargerSet(BillingChargerSet) = "billing.charger_set",
    BillingChargerRemoved(BillingChargerRemoved) = "billing.charger_removed",
    // The operator's price of usage no tenant rate covers (`POST /operator/CdrRates`).
    OperatorRateSet(OperatorRateSet) = "operator.cdr_rate_set",
    // A CDR exporter's definition (the `ees` configuration, `ConfigSv1.SetConfig`, REST).
    CdrExporterDefined(CdrExporterDefined) = "cdr_exporter.defined",
    // A customer's CDR exporter removed (`DELETE /v1/Billing/Exporters/{Id}`).
    CdrExporterRemoved(CdrExporterRemoved) = "cdr_exporter.removed",
    // From the plan scheduler: one per firing, its id derived from the binding and the moment.
    BillingPlanFired(BillingPlanFired) = "billing.plan_fired",

    // Decisions, from projections.
    SimDataLimitReached(DataLimitDecision) = "sim.data_limit_reached",
    SimDataLimitCleared(DataLimitDecision) = "sim.data_limit_cleared",
    // From the device-signals decider: a SIM behaving as a stolen or hacked one would.
    SimSignalRaised(SimSignalRaised) = "sim.signal_raised",
    BalanceDebited(BalanceDebited) = "balance.debited",
    BillingHttpPostRequested(BillingHttpPostRequested) = "billing.http_post_requested",
    BillingExportRequested(BillingExportRequested) = "billing.export_requested",

    // Event Streams (Twilio's Sinks and Subscriptions), from commands.
    SinkCreated(SinkCreated) = "sink.created",
    SinkUpdated(SinkUpdated) = "sink.updated",
    SinkDeleted(SinkRef) = "sink.deleted",
    SinkTestRequested(SinkTest) = "sink.test_requested",
    SinkValidated(SinkTest) = "sink.validated",
    SubscriptionCreated(SubscriptionCreated) = "subscription.created",
    SubscriptionUpdated(SubscriptionUpdated) = "subscription.updated",
    SubscriptionDeleted(SubscriptionRef) = "subscription.deleted",
    SubscribedEventSet(SubscribedEventSet) = "subscription.event_set",
    SubscribedEventRemoved(SubscribedEventRemoved) = "subscription.event_removed",
}

impl Event {
    /// The account an event belongs to, read from the event itself (never from metadata a
    /// caller could leave out): what decides whose sinks may see it. `None` for operator-wide
    /// facts (inventory) and for billing tenants that are not accounts.
    pub fn account_sid(&self) -> Option<&str> {
        use Event::*;
        let account = match self {
            SimProvisioned(_) => return None,
            SimRegistered(e) => &e.account_sid,
            SimUpdated(e) => &e.account_sid,
            SimStatusChanged(e) => &e.account_sid,
            SimImsiUpdated(e) => return e.account_sid.as_deref(),
            FleetCreated(e) => &e.account_sid,
            FleetUpdated(e) => &e.account_sid,
            NapCreated(e) => &e.account_sid,
            NapUpdated(e) => &e.account_sid,
            NapNetworkAdded(e) | NapNetworkRemoved(e) => &e.account_sid,
            SmsCommandCreated(e) => &e.account_sid,
            IpCommandCreated(e) => &e.account_sid,
            IpCommandSent(e) | IpCommandReceived(e) | IpCommandFailed(e) => &e.account_sid,
            IpCommandFromSim(e) => &e.account_sid,
            EsimProfileCreated(e) => &e.account_sid,
            EsimProfileDownloading(e) | EsimProfileDownloaded(e) | EsimProfileInstalled(e) | EsimProfileFailed(e) => {
                &e.account_sid
            }
            AttachmentAccepted(e)
            | AttachmentRejected(e)
            | AttachmentFailed(e)
            | DataSessionStarted(e)
            | DataSessionUpdated(e)
            | DataSessionEnded(e)
            | DataSessionFailed(e) => &e.account_sid,
            SmsMoSubmitted(e) | SmsMoDelivered(e) | SmsMoFailed(e) | SmsMtSubmitted(e) | SmsMtDelivered(e)
            | SmsMtFailed(e) => &e.account_sid,
            CdrReceived(e) => &e.tenant,
            BillingAccountSet(e) => &e.tenant,
            BillingActionsApplied(e) => &e.tenant,
            BillingActionsDefined(e) => &e.tenant,
            BillingTriggersDefined(e) => &e.tenant,
            BillingAccountTriggersAdded(e) => &e.tenant,
            BillingDestinationSet(e) => &e.tenant,
            BillingTpDestinationStaged(e) => &e.tenant,
            BillingTimingSet(e) => &e.tenant,
            BillingTpTimingStaged(e) => &e.tenant,
            BillingSharedGroupSet(e) => &e.tenant,
            BillingTpSharedGroupStaged(e) => &e.tenant,
            BillingActionPlanSet(e) => &e.tenant,
            BillingRateSet(e) => &e.tenant,
            BillingRemoved(e) => &e.tenant,
            BillingChargerSet(e) => &e.tenant,
            BillingChargerRemoved(e) => &e.tenant,
            OperatorRateSet(_) => return None,
            CdrExporterDefined(e) => &e.tenant,
            CdrExporterRemoved(e) => &e.tenant,
            BillingPlanFired(e) => &e.tenant,
            SimDataLimitReached(e) | SimDataLimitCleared(e) => &e.account_sid,
            SimSignalRaised(e) => &e.account_sid,
            FleetSignalPolicySet(e) => &e.account_sid,
            FleetBreakoutSet(e) => &e.account_sid,
            BalanceDebited(e) => &e.tenant,
            BillingHttpPostRequested(e) => &e.tenant,
            BillingExportRequested(e) => &e.tenant,
            SinkCreated(e) => &e.account_sid,
            SinkUpdated(e) => &e.account_sid,
            SinkDeleted(e) => &e.account_sid,
            SinkTestRequested(e) | SinkValidated(e) => &e.account_sid,
            SubscriptionCreated(e) => &e.account_sid,
            SubscriptionUpdated(e) => &e.account_sid,
            SubscriptionDeleted(e) => &e.account_sid,
            SubscribedEventSet(e) => &e.account_sid,
            SubscribedEventRemoved(e) => &e.account_sid,
        };
        Some(account.as_str())
    }

    /// The step of an eSIM profile's download inside, for the four `esim_profile.*` steps.
    pub fn esim_progress(&self) -> Option<(EsimStep, &EsimProfileProgress)> {
        use Event::*;
        match self {
            EsimProfileDownloading(p) => Some((EsimStep::Downloading, p)),
            EsimProfileDownloaded(p) => Some((EsimStep::Downloaded, p)),
            EsimProfileInstalled(p) => Some((EsimStep::Installed, p)),
            EsimProfileFailed(p) => Some((EsimStep::Failed, p)),
            _ => None,
        }
    }

    /// The connection event inside, for the seven connection types.
    pub fn connection(&self) -> Option<&ConnectionEvent> {
        use Event::*;
        match self {
            AttachmentAccepted(c)
            | AttachmentRejected(c)
            | AttachmentFailed(c)
            | DataSessionStarted(c)
            | DataSessionUpdated(c)
            | DataSessionEnded(c)
            | DataSessionFailed(c) => Some(c),
            _ => None,
        }
    }

    /// Whether the embedded core's nodes report this type: the only types ingest takes from the
    /// core's stream, so a publisher on it cannot log a command's or a decider's event (an
    /// exporter definition, a rate, a status change).
    pub fn reported_by_core(&self) -> bool {
        use Event::*;
        matches!(
            self,
            AttachmentAccepted(_)
                | AttachmentRejected(_)
                | AttachmentFailed(_)
                | DataSessionStarted(_)
                | DataSessionUpdated(_)
                | DataSessionEnded(_)
                | DataSessionFailed(_)
                | SmsMoSubmitted(_)
                | SmsMoDelivered(_)
                | SmsMoFailed(_)
                | SmsMtSubmitted(_)
                | SmsMtDelivered(_)
                | SmsMtFailed(_)
                | IpCommandSent(_)
                | IpCommandReceived(_)
                | IpCommandFailed(_)
                | IpCommandFromSim(_)
                | EsimProfileDownloading(_)
                | EsimProfileDownloaded(_)
                | EsimProfileInstalled(_)
                | EsimProfileFailed(_)
        )
    }

    /// The SIM an event is about, if any: the unit whose events a sink delivers in log order
    /// (and Kinesis's partition key).
    pub fn sim_sid(&self) -> Option<&str> {
        use Event::*;
        match self {
            SimProvisioned(e) => Some(e.sim_sid.as_str()),
            SimRegistered(e) => Some(e.sim_sid.as_str()),
            SimUpdated(e) => Some(e.sim_sid.as_str()),
            SimStatusChanged(e) => Some(e.sim_sid.as_str()),
            SimImsiUpdated(e) => Some(e.sim_sid.as_str()),
            SmsCommandCreated(e) => Some(e.sim_sid.as_str()),
            IpCommandCreated(e) => Some(e.sim_sid.as_str()),
            IpCommandSent(e) | IpCommandReceived(e) | IpCommandFailed(e) => Some(&e.sim_sid),
            IpCommandFromSim(e) => Some(&e.sim_sid),
            AttachmentAccepted(e)
            | AttachmentRejected(e)
            | AttachmentFailed(e)
            | DataSessionStarted(e)
            | DataSessionUpdated(e)
            | DataSessionEnded(e)
            | DataSessionFailed(e) => Some(&e.sim_sid),
            SmsMoSubmitted(e) | SmsMoDelivered(e) | SmsMoFailed(e) | SmsMtSubmitted(e) | SmsMtDelivered(e)
            | SmsMtFailed(e) => Some(&e.sim_sid),
            SimDataLimitReached(e) | SimDataLimitCleared(e) => Some(e.sim_sid.as_str()),
            EsimProfileInstalled(e) => e.sim_sid.as_ref().map(SimSid::as_str),
            SimSignalRaised(e) => Some(e.sim_sid.as_str()),
            _ => None,
        }
    }
}

/// A SIM's lifecycle state, as Twilio's `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SimStatus {
    New,
    Ready,
    Active,
    Inactive,
    Scheduled,
}

impl SimStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Ready => "ready",
            Self::Active => "active",
            Self::Inactive => "inactive",
            Self::Scheduled => "scheduled",
        }
    }

    /// Whether the HSS lets a SIM in this state attach.
    pub fn may_attach(self) -> bool {
        matches!(self, Self::Ready | Self::Active)
    }
}

/// A SIM entered into inventory by the operator, before any customer registers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimProvisioned {
    pub sim_sid: SimSid,
    pub iccid: String,
    /// The registration code printed on the card, hashed with a salt and the deployment's
    /// pepper (see `simledger_commands::ids::registration_code_hash`; events from before that
    /// hold a bare SHA-256 under the old name); the code itself is never stored.
    #[serde(rename = "registration_code_hash", alias = "registration_code_sha256")]
    pub registration_code_hash: String,
    /// Every IMSI the card holds (multi-IMSI: one per home network).
    pub imsis: Vec<String>,
}

/// A customer account claimed a provisioned SIM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimRegistered {
    pub sim_sid: SimSid,
    pub account_sid: String,
    pub iccid: String,
    pub status: SimStatus,
    #[serde(default)]
    pub fleet_sid: Option<FleetSid>,
    #[serde(default)]
    pub unique_name: Option<String>,
}

/// Changed SIM attributes; a field left out did not change. `Some(None)` clears a value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimUpdated {
    pub sim_sid: SimSid,
    pub account_sid: String,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "double_option")]
    pub unique_name: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "double_option")]
    pub fleet_sid: Option<Option<FleetSid>>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "double_option")]
    pub callback_url: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "double_option")]
    pub callback_method: Option<Option<String>>,
    /// IMSIs of this SIM that the HSS must refuse (multi-IMSI control).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disallowed_imsis: Option<Vec<String>>,
}

impl SimUpdated {
    /// An update of `sim_sid` that changes nothing yet.
    pub fn new(sim_sid: SimSid, account_sid: String) -> Self {
        Self {
            sim_sid,
            account_sid,
            unique_name: None,
            fleet_sid: None,
            callback_url: None,
            callback_method: None,
            disallowed_imsis: None,
        }
    }
}

/// One IMSI of a SIM changed (per-IMSI control, beyond Twilio's API): whether it may attach,
/// and the networks of its own it is kept to. It carries the IMSI's whole state after the
/// change, so a fold needs nothing but the last one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimImsiUpdated {
    pub sim_sid: SimSid,
    /// The SIM's account when it changed; `None` for a card in the operator's inventory.
    #[serde(default)]
    pub account_sid: Option<String>,
    pub imsi: Imsi,
    pub allowed: bool,
    /// `HW` SIDs of the networks the IMSI may attach to, besides its fleet's Network Access
    /// Profile allowing them; empty: the profile alone decides.
    #[serde(default)]
    pub networks: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimStatusChanged {
    pub sim_sid: SimSid,
    pub account_sid: String,
    pub from: SimStatus,
    pub to: SimStatus,
    /// Why, when not a customer's request (`billing:*suspend_sim`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetCreated {
    pub fleet_sid: FleetSid,
    pub account_sid: String,
    #[serde(default)]
    pub unique_name: Option<String>,
    pub data_enabled: bool,
    /// Megabytes per SIM per billing period.
    pub data_limit_mb: i64,
    pub data_metering: String,
    pub network_access_profile_sid: String,
    pub sms_commands_enabled: bool,
    #[serde(default)]
    pub sms_commands_url: Option<String>,
    #[serde(default)]
    pub sms_commands_method: Option<String>,
    #[serde(default)]
    pub ip_commands_url: Option<String>,
    #[serde(default)]
    pub ip_commands_method: Option<String>,
}

/// Changed fleet attributes; a field left out did not change. `Some(None)` clears a value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetUpdated {
    pub fleet_sid: FleetSid,
    pub account_sid: String,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "double_option")]
    pub unique_name: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_limit_mb: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_access_profile_sid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms_commands_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "double_option")]
    pub sms_commands_url: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "double_option")]
    pub sms_commands_method: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "double_option")]
    pub ip_commands_url: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "double_option")]
    pub ip_commands_method: Option<Option<String>>,
}

impl FleetUpdated {
    /// An update of `fleet_sid` that changes nothing yet.
    pub fn new(fleet_sid: FleetSid, account_sid: String) -> Self {
        Self {
            fleet_sid,
            account_sid,
            unique_name: None,
            data_enabled: None,
            data_limit_mb: None,
            network_access_profile_sid: None,
            sms_commands_enabled: None,
            sms_commands_url: None,
            sms_commands_method: None,
            ip_commands_url: None,
            ip_commands_method: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NapCreated {
    pub nap_sid: String,
    pub account_sid: String,
    #[serde(default)]
    pub unique_name: Option<String>,
    /// `HW…` network SIDs allowed from the start.
    pub networks: Vec<String>,
}

/// Changed NAP attributes; a field left out did not change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NapUpdated {
    pub nap_sid: String,
    pub account_sid: String,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "double_option")]
    pub unique_name: Option<Option<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NapNetworkChange {
    pub nap_sid: String,
    pub account_sid: String,
    pub network_sid: String,
}

/// A CDR from outside the embedded core, checked and parsed from CGrateS's `ExternalCDR`
/// (`CDRsV1.ProcessExternalCDR`, `POST /v1/Billing/Cdrs`). The `cdrs` projection stores it with
/// the order ID of this event's position, rated unless it came pre-rated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalCdr {
    pub cgrid: String,
    pub run_id: String,
    pub origin_host: String,
    pub source: String,
    pub origin_id: String,
    pub tor: simledger_billing::Tor,
    pub request_type: String,
    pub tenant: String,
    pub category: String,
    pub account: String,
    pub subject: String,
    pub destination: String,
    pub setup_time: DateTime<Utc>,
    pub answer_time: DateTime<Utc>,
    /// Nanoseconds for `*voice`, bytes for `*data`, messages for `*sms`: CGrateS's units.
    pub usage: i64,
    pub extra_fields: std::collections::BTreeMap<String, String>,
    /// The sender's cost when it came pre-rated; otherwise rated from the rate table.
    pub cost: Option<rust_decimal::Decimal>,
}

/// A customer asked for an SMS to a SIM (`POST /v1/SmsCommands`); the SMS dispatcher hands it
/// to the SMSC, whose `sms.mt.*` events carry the same `sms_command_sid`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsCommandCreated {
    pub sms_command_sid: String,
    pub account_sid: String,
    pub sim_sid: SimSid,
    /// The IMSI the SMSC addresses (the SIM's first allowed one).
    pub imsi: String,
    pub payload: String,
    #[serde(default)]
    pub callback_url: Option<String>,
    #[serde(default)]
    pub callback_method: Option<String>,
}

/// A customer asked for a UDP datagram to a SIM's device (`POST /v1/IpCommands`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpCommandCreated {
    pub ip_command_sid: String,
    pub account_sid: String,
    pub sim_sid: SimSid,
    pub sim_iccid: String,
    pub device_port: i32,
    /// `text` or `binary` (then `payload` is base64).
    pub payload_type: String,
    pub payload: String,
    #[serde(default)]
    pub callback_url: Option<String>,
    #[serde(default)]
    pub callback_method: Option<String>,
}

/// What became of an IP Command at the PGW: `sent` to the device's session address, `received`
/// by the device, or `failed` (the SIM had no data session), each once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpCommandStatus {
    pub ip_command_sid: String,
    pub account_sid: String,
    pub sim_sid: String,
    pub sim_iccid: String,
    pub device_port: i32,
    /// The device's address in its data session, where the datagram went.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_ip: Option<String>,
    pub timestamp: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ConnectionError>,
}

/// A datagram a device sent from its data session to the platform: an IP Command `from_sim`,
/// `received`, for its fleet's `IpCommandsUrl`. Its SID derives from the device's request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpCommandFromSim {
    pub ip_command_sid: String,
    pub account_sid: String,
    pub sim_sid: String,
    pub sim_iccid: String,
    pub device_ip: String,
    pub device_port: i32,
    /// `text` or `binary` (then `payload` is base64).
    pub payload_type: String,
    pub payload: String,
    pub timestamp: DateTime<Utc>,
}

/// An eSIM profile reserved at simledger's SM-DP+ (`POST /v1/ESimProfiles`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EsimProfileCreated {
    pub esim_profile_sid: String,
    pub account_sid: String,
    pub iccid: String,
    #[serde(default)]
    pub eid: Option<String>,
    /// `available` once reserved: the SM-DP+ reserves synchronously.
    pub status: String,
    pub smdp_plus_address: String,
    #[serde(default)]
    pub matching_id: Option<String>,
    pub activation_code: String,
    #[serde(default)]
    pub callback_url: Option<String>,
    #[serde(default)]
    pub callback_method: Option<String>,
}

/// simledger's SM-DP+ (the server an eSIM downloads its profile from), as activation codes name it.
pub const SMDP_PLUS_ADDRESS: &str = "rsp.simledger.local";

impl EsimProfileCreated {
    /// The IMSI the profile carries: simledger's eSIM range (MCC 901, MNC 70) followed by the
    /// last ten digits of the ICCID, so the profile, the SM-DP+ and the decider that makes it a
    /// SIM agree without storing it.
    pub fn imsis(&self) -> Vec<String> {
        let digits = &self.iccid[self.iccid.len().saturating_sub(10)..];
        vec![format!("90170{digits:0>10}")]
    }

    /// The SIM the profile becomes once installed.
    pub fn sim_sid(&self) -> SimSid {
        let key = format!("simledger-esim-sim:{}", self.esim_profile_sid);
        let id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, key.as_bytes());
        SimSid::parse(&format!("HS{}", id.simple())).expect("HS and 32 hex digits")
    }
}

/// The steps of an eSIM profile's download after its reservation, in order (`installed` and
/// `failed` are both last).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EsimStep {
    Downloading,
    Downloaded,
    Installed,
    Failed,
}

impl EsimStep {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Downloading => "downloading",
            Self::Downloaded => "downloaded",
            Self::Installed => "installed",
            Self::Failed => "failed",
        }
    }
}

/// A step of an eSIM profile's download to a device, as simledger's SM-DP+ saw it. `installed`
/// carries the SIM the profile becomes and its IMSIs; `failed` the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EsimProfileProgress {
    pub esim_profile_sid: String,
    pub account_sid: String,
    pub iccid: String,
    /// The eUICC the profile went to.
    pub eid: String,
    #[serde(default)]
    pub sim_sid: Option<SimSid>,
    #[serde(default)]
    pub imsis: Vec<String>,
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub error_message: Option<String>,
    pub timestamp: DateTime<Utc>,
}

/// The visited network of a connection event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkRef {
    pub mcc: String,
    pub mnc: String,
    pub friendly_name: String,
    pub iso_country: String,
    pub sid: String,
}

impl ConnectionEvent {
    /// A connection event of `event_type` at `at` on `network`, with every other field empty:
    /// what the core nodes and test builders fill in, naming only what they know.
    pub fn on_network(event_type: &str, at: DateTime<Utc>, network: NetworkRef) -> Self {
        Self {
            event_sid: String::new(),
            event_type: event_type.to_owned(),
            timestamp: at,
            account_sid: String::new(),
            sim_sid: String::new(),
            sim_iccid: String::new(),
            sim_unique_name: None,
            fleet_sid: None,
            imsi: String::new(),
            imei: None,
            network,
            location: None,
            rat_type: String::new(),
            error: None,
            data_modifier: None,
            apn: None,
            ip_address: None,
            data_session_sid: None,
            data_session_start_time: None,
            data_session_end_time: None,
            data_session_update_start_time: None,
            data_session_update_end_time: None,
            data_download: None,
            data_upload: None,
            data_total: None,
            data_session_data_download: None,
            data_session_data_upload: None,
            data_session_data_total: None,
            breakout_region: None,
            pgw: None,
        }
    }
}

/// The serving cell of a connection event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellLocation {
    pub cell_id: String,
    pub lac: String,
    #[serde(default)]
    pub lat: Option<f64>,
    #[serde(default)]
    pub lon: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionError {
    pub code: i64,
    pub message: String,
}

/// Every property of Twilio's Super SIM connection event. Properties that do not apply to an
/// event's type are left out of the JSON, except `data_modifier`, `location`, `imei` and
/// `error`, which are written as null.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectionEvent {
    pub event_sid: String,
    pub event_type: String,
    pub timestamp: DateTime<Utc>,
    pub account_sid: String,
    pub sim_sid: String,
    pub sim_iccid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sim_unique_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet_sid: Option<String>,
    pub imsi: String,
    pub imei: Option<String>,
    pub network: NetworkRef,
    pub location: Option<CellLocation>,
    pub rat_type: String,
    pub error: Option<ConnectionError>,
    pub data_modifier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_session_sid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_session_start_time: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_session_end_time: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_session_update_start_time: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_session_update_end_time: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_download: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_upload: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_total: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_session_data_download: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_session_data_upload: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_session_data_total: Option<i64>,
    /// simledger's own (schema version 3): the region whose PGW carried the data session, and
    /// that PGW. Absent on attachments and on sessions logged before regions existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breakout_region: Option<BreakoutRegion>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pgw: Option<String>,
}

/// A region where the core has a PGW: where a fleet's data sessions reach the internet (and
/// where their user-plane data stays).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BreakoutRegion {
    /// Ashburn, Virginia: the platform's original core.
    UsEast,
    /// Dublin.
    EuWest,
    /// Singapore.
    ApSoutheast,
}

impl BreakoutRegion {
    pub const ALL: [BreakoutRegion; 3] = [Self::UsEast, Self::EuWest, Self::ApSoutheast];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::UsEast => "us-east",
            Self::EuWest => "eu-west",
            Self::ApSoutheast => "ap-southeast",
        }
    }
}

impl std::fmt::Display for BreakoutRegion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for BreakoutRegion {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| {
            let known: Vec<&str> = Self::ALL.iter().map(|r| r.as_str()).collect();
            format!("unknown region {s:?}; regions are {}", known.join(", "))
        })
    }
}

/// One SMS as the SMSC saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsEvent {
    /// The SMS command (`HC…`) this message belongs to.
    pub sms_command_sid: String,
    pub account_sid: String,
    pub sim_sid: String,
    pub sim_iccid: String,
    pub imsi: String,
    /// `to_sim` (MT) or `from_sim` (MO).
    pub direction: String,
    pub status: String,
    pub payload: String,
    pub timestamp: DateTime<Utc>,
    #[serde(default)]
    pub network: Option<NetworkRef>,
    #[serde(default)]
    pub error: Option<ConnectionError>,
}

/// What the device-signals decider watches for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceSignal {
    /// The SIM attached from another device than last time (its IMEI changed).
    ImeiChanged,
    /// Two attaches in countries no one could travel between in the time between them.
    ImpossibleTravel,
    /// A data window far above the SIM's own baseline.
    UsageSpike,
    /// Many rejected attaches in a short window.
    AttachStorm,
}

impl DeviceSignal {
    pub const ALL: [DeviceSignal; 4] = [Self::ImeiChanged, Self::ImpossibleTravel, Self::UsageSpike, Self::AttachStorm];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ImeiChanged => "imei_changed",
            Self::ImpossibleTravel => "impossible_travel",
            Self::UsageSpike => "usage_spike",
            Self::AttachStorm => "attach_storm",
        }
    }
}

/// A signal that a SIM may be stolen or hacked, with the fleet's bound actions at that moment
/// (billing runs them on the SIM's billing account).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimSignalRaised {
    pub sim_sid: SimSid,
    pub account_sid: String,
    #[serde(default)]
    pub fleet_sid: Option<String>,
    pub signal: DeviceSignal,
    /// What was seen, in words (`356938035643809 → 490154203237518`).
    pub detail: String,
    #[serde(default)]
    pub actions_id: Option<String>,
    /// When the happening that raised it happened.
    pub timestamp: DateTime<Utc>,
}

/// `POST /v1/Fleets/{Sid}/DeviceSignals`: the fleet's signal thresholds and bound actions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetSignalPolicySet {
    pub fleet_sid: FleetSid,
    pub account_sid: String,
    /// A billing action group (`APIerSv1.SetActions`) run for the SIM on every signal.
    #[serde(default)]
    pub actions_id: Option<String>,
    /// A data window above this many times the SIM's baseline is a spike.
    pub usage_spike_factor: i64,
    /// This many rejected attaches within ten minutes is a storm.
    pub attach_storm_rejections: i64,
}

impl FleetSignalPolicySet {
    pub const DEFAULT_USAGE_SPIKE_FACTOR: i64 = 10;
    pub const DEFAULT_ATTACH_STORM_REJECTIONS: i64 = 20;
}

/// `POST /v1/Fleets/{Sid}/Breakout`: the region whose PGW the fleet's new data sessions use;
/// `None`: the platform's default region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetBreakoutSet {
    pub fleet_sid: FleetSid,
    pub account_sid: String,
    #[serde(default)]
    pub region: Option<BreakoutRegion>,
}

/// The limits projection's decision that a SIM crossed (or came back under) its data limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataLimitDecision {
    pub sim_sid: SimSid,
    pub account_sid: String,
    #[serde(default)]
    pub fleet_sid: Option<FleetSid>,
    pub billing_period_sid: String,
    pub used_bytes: i64,
    pub limit_bytes: i64,
    /// `data_limit`, `data_disabled`, `new_billing_period`, `limit_raised`, …
    pub reason: String,
    /// When the billing period ends: a block lasts at most until then, so the PGW lets data
    /// flow again at the boundary without waiting for the `cleared` event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_end: Option<DateTime<Utc>>,
}

/// Where a sink delivers, by `sink_type` (Twilio's `SinkType` and `SinkConfiguration`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "sink_type", content = "sink_configuration", rename_all = "lowercase")]
pub enum SinkConfiguration {
    Webhook(WebhookSink),
    Kinesis(KinesisSink),
}

impl SinkConfiguration {
    pub fn sink_type(&self) -> &'static str {
        match self {
            Self::Webhook(_) => "webhook",
            Self::Kinesis(_) => "kinesis",
        }
    }
}

/// HTTP method a webhook sink uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WebhookMethod {
    #[serde(rename = "POST")]
    Post,
    #[serde(rename = "GET")]
    Get,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookSink {
    /// `http(s)://[user:password@]host/path`: userinfo becomes HTTP Basic auth.
    pub destination: String,
    pub method: WebhookMethod,
    /// Many events per request (up to 64 kB) rather than one.
    pub batch_events: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KinesisSink {
    /// `arn:aws:kinesis:<region>:<account>:stream/<name>`.
    pub arn: String,
    /// The customer's IAM role the deployment assumes to write (empty: the deployment's own
    /// credentials, which only an operator-run stand-in such as moto should be given).
    pub role_arn: String,
    pub external_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SinkCreated {
    pub sink_sid: String,
    pub account_sid: String,
    pub description: String,
    #[serde(flatten)]
    pub configuration: SinkConfiguration,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SinkUpdated {
    pub sink_sid: String,
    pub account_sid: String,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SinkRef {
    pub sink_sid: String,
    pub account_sid: String,
}

/// `POST /v1/Sinks/{Sid}/Test` (a test event with this id is delivered) and, with the same id,
/// `POST /v1/Sinks/{Sid}/Validate` (the customer saw it: the sink becomes `active`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SinkTest {
    pub sink_sid: String,
    pub account_sid: String,
    pub test_id: String,
}

/// An Event Streams type a subscription delivers, in a schema version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscribedType {
    #[serde(rename = "type")]
    pub event_type: String,
    pub schema_version: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionCreated {
    pub subscription_sid: String,
    pub account_sid: String,
    pub sink_sid: String,
    pub description: String,
    pub types: Vec<SubscribedType>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionUpdated {
    pub subscription_sid: String,
    pub account_sid: String,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionRef {
    pub subscription_sid: String,
    pub account_sid: String,
}

/// A type added to a subscription, or its schema version changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscribedEventSet {
    pub subscription_sid: String,
    pub account_sid: String,
    #[serde(flatten)]
    pub subscribed: SubscribedType,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscribedEventRemoved {
    pub subscription_sid: String,
    pub account_sid: String,
    #[serde(rename = "type")]
    pub event_type: String,
}

/// Serde helper for patch fields: absent = unchanged, `null` = cleared, value = set.
mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<T: Serialize, S: Serializer>(v: &Option<Option<T>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(inner) => inner.serialize(s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_string_is_unique() {
        let mut types = Event::TYPES.to_vec();
        types.sort_unstable();
        types.dedup();
        assert_eq!(types.len(), Event::TYPES.len());
    }

    #[test]
    fn unknown_type_is_refused() {
        assert!(matches!(Event::decode("sim.exploded", "{}"), Err(DecodeError::UnknownType)));
    }

    #[test]
    fn patch_fields_distinguish_absent_null_and_set() {
        let cleared: SimUpdated = serde_json::from_str(
            r#"{"sim_sid":"HS00000000000000000000000000000001","account_sid":"AC1","unique_name":null}"#,
        )
        .unwrap();
        assert_eq!(cleared.unique_name, Some(None));
        assert_eq!(cleared.fleet_sid, None);
        let json = serde_json::to_string(&cleared).unwrap();
        assert_eq!(json, r#"{"sim_sid":"HS00000000000000000000000000000001","account_sid":"AC1","unique_name":null}"#);
    }
}

/// `APIerSv2.SetAccount`: creates the account if missing and sets what is given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BillingAccountSet {
    pub tenant: String,
    pub account: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_negative: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    /// Trigger groups to copy onto the account.
    #[serde(default)]
    pub action_trigger_ids: Vec<String>,
    #[serde(default)]
    pub action_triggers_overwrite: bool,
    /// Action plans to bind the account to; timings count from this event.
    #[serde(default)]
    pub action_plan_ids: Vec<String>,
    #[serde(default)]
    pub action_plans_overwrite: bool,
}

/// An action group run on an account (`SetBalance` runs `*set_balance`, `AddBalance` `*topup`,
/// `DebitBalance` `*debit`, `ExecuteAction` a stored group). The account is created if missing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BillingActionsApplied {
    pub tenant: String,
    pub account: String,
    pub actions: Vec<simledger_billing::Action>,
    pub at: DateTime<Utc>,
    /// The API call or plan that asked.
    pub reason: String,
}

/// `APIerSv1.SetActions`: an action group by ID.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BillingActionsDefined {
    pub tenant: String,
    pub actions_id: String,
    pub actions: Vec<simledger_billing::Action>,
}

/// `APIerSv1.SetActionTrigger`: a trigger in a group (replacing one with its unique ID).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BillingTriggersDefined {
    pub tenant: String,
    pub group_id: String,
    pub triggers: Vec<simledger_billing::ActionTrigger>,
    /// The group is these triggers alone, not these added to it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub overwrite: bool,
}

/// `APIerSv1.AddAccountActionTriggers`: trigger groups copied onto an account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BillingAccountTriggersAdded {
    pub tenant: String,
    pub account: String,
    pub group_ids: Vec<String>,
    pub overwrite: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation_date: Option<DateTime<Utc>>,
    #[serde(default)]
    pub executed: bool,
}

/// `APIerSv1.SetDestination`: a destination's prefixes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingDestinationSet {
    pub tenant: String,
    pub id: String,
    pub prefixes: Vec<String>,
}

/// How a [`CdrExporterDefined`] meets an exporter of the same ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExporterDefinitionMode {
    /// Only if there is none yet (`POST /v1/Billing/Exporters`).
    Create,
    /// Replaces any (the operator's configuration).
    Redefine,
    /// Replaces any but one the operator declared (a customer's `ConfigSv1.SetConfig`).
    RedefineOwn,
}

/// A CDR exporter's whole definition, checked before it was logged. Its cursor is the
/// exporter's own state, not part of the definition: a redefinition never moves it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CdrExporterDefined {
    pub tenant: String,
    pub exporter_id: String,
    /// `*file_csv`, `*file_json`, `*s3_csv`, `*s3_json_map`.
    pub kind: String,
    pub export_path: String,
    pub filters: Vec<String>,
    /// CGrateS field templates, as the exporters crate reads them.
    pub fields: serde_json::Value,
    pub field_separator: String,
    pub header: bool,
    pub schedule: Option<String>,
    /// Declared by the operator's configuration.
    pub declared: bool,
    pub mode: ExporterDefinitionMode,
    /// `*nats_json_map`: through JetStream rather than plain NATS. Definitions logged before
    /// the choice existed were JetStream's.
    #[serde(default = "jetstream_before_the_choice")]
    pub nats_jetstream: bool,
    /// Online exporters: tries at one CDR before the exporter rests.
    #[serde(default = "three_attempts")]
    pub attempts: i16,
}

fn three_attempts() -> i16 {
    3
}

fn jetstream_before_the_choice() -> bool {
    true
}

/// A CDR exporter removed, with its cursor: a later exporter of the ID starts afresh.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CdrExporterRemoved {
    pub tenant: String,
    pub exporter_id: String,
}

/// `APIerSv1.SetTPDestination`: a destination staged under a tariff plan ID (CGrateS's StorDB),
/// live only once `LoadTariffPlanFromStorDb` loads the plan (as `billing.destination_set`s).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingTpDestinationStaged {
    pub tenant: String,
    pub tpid: String,
    pub id: String,
    pub prefixes: Vec<String>,
}

/// A balance timing (`APIerSv1.SetTiming`, or a loaded `SetTPTiming`): balances set with its
/// ID afterwards give units only while it is active.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingTimingSet {
    pub tenant: String,
    pub timing: simledger_billing::BalanceTiming,
}

/// `APIerSv1.SetTPTiming`: a timing staged under a tariff plan ID, live once the plan is loaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingTpTimingStaged {
    pub tenant: String,
    pub tpid: String,
    pub timing: simledger_billing::BalanceTiming,
}

/// A shared group (a loaded `SetTPSharedGroups`): how the balances of its members are drawn on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingSharedGroupSet {
    pub tenant: String,
    pub group: simledger_billing::SharedGroup,
}

/// `APIerSv1.SetTPSharedGroups`: a shared group staged under a tariff plan ID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingTpSharedGroupStaged {
    pub tenant: String,
    pub tpid: String,
    pub group: simledger_billing::SharedGroup,
}

/// The operator's price of a ToR's usage for destinations (or visited networks, `MCC+MNC`)
/// starting with `prefix`, per `unit_size` units: what a CDR no tenant rate matches is rated at,
/// and what billing debits past the unit balances. The longest prefix wins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperatorRateSet {
    pub tor: simledger_billing::Tor,
    pub prefix: String,
    #[serde(with = "rust_decimal::serde::str")]
    pub price_per_unit: rust_decimal::Decimal,
    pub unit_size: i64,
}

/// `POST /v1/Billing/Rates`: a tenant's price for usage no unit balance covers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BillingRateSet {
    pub tenant: String,
    pub rate: simledger_billing::RateDef,
}

/// `APIerSv1.SetChargerProfile`: the profile as set (its own `Tenant` is the tenant's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BillingChargerSet {
    pub tenant: String,
    pub profile: simledger_billing::ChargerProfile,
}

/// `APIerSv1.RemoveChargerProfile`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingChargerRemoved {
    pub tenant: String,
    pub id: String,
}

/// A debit of an account, balance by balance, and the triggers it fired: the `billing`
/// projection's record of usage it billed, so a CDR's cost and an account's history can be
/// audited. Its id derives from the usage event's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BalanceDebited {
    pub tenant: String,
    pub account: String,
    /// The event whose usage was debited.
    pub source_event_id: uuid::Uuid,
    pub tor: simledger_billing::BalanceType,
    pub usage: rust_decimal::Decimal,
    pub at: DateTime<Utc>,
    pub debit: simledger_billing::Debit,
    #[serde(default)]
    pub fired: Vec<simledger_billing::FiredTrigger>,
    /// The charger run debited, when it is not the CDR's own (one debit per rated run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
}

/// `APIerSv1.SetActionPlan`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BillingActionPlanSet {
    pub tenant: String,
    pub plan: simledger_billing::ActionPlan,
}

/// What a `billing.removed` takes away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BillingRemovable {
    /// An account, with its balances and its plan bindings (`RemoveAccount`).
    Account,
    /// An action group (`RemoveActions`).
    Actions,
    /// An action plan, with every account's binding to it (`RemoveActionPlan`).
    ActionPlan,
    /// A trigger group, or one trigger of it (`RemoveActionTrigger`).
    TriggerGroup,
}

/// `APIerSv1.RemoveAccount`, `RemoveActions`, `RemoveActionPlan`, `RemoveActionTrigger`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BillingRemoved {
    pub tenant: String,
    pub what: BillingRemovable,
    pub id: String,
    /// For a trigger group: only the trigger with this `UniqueID`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unique_id: Option<String>,
}

/// A `*http_post` action ran: the poster delivers `body` to `url`, signed, at least once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BillingHttpPostRequested {
    pub tenant: String,
    pub account: String,
    pub url: String,
    /// The JSON posted: the account after the action group as `APIerSv2.GetAccount` shows it
    /// ([`crate::cgr::AccountView`]), kept as text so its amounts keep every digit.
    pub body: String,
}

/// An `*export` action ran: the exporters it names each write the account event once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BillingExportRequested {
    pub tenant: String,
    pub account: String,
    pub exporter_ids: Vec<String>,
    /// The account after the action group as `APIerSv2.GetAccount` shows it
    /// ([`crate::cgr::AccountView`]), kept as text so its amounts keep every digit.
    pub account_view: String,
}

/// A plan's timing came due for an account: billing (`simledger-policies`) runs its actions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BillingPlanFired {
    pub tenant: String,
    pub plan_id: String,
    pub account: String,
    pub timing_index: i32,
    pub actions_id: String,
    /// The firing's scheduled moment.
    pub at: DateTime<Utc>,
}
