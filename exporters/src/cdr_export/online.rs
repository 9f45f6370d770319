//! Online exporters, CGrateS's EEs that post each CDR as it is closed instead of writing files:
//! `*http_post` (a form per CDR), `*http_json_map` (a JSON map per CDR) and `*nats_json_map`
//! (a NATS message per CDR: plain, as CGrateS by default, or through JetStream).
//!
//! - **In order, at least once, none skipped.** An exporter sends the range its cursor plans
//!   (the same `last_exported_order_id` and pending range as file exports, at most [`BATCH`]
//!   CDRs at a time). After each CDR is accepted the pending range starts past it, and the
//!   cursor moves once the range is done, so a kill repeats at most the CDR in flight. A CDR
//!   not accepted after its attempts stops its exporter, never skipped: the exporter is tried
//!   again after a pause that grows to [`OnlineSettings::max_backoff`].
//! - **Duplicates can be dropped.** Each request carries `X-Simledger-Order-Id` (the CDR's
//!   unique order ID; the CGRID is in the body); each NATS message carries `Nats-Msg-Id` =
//!   `cdr-<order ID>` (see [`message_id`]), so JetStream itself drops a repeat within its
//!   duplicate window.
//! - **Signed** as billing's `*http_post` is: `X-Simledger-Signature` over the timestamp, URL
//!   and body, under the tenant's auth token (the deployment secret for the operator's).
//! - **The destination policy of every outbound call.** URLs are checked when given and at
//!   every connection; a NATS server's addresses are resolved and checked before connecting.
//!   The platform's own subjects (its prefix), system subjects (`$…`) and inboxes (`_…`) are
//!   never published to.
//! - **One tenant cannot hold the others up.** An exporter sends from one place at a time (its
//!   advisory lock, across processes); at most [`MAX_RUNNING`] exporters send at once, at most
//!   [`PER_TENANT`] of one tenant's, so a dead endpoint delays only its own exporter.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use simledger_commands::{Accounts, RequestSigner, UNSIGNABLE};
use simledger_outbound::{DestinationPolicy, OutboundClient};
use sqlx::{FromRow, PgPool};
use tokio::task::JoinHandle;

use super::record::CdrRecord;
use super::*;

/// The most CDRs one range of an online exporter holds.
pub const BATCH: i64 = 256;
/// Exporters sending at once in one process.
pub const MAX_RUNNING: usize = 32;
/// Exporters of one tenant sending at once.
pub const PER_TENANT: usize = 2;
/// A tenant's exporters considered at one look for work: more than it may run at once, so a
/// finished one's slot is filled at the next look.
const CANDIDATES_PER_TENANT: i64 = 4 * PER_TENANT as i64;
/// NATS's own default port.
const NATS_PORT: u16 = 4222;
/// NATS servers this process keeps a connection to at once.
const MAX_NATS_SERVERS: usize = 64;
/// Reconnections a NATS connection tries before it ends (it is made again when next needed).
const MAX_RECONNECTS: usize = 5;
/// The longest subject taken.
const MAX_SUBJECT: usize = 256;

/// Where a `*nats_json_map` exporter publishes: `nats://host[:port]/subject`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsLocation {
    /// A name, or an address without brackets.
    pub host: String,
    pub port: u16,
    pub subject: String,
}

impl NatsLocation {
    pub fn parse(path: &str) -> Result<Self, ExportError> {
        let bad = |why: &str| ExportError::Invalid(format!("ExportPath {:?} {why}", simledger_ids::shown(path)));
        let url = simledger_outbound::Url::parse(path).map_err(|_| bad("is not nats://host[:port]/subject"))?;
        if url.scheme() != "nats" {
            return Err(bad("is not nats://host[:port]/subject"));
        }
        if !url.username().is_empty() || url.password().is_some() || url.query().is_some() || url.fragment().is_some() {
            return Err(bad("must be nats://host[:port]/subject, without credentials or a query"));
        }
        let host = match url.host() {
            Some(simledger_outbound::Host::Domain(d)) if !d.is_empty() => d.to_owned(),
            Some(simledger_outbound::Host::Ipv4(ip)) => ip.to_string(),
            Some(simledger_outbound::Host::Ipv6(ip)) => ip.to_string(),
            _ => return Err(bad("names no host")),
        };
        let subject = url.path().trim_start_matches('/').to_owned();
        check_subject(&subject).map_err(|why| bad(&why))?;
        Ok(Self { host, port: url.port().unwrap_or(NATS_PORT), subject })
    }

