//! Calls to customers' URLs — SMS Command callbacks and billing's `*http_post` — queued per
//! tenant and made by a worker per tenant, so that one tenant's dead endpoint delays only that
//! tenant's calls.
//!
//! - **Queued once.** The subscribers that decide a call ([`crate::callbacks`],
//!   [`crate::billing_posts`]) write it to `outbound_calls` in the transaction that moves their
//!   checkpoint, keyed by (event, kind): a batch applied again queues nothing twice.
//! - **Made at least once.** A worker leases a call (moves its `next_attempt_at` ahead), makes
//!   it with no database connection held, and deletes it when it is accepted (2xx). A process
//!   that dies mid-call leaves the lease to expire, and the call is made again; the
//!   `X-Simledger-Event-Id` header lets the receiver drop a repeat.
//! - **Per tenant.** Each tenant with calls due has a task of its own that makes its calls one
//!   at a time in queue order (a retried call goes after the ones due before it); at most
//!   [`MAX_TENANTS`] run at once, the longest waiting first. A call that fails is tried again
//!   after each pause of the backoff, then given up and counted; a tenant has at most
//!   [`MAX_QUEUED_PER_TENANT`] calls waiting.
//! - **Signed with the tenant's own secret, over the URL and the body.** SMS callbacks carry
//!   Twilio's `X-Twilio-Signature` (HMAC-SHA1 under the account's auth token of the URL and the
//!   sorted form parameters), as Twilio's own do. `*http_post` requests carry
//!   `X-Simledger-Signature: v1=<hex HMAC-SHA256(key, "<timestamp>.<url>.<body>")>` with
//!   `X-Simledger-Timestamp`, the key being the account's auth token (the deployment secret for
//!   a tenant that is not an account, such as the operator's CGrateS tenant).

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::Sha256;
use simledger_commands::{Accounts, RequestSigner};
use simledger_outbound::{DestinationPolicy, OutboundClient};
use sqlx::{PgConnection, PgPool};
use tokio::task::JoinHandle;

/// Tenants whose calls are made at once.
pub const MAX_TENANTS: usize = 64;

/// What a queued call is for; it decides the signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    /// An SMS Command's status callback or an MO SMS to a fleet's `SmsCommandsUrl`.
    SmsCallback,
    /// Billing's `*http_post`.
    HttpPost,
}

impl CallKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::SmsCallback => "sms_callback",
            Self::HttpPost => "http_post",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "sms_callback" => Some(Self::SmsCallback),
            "http_post" => Some(Self::HttpPost),
            _ => None,
        }
    }
}

/// A call to make for a tenant.
#[derive(Debug, Clone)]
pub struct OutboundCall {
    pub tenant: String,
    pub event_id: uuid::Uuid,
    pub kind: CallKind,
    /// `GET` (parameters in the URL) or `POST`.
    pub method: reqwest::Method,
    pub url: String,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl OutboundCall {
    /// A Twilio-style callback: form parameters in the query of a `GET`, or as a form `POST`.
    pub fn form(tenant: &str, event_id: uuid::Uuid, url: &str, method: &str, params: &[(&str, String)]) -> Self {
        let encoded = form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish();
        let get = method.eq_ignore_ascii_case("GET");
        let url = match (get, url.contains('?')) {
            (false, _) => url.to_owned(),
            (true, false) => format!("{url}?{encoded}"),
            (true, true) => format!("{url}&{encoded}"),
        };
        Self {
            tenant: tenant.to_owned(),
            event_id,
            kind: CallKind::SmsCallback,
            method: if get { reqwest::Method::GET } else { reqwest::Method::POST },
            url,
            content_type: "application/x-www-form-urlencoded",
            body: if get { Vec::new() } else { encoded.into_bytes() },
        }
    }
}

/// Calls one tenant may have waiting; past it, new ones are dropped and counted
/// (`simledger_outbound_calls_dropped_total`), so a tenant whose endpoint never answers cannot
/// grow the queue without bound.
pub const MAX_QUEUED_PER_TENANT: i64 = 10_000;

/// Queues `call` in the caller's transaction; a call already queued for its event is kept.
pub async fn enqueue(tx: &mut PgConnection, call: &OutboundCall) -> sqlx::Result<()> {
    let queued: i64 =
        sqlx::query_scalar("SELECT count(*) FROM (SELECT 1 FROM outbound_calls WHERE tenant = $1 LIMIT $2) AS q")
            .bind(&call.tenant)
            .bind(MAX_QUEUED_PER_TENANT)
            .fetch_one(&mut *tx)
            .await?;
    if queued >= MAX_QUEUED_PER_TENANT {
        tracing::warn!(tenant = %call.tenant, event_id = %call.event_id, "outbound call dropped: the tenant's queue is full");
        metrics::counter!("simledger_outbound_calls_dropped_total", "kind" => call.kind.as_str()).increment(1);
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO outbound_calls (tenant, event_id, kind, method, url, content_type, body) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (event_id, kind) DO NOTHING",
    )
    .bind(&call.tenant)
    .bind(call.event_id)
    .bind(call.kind.as_str())
    .bind(call.method.as_str())
    .bind(&call.url)
    .bind(call.content_type)
    .bind(&call.body)
    .execute(tx)
    .await?;
    Ok(())
}

/// Makes the queued calls.
#[derive(Clone)]
pub struct Deliverer {
    pool: PgPool,
    http: OutboundClient,
    accounts: Accounts,
    /// Signs `*http_post` for tenants that are not accounts.
    deployment_key: Vec<u8>,
    /// Pauses after each failed attempt; past the last, the call is given up.
    pub backoff: Vec<Duration>,
    /// How long a worker owns a call it is making before another may make it again.
    pub lease: Duration,
    /// How often the queue is looked at for tenants with calls due.
    pub poll: Duration,
}

impl Deliverer {
    pub fn new(
        pool: PgPool,
        policy: DestinationPolicy,
        accounts: Accounts,
        deployment_key: impl Into<Vec<u8>>,
    ) -> Self {
        let deployment_key = deployment_key.into();
        assert!(!deployment_key.is_empty(), "the deployment secret must not be empty");
        Self {
            pool,
            http: policy.client(Duration::from_secs(5)),
            accounts,
            deployment_key,
            backoff: vec![Duration::from_millis(200), Duration::from_secs(1), Duration::from_secs(5)],
            lease: Duration::from_secs(15),
            poll: Duration::from_millis(100),
        }
    }

