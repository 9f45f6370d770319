//! Kinesis sinks: `PutRecords` in batches, one CloudEvent JSON per record, the SIM's SID as the
//! partition key (so one SIM's events stay in one shard, in order).
//!
//! Requests are signed with SigV4 (`aws-sigv4`, the AWS SDK for Rust's signer) over the one
//! HTTP stack the platform already has. Credentials: the deployment's, from the standard AWS
//! environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), used only to
//! assume the customer's `role_arn` with its `external_id` (STS `AssumeRole`): a customer's
//! stream is written with the rights the customer granted, never with the deployment's own.
//! Endpoints: `AWS_ENDPOINT_URL_KINESIS` / `AWS_ENDPOINT_URL_STS`, else `AWS_ENDPOINT_URL`, else
//! AWS's regional endpoints for the stream's region.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use base64::Engine;
use simledger_eventlog::catalog::KinesisSink;

use super::DeliveryError;

/// Kinesis's limits on one `PutRecords` call.
pub const MAX_RECORDS: usize = 500;
pub const MAX_REQUEST_BYTES: usize = 5 * 1024 * 1024;

/// What the deployment's environment says about AWS.
#[derive(Debug, Clone, Default)]
pub struct AwsEnvironment {
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    session_token: Option<String>,
    kinesis_endpoint: Option<String>,
    sts_endpoint: Option<String>,
}

impl AwsEnvironment {
    pub fn from_env() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let general = var("AWS_ENDPOINT_URL");
        Self {
            access_key_id: var("AWS_ACCESS_KEY_ID"),
            secret_access_key: var("AWS_SECRET_ACCESS_KEY"),
            session_token: var("AWS_SESSION_TOKEN"),
            kinesis_endpoint: var("AWS_ENDPOINT_URL_KINESIS").or(general.clone()),
            sts_endpoint: var("AWS_ENDPOINT_URL_STS").or(general),
        }
    }
}

#[derive(Debug, Clone)]
struct Keys {
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
}

pub struct KinesisClient {
    http: reqwest::Client,
    env: AwsEnvironment,
    /// Assumed-role credentials by (role ARN, external ID), until shortly before they expire.
    assumed: Mutex<HashMap<(String, String), (Keys, Instant)>>,
}

/// How long assumed credentials are used: STS issues them for an hour.
const ASSUMED_FOR: Duration = Duration::from_secs(50 * 60);

