//! `/v1/Billing/Cdrs`: CDRs built from the log, rated, in order-ID order, per tenant.

mod common;

use chrono::{Duration, TimeZone, Utc};
use common::{assert_error, spawn_app, TestApp};
use simledger_eventlog::catalog::{ConnectionEvent, SmsEvent};
use simledger_eventlog::{Event, ExpectedVersion, Metadata, NewEvent};

fn ended_session(account: &str, sim: &str, n: u32, bytes: i64) -> Event {
    let start = Utc.with_ymd_and_hms(2026, 5, 1, 10, 0, 0).unwrap() + Duration::minutes(n as i64);
    let network = simledger_eventlog::networks::catalog().by_plmn("234", "15").unwrap().to_ref();
    Event::DataSessionEnded(ConnectionEvent {
        event_sid: format!("EZ{n}"),
        event_type: "com.twilio.iot.supersim.connection.data-session.ended".into(),
        timestamp: start + Duration::minutes(30),
        account_sid: account.into(),
        sim_sid: sim.into(),
        sim_iccid: "8988307000000000001".into(),
        sim_unique_name: None,
        fleet_sid: None,
        imsi: "234150000000001".into(),
        imei: None,
        network,
        location: None,
        rat_type: "4G LTE".into(),
        error: None,
        data_modifier: None,
        apn: Some("super".into()),
        ip_address: None,
        data_session_sid: Some(format!("PI{n:032}")),
        data_session_start_time: Some(start),
        data_session_end_time: Some(start + Duration::minutes(30)),
        data_session_update_start_time: None,
        data_session_update_end_time: None,
        data_download: None,
        data_upload: None,
        data_total: None,
        data_session_data_download: Some(bytes / 2),
        data_session_data_upload: Some(bytes - bytes / 2),
        data_session_data_total: Some(bytes),
    })
}

fn sms(account: &str, sim: &str, n: u32) -> Event {
    Event::SmsMoDelivered(SmsEvent {
        sms_command_sid: format!("HC{n:032}"),
        account_sid: account.into(),
        sim_sid: sim.into(),
        sim_iccid: "8988307000000000001".into(),
        imsi: "234150000000001".into(),
        direction: "from_sim".into(),
        status: "delivered".into(),
        payload: "hi".into(),
        timestamp: Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0).unwrap(),
        network: None,
        error: None,
    })
}

async fn log_events(app: &TestApp, events: Vec<Event>) {
    let batch = events
        .iter()
        .map(|e| NewEvent::new(uuid::Uuid::new_v4(), "s", e, &Metadata::from_source("test")).unwrap())
        .collect();
    let last = app.log.append(batch, ExpectedVersion::Any).await.unwrap().last().unwrap().position;
    assert!(app.cdrs.reached(last).await);
}

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
    assert_error(&app.get(&app.alice, "/v1/Billing/Cdrs?ToR=*voice").await, 400, 20001);
    assert_error(
        &app.post(&app.operator, "/operator/CdrRates", &[("ToR", "*data"), ("PricePerUnit", "x")]).await,
        400,
        20001,
    );
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

fn export_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("simledger-export-{}", uuid::Uuid::new_v4().simple()));
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
    let dir = export_dir();
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
    let dir = export_dir();
    app.post(&app.alice, "/v1/Billing/Exporters", &[("Id", "x"), ("ExportPath", dir.to_str().unwrap())]).await;
    let alice = app.alice.sid.clone();
    log_events(&app, (0..4).map(|n| ended_session(&alice, "HS1", n, 10)).collect()).await;
    let first = app.post(&app.alice, "/v1/Billing/Exporters/x/Runs", &[]).await.body;
    let (from, to) = (first["FirstExpOrderID"].as_i64().unwrap(), first["LastExpOrderID"].as_i64().unwrap());
    // The state a crash between the file's rename and the cursor's move leaves behind.
    sqlx::query(
        "UPDATE cdr_exporters SET last_exported_order_id = $1 - 1, pending_first = $1, pending_last = $2 \
         WHERE exporter_id = 'x'",
    )
    .bind(from)
    .bind(to)
    .execute(app.log.pool())
    .await
    .unwrap();
    log_events(&app, (4..6).map(|n| ended_session(&alice, "HS1", n, 10)).collect()).await;
    // The next run finishes the pending range first (into the same file), then the new CDRs.
    let redo = app.post(&app.alice, "/v1/Billing/Exporters/x/Runs", &[]).await.body;
    assert_eq!(redo["FirstExpOrderID"].as_i64(), Some(from));
    assert_eq!(redo["NumberOfEvents"], 6);
    let path = dir.join(simledger_exporters::cdr_export::file_name("x", from, to));
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
    let (sms_dir, data_dir) = (export_dir(), export_dir());
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
    let dir = export_dir();
    let path = dir.to_str().unwrap();
    for bad in [
        vec![("Id", "a"), ("ExportPath", path), ("Type", "*kafka_json_map")],
        vec![("Id", "a"), ("ExportPath", path), ("Filters", "*string:ToR")],
        vec![("Id", "a"), ("ExportPath", "/proc/no-such-folder")],
        vec![("Id", "a b"), ("ExportPath", path)],
        vec![("ExportPath", path)],
    ] {
        assert_error(&app.post(&app.alice, "/v1/Billing/Exporters", &bad).await, 400, 20001);
    }
    assert_eq!(app.get(&app.alice, "/v1/Billing/Exporters").await.body["exporters"], serde_json::json!([]));
    assert_error(&app.post(&app.alice, "/v1/Billing/Exporters/none/Runs", &[]).await, 404, 20404);
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "nothing written");
}
