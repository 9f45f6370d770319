//! `/v1`: Twilio's Super SIM v1 API, wire-compatible (see `../shared/reference/twilio-api.md`
//! in the design notes). Every write is a command appended to the log; every read comes from a
//! projection, within the caller's account only.

mod billing;
mod commands;
mod esim;
mod fleets;
mod naps;
mod networks;
pub mod paging;
mod settings;
mod sims;
mod usage;

use chrono::{DateTime, Utc};
use serde::Serializer;
use utoipa::IntoResponses;
use utoipa_axum::router::OpenApiRouter;

use crate::error::TwilioError;
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(sims::router())
        .merge(fleets::router())
        .merge(naps::router())
        .merge(networks::router())
        .merge(commands::router())
        .merge(esim::router())
        .merge(settings::router())
        .merge(usage::router())
        .merge(billing::router())
}

/// Twilio's datetime form: seconds, UTC, `Z` (`2015-07-30T20:00:00Z`); the helper libraries
/// parse exactly this.
pub(crate) fn twilio_time<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&t.format("%Y-%m-%dT%H:%M:%SZ"))
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
