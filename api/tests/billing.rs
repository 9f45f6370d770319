//! `/v1/Billing/Cdrs`: CDRs built from the log, rated, in order-ID order, per tenant.

mod common;

use common::cdr_events::{ended_session, log_events, sms};
use common::{assert_error, spawn_app, TestApp};
use simledger_eventlog::{Event, ExpectedVersion, Metadata, NewEvent};

#[tokio::test]
async fn cdrs_are_built_rated_and_listed_in_order_id_order() {
    let app = spawn_app().await;
    let rate = [("ToR", "*data"), ("Prefix", "234"), ("PricePerUnit", "0.05"), ("UnitSize", "1000000")];
    assert_eq!(app.post(&app.operator, "/operator/CdrRates", &rate).await.status, 200);
    let specific = [("ToR", "*data"), ("Prefix", "23415"), ("PricePerUnit", "0.10"), ("UnitSize", "1000000")];
    assert_eq!(app.post(&app.operator, "/operator/CdrRates", &specific).await.status, 200);
    let (alice, bob) = (app.alice.sid.clone(), app.bob.sid.clone());
    log_events(
        &app,
        vec![
            ended_session(&alice, "HS1", 1, 3_000_000),
            sms(&alice, "HS1", 2),
            ended_session(&bob, "HS2", 3, 1),
            ended_session(&alice, "HS1", 4, 500_000),
        ],
    )
    .await;

    let all = app.get(&app.alice, "/v1/Billing/Cdrs").await.body;
    let cdrs = all["cdrs"].as_array().unwrap_or_else(|| panic!("{all}"));
    assert_eq!(cdrs.len(), 3, "Bob's CDR is not Alice's: {all}");
    let orders: Vec<i64> = cdrs.iter().map(|c| c["OrderID"].as_i64().unwrap()).collect();
    assert!(orders.windows(2).all(|w| w[0] < w[1]), "{orders:?}");
    let data = &cdrs[0];
    assert_eq!((data["ToR"].as_str(), data["Usage"].as_i64()), (Some("*data"), Some(3_000_000)));
    assert_eq!(data["Cost"], "0.3", "the longest prefix (23415) wins: 3 MB at 0.10");
    assert_eq!((data["Destination"].as_str(), data["Account"].as_str()), (Some("super"), Some("HS1")));
    assert_eq!(data["RunID"], "*default");
    assert_eq!(data["ExtraFields"]["mcc"], "234");
    assert_eq!(data["CGRID"].as_str().unwrap().len(), 64);
    // No SMS rate: kept, unrated, with the reason.
    let sms = &cdrs[1];
    assert_eq!(
        (sms["ToR"].as_str(), sms["Cost"].as_str(), sms["Destination"].as_str()),
        (Some("*sms"), Some("-1"), Some("000"))
    );
    assert!(sms["ExtraInfo"].as_str().unwrap().contains("no rate"));

    // After an order ID: exactly the later ones; by ToR; paged by key.
    let after = app.get(&app.alice, &format!("/v1/Billing/Cdrs?OrderIDStart={}", orders[1] + 1)).await.body;
    assert_eq!(after["cdrs"].as_array().unwrap().len(), 1);
    let data_only = app.get(&app.alice, "/v1/Billing/Cdrs?ToR=*data").await.body;
    assert_eq!(data_only["cdrs"].as_array().unwrap().len(), 2);
    let first_page = app.get(&app.alice, "/v1/Billing/Cdrs?PageSize=2").await.body;
    let next = first_page["meta"]["next_page_url"].as_str().unwrap().to_owned();
    let second_page = app.get(&app.alice, &next).await.body;
    assert_eq!(second_page["cdrs"][0]["OrderID"].as_i64(), Some(orders[2]));
    assert_error(&app.get(&app.alice, "/v1/Billing/Cdrs?ToR=*fax").await, 400, 20001);
    assert_error(
        &app.post(&app.operator, "/operator/CdrRates", &[("ToR", "*data"), ("PricePerUnit", "x")]).await,
        400,
        20001,
    );
}

