//! The configuration file (`--config FILE` / `SIMLEDGER_CONFIG`), TOML or JSON, in CGrateS's
//! shape so a CGrateS user's `cgrates.json` sections carry over:
//!
//! ```json
//! {
//!   "general": {"default_tenant": "AC…"},
//!   "ees": {"exporters": [{
//!     "id": "sms_csv", "type": "*file_csv", "export_path": "/var/spool/cdrs",
//!     "filters": ["*string:~*req.ToR:*sms"], "opts": {"csvFieldSeparator": ";"},
//!     "schedule": "*hourly",
//!     "fields": [{"tag": "CGRID", "path": "*exp.CGRID", "type": "*variable", "value": "~*req.CGRID"}]
//!   }]}
//! }
//! ```
//!
//! Sections other than `general` and `ees`, and `general` keys other than `default_tenant`, are
//! CGrateS settings simledger has no use for: they are logged as ignored, not refused, so a
//! whole `cgrates.json` loads.

use std::path::Path;

use anyhow::Context;
use serde_json::Value;
use simledger_exporters::cdr_export::config::EesConfig;
use simledger_exporters::cdr_export::Exporter;

#[derive(Debug, Default)]
pub struct ConfigFile {
    /// CGrateS's `general.default_tenant`: the tenant JSON-RPC calls act on when they name none.
    pub default_tenant: Option<String>,
    pub ees: EesConfig,
    /// Keys read but meaningless here, for the log.
    pub ignored: Vec<String>,
}

impl ConfigFile {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let value: Value = if path.extension().is_some_and(|e| e == "toml") {
            toml::from_str(&text).with_context(|| format!("{} is not valid TOML", path.display()))?
        } else {
            serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))?
        };
        Self::from_value(value).with_context(|| format!("in {}", path.display()))
    }

    pub fn from_value(value: Value) -> anyhow::Result<Self> {
        let Value::Object(sections) = value else { anyhow::bail!("the configuration is not an object of sections") };
        let mut config = ConfigFile::default();
        for (name, section) in sections {
            match name.as_str() {
                "general" => {
                    let Value::Object(general) = section else { anyhow::bail!("general is not an object") };
                    for (key, v) in general {
                        match (key.as_str(), v) {
                            ("default_tenant", Value::String(t)) => config.default_tenant = Some(t),
                            ("default_tenant", other) => anyhow::bail!("general.default_tenant is not text: {other}"),
                            (other, _) => config.ignored.push(format!("general.{other}")),
                        }
                    }
                }
                "ees" => {
                    let mut ees = section;
                    // CGrateS's `ees.enabled` and friends: only `exporters` matters here.
                    if let Value::Object(map) = &mut ees {
                        let extra: Vec<String> = map.keys().filter(|k| k.as_str() != "exporters").cloned().collect();
                        for key in extra {
                            map.remove(&key);
                            config.ignored.push(format!("ees.{key}"));
                        }
                    }
                    config.ees = serde_json::from_value(ees).context("ees")?;
                }
                other => config.ignored.push(other.to_owned()),
            }
        }
        Ok(config)
    }

    /// The declared exporters with their tenants, checked for shape (paths are checked when
    /// they are stored).
    /// The exporters the file declares: the operator's, exporting every tenant's CDRs, or one
    /// tenant's where an exporter names its `tenant`.
    pub fn exporters(&mut self) -> anyhow::Result<Vec<(String, Exporter)>> {
        let mut out = Vec::new();
        for e in &self.ees.exporters {
            let operator = Some(simledger_exporters::cdr_export::OPERATOR);
            let (tenant, mut exporter) = e.to_exporter(operator, &mut self.ignored)?;
            exporter.declared = true;
            out.push((tenant, exporter));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cgrates_json_loads_with_what_simledger_ignores_named() {
        let mut c = ConfigFile::from_value(serde_json::json!({
            "general": {"default_tenant": "AC1", "node_id": "x"},
            "listen": {"rpc_json": ":2012"},
            "ees": {"enabled": true, "exporters": [{"id": "e", "type": "*file_csv", "export_path": "/tmp"}]},
        }))
        .unwrap();
        assert_eq!(c.default_tenant.as_deref(), Some("AC1"));
        let exporters = c.exporters().unwrap();
        assert_eq!((exporters[0].0.as_str(), exporters[0].1.declared), ("*operator", true), "the operator's");
        assert_eq!(c.ignored, ["ees.enabled", "general.node_id", "listen"]);
    }

    #[test]
    fn toml_reads_the_same_shape() {
        let text = r#"
            [general]
            default_tenant = "AC1"
            [[ees.exporters]]
            id = "hourly"
            type = "*file_json"
            export_path = "/tmp"
            schedule = "*hourly"
        "#;
        let value: Value = toml::from_str(text).unwrap();
        let mut c = ConfigFile::from_value(value).unwrap();
        let (_, e) = c.exporters().unwrap().remove(0);
        assert_eq!((e.kind.as_str(), e.schedule.as_deref()), ("*file_json", Some("*hourly")));
    }
}
