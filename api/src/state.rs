use simledger_eventlog::EventLog;

/// What every handler may reach. Cheap to clone; holds no per-request state, so API replicas
/// are interchangeable.
#[derive(Clone)]
pub struct AppState {
    pub log: EventLog,
    /// `None` until the NATS connection is first made; `/readyz` reports it.
    pub nats: Option<async_nats::Client>,
}

impl AppState {
    pub fn new(log: EventLog, nats: Option<async_nats::Client>) -> Self {
        Self { log, nats }
    }
}