#[tokio::test]
async fn a_replay_after_the_operator_changed_a_rate_prices_each_cdr_as_the_live_run_did() {
    let app = spawn_app().await;
    let alice = app.alice.sid.clone();
    let rate =
        |price: &'static str| [("ToR", "*data"), ("Prefix", "234"), ("PricePerUnit", price), ("UnitSize", "1000000")];
    assert_eq!(app.post(&app.operator, "/operator/CdrRates", &rate("0.10")).await.status, 200);
    log_events(&app, vec![ended_session(&alice, "HS1", 1, 2_000_000)]).await;
    // The operator raises the price midway: later usage costs more, earlier usage does not.
    assert_eq!(app.post(&app.operator, "/operator/CdrRates", &rate("0.20")).await.status, 200);
    log_events(&app, vec![ended_session(&alice, "HS1", 2, 2_000_000)]).await;
    let costs = || async {
        let all = app.get(&app.alice, "/v1/Billing/Cdrs").await.body;
        all["cdrs"].as_array().unwrap().iter().map(|c| c["Cost"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
    };
    assert_eq!(costs().await, ["0.2", "0.4"]);
    let head = app.log.head().await.unwrap();
    let pool = app.log.pool();
    use simledger_policies::billing::Billing;
    use simledger_projections::{cdrs::Cdrs, snapshot};
    let (cdrs, billing) = (snapshot::<Cdrs>(pool).await.unwrap(), snapshot::<Billing>(pool).await.unwrap());

    simledger_projections::replay(&app.log, Cdrs).await.unwrap();
    let replay = Billing::replaying(app.log.clone());
    simledger_projections::replay(&app.log, replay.clone()).await.unwrap();
    assert_eq!(replay.divergent(), 0, "the replay decided what the live fold did");

    assert_eq!(app.log.head().await.unwrap(), head, "a replay appends nothing");
    assert_eq!(snapshot::<Cdrs>(pool).await.unwrap(), cdrs, "every CDR priced as it was live");
    assert_eq!(snapshot::<Billing>(pool).await.unwrap(), billing);
    assert_eq!(costs().await, ["0.2", "0.4"]);
}

#[tokio::test]
async fn replaying_cdrs_rebuilds_the_same_rows() {
    let app = spawn_app().await;
    let alice = app.alice.sid.clone();
    log_events(&app, (0..10).map(|n| ended_session(&alice, "HS1", n, 1000 * n as i64)).collect()).await;
    let snapshot = || async {
        sqlx::query_scalar::<_, String>("SELECT string_agg(c::text, '|' ORDER BY order_id) FROM cdrs c")
            .fetch_one(app.log.pool())
            .await
            .unwrap()
    };
    let before = snapshot().await;
    simledger_projections::replay(&app.log, simledger_projections::cdrs::Cdrs).await.unwrap();
    assert_eq!(snapshot().await, before);
}

/// Every CGRID in the CSV files of `dir` (a file per run, header first).
fn exported_cgrids(dir: &std::path::Path) -> Vec<String> {
    let mut ids = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "csv") {
            let mut reader = csv::Reader::from_path(&path).unwrap();
            ids.extend(reader.records().map(|r| r.unwrap()[0].to_owned()));
        }
    }
    ids
}

