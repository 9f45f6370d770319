//! The dashboard in a real browser: Debian's Chromium driven by Playwright
//! (`tests/python/dashboard_browser.py`) against `simledger up` with a simulated fleet. It signs
//! in, checks the overview's counts against `/v1`, watches simulated attaches arrive in the live
//! feed within 2 s of their commit, pauses and resumes the feed and compares it with the log,
//! waits for the usage chart to show data, checks that another customer cannot open the fleet's
//! SIM, that sign-out ends the session, and that an operator picks an account and sees every
//! projection's lag. A screenshot of every page is kept under
//! `target/tmp/dashboard-screenshots/`.

mod common;

use std::path::Path;
use std::process::Command;

use common::{chromium, python_env, run_json, start_up_in};
use simledger_services::testing::TestDatabase;

#[tokio::test]
async fn the_dashboard_works_in_chromium() {
    let bin = python_env();
    let browser = chromium();
    let db = TestDatabase::new().await;
    let data_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("dashboard-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&data_dir).unwrap();
    // 20 SIMs at 30 simulated seconds a second: attaches every few seconds, data-session
    // windows (usage) within a minute.
    let platform = start_up_in(&db.url, &data_dir, &["--sim-sims", "20", "--sim-speed", "30"]);
    // `up` writes the simulated fleet's credentials once its account exists.
    let credentials = data_dir.join("simulated-account.json");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let fleet: serde_json::Value = loop {
        if let Some(v) = std::fs::read_to_string(&credentials).ok().and_then(|t| serde_json::from_str(&t).ok()) {
            break v;
        }
        assert!(std::time::Instant::now() < deadline, "`up` wrote {}", credentials.display());
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let other = run_json(&db.url, &["account", "create", "--name", "someone else"]);
    let operator = run_json(&db.url, &["account", "create", "--name", "operations", "--operator"]);
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard-screenshots");
    std::fs::create_dir_all(&shots).unwrap();

    let out = Command::new(bin.join("python"))
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/dashboard_browser.py"))
        .arg(&platform.base)
        .args([fleet["sid"].as_str().unwrap(), fleet["auth_token"].as_str().unwrap()])
        .args([other["sid"].as_str().unwrap(), other["auth_token"].as_str().unwrap()])
        .arg(&shots)
        .arg(&browser)
        .args([operator["sid"].as_str().unwrap(), operator["auth_token"].as_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the browser run failed:\n{stderr}");
    let results: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    eprintln!("dashboard in Chromium: {results}");
    assert_eq!(results["cookie"]["sameSite"], "Strict");
    assert!(results["overview"]["sims_total"].as_i64().unwrap() > 0);
    assert!(results["feed_lag_ms"]["max"].as_i64().unwrap() < 2000);
    assert!(results["reconnect"]["events_checked"].as_i64().unwrap() > 0);
    assert!(results["usage_bars"].as_i64().unwrap() > 0);
    assert_eq!(results["signed_out"], 401);
    assert!(results["other_account_sim"].as_str().unwrap().contains("Not found"));
    assert!(results["operator_projections"].as_i64().unwrap() >= 8, "every projection's lag, for the operator");
    for page in ["01-sign-in", "02-overview", "03-live-events", "04-usage", "06-sim", "09-exports"] {
        assert!(shots.join(format!("{page}.png")).metadata().unwrap().len() > 10_000, "{page} was captured");
    }
    let _ = std::fs::remove_dir_all(&data_dir);
}
