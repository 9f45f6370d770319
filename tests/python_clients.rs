//! Real clients against the real binary: Twilio's own Python helper library runs a customer's
//! scenario, and schemathesis fuzzes every operation of `openapi/openapi.json`.
//!
//! Both run from a virtualenv under `target/tmp/pyenv`, created and filled from
//! `tests/python/requirements.txt` (PyPI) the first time; later runs reuse it.

mod common;

use std::path::Path;
use std::process::Command;

use common::{python_env, run_json, start_up_with};
use simledger_services::testing::TestDatabase;

/// A customer account and `cards` SIM cards in inventory, through the operator's CLI.
fn account_with_inventory(database_url: &str, cards: u32) -> (String, String, Vec<String>) {
    let account = run_json(database_url, &["account", "create", "--name", "python"]);
    let mut iccids = Vec::new();
    for n in 0..cards {
        let iccid = format!("8988307000000{n:06}");
        let imsi = format!("23415000{n:07}");
        let card = run_json(
            database_url,
            &["inventory", "add", "--iccid", &iccid, "--registration-code", "1234567890", "--imsi", &imsi],
        );
        assert_eq!(card["iccid"], iccid.as_str());
        iccids.push(iccid);
    }
    let sid = account["sid"].as_str().unwrap().to_owned();
    let token = account["auth_token"].as_str().unwrap().to_owned();
    (sid, token, iccids)
}

#[tokio::test]
async fn twilios_python_library_runs_a_customer_scenario_unchanged() {
    let bin = python_env();
    let db = TestDatabase::new().await;
    let platform = start_up_with(&db.url, &["--sim-sims", "0"]);
    let (sid, token, iccids) = account_with_inventory(&db.url, 5);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/twilio_scenario.py");
    let out = Command::new(bin.join("python"))
        .arg(script)
        .args([&platform.base, &sid, &token, &iccids.join(","), "1234567890"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the scenario failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["sims"], 5);
    assert_eq!(summary["listed"], 5);
    assert!(summary["sms"].as_str().unwrap().starts_with("HC"));
}

#[tokio::test]
async fn schemathesis_finds_no_server_error_and_no_response_outside_the_schema() {
    let bin = python_env();
    let db = TestDatabase::new().await;
    // schemathesis sends hundreds of requests with wrong credentials on purpose (its
    // ignored_auth check wants them answered 401): failed-login throttling is tested elsewhere.
    let platform = start_up_with(
        &db.url,
        &["--sim-sims", "0", "--max-failed-logins", "100000", "--max-failed-logins-per-source", "100000"],
    );
    let (sid, token, _) = account_with_inventory(&db.url, 2);
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi/openapi.json");
    let out = Command::new(bin.join("schemathesis"))
        .arg("run")
        .arg(&spec)
        .args(["--url", &platform.base, "--auth", &format!("{sid}:{token}")])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,\
             response_headers_conformance,ignored_auth,use_after_free,ensure_resource_availability",
        ])
        // A fixed seed and budget: the same requests every run, and a bounded time. One worker:
        // with two, CPython 3.11's parser was seen racing inside hypothesis ("AST constructor
        // recursion depth mismatch"), an error of the tool rather than of the API.
        .args(["--seed", "1", "--max-examples", "25", "--workers", "1"])
        .env("NO_COLOR", "1")
        // schemathesis keeps a `.schemathesis/` cache in its working directory: not the checkout.
        .current_dir(env!("CARGO_TARGET_TMPDIR"))
        .output()
        .unwrap();
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "schemathesis found problems:\n{report}");
    // Every operation of the committed document: counted from it, so a new route is tested too.
    let document: serde_json::Value = serde_json::from_slice(&std::fs::read(&spec).unwrap()).unwrap();
    let methods = ["get", "put", "post", "delete", "patch", "head", "options"];
    let operations: usize = document["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|item| item.as_object().unwrap().keys().filter(|k| methods.contains(&k.as_str())).count())
        .sum();
    assert!(
        report.contains(&format!("{operations} selected / {operations} total")),
        "every operation is tested:\n{report}"
    );
}

#[tokio::test]
async fn schemathesis_over_twilios_own_event_streams_spec_finds_no_server_error() {
    let bin = python_env();
    let db = TestDatabase::new().await;
    let platform = start_up_with(&db.url, &["--sim-sims", "0", "--allow-private-destinations"]);
    let (sid, token, _) = account_with_inventory(&db.url, 0);
    // Twilio's spec as published (twilio/twilio-oai, MIT, licence beside it): it declares only
    // success answers, so the checks are that nothing fails on our side and that what succeeds
    // has Twilio's shape.
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/twilio-oai/twilio_events_v1.json");
    let out = Command::new(bin.join("schemathesis"))
        .arg("run")
        .arg(&spec)
        .args(["--url", &platform.base, "--auth", &format!("{sid}:{token}")])
        .args(["--checks", "not_a_server_error,content_type_conformance,response_schema_conformance"])
        .args(["--seed", "1", "--max-examples", "25", "--workers", "1"])
        .env("NO_COLOR", "1")
        .current_dir(env!("CARGO_TARGET_TMPDIR"))
        .output()
        .unwrap();
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "schemathesis found problems:\n{report}");
    assert!(report.contains("22 selected"), "every Event Streams operation is tested:\n{report}");
}