impl KinesisClient {
    pub fn new(env: AwsEnvironment) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client");
        Self { http, env, assumed: Mutex::default() }
    }

    fn deployment_keys(&self) -> Result<Keys, DeliveryError> {
        match (&self.env.access_key_id, &self.env.secret_access_key) {
            (Some(id), Some(secret)) => Ok(Keys {
                access_key_id: id.clone(),
                secret_access_key: secret.clone(),
                session_token: self.env.session_token.clone(),
            }),
            _ => {
                Err(DeliveryError::Transport("the deployment has no AWS credentials to assume the sink's role".into()))
            }
        }
    }

    /// Writes `records` (partition key, data) to the sink's stream. Returns, per record,
    /// whether Kinesis took it (a `PutRecords` call can take some and refuse others).
    pub async fn put_records(
        &self,
        sink: &KinesisSink,
        records: &[(String, Vec<u8>)],
    ) -> Result<Vec<bool>, DeliveryError> {
        let (region, stream) = simledger_commands::parse_kinesis_arn(&sink.arn)
            .map_err(|_| DeliveryError::Refused("the stream ARN is not valid".into()))?;
        let keys = self.role_keys(sink, region).await?;
        let b64 = base64::engine::general_purpose::STANDARD;
        let body = serde_json::json!({
            "StreamName": stream,
            "Records": records.iter().map(|(key, data)| serde_json::json!({
                "PartitionKey": key,
                "Data": b64.encode(data),
            })).collect::<Vec<_>>(),
        });
        let body = serde_json::to_vec(&body).expect("JSON");
        let endpoint =
            self.env.kinesis_endpoint.clone().unwrap_or_else(|| format!("https://kinesis.{region}.amazonaws.com"));
        let headers = [("content-type", "application/x-amz-json-1.1"), ("x-amz-target", "Kinesis_20131202.PutRecords")];
        let reply = self.signed_post(&endpoint, "kinesis", region, &keys, &headers, body).await?;
        let reply: serde_json::Value =
            serde_json::from_slice(&reply).map_err(|_| DeliveryError::Transport("Kinesis answered no JSON".into()))?;
        let results = reply["Records"]
            .as_array()
            .ok_or_else(|| DeliveryError::Transport("Kinesis answered no Records".into()))?;
        if results.len() != records.len() {
            return Err(DeliveryError::Transport("Kinesis answered for a different number of records".into()));
        }
        Ok(results.iter().map(|r| r.get("ErrorCode").is_none_or(|c| c.is_null())).collect())
    }

    /// Credentials for the sink's role, assumed with its external ID (cached).
    async fn role_keys(&self, sink: &KinesisSink, region: &str) -> Result<Keys, DeliveryError> {
        let key = (sink.role_arn.clone(), sink.external_id.clone());
        if let Some((keys, at)) = self.assumed.lock().expect("lock").get(&key) {
            if at.elapsed() < ASSUMED_FOR {
                return Ok(keys.clone());
            }
        }
        let deployment = self.deployment_keys()?;
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("Action", "AssumeRole")
            .append_pair("Version", "2011-06-15")
            .append_pair("RoleArn", &sink.role_arn)
            .append_pair("RoleSessionName", "simledger-event-streams")
            .append_pair("ExternalId", &sink.external_id)
            .append_pair("DurationSeconds", "3600")
            .finish();
        let endpoint = self.env.sts_endpoint.clone().unwrap_or_else(|| format!("https://sts.{region}.amazonaws.com"));
        let headers = [("content-type", "application/x-www-form-urlencoded")];
        let reply = self.signed_post(&endpoint, "sts", region, &deployment, &headers, form.into_bytes()).await?;
        let xml = String::from_utf8_lossy(&reply);
        let tag = |name: &str| -> Option<String> {
            let open = format!("<{name}>");
            let start = xml.find(&open)? + open.len();
            let end = xml[start..].find(&format!("</{name}>"))? + start;
            Some(xml[start..end].trim().to_owned())
        };
        let keys = match (tag("AccessKeyId"), tag("SecretAccessKey")) {
            (Some(access_key_id), Some(secret_access_key)) => {
                Keys { access_key_id, secret_access_key, session_token: tag("SessionToken") }
            }
            _ => return Err(DeliveryError::Transport("could not assume the sink's role".into())),
        };
        self.assumed.lock().expect("lock").insert(key, (keys.clone(), Instant::now()));
        Ok(keys)
    }

    async fn signed_post(
        &self,
        endpoint: &str,
        service: &str,
        region: &str,
        keys: &Keys,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<Vec<u8>, DeliveryError> {
        let url = format!("{}/", endpoint.trim_end_matches('/'));
        let identity = Credentials::new(
            &keys.access_key_id,
            &keys.secret_access_key,
            keys.session_token.clone(),
            None,
            "simledger",
        )
        .into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name(service)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|_| DeliveryError::Transport("could not sign the request".into()))?
            .into();
        let signable = SignableRequest::new("POST", url.as_str(), headers.iter().copied(), SignableBody::Bytes(&body))
            .map_err(|_| DeliveryError::Transport("could not sign the request".into()))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|_| DeliveryError::Transport("could not sign the request".into()))?
            .into_parts();
        let mut request = self.http.post(&url).body(body);
        for (name, value) in headers.iter().copied().chain(instructions.headers()) {
            request = request.header(name, value);
        }
        let reply = request.send().await.map_err(|e| {
            DeliveryError::Transport(
                if e.is_timeout() { "AWS did not answer in time" } else { "could not reach AWS" }.into(),
            )
        })?;
        let status = reply.status();
        let bytes = reply.bytes().await.map_err(|_| DeliveryError::Transport("AWS's answer was cut short".into()))?;
        if !status.is_success() {
            tracing::debug!(service, status = %status, body = %String::from_utf8_lossy(&bytes), "AWS refused a request");
            return Err(DeliveryError::Status(status.as_u16()));
        }
        Ok(bytes.to_vec())
    }
}

/// Splits records, given as (partition key, data) sizes, into `PutRecords` calls within
/// Kinesis's limits.
pub fn calls(records: &[(usize, usize)]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, (key, data)) in records.iter().enumerate() {
        let size = key + data * 4 / 3 + 64;
        if i > start && (i - start == MAX_RECORDS || bytes + size > MAX_REQUEST_BYTES) {
            out.push(start..i);
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    if start < records.len() {
        out.push(start..records.len());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_hold_at_most_500_records() {
        let records: Vec<(usize, usize)> = (0..1201).map(|_| (34, 100)).collect();
        let calls = calls(&records);
        assert_eq!(calls.iter().map(|r| r.len()).collect::<Vec<_>>(), vec![500, 500, 201]);
    }
}