    /// The host, if it is an address rather than a name.
    fn literal_ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }
}

/// A subject a customer may publish to: dot-separated tokens of letters, digits, `-` and `_`,
/// so no wildcard, no system subject (`$JS.API.…` would command the server) and no inbox.
fn check_subject(subject: &str) -> Result<(), String> {
    if subject.is_empty() {
        return Err("names no subject (nats://host[:port]/subject, or opts.natsSubject)".into());
    }
    if subject.len() > MAX_SUBJECT {
        return Err(format!("has a subject longer than {MAX_SUBJECT} characters"));
    }
    let token_ok = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !subject.split('.').all(token_ok) || subject.starts_with('_') {
        return Err("has a subject that is not dot-separated letters, digits, - and _ (no wildcards, \
                    no $ system subjects, no _ inboxes)"
            .into());
    }
    Ok(())
}

/// The destination policy applied to an online exporter's location when it is given, by
/// customer and operator alike: an address given literally must be one the policy allows
/// (names are checked at every connection). Other kinds pass.
pub fn check_destination(e: &Exporter, policy: DestinationPolicy) -> Result<(), ExportError> {
    match e.kind.store() {
        Store::Http => {
            policy.parse(&e.export_path).map_err(|why| ExportError::Invalid(format!("ExportPath {why}")))?;
        }
        Store::Nats => {
            let at = NatsLocation::parse(&e.export_path)?;
            if at.literal_ip().is_some_and(|ip| !policy.permits(ip)) {
                return Err(ExportError::Invalid(format!("ExportPath {}", simledger_outbound::OutboundError::Private)));
            }
        }
        Store::File | Store::S3 => {}
    }
    Ok(())
}

/// Refuses an HTTP exporter of `tenant` whose requests could not be signed
/// ([`RequestSigner::Unsignable`]), as a webhook sink is refused: checked when a customer
/// defines one, by the rule its runs sign by.
pub async fn check_signable(accounts: &Accounts, tenant: &str, e: &Exporter) -> Result<(), ExportError> {
    if e.kind.store() != Store::Http {
        return Ok(());
    }
    match accounts.request_signer(tenant).await {
        Ok(RequestSigner::Unsignable) => Err(ExportError::Invalid(UNSIGNABLE.into())),
        Ok(_) => Ok(()),
        Err(simledger_commands::CommandError::Database(d)) => Err(ExportError::Database(d)),
        Err(other) => Err(ExportError::Invalid(other.to_string())),
    }
}

/// How online exporters send.
#[derive(Clone)]
pub struct OnlineSettings {
    pub policy: DestinationPolicy,
    pub accounts: Accounts,
    /// Signs the requests of exporters whose tenant is not an account (the operator's).
    pub deployment_key: Vec<u8>,
    /// The platform's own NATS subjects start with this token: never published to.
    pub reserved_subject_prefix: Option<String>,
    /// How long a request or a publish may take.
    pub timeout: Duration,
    /// Pauses between the attempts at one CDR within a run.
    pub pauses: Vec<Duration>,
    /// The longest pause before an exporter whose CDR was not accepted is tried again.
    pub max_backoff: Duration,
    /// How often exporters with CDRs to send are looked for.
    pub poll: Duration,
    /// How long one run may send before it gives its slot back (its range goes on at the next
    /// run), so that a slow endpoint cannot hold a slot for a whole range. Checked between
    /// CDRs: a CDR being sent keeps its attempts (cutting one short would repeat it for ever).
    pub run_budget: Duration,
}

impl OnlineSettings {
    pub fn new(policy: DestinationPolicy, accounts: Accounts, deployment_key: impl Into<Vec<u8>>) -> Self {
        let deployment_key = deployment_key.into();
        assert!(!deployment_key.is_empty(), "the deployment secret must not be empty");
        Self {
            policy,
            accounts,
            deployment_key,
            reserved_subject_prefix: None,
            timeout: Duration::from_secs(5),
            pauses: vec![Duration::from_millis(200), Duration::from_secs(1)],
            max_backoff: Duration::from_secs(30),
            poll: Duration::from_millis(200),
            run_budget: Duration::from_secs(10),
        }
    }
}

