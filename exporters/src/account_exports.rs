//! Billing's `*export` action, carried out: each `billing.export_requested` event is written by
//! every exporter it names, as CGrateS's `*export` hands the account event to the named `ees`
//! exporters.
//!
//! - The exporters are the tenant's CDR exporters (`/v1/Billing/Exporters`, `ConfigSv1` `ees`,
//!   the configuration file). Each writes one document per event, `account_<exporter>_<log
//!   position>.csv` or `.json`, where it writes CDRs (its folder or S3 location): CSV with its
//!   separator, a header row unless `Header` is off, and the columns [`COLUMNS`]; JSON as
//!   CGrateS's `CGREvent` (`Tenant`, `ID`, `Event`, `APIOpts`). The account is the one the
//!   action group left, as `APIerSv2.GetAccount` shows it. The exporter's filters and field
//!   templates read CDR fields and do not apply here.
//! - Nothing lost, nothing twice: a checkpointed subscriber writes the document before its
//!   checkpoint moves, and the document's name and bytes follow from the event alone, so the
//!   redelivery after a crash rewrites the same document in place.
//! - An exporter ID the tenant does not have is logged, counted in
//!   `simledger_billing_exports_skipped_total` and skipped, as CGrateS logs an unknown exporter.
//!   A write that fails (a full disk, an unreachable bucket) fails the batch: the subscriber
//!   resumes from its checkpoint and tries again, so exports wait rather than go missing.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use simledger_eventlog::catalog::BillingExportRequested;
use simledger_eventlog::checkpoint::{ApplyError, Subscriber};
use simledger_eventlog::{Event, EventLog, RecordedEvent};
use sqlx::PgConnection;
use tokio::task::JoinHandle;

use crate::cdr_export::{self, DocumentFormat, ExportError};

pub const NAME: &str = "billing_exports";

/// The CSV columns of an exported account event.
pub const COLUMNS: &[&str] = &[
    "Tenant",
    "Account",
    "EventType",
    "EventSource",
    "AllowNegative",
    "Disabled",
    "UpdateTime",
    "BalanceMap",
    "UnitCounters",
    "ActionTriggers",
];

#[derive(Clone)]
pub struct AccountExporter {
    log: EventLog,
}

impl AccountExporter {
    pub fn new(log: EventLog) -> Self {
        Self { log }
    }

    async fn export(&self, event: &RecordedEvent, r: &BillingExportRequested) -> Result<(), ApplyError> {
        for id in &r.exporter_ids {
            let exporter = match cdr_export::get(self.log.pool(), &r.tenant, id).await {
                Ok(e) => e,
                Err(ExportError::NotFound(_)) => {
                    tracing::warn!(tenant = %r.tenant, exporter = %id, "billing *export names no exporter of the tenant");
                    metrics::counter!("simledger_billing_exports_skipped_total").increment(1);
                    continue;
                }
                Err(e) => return Err(ApplyError::other("the exporter", e)),
            };
            let format = cdr_export::document_format(&exporter).map_err(|e| ApplyError::other("the exporter", e))?;
            let (name, bytes) = document(&exporter.id, event, r, format)?;
            let at = cdr_export::write_document(&r.tenant, &exporter, &name, bytes)
                .await
                .map_err(|e| ApplyError::other("writing the document", e))?;
            tracing::debug!(account = %r.account, exporter = %id, %at, "billing *export written");
        }
        Ok(())
    }
}

/// The account as the event carries it; amounts stay as their JSON text.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct View<'a> {
    #[serde(rename = "ID")]
    id: String,
    #[serde(borrow)]
    balance_map: &'a RawValue,
    #[serde(borrow)]
    unit_counters: &'a RawValue,
    #[serde(borrow)]
    action_triggers: &'a RawValue,
    allow_negative: bool,
    disabled: bool,
    update_time: String,
}

/// CGrateS's `CGREvent` for an account update.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct CgrEvent<'a> {
    tenant: &'a str,
    #[serde(rename = "ID")]
    id: String,
    event: EventFields<'a>,
    #[serde(rename = "APIOpts")]
    api_opts: serde_json::Value,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct EventFields<'a> {
    account: &'a str,
    event_type: &'static str,
    event_source: &'static str,
    allow_negative: bool,
    disabled: bool,
    balance_map: &'a RawValue,
    unit_counters: &'a RawValue,
    action_triggers: &'a RawValue,
    update_time: &'a str,
}

const EVENT_TYPE: &str = "AccountUpdate";
const EVENT_SOURCE: &str = "AccountS";

/// The document `exporter` writes for `event`: its name (by the event's log position) and bytes.
fn document(
    exporter: &str,
    event: &RecordedEvent,
    r: &BillingExportRequested,
    format: DocumentFormat,
) -> Result<(String, Vec<u8>), ApplyError> {
    let view: View = serde_json::from_str(&r.account_view)?;
    match format {
        DocumentFormat::Csv { separator, header } => {
            let mut w = csv::WriterBuilder::new().delimiter(separator).from_writer(Vec::new());
            if header {
                w.write_record(COLUMNS).map_err(csv_error)?;
            }
            w.write_record([
                r.tenant.as_str(),
                view.id.as_str(),
                EVENT_TYPE,
                EVENT_SOURCE,
                if view.allow_negative { "true" } else { "false" },
                if view.disabled { "true" } else { "false" },
                view.update_time.as_str(),
                view.balance_map.get(),
                view.unit_counters.get(),
                view.action_triggers.get(),
            ])
            .map_err(csv_error)?;
            let bytes = w.into_inner().map_err(|e| csv_error(e.into_error()))?;
            Ok((format!("account_{exporter}_{:020}.csv", event.position), bytes))
        }
        DocumentFormat::Json => {
            let doc = CgrEvent {
                tenant: &r.tenant,
                id: event.event_id.to_string(),
                event: EventFields {
                    account: &view.id,
                    event_type: EVENT_TYPE,
                    event_source: EVENT_SOURCE,
                    allow_negative: view.allow_negative,
                    disabled: view.disabled,
                    balance_map: view.balance_map,
                    unit_counters: view.unit_counters,
                    action_triggers: view.action_triggers,
                    update_time: &view.update_time,
                },
                api_opts: serde_json::json!({ "*eventType": EVENT_TYPE }),
            };
            let mut bytes = serde_json::to_vec(&doc)?;
            bytes.push(b'\n');
            Ok((format!("account_{exporter}_{:020}.json", event.position), bytes))
        }
    }
}

fn csv_error(e: impl Into<simledger_eventlog::checkpoint::BoxError>) -> ApplyError {
    ApplyError::other("the CSV document", e)
}

impl Subscriber for AccountExporter {
    fn name(&self) -> &str {
        NAME
    }

    async fn apply(&mut self, _tx: &mut PgConnection, events: &[RecordedEvent]) -> Result<(), ApplyError> {
        for e in events {
            if let Event::BillingExportRequested(r) = &e.event {
                self.export(e, r).await?;
            }
        }
        Ok(())
    }
}

/// Runs the account exporter for ever, resuming from its checkpoint after any failure.
pub fn spawn(log: EventLog) -> JoinHandle<()> {
    crate::spawn_sink(log.clone(), AccountExporter::new(log))
}
