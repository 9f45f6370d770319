//! `/v1` Event Streams (Twilio's `events.twilio.com/v1` dialect, on the same listener as Super
//! SIM): Sinks, Subscriptions and their SubscribedEvents, and the catalog of Types and Schemas.
//! Delivery is `simledger_exporters::event_streams`.

mod sinks;
mod subscriptions;
mod types;

use utoipa_axum::router::OpenApiRouter;

use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().merge(sinks::router()).merge(subscriptions::router()).merge(types::router())
}
