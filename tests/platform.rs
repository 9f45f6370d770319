//! End to end: the `simledger` binary itself, started as a user would start it, against a fresh
//! database on a random port.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use simledger_services::testing::TestDatabase;

mod common;

use common::{simledger, start_up, start_up_with};

#[tokio::test]
async fn up_creates_and_migrates_its_database_and_serves_health_readiness_metrics_and_openapi() {
    let db = TestDatabase::new().await;
    // A database that does not exist yet: `up` must create it.
    let fresh = simledger_services::postgres::with_database(&db.url, &format!("{}_up", db.name));
    let platform = start_up(&fresh);

    let health = reqwest::get(format!("{}/healthz", platform.base)).await.unwrap();
    assert_eq!(health.status(), 200);
    let ready: serde_json::Value =
        reqwest::get(format!("{}/readyz", platform.base)).await.unwrap().json().await.unwrap();
    assert_eq!(ready["status"], "ready", "{ready}");
    assert!(ready["log_position"].is_i64(), "{ready}");
    let metrics = reqwest::get(format!("{}/metrics", platform.base)).await.unwrap();
    assert_eq!(metrics.status(), 200);
    let spec: serde_json::Value =
        reqwest::get(format!("{}/openapi.json", platform.base)).await.unwrap().json().await.unwrap();
    assert!(spec["paths"]["/readyz"].is_object());
    drop(platform);

    let pool = simledger_services::postgres::connect(&fresh, 1).await.unwrap();
    let migrated: i64 =
        sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success").fetch_one(&pool).await.unwrap();
    assert_eq!(migrated as usize, simledger_services::schema::MIGRATOR.iter().count());
    pool.close().await;
    drop_database(&fresh).await;
}

#[tokio::test]
async fn two_instances_run_side_by_side_on_different_databases() {
    let (a, b) = (TestDatabase::new().await, TestDatabase::new().await);
    let (pa, pb) = (start_up(&a.url), start_up(&b.url));
    for p in [&pa, &pb] {
        let ready: serde_json::Value = reqwest::get(format!("{}/readyz", p.base)).await.unwrap().json().await.unwrap();
        assert_eq!(ready["status"], "ready");
    }
    assert_ne!(pa.base, pb.base);
}

#[tokio::test]
async fn up_runs_a_simulated_fleet_whose_events_reach_the_log() {
    let db = TestDatabase::new().await;
    // 600 simulated seconds per wall second: the fleet's first attaches come within a second.
    let platform = start_up_with(&db.url, &["--sim-sims", "5", "--sim-speed", "600", "--summary-seconds", "1"]);
    let pool = db.pool().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let attaches = loop {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE type LIKE '%.attachment.%'")
            .fetch_one(&pool)
            .await
            .unwrap();
        if n > 0 || std::time::Instant::now() > deadline {
            break n;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(attaches > 0, "no attach reached the log");
    let ready: serde_json::Value =
        reqwest::get(format!("{}/readyz", platform.base)).await.unwrap().json().await.unwrap();
    assert_eq!(ready["checks"]["core_publisher"], "ok", "{ready}");
}

#[test]
fn migrate_creates_a_missing_database() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(TestDatabase::new());
    let fresh = simledger_services::postgres::with_database(&db.url, &format!("{}_migrate", db.name));
    let status = simledger().arg("migrate").env("DATABASE_URL", &fresh).env("NO_COLOR", "1").status().unwrap();
    assert!(status.success());
    rt.block_on(async {
        let pool = simledger_services::postgres::connect(&fresh, 1).await.unwrap();
        let head: i64 = sqlx::query_scalar("SELECT head FROM log_shards").fetch_one(&pool).await.unwrap();
        assert_eq!(head, 0);
        pool.close().await;
        drop_database(&fresh).await;
    });
}

#[tokio::test]
async fn replay_rebuilds_every_named_projection_and_refuses_an_unknown_one() {
    let db = TestDatabase::new().await;
    for name in simledger_projections::NAMES.iter().chain(simledger_policies::NAMES) {
        let ok = simledger().args(["replay", "--projection", name]).env("DATABASE_URL", &db.url).output().unwrap();
        assert!(ok.status.success(), "{name}: {}", String::from_utf8_lossy(&ok.stderr));
    }

    let bad = simledger().args(["replay", "--projection", "nonsense"]).env("DATABASE_URL", &db.url).output().unwrap();
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("nonsense") && stderr.contains("registry"), "{stderr}");
}

