//! Writing a range or a document: CSV or JSON lines through a synced temporary file and a rename,
//! or one S3 multipart upload.

use super::*;
use std::io::Write;
use std::path::Path;

use futures_util::TryStreamExt;
use sqlx::{FromRow, PgPool};

use super::record::{CdrFields, CdrRecord};

/// One range of one exporter, being written.
pub(super) struct Range<'a> {
    pub(super) pool: &'a PgPool,
    pub(super) tenant: &'a str,
    pub(super) exporter: &'a Exporter,
    /// What the file is named after: the exporter, or the exporter and a selection.
    pub(super) label: &'a str,
    pub(super) compiled: &'a Compiled,
    pub(super) first: i64,
    pub(super) last: i64,
    pub(super) verbose: bool,
}

/// Bytes handed to the file or the upload at a time.
pub(super) const CHUNK: usize = 1 << 20;

impl Range<'_> {
    pub(super) fn name(&self) -> String {
        object_name(self.label, self.compiled.format, self.first, self.last)
    }

    /// Streams the range's CDRs into a temporary file, syncs it, and renames it into place.
    pub(super) async fn write_file(&self) -> Result<RunReport, ExportError> {
        let dir = Path::new(&self.exporter.export_path);
        let name = self.name();
        let path = dir.join(&name);
        let tmp = dir.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
        let io = |source| ExportError::Io { path: tmp.clone(), source };
        let mut file = std::io::BufWriter::new(std::fs::File::create(&tmp).map_err(io)?);
        let mut failed = None;
        let streamed = self
            .stream(|chunk| {
                if failed.is_none() {
                    failed = file.write_all(chunk).err();
                }
            })
            .await;
        let mut report = match streamed {
            Ok(report) => report,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
        };
        if let Some(e) = failed {
            let _ = std::fs::remove_file(&tmp);
            return Err(io(e));
        }
        if report.events == 0 {
            let _ = std::fs::remove_file(&tmp); // no CDR in the range passed the filters
            return Ok(report);
        }
        file.flush().map_err(io)?;
        file.get_ref().sync_all().map_err(io)?;
        drop(file);
        rename_into_place(&tmp, &path)?;
        report.file_paths.push(path.display().to_string());
        Ok(report)
    }

    /// Streams the range's CDRs into one S3 object by multipart upload (parts of 5 MiB, so
    /// memory stays flat); the object exists only once the upload is completed.
    pub(super) async fn upload(&self) -> Result<RunReport, ExportError> {
        use object_store::{ObjectStore, WriteMultipart};

        let (bucket, prefix) = s3_location(&self.exporter.export_path)?;
        let store = s3_access::store(self.tenant, self.exporter, &bucket)?;
        let name = self.name();
        let key = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
        let location = object_store::path::Path::from(key.as_str());
        let mut upload = WriteMultipart::new(store.put_multipart(&location).await?);
        let mut report = match self.stream(|chunk| upload.write(chunk)).await {
            Ok(report) => report,
            Err(e) => {
                let _ = upload.abort().await; // no half object: the upload is never completed
                return Err(e);
            }
        };
        if report.events == 0 {
            upload.abort().await?;
            return Ok(report);
        }
        upload.finish().await?;
        report.file_paths.push(format!("s3://{bucket}/{key}"));
        Ok(report)
    }

    /// Writes the range's CDRs that pass the filters, handing `out` a chunk at a time.
    pub(super) async fn stream(&self, mut out: impl FnMut(&[u8])) -> Result<RunReport, ExportError> {
        let c = self.compiled;
        let mut report = RunReport::default();
        let mut line = String::new();
        let csv_err = |e: csv::Error| ExportError::Invalid(format!("CSV: {e}"));
        let io_err = |e: std::io::Error| ExportError::Invalid(format!("CSV: {e}"));
        // CSV rows (of any length: a header or trailer need not match the CDR rows) go through
        // the writer into its Vec, JSON lines into `json`; either is handed
        // on whenever it holds a chunk.
        let new_writer = || {
            csv::WriterBuilder::new()
                .delimiter(c.separator)
                .flexible(true)
                .from_writer(Vec::with_capacity(CHUNK + (64 << 10)))
        };
        let mut w = new_writer();
        let mut json: Vec<u8> = Vec::new();
        if c.format == Format::Csv && !c.header.is_empty() {
            let metrics = RunReport::default();
            for f in &c.header {
                line.clear();
                f.render_summary(&metrics, &mut line);
                w.write_field(&line).map_err(csv_err)?;
            }
            w.write_record(None::<&[u8]>).map_err(csv_err)?;
        } else if c.format == Format::Csv && self.exporter.header {
            if c.fields.is_empty() {
                w.write_record(COLUMNS).map_err(csv_err)?;
            } else {
                w.write_record(c.fields.iter().map(|f| f.tag.as_str())).map_err(csv_err)?;
            }
        }
        let whose = whose_cdrs(self.tenant);
        let sql = format!(
            "SELECT {} FROM cdrs WHERE {whose} AND order_id BETWEEN $2 AND $3 ORDER BY order_id",
            record::SELECT
        );
        let mut rows = sqlx::query(&sql).bind(self.tenant).bind(self.first).bind(self.last).fetch(self.pool);
        while let Some(row) = rows.try_next().await? {
            let cdr = CdrRecord::from_row(&row)?;
            if !c.filters.iter().all(|f| f.passes(&cdr)) {
                continue;
            }
            match (c.format, c.fields.is_empty()) {
                (Format::Csv, true) => write_default_csv(&mut w, &cdr).map_err(csv_err)?,
                (Format::Csv, false) => {
                    for f in &c.fields {
                        line.clear();
                        f.render(&cdr, &mut line);
                        w.write_field(&line).map_err(csv_err)?;
                    }
                    w.write_record(None::<&[u8]>).map_err(csv_err)?;
                }
                (Format::JsonLines | Format::Form, _) => {
                    let value = json_map(c, &cdr, &mut line);
                    serde_json::to_writer(&mut json, &value).map_err(|e| ExportError::Invalid(format!("JSON: {e}")))?;
                    json.push(b'\n');
                }
            }
            report.add(&cdr, self.verbose);
            if w.get_ref().len() >= CHUNK {
                let full = std::mem::replace(&mut w, new_writer());
                out(&full.into_inner().map_err(|e| io_err(e.into_error()))?);
            }
            if json.len() >= CHUNK {
                out(&json);
                json.clear();
            }
        }
        if c.format == Format::Csv && !c.trailer.is_empty() {
            for f in &c.trailer {
                line.clear();
                f.render_summary(&report, &mut line);
                w.write_field(&line).map_err(csv_err)?;
            }
            w.write_record(None::<&[u8]>).map_err(csv_err)?;
        }
        let rest = w.into_inner().map_err(|e| io_err(e.into_error()))?;
        if report.events > 0 {
            out(&rest);
            out(&json);
        }
        Ok(report)
    }
}

