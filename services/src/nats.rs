//! NATS with JetStream: reach it, start it where it is ours to start.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::process::{apt_install, which};
use crate::{is_loopback, DataDir, Result, ServiceError};

const SERVICE: &str = "NATS";

/// `(host, port)` of a `nats://host:port` URL (the first, if it lists several).
pub fn host_port(url: &str) -> Result<(String, u16)> {
    let invalid =
        |reason: &str| ServiceError::InvalidUrl { service: SERVICE, url: url.to_owned(), reason: reason.to_owned() };
    let first = url.split(',').next().unwrap_or(url).trim();
    let rest = first.split_once("://").map_or(first, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let rest = rest.trim_end_matches('/');
    match rest.rsplit_once(':') {
        Some((host, port)) => Ok((host.to_owned(), port.parse().map_err(|_| invalid("bad port"))?)),
        None if !rest.is_empty() => Ok((rest.to_owned(), 4222)),
        None => Err(invalid("no host")),
    }
}

/// Connects once, without the client's own retrying: used to probe and at start-up.
pub async fn connect(url: &str) -> std::result::Result<async_nats::Client, async_nats::ConnectError> {
    async_nats::ConnectOptions::new().connection_timeout(Duration::from_secs(3)).connect(url).await
}

/// Makes sure a JetStream-enabled server answers at `url`; on a loopback address with nothing
/// listening, starts `nats-server -js` with its store under `data_dir/nats` (installing Debian's
/// `nats-server` if absent). The server is left running, like any other service.
pub async fn ensure_running(url: &str, data_dir: &DataDir) -> Result<()> {
    if connect(url).await.is_ok() {
        return Ok(());
    }
    let (host, port) = host_port(url)?;
    let addr = format!("{host}:{port}");
    if !is_loopback(&host) {
        return Err(ServiceError::Unreachable { service: SERVICE, addr });
    }
    let dir = data_dir.absolute()?.join("nats");
    std::fs::create_dir_all(&dir)
        .map_err(|source| ServiceError::Io { doing: format!("creating {}", dir.display()), source })?;
    let server = match which("nats-server", &["/usr/sbin", "/usr/local/bin"]) {
        Some(path) => path,
        None => {
            tokio::task::spawn_blocking(|| apt_install(SERVICE, "nats-server"))
                .await
                .map_err(|e| ServiceError::StartFailed { service: SERVICE, reason: e.to_string() })??;
            which("nats-server", &["/usr/sbin", "/usr/local/bin"]).ok_or(ServiceError::StartFailed {
                service: SERVICE,
                reason: "nats-server installed but not found".into(),
            })?
        }
    };
    let log = std::fs::File::create(dir.join("server.log"))
        .map_err(|source| ServiceError::Io { doing: "creating nats log".into(), source })?;
    let mut cmd = Command::new(&server);
    cmd.args(["-a", &host, "-p", &port.to_string(), "-js", "-sd"])
        .arg(&dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|source| ServiceError::Io { doing: "nats log".into(), source })?)
        .stderr(log);
    // Its own process group: a Ctrl-C to `simledger up` must not take the service down with it.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    cmd.spawn()
        .map_err(|e| ServiceError::StartFailed { service: SERVICE, reason: format!("{}: {e}", server.display()) })?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match connect(url).await {
            Ok(_) => break,
            Err(e) if Instant::now() > deadline => {
                return Err(ServiceError::StartFailed {
                    service: SERVICE,
                    reason: format!("started {} but {addr} still refuses connections: {e}", server.display()),
                })
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    tracing::info!(%addr, "NATS was not running; started {} -js with its store in {}", server.display(), dir.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::host_port;

    #[test]
    fn host_port_reads_the_first_server_of_a_url() {
        assert_eq!(host_port("nats://127.0.0.1:4222").unwrap(), ("127.0.0.1".into(), 4222));
        assert_eq!(host_port("nats://u:p@localhost:14222,nats://b:1").unwrap(), ("localhost".into(), 14222));
        assert_eq!(host_port("localhost").unwrap(), ("localhost".into(), 4222));
        assert!(host_port("nats://h:notaport").is_err());
    }
}