    /// Runs for ever: a task per tenant with calls due, at most [`MAX_TENANTS`] at once.
    pub async fn run(self) {
        let mut running: HashMap<String, JoinHandle<()>> = HashMap::new();
        loop {
            running.retain(|_, task| !task.is_finished());
            let free = MAX_TENANTS.saturating_sub(running.len());
            if free > 0 {
                match self.tenants_due(&running, free).await {
                    Ok(tenants) => {
                        for tenant in tenants {
                            let this = self.clone();
                            let task = tokio::spawn({
                                let tenant = tenant.clone();
                                async move { this.drain(&tenant).await }
                            });
                            running.insert(tenant, task);
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "reading the outbound call queue"),
                }
            }
            tokio::time::sleep(self.poll).await;
        }
    }

    async fn tenants_due(&self, running: &HashMap<String, JoinHandle<()>>, limit: usize) -> sqlx::Result<Vec<String>> {
        let busy: Vec<&String> = running.keys().collect();
        sqlx::query_scalar(
            "SELECT tenant FROM outbound_calls WHERE next_attempt_at <= now() AND NOT tenant = ANY($1) \
             GROUP BY tenant ORDER BY min(next_attempt_at) LIMIT $2",
        )
        .bind(busy)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await
    }

    /// Makes `tenant`'s due calls, one at a time, until none is due.
    async fn drain(&self, tenant: &str) {
        // Who signs the tenant's calls, looked up once for all its calls of this round.
        let signer = match self.accounts.request_signer(tenant).await {
            Ok(signer) => signer,
            Err(e) => {
                tracing::warn!(tenant, error = %e, "reading the tenant's signing token; its calls wait");
                return;
            }
        };
        loop {
            match self.lease_next(tenant).await {
                Ok(Some(call)) => self.attempt(call, &signer).await,
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(tenant, error = %e, "leasing an outbound call");
                    return;
                }
            }
        }
    }

    async fn lease_next(&self, tenant: &str) -> sqlx::Result<Option<Leased>> {
        sqlx::query_as(
            "UPDATE outbound_calls SET next_attempt_at = now() + make_interval(secs => $2), attempts = attempts + 1 \
             WHERE id = (SELECT id FROM outbound_calls WHERE tenant = $1 AND next_attempt_at <= now() \
                         ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) \
             RETURNING id, tenant, event_id, kind, method, url, content_type, body, attempts",
        )
        .bind(tenant)
        .bind(self.lease.as_secs_f64())
        .fetch_optional(&self.pool)
        .await
    }

