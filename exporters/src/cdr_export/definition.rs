//! What an exporter definition means: its kind (store and format), its compiled filters and
//! fields, and the checks a definition must pass before it is stored.

use super::*;
use std::path::Path;

use super::filter::Filter;
use super::schedule::Schedule;
use super::template::{CompiledField, Section};

/// Where a kind writes, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    Csv,
    /// One JSON object per CDR: a line of a file, or the body of one request or message.
    JsonLines,
    /// One form-encoded request per CDR (`*http_post`).
    Form,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Store {
    File,
    S3,
    /// Online: one POST per CDR to the exporter's URL.
    Http,
    /// Online: one JetStream message per CDR on the exporter's subject.
    Nats,
}

/// An exporter's type, by CGrateS's names: where it writes, and in which format. Parsed once
/// where a definition enters (the `ees` configuration, the REST API).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExporterKind {
    FileCsv,
    FileJson,
    S3Csv,
    S3JsonMap,
    HttpPost,
    HttpJsonMap,
    NatsJsonMap,
}

impl ExporterKind {
    pub const ALL: [ExporterKind; 7] = [
        Self::FileCsv,
        Self::FileJson,
        Self::S3Csv,
        Self::S3JsonMap,
        Self::HttpPost,
        Self::HttpJsonMap,
        Self::NatsJsonMap,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::FileCsv => "*file_csv",
            Self::FileJson => "*file_json",
            Self::S3Csv => "*s3_csv",
            Self::S3JsonMap => "*s3_json_map",
            Self::HttpPost => "*http_post",
            Self::HttpJsonMap => "*http_json_map",
            Self::NatsJsonMap => "*nats_json_map",
        }
    }

    pub(super) fn store(self) -> Store {
        match self {
            Self::FileCsv | Self::FileJson => Store::File,
            Self::S3Csv | Self::S3JsonMap => Store::S3,
            Self::HttpPost | Self::HttpJsonMap => Store::Http,
            Self::NatsJsonMap => Store::Nats,
        }
    }

    pub(super) fn format(self) -> Format {
        match self {
            Self::FileCsv | Self::S3Csv => Format::Csv,
            Self::FileJson | Self::S3JsonMap | Self::HttpJsonMap | Self::NatsJsonMap => Format::JsonLines,
            Self::HttpPost => Format::Form,
        }
    }

    pub fn is_s3(self) -> bool {
        self.store() == Store::S3
    }

    pub fn is_nats(self) -> bool {
        self.store() == Store::Nats
    }

    /// Sends each CDR as it is closed (see [`super::online`]) rather than writing ranges on a
    /// schedule or on demand.
    pub fn is_online(self) -> bool {
        matches!(self.store(), Store::Http | Store::Nats)
    }
}

simledger_ids::named_kind!(ExporterKind);

impl std::str::FromStr for ExporterKind {
    type Err = ExportError;

    fn from_str(s: &str) -> Result<Self, ExportError> {
        Self::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| {
            let supported: Vec<&str> = Self::ALL.iter().map(|k| k.as_str()).collect();
            ExportError::Invalid(format!(
                "unsupported type {:?} (supported: {})",
                simledger_ids::shown(s),
                supported.join(", ")
            ))
        })
    }
}

/// An exporter's filters and fields, checked.
pub(super) struct Compiled {
    pub(super) store: Store,
    pub(super) format: Format,
    pub(super) filters: Vec<Filter>,
    /// Empty: every CDR field, in [`COLUMNS`] order.
    pub(super) fields: Vec<CompiledField>,
    /// `*hdr.` fields: the header row (instead of the column names), CSV only.
    pub(super) header: Vec<CompiledField>,
    /// `*trl.` fields: a trailer row after the CDRs, CSV only.
    pub(super) trailer: Vec<CompiledField>,
    pub(super) separator: u8,
}

pub(super) fn compile(e: &Exporter) -> Result<Compiled, ExportError> {
    let (store, format) = (e.kind.store(), e.kind.format());
    let filters = e.filters.iter().map(|f| Filter::parse(f)).collect::<Result<_, _>>().map_err(ExportError::Invalid)?;
    let all: Vec<CompiledField> =
        e.fields.iter().map(CompiledField::compile).collect::<Result<_, _>>().map_err(ExportError::Invalid)?;
    let (mut fields, mut header, mut trailer) = (Vec::new(), Vec::new(), Vec::new());
    for f in all {
        match f.section {
            Section::Exp => fields.push(f),
            Section::Hdr => header.push(f),
            Section::Trl => trailer.push(f),
        }
    }
    if format != Format::Csv && !(header.is_empty() && trailer.is_empty()) {
        return Err(ExportError::Invalid("*hdr and *trl fields are rows of a CSV file: CSV exporters only".into()));
    }
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
        if e.kind.is_online() {
            return Err(ExportError::Invalid(format!(
                "{} exporters send each CDR as it is closed: a schedule is for file and S3 exporters",
                e.kind
            )));
        }
        Schedule::parse(s).map_err(ExportError::Invalid)?;
    }
    Ok(Compiled { store, format, filters, fields, header, trailer, separator })
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
        // The shape; the destination policy is applied where a customer gives the URL
        // (`grants::ExportGrants::confine`) and again at every connection.
        Store::Http => {
            simledger_outbound::DestinationPolicy::ALLOW_PRIVATE
                .parse(&e.export_path)
                .map_err(|why| ExportError::Invalid(format!("ExportPath {why}")))?;
        }
        Store::Nats => {
            super::online::NatsLocation::parse(&e.export_path)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod kind_tests {
    use super::ExporterKind;

    #[test]
    fn exporter_kinds_read_back_from_their_names_and_unknown_ones_are_refused() {
        for k in ExporterKind::ALL {
            assert_eq!(k.as_str().parse::<ExporterKind>().unwrap(), k);
            assert_eq!(serde_json::to_value(k).unwrap(), serde_json::json!(k.as_str()));
        }
        let refused = "*kafka_json_map".parse::<ExporterKind>().unwrap_err().to_string();
        assert!(refused.contains("unsupported type") && refused.contains("*s3_json_map"), "{refused}");
        assert!(serde_json::from_str::<ExporterKind>("\"*file_xml\"").is_err());
    }
}
