//! Billing's `*http_post` action, delivered: each `billing.http_post_requested` event is posted
//! to its URL as JSON (the account as `APIerSv2.GetAccount` shows it), signed.
//!
//! The fold only appends the request, so the action never waits on the network (CGrateS's
//! `*http_post_async`); this checkpointed subscriber queues it in the tenant's outbound calls
//! ([`crate::outbound_calls`]), which make it at least once, retry it, sign it with the
//! tenant's own secret over URL and body, and keep one tenant's dead endpoint from delaying
//! another's posts.

use simledger_eventlog::checkpoint::{ApplyError, Subscriber};
use simledger_eventlog::{Event, EventLog, RecordedEvent};
use sqlx::PgConnection;
use tokio::task::JoinHandle;

use crate::outbound_calls::{self, CallKind, OutboundCall};

pub const NAME: &str = "billing_posts";

/// Queues each requested post.
#[derive(Clone, Default)]
pub struct BillingPoster;

impl BillingPoster {
    pub fn new() -> Self {
        Self
    }
}

impl Subscriber for BillingPoster {
    fn name(&self) -> &str {
        NAME
    }

    async fn apply(&mut self, tx: &mut PgConnection, events: &[RecordedEvent]) -> Result<(), ApplyError> {
        for e in events {
            if let Event::BillingHttpPostRequested(p) = &e.event {
                let call = OutboundCall {
                    tenant: p.tenant.clone(),
                    event_id: e.event_id,
                    kind: CallKind::HttpPost,
                    method: reqwest::Method::POST,
                    url: p.url.clone(),
                    content_type: "application/json",
                    body: p.body.clone().into_bytes(),
                };
                outbound_calls::enqueue(&mut *tx, &call).await?;
            }
        }
        Ok(())
    }
}

/// Runs the poster for ever, resuming from its checkpoint after any failure.
pub fn spawn(log: EventLog, poster: BillingPoster) -> JoinHandle<()> {
    crate::spawn_sink(log, poster)
}