/// A fresh folder inside alice's export folder (customers' exporters write only there).
fn export_dir(app: &TestApp) -> std::path::PathBuf {
    let dir = app.export_root.join(&app.alice.sid).join(uuid::Uuid::new_v4().simple().to_string());
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn all_cgrids(app: &TestApp) -> Vec<String> {
    let mut ids: Vec<String> = sqlx::query_scalar("SELECT cgrid FROM cdrs WHERE tenant = $1")
        .bind(&app.alice.sid)
        .fetch_all(app.log.pool())
        .await
        .unwrap();
    ids.sort();
    ids
}

#[tokio::test]
async fn runs_while_cdrs_keep_coming_export_each_cdr_exactly_once() {
    let app = spawn_app().await;
    let dir = export_dir(&app);
    let path = dir.to_str().unwrap();
    let created = app.post(&app.alice, "/v1/Billing/Exporters", &[("Id", "all"), ("ExportPath", path)]).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let alice = app.alice.sid.clone();
    // CDRs are appended in bursts while runs go on concurrently.
    let writer = {
        let (log, alice) = (app.log.clone(), alice.clone());
        tokio::spawn(async move {
            for burst in 0..20u32 {
                let batch = (0..5u32)
                    .map(|i| {
                        let e = ended_session(&alice, "HS1", burst * 5 + i, 1000);
                        NewEvent::new(uuid::Uuid::new_v4(), "s", &e, &Metadata::from_source("test")).unwrap()
                    })
                    .collect();
                log.append(batch, ExpectedVersion::Any).await.unwrap();
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        })
    };
    let mut runs = 0;
    while !writer.is_finished() {
        let r = app.post(&app.alice, "/v1/Billing/Exporters/all/Runs", &[]).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        runs += 1;
    }
    writer.await.unwrap();
    assert!(app.cdrs.reached(app.log.head().await.unwrap()).await);
    let last = app.post(&app.alice, "/v1/Billing/Exporters/all/Runs", &[]).await.body;
    assert!(last["NumberOfEvents"].as_i64().unwrap() >= 0);
    let mut exported = exported_cgrids(&dir);
    exported.sort();
    let before_dedup = exported.len();
    exported.dedup();
    assert_eq!(before_dedup, exported.len(), "no CDR in two files");
    assert_eq!(exported, all_cgrids(&app).await, "every CDR exported ({runs} runs)");
    assert_eq!(all_cgrids(&app).await.len(), 100);
    let listed = app.get(&app.alice, "/v1/Billing/Exporters").await.body;
    assert!(listed["exporters"][0]["last_exported_order_id"].as_i64().unwrap() > 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_run_interrupted_after_writing_its_file_is_finished_into_the_same_file() {
    let app = spawn_app().await;
    let dir = export_dir(&app);
    app.post(&app.alice, "/v1/Billing/Exporters", &[("Id", "x"), ("ExportPath", dir.to_str().unwrap())]).await;
    let alice = app.alice.sid.clone();
    log_events(&app, (0..4).map(|n| ended_session(&alice, "HS1", n, 10)).collect()).await;
    let first = app.post(&app.alice, "/v1/Billing/Exporters/x/Runs", &[]).await.body;
    let from = first["FirstExpOrderID"].as_i64().unwrap();
    // The range the run recorded: it starts after the cursor, which may be before the first CDR.
    let (range_first, to): (i64, i64) =
        sqlx::query_as("SELECT first_order_id, last_order_id FROM cdr_export_runs WHERE exporter_id = 'x'")
            .fetch_one(app.log.pool())
            .await
            .unwrap();
    assert_eq!(first["LastExpOrderID"].as_i64(), Some(to));
    // The state a crash between the file's rename and the cursor's move leaves behind.
    sqlx::query(
        "UPDATE cdr_exporters SET last_exported_order_id = $1 - 1, pending_first = $1, pending_last = $2 \
         WHERE exporter_id = 'x'",
    )
    .bind(range_first)
    .bind(to)
    .execute(app.log.pool())
    .await
    .unwrap();
    log_events(&app, (4..6).map(|n| ended_session(&alice, "HS1", n, 10)).collect()).await;
    // The next run finishes the pending range first (into the same file), then the new CDRs.
    let redo = app.post(&app.alice, "/v1/Billing/Exporters/x/Runs", &[]).await.body;
    assert_eq!(redo["FirstExpOrderID"].as_i64(), Some(from));
    assert_eq!(redo["NumberOfEvents"], 6);
    let path = dir.join(simledger_exporters::cdr_export::file_name("x", range_first, to));
    assert!(path.exists(), "the pending range went to its own file again");
    let next = app.post(&app.alice, "/v1/Billing/Exporters/x/Runs", &[]).await.body;
    assert_eq!(next["NumberOfEvents"], 0);
    let mut exported = exported_cgrids(&dir);
    exported.sort();
    assert_eq!(exported, all_cgrids(&app).await, "the union holds each CDR once");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn an_sms_only_and_a_data_only_exporter_cover_every_cdr_once() {
    let app = spawn_app().await;
    let (sms_dir, data_dir) = (export_dir(&app), export_dir(&app));
    let sms_exporter =
        [("Id", "sms"), ("ExportPath", sms_dir.to_str().unwrap()), ("Filters", "*string:~*req.ToR:*sms")];
    let data_exporter =
        [("Id", "data"), ("ExportPath", data_dir.to_str().unwrap()), ("Filters", "*string:~*req.ToR:*data")];
    assert_eq!(app.post(&app.alice, "/v1/Billing/Exporters", &sms_exporter).await.status, 201);
    assert_eq!(app.post(&app.alice, "/v1/Billing/Exporters", &data_exporter).await.status, 201);
    let alice = app.alice.sid.clone();
    log_events(
        &app,
        vec![ended_session(&alice, "HS1", 1, 10), sms(&alice, "HS1", 2), ended_session(&alice, "HS1", 3, 5)],
    )
    .await;
    let s = app.post(&app.alice, "/v1/Billing/Exporters/sms/Runs", &[]).await.body;
    let d = app.post(&app.alice, "/v1/Billing/Exporters/data/Runs", &[]).await.body;
    assert_eq!((s["NumberOfEvents"].as_i64(), s["TotalSMSUsage"].as_i64()), (Some(1), Some(1)));
    assert_eq!((d["NumberOfEvents"].as_i64(), d["TotalDataUsage"].as_i64()), (Some(2), Some(15)));
    let mut both = exported_cgrids(&sms_dir);
    both.extend(exported_cgrids(&data_dir));
    both.sort();
    assert_eq!(both, all_cgrids(&app).await);
}

#[tokio::test]
async fn bad_exporter_definitions_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let dir = export_dir(&app);
    let path = dir.to_str().unwrap();
    for bad in [
        vec![("Id", "a"), ("ExportPath", path), ("Type", "*kafka_json_map")],
        vec![("Id", "a"), ("ExportPath", path), ("Filters", "*string:ToR")],
        vec![("Id", "a"), ("ExportPath", "/proc/no-such-folder")],
        vec![("Id", "a b"), ("ExportPath", path)],
        vec![("ExportPath", path)],
        vec![("Id", "a"), ("ExportPath", path), ("Filters", "*gte:~*req.Cost:cheap")],
        vec![("Id", "a"), ("ExportPath", path), ("Fields", r#"[{"tag":"X","path":"*exp.X","value":"~*req.Nope"}]"#)],
        vec![("Id", "a"), ("ExportPath", path), ("Fields", r#"[{"tag":"X","path":"*hdr.X","value":"~*req.CGRID"}]"#)],
        vec![("Id", "a"), ("ExportPath", path), ("Fields", r#"[{"tag":"X","path":"*body.X","value":"x"}]"#)],
        vec![("Id", "a"), ("ExportPath", path), ("Fields", "not json")],
        vec![("Id", "a"), ("ExportPath", path), ("Schedule", "*fortnightly")],
        vec![("Id", "a"), ("ExportPath", "bucket-without-scheme"), ("Type", "*s3_json_map")],
    ] {
        assert_error(&app.post(&app.alice, "/v1/Billing/Exporters", &bad).await, 400, 20001);
    }
    assert_eq!(app.get(&app.alice, "/v1/Billing/Exporters").await.body["exporters"], serde_json::json!([]));
    assert_error(&app.post(&app.alice, "/v1/Billing/Exporters/none/Runs", &[]).await, 404, 20404);
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "nothing written");
}

fn read_lines(dir: &std::path::Path, ext: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut paths: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    paths.sort();
    for path in paths {
        if path.extension().is_some_and(|e| e == ext) {
            lines.extend(std::fs::read_to_string(&path).unwrap().lines().map(str::to_owned));
        }
    }
    lines
}

#[tokio::test]
async fn a_templated_csv_exporter_writes_its_own_columns_for_the_cdrs_its_filters_pass() {
    let app = spawn_app().await;
    let dir = export_dir(&app);
    let fields = r#"[
        {"tag": "Id", "path": "*exp.Id", "type": "*variable", "value": "~*req.CGRID"},
        {"tag": "Sim", "path": "*exp.Sim", "type": "*composed", "value": "~*req.Account;/;~*req.iccid"},
        {"tag": "Day", "path": "*exp.Day", "type": "*datetime", "value": "~*req.SetupTime", "layout": "2006-01-02"},
        {"tag": "MB", "path": "*exp.MB", "value": "~*req.Usage"},
        {"tag": "Carrier", "path": "*exp.Carrier", "type": "*constant", "value": "simledger"}
    ]"#;
    let created = app
        .post(
            &app.alice,
            "/v1/Billing/Exporters",
            &[
                ("Id", "big"),
                ("ExportPath", dir.to_str().unwrap()),
                ("Fields", fields),
                ("FieldSeparator", ";"),
                ("Filters", "*string:~*req.ToR:*data"),
                ("Filters", "*gte:~*req.Usage:100"),
            ],
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body["fields"][2]["layout"], "2006-01-02");
    let alice = app.alice.sid.clone();
    log_events(
        &app,
        vec![ended_session(&alice, "HS1", 1, 50), ended_session(&alice, "HS1", 2, 500), sms(&alice, "HS1", 3)],
    )
    .await;
    let run = app.post(&app.alice, "/v1/Billing/Exporters/big/Runs", &[]).await.body;
    assert_eq!(run["NumberOfEvents"], 1, "only the 500-byte data CDR passes both filters: {run:?}");
    let big = app.get(&app.alice, "/v1/Billing/Cdrs?ToR=*data").await.body["cdrs"][1].clone();
    assert_eq!(
        read_lines(&dir, "csv"),
        [
            "Id;Sim;Day;MB;Carrier".to_owned(),
            format!("{};HS1/8988307000000000001;2026-05-01;500;simledger", big["CGRID"].as_str().unwrap())
        ]
    );
    // The whole range was consumed: the next run has nothing, and writes no empty file.
    let again = app.post(&app.alice, "/v1/Billing/Exporters/big/Runs", &[]).await.body;
    assert_eq!(again["NumberOfEvents"], 0);
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
}

#[tokio::test]
async fn a_json_exporter_writes_one_object_per_line_keyed_by_its_paths() {
    let app = spawn_app().await;
    let (all_dir, mapped_dir) = (export_dir(&app), export_dir(&app));
    let fields = r#"[{"tag": "cost", "path": "*exp.Cost", "value": "~*req.Cost", "rounding_decimals": 2},
                     {"tag": "to", "path": "*exp.To", "value": "~*req.Destination"}]"#;
    let mapped =
        [("Id", "j"), ("Type", "*file_json"), ("ExportPath", mapped_dir.to_str().unwrap()), ("Fields", fields)];
    assert_eq!(app.post(&app.alice, "/v1/Billing/Exporters", &mapped).await.status, 201);
    let all = [("Id", "all"), ("Type", "*file_json"), ("ExportPath", all_dir.to_str().unwrap())];
    assert_eq!(app.post(&app.alice, "/v1/Billing/Exporters", &all).await.status, 201);
    let rate = [("ToR", "*data"), ("Prefix", "234"), ("PricePerUnit", "1.005"), ("UnitSize", "1000000")];
    assert_eq!(app.post(&app.operator, "/operator/CdrRates", &rate).await.status, 200);
    let alice = app.alice.sid.clone();
    log_events(&app, vec![ended_session(&alice, "HS1", 1, 1_000_000)]).await;
    assert_eq!(app.post(&app.alice, "/v1/Billing/Exporters/j/Runs", &[]).await.body["NumberOfEvents"], 1);
    assert_eq!(app.post(&app.alice, "/v1/Billing/Exporters/all/Runs", &[]).await.body["TotalCost"], "1.005");
    let line: serde_json::Value = serde_json::from_str(&read_lines(&mapped_dir, "jsonl")[0]).unwrap();
    assert_eq!(line, serde_json::json!({"Cost": "1.01", "To": "super"}));
    let whole: serde_json::Value = serde_json::from_str(&read_lines(&all_dir, "jsonl")[0]).unwrap();
    assert_eq!((whole["Cost"].as_str(), whole["Usage"].as_i64()), (Some("1.005"), Some(1_000_000)));
    assert_eq!(whole["ExtraFields"]["iso_country"], "GB");
}

#[tokio::test]
async fn a_scheduled_exporter_runs_when_its_time_comes_and_not_before() {
    let app = spawn_app().await;
    let dir = export_dir(&app);
    let every = [("Id", "tick"), ("ExportPath", dir.to_str().unwrap()), ("Schedule", "*every:1h")];
    let created = app.post(&app.alice, "/v1/Billing/Exporters", &every).await;
    assert_eq!((created.status, created.body["schedule"].as_str()), (201, Some("*every:1h")));
    let alice = app.alice.sid.clone();
    log_events(&app, vec![ended_session(&alice, "HS1", 1, 10)]).await;
    let pool = app.log.pool();
    let due = simledger_exporters::cdr_export::schedule::run_due(pool, app.log.shard()).await.unwrap();
    assert!(due.is_empty(), "not due for an hour");
    sqlx::query("UPDATE cdr_exporters SET next_run_at = now() - interval '1 second'").execute(pool).await.unwrap();
    let due = simledger_exporters::cdr_export::schedule::run_due(pool, app.log.shard()).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].result.as_ref().unwrap().events, 1);
    let next: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT next_run_at FROM cdr_exporters").fetch_one(pool).await.unwrap();
    assert!(next > chrono::Utc::now() + chrono::Duration::minutes(59), "next firing an hour on: {next}");
    assert_eq!(exported_cgrids(&dir), all_cgrids(&app).await);
}

#[tokio::test]
async fn an_external_cdr_is_rated_like_the_cores_and_listed() {
    let app = spawn_app().await;
    let rate = [("ToR", "*voice"), ("Prefix", "614"), ("PricePerUnit", "0.20"), ("UnitSize", "60000000000")];
    assert_eq!(app.post(&app.operator, "/operator/CdrRates", &rate).await.status, 200);
    let cdr = serde_json::json!({
        "OriginID": "call-1", "OriginHost": "pbx1", "ToR": "*voice", "Account": "1001",
        "Destination": "61412345678", "SetupTime": "2026-05-01T10:00:00Z", "Usage": "150s",
        "ExtraFields": {"trunk": "t1"}
    });
    let r = app
        .send(app.http.post(app.url("/v1/Billing/Cdrs")).basic_auth(&app.alice.sid, Some(&app.alice.secret)).json(&cdr))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["Cost"], "0.5", "2.5 minutes at 0.20 a minute");
    assert_eq!(r.body["Usage"], 150_000_000_000i64);
    assert_eq!((r.body["Subject"].as_str(), r.body["Category"].as_str()), (Some("1001"), Some("call")));
    assert_eq!(r.body["CGRID"], simledger_projections::cdrs::cgrid("call-1", "pbx1"));
    assert_eq!(r.body["OrderID"], app.log.head().await.unwrap());
    let listed = app.get(&app.alice, "/v1/Billing/Cdrs?ToR=*voice").await.body;
    assert_eq!(listed["cdrs"][0]["ExtraFields"]["trunk"], "t1");
    assert_eq!(app.get(&app.bob, "/v1/Billing/Cdrs?ToR=*voice").await.body["cdrs"], serde_json::json!([]));
    // Pre-rated: the sender's cost stands.
    let pre = serde_json::json!({"OriginID": "call-2", "Account": "1001", "Usage": 60, "PreRated": true, "Cost": 0.07});
    let r = app
        .send(app.http.post(app.url("/v1/Billing/Cdrs")).basic_auth(&app.alice.sid, Some(&app.alice.secret)).json(&pre))
        .await;
    assert_eq!((r.status, r.body["Cost"].as_str()), (201, Some("0.07")));
}

#[tokio::test]
async fn bad_or_repeated_external_cdrs_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let post = |body: serde_json::Value| {
        app.send(
            app.http.post(app.url("/v1/Billing/Cdrs")).basic_auth(&app.alice.sid, Some(&app.alice.secret)).json(&body),
        )
    };
    let ok = serde_json::json!({"OriginID": "c1", "Account": "1001", "Usage": "1s"});
    assert_eq!(post(ok.clone()).await.status, 201);
    let head = app.log.head().await.unwrap();
    assert_error(&post(ok).await, 409, 20409);
    for (bad, says) in [
        (serde_json::json!({"OriginID": "c2"}), "Account"),
        (serde_json::json!({"Account": "1001"}), "OriginID"),
        (serde_json::json!({"OriginID": "c2", "Account": "1001", "Usage": "soon"}), "Usage"),
        (serde_json::json!({"OriginID": "c2", "Account": "1001", "Usage": "-5s"}), "Usage"),
        (serde_json::json!({"OriginID": "c2", "Account": "1001", "ToR": "*fax"}), "ToR"),
        (serde_json::json!({"OriginID": "c2", "Account": "1001", "SetupTime": "tuesday"}), "SetupTime"),
        (serde_json::json!({"OriginID": "c2", "Account": "1001", "Tenant": app.bob.sid}), "Tenant"),
        (serde_json::json!({"OriginID": "c2", "Account": "1001", "PreRated": true}), "Cost"),
        (serde_json::json!({"OriginID": "c2", "Account": "1001", "Colour": "red"}), "Colour"),
        (serde_json::json!({"OriginID": 7, "Account": "1001"}), "OriginID"),
    ] {
        let r = post(bad.clone()).await;
        assert_error(&r, 400, 20001);
        assert!(r.body["message"].as_str().unwrap().contains(says), "{bad} → {:?}", r.body);
    }
    let form = app.post(&app.alice, "/v1/Billing/Cdrs", &[("OriginID", "c3")]).await;
    assert_eq!(form.status, 415, "{:?}", form.body);
    assert_eq!(app.log.head().await.unwrap(), head, "nothing appended");
}

#[tokio::test]
async fn a_filtered_set_of_cdrs_downloads_as_one_streamed_csv() {
    let app = spawn_app().await;
    let alice = app.alice.sid.clone();
    let mut events: Vec<Event> = (0..3000).map(|n| ended_session(&alice, "HS1", n, 10)).collect();
    events.push(sms(&alice, "HS1", 9999));
    log_events(&app, events).await;
    let r = app
        .http
        .get(app.url("/v1/Billing/Cdrs.csv?ToR=*data&OrderIDStart=2"))
        .basic_auth(&app.alice.sid, Some(&app.alice.secret))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    let text = r.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(&reader.headers().unwrap()[0], "CGRID");
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 2999, "every data CDR from order ID 2 on, across many streamed pieces");
    assert!(rows.iter().all(|r| &r[6] == "*data"));
    assert!(rows.windows(2).all(|w| w[0][2].parse::<i64>().unwrap() < w[1][2].parse::<i64>().unwrap()));
    let other = app.http.get(app.url("/v1/Billing/Cdrs.csv")).basic_auth(&app.bob.sid, Some(&app.bob.secret));
    assert_eq!(other.send().await.unwrap().text().await.unwrap().lines().count(), 1, "bob sees only a header");
    assert_error(&app.get(&app.alice, "/v1/Billing/Cdrs.csv?ToR=*fax").await, 400, 20001);
}
