//! Customer callbacks of SMS and IP Commands, as Twilio makes them:
//!
//! - an MT SMS command's `CallbackUrl` is called when it is `sent`, then `delivered` or `failed`;
//! - an MO SMS from a device is posted to its fleet's `SmsCommandsUrl` (`received`);
//! - an IP Command's `CallbackUrl` is called when it is `sent`, then `received` or `failed`;
//! - an IP Command from a device is posted to its fleet's `IpCommandsUrl` (`received`);
//! - an eSIM profile's `CallbackUrl` is called at each step of its download: `downloading`,
//!   `downloaded`, then `installed` or `failed`.
//!
//! The notifier is a checkpointed log subscriber that queues each callback in the tenant's
//! outbound calls ([`crate::outbound_calls`]) in its batch's transaction: every callback is
//! queued once, then made at least once, retried, signed with `X-Twilio-Signature` under the
//! account's auth token, and never held up by another tenant's dead endpoint.

use simledger_eventlog::catalog::{EsimProfileProgress, IpCommandFromSim, IpCommandStatus, SmsEvent};
use simledger_eventlog::checkpoint::{ApplyError, Subscriber};
use simledger_eventlog::{Event, EventLog, RecordedEvent};
use simledger_projections::registry::read as registry;
use sqlx::PgConnection;
use tokio::task::JoinHandle;

use crate::outbound_calls::{self, OutboundCall};

pub const NAME: &str = "callbacks";

#[derive(Clone)]
pub struct CallbackNotifier {
    pool: sqlx::PgPool,
}

impl CallbackNotifier {
    pub fn new(log: &EventLog) -> Self {
        Self { pool: log.pool().clone() }
    }
}