/// Runs the online exporters for ever.
pub fn spawn_online(pool: PgPool, shard: i32, settings: OnlineSettings) -> JoinHandle<()> {
    let online = Arc::new(Online {
        http: settings.policy.client(settings.timeout),
        pool,
        shard,
        settings,
        nats: tokio::sync::Mutex::new(HashMap::new()),
    });
    tokio::spawn(online.run())
}

type Key = (String, String);

struct Online {
    pool: PgPool,
    shard: i32,
    settings: OnlineSettings,
    http: OutboundClient,
    /// One connection per NATS server, made once its addresses passed the policy.
    nats: tokio::sync::Mutex<HashMap<(String, u16), async_nats::Client>>,
}

/// Where one exporter's CDRs go during a run.
enum Target {
    Http {
        url: String,
        key: Vec<u8>,
    },
    /// JetStream (`js`: acknowledged, deduplicated) or plain NATS (delivered once the server
    /// has it, as a flush confirms; kept by nobody if nobody subscribes, as on CGrateS).
    Nats {
        client: async_nats::Client,
        js: Option<Box<async_nats::jetstream::Context>>,
        subject: String,
    },
}

impl Online {
    async fn run(self: Arc<Self>) {
        let mut running: HashMap<Key, JoinHandle<Result<usize, ExportError>>> = HashMap::new();
        // Exporters whose last run failed: when they may run again, and the pause that was.
        let mut resting: HashMap<Key, (Instant, Duration)> = HashMap::new();
        loop {
            let finished: Vec<Key> = running.iter().filter(|(_, t)| t.is_finished()).map(|(k, _)| k.clone()).collect();
            for key in finished {
                let Some(task) = running.remove(&key) else { continue };
                let failure = match task.await {
                    Ok(Ok(_)) | Ok(Err(ExportError::Busy(_))) => None,
                    Ok(Err(e)) => Some(simledger_eventlog::error::cause_chain(&e)),
                    Err(e) => Some(format!("the sending task ended: {e}")),
                };
                let Some(why) = failure else {
                    resting.remove(&key);
                    continue;
                };
                // A failure or a panic alike: the exporter rests before it is tried again.
                let first = self.settings.pauses.first().copied().unwrap_or(Duration::from_secs(1));
                let pause = resting.get(&key).map_or(first, |(_, p)| (*p * 2).min(self.settings.max_backoff));
                tracing::warn!(tenant = %key.0, exporter = %key.1, error = %why,
                    pause_ms = pause.as_millis() as u64, "online exporter stopped at a CDR; it is tried again");
                metrics::counter!("simledger_cdr_online_failures_total").increment(1);
                resting.insert(key, (Instant::now() + pause, pause));
            }
            // Running and resting exporters are left out, so a tenant's candidates are ones
            // that can start now.
            let now = Instant::now();
            let busy: Vec<&Key> =
                resting.iter().filter(|(_, (until, _))| *until > now).map(|(k, _)| k).chain(running.keys()).collect();
            match self.with_cdrs_to_send(&busy).await {
                Ok(keys) => {
                    for key in keys {
                        if running.len() >= MAX_RUNNING {
                            break;
                        }
                        // (The query left out the running ones: `key` is not among them.)
                        if running.keys().filter(|(t, _)| *t == key.0).count() >= PER_TENANT {
                            continue;
                        }
                        let this = self.clone();
                        let (tenant, id) = key.clone();
                        running.insert(key, tokio::spawn(async move { this.send_range(&tenant, &id).await }));
                    }
                }
                Err(e) => tracing::warn!(error = %e, "looking for online exporters with CDRs to send"),
            }
            tokio::time::sleep(self.settings.poll).await;
        }
    }

