//! Customer callbacks of SMS Commands, as Twilio makes them:
//!
//! - an MT command's `CallbackUrl` is called when it is `sent`, then `delivered` or `failed`;
//! - an MO SMS from a device is posted to its fleet's `SmsCommandsUrl` (`received`).
//!
//! The notifier is a checkpointed log subscriber, so every callback is made at least once,
//! including after a crash (a callback whose batch had not committed is made again). A
//! callback that keeps failing is retried three times, then given up and counted in
//! `simledger_callbacks_failed_total`.

use std::time::Duration;

use simledger_eventlog::catalog::SmsEvent;
use simledger_eventlog::checkpoint::{BoxError, Subscriber};
use simledger_eventlog::{Event, EventLog, RecordedEvent};
use simledger_outbound::{DestinationPolicy, OutboundClient};
use simledger_projections::registry::read as registry;
use sqlx::PgConnection;
use tokio::task::JoinHandle;

pub const NAME: &str = "callbacks";

#[derive(Clone)]
pub struct CallbackNotifier {
    http: OutboundClient,
    pool: sqlx::PgPool,
    /// Pauses between attempts of one callback.
    backoff: Vec<Duration>,
}

impl CallbackNotifier {
    pub fn new(log: &EventLog, policy: DestinationPolicy) -> Self {
        let http = policy.client(Duration::from_secs(5));
        let backoff = vec![Duration::from_millis(200), Duration::from_secs(1), Duration::from_secs(5)];
        Self { http, pool: log.pool().clone(), backoff }
    }

    async fn call(&self, url: &str, method: &str, params: &[(&str, String)]) {
        // The query of a customer's URL may hold a secret: logs name the URL without it.
        let shown = url.split('?').next().unwrap_or_default();
        for (attempt, pause) in std::iter::once(Duration::ZERO).chain(self.backoff.iter().copied()).enumerate() {
            tokio::time::sleep(pause).await;
            let method = if method == "GET" { reqwest::Method::GET } else { reqwest::Method::POST };
            let request = match self.http.request(method.clone(), url) {
                Ok(r) if method == reqwest::Method::GET => r.query(params),
                Ok(r) => r.form(params),
                Err(e) => {
                    tracing::warn!(url = shown, error = %e, "callback refused by the destination policy");
                    metrics::counter!("simledger_callbacks_refused_total").increment(1);
                    return;
                }
            };
            match request.send().await {
                Ok(r) if r.status().is_success() => return,
                Ok(r) => tracing::debug!(url = shown, attempt, status = %r.status(), "callback refused"),
                Err(_) => tracing::debug!(url = shown, attempt, "callback failed"),
            }
        }
        tracing::warn!(url = shown, "callback given up after retries");
        metrics::counter!("simledger_callbacks_failed_total").increment(1);
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

impl Subscriber for CallbackNotifier {
    fn name(&self) -> &str {
        NAME
    }

    async fn apply(&mut self, tx: &mut PgConnection, events: &[RecordedEvent]) -> Result<(), BoxError> {
        for e in events {
            let (s, status) = match &e.event {
                Event::SmsCommandCreated(c) => {
                    if let Some(url) = &c.callback_url {
                        sqlx::query(
                            "INSERT INTO callback_sms_targets (sms_command_sid, url, method) VALUES ($1, $2, $3) \
                             ON CONFLICT DO NOTHING",
                        )
                        .bind(&c.sms_command_sid)
                        .bind(url)
                        .bind(c.callback_method.as_deref().unwrap_or("POST"))
                        .execute(&mut *tx)
                        .await?;
                    }
                    continue;
                }
                Event::SmsMtSubmitted(s) => (s, "sent"),
                Event::SmsMtDelivered(s) => (s, "delivered"),
                Event::SmsMtFailed(s) => (s, "failed"),
                Event::SmsMoDelivered(s) => {
                    self.mo_to_fleet(s).await?;
                    continue;
                }
                _ => continue,
            };
            let target: Option<(String, String)> =
                sqlx::query_as("SELECT url, method FROM callback_sms_targets WHERE sms_command_sid = $1")
                    .bind(&s.sms_command_sid)
                    .fetch_optional(&mut *tx)
                    .await?;
            if let Some((url, method)) = target {
                self.call(&url, &method, &status_params(s, status)).await;
            }
        }
        Ok(())
    }
}

impl CallbackNotifier {
    /// Posts an MO SMS to the fleet's `SmsCommandsUrl`, if it has one.
    async fn mo_to_fleet(&self, s: &SmsEvent) -> Result<(), BoxError> {
        let Some(sim) = registry::sim(&self.pool, &s.account_sid, &s.sim_sid).await? else { return Ok(()) };
        let Some(fleet_sid) = sim.fleet_sid else { return Ok(()) };
        let Some(fleet) = registry::fleet(&self.pool, &s.account_sid, &fleet_sid).await? else { return Ok(()) };
        let (Some(url), true) = (fleet.sms_commands_url, fleet.sms_commands_enabled) else { return Ok(()) };
        let mut params = status_params(s, "received");
        params.push(("Payload", s.payload.clone()));
        self.call(&url, fleet.sms_commands_method.as_deref().unwrap_or("POST"), &params).await;
        Ok(())
    }
}

/// Runs the notifier for ever, resuming from its checkpoint after any failure.
pub fn spawn(log: EventLog, policy: DestinationPolicy) -> JoinHandle<()> {
    let notifier = CallbackNotifier::new(&log, policy);
    crate::spawn_sink(log, notifier)
}
