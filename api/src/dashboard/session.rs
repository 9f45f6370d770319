//! Dashboard sign-in: the same credentials as `/v1` (account SID + auth token, or API key SID +
//! secret) exchanged for a random session token in an `HttpOnly`, `SameSite=Strict` cookie.
//!
//! Only the token's SHA-256 is stored (`dashboard_sessions`), with an absolute expiry; signing
//! out deletes it, so a copied cookie stops working at once. Every state-changing request must
//! come from the dashboard's own origin ([`same_origin`]): the cookie is never sent cross-site,
//! and a request that says it comes from elsewhere, or says nothing, is refused as well.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::Utc;
use rand::TryRngCore;
use sha2::{Digest, Sha256};
use simledger_commands::{Principal, Role};
use sqlx::PgPool;

use super::{pages, DashboardError};
use crate::AppState;

/// The cookie's name.
pub const COOKIE: &str = "simledger_session";

/// Open sessions a credential keeps; signing in again ends the oldest.
pub const MAX_SESSIONS_PER_CREDENTIAL: i64 = 20;

/// How long a sign-in lasts unless configured otherwise.
pub const DEFAULT_TTL: std::time::Duration = std::time::Duration::from_secs(8 * 3600);

/// A signed-in dashboard user.
#[derive(Debug, Clone)]
pub struct Session {
    pub principal: Principal,
    /// Its row's key: a live feed checks with it that the session still stands.
    pub(crate) token_sha256: Vec<u8>,
}

impl Session {
    pub fn account(&self) -> &str {
        &self.principal.account_sid
    }

    pub fn is_operator(&self) -> bool {
        self.principal.role == Role::Operator
    }
}

fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// The session token the request's cookie carries, if any.
fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
        // A token is 64 hex digits; anything else is not one of ours and costs no query.
        .filter(|t| t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A session that stands: not expired, and (opened with an API key) its key not revoked.
const LIVE_SESSION: &str = "SELECT s.account_sid, s.role FROM dashboard_sessions s WHERE s.token_sha256 = $1 \
     AND s.expires_at > now() AND (s.credential_sid NOT LIKE 'SK%' OR EXISTS \
     (SELECT 1 FROM account_keys k WHERE k.key_sid = s.credential_sid AND k.account_sid = s.account_sid))";

async fn find(pool: &PgPool, token: &str) -> sqlx::Result<Option<Principal>> {
    find_hash(pool, &token_hash(token)).await
}

async fn find_hash(pool: &PgPool, token_sha256: &[u8]) -> sqlx::Result<Option<Principal>> {
    let row: Option<(String, String)> = sqlx::query_as(LIVE_SESSION).bind(token_sha256).fetch_optional(pool).await?;
    Ok(row.map(|(account_sid, role)| Principal {
        account_sid,
        role: if role == "operator" { Role::Operator } else { Role::Customer },
    }))
}

impl FromRequestParts<AppState> for Session {
    type Rejection = DashboardError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, DashboardError> {
        let token = cookie_token(&parts.headers).ok_or(DashboardError::SignedOut)?;
        let token_sha256 = token_hash(&token);
        let principal = find_hash(state.pool(), &token_sha256).await?.ok_or(DashboardError::SignedOut)?;
        state
            .rate_limit
            .admit(&principal.account_sid)
            .map_err(|wait| DashboardError::TooManyRequests(wait.ceil() as u64))?;
        Ok(Session { principal, token_sha256 })
    }
}

/// Refuses a state-changing request that does not come from the dashboard's own origin: its
/// `Origin` must name the host it was sent to, or (no `Origin`) `Sec-Fetch-Site` must say
/// `same-origin`. A request with neither is refused too: every browser sends one of them.
pub fn same_origin(headers: &HeaderMap) -> Result<(), DashboardError> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let host = get("host").ok_or(DashboardError::CrossOrigin)?;
    match (get("origin"), get("sec-fetch-site")) {
        (Some(origin), _) => {
            let authority = origin.split_once("://").map(|(_, rest)| rest).unwrap_or("");
            if authority.eq_ignore_ascii_case(host) {
                Ok(())
            } else {
                Err(DashboardError::CrossOrigin)
            }
        }
        (None, Some("same-origin")) => Ok(()),
        _ => Err(DashboardError::CrossOrigin),
    }
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
pub struct SignIn {
    /// An account SID (`AC…`) or API key SID (`SK…`).
    pub sid: String,
    /// The account's auth token or the API key's secret.
    pub token: String,
}

/// Signs in with `/v1` credentials; sets the session cookie and goes to the dashboard.
#[utoipa::path(post, path = "/dashboard/login", tag = "dashboard", operation_id = "DashboardSignIn",
    request_body(content = SignIn, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Signed in: the session cookie is set, and the dashboard follows"),
        (status = 400, description = "A field is missing: the sign-in page again", content_type = "text/html", body = String),
        (status = 401, description = "Wrong credentials: the sign-in page again, with the reason", content_type = "text/html", body = String),
        (status = 403, description = "Not sent from the dashboard's own origin", body = crate::error::TwilioError),
        (status = 413, description = "The form is larger than 4 KiB", content_type = "text/html", body = String),
        (status = 429, description = "Too many failed sign-ins; the page says when to try again", content_type = "text/html", body = String),
    ))]