    /// Online exporters with a pending range or a CDR after their cursor, but for those
    /// `busy` (running or resting). At most [`CANDIDATES_PER_TENANT`] of a tenant's, drawn at
    /// random, so that no tenant's many exporters (failing ones, say) fill the page and starve
    /// the others, and none of a tenant's (low IDs, say) starve its others.
    async fn with_cdrs_to_send(&self, busy: &[&Key]) -> sqlx::Result<Vec<Key>> {
        let kinds: Vec<&str> = ExporterKind::ALL.iter().filter(|k| k.is_online()).map(|k| k.as_str()).collect();
        let (busy_tenants, busy_ids): (Vec<&str>, Vec<&str>) =
            busy.iter().map(|(t, id)| (t.as_str(), id.as_str())).unzip();
        sqlx::query_as(
            "SELECT tenant, exporter_id FROM ( \
               SELECT e.tenant, e.exporter_id, \
                      row_number() OVER (PARTITION BY e.tenant ORDER BY random()) AS nth \
               FROM cdr_exporters e WHERE e.kind = ANY($1) AND (e.pending_last IS NOT NULL \
                 OR (e.tenant = $2 AND EXISTS (SELECT 1 FROM cdrs c WHERE c.order_id > e.last_exported_order_id)) \
                 OR (e.tenant <> $2 AND EXISTS (SELECT 1 FROM cdrs c WHERE c.tenant = e.tenant \
                                                AND c.order_id > e.last_exported_order_id))) \
               AND (e.tenant, e.exporter_id) NOT IN (SELECT * FROM unnest($3::text[], $4::text[])) \
             ) w WHERE nth <= $5 ORDER BY random() LIMIT 1000",
        )
        .bind(kinds)
        .bind(OPERATOR)
        .bind(busy_tenants)
        .bind(busy_ids)
        .bind(CANDIDATES_PER_TENANT)
        .fetch_all(&self.pool)
        .await
    }

    /// Sends one range of exporter `id`; returns the CDRs sent.
    async fn send_range(self: Arc<Self>, tenant: &str, id: &str) -> Result<usize, ExportError> {
        let lock = lock_exporter(&self.pool, tenant, id).await?;
        let sent = self.send_range_locked(tenant, id).await;
        let _ = sqlx::Connection::close(lock).await;
        sent
    }

    async fn send_range_locked(&self, tenant: &str, id: &str) -> Result<usize, ExportError> {
        let Some((exporter, first, last)) = plan(&self.pool, tenant, id, self.shard, Some(BATCH)).await? else {
            return Ok(0);
        };
        if !exporter.kind.is_online() {
            // Redefined as a file exporter since it was listed: its runs finish the range.
            return Ok(0);
        }
        let compiled = compile(&exporter)?;
        let target = self.target(tenant, &exporter).await?;
        let sql = format!(
            "SELECT {} FROM cdrs WHERE {} AND order_id BETWEEN $2 AND $3 ORDER BY order_id",
            record::SELECT,
            whose_cdrs(tenant)
        );
        let rows = sqlx::query(&sql).bind(tenant).bind(first).bind(last).fetch_all(&self.pool).await?;
        let (mut sent, mut line, started) = (0, String::new(), Instant::now());
        for row in rows {
            if started.elapsed() > self.settings.run_budget {
                // A slow endpoint gives its slot back; the range goes on from its progress.
                return Ok(sent);
            }
            let cdr = CdrRecord::from_row(&row)?;
            if !compiled.filters.iter().all(|f| f.passes(&cdr)) {
                continue;
            }
            let (content_type, body) = body_of(&compiled, &cdr, &mut line)?;
            self.send_with_attempts(&target, id, exporter.attempts, &cdr, content_type, body).await?;
            sent += 1;
            metrics::counter!("simledger_cdr_online_sent_total").increment(1);
            // Sent: a kill from here on starts the range after this CDR.
            sqlx::query(
                "UPDATE cdr_exporters SET pending_first = $3 WHERE tenant = $1 AND exporter_id = $2 AND pending_last = $4",
            )
            .bind(tenant)
            .bind(id)
            .bind(cdr.order_id + 1)
            .bind(last)
            .execute(&self.pool)
            .await?;
        }
        sqlx::query(
            "UPDATE cdr_exporters SET last_exported_order_id = pending_last, pending_first = NULL, pending_last = NULL \
             WHERE tenant = $1 AND exporter_id = $2 AND pending_last = $3",
        )
        .bind(tenant)
        .bind(id)
        .bind(last)
        .execute(&self.pool)
        .await?;
        Ok(sent)
    }

