//! Request extractors in Twilio's conventions: PascalCase parameters from a form-encoded (or
//! JSON) body or the query string, HTTP Basic authentication, the caller's base URL.
//!
//! Every parameter struct denies unknown fields, so a misspelt parameter is a 400 that changes
//! nothing rather than a silently ignored one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use base64::Engine;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use simledger_commands::{Accounts, CommandId, Principal, Role};

use crate::{ApiError, AppState};

/// The most a form or JSON body may be.
pub const MAX_PARAMS_BYTES: usize = 64 * 1024;

/// Parameters from the request body: `application/x-www-form-urlencoded` (Twilio's) or a JSON
/// object with the same PascalCase keys.
pub struct Form<T>(pub T);

/// Parameters from the query string.
pub struct Query<T>(pub T);

/// A JSON body read as is (nested objects kept), for the CGrateS-shaped resources; errors name
/// the field at fault.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().starts_with("application/json"));
        if !json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let body = axum::body::to_bytes(req.into_body(), MAX_PARAMS_BYTES)
            .await
            .map_err(|_| ApiError::TooLarge(MAX_PARAMS_BYTES))?;
        if body.contains(&0) || std::str::from_utf8(&body).is_ok_and(simledger_eventlog::holds_nul) {
            return Err(ApiError::invalid("The body must not contain NUL characters"));
        }
        let de = &mut serde_json::Deserializer::from_slice(&body);
        serde_path_to_error::deserialize(de).map(JsonBody).map_err(|e| {
            let path = e.path().to_string();
            if path == "." {
                ApiError::invalid(format!("The body is not valid: {}", e.inner()))
            } else {
                ApiError::invalid(format!("Invalid parameter {path}: {}", e.inner()))
            }
        })
    }
}

/// Where a parameter came from, for error messages.
#[derive(Clone, Copy)]
enum Place {
    Body,
    Query,
}

/// A parameter string's key/value pairs, in order; a repeated key is a list.
type Pairs = Vec<(String, String)>;

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Form<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        let content_type =
            req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
        let body = axum::body::to_bytes(req.into_body(), MAX_PARAMS_BYTES)
            .await
            .map_err(|_| ApiError::TooLarge(MAX_PARAMS_BYTES))?;
        let pairs = if body.is_empty() {
            Vec::new()
        } else if content_type.starts_with("application/x-www-form-urlencoded") {
            form_urlencoded::parse(&body).into_owned().collect()
        } else if content_type.starts_with("application/json") {
            json_pairs(&body)?
        } else {
            return Err(ApiError::UnsupportedMediaType);
        };
        Ok(Form(deserialize(&pairs, Place::Body)?))
    }
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        Ok(Query(deserialize(&query_pairs(parts), Place::Query)?))
    }
}

fn query_pairs(parts: &Parts) -> Pairs {
    form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes()).into_owned().collect()
}

/// A JSON object's members as form pairs: arrays become repeated keys, objects JSON strings.
fn json_pairs(body: &[u8]) -> Result<Pairs, ApiError> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| ApiError::invalid(format!("The body is not valid JSON: {e}")))?;
    let serde_json::Value::Object(members) = value else {
        return Err(ApiError::invalid("The JSON body must be an object of parameters"));
    };
    let mut pairs = Vec::new();
    for (key, value) in members {
        let values = match value {
            serde_json::Value::Array(items) => items,
            other => vec![other],
        };
        for v in values {
            match v {
                serde_json::Value::Null => {}
                serde_json::Value::String(s) => pairs.push((key.clone(), s)),
                other => pairs.push((key.clone(), other.to_string())),
            }
        }
    }
    Ok(pairs)
}

fn deserialize<T: DeserializeOwned>(pairs: &Pairs, place: Place) -> Result<T, ApiError> {
    // PostgreSQL text cannot hold U+0000; refuse it here rather than fail in a query.
    if let Some((key, _)) = pairs.iter().find(|(k, v)| k.contains('\0') || v.contains('\0')) {
        return Err(ApiError::invalid(format!("Parameter {key} contains a NUL character")));
    }
    let encoded = form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
    let de = serde_html_form::Deserializer::new(form_urlencoded::parse(encoded.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let message = e.inner().to_string();
        let path = e.path().to_string();
        if let Some(field) = message.strip_prefix("unknown field `").and_then(|m| m.split('`').next()) {
            ApiError::invalid(format!("Unknown parameter {field}"))
        } else if let Some(field) = message.strip_prefix("missing field `").and_then(|m| m.split('`').next()) {
            ApiError::missing(field, matches!(place, Place::Body))
        } else if message == "unsupported value" {
            ApiError::invalid(format!("Parameter {path} was given more than once"))
        } else {
            ApiError::invalid(format!("Invalid value for parameter {path}: {message}"))
        }
    })
}