#[test]
fn every_subcommand_has_help() {
    for args in [
        vec!["--help"],
        vec!["up", "--help"],
        vec!["migrate", "--help"],
        vec!["replay", "--help"],
        vec!["bench", "--help"],
        vec!["bench", "eventlog", "--help"],
        vec!["simulate", "--help"],
        vec!["account", "create", "--help"],
        vec!["inventory", "import", "--help"],
        vec!["export", "--help"],
        vec!["bench", "api", "--help"],
        vec!["bench", "limits", "--help"],
        vec!["bench", "export", "--help"],
    ] {
        let out = simledger().args(&args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Usage:"), "{args:?}: {text}");
    }
}

#[test]
fn bench_eventlog_prints_json_lines_ending_with_the_headline() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(TestDatabase::new());
    let out = simledger()
        .args(["bench", "eventlog", "--events", "2000", "--streams", "50", "--producers", "4", "--small-events", "400"])
        .arg("--json")
        .env("DATABASE_URL", &db.url)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let last = lines.last().expect("at least one figure");
    assert_eq!(last["name"], "append_vs_copy");
    assert!(last["value"].as_f64().unwrap() > 0.0);
    assert!(last["reference"].as_f64().unwrap() > 0.0);
    let ratio = last["ratio"].as_f64().unwrap();
    assert!((ratio - last["value"].as_f64().unwrap() / last["reference"].as_f64().unwrap()).abs() < 1e-9);
    assert!(lines.iter().any(|l| l["name"] == "catch_up_read"));
    assert!(lines.iter().any(|l| l["name"] == "append_small" && l["ratio"].as_f64().unwrap() > 0.0));
}

#[test]
fn bench_api_prints_fetch_and_list_figures_against_sqlx() {
    let figures = bench_figures(&["api", "--sims", "3000", "--seconds", "1", "--rate", "200", "--clients", "2"]);
    let named = |n: &str| figures.iter().find(|f| f["name"] == n).unwrap_or_else(|| panic!("{n} in {figures:?}"));
    for name in ["fetch_throughput", "fetch_p99", "list_page10000_p50"] {
        let f = named(name);
        assert!(f["value"].as_f64().unwrap() > 0.0 && f["reference"].as_f64().unwrap() > 0.0, "{f}");
    }
}

#[test]
fn bench_core_startup_prints_replay_and_snapshot_starts_at_two_lengths() {
    let figures = bench_figures(&["core-startup", "--events", "20000", "--sims", "200", "--tail", "2000"]);
    let named = |n: &str| figures.iter().find(|f| f["name"] == n).unwrap_or_else(|| panic!("{n} in {figures:?}"));
    for name in ["startup_from_zero", "startup_with_snapshot", "snapshot_growth"] {
        let f = named(name);
        assert!(f["value"].as_f64().unwrap() > 0.0 && f["reference"].as_f64().unwrap() > 0.0, "{f}");
    }
    assert_eq!(named("events")["value"], 20000.0);
}

#[test]
fn bench_ingest_prints_the_processor_time_of_each_stage() {
    let figures = bench_figures(&["ingest", "--sims", "30", "--seconds", "3", "--reference-events", "2000"]);
    let named = |n: &str| figures.iter().find(|f| f["name"] == n).unwrap_or_else(|| panic!("{n} in {figures:?}"));
    let value = |n: &str| named(n)["value"].as_f64().unwrap();
    // Every stage an event crosses used some processor time while events flowed.
    for stage in ["cpu_simulator", "cpu_mme", "cpu_pgw", "cpu_publish", "cpu_ingest", "cpu_append", "cpu_registry"] {
        assert!(value(stage) > 0.0, "{stage} in {figures:?}");
    }
    // The platform's cost is everything but the simulator's own stage, against append-only's.
    let platform = named("platform_cpu_per_event");
    assert!(platform["reference"].as_f64().unwrap() > 0.0, "{platform}");
    assert!(value("platform_cpu_per_event") > value("cpu_ingest") + value("cpu_append"), "{figures:?}");
    let ingest = named("ingest");
    assert!(ingest["ratio"].as_f64().unwrap() > 0.0, "{ingest}");
}