    async fn target(&self, tenant: &str, e: &Exporter) -> Result<Target, ExportError> {
        match e.kind.store() {
            Store::Http => {
                let signer = self
                    .settings
                    .accounts
                    .request_signer(tenant)
                    .await
                    .map_err(|err| ExportError::Invalid(format!("reading the signing token of {tenant}: {err}")))?;
                // Waits, never skipped, until the account has a token this deployment issued.
                let key = signer
                    .key(&self.settings.deployment_key)
                    .ok_or_else(|| ExportError::Invalid(format!("exporter {}: {}", e.id, UNSIGNABLE)))?;
                Ok(Target::Http { url: e.export_path.clone(), key: key.to_vec() })
            }
            Store::Nats => {
                let at = NatsLocation::parse(&e.export_path)?;
                let reserved = self.settings.reserved_subject_prefix.as_deref();
                if reserved.is_some_and(|p| at.subject.split('.').next() == Some(p)) {
                    return Err(ExportError::Invalid(format!(
                        "exporter {}: subject {} is the platform's own",
                        e.id, at.subject
                    )));
                }
                let client = self.connection(&at).await.map_err(|reason| ExportError::Delivery {
                    id: e.id.clone(),
                    order_id: e.last_exported_order_id + 1,
                    reason,
                })?;
                let js = e.nats_jetstream.then(|| Box::new(async_nats::jetstream::new(client.clone())));
                Ok(Target::Nats { client, js, subject: at.subject })
            }
            Store::File | Store::S3 => Err(ExportError::Invalid(format!("exporter {} is not online", e.id))),
        }
    }

    /// A connection to `at`'s server, made once to an address the policy allows.
    async fn connection(&self, at: &NatsLocation) -> Result<async_nats::Client, String> {
        // The lock guards the map only: a server that never answers delays its own exporters,
        // not every NATS exporter.
        if let Some(client) = self.nats.lock().await.get(&(at.host.clone(), at.port)) {
            return Ok(client.clone());
        }
        let lookup = tokio::net::lookup_host((at.host.as_str(), at.port));
        let addrs: Vec<std::net::SocketAddr> = tokio::time::timeout(self.settings.timeout, lookup)
            .await
            .map_err(|_| format!("resolving {}: no answer in time", at.host))?
            .map_err(|e| format!("resolving {}: {e}", at.host))?
            .collect();
        // Every address must be allowed, as for URLs, so a name cannot mix in a private one.
        if addrs.is_empty() || addrs.iter().any(|a| !self.settings.policy.permits(a.ip())) {
            return Err(format!("NATS server {}: {}", at.host, simledger_outbound::OutboundError::Private));
        }
        // Only the checked address: servers the server advertises (its INFO `connect_urls`)
        // would be reached without the policy's check.
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(self.settings.timeout)
            .request_timeout(Some(self.settings.timeout))
            .ignore_discovered_servers()
            .max_reconnects(Some(MAX_RECONNECTS))
            .connect(format!("nats://{}", addrs[0]))
            .await
            .map_err(|e| format!("connecting to NATS at {}: {e}", at.host))?;
        let mut connections = self.nats.lock().await;
        if connections.len() >= MAX_NATS_SERVERS {
            connections.clear(); // bounded: a connection is made again when next needed
        }
        connections.insert((at.host.clone(), at.port), client.clone());
        Ok(client)
    }

    async fn send_with_attempts(
        &self,
        target: &Target,
        id: &str,
        attempts: i16,
        cdr: &CdrRecord,
        content_type: &'static str,
        body: Vec<u8>,
    ) -> Result<(), ExportError> {
        let mut reason = String::new();
        for attempt in 0..attempts.clamp(1, super::MAX_ATTEMPTS) as usize {
            // Pauses between tries as the settings list them, the last one repeated.
            if let Some(i) = attempt.checked_sub(1) {
                let pause = self.settings.pauses.get(i).or(self.settings.pauses.last());
                tokio::time::sleep(pause.copied().unwrap_or_default()).await;
            }
            match self.send_once(target, cdr, content_type, &body).await {
                Ok(()) => return Ok(()),
                Err(why) => reason = why,
            }
        }
        Err(ExportError::Delivery { id: id.to_owned(), order_id: cdr.order_id, reason })
    }