/// A CDR as a JSON map: every field, or the exporter's fields (each rendered as text, as
/// CGrateS's `*json_map` exporters write them). `line` is scratch space.
pub(super) fn json_map(c: &Compiled, cdr: &CdrRecord, line: &mut String) -> serde_json::Value {
    if c.fields.is_empty() {
        return cdr.to_json();
    }
    let mut map = serde_json::Map::new();
    for f in &c.fields {
        line.clear();
        f.render(cdr, line);
        map.insert(f.key.clone(), serde_json::Value::String(line.clone()));
    }
    serde_json::Value::Object(map)
}

/// Every field in [`COLUMNS`] order.
pub(super) fn write_default_csv(csv: &mut csv::Writer<Vec<u8>>, cdr: &CdrRecord) -> csv::Result<()> {
    csv.write_field(&cdr.cgrid)?;
    csv.write_field(&cdr.run_id)?;
    csv.write_field(cdr.order_id.to_string())?;
    csv.write_field(&cdr.origin_host)?;
    csv.write_field(&cdr.source)?;
    csv.write_field(&cdr.origin_id)?;
    csv.write_field(&cdr.tor)?;
    csv.write_field(&cdr.request_type)?;
    csv.write_field(&cdr.tenant)?;
    csv.write_field(&cdr.category)?;
    csv.write_field(&cdr.account)?;
    csv.write_field(&cdr.subject)?;
    csv.write_field(&cdr.destination)?;
    csv.write_field(cdr.setup_time.to_rfc3339())?;
    csv.write_field(cdr.answer_time.to_rfc3339())?;
    csv.write_field(cdr.usage.to_string())?;
    csv.write_field(cdr.cost.normalize().to_string())?;
    csv.write_field(serde_json::to_string(&cdr.extra_fields).unwrap_or_default())?;
    csv.write_field(cdr.extra_info.as_deref().unwrap_or_default())?;
    csv.write_record(None::<&[u8]>)
}