pub async fn sign_in(State(state): State<AppState>, req: axum::extract::Request) -> Response {
    let source = req.extensions().get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
    let (parts, body) = req.into_parts();
    let headers = parts.headers;
    if let Err(e) = same_origin(&headers) {
        return e.into_response();
    }
    let Ok(body) = axum::body::to_bytes(body, 4096).await else {
        return login_page(StatusCode::PAYLOAD_TOO_LARGE, "The sign-in form is too large.");
    };
    let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim().to_owned());
    let (Some(sid), Some(token)) = (field("sid"), field("token")) else {
        return login_page(StatusCode::BAD_REQUEST, "Enter an account or API key SID and its token.");
    };
    if sid.contains('\0') || token.contains('\0') || sid.len() > 64 || token.len() > 256 {
        return login_page(StatusCode::UNAUTHORIZED, "Those credentials are not valid.");
    }
    let principal = match state.auth.authenticate(&sid, &token, source).await {
        Ok(Some(p)) => p,
        Ok(None) => return login_page(StatusCode::UNAUTHORIZED, "Those credentials are not valid."),
        Err(crate::ApiError::TooManyRequests(wait)) => {
            return login_page(
                StatusCode::TOO_MANY_REQUESTS,
                &format!("Too many failed sign-ins; try again in {wait} seconds."),
            )
        }
        Err(e) => return DashboardError::from(e).into_response(),
    };
    // Sign-ins count against the account's request rate like any request.
    if let Err(wait) = state.rate_limit.admit(&principal.account_sid) {
        return DashboardError::TooManyRequests(wait.ceil() as u64).into_response();
    }
    match start(state.pool(), &principal, &sid, state.dashboard_session_ttl).await {
        Ok(token) => {
            let secure = headers.get("x-forwarded-proto").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
            let cookie = format!(
                "{COOKIE}={token}; Path=/dashboard; HttpOnly; SameSite=Strict; Max-Age={}{}",
                state.dashboard_session_ttl.as_secs(),
                if secure { "; Secure" } else { "" }
            );
            let mut response = Redirect::to("/dashboard/").into_response();
            response.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_str(&cookie).expect("ASCII cookie"));
            response
        }
        Err(e) => DashboardError::from(e).into_response(),
    }
}

/// Starts a session; returns its token (shown once, to the browser).
async fn start(
    pool: &PgPool,
    principal: &Principal,
    credential: &str,
    ttl: std::time::Duration,
) -> sqlx::Result<String> {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.try_fill_bytes(&mut bytes).map_err(|e| sqlx::Error::Protocol(format!("no randomness: {e}")))?;
    let token = hex::encode(bytes);
    let expires = Utc::now() + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::hours(8));
    // Expired sign-ins are of no use to anyone: swept at each new one.
    sqlx::query("DELETE FROM dashboard_sessions WHERE expires_at < now()").execute(pool).await?;
    sqlx::query(
        "INSERT INTO dashboard_sessions (token_sha256, account_sid, credential_sid, role, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(token_hash(&token))
    .bind(&principal.account_sid)
    .bind(credential)
    .bind(if principal.role == Role::Operator { "operator" } else { "customer" })
    .bind(expires)
    .execute(pool)
    .await?;
    // A credential keeps its newest sessions only: signing in in a loop fills no table.
    sqlx::query(
        "DELETE FROM dashboard_sessions WHERE credential_sid = $1 AND token_sha256 NOT IN \
         (SELECT token_sha256 FROM dashboard_sessions WHERE credential_sid = $1 ORDER BY created_at DESC LIMIT $2)",
    )
    .bind(credential)
    .bind(MAX_SESSIONS_PER_CREDENTIAL)
    .execute(pool)
    .await?;
    Ok(token)
}