    async fn send_once(
        &self,
        target: &Target,
        cdr: &CdrRecord,
        content_type: &'static str,
        body: &[u8],
    ) -> Result<(), String> {
        match target {
            Target::Http { url, key } => {
                let timestamp = chrono::Utc::now().timestamp().to_string();
                let signature = crate::outbound_calls::http_post_signature(key, &timestamp, url, body);
                let request = self
                    .http
                    .request(reqwest::Method::POST, url)
                    .map_err(|e| e.to_string())?
                    .header(reqwest::header::CONTENT_TYPE, content_type)
                    .header("X-Simledger-Order-Id", cdr.order_id.to_string())
                    .header("X-Simledger-Timestamp", &timestamp)
                    .header("X-Simledger-Signature", signature)
                    .body(body.to_vec());
                match request.send().await {
                    Ok(r) if r.status().is_success() => Ok(()),
                    Ok(r) => Err(format!("answered {}", r.status())),
                    Err(e) if e.is_timeout() => Err("no answer in time".into()),
                    // The cause may name an address the policy refused: say no more than that.
                    Err(_) => Err("could not connect".into()),
                }
            }
            Target::Nats { client, js, subject } => {
                let mut headers = async_nats::HeaderMap::new();
                headers.insert("Nats-Msg-Id", message_id(cdr).as_str());
                match js {
                    Some(js) => {
                        let ack = js
                            .publish_with_headers(subject.clone(), headers, body.to_vec().into())
                            .await
                            .map_err(|e| format!("publishing: {e}"))?;
                        ack.await.map(|_| ()).map_err(|e| format!("no JetStream acknowledgement: {e}"))
                    }
                    None => {
                        client
                            .publish_with_headers(subject.clone(), headers, body.to_vec().into())
                            .await
                            .map_err(|e| format!("publishing: {e}"))?;
                        // The cursor moves only once the server has it.
                        let flushed = tokio::time::timeout(self.settings.timeout, client.flush()).await;
                        flushed.map_err(|_| "no flush in time".to_owned())?.map_err(|e| format!("flushing: {e}"))
                    }
                }
            }
        }
    }
}

/// The JetStream message id of a CDR: `cdr-<order ID>`, unique to the CDR and the same on
/// every redelivery. Not the CGRID: a customer chooses an external CDR's CGRID (it could break
/// a header, or make JetStream drop another tenant's CDR as a repeat), and one CGRID can have
/// several runs.
fn message_id(cdr: &CdrRecord) -> String {
    format!("cdr-{}", cdr.order_id)
}

/// The request body of one CDR: a JSON map, or for `*http_post` its fields as a form.
fn body_of(c: &Compiled, cdr: &CdrRecord, line: &mut String) -> Result<(&'static str, Vec<u8>), ExportError> {
    let map = json_map(c, cdr, line);
    match c.format {
        Format::Form => {
            let mut form = form_urlencoded::Serializer::new(String::new());
            if let serde_json::Value::Object(fields) = &map {
                for (k, v) in fields {
                    match v {
                        serde_json::Value::String(s) => form.append_pair(k, s),
                        other => form.append_pair(k, &other.to_string()),
                    };
                }
            }
            Ok(("application/x-www-form-urlencoded", form.finish().into_bytes()))
        }
        Format::JsonLines | Format::Csv => {
            Ok(("application/json", serde_json::to_vec(&map).map_err(|e| ExportError::Invalid(format!("JSON: {e}")))?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nats_locations_name_a_server_and_a_plain_subject() {
        let at = NatsLocation::parse("nats://nats.example.com/cgrates.cdrs").unwrap();
        assert_eq!((at.host.as_str(), at.port, at.subject.as_str()), ("nats.example.com", 4222, "cgrates.cdrs"));
        assert_eq!(NatsLocation::parse("nats://[::1]:4333/cdrs").unwrap().host, "::1");
        for bad in [
            "nats://h/",
            "nats://h/cdrs.>",
            "nats://h/cdrs.*",
            "nats://h/$JS.API.STREAM.DELETE.X",
            "nats://h/_INBOX.x",
            "nats://h/a..b",
            "nats://user:pass@h/cdrs",
            "nats://h/cdrs?x=1",
            "http://h/cdrs",
            "nats:///cdrs",
        ] {
            assert!(NatsLocation::parse(bad).is_err(), "{bad}");
        }
        assert!(NatsLocation::parse(&format!("nats://h/{}", "a".repeat(300))).is_err());
    }

    #[test]
    fn a_literal_private_destination_needs_the_operators_switch() {
        let http = Exporter::new("x", ExporterKind::HttpJsonMap, "http://127.0.0.1:9/cdrs");
        let nats = Exporter::new("y", ExporterKind::NatsJsonMap, "nats://10.0.0.1/cdrs");
        for e in [&http, &nats] {
            assert!(check_destination(e, DestinationPolicy::PUBLIC_ONLY).is_err(), "{}", e.export_path);
            assert!(check_destination(e, DestinationPolicy::ALLOW_PRIVATE).is_ok(), "{}", e.export_path);
        }
    }
}