/// Renames a synced temporary file to `path`, and syncs the folder so the rename survives a
/// power cut.
pub(super) fn rename_into_place(tmp: &Path, path: &Path) -> Result<(), ExportError> {
    std::fs::rename(tmp, path).map_err(|source| ExportError::Io { path: path.to_owned(), source })?;
    if let Some(Ok(d)) = path.parent().map(std::fs::File::open) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// How an exporter writes a document that is not a CDR range (billing's `*export`): CSV with
/// its separator and header choice, or JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentFormat {
    Csv { separator: u8, header: bool },
    Json,
}

pub fn document_format(e: &Exporter) -> Result<DocumentFormat, ExportError> {
    let c = compile(e)?;
    if e.kind.is_online() {
        return Err(online_only(e));
    }
    Ok(match c.format {
        Format::Csv => DocumentFormat::Csv { separator: c.separator, header: e.header },
        Format::JsonLines | Format::Form => DocumentFormat::Json,
    })
}

/// Writes `bytes` whole as `name` where `e` writes: a file written under a temporary name,
/// synced and renamed into place, or one S3 object. Callers give a name that always gets the
/// same bytes, so writing it again (a redelivery) changes nothing, and do not write one name
/// from two places at once. Returns where it went.
pub async fn write_document(tenant: &str, e: &Exporter, name: &str, bytes: Vec<u8>) -> Result<String, ExportError> {
    match compile(e)?.store {
        Store::File => {
            let path = Path::new(&e.export_path).join(name);
            // One temporary name per document: a write killed half way leaves a file the redo
            // of the same document overwrites and renames, so none is left behind.
            let tmp = Path::new(&e.export_path).join(format!(".{name}.tmp"));
            let written = std::fs::File::create(&tmp).and_then(|mut f| {
                f.write_all(&bytes)?;
                f.sync_all()
            });
            if let Err(source) = written {
                let _ = std::fs::remove_file(&tmp);
                return Err(ExportError::Io { path: tmp, source });
            }
            rename_into_place(&tmp, &path)?;
            Ok(path.display().to_string())
        }
        Store::S3 => {
            use object_store::ObjectStore;
            let (bucket, prefix) = s3_location(&e.export_path)?;
            let store = s3_access::store(tenant, e, &bucket)?;
            let key = if prefix.is_empty() { name.to_owned() } else { format!("{prefix}/{name}") };
            store.put(&object_store::path::Path::from(key.as_str()), bytes.into()).await?;
            Ok(format!("s3://{bucket}/{key}"))
        }
        Store::Http | Store::Nats => Err(online_only(e)),
    }
}

/// What an online exporter answers when asked to write a file: it sends CDRs as they close.
pub(super) fn online_only(e: &Exporter) -> ExportError {
    ExportError::Invalid(format!(
        "exporter {} is {}: it sends each CDR as it is closed, and writes no file or object",
        e.id, e.kind
    ))
}

/// `s3://bucket/prefix` → (bucket, prefix).
pub(super) fn s3_location(path: &str) -> Result<(String, String), ExportError> {
    let rest = path
        .strip_prefix("s3://")
        .ok_or_else(|| ExportError::Invalid(format!("ExportPath {path:?} must be s3://bucket[/prefix]")))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(ExportError::Invalid(format!("ExportPath {path:?} names no bucket")));
    }
    Ok((bucket.to_owned(), prefix.trim_matches('/').to_owned()))
}
