use std::sync::Arc;

use simledger_commands::{Accounts, Commands};
use simledger_eventlog::EventLog;
use simledger_exporters::cdr_export::grants::ExportGrants;

use crate::extract::{Authenticator, LoginLimits};
use crate::rate_limit::RateLimiter;

/// Requests per second per account unless configured otherwise.
pub const DEFAULT_RATE_LIMIT: u32 = 10_000;

/// A named readiness check a component registers (`core_publisher`: can the nodes publish?).
pub type ReadinessCheck = (&'static str, Arc<dyn Fn() -> bool + Send + Sync>);

/// What every handler may reach. Cheap to clone; holds no per-request state, so API replicas
/// are interchangeable.
#[derive(Clone)]
pub struct AppState {
    pub commands: Commands,
    pub accounts: Accounts,
    pub(crate) auth: Authenticator,
    pub(crate) rate_limit: RateLimiter,
    login_limits: LoginLimits,
    /// Where customers' own exporters may write.
    pub(crate) export_grants: ExportGrants,
    /// `None` until the NATS connection is first made; `/readyz` reports it.
    pub nats: Option<async_nats::Client>,
    pub checks: Vec<ReadinessCheck>,
    /// The billing tenant JSON-RPC calls act on when they name none (CGrateS's
    /// `general.default_tenant`).
    pub default_tenant: Option<String>,
    /// How long a request may take before it is answered 503 and its work dropped.
    pub(crate) request_timeout: std::time::Duration,
    /// How long a dashboard sign-in lasts.
    pub(crate) dashboard_session_ttl: std::time::Duration,
    /// The dashboard's one shared tail of the log, for its live feeds.
    pub(crate) feeds: crate::dashboard::FeedHub,
}

impl AppState {
    pub fn new(commands: Commands, nats: Option<async_nats::Client>) -> Self {
        let accounts = Accounts::new(commands.log().pool().clone());
        Self {
            auth: Authenticator::new(accounts.clone(), LoginLimits::default()),
            rate_limit: RateLimiter::new(DEFAULT_RATE_LIMIT),
            login_limits: LoginLimits::default(),
            export_grants: ExportGrants::new(std::env::temp_dir().join("simledger-exports")),
            accounts,
            commands,
            nats,
            checks: Vec::new(),
            default_tenant: None,
            request_timeout: crate::REQUEST_TIMEOUT,
            dashboard_session_ttl: crate::dashboard::session::DEFAULT_TTL,
            feeds: Default::default(),
        }
    }

    /// Answers a request that takes longer than `timeout` with 503 (default 30 s).
    pub fn with_request_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// How long a dashboard sign-in lasts (8 hours unless configured otherwise).
    pub fn with_dashboard_session_ttl(mut self, ttl: std::time::Duration) -> Self {
        self.dashboard_session_ttl = ttl;
        self
    }

    /// The accounts store to authenticate with and create accounts in (one that derives auth
    /// tokens from the deployment secret, so webhook sinks can sign).
    pub fn with_accounts(mut self, accounts: Accounts) -> Self {
        self.auth = Authenticator::new(accounts.clone(), self.login_limits);
        self.accounts = accounts;
        self
    }

    /// Where customers' own exporters may write (the operator's grant).
    pub fn with_export_grants(mut self, grants: ExportGrants) -> Self {
        self.export_grants = grants;
        self
    }

    /// How many failed logins a minute are answered before 429.
    pub fn with_login_limits(mut self, limits: LoginLimits) -> Self {
        self.login_limits = limits;
        self.auth = Authenticator::new(self.accounts.clone(), limits);
        self
    }

    /// Requests per second each account may make (0: no limit).
    pub fn with_rate_limit(mut self, per_account: u32) -> Self {
        self.rate_limit = RateLimiter::new(per_account);
        self
    }

    /// The tenant JSON-RPC calls without a `Tenant` act on.
    pub fn with_default_tenant(mut self, tenant: Option<String>) -> Self {
        self.default_tenant = tenant;
        self
    }

    /// Adds a check `/readyz` reports by name and requires to pass.
    pub fn with_check(mut self, name: &'static str, check: impl Fn() -> bool + Send + Sync + 'static) -> Self {
        self.checks.push((name, Arc::new(check)));
        self
    }

    pub fn log(&self) -> &EventLog {
        self.commands.log()
    }

    pub fn pool(&self) -> &sqlx::PgPool {
        self.commands.log().pool()
    }
}
