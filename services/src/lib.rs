//! The external services simledger stands on, and how to reach them.
//!
//! PostgreSQL and NATS JetStream are real dependencies, never mocked. Where they are not running
//! at the configured loopback address, [`postgres::ensure_running`] and [`nats::ensure_running`]
//! start them (an installed cluster, or a private one under the data directory), so a fresh
//! machine needs nothing but the README's commands. Remote addresses are never started, only
//! waited for.

pub mod nats;
pub mod postgres;
pub mod schema;
pub mod testing;

mod process;

use std::path::PathBuf;

/// Errors while bringing up or connecting to a service.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("invalid {service} URL {url:?}: {reason}")]
    InvalidUrl { service: &'static str, url: String, reason: String },
    #[error("{service} is not reachable at {addr} and it is not a loopback address, so it is not started here")]
    Unreachable { service: &'static str, addr: String },
    #[error("could not start {service}: {reason}")]
    StartFailed { service: &'static str, reason: String },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("i/o error while {doing}: {source}")]
    Io { doing: String, source: std::io::Error },
}

pub type Result<T, E = ServiceError> = std::result::Result<T, E>;

/// Where simledger keeps what it starts itself (a private Postgres cluster, NATS's JetStream
/// store, their logs).
#[derive(Debug, Clone)]
pub struct DataDir(pub PathBuf);

impl DataDir {
    /// The absolute path: services started in the background must not depend on our cwd.
    pub fn absolute(&self) -> Result<PathBuf> {
        std::fs::create_dir_all(&self.0)
            .map_err(|source| ServiceError::Io { doing: format!("creating data dir {}", self.0.display()), source })?;
        std::fs::canonicalize(&self.0)
            .map_err(|source| ServiceError::Io { doing: format!("resolving data dir {}", self.0.display()), source })
    }
}

fn is_loopback(host: &str) -> bool {
    matches!(host, "localhost" | "::1" | "[::1]") || host.starts_with("127.")
}

/// Tracing for tests, once per process, at `RUST_LOG` (default: warnings).
pub fn init_test_tracing() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
            )
            .with_test_writer()
            .try_init();
    });
}
