//! Exporters in CGrateS's configuration shape (`ees.exporters[]`), so a CGrateS user's
//! definitions carry over: from simledger's configuration file and from `ConfigSv1.SetConfig`.
//!
//! Understood: `id`, `type`, `export_path`, `filters`, `fields`, and in `opts`
//! `csvFieldSeparator`, `s3BucketID` + `s3FolderPath` (for `*s3_*`, as CGrateS names the
//! bucket), `natsSubject` and `natsJetStream` (for `*nats_json_map`: plain NATS unless true, as CGrateS). simledger's own: `tenant` (else the configuration's default tenant), `schedule`
//! and `opts.csvHeader` (default true). CGrateS keys that mean nothing here (`flags`,
//! `synchronous`, …) are accepted and reported as ignored; any other key is an error. `attempts`
//! (online exporters) is the tries at one CDR before the exporter rests; a CDR is never skipped.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::template::FieldTemplate;
use super::{ExportError, Exporter, ExporterKind};

/// CGrateS's `ees` section.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct EesConfig {
    #[serde(default)]
    pub exporters: Vec<ExporterConfig>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ExporterConfig {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: ExporterKind,
    #[serde(default)]
    pub export_path: String,
    #[serde(default)]
    pub filters: Vec<String>,
    #[serde(default)]
    pub fields: Vec<FieldTemplate>,
    #[serde(default)]
    pub opts: BTreeMap<String, serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// Online exporters: tries at one CDR before the exporter rests (1 to 10, default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts: Option<i64>,
    /// Every other key, checked by [`ExporterConfig::to_exporter`].
    #[serde(flatten, skip_serializing)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// CGrateS exporter keys with no meaning in simledger (every run is synchronous and atomic).
const IGNORED_KEYS: &[&str] = &[
    "flags",
    "synchronous",
    "concurrent_requests",
    "timezone",
    "metrics_reset_schedule",
    "attribute_ids",
    "attribute_context",
    "failed_posts_dir",
];

const KNOWN_OPTS: &[&str] =
    &["csvFieldSeparator", "csvHeader", "s3BucketID", "s3FolderPath", "natsSubject", "natsJetStream"];

impl ExporterConfig {
    /// The exporter and its tenant; `ignored` collects the keys that were accepted but mean nothing.
    pub fn to_exporter(
        &self,
        default_tenant: Option<&str>,
        ignored: &mut Vec<String>,
    ) -> Result<(String, Exporter), ExportError> {
        let invalid = |m: String| ExportError::Invalid(format!("exporter {:?}: {m}", self.id));
        for key in self.other.keys() {
            if IGNORED_KEYS.contains(&key.as_str()) {
                ignored.push(format!("{}.{key}", self.id));
            } else {
                return Err(invalid(format!("unknown key {key:?}")));
            }
        }
        for key in self.opts.keys() {
            if !KNOWN_OPTS.contains(&key.as_str()) {
                ignored.push(format!("{}.opts.{key}", self.id));
            }
        }
        let text = |key: &str| -> Result<Option<String>, ExportError> {
            match self.opts.get(key) {
                None => Ok(None),
                Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
                Some(other) => Err(invalid(format!("opts.{key} must be a string, not {other}"))),
            }
        };
        let tenant = self
            .tenant
            .clone()
            .or_else(|| default_tenant.map(str::to_owned))
            .ok_or_else(|| invalid("no tenant: set `tenant`, or general.default_tenant".into()))?;
        let mut export_path = self.export_path.clone();
        if self.kind.is_s3() {
            if let Some(bucket) = text("s3BucketID")? {
                let folder = text("s3FolderPath")?.unwrap_or_default();
                export_path = format!("s3://{bucket}/{}", folder.trim_matches('/'));
            }
        }
        if self.kind.is_nats() {
            // CGrateS names the server in export_path and the subject in opts.
            if let Some(subject) = text("natsSubject")? {
                export_path = format!("{}/{subject}", export_path.trim_end_matches('/'));
            }
        }
        let attempts = super::attempts_given(self.attempts).map_err(invalid)?;
        let nats_jetstream = match self.opts.get("natsJetStream") {
            None => false,
            Some(serde_json::Value::Bool(b)) => *b,
            Some(other) => return Err(invalid(format!("opts.natsJetStream must be true or false, not {other}"))),
        };
        let header = match self.opts.get("csvHeader") {
            None => true,
            Some(serde_json::Value::Bool(b)) => *b,
            Some(other) => return Err(invalid(format!("opts.csvHeader must be true or false, not {other}"))),
        };
        let exporter = Exporter {
            id: self.id.clone(),
            kind: self.kind,
            export_path,
            filters: self.filters.clone(),
            fields: self.fields.clone(),
            field_separator: text("csvFieldSeparator")?.unwrap_or_else(|| ",".into()),
            header,
            schedule: self.schedule.clone(),
            declared: false,
            last_exported_order_id: 0,
            nats_jetstream,
            attempts,
        };
        Ok((tenant, exporter))
    }

    /// The definition of a stored exporter, in this shape.
    pub fn from_exporter(tenant: &str, e: &Exporter) -> Self {
        let mut opts = BTreeMap::new();
        opts.insert("csvFieldSeparator".into(), serde_json::Value::String(e.field_separator.clone()));
        opts.insert("csvHeader".into(), serde_json::Value::Bool(e.header));
        if e.kind.is_nats() {
            opts.insert("natsJetStream".into(), serde_json::Value::Bool(e.nats_jetstream));
        }
        Self {
            id: e.id.clone(),
            kind: e.kind,
            export_path: e.export_path.clone(),
            filters: e.filters.clone(),
            fields: e.fields.clone(),
            opts,
            tenant: Some(tenant.to_owned()),
            schedule: e.schedule.clone(),
            attempts: Some(i64::from(e.attempts)),
            other: BTreeMap::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nats_exporters_publish_plainly_unless_nats_jetstream_is_true() {
        let parse = |opts: serde_json::Value| {
            let c: ExporterConfig = serde_json::from_value(serde_json::json!({
                "id": "bus", "type": "*nats_json_map", "export_path": "nats://nats.example.com",
                "opts": opts, "tenant": "cgrates.org"}))
            .unwrap();
            c.to_exporter(None, &mut Vec::new()).map(|(_, e)| e.nats_jetstream)
        };
        assert!(!parse(serde_json::json!({"natsSubject": "cdrs"})).unwrap());
        assert!(parse(serde_json::json!({"natsSubject": "cdrs", "natsJetStream": true})).unwrap());
        assert!(parse(serde_json::json!({"natsSubject": "cdrs", "natsJetStream": "yes"})).is_err());
    }

    #[test]
    fn attempts_are_one_to_ten_and_three_when_not_given() {
        let attempts = |extra: serde_json::Value| {
            let mut json = serde_json::json!({"id": "h", "type": "*http_post", "tenant": "AC1",
                "export_path": "https://example.com/cdrs"});
            json.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            let c: ExporterConfig = serde_json::from_value(json).unwrap();
            c.to_exporter(None, &mut Vec::new()).map(|(_, e)| e.attempts)
        };
        assert_eq!(attempts(serde_json::json!({})).unwrap(), 3);
        assert_eq!(attempts(serde_json::json!({"attempts": 1})).unwrap(), 1);
        assert_eq!(attempts(serde_json::json!({"attempts": 10})).unwrap(), 10);
        for bad in [0, 11, -1, 1_i64 << 40] {
            assert!(attempts(serde_json::json!({"attempts": bad})).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_cgrates_exporter_definition_carries_over() {
        let json = serde_json::json!({
            "id": "csv_sms", "type": "*file_csv", "export_path": "/var/spool/cdrs",
            "filters": ["*string:~*req.ToR:*sms"], "synchronous": true, "attempts": 1,
            "opts": {"csvFieldSeparator": ";"},
            "fields": [
                {"tag": "CGRID", "path": "*exp.CGRID", "type": "*variable", "value": "~*req.CGRID"},
                {"tag": "Cost", "path": "*exp.Cost", "type": "*variable", "value": "~*req.Cost", "rounding_decimals": 4},
            ],
        });
        let config: ExporterConfig = serde_json::from_value(json).unwrap();
        let mut ignored = Vec::new();
        let (tenant, e) = config.to_exporter(Some("ACdefault"), &mut ignored).unwrap();
        assert_eq!(tenant, "ACdefault");
        assert_eq!((e.kind.as_str(), e.field_separator.as_str(), e.fields.len()), ("*file_csv", ";", 2));
        assert_eq!(ignored, ["csv_sms.synchronous"]);
    }

    #[test]
    fn an_s3_bucket_named_in_opts_becomes_the_export_path() {
        let json = serde_json::json!({"id": "s3", "type": "*s3_json_map", "tenant": "AC1",
            "opts": {"s3BucketID": "cdrs", "s3FolderPath": "/fleet/"}});
        let config: ExporterConfig = serde_json::from_value(json).unwrap();
        let (_, e) = config.to_exporter(None, &mut Vec::new()).unwrap();
        assert_eq!(e.export_path, "s3://cdrs/fleet");
    }

    #[test]
    fn a_nats_subject_named_in_opts_joins_the_server() {
        let json = serde_json::json!({"id": "n", "type": "*nats_json_map", "tenant": "AC1",
            "export_path": "nats://nats.example.com:4222", "opts": {"natsSubject": "cdrs.retail", "natsJetStream": true}});
        let config: ExporterConfig = serde_json::from_value(json).unwrap();
        let (_, e) = config.to_exporter(None, &mut Vec::new()).unwrap();
        assert_eq!(e.export_path, "nats://nats.example.com:4222/cdrs.retail");
        assert!(crate::cdr_export::check(&e).is_ok());
        assert!(e.nats_jetstream);
    }

    #[test]
    fn unknown_keys_and_a_missing_tenant_are_errors() {
        let typo: ExporterConfig =
            serde_json::from_value(serde_json::json!({"id": "a", "type": "*file_csv", "export_pth": "/tmp"})).unwrap();
        let err = typo.to_exporter(Some("AC1"), &mut Vec::new()).unwrap_err().to_string();
        assert!(err.contains("export_pth"), "{err}");
        let orphan: ExporterConfig =
            serde_json::from_value(serde_json::json!({"id": "a", "type": "*file_csv", "export_path": "/tmp"})).unwrap();
        assert!(orphan.to_exporter(None, &mut Vec::new()).unwrap_err().to_string().contains("no tenant"));
    }
}
