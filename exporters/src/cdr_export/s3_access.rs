//! Which credentials an S3 export writes with — the operator's choice, per tenant.
//!
//! - An exporter the operator declared writes with the process's own credentials (the standard
//!   `AWS_*` environment).
//! - A tenant's own exporter writes only with the credentials the operator named in that
//!   tenant's grant (`--tenant-s3 AC…=s3://bucket/prefix@name`): the set `name` read from
//!   `SIMLEDGER_S3_<NAME>_ACCESS_KEY_ID`, `_SECRET_ACCESS_KEY` and optionally `_SESSION_TOKEN`,
//!   `_REGION`, `_ENDPOINT`, `_ALLOW_HTTP`; or, written `@process`, the process's own, when
//!   the operator says so. Outside a grant there are no credentials at all.
//!
//! Grants are registered once per process at start-up; every path that writes to S3 (runs,
//! schedules, billing's `*export`) looks them up here.

use std::sync::RwLock;

use object_store::aws::{AmazonS3, AmazonS3Builder};

use super::{ExportError, Exporter};

/// Credentials an S3 export may use.
#[derive(Clone, PartialEq, Eq)]
pub enum S3Credentials {
    /// The process's own (`AWS_*`), by the operator's explicit choice.
    Process,
    /// A named set from `SIMLEDGER_S3_<NAME>_*`.
    Named {
        name: String,
        access_key_id: String,
        secret_access_key: String,
        session_token: Option<String>,
        region: Option<String>,
        endpoint: Option<String>,
        allow_http: bool,
    },
}

impl std::fmt::Debug for S3Credentials {
    // Never the keys.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Process => f.write_str("S3Credentials::Process"),
            Self::Named { name, .. } => write!(f, "S3Credentials::Named({name})"),
        }
    }
}

impl S3Credentials {
    /// `process`, or the set `name` from the environment; a set missing its keys is refused.
    pub fn by_name(name: &str) -> Result<Self, ExportError> {
        if name == "process" {
            return Ok(Self::Process);
        }
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(ExportError::Invalid(format!("S3 credentials name {name:?} must be letters, digits and _")));
        }
        let var = |field: &str| {
            std::env::var(format!("SIMLEDGER_S3_{}_{field}", name.to_ascii_uppercase())).ok().filter(|v| !v.is_empty())
        };
        let missing = |field: &str| {
            ExportError::Invalid(format!(
                "S3 credentials {name}: SIMLEDGER_S3_{}_{field} is not set",
                name.to_ascii_uppercase()
            ))
        };
        Ok(Self::Named {
            name: name.to_owned(),
            access_key_id: var("ACCESS_KEY_ID").ok_or_else(|| missing("ACCESS_KEY_ID"))?,
            secret_access_key: var("SECRET_ACCESS_KEY").ok_or_else(|| missing("SECRET_ACCESS_KEY"))?,
            session_token: var("SESSION_TOKEN"),
            region: var("REGION"),
            endpoint: var("ENDPOINT"),
            allow_http: var("ALLOW_HTTP").is_some_and(|v| v == "true" || v == "1"),
        })
    }

    fn builder(&self) -> AmazonS3Builder {
        match self {
            Self::Process => AmazonS3Builder::from_env(),
            Self::Named { access_key_id, secret_access_key, session_token, region, endpoint, allow_http, .. } => {
                // Nothing from the process's environment: only what the operator named.
                let mut b = AmazonS3Builder::new()
                    .with_access_key_id(access_key_id)
                    .with_secret_access_key(secret_access_key)
                    .with_region(region.as_deref().unwrap_or("us-east-1"))
                    .with_allow_http(*allow_http);
                if let Some(t) = session_token {
                    b = b.with_token(t);
                }
                if let Some(e) = endpoint {
                    b = b.with_endpoint(e);
                }
                b
            }
        }
    }
}

/// (tenant, `s3://bucket[/prefix]`, credentials), for every grant of this process.
static GRANTS: RwLock<Vec<(String, String, S3Credentials)>> = RwLock::new(Vec::new());

/// Registers a grant: `tenant`'s exporters may write under `location` with `credentials`.
pub fn register(tenant: &str, location: &str, credentials: S3Credentials) {
    let mut grants = GRANTS.write().expect("grants lock");
    let entry = (tenant.to_owned(), location.trim_end_matches('/').to_owned(), credentials);
    if !grants.contains(&entry) {
        grants.push(entry);
    }
}

/// Whether `wanted` lies under `location`.
pub(crate) fn within(wanted: &str, location: &str) -> bool {
    wanted.trim_end_matches('/').strip_prefix(location).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// The store `e` writes to in `bucket`, with the credentials its tenant was granted.
pub(crate) fn store(tenant: &str, e: &Exporter, bucket: &str) -> Result<AmazonS3, ExportError> {
    let credentials = if e.declared {
        S3Credentials::Process
    } else {
        GRANTS
            .read()
            .expect("grants lock")
            .iter()
            .find(|(t, location, _)| t == tenant && within(&e.export_path, location))
            .map(|(_, _, c)| c.clone())
            .ok_or_else(|| {
                ExportError::Invalid(format!(
                    "ExportPath {} is not an S3 location the operator granted this account",
                    e.export_path
                ))
            })?
    };
    Ok(credentials.builder().with_bucket_name(bucket).build()?)
}
