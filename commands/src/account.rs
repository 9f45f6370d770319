//! Accounts and their credentials: an `AC…` SID with an auth token, and any number of API keys
//! (`SK…` with a secret). Only SHA-256 hashes of tokens and secrets are stored. They are 128-bit
//! random values, so a fast hash is enough (a slow password hash guards low-entropy secrets, and
//! would cost every API request milliseconds).
//!
//! Twilio signs webhooks with the account's auth token, so the sinks need it back. It is never
//! stored: with a deployment secret configured, a token is derived as HMAC-SHA256(secret,
//! account SID, random nonce) and only the nonce is kept, so the sinks derive it again. A copy
//! of the database alone yields no token; the database and the secret together are needed.

use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::{CommandError, Result};

/// What an account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Calls `/v1` on its own resources.
    Customer,
    /// Also manages inventory and accounts under `/operator`.
    Operator,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Self::Customer => "customer",
            Self::Operator => "operator",
        }
    }
}

/// The account a request authenticated as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub account_sid: String,
    pub role: Role,
}

/// A credential, shown once when created.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Credential {
    pub sid: String,
    /// `auth_token` for an account, `secret` for an API key.
    #[serde(skip)]
    pub secret: String,
    pub friendly_name: String,
}

#[derive(Clone)]
pub struct Accounts {
    pool: sqlx::PgPool,
    /// The deployment secret auth tokens are derived from; without one, tokens are random and
    /// cannot sign webhooks.
    token_secret: Option<std::sync::Arc<[u8]>>,
}

/// An auth token derived from the deployment secret: 128 bits, hex, as Twilio's.
/// Why a [`RequestSigner::Unsignable`] account's requests are not made.
pub const UNSIGNABLE: &str = "this account's auth token was not issued by this deployment's secret, so requests \
     cannot be signed with it; ask the operator to issue a new auth token";

/// Who signs the requests made for a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestSigner {
    /// The account's auth token, derived again from the deployment secret and its nonce.
    Account(String),
    /// The deployment secret: the tenant is no account (the operator's own, such as
    /// `cgrates.org`).
    Deployment,
    /// An account whose token this deployment did not issue. It must not borrow the deployment
    /// secret: it names its own receivers, and one could be the operator's, which trusts it.
    Unsignable,
}

impl RequestSigner {
    /// The key an `X-Simledger-Signature` is made with, `None` when there is none.
    pub fn key<'a>(&'a self, deployment_key: &'a [u8]) -> Option<&'a [u8]> {
        match self {
            Self::Account(token) => Some(token.as_bytes()),
            Self::Deployment => Some(deployment_key),
            Self::Unsignable => None,
        }
    }
}

