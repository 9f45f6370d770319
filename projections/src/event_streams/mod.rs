//! `event_streams`: Twilio Event Streams' Sinks and Subscriptions as the API shows them, folded
//! from `sink.*` and `subscription.*` events. A read model: it never appends, and the sink
//! workers' delivery cursors (`sink_cursors`, owned by the exporters) are not among its tables.

use simledger_eventlog::{Event, RecordedEvent};
use sqlx::PgConnection;

use crate::{ApplyError, Projection, Subscriber};

pub mod read;

pub const NAME: &str = "event_streams";

#[derive(Debug, Clone, Default)]
pub struct EventStreams;

impl Projection for EventStreams {
    const TABLES: &'static [&'static str] = &["es_subscribed_events", "es_subscriptions", "es_sinks"];
    const BATCH: i64 = 2000;
}

impl Subscriber for EventStreams {
    fn name(&self) -> &str {
        NAME
    }

    async fn apply(&mut self, tx: &mut PgConnection, events: &[RecordedEvent]) -> Result<(), ApplyError> {
        for e in events {
            apply_one(tx, e).await?;
        }
        Ok(())
    }
}

async fn apply_one(tx: &mut PgConnection, e: &RecordedEvent) -> Result<(), sqlx::Error> {
    let (at, version) = (e.recorded_at, e.stream_version);
    match &e.event {
        Event::SinkCreated(s) => {
            let config = serde_json::to_value(&s.configuration).expect("a sink configuration serializes");
            sqlx::query(
                "INSERT INTO es_sinks (sink_sid, account_sid, description, sink_type, sink_configuration, status, \
                 date_created, date_updated, version) VALUES ($1, $2, $3, $4, $5, 'initialized', $6, $6, $7)",
            )
            .bind(&s.sink_sid)
            .bind(&s.account_sid)
            .bind(&s.description)
            .bind(s.configuration.sink_type())
            .bind(&config["sink_configuration"])
            .bind(at)
            .bind(version)
            .execute(&mut *tx)
            .await?;
        }
        Event::SinkUpdated(s) => {
            sqlx::query("UPDATE es_sinks SET description = $2, date_updated = $3, version = $4 WHERE sink_sid = $1")
                .bind(&s.sink_sid)
                .bind(&s.description)
                .bind(at)
                .bind(version)
                .execute(&mut *tx)
                .await?;
        }
        Event::SinkTestRequested(t) => {
            sqlx::query("UPDATE es_sinks SET last_test_id = $2, date_updated = $3, version = $4 WHERE sink_sid = $1")
                .bind(&t.sink_sid)
                .bind(&t.test_id)
                .bind(at)
                .bind(version)
                .execute(&mut *tx)
                .await?;
        }
        Event::SinkValidated(t) => {
            sqlx::query("UPDATE es_sinks SET status = 'active', date_updated = $2, version = $3 WHERE sink_sid = $1")
                .bind(&t.sink_sid)
                .bind(at)
                .bind(version)
                .execute(&mut *tx)
                .await?;
        }
        Event::SinkDeleted(s) => {
            sqlx::query("DELETE FROM es_sinks WHERE sink_sid = $1").bind(&s.sink_sid).execute(&mut *tx).await?;
        }
        Event::SubscriptionCreated(s) => {
            sqlx::query(
                "INSERT INTO es_subscriptions (subscription_sid, account_sid, sink_sid, description, date_created, \
                 date_updated, version) VALUES ($1, $2, $3, $4, $5, $5, $6)",
            )
            .bind(&s.subscription_sid)
            .bind(&s.account_sid)
            .bind(&s.sink_sid)
            .bind(&s.description)
            .bind(at)
            .bind(version)
            .execute(&mut *tx)
            .await?;
            for t in &s.types {
                set_subscribed(tx, &s.subscription_sid, &s.account_sid, &t.event_type, t.schema_version, e.position)
                    .await?;
            }
        }
        Event::SubscriptionUpdated(s) => {
            sqlx::query(
                "UPDATE es_subscriptions SET description = $2, date_updated = $3, version = $4 \
                 WHERE subscription_sid = $1",
            )
            .bind(&s.subscription_sid)
            .bind(&s.description)
            .bind(at)
            .bind(version)
            .execute(&mut *tx)
            .await?;
        }
        Event::SubscriptionDeleted(s) => {
            sqlx::query("DELETE FROM es_subscriptions WHERE subscription_sid = $1")
                .bind(&s.subscription_sid)
                .execute(&mut *tx)
                .await?;
        }
        Event::SubscribedEventSet(s) => {
            let t = &s.subscribed;
            set_subscribed(tx, &s.subscription_sid, &s.account_sid, &t.event_type, t.schema_version, e.position)
                .await?;
            touch_subscription(tx, &s.subscription_sid, e).await?;
        }
        Event::SubscribedEventRemoved(s) => {
            sqlx::query("DELETE FROM es_subscribed_events WHERE subscription_sid = $1 AND type = $2")
                .bind(&s.subscription_sid)
                .bind(&s.event_type)
                .execute(&mut *tx)
                .await?;
            touch_subscription(tx, &s.subscription_sid, e).await?;
        }
        _ => {}
    }
    Ok(())
}

/// Subscribes a type from this position on; a new schema version keeps the original start, so
/// changing versions neither skips nor repeats an event.
async fn set_subscribed(
    tx: &mut PgConnection,
    subscription: &str,
    account: &str,
    event_type: &str,
    schema_version: i32,
    position: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO es_subscribed_events (subscription_sid, account_sid, type, schema_version, from_position) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (subscription_sid, type) DO UPDATE SET schema_version = $4",
    )
    .bind(subscription)
    .bind(account)
    .bind(event_type)
    .bind(schema_version)
    .bind(position)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn touch_subscription(tx: &mut PgConnection, subscription: &str, e: &RecordedEvent) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE es_subscriptions SET date_updated = $2, version = $3 WHERE subscription_sid = $1")
        .bind(subscription)
        .bind(e.recorded_at)
        .bind(e.stream_version)
        .execute(&mut *tx)
        .await?;
    Ok(())
}
