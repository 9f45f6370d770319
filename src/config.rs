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

    /// Let outbound calls (webhook sinks, callbacks) reach loopback, private and link-local
    /// addresses. Off by default: a customer's URL must not reach the deployment's own network.
    #[arg(long, env = "SIMLEDGER_ALLOW_PRIVATE_DESTINATIONS", global = true)]
    pub allow_private_destinations: bool,

    /// The deployment secret: signs billing's `*http_post` requests and derives auth tokens so
    /// webhook sinks can sign as Twilio does [default: made once and kept in
    /// `<data dir>/signing-key`].
    #[arg(long, env = "SIMLEDGER_SIGNING_KEY", hide_env_values = true, global = true)]
    pub signing_key: Option<String>,

    /// The regions the core has a PGW in (`us-east`, `eu-west`, `ap-southeast`); the first is
    /// where fleets that name no region break out.
    #[arg(long, env = "SIMLEDGER_PGW_REGIONS", value_delimiter = ',', default_value = "us-east", global = true)]
    pub pgw_regions: Vec<simledger_eventlog::catalog::BreakoutRegion>,

    /// Of those regions, the ones whose PGW runs in a process of its own (`simledger pgw
    /// --region R`) rather than in this one.
    #[arg(long, env = "SIMLEDGER_PGW_REMOTE", value_delimiter = ',', global = true)]
    pub pgw_remote: Vec<simledger_eventlog::catalog::BreakoutRegion>,

    /// Log filter, as RUST_LOG (e.g. `info`, `simledger_eventlog=debug`).
    #[arg(long = "log", env = "RUST_LOG", default_value = "info,sqlx=warn,async_nats=warn", global = true)]
    pub log_filter: String,
}

impl Config {
    pub fn data_dir(&self) -> DataDir {
        DataDir(self.data_dir.clone())
    }

    /// The core's PGW regions and which of them run here.
    pub fn breakout(&self) -> anyhow::Result<simledger_core::regions::Breakout> {
        simledger_core::regions::Breakout::new(self.pgw_regions.clone(), &self.pgw_remote).map_err(anyhow::Error::msg)
    }

    /// What outbound calls may reach.
    pub fn destination_policy(&self) -> simledger_outbound::DestinationPolicy {
        simledger_outbound::DestinationPolicy::new(self.allow_private_destinations)
    }

    /// The deployment secret: given, or made (256 random bits, hex) the first time and kept,
    /// readable by its owner only, in the data directory. An empty one is refused.
    pub fn deployment_secret(&self) -> anyhow::Result<String> {
        use anyhow::Context;
        if let Some(k) = &self.signing_key {
            anyhow::ensure!(!k.trim().is_empty(), "the signing key (--signing-key, SIMLEDGER_SIGNING_KEY) is empty");
            return Ok(k.clone());
        }
        let dir = self.data_dir().absolute()?;
        let path = dir.join("signing-key");
        if let Ok(key) = std::fs::read_to_string(&path) {
            let key = key.trim().to_owned();
            anyhow::ensure!(!key.is_empty(), "{} is empty; remove it to make a new key", path.display());
            return Ok(key);
        }
        std::fs::create_dir_all(&dir)?;
        let key = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
        // Written whole under a temporary name, then linked into place: a process starting at
        // the same moment reads either no file or the whole key, and the first link wins.
        let tmp = dir.join(format!(".signing-key.{}", uuid::Uuid::new_v4().simple()));
        {
            use std::os::unix::fs::OpenOptionsExt;
            let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
            std::io::Write::write_all(&mut file, key.as_bytes())?;
            file.sync_all()?;
        }
        let linked = std::fs::hard_link(&tmp, &path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => {
                tracing::info!(path = %path.display(), "made the deployment secret");
                Ok(key)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Ok(std::fs::read_to_string(&path)?.trim().to_owned())
            }
            Err(e) => Err(e).with_context(|| format!("creating {}", path.display())),
        }
    }

    /// The accounts store, deriving auth tokens from the deployment secret.
    pub fn accounts(&self, pool: sqlx::PgPool) -> anyhow::Result<simledger_commands::Accounts> {
        Ok(simledger_commands::Accounts::new(pool).with_token_secret(self.deployment_secret()?.as_bytes()))
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

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        config: Config,
    }

    fn config(args: &[&str]) -> Config {
        Cli::try_parse_from(std::iter::once("simledger").chain(args.iter().copied())).unwrap().config
    }

    #[test]
    fn an_empty_signing_key_is_refused_given_or_kept() {
        let dir = std::env::temp_dir().join(format!("simledger-key-{}", uuid::Uuid::new_v4().simple()));
        let data_dir = dir.to_str().unwrap();
        let given = config(&["--data-dir", data_dir, "--signing-key", "  "]).deployment_secret();
        assert!(given.is_err_and(|e| e.to_string().contains("empty")));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("signing-key"), "\n").unwrap();
        let kept = config(&["--data-dir", data_dir]).deployment_secret();
        assert!(kept.is_err_and(|e| e.to_string().contains("empty")));
        // Made fresh once the empty file is gone, readable by its owner only, and kept.
        std::fs::remove_file(dir.join("signing-key")).unwrap();
        let made = config(&["--data-dir", data_dir]).deployment_secret().unwrap();
        assert_eq!(made.len(), 64);
        let mode =
            std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(dir.join("signing-key")).unwrap().permissions());
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(config(&["--data-dir", data_dir]).deployment_secret().unwrap(), made);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
