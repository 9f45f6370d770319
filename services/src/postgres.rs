//! PostgreSQL: reach it, start it where it is ours to start, create the database.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgConnection, PgPool};

use crate::process::{apt_install, is_root, run, which};
use crate::{is_loopback, DataDir, Result, ServiceError};

const SERVICE: &str = "PostgreSQL";

pub fn parse_url(url: &str) -> Result<PgConnectOptions> {
    PgConnectOptions::from_str(url).map_err(|e| ServiceError::InvalidUrl {
        service: SERVICE,
        url: url.to_owned(),
        reason: e.to_string(),
    })
}

/// Options for the server's maintenance database, to create or drop others from.
pub fn maintenance_options(url: &str) -> Result<PgConnectOptions> {
    Ok(parse_url(url)?.database("postgres"))
}

/// The database a URL names (`simledger` when it names none).
pub fn database_name(url: &str) -> Result<String> {
    Ok(parse_url(url)?.get_database().unwrap_or("simledger").to_owned())
}

async fn try_connect(opts: &PgConnectOptions) -> std::result::Result<PgConnection, sqlx::Error> {
    match tokio::time::timeout(Duration::from_secs(3), opts.connect()).await {
        Ok(result) => result,
        Err(_) => Err(sqlx::Error::PoolTimedOut),
    }
}

/// Makes sure a server answers at `url`, starting one if the address is loopback and nothing
/// answers: the installed cluster for that port if there is one, else a private cluster under
/// `data_dir/postgres` (installing Debian's `postgresql` if its binaries are absent).
pub async fn ensure_running(url: &str, data_dir: &DataDir) -> Result<()> {
    let opts = maintenance_options(url)?;
    if try_connect(&opts).await.is_ok() {
        return Ok(());
    }
    let host = opts.get_host().to_owned();
    let port = opts.get_port();
    let addr = format!("{host}:{port}");
    if !is_loopback(&host) {
        return Err(ServiceError::Unreachable { service: SERVICE, addr });
    }
    let how = {
        let data_dir = data_dir.absolute()?;
        let host = host.clone();
        tokio::task::spawn_blocking(move || start_local(&host, port, &data_dir))
            .await
            .map_err(|e| ServiceError::StartFailed { service: SERVICE, reason: e.to_string() })??
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match try_connect(&opts).await {
            Ok(_) => break,
            Err(e) if Instant::now() > deadline => {
                return Err(ServiceError::StartFailed {
                    service: SERVICE,
                    reason: format!("{how} but {addr} still refuses connections: {e}"),
                })
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    tracing::info!(%addr, "PostgreSQL was not running; started {how}");
    Ok(())
}

fn start_local(host: &str, port: u16, data_dir: &Path) -> Result<String> {
    if let Some((version, cluster)) = installed_cluster_on_port(port) {
        let started = run(
            SERVICE,
            Command::new("pg_ctlcluster").args(["--skip-systemctl-redirect", &version, &cluster, "start"]),
        );
        if started.is_ok() {
            return Ok(format!("the installed cluster {version}/{cluster} with pg_ctlcluster"));
        }
    }
    let bin = match postgres_bin_dir() {
        Some(bin) => bin,
        None => {
            apt_install(SERVICE, "postgresql")?;
            postgres_bin_dir().ok_or(ServiceError::StartFailed {
                service: SERVICE,
                reason: "postgresql installed but no initdb found under /usr/lib/postgresql".into(),
            })?
        }
    };
    let cluster = data_dir.join("postgres");
    // initdb refuses to run as root; the cluster belongs to the `postgres` user then.
    let as_user = |program: PathBuf| -> Command {
        if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        }
    };
    if !cluster.join("PG_VERSION").exists() {
        std::fs::create_dir_all(&cluster)
            .map_err(|source| ServiceError::Io { doing: format!("creating {}", cluster.display()), source })?;
        if is_root() {
            run(SERVICE, Command::new("chown").args(["-R", "postgres:postgres"]).arg(&cluster))?;
        }
        run(
            SERVICE,
            as_user(bin.join("initdb")).arg("-D").arg(&cluster).args([
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-locale",
            ]),
        )?;
    }
    let options = format!("-p {port} -c listen_addresses={host} -k {}", cluster.display());
    run(
        SERVICE,
        as_user(bin.join("pg_ctl"))
            .arg("-D")
            .arg(&cluster)
            .arg("-l")
            .arg(cluster.join("server.log"))
            .args(["-o", &options, "-w", "start"]),
    )?;
    Ok(format!("a private cluster in {} with pg_ctl", cluster.display()))
}

/// `(version, cluster)` of a Debian-installed cluster configured for `port`.
fn installed_cluster_on_port(port: u16) -> Option<(String, String)> {
    which("pg_ctlcluster", &["/usr/bin"])?;
    let versions = std::fs::read_dir("/etc/postgresql").ok()?;
    for version in versions.flatten() {
        for cluster in std::fs::read_dir(version.path()).ok()?.flatten() {
            let conf = std::fs::read_to_string(cluster.path().join("postgresql.conf")).unwrap_or_default();
            let configured = conf
                .lines()
                .filter_map(|l| l.trim().strip_prefix("port"))
                .filter_map(|rest| rest.trim_start().strip_prefix('='))
                .filter_map(|v| v.split('#').next()?.trim().parse::<u16>().ok())
                .next_back()
                .unwrap_or(5432);
            if configured == port {
                return Some((
                    version.file_name().to_string_lossy().into_owned(),
                    cluster.file_name().to_string_lossy().into_owned(),
                ));
            }
        }
    }
    None
}

fn postgres_bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<u32> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    versions.sort_unstable();
    versions
        .into_iter()
        .rev()
        .map(|v| PathBuf::from(format!("/usr/lib/postgresql/{v}/bin")))
        .find(|bin| bin.join("initdb").is_file())
}

/// `url` with its database replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, _) = url.rsplit_once('/').expect("database URL has a path");
    let query = url.split_once('?').map(|(_, q)| format!("?{q}")).unwrap_or_default();
    format!("{base}/{name}{query}")
}

