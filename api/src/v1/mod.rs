//! `/v1`: Twilio's Super SIM v1 API, wire-compatible (see `../shared/reference/twilio-api.md`
//! in the design notes). Every write is a command appended to the log; every read comes from a
//! projection, within the caller's account only.

pub(crate) mod billing;
mod billing_accounts;
mod breakout;
mod commands;
mod device_signals;
mod esim;
mod event_streams;
mod fleets;
mod naps;
mod networks;
pub mod paging;
mod settings;
pub(crate) mod sim_imsis;
mod sims;
mod usage;

use chrono::{DateTime, Utc};
use serde::Serializer;
use utoipa::IntoResponses;
use utoipa_axum::router::OpenApiRouter;

use simledger_projections::registry::read as registry;

use crate::error::TwilioError;
use crate::{ApiError, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(sims::router())
        .merge(sim_imsis::router())
        .merge(fleets::router())
        .merge(breakout::router())
        .merge(device_signals::router())
        .merge(naps::router())
        .merge(networks::router())
        .merge(commands::router())
        .merge(esim::router())
        .merge(settings::router())
        .merge(usage::router())
        .merge(billing::router())
        .merge(billing_accounts::router())
        .merge(event_streams::router())
}

/// Twilio's datetime form: seconds, UTC, `Z` (`2015-07-30T20:00:00Z`); the helper libraries
/// parse exactly this.
pub(crate) fn twilio_datetime(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Serializes a field in [`twilio_datetime`]'s form.
pub(crate) fn twilio_time<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&twilio_datetime(*t))
}

/// The SID a list filter naming a resource (by SID or unique name) matches: the account's
/// resource, or a value no row holds when the account has none, so the page is empty, as for
/// any other filter that matches nothing.
fn filter_sid(given: &str, found: Option<String>) -> String {
    found.unwrap_or_else(|| format!("none:{given}"))
}

/// A `Sim` filter as the SID it matches.
pub(crate) async fn sim_filter(
    pool: &sqlx::PgPool,
    account: &str,
    sim: Option<&str>,
) -> Result<Option<String>, ApiError> {
    let Some(sim) = sim else { return Ok(None) };
    Ok(Some(filter_sid(sim, registry::sim(pool, account, sim).await?.map(|r| r.sim_sid))))
}

/// A `Fleet` filter as the SID it matches.
pub(crate) async fn fleet_filter(
    pool: &sqlx::PgPool,
    account: &str,
    fleet: Option<&str>,
) -> Result<Option<String>, ApiError> {
    let Some(fleet) = fleet else { return Ok(None) };
    Ok(Some(filter_sid(fleet, registry::fleet(pool, account, fleet).await?.map(|r| r.fleet_sid))))
}

/// A `NetworkAccessProfile` filter as the SID it matches.
pub(crate) async fn nap_filter(
    pool: &sqlx::PgPool,
    account: &str,
    nap: Option<&str>,
) -> Result<Option<String>, ApiError> {
    let Some(nap) = nap else { return Ok(None) };
    Ok(Some(filter_sid(nap, registry::nap(pool, account, nap).await?.map(|r| r.nap_sid))))
}

/// The error answers every `/v1` operation may give.
#[allow(dead_code)] // only its derived OpenAPI description is used
#[derive(IntoResponses)]
pub enum Errors {
    /// A parameter is missing, unknown, malformed or out of range, or a Super SIM rule refused
    /// the request (83xxx).
    #[response(status = 400)]
    BadRequest(TwilioError),
    /// No valid `AccountSid:AuthToken` or API key credentials (20003).
    #[response(status = 401)]
    Unauthorized(TwilioError),
    /// No such resource in this account (20404).
    #[response(status = 404)]
    NotFound(TwilioError),
    /// The account's request rate is exceeded (20429); `Retry-After` says when to retry.
    #[response(status = 429)]
    TooManyRequests(TwilioError),
}

/// The error answers of `/v1` writes, beyond [`Errors`].
#[allow(dead_code)]
#[derive(IntoResponses)]
pub enum WriteErrors {
    /// Another resource of the account has this unique name, or a concurrent change won (20409).
    #[response(status = 409)]
    Conflict(TwilioError),
    /// The body is larger than 64 KiB.
    #[response(status = 413)]
    TooLarge(TwilioError),
    /// The body is neither form-encoded nor JSON.
    #[response(status = 415)]
    UnsupportedMediaType(TwilioError),
}