    async fn attempt(&self, call: Leased, signer: &RequestSigner) {
        // The query of a customer's URL may hold a secret: logs name the URL without it.
        let shown = call.url.split('?').next().unwrap_or_default().to_owned();
        // Attempts are counted when leased, so a call whose attempts kill the worker ends too.
        let outcome = if call.attempts as usize > self.backoff.len() + 1 {
            Err(Failure::Failed("its attempts ended without an answer".into()))
        } else {
            self.send(&call, signer).await
        };
        let done = match &outcome {
            Ok(()) => true,
            Err(Failure::Refused(e)) => {
                tracing::warn!(tenant = %call.tenant, url = %shown, error = %e, "outbound call refused by the destination policy");
                metrics::counter!("simledger_outbound_calls_refused_total", "kind" => call.kind.clone()).increment(1);
                true
            }
            Err(Failure::Failed(reason)) => {
                let attempts = call.attempts as usize;
                match self.backoff.get(attempts.saturating_sub(1)).filter(|_| attempts <= self.backoff.len()) {
                    Some(pause) => {
                        tracing::debug!(tenant = %call.tenant, url = %shown, attempts, %reason, "outbound call failed; will retry");
                        let again = sqlx::query(
                            "UPDATE outbound_calls SET next_attempt_at = now() + make_interval(secs => $2) WHERE id = $1",
                        )
                        .bind(call.id)
                        .bind(pause.as_secs_f64())
                        .execute(&self.pool)
                        .await;
                        if let Err(e) = again {
                            tracing::warn!(error = %e, "rescheduling an outbound call; its lease will bring it back");
                        }
                        false
                    }
                    None => {
                        tracing::warn!(tenant = %call.tenant, url = %shown, attempts, %reason, "outbound call given up after retries");
                        metrics::counter!("simledger_outbound_calls_failed_total", "kind" => call.kind.clone())
                            .increment(1);
                        true
                    }
                }
            }
        };
        if done {
            if let Err(e) =
                sqlx::query("DELETE FROM outbound_calls WHERE id = $1").bind(call.id).execute(&self.pool).await
            {
                tracing::warn!(error = %e, "removing a made call; it will be made again when its lease ends");
            }
        }
    }

    async fn send(&self, call: &Leased, signer: &RequestSigner) -> Result<(), Failure> {
        let method =
            reqwest::Method::from_bytes(call.method.as_bytes()).map_err(|e| Failure::Refused(e.to_string()))?;
        let mut request = self
            .http
            .request(method.clone(), &call.url)
            .map_err(|e| Failure::Refused(e.to_string()))?
            .header("X-Simledger-Event-Id", call.event_id.to_string());
        match CallKind::parse(&call.kind) {
            Some(CallKind::SmsCallback) => {
                if let RequestSigner::Account(token) = signer {
                    let params: Vec<(String, String)> = form_urlencoded::parse(&call.body).into_owned().collect();
                    request = request.header("X-Twilio-Signature", twilio_form_signature(token, &call.url, &params));
                }
            }
            Some(CallKind::HttpPost) => {
                let key = signer
                    .key(&self.deployment_key)
                    .ok_or_else(|| Failure::Refused(simledger_commands::UNSIGNABLE.into()))?;
                let timestamp = chrono::Utc::now().timestamp().to_string();
                request = request
                    .header("X-Simledger-Timestamp", &timestamp)
                    .header("X-Simledger-Signature", http_post_signature(key, &timestamp, &call.url, &call.body));
            }
            None => return Err(Failure::Refused(format!("unknown call kind {:?}", call.kind))),
        }
        if method != reqwest::Method::GET {
            request = request.header(reqwest::header::CONTENT_TYPE, &call.content_type).body(call.body.clone());
        }
        match request.send().await {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(Failure::Failed(format!("answered {}", r.status()))),
            Err(e) if e.is_timeout() => Err(Failure::Failed("no answer in time".into())),
            Err(_) => Err(Failure::Failed("could not connect".into())),
        }
    }
}

enum Failure {
    /// Not to be tried again (the destination policy refuses the URL).
    Refused(String),
    Failed(String),
}

#[derive(sqlx::FromRow)]
struct Leased {
    id: i64,
    tenant: String,
    event_id: uuid::Uuid,
    kind: String,
    method: String,
    url: String,
    content_type: String,
    body: Vec<u8>,
    attempts: i32,
}

/// Runs `deliverer` for ever.
pub fn spawn(deliverer: Deliverer) -> JoinHandle<()> {
    tokio::spawn(deliverer.run())
}

/// Twilio's `X-Twilio-Signature` of a request to `url` with form parameters `params`: base64 of
/// HMAC-SHA1 under the auth token of the URL followed by each parameter's name and value,
/// sorted by name.
pub fn twilio_form_signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut mac = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(url.as_bytes());
    for (k, v) in sorted {
        mac.update(k.as_bytes());
        mac.update(v.as_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// `v1=` and the hex HMAC-SHA256 of `"<timestamp>.<url>.<body>"` under `key`.
pub fn http_post_signature(key: &[u8], timestamp: &str, url: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(url.as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_twilio_signature_matches_twilios_documented_example() {
        // Twilio's documented validation example (auth token, URL, parameters, signature).
        let params: Vec<(String, String)> = [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        assert_eq!(twilio_form_signature("12345", url, &params), "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
    }

    #[test]
    fn the_http_post_signature_covers_the_url() {
        let a = http_post_signature(b"k", "1", "https://a.example/x", b"{}");
        assert_ne!(a, http_post_signature(b"k", "1", "https://b.example/x", b"{}"));
        assert_ne!(a, http_post_signature(b"k2", "1", "https://a.example/x", b"{}"));
        assert!(a.starts_with("v1="));
    }
}
