use std::sync::Arc;

use simledger_commands::{Accounts, Commands};
use simledger_eventlog::EventLog;

use crate::extract::Authenticator;

/// A named readiness check a component registers (`core_publisher`: can the nodes publish?).
pub type ReadinessCheck = (&'static str, Arc<dyn Fn() -> bool + Send + Sync>);

/// What every handler may reach. Cheap to clone; holds no per-request state, so API replicas
/// are interchangeable.
#[derive(Clone)]
pub struct AppState {
    pub commands: Commands,
    pub accounts: Accounts,
    pub(crate) auth: Authenticator,
    /// `None` until the NATS connection is first made; `/readyz` reports it.
    pub nats: Option<async_nats::Client>,
    pub checks: Vec<ReadinessCheck>,
}

impl AppState {
    pub fn new(commands: Commands, nats: Option<async_nats::Client>) -> Self {
        let accounts = Accounts::new(commands.log().pool().clone());
        Self { auth: Authenticator::new(accounts.clone()), accounts, commands, nats, checks: Vec::new() }
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
