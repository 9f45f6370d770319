//! CDR exporters (`*file_csv`, `*file_json`, `*s3_csv`, `*s3_json_map`): each run exports the
//! tenant's CDRs with an `OrderID` after the exporter's `last_exported_order_id`, up to the
//! `cdrs` projection's checkpoint (every CDR closed at or before it is in the table), to one
//! file or object named by its order-ID range. Filters and field templates follow CGrateS's
//! `ees.exporters` (see `filter` and `template`); `schedule` runs exporters on a timetable.
//!
//! A run (1) takes the exporter's lock (a Postgres advisory lock on a connection of its own, so
//! a killed runner releases it), (2) records its range as pending, (3) writes the file under a
//! temporary name, syncs it and renames it into place, or completes an S3 multipart upload,
//! (4) moves the cursor and clears the pending range. A crash anywhere leaves the old state or
//! the new one; a rerun finishes a pending range first, into the same name. So the union of
//! exported files holds every CDR exactly once. A range no CDR of which passes the filters
//! moves the cursor without writing a file.
//!
//! Online exporters (`*http_post`, `*http_json_map`, `*nats_json_map`, see `online`) send each
//! CDR as it is closed, through the same cursor and pending range.

pub mod config;
pub mod converter;
pub mod download;
pub mod filter;
pub mod grants;
pub mod record;
pub mod s3_access;
pub mod schedule;
pub mod template;

mod definition;
pub mod online;
mod run;
mod store;
mod write;

pub use self::definition::*;
pub use self::online::{check_destination, check_signable, spawn_online, OnlineSettings};
pub use self::run::*;
pub use self::store::*;
pub use self::write::*;

use std::path::PathBuf;

use self::template::FieldTemplate;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("no exporter {0}")]
    NotFound(String),
    /// Another run of the same exporter, or of the same tenant, is under way, or the process
    /// runs as many exports as it may.
    #[error("exporter {0} cannot run now: another export is under way")]
    Busy(String),
    #[error("invalid exporter: {0}")]
    Invalid(String),
    #[error("writing {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("S3: {0}")]
    S3(#[from] object_store::Error),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    EventLog(#[from] simledger_eventlog::EventLogError),
    /// An online exporter's destination did not take a CDR; it is sent again.
    #[error("exporter {id}: CDR {order_id} not delivered: {reason}")]
    Delivery { id: String, order_id: i64, reason: String },
}

/// The tenant of the operator's exporters (those declared in the configuration file without a
/// `tenant`): as CGrateS's, they export every tenant's CDRs, unless their filters choose some
/// (`*string:~*req.Tenant:AC…`). No account SID can take this name.
pub const OPERATOR: &str = "*operator";

/// Whose CDRs an exporter of `tenant` reads, as a clause on `cdrs` with the tenant bound as
/// `$1`: the tenant's own, or every tenant's for the operator (`$1 = $1` keeps the binds alike).
pub(super) fn whose_cdrs(tenant: &str) -> &'static str {
    if tenant == OPERATOR {
        "$1 = $1"
    } else {
        "tenant = $1"
    }
}

/// An exporter's definition and cursor.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Exporter {
    pub id: String,
    pub kind: ExporterKind,
    pub export_path: String,
    pub filters: Vec<String>,
    pub fields: Vec<FieldTemplate>,
    pub field_separator: String,
    pub header: bool,
    /// `*hourly`, `*every:15m`, … (see [`schedule::Schedule`]); `None` runs on demand only.
    pub schedule: Option<String>,
    /// Declared in the configuration file rather than created through an API.
    pub declared: bool,
    pub last_exported_order_id: i64,
    /// `*nats_json_map` only: publish through JetStream (acknowledged, deduplicated by
    /// `Nats-Msg-Id`) rather than plain NATS (CGrateS's `natsJetStream`, false by default).
    pub nats_jetstream: bool,
    /// Online exporters: tries at one CDR within a run before the exporter rests (CGrateS's
    /// `attempts`); the CDR is never skipped.
    pub attempts: i16,
}

/// Tries at one CDR when an exporter does not say (and the most it may say).
pub const DEFAULT_ATTEMPTS: i16 = 3;
pub const MAX_ATTEMPTS: i16 = 10;

/// An exporter's `attempts` as given (configuration, REST): 1 to [`MAX_ATTEMPTS`], else
/// [`DEFAULT_ATTEMPTS`] when not given.
pub fn attempts_given(n: Option<i64>) -> Result<i16, String> {
    match n {
        None => Ok(DEFAULT_ATTEMPTS),
        Some(n) if (1..=i64::from(MAX_ATTEMPTS)).contains(&n) => Ok(n as i16),
        Some(n) => Err(format!("attempts must be 1 to {MAX_ATTEMPTS}, not {n}")),
    }
}

impl Exporter {
    /// A `*file_csv` exporter with the defaults: every field, a header row, comma-separated.
    pub fn new(id: impl Into<String>, kind: ExporterKind, export_path: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            kind,
            export_path: export_path.into(),
            filters: Vec::new(),
            fields: Vec::new(),
            field_separator: ",".into(),
            header: true,
            schedule: None,
            declared: false,
            last_exported_order_id: 0,
            nats_jetstream: false,
            attempts: DEFAULT_ATTEMPTS,
        }
    }
}