/// `PageSize`, `Page` and `PageToken` of a list request, taken out before its filters are
/// parsed (see [`crate::v1::paging`]).
pub struct Listing<T> {
    pub filter: T,
    pub paging: crate::v1::paging::Paging,
    /// The filters as given, echoed in the page URLs.
    pub echoed: Pairs,
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Listing<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let (paging, rest): (Pairs, Pairs) =
            query_pairs(parts).into_iter().partition(|(k, _)| matches!(k.as_str(), "PageSize" | "Page" | "PageToken"));
        let paging = crate::v1::paging::Paging::parse(&paging)?;
        let filter = deserialize(&rest, Place::Query)?;
        Ok(Listing { filter, paging, echoed: rest })
    }
}

/// Refuses a request whose path holds an encoded NUL (`%00`) before any handler sees it: no
/// resource has one in its name, and PostgreSQL text cannot hold it.
pub async fn refuse_nul_in_path(req: Request, next: axum::middleware::Next) -> axum::response::Response {
    use axum::response::IntoResponse;
    if req.uri().path().to_ascii_lowercase().contains("%00") {
        return ApiError::invalid("The URL path contains a NUL character").into_response();
    }
    next.run(req).await
}

/// The scheme and authority the caller used, for absolute `url`s and `links`.
pub struct Origin(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Origin {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let host = header("x-forwarded-host").or(header("host")).unwrap_or("localhost");
        let scheme = header("x-forwarded-proto").unwrap_or("http");
        Ok(Origin(format!("{scheme}://{host}")))
    }
}

/// The command id of a write: from the `Idempotency-Key` header when given, so a client's retry
/// of the same request changes nothing twice; fresh otherwise.
pub fn command_id(parts_headers: &axum::http::HeaderMap, account_sid: &str, what: &str) -> CommandId {
    match parts_headers.get("idempotency-key").and_then(|v| v.to_str().ok()) {
        Some(key) => CommandId::named(&format!("{account_sid}:{what}:{key}")),
        None => CommandId::random(),
    }
}

/// The authenticated caller of a `/v1` request.
pub struct Caller(pub Principal);

impl Caller {
    pub fn account(&self) -> &str {
        &self.0.account_sid
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let (user, password) = basic_credentials(parts).ok_or(ApiError::Unauthorized)?;
        let source = parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
        let principal = state.auth.authenticate(&user, &password, source).await?.ok_or(ApiError::Unauthorized)?;
        state.rate_limit.admit(&principal.account_sid).map_err(|wait| ApiError::TooManyRequests(wait.ceil() as u64))?;
        Ok(Caller(principal))
    }
}

/// The authenticated caller of an `/operator` request: an operator account.
pub struct Operator(pub Principal);

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Caller(principal) = Caller::from_request_parts(parts, state).await?;
        if principal.role != Role::Operator {
            return Err(ApiError::Forbidden);
        }
        Ok(Operator(principal))
    }
}

fn basic_credentials(parts: &Parts) -> Option<(String, String)> {
    basic_credentials_of(&parts.headers)
}

/// HTTP Basic credentials, if the request carries them.
pub(crate) fn basic_credentials_of(headers: &axum::http::HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let (user, password) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// Checks credentials against the accounts table, remembering successes briefly so a busy
/// client does not cost a query per request. A revoked credential stops working within
/// [`Authenticator::TTL`].
///
/// Failures are throttled before they cost a query: a SID or key with
/// [`LoginLimits::per_credential`] failures in a minute, or a source address with
/// [`LoginLimits::per_source`], is answered 429 until its minute is over; and the
/// same wrong credentials within a few seconds are refused from memory. Credentials that just
/// worked keep working from the cache, so an attacker guessing at an account does not lock out
/// its busy client.
#[derive(Clone)]
pub struct Authenticator {
    accounts: Accounts,
    recent: Arc<Mutex<RecentLogins>>,
    failures: Arc<Mutex<Failures>>,
    limits: LoginLimits,
}

/// How many failed logins a minute are answered before 429.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimits {
    /// Per account SID or API key SID.
    pub per_credential: u32,
    /// Per client address.
    pub per_source: u32,
}

impl Default for LoginLimits {
    fn default() -> Self {
        Self { per_credential: 10, per_source: 30 }
    }
}

/// SHA-256 of the credentials → who they authenticated as, with which SID, and when.
type RecentLogins = HashMap<[u8; 32], (Principal, String, Instant)>;