/// Whether the session with this key still stands (a database error counts as yes: an open
/// feed is not cut by a blip).
pub async fn still_valid(pool: &PgPool, token_sha256: &[u8]) -> bool {
    find_hash(pool, token_sha256).await.map(|p| p.is_some()).unwrap_or(true)
}

/// Ends every session signed in with this credential (a revoked API key).
pub async fn end_sessions_of(pool: &PgPool, credential_sid: &str) -> sqlx::Result<u64> {
    Ok(sqlx::query("DELETE FROM dashboard_sessions WHERE credential_sid = $1")
        .bind(credential_sid)
        .execute(pool)
        .await?
        .rows_affected())
}

/// Ends the session: its row is deleted and the cookie cleared.
#[utoipa::path(post, path = "/dashboard/logout", tag = "dashboard", operation_id = "DashboardSignOut",
    responses(
        (status = 303, description = "Signed out; the sign-in page follows"),
        (status = 403, description = "Not sent from the dashboard's own origin", body = crate::error::TwilioError),
    ))]
pub async fn sign_out(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, DashboardError> {
    same_origin(&headers)?;
    if let Some(token) = cookie_token(&headers) {
        sqlx::query("DELETE FROM dashboard_sessions WHERE token_sha256 = $1")
            .bind(token_hash(&token))
            .execute(state.pool())
            .await?;
    }
    let mut response = Redirect::to("/dashboard/login").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("simledger_session=; Path=/dashboard; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    Ok(response)
}

/// The sign-in page, with a fixed message (never an echo of input).
pub fn login_page(status: StatusCode, message: &str) -> Response {
    let page = pages::LOGIN.replace("{{message}}", &pages::escape(message));
    (status, pages::html_headers(), Html(page)).into_response()
}

/// Whether the request carries a live session (pages redirect to sign-in otherwise).
pub async fn signed_in(state: &AppState, headers: &HeaderMap) -> bool {
    match cookie_token(headers) {
        Some(token) => find(state.pool(), &token).await.ok().flatten().is_some(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn a_request_from_the_dashboards_own_origin_passes() {
        assert!(same_origin(&headers(&[("host", "127.0.0.1:8080"), ("origin", "http://127.0.0.1:8080")])).is_ok());
        assert!(same_origin(&headers(&[("host", "h"), ("sec-fetch-site", "same-origin")])).is_ok());
    }

    #[test]
    fn a_request_from_another_origin_or_from_nowhere_is_refused() {
        for h in [
            headers(&[("host", "127.0.0.1:8080"), ("origin", "http://evil.example")]),
            headers(&[("host", "127.0.0.1:8080"), ("origin", "http://127.0.0.1:8080.evil.example")]),
            headers(&[("host", "127.0.0.1:8080"), ("origin", "null")]),
            headers(&[("host", "h"), ("sec-fetch-site", "cross-site")]),
            headers(&[("host", "h"), ("sec-fetch-site", "same-site")]),
            headers(&[("host", "h")]),
        ] {
            assert!(matches!(same_origin(&h), Err(DashboardError::CrossOrigin)), "{h:?}");
        }
    }

    #[test]
    fn only_a_well_formed_token_is_looked_up() {
        let ok = "a".repeat(64);
        let h = |v: String| {
            let mut m = HeaderMap::new();
            m.insert(header::COOKIE, HeaderValue::from_str(&v).unwrap());
            m
        };
        assert_eq!(cookie_token(&h(format!("x=1; {COOKIE}={ok}"))), Some(ok.clone()));
        assert_eq!(cookie_token(&h(format!("{COOKIE}={ok}x"))), None);
        assert_eq!(cookie_token(&h(format!("{COOKIE}=' OR 1=1 --"))), None);
        assert_eq!(cookie_token(&h("other=1".into())), None);
    }
}
