//! Where a tenant's own exporters may write: the operator's grant, never the tenant's choice.
//!
//! - Files go under `<root>/<tenant>/`: a relative `ExportPath` is taken inside it, an absolute
//!   one must already be inside it; `..` is refused, and the folder is resolved (symlinks
//!   followed) and checked again, so no link leads out.
//! - S3 locations must lie under a prefix the operator granted the tenant, with the
//!   credentials the operator chose for it (`--tenant-s3 AC…=s3://bucket/prefix@name`, see
//!   `s3_access`); without a grant a tenant has no S3 exporter.
//!
//! Exporters the operator declares (configuration file, loopback JSON-RPC) are not confined.
//! Online exporters (URLs, NATS servers) are held to the destination policy instead
//! (`online::check_destination`).

use std::path::{Component, Path, PathBuf};

use super::s3_access::{self, S3Credentials};
use super::{compile, s3_location, ExportError, Exporter, Store};

#[derive(Debug, Clone)]
pub struct ExportGrants {
    file_root: PathBuf,
    /// (tenant, `s3://bucket[/prefix]`).
    s3: Vec<(String, String)>,
}

impl ExportGrants {
    pub fn new(file_root: impl Into<PathBuf>) -> Self {
        Self { file_root: file_root.into(), s3: Vec::new() }
    }

    /// Lets `tenant` export under `location` (`s3://bucket[/prefix]`) with `credentials`,
    /// for every exporter of this process.
    pub fn allow_s3(mut self, tenant: &str, location: &str, credentials: S3Credentials) -> Result<Self, ExportError> {
        s3_location(location)?;
        s3_access::register(tenant, location, credentials);
        self.s3.push((tenant.to_owned(), location.trim_end_matches('/').to_owned()));
        Ok(self)
    }

    /// A grant as the operator writes it: `AC…=s3://bucket/prefix@credentials`.
    pub fn allow_s3_grant(self, grant: &str) -> Result<Self, ExportError> {
        let bad = || {
            ExportError::Invalid(format!(
                "S3 grant {grant:?} is not AC…=s3://bucket/prefix@credentials (a SIMLEDGER_S3_<NAME>_* set, or `process`)"
            ))
        };
        let (tenant, rest) = grant.split_once('=').ok_or_else(bad)?;
        let (location, name) = rest.rsplit_once('@').ok_or_else(bad)?;
        self.allow_s3(tenant.trim(), location.trim(), S3Credentials::by_name(name.trim())?)
    }

    /// The tenant's folder, created if missing.
    pub fn tenant_root(&self, tenant: &str) -> Result<PathBuf, ExportError> {
        if tenant.is_empty() || !tenant.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            return Err(ExportError::Invalid("this account cannot have file exporters".into()));
        }
        let root = self.file_root.join(tenant);
        std::fs::create_dir_all(&root).map_err(|e| {
            tracing::error!(root = %root.display(), error = %e, "cannot create a tenant's export folder");
            ExportError::Invalid("the export folder is not available; tell the operator".into())
        })?;
        Ok(root)
    }

    /// Checks `e` against what `tenant` was granted and rewrites a file exporter's path to the
    /// resolved folder inside the tenant's root.
    pub fn confine(&self, tenant: &str, e: &mut Exporter) -> Result<(), ExportError> {
        match compile(e)?.store {
            Store::File => {
                e.export_path = self.file_path(tenant, &e.export_path)?.display().to_string();
                Ok(())
            }
            Store::S3 => {
                let wanted = e.export_path.trim_end_matches('/');
                let granted = self.s3.iter().any(|(t, location)| t == tenant && s3_access::within(wanted, location));
                if granted {
                    Ok(())
                } else {
                    Err(ExportError::Invalid(format!(
                        "ExportPath {wanted} is not an S3 location the operator granted this account"
                    )))
                }
            }
            // Online exporters write nowhere of ours; the destination policy governs them.
            Store::Http | Store::Nats => Ok(()),
        }
    }

    fn file_path(&self, tenant: &str, given: &str) -> Result<PathBuf, ExportError> {
        let outside = || {
            ExportError::Invalid(
                "ExportPath must be a folder inside this account's export folder (a relative path, without ..)".into(),
            )
        };
        let root = self.tenant_root(tenant)?;
        let canonical_root = root.canonicalize().map_err(|_| outside())?;
        let given = Path::new(given);
        if given.components().any(|c| matches!(c, Component::ParentDir)) {
            return Err(outside());
        }
        let wanted = if given.is_absolute() {
            if !(given.starts_with(&root) || given.starts_with(&canonical_root)) {
                return Err(outside());
            }
            given.to_path_buf()
        } else {
            root.join(given)
        };
        // Before creating anything: the part that exists already must resolve inside the root
        // (creating through a link would make folders outside it).
        let mut existing = wanted.as_path();
        while !existing.exists() {
            existing = existing.parent().ok_or_else(outside)?;
        }
        if !existing.canonicalize().map_err(|_| outside())?.starts_with(&canonical_root) {
            return Err(outside());
        }
        std::fs::create_dir_all(&wanted).map_err(|_| outside())?;
        let resolved = wanted.canonicalize().map_err(|_| outside())?;
        if !resolved.starts_with(&canonical_root) {
            return Err(outside());
        }
        Ok(resolved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cdr_export::ExporterKind;

    fn root() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("simledger-grants-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_customer_cannot_write_an_export_outside_its_root() {
        let base = root();
        let grants = ExportGrants::new(base.join("tenants"));
        let outside = base.join("elsewhere");
        std::fs::create_dir_all(&outside).unwrap();
        let tenant_root = grants.tenant_root("ACa").unwrap();
        std::os::unix::fs::symlink(&outside, tenant_root.join("link")).unwrap();
        for path in [
            "/etc",
            "/tmp",
            outside.to_str().unwrap(),
            "../ACb",
            "daily/../../ACb",
            "link",
            "link/deeper",
            base.join("tenants/ACb").to_str().unwrap(),
        ] {
            let mut e = Exporter::new("x", ExporterKind::FileCsv, path);
            assert!(grants.confine("ACa", &mut e).is_err(), "{path} was let through");
        }
        assert!(std::fs::read_dir(&outside).unwrap().next().is_none(), "nothing was created outside");
        let mut ok = Exporter::new("x", ExporterKind::FileCsv, "daily/sms");
        grants.confine("ACa", &mut ok).unwrap();
        assert!(Path::new(&ok.export_path).starts_with(tenant_root.canonicalize().unwrap()));
        let mut inside = Exporter::new("x", ExporterKind::FileCsv, tenant_root.join("abs").to_str().unwrap());
        assert!(grants.confine("ACa", &mut inside).is_ok());
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn s3_locations_need_the_operators_grant() {
        let grants = ExportGrants::new(root()).allow_s3("ACa", "s3://cdrs/ACa", super::S3Credentials::Process).unwrap();
        let ok = |path: &str, tenant: &str| {
            grants.confine(tenant, &mut Exporter::new("x", ExporterKind::S3Csv, path)).is_ok()
        };
        assert!(ok("s3://cdrs/ACa", "ACa"));
        assert!(ok("s3://cdrs/ACa/daily", "ACa"));
        assert!(!ok("s3://cdrs/ACab", "ACa"), "a prefix is a folder, not a string prefix");
        assert!(!ok("s3://cdrs", "ACa"));
        assert!(!ok("s3://other/ACa", "ACa"));
        assert!(!ok("s3://cdrs/ACa", "ACb"), "another tenant's grant is not this one's");
    }
}