/// Drops the database `url` names, disconnecting anyone still on it.
pub async fn drop_database(url: &str) -> Result<()> {
    let name = database_name(url)?;
    let mut conn = maintenance_options(url)?.connect().await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_ident(&name))).execute(&mut conn).await?;
    Ok(())
}

/// Quotes an identifier for the few statements (CREATE/DROP DATABASE) that cannot take binds.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Creates the database `url` names when it does not exist yet. Returns whether it created it.
pub async fn ensure_database(url: &str) -> Result<bool> {
    let name = database_name(url)?;
    let mut conn = maintenance_options(url)?.connect().await?;
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(&name)
        .fetch_one(&mut conn)
        .await?;
    if exists {
        return Ok(false);
    }
    match sqlx::query(&format!("CREATE DATABASE {}", quote_ident(&name))).execute(&mut conn).await {
        Ok(_) => {
            tracing::info!(database = %name, "created database");
            Ok(true)
        }
        // Another process created it between our check and our CREATE.
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P04") => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// A pool on the database `url` names.
pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool> {
    let opts = parse_url(url)?.log_statements(tracing::log::LevelFilter::Debug);
    Ok(PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(opts)
        .await?)
}

/// Everything `up`, `migrate` and the tests need before touching the database: the server
/// running, the database present, the schema migrated.
pub async fn prepare(url: &str, data_dir: &DataDir, max_connections: u32) -> Result<PgPool> {
    ensure_running(url, data_dir).await?;
    ensure_database(url).await?;
    let pool = connect(url, max_connections).await?;
    crate::schema::migrate(&pool).await?;
    Ok(pool)
}