fn derive_token(secret: &[u8], account_sid: &str, nonce: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(b"simledger auth token\0");
    mac.update(account_sid.as_bytes());
    mac.update(b"\0");
    mac.update(nonce.as_bytes());
    hex::encode(&mac.finalize().into_bytes()[..16])
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

impl Accounts {
    pub fn new(pool: sqlx::PgPool) -> Self {
        Self { pool, token_secret: None }
    }

    /// Derives new auth tokens from `secret`, so that webhook sinks can sign with them. An empty
    /// secret is refused: it would make every token guessable.
    pub fn with_token_secret(mut self, secret: &[u8]) -> Self {
        assert!(!secret.is_empty(), "the deployment secret must not be empty");
        self.token_secret = Some(secret.into());
        self
    }

    /// A new token for `account_sid`, and the nonce to store when it is derived.
    fn new_token(&self, account_sid: &str) -> (String, Option<String>) {
        match &self.token_secret {
            Some(secret) => {
                let nonce = random_hex(16);
                (derive_token(secret, account_sid, &nonce), Some(nonce))
            }
            None => (random_hex(16), None),
        }
    }

    /// The account's auth token, derived again to sign what is sent on its behalf; `None` when
    /// the token was not derived from this deployment's secret (made without one), or there is
    /// no such account.
    pub async fn signing_token(&self, account_sid: &str) -> Result<Option<String>> {
        Ok(match self.request_signer(account_sid).await? {
            RequestSigner::Account(token) => Some(token),
            RequestSigner::Deployment | RequestSigner::Unsignable => None,
        })
    }

    /// Who signs the requests made for `tenant` ([`RequestSigner`]), in one lookup.
    pub async fn request_signer(&self, tenant: &str) -> Result<RequestSigner> {
        let nonce: Option<Option<String>> =
            sqlx::query_scalar("SELECT auth_token_nonce FROM accounts WHERE account_sid = $1")
                .bind(tenant)
                .fetch_optional(&self.pool)
                .await?;
        Ok(match (nonce, &self.token_secret) {
            (None, _) => RequestSigner::Deployment,
            (Some(Some(nonce)), Some(secret)) => RequestSigner::Account(derive_token(secret, tenant, &nonce)),
            (Some(_), _) => RequestSigner::Unsignable,
        })
    }

    /// The first `limit` accounts by SID: SID, name and role (an operator's account picker).
    pub async fn list(&self, limit: i64) -> Result<Vec<(String, String, String)>> {
        Ok(sqlx::query_as("SELECT account_sid, friendly_name, role FROM accounts ORDER BY account_sid LIMIT $1")
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
    }

    /// Creates an account; its auth token is returned once and stored only as a hash.
    pub async fn create(&self, friendly_name: &str, role: Role) -> Result<Credential> {
        let sid = format!("AC{}", random_hex(16));
        let (token, nonce) = self.new_token(&sid);
        sqlx::query(
            "INSERT INTO accounts (account_sid, friendly_name, role, auth_token_sha256, auth_token_nonce) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&sid)
        .bind(friendly_name)
        .bind(role.as_str())
        .bind(hash(&token))
        .bind(nonce)
        .execute(&self.pool)
        .await?;
        Ok(Credential { sid, secret: token, friendly_name: friendly_name.to_owned() })
    }

    /// Sets an account's auth token, creating the account with this SID if it does not exist
    /// (the simulated fleet's account, whose SID is fixed by its plan).
    pub async fn set_token(&self, account_sid: &str, friendly_name: &str, role: Role) -> Result<Credential> {
        let (token, nonce) = self.new_token(account_sid);
        sqlx::query(
            "INSERT INTO accounts (account_sid, friendly_name, role, auth_token_sha256, auth_token_nonce) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (account_sid) DO UPDATE SET auth_token_sha256 = $4, auth_token_nonce = $5",
        )
        .bind(account_sid)
        .bind(friendly_name)
        .bind(role.as_str())
        .bind(hash(&token))
        .bind(nonce)
        .execute(&self.pool)
        .await?;
        Ok(Credential { sid: account_sid.to_owned(), secret: token, friendly_name: friendly_name.to_owned() })
    }

    /// Creates an API key for an account; its secret is returned once.
    pub async fn create_key(&self, account_sid: &str, friendly_name: &str) -> Result<Credential> {
        let sid = format!("SK{}", random_hex(16));
        let secret = random_hex(16);
        let inserted = sqlx::query(
            "INSERT INTO account_keys (key_sid, account_sid, friendly_name, secret_sha256) \
             SELECT $1, account_sid, $3, $4 FROM accounts WHERE account_sid = $2",
        )
        .bind(&sid)
        .bind(account_sid)
        .bind(friendly_name)
        .bind(hash(&secret))
        .execute(&self.pool)
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(CommandError::NotFound { what: "Account", id: account_sid.to_owned() });
        }
        Ok(Credential { sid, secret, friendly_name: friendly_name.to_owned() })
    }

    /// Deletes an account's API key; `false` when the account has no such key.
    pub async fn revoke_key(&self, account_sid: &str, key_sid: &str) -> Result<bool> {
        let deleted = sqlx::query("DELETE FROM account_keys WHERE key_sid = $1 AND account_sid = $2")
            .bind(key_sid)
            .bind(account_sid)
            .execute(&self.pool)
            .await?;
        Ok(deleted.rows_affected() == 1)
    }

    /// Checks HTTP Basic credentials: `AccountSid:AuthToken` or `KeySid:Secret`.
    pub async fn authenticate(&self, username: &str, password: &str) -> Result<Option<Principal>> {
        let digest = hash(password);
        let row: Option<(String, String)> = if username.starts_with("SK") {
            sqlx::query_as(
                "SELECT a.account_sid, a.role FROM account_keys k JOIN accounts a USING (account_sid) \
                 WHERE k.key_sid = $1 AND k.secret_sha256 = $2",
            )
            .bind(username)
            .bind(&digest)
            .fetch_optional(&self.pool)
            .await?
        } else {
            sqlx::query_as("SELECT account_sid, role FROM accounts WHERE account_sid = $1 AND auth_token_sha256 = $2")
                .bind(username)
                .bind(&digest)
                .fetch_optional(&self.pool)
                .await?
        };
        Ok(row.map(|(account_sid, role)| Principal {
            account_sid,
            role: if role == "operator" { Role::Operator } else { Role::Customer },
        }))
    }
}
