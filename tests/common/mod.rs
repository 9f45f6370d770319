//! Starting the `simledger` binary as a user would, against a fresh database on a random port.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use simledger_services::testing;

pub fn simledger() -> Command {
    Command::new(env!("CARGO_BIN_EXE_simledger"))
}

/// The binary against `database_url` and the test NATS server under `prefix`, logging
/// warnings (`RUST_LOG`) to the test's stderr and nothing to stdout.
pub fn simledger_on(database_url: &str, prefix: &str, log: &str) -> Command {
    let mut c = simledger();
    c.env("DATABASE_URL", database_url)
        .env("NATS_URL", testing::nats_url())
        .env("SIMLEDGER_NATS_PREFIX", prefix)
        .env("SIMLEDGER_DATA_DIR", testing::data_dir().0)
        .env("RUST_LOG", log)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    c
}

/// A running `simledger up`, killed when dropped.
pub struct Platform {
    pub child: Child,
    pub base: String,
    /// The CGrateS-style JSON-RPC listener's URL (`…/jsonrpc`).
    pub jsonrpc: String,
}

impl Drop for Platform {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start_up(database_url: &str) -> Platform {
    start_up_with(database_url, &["--sim-sims", "3"])
}

/// Waits for `up`'s "API listening" line on the child's piped stdout; returns the API's base
/// URL, and keeps draining the output so the child never blocks on it.
pub fn wait_for_listen_line(child: &mut Child) -> String {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("API listening on http://").nth(1) {
                let _ = tx.send(rest.split_whitespace().next().unwrap().to_owned());
            }
        }
    });
    format!("http://{}", rx.recv_timeout(Duration::from_secs(60)).expect("`up` reports its listen address"))
}

pub fn start_up_with(database_url: &str, extra: &[&str]) -> Platform {
    start_up_in(database_url, &testing::data_dir().0, extra)
}

/// `up` with a data directory of its own (where it writes the simulated fleet's credentials).
pub fn start_up_in(database_url: &str, data_dir: &Path, extra: &[&str]) -> Platform {
    let mut child = simledger()
        .args(["up", "--listen", "127.0.0.1:0", "--jsonrpc-listen", "127.0.0.1:0", "--log", "info"])
        .args(extra)
        .env("DATABASE_URL", database_url)
        .env("NATS_URL", testing::nats_url())
        .env("SIMLEDGER_NATS_PREFIX", testing::unique_nats_prefix())
        .env("SIMLEDGER_DATA_DIR", data_dir)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("simledger binary starts");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut jsonrpc = String::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("JSON-RPC listening on http://").nth(1) {
                jsonrpc = rest.split("/jsonrpc").next().unwrap().to_owned();
            }
            if let Some(rest) = line.split("API listening on http://").nth(1) {
                let addr = rest.split_whitespace().next().unwrap().to_owned();
                let _ = tx.send((addr, jsonrpc.clone()));
            }
        }
    });
    let (addr, jsonrpc) = rx.recv_timeout(Duration::from_secs(60)).expect("`up` reports its listen address");
    Platform { child, base: format!("http://{addr}"), jsonrpc: format!("http://{jsonrpc}/jsonrpc") }
}

/// Runs a `simledger` subcommand against `database_url` and parses the JSON it prints.
pub fn run_json(database_url: &str, args: &[&str]) -> serde_json::Value {
    let out = simledger()
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("SIMLEDGER_DATA_DIR", testing::data_dir().0)
        .env("RUST_LOG", "warn")
        .output()
        .expect("simledger runs");
    assert!(out.status.success(), "simledger {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

static VENV: Mutex<Option<PathBuf>> = Mutex::new(None);

/// The bin directory of a virtualenv under `target/tmp/pyenv` holding
/// `tests/python/requirements.txt` (Twilio's library, schemathesis, moto, Playwright), set up once per
/// checkout from PyPI and again when the requirements change.
pub fn python_env() -> PathBuf {
    let mut venv = VENV.lock().unwrap();
    if let Some(bin) = venv.as_ref() {
        return bin.clone();
    }
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("pyenv");
    let bin = root.join("bin");
    let requirements = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/requirements.txt");
    let wanted = std::fs::read_to_string(&requirements).unwrap();
    let marker = root.join("installed-requirements.txt");
    if std::fs::read_to_string(&marker).ok().as_deref() != Some(wanted.as_str()) {
        // Another test binary may be installing at the same time: one installs, under a lock file.
        std::fs::create_dir_all(&root).unwrap();
        let lock = std::fs::File::create(root.join(".install-lock")).unwrap();
        lock.lock().unwrap();
        if std::fs::read_to_string(&marker).ok().as_deref() != Some(wanted.as_str()) {
            let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
            let status = Command::new(&python).args(["-m", "venv"]).arg(&root).status().expect("python3 runs");
            assert!(status.success(), "python3 -m venv failed");
            let status = Command::new(bin.join("pip"))
                .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
                .arg(&requirements)
                .status()
                .expect("pip runs");
            assert!(status.success(), "pip install -r {} failed", requirements.display());
            std::fs::write(&marker, &wanted).unwrap();
        }
    }
    *venv = Some(bin.clone());
    bin
}

/// A data session's `ended` event for `account`, numbered `n`: what closes a CDR.
pub fn ended_session(account: &str, n: u32) -> simledger_eventlog::Event {
    use simledger_eventlog::catalog::ConnectionEvent;
    let start = chrono::DateTime::from_timestamp(1_780_000_000 + i64::from(n), 0).unwrap();
    let network = simledger_eventlog::networks::catalog().by_plmn("234", "15").unwrap().to_ref();
    simledger_eventlog::Event::DataSessionEnded(ConnectionEvent {
        event_sid: format!("EZ{n}"),
        sim_sid: format!("HS{:032}", n % 50),
        network,
        data_session_data_total: Some(2),
        data_session_data_download: Some(1),
        data_session_data_upload: Some(1),
        data_session_end_time: Some(start),
        ..simledger_test_support::ended(account, "", &format!("PI{n:032}"), start, start, 2)
    })
}

/// moto's server (S3, Kinesis, STS) on a free port, from the test virtualenv; killed when dropped.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn start_moto() -> Moto {
    let bin = python_env();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(bin.join("moto_server"))
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("moto_server starts");
    let endpoint = format!("http://127.0.0.1:{port}");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while reqwest::get(&endpoint).await.is_err() {
        assert!(std::time::Instant::now() < deadline, "moto answers within 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Moto { child, endpoint }
}

/// Debian's Chromium, installed from Debian's packages when missing (browsers cannot be
/// downloaded by Playwright here); `CHROMIUM` names another binary.
pub fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return PathBuf::from(path);
    }
    let path = PathBuf::from("/usr/bin/chromium");
    static INSTALL: Mutex<()> = Mutex::new(());
    let _once = INSTALL.lock().unwrap();
    if !path.exists() {
        let root = Command::new("id").arg("-u").output().map(|o| o.stdout == b"0\n").unwrap_or(false);
        let mut apt = if root { Command::new("apt-get") } else { Command::new("sudo") };
        if !root {
            apt.args(["-n", "apt-get"]);
        }
        let status = apt
            .args(["install", "-y", "-q", "chromium"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .expect("apt-get runs");
        assert!(status.success(), "installing Debian's chromium failed (apt-get install chromium)");
    }
    path
}