/// Failed logins: per SID, per source address (count in the current window, window start), and
/// the credentials that just failed.
#[derive(Default)]
struct Failures {
    by_key: HashMap<String, (u32, Instant)>,
    credentials: HashMap<[u8; 32], Instant>,
}

impl Authenticator {
    const TTL: Duration = Duration::from_secs(30);
    const MAX_ENTRIES: usize = 10_000;
    const FAILURE_WINDOW: Duration = Duration::from_secs(60);
    const FAILED_CREDENTIALS_TTL: Duration = Duration::from_secs(5);

    pub fn new(accounts: Accounts, limits: LoginLimits) -> Self {
        Self { accounts, recent: Arc::default(), failures: Arc::default(), limits }
    }

    /// Who `user:password` authenticates as, if anyone; `source` is the client's address when
    /// known. `Err(TooManyRequests)` while the SID or the source is throttled.
    pub async fn authenticate(
        &self,
        user: &str,
        password: &str,
        source: Option<std::net::IpAddr>,
    ) -> Result<Option<Principal>, ApiError> {
        let key: [u8; 32] = Sha256::new().chain_update(user).chain_update([0]).chain_update(password).finalize().into();
        if let Some((p, _, at)) = self.recent.lock().expect("auth cache lock").get(&key) {
            if at.elapsed() < Self::TTL {
                return Ok(Some(p.clone()));
            }
        }
        // Keys are bounded in length: a SID is 34 characters, anything longer is not one.
        let user_key = format!("sid:{}", user.chars().take(64).collect::<String>());
        let source_key = source.map(|ip| format!("ip:{ip}"));
        {
            let mut failures = self.failures.lock().expect("auth failures lock");
            let now = Instant::now();
            let limited = |key: &str, limit: u32, f: &Failures| -> Option<u64> {
                let (count, since) = f.by_key.get(key)?;
                let left = Self::FAILURE_WINDOW.checked_sub(now.duration_since(*since))?;
                (*count >= limit).then(|| left.as_secs().max(1))
            };
            let wait = limited(&user_key, self.limits.per_credential, &failures)
                .or_else(|| source_key.as_deref().and_then(|k| limited(k, self.limits.per_source, &failures)));
            if let Some(seconds) = wait {
                // A throttled attempt still counts against its source: a source that keeps
                // guessing at one account is throttled for every account.
                Self::count_failure(&mut failures, &user_key, source_key.as_deref(), now);
                metrics::counter!("simledger_logins_throttled_total").increment(1);
                return Err(ApiError::TooManyRequests(seconds));
            }
            if failures.credentials.get(&key).is_some_and(|at| at.elapsed() < Self::FAILED_CREDENTIALS_TTL) {
                Self::count_failure(&mut failures, &user_key, source_key.as_deref(), now);
                return Ok(None);
            }
        }
        let found = self.accounts.authenticate(user, password).await?;
        match &found {
            Some(p) => {
                let mut recent = self.recent.lock().expect("auth cache lock");
                if recent.len() >= Self::MAX_ENTRIES {
                    recent.retain(|_, (_, _, at)| at.elapsed() < Self::TTL);
                }
                recent.insert(key, (p.clone(), user.to_owned(), Instant::now()));
            }
            None => {
                let mut failures = self.failures.lock().expect("auth failures lock");
                let now = Instant::now();
                if failures.credentials.len() >= Self::MAX_ENTRIES {
                    failures.credentials.retain(|_, at| at.elapsed() < Self::FAILED_CREDENTIALS_TTL);
                }
                failures.credentials.insert(key, now);
                Self::count_failure(&mut failures, &user_key, source_key.as_deref(), now);
                metrics::counter!("simledger_logins_failed_total").increment(1);
            }
        }
        Ok(found)
    }

    /// Forgets cached logins of `user` (a revoked key), so it stops working at once here.
    pub fn forget(&self, user: &str) {
        self.recent.lock().expect("auth cache lock").retain(|_, (_, sid, _)| sid != user);
    }

    fn count_failure(failures: &mut Failures, user_key: &str, source_key: Option<&str>, now: Instant) {
        if failures.by_key.len() >= Self::MAX_ENTRIES * 10 {
            failures.by_key.retain(|_, (_, since)| now.duration_since(*since) < Self::FAILURE_WINDOW);
        }
        for key in std::iter::once(user_key).chain(source_key) {
            let entry = failures.by_key.entry(key.to_owned()).or_insert((0, now));
            if now.duration_since(entry.1) >= Self::FAILURE_WINDOW {
                *entry = (0, now);
            }
            entry.0 += 1;
        }
    }
}
