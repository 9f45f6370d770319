//! What an exporter definition means: its kind (store and format), its compiled filters and
//! fields, and the checks a definition must pass before it is stored.

use super::*;
use std::path::Path;

use super::filter::Filter;
use super::schedule::Schedule;
use super::template::CompiledField;

/// Where a kind writes, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    Csv,
    JsonLines,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Store {
    File,
    S3,
}

pub const KINDS: &[&str] = &["*file_csv", "*file_json", "*s3_csv", "*s3_json_map"];

pub(super) fn kind(kind: &str) -> Result<(Store, Format), ExportError> {
    match kind {
        "*file_csv" => Ok((Store::File, Format::Csv)),
        "*file_json" => Ok((Store::File, Format::JsonLines)),
        "*s3_csv" => Ok((Store::S3, Format::Csv)),
        "*s3_json_map" => Ok((Store::S3, Format::JsonLines)),
        other => Err(ExportError::Invalid(format!("unsupported type {other:?} (supported: {})", KINDS.join(", ")))),
    }
}

/// An exporter's filters and fields, checked.
pub(super) struct Compiled {
    pub(super) store: Store,
    pub(super) format: Format,
    pub(super) filters: Vec<Filter>,
    /// Empty: every CDR field, in [`COLUMNS`] order.
    pub(super) fields: Vec<CompiledField>,
    pub(super) separator: u8,
}

pub(super) fn compile(e: &Exporter) -> Result<Compiled, ExportError> {
    let (store, format) = kind(&e.kind)?;
    let filters = e.filters.iter().map(|f| Filter::parse(f)).collect::<Result<_, _>>().map_err(ExportError::Invalid)?;
    let fields: Vec<CompiledField> =
        e.fields.iter().map(CompiledField::compile).collect::<Result<_, _>>().map_err(ExportError::Invalid)?;
    let mut keys: Vec<&str> = fields.iter().map(|f| f.key.as_str()).collect();
    keys.sort_unstable();
    if let Some(w) = keys.windows(2).find(|w| w[0] == w[1]) {
        return Err(ExportError::Invalid(format!("two fields write *exp.{}", w[0])));
    }
    let separator = match e.field_separator.as_bytes() {
        [b] if b.is_ascii() && *b != b'"' && *b != b'\n' && *b != b'\r' => *b,
        _ => {
            return Err(ExportError::Invalid(
                "FieldSeparator must be one ASCII character other than a quote or newline".into(),
            ))
        }
    };
    if let Some(s) = &e.schedule {
        Schedule::parse(s).map_err(ExportError::Invalid)?;
    }
    Ok(Compiled { store, format, filters, fields, separator })
}

pub(super) const COLUMNS: &[&str] = &[
    "CGRID",
    "RunID",
    "OrderID",
    "OriginHost",
    "Source",
    "OriginID",
    "ToR",
    "RequestType",
    "Tenant",
    "Category",
    "Account",
    "Subject",
    "Destination",
    "SetupTime",
    "AnswerTime",
    "Usage",
    "Cost",
    "ExtraFields",
    "ExtraInfo",
];

/// Checks a definition: its ID, type, filters, fields, schedule, and that a folder is writable
/// or an S3 location well formed. [`create`] and [`upsert`] check too; this lets a batch be
/// checked whole before any of it is stored.
/// The most fields (and filters) an exporter may have: a CDR row, not a document.
pub const MAX_FIELDS: usize = 256;

pub fn check(e: &Exporter) -> Result<(), ExportError> {
    if e.id.is_empty() || !e.id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        return Err(ExportError::Invalid("an exporter ID is letters, digits, - and _".into()));
    }
    if e.fields.len() > MAX_FIELDS || e.filters.len() > MAX_FIELDS {
        return Err(ExportError::Invalid(format!(
            "an exporter has at most {MAX_FIELDS} fields and {MAX_FIELDS} filters"
        )));
    }
    match compile(e)?.store {
        Store::File => {
            let probe = Path::new(&e.export_path).join(format!(".simledger-probe-{}", uuid::Uuid::new_v4().simple()));
            std::fs::write(&probe, b"").and_then(|()| std::fs::remove_file(&probe)).map_err(|source| {
                ExportError::Invalid(format!("ExportPath {} is not a writable folder: {source}", e.export_path))
            })?;
        }
        // Reaching the bucket is checked by each run (its credentials come from the runner's
        // environment); here, the shape.
        Store::S3 => {
            s3_location(&e.export_path)?;
        }
    }
    Ok(())
}

pub(super) fn next_run(e: &Exporter) -> Option<chrono::DateTime<chrono::Utc>> {
    let schedule = Schedule::parse(e.schedule.as_deref()?).ok()?;
    Some(schedule.next(chrono::Utc::now()))
}