#[test]
fn bench_limits_prints_reaction_overshoot_and_overhead() {
    // The devices in a process of their own: the bench counts their requests from it (none in
    // a measured window fails it) and stops it (a child that fails or outlives its stop fails
    // it too).
    let figures = bench_figures(&["limits", "--sims", "30", "--seconds", "3", "--simulator-process"]);
    let named = |n: &str| figures.iter().find(|f| f["name"] == n).unwrap_or_else(|| panic!("{n} in {figures:?}"));
    for name in ["reaction_p99", "overshoot_mean", "limits_overhead", "ingest_with_limits"] {
        assert!(named(name)["value"].is_number(), "{figures:?}");
    }
    let overhead = named("limits_overhead");
    let (with, without) = (overhead["value"].as_f64().unwrap(), overhead["reference"].as_f64().unwrap());
    assert!(without > 0.0);
    assert!((overhead["ratio"].as_f64().unwrap() - (1.0 - with / without)).abs() < 1e-9);
}

#[test]
fn bench_billing_prints_debits_and_the_overhead_against_ingest_without_billing() {
    let figures =
        bench_figures(&["billing", "--sims", "30", "--accounts", "100", "--seconds", "3", "--catchup-events", "2000"]);
    let named = |n: &str| figures.iter().find(|f| f["name"] == n).unwrap_or_else(|| panic!("{n} in {figures:?}"));
    // The catch-up runs debit every preloaded usage window before they report (the bench checks
    // the count), so their rates are positive on any machine. Under load, a starved projection
    // may debit nothing in a 3 s window: those rates are measured, not promised, and the lag
    // figures say how far behind it was.
    for name in ["debits_catch_up", "debits_catch_up_with_triggers"] {
        let f = named(name);
        assert!(f["value"].as_f64().unwrap() > 0.0 && f["reference"].as_f64().unwrap() > 0.0, "{f}");
    }
    for name in ["debits", "debits_with_triggers", "billing_lag_at_end", "billing_lag_at_end_with_triggers"] {
        assert!(named(name)["value"].as_f64().unwrap() >= 0.0, "{figures:?}");
    }
    let overhead = named("billing_overhead");
    let (with, without) = (overhead["value"].as_f64().unwrap(), overhead["reference"].as_f64().unwrap());
    assert!(without > 0.0);
    assert!((overhead["ratio"].as_f64().unwrap() - (1.0 - with / without)).abs() < 1e-9);
}

#[test]
fn bench_export_prints_the_export_rate_against_copy_and_peak_memory() {
    let figures = bench_figures(&["export", "--cdrs", "2000"]);
    let export = figures.iter().find(|f| f["name"] == "export_csv").expect("export_csv");
    assert!(export["value"].as_f64().unwrap() > 0.0 && export["reference"].as_f64().unwrap() > 0.0, "{export}");
    let rss = figures.iter().find(|f| f["name"] == "peak_rss_mb").expect("peak_rss_mb");
    assert!(rss["value"].as_f64().unwrap() > 0.0);
}

#[test]
fn bench_sinks_prints_delivery_rates_against_the_catch_up_read_and_the_lag() {
    let figures = bench_figures(&["sinks", "--events", "2000", "--lag-rate", "500", "--lag-seconds", "1"]);
    let named = |n: &str| figures.iter().find(|f| f["name"] == n).unwrap_or_else(|| panic!("{n} in {figures:?}"));
    for rate in ["sink_webhook_batched", "sink_webhook_unbatched"] {
        let f = named(rate);
        assert!(f["value"].as_f64().unwrap() > 0.0 && f["reference"].as_f64().unwrap() > 0.0, "{f}");
    }
    assert!(named("sink_lag_p99")["value"].as_f64().unwrap() >= named("sink_lag_p50")["value"].as_f64().unwrap());
}

