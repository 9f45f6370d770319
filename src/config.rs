use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use simledger_services::DataDir;

/// Settings every subcommand shares. Each flag falls back to an environment variable, so
/// several instances (different databases, ports, NATS prefixes) run side by side.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address the HTTP API listens on.
    #[arg(long, env = "SIMLEDGER_LISTEN", default_value = "127.0.0.1:8080", global = true)]
    pub listen: SocketAddr,

    /// PostgreSQL database; created if missing, server started if local and not running.
    #[arg(long, env = "DATABASE_URL", default_value = "postgres://postgres@127.0.0.1:5432/simledger", global = true)]
    pub database_url: String,

    /// NATS server with JetStream; started if local and not running.
    #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:4222", global = true)]
    pub nats_url: String,

    /// Prefix for this instance's NATS stream and subject names [default: from the database name].
    #[arg(long, env = "SIMLEDGER_NATS_PREFIX", global = true)]
    pub nats_prefix: Option<String>,

    /// Where services that simledger starts itself keep their files.
    #[arg(long, env = "SIMLEDGER_DATA_DIR", default_value = ".data", global = true)]
    pub data_dir: PathBuf,

    /// Log filter, as RUST_LOG (e.g. `info`, `simledger_eventlog=debug`).
    #[arg(long = "log", env = "RUST_LOG", default_value = "info,sqlx=warn,async_nats=warn", global = true)]
    pub log_filter: String,
}

impl Config {
    pub fn data_dir(&self) -> DataDir {
        DataDir(self.data_dir.clone())
    }

    /// The NATS prefix: given, or the database name made subject-safe.
    pub fn nats_prefix(&self) -> anyhow::Result<String> {
        let raw = match &self.nats_prefix {
            Some(p) => p.clone(),
            None => simledger_services::postgres::database_name(&self.database_url)?,
        };
        let prefix: String =
            raw.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect();
        anyhow::ensure!(!prefix.is_empty(), "the NATS prefix may not be empty");
        Ok(prefix)
    }
}
