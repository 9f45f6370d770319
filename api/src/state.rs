use std::sync::Arc;

use simledger_eventlog::EventLog;

/// A named readiness check a component registers (`core_publisher`: can the nodes publish?).
pub type ReadinessCheck = (&'static str, Arc<dyn Fn() -> bool + Send + Sync>);

/// What every handler may reach. Cheap to clone; holds no per-request state, so API replicas
/// are interchangeable.
#[derive(Clone)]
pub struct AppState {
    pub log: EventLog,
    /// `None` until the NATS connection is first made; `/readyz` reports it.
    pub nats: Option<async_nats::Client>,
    pub checks: Vec<ReadinessCheck>,
}

impl AppState {
    pub fn new(log: EventLog, nats: Option<async_nats::Client>) -> Self {
        Self { log, nats, checks: Vec::new() }
    }

    /// Adds a check `/readyz` reports by name and requires to pass.
    pub fn with_check(mut self, name: &'static str, check: impl Fn() -> bool + Send + Sync + 'static) -> Self {
        self.checks.push((name, Arc::new(check)));
        self
    }
}