/// Runs `simledger bench <args> --json` on the test server and parses its figures.
fn bench_figures(args: &[&str]) -> Vec<serde_json::Value> {
    let out = simledger()
        .arg("bench")
        .args(args)
        .arg("--json")
        .env("DATABASE_URL", simledger_services::testing::server_url())
        .env("NATS_URL", simledger_services::testing::nats_url())
        .env("SIMLEDGER_DATA_DIR", simledger_services::testing::data_dir().0)
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

async fn drop_database(url: &str) {
    simledger_services::postgres::drop_database(url).await.unwrap();
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// What a fresh machine goes through: nothing listens on the configured ports, so `up` creates
/// a private Postgres cluster with initdb and starts nats-server -js, each under the data dir.
#[tokio::test]
async fn up_starts_postgres_and_nats_when_nothing_listens() {
    let (pg_port, nats_port) = (free_port(), free_port());
    let data_dir = std::env::temp_dir().join(format!("simledger-fresh-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&data_dir).unwrap();
    let mut child = simledger()
        .args(["up", "--listen", "127.0.0.1:0", "--sim-sims", "0", "--log", "info"])
        .env("DATABASE_URL", format!("postgres://postgres@127.0.0.1:{pg_port}/simledger"))
        .env("NATS_URL", format!("nats://127.0.0.1:{nats_port}"))
        .env("SIMLEDGER_DATA_DIR", &data_dir)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    let base = loop {
        let line = rx.recv_timeout(Duration::from_secs(120)).expect("up starts");
        if let Some(rest) = line.split("API listening on http://").nth(1) {
            break format!("http://{}", rest.split_whitespace().next().unwrap());
        }
        lines.push(line);
    };
    let ready: serde_json::Value = reqwest::get(format!("{base}/readyz")).await.unwrap().json().await.unwrap();

    let _ = child.kill();
    let _ = child.wait();
    let cluster = data_dir.join("postgres");
    let _ = Command::new("runuser")
        .args(["-u", "postgres", "--", "/usr/lib/postgresql/15/bin/pg_ctl", "-D"])
        .arg(&cluster)
        .args(["stop", "-m", "immediate"])
        .output();
    let _ = Command::new("pkill").args(["-f", &format!("nats-server -a 127.0.0.1 -p {nats_port}")]).status();
    let _ = std::fs::remove_dir_all(&data_dir);

    assert_eq!(ready["status"], "ready", "{ready}");
    let log = lines.join("\n");
    assert!(log.contains("PostgreSQL was not running; started a private cluster"), "{log}");
    assert!(log.contains("NATS was not running; started"), "{log}");
}

#[tokio::test]
async fn up_declares_configured_exporters_answers_cgrates_json_rpc_and_runs_export_schedules() {
    let db = TestDatabase::new().await;
    let tenant = "AC00000000000000000000000000000077";
    let dir = std::env::temp_dir().join(format!("simledger-config-export-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("simledger.toml");
    std::fs::write(
        &config,
        format!(
            "[general]\ndefault_tenant = \"{tenant}\"\nnode_id = \"ignored\"\n\n[[ees.exporters]]\nid = \"each_second\"\n\
             type = \"*file_json\"\nexport_path = \"{}\"\nschedule = \"*every:1s\"\nsynchronous = true\n",
            dir.display()
        ),
    )
    .unwrap();
    let platform = start_up_with(&db.url, &["--sim-sims", "0", "--config", config.to_str().unwrap()]);
    let http = reqwest::Client::new();
    let rpc = |method: &str, params: serde_json::Value| {
        http.post(&platform.jsonrpc).json(&serde_json::json!({"method": method, "params": [params], "id": 1})).send()
    };
    let config: serde_json::Value =
        rpc("ConfigSv1.GetConfig", serde_json::json!({"Section": "ees"})).await.unwrap().json().await.unwrap();
    let declared = &config["result"]["ees"]["exporters"][0];
    assert_eq!(
        (declared["id"].as_str(), declared["tenant"].as_str()),
        (Some("each_second"), Some("*operator")),
        "declared without a tenant: the operator's, over every tenant's CDRs"
    );

    // Two tenants' CDRs: the default tenant's, and another's named with Tenant.
    let other = "AC00000000000000000000000000000078";
    for (origin, tenant) in [("ext-1", tenant), ("ext-2", other)] {
        let cdr = serde_json::json!({"OriginID": origin, "Tenant": tenant, "Account": "1001", "ToR": "*data",
                                     "Usage": "2048"});
        let done: serde_json::Value = rpc("CDRsV1.ProcessExternalCDR", cdr).await.unwrap().json().await.unwrap();
        assert_eq!(done["result"], "OK", "{done}");
    }
    // The schedule exports it within a couple of seconds, with nobody asking.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut exported: Vec<serde_json::Value> = loop {
        let lines: Vec<serde_json::Value> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
            .flat_map(|p| std::fs::read_to_string(p).unwrap().lines().map(str::to_owned).collect::<Vec<_>>())
            .map(|l| serde_json::from_str(&l).unwrap())
            .collect();
        if lines.len() >= 2 {
            break lines;
        }
        assert!(std::time::Instant::now() < deadline, "no scheduled export of both appeared in {}", dir.display());
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    exported.sort_by_key(|c| c["OriginID"].as_str().unwrap_or_default().to_owned());
    let got: Vec<(&str, &str, i64)> = exported
        .iter()
        .map(|c| (c["OriginID"].as_str().unwrap(), c["Tenant"].as_str().unwrap(), c["Usage"].as_i64().unwrap()))
        .collect();
    assert_eq!(got, [("ext-1", tenant, 2048), ("ext-2", other, 2048)], "each tenant's CDR, once");

    drop(platform);
    // Stopped, so no scheduled run holds the exporter: the operator runs it by hand without
    // naming an account; a tenant has no such one.
    let run = |args: &[&str]| simledger().arg("export").args(args).env("DATABASE_URL", &db.url).output().unwrap();
    let by_hand = run(&["--exporter", "each_second"]);
    assert!(by_hand.status.success(), "{}", String::from_utf8_lossy(&by_hand.stderr));
    let report: serde_json::Value = serde_json::from_slice(&by_hand.stdout).unwrap();
    assert!(report["NumberOfEvents"].as_i64().is_some(), "{report}");
    let as_tenant = run(&["--account", other, "--exporter", "each_second"]);
    assert!(!as_tenant.status.success(), "another tenant's name does not reach the operator's exporter");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn an_exporter_dropped_from_the_configuration_is_unscheduled_and_keeps_its_cursor() {
    let db = TestDatabase::new().await;
    let dir = std::env::temp_dir().join(format!("simledger-config-drop-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("simledger.toml");
    let declare = |id: &str| {
        let text = format!(
            "[[ees.exporters]]\nid = \"{id}\"\ntype = \"*file_csv\"\nexport_path = \"{}\"\nschedule = \"*hourly\"\n",
            dir.display()
        );
        std::fs::write(&config, text).unwrap();
    };
    let schedules = || async {
        let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
        let rows: Vec<(String, Option<String>, i64)> = sqlx::query_as(
            "SELECT exporter_id, schedule, last_exported_order_id FROM cdr_exporters ORDER BY exporter_id",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        rows
    };
    declare("old");
    drop(start_up_with(&db.url, &["--sim-sims", "0", "--config", config.to_str().unwrap()]));
    assert_eq!(schedules().await, [("old".to_owned(), Some("*hourly".to_owned()), 0)]);
    // The next configuration declares another exporter in its place, writing the same folder.
    declare("new");
    drop(start_up_with(&db.url, &["--sim-sims", "0", "--config", config.to_str().unwrap()]));
    assert_eq!(
        schedules().await,
        [("new".to_owned(), Some("*hourly".to_owned()), 0), ("old".to_owned(), None, 0)],
        "the old one stays, unscheduled, so the two never both write the folder"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