fn status_params(s: &SmsEvent, status: &str) -> Vec<(&'static str, String)> {
    let mut p = vec![
        ("SmsCommandSid", s.sms_command_sid.clone()),
        ("AccountSid", s.account_sid.clone()),
        ("SimSid", s.sim_sid.clone()),
        ("SimIccid", s.sim_iccid.clone()),
        ("Status", status.to_owned()),
        ("Direction", s.direction.clone()),
        ("Timestamp", s.timestamp.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
    ];
    if let Some(e) = &s.error {
        p.push(("ErrorCode", e.code.to_string()));
    }
    p
}

fn ip_status_params(s: &IpCommandStatus, status: &str) -> Vec<(&'static str, String)> {
    let mut p = vec![
        ("IpCommandSid", s.ip_command_sid.clone()),
        ("AccountSid", s.account_sid.clone()),
        ("SimSid", s.sim_sid.clone()),
        ("SimIccid", s.sim_iccid.clone()),
        ("Status", status.to_owned()),
        ("Direction", "to_sim".to_owned()),
        ("DevicePort", s.device_port.to_string()),
        ("Timestamp", s.timestamp.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
    ];
    if let Some(ip) = &s.device_ip {
        p.push(("DeviceIp", ip.clone()));
    }
    if let Some(e) = &s.error {
        p.push(("ErrorCode", e.code.to_string()));
    }
    p
}

/// The eSIM profile as Twilio's resource names its fields, at the step `status`.
fn esim_params(p: &EsimProfileProgress, status: &str) -> Vec<(&'static str, String)> {
    let mut params = vec![
        ("Sid", p.esim_profile_sid.clone()),
        ("AccountSid", p.account_sid.clone()),
        ("Iccid", p.iccid.clone()),
        ("Eid", p.eid.clone()),
        ("Status", status.to_owned()),
        ("Timestamp", p.timestamp.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
    ];
    if let Some(sim) = &p.sim_sid {
        params.push(("SimSid", sim.to_string()));
    }
    if let Some(code) = &p.error_code {
        params.push(("ErrorCode", code.clone()));
    }
    if let Some(message) = &p.error_message {
        params.push(("ErrorMessage", message.clone()));
    }
    params
}

/// Remembers a command's `CallbackUrl` (SMS `HC…`, IP `HG…` and eSIM profile `HP…` SIDs never
/// meet, so one table keyed by the SID holds them all).
async fn remember_target(
    tx: &mut PgConnection,
    sid: &str,
    url: &Option<String>,
    method: &Option<String>,
) -> Result<(), ApplyError> {
    if let Some(url) = url {
        sqlx::query(
            "INSERT INTO callback_sms_targets (sms_command_sid, url, method) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(sid)
        .bind(url)
        .bind(method.as_deref().unwrap_or("POST"))
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

async fn target(tx: &mut PgConnection, sid: &str) -> Result<Option<(String, String)>, ApplyError> {
    Ok(sqlx::query_as("SELECT url, method FROM callback_sms_targets WHERE sms_command_sid = $1")
        .bind(sid)
        .fetch_optional(&mut *tx)
        .await?)
}

impl Subscriber for CallbackNotifier {
    fn name(&self) -> &str {
        NAME
    }

    async fn apply(&mut self, tx: &mut PgConnection, events: &[RecordedEvent]) -> Result<(), ApplyError> {
        for e in events {
            if let Some((step, p)) = e.event.esim_progress() {
                if let Some((url, method)) = target(tx, &p.esim_profile_sid).await? {
                    let params = esim_params(p, step.as_str());
                    outbound_calls::enqueue(
                        &mut *tx,
                        &OutboundCall::form(&p.account_sid, e.event_id, &url, &method, &params),
                    )
                    .await?;
                }
                continue;
            }
            let (s, status) = match &e.event {
                Event::SmsCommandCreated(c) => {
                    remember_target(tx, &c.sms_command_sid, &c.callback_url, &c.callback_method).await?;
                    continue;
                }
                Event::IpCommandCreated(c) => {
                    remember_target(tx, &c.ip_command_sid, &c.callback_url, &c.callback_method).await?;
                    continue;
                }
                Event::EsimProfileCreated(p) => {
                    remember_target(tx, &p.esim_profile_sid, &p.callback_url, &p.callback_method).await?;
                    continue;
                }
                Event::IpCommandSent(s) | Event::IpCommandReceived(s) | Event::IpCommandFailed(s) => {
                    let status = match &e.event {
                        Event::IpCommandSent(_) => "sent",
                        Event::IpCommandReceived(_) => "received",
                        _ => "failed",
                    };
                    if let Some((url, method)) = target(tx, &s.ip_command_sid).await? {
                        let params = ip_status_params(s, status);
                        let call = OutboundCall::form(&s.account_sid, e.event_id, &url, &method, &params);
                        outbound_calls::enqueue(&mut *tx, &call).await?;
                    }
                    // `received` and `failed` are final: a `received` after a `failed` (a
                    // redelivered hand-over whose SIM had a session by then) calls nobody.
                    if status != "sent" {
                        sqlx::query("DELETE FROM callback_sms_targets WHERE sms_command_sid = $1")
                            .bind(&s.ip_command_sid)
                            .execute(&mut *tx)
                            .await?;
                    }
                    continue;
                }
                Event::SmsMtSubmitted(s) => (s, "sent"),
                Event::SmsMtDelivered(s) => (s, "delivered"),
                Event::SmsMtFailed(s) => (s, "failed"),
                Event::SmsMoDelivered(s) => {
                    self.mo_to_fleet(tx, e, s).await?;
                    continue;
                }
                Event::IpCommandFromSim(c) => {
                    self.ip_from_sim_to_fleet(tx, e, c).await?;
                    continue;
                }
                _ => continue,
            };
            if let Some((url, method)) = target(tx, &s.sms_command_sid).await? {
                let call = OutboundCall::form(&s.account_sid, e.event_id, &url, &method, &status_params(s, status));
                outbound_calls::enqueue(&mut *tx, &call).await?;
            }
        }
        Ok(())
    }
}

impl CallbackNotifier {
    /// Queues an MO SMS for the fleet's `SmsCommandsUrl`, if it has one.
    async fn mo_to_fleet(&self, tx: &mut PgConnection, e: &RecordedEvent, s: &SmsEvent) -> Result<(), ApplyError> {
        let Some(sim) = registry::sim(&self.pool, &s.account_sid, &s.sim_sid).await? else { return Ok(()) };
        let Some(fleet_sid) = sim.fleet_sid else { return Ok(()) };
        let Some(fleet) = registry::fleet(&self.pool, &s.account_sid, &fleet_sid).await? else { return Ok(()) };
        let (Some(url), true) = (fleet.sms_commands_url, fleet.sms_commands_enabled) else { return Ok(()) };
        let mut params = status_params(s, "received");
        params.push(("Payload", s.payload.clone()));
        let method = fleet.sms_commands_method.as_deref().unwrap_or("POST");
        outbound_calls::enqueue(&mut *tx, &OutboundCall::form(&s.account_sid, e.event_id, &url, method, &params))
            .await?;
        Ok(())
    }
}

impl CallbackNotifier {
    /// Queues an IP Command from a device for the fleet's `IpCommandsUrl`, if it has one.
    async fn ip_from_sim_to_fleet(
        &self,
        tx: &mut PgConnection,
        e: &RecordedEvent,
        c: &IpCommandFromSim,
    ) -> Result<(), ApplyError> {
        let Some(sim) = registry::sim(&self.pool, &c.account_sid, &c.sim_sid).await? else { return Ok(()) };
        let Some(fleet_sid) = sim.fleet_sid else { return Ok(()) };
        let Some(fleet) = registry::fleet(&self.pool, &c.account_sid, &fleet_sid).await? else { return Ok(()) };
        let Some(url) = fleet.ip_commands_url else { return Ok(()) };
        let params = vec![
            ("IpCommandSid", c.ip_command_sid.clone()),
            ("AccountSid", c.account_sid.clone()),
            ("SimSid", c.sim_sid.clone()),
            ("SimIccid", c.sim_iccid.clone()),
            ("Status", "received".to_owned()),
            ("Direction", "from_sim".to_owned()),
            ("DeviceIp", c.device_ip.clone()),
            ("DevicePort", c.device_port.to_string()),
            ("PayloadType", c.payload_type.clone()),
            ("Payload", c.payload.clone()),
            ("Timestamp", c.timestamp.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
        ];
        let method = fleet.ip_commands_method.as_deref().unwrap_or("POST");
        outbound_calls::enqueue(&mut *tx, &OutboundCall::form(&c.account_sid, e.event_id, &url, method, &params))
            .await?;
        Ok(())
    }
}

/// Runs the notifier for ever, resuming from its checkpoint after any failure.
pub fn spawn(log: EventLog) -> JoinHandle<()> {
    let notifier = CallbackNotifier::new(&log);
    crate::spawn_sink(log, notifier)
}
