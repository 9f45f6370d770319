//! `POST /jsonrpc` in CGrateS's dialect: external CDRs, GetCDRs, ExportCDRs and exporter
//! definitions through ConfigSv1, on the loopback listener and on the main one.

mod common;

use common::cdr_events::{ended_session, log_events, sms};
use common::{spawn_app, TestApp};
use serde_json::{json, Value};

fn voice_call(origin_id: &str, usage: &str) -> Value {
    json!({
        "OriginID": origin_id, "OriginHost": "pbx1", "ToR": "*voice", "RequestType": "*postpaid",
        "Account": "1001", "Destination": "61412345678", "SetupTime": "2026-05-01T10:00:00Z",
        "AnswerTime": "2026-05-01T10:00:05Z", "Usage": usage, "ExtraFields": {"trunk": "t1"}
    })
}

async fn voice_rate(app: &TestApp) {
    let rate = [("ToR", "*voice"), ("Prefix", "614"), ("PricePerUnit", "0.20"), ("UnitSize", "60000000000")];
    assert_eq!(app.post(&app.operator, "/operator/CdrRates", &rate).await.status, 200);
}

#[tokio::test]
async fn an_external_cdr_is_billed_once_and_read_back_as_cgrates_writes_it() {
    let app = spawn_app().await;
    voice_rate(&app).await;
    let (result, error) = app.rpc("CDRsV1.ProcessExternalCDR", voice_call("call-1", "150s")).await;
    assert_eq!((result, error), (json!("OK"), Value::Null));
    let head = app.log.head().await.unwrap();
    let (_, error) = app.rpc("CDRsV1.ProcessExternalCDR", voice_call("call-1", "150s")).await;
    assert_eq!(error, "ERR_EXISTS", "the same CGRID twice is refused");
    assert_eq!(app.log.head().await.unwrap(), head, "and appends nothing");

    let (cdrs, error) = app.rpc("APIerSv1.GetCDRs", json!({"Accounts": ["1001"], "ToRs": ["*voice"]})).await;
    assert_eq!(error, Value::Null);
    let cdr = &cdrs[0];
    assert_eq!(cdr["Usage"], "2m30s", "voice usage as a Go duration");
    assert_eq!(cdr["Cost"], json!(0.5), "a number, as CGrateS writes it");
    assert_eq!(cdr["Tenant"], app.alice.sid.as_str(), "the listener's default tenant");
    assert_eq!(cdr["CGRID"], simledger_projections::cdrs::cgrid("call-1", "pbx1"));
    assert_eq!(cdr["ExtraFields"]["trunk"], "t1");
    assert_eq!(cdr["AnswerTime"], "2026-05-01T10:00:05+00:00");
    // The legacy service name is an alias, and the same CDR shows in the REST API.
    let (legacy, _) = app.rpc("ApierV1.GetCDRs", json!({"CGRIDs": [cdr["CGRID"]]})).await;
    assert_eq!(legacy[0]["OrderID"], cdr["OrderID"]);
    let rest = app.get(&app.alice, "/v1/Billing/Cdrs?ToR=*voice").await.body;
    assert_eq!(rest["cdrs"][0]["Cost"], "0.5");
    let (_, error) = app.rpc("APIerSv1.GetCDRs", json!({"Accounts": ["nobody"]})).await;
    assert_eq!(error, "NOT_FOUND");
}

#[tokio::test]
async fn get_cdrs_pages_by_order_id_with_cgrates_filter_fields() {
    let app = spawn_app().await;
    for n in 0..5 {
        assert_eq!(app.rpc("CDRsV1.ProcessExternalCDR", voice_call(&format!("c{n}"), "1s")).await.1, Value::Null);
    }
    let (all, _) = app.rpc("APIerSv1.GetCDRs", json!({"OrderBy": "OrderID"})).await;
    let ids: Vec<i64> = all.as_array().unwrap().iter().map(|c| c["OrderID"].as_i64().unwrap()).collect();
    assert_eq!(ids.len(), 5);
    let (page, _) = app
        .rpc("APIerSv1.GetCDRs", json!({"ExtraArgs": {"OrderIDStart": ids[1], "OrderIDEnd": ids[4]}, "Limit": 2}))
        .await;
    let page: Vec<i64> = page.as_array().unwrap().iter().map(|c| c["OrderID"].as_i64().unwrap()).collect();
    assert_eq!(page, [ids[1], ids[2]], "start inclusive, end exclusive, limited");
    let (desc, _) = app.rpc("CDRsV1.GetCDRs", json!({"OrderBy": "OrderID;desc", "Limit": 1})).await;
    assert_eq!(desc[0]["OrderID"], ids[4]);
}

#[tokio::test]
async fn export_cdrs_runs_exporters_defined_through_config_and_never_repeats_a_cdr() {
    let app = spawn_app().await;
    let dir = std::env::temp_dir().join(format!("simledger-rpc-export-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let ees = json!({"exporters": [{
        "id": "data_csv", "type": "*file_csv", "export_path": dir, "filters": ["*string:~*req.ToR:*data"],
        "synchronous": true, "opts": {"csvFieldSeparator": ";"},
        "fields": [{"tag": "CGRID", "path": "*exp.CGRID", "type": "*variable", "value": "~*req.CGRID"},
                   {"tag": "Usage", "path": "*exp.Usage", "type": "*variable", "value": "~*req.Usage"}]
    }]});
    assert_eq!(app.rpc("ConfigSv1.SetConfig", json!({"Config": {"ees": ees}})).await, (json!("OK"), Value::Null));
    let (config, _) = app.rpc("ConfigSv1.GetConfig", json!({"Section": "ees"})).await;
    assert_eq!(config["ees"]["exporters"][0]["opts"]["csvFieldSeparator"], ";");
    let listed = app.get(&app.alice, "/v1/Billing/Exporters").await.body;
    assert_eq!(listed["exporters"][0]["id"], "data_csv", "defined over JSON-RPC, listed over REST");

    let alice = app.alice.sid.clone();
    log_events(
        &app,
        vec![ended_session(&alice, "HS1", 1, 300), sms(&alice, "HS1", 2), ended_session(&alice, "HS1", 3, 200)],
    )
    .await;
    let (metrics, error) = app.rpc("APIerSv1.ExportCDRs", json!({"ExporterIDs": ["data_csv"], "Verbose": true})).await;
    assert_eq!(error, Value::Null);
    let m = &metrics["data_csv"];
    assert_eq!((m["NumberOfEvents"].as_i64(), m["TotalDataUsage"].as_i64()), (Some(2), Some(500)));
    assert_eq!(m["ExportedCGRIDs"].as_array().unwrap().len(), 2);
    assert_eq!(m["UnexportedCGRIDs"], json!([]));
    assert!(m["FirstExpOrderID"].as_i64().unwrap() < m["LastExpOrderID"].as_i64().unwrap());
    let file = std::fs::read_to_string(m["FilePath"].as_str().unwrap()).unwrap();
    assert_eq!(file.lines().next(), Some("CGRID;Usage"));
    assert_eq!(file.lines().count(), 3);
    let (_, error) = app.rpc("APIerSv1.ExportCDRs", json!({"ExporterIDs": ["data_csv"], "Verbose": true})).await;
    assert_eq!(error, "NOT_FOUND", "nothing new since the last export");

    // A billing team's filtered export: exactly the CDRs chosen, in the exporter's format, in a
    // file of its own; the exporter's cursor does not move.
    let last = m["LastExpOrderID"].as_i64().unwrap();
    let chosen = json!({"ExporterIDs": ["data_csv"], "Verbose": true, "Accounts": ["HS1"],
                        "ExtraArgs": {"OrderIDStart": last}});
    let (picked, error) = app.rpc("APIerSv1.ExportCDRs", chosen.clone()).await;
    assert_eq!(error, Value::Null);
    let p = &picked["data_csv"];
    assert_eq!((p["NumberOfEvents"].as_i64(), p["FirstExpOrderID"].as_i64()), (Some(1), Some(last)));
    let path = p["FilePath"].as_str().unwrap().to_owned();
    assert!(path.contains("selection") && path != m["FilePath"].as_str().unwrap(), "{path}");
    assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 2, "a header and the one CDR");
    let (again, _) = app.rpc("APIerSv1.ExportCDRs", chosen).await;
    assert_eq!(again["data_csv"]["FilePath"], path.as_str(), "the same selection rewrites its own file");
    let (_, error) = app.rpc("APIerSv1.ExportCDRs", json!({"ExporterIDs": ["data_csv"], "Accounts": ["nobody"]})).await;
    assert_eq!(error, "NOT_FOUND");
    let before_last = json!({"ExporterIDs": ["data_csv"], "Verbose": true, "MinUsage": "250", "OrderIDEnd": last});
    let (early, _) = app.rpc("APIerSv1.ExportCDRs", before_last).await;
    assert_eq!(early["data_csv"]["TotalDataUsage"], 300, "OrderIDEnd is exclusive; MinUsage holds: {early}");
    log_events(&app, vec![ended_session(&alice, "HS1", 4, 100)]).await;
    let (next, _) = app.rpc("APIerSv1.ExportCDRs", json!({"ExporterIDs": ["data_csv"], "Verbose": true})).await;
    assert_eq!(next["data_csv"]["NumberOfEvents"], 1, "the cursor run takes the new CDR only");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn header_and_trailer_fields_frame_a_csv_export_as_cgrates_writes_them() {
    let app = spawn_app().await;
    let dir = std::env::temp_dir().join(format!("simledger-rpc-hdr-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let ees = json!({"exporters": [{
        "id": "framed", "type": "*file_csv", "export_path": dir,
        "fields": [
            {"tag": "Kind", "path": "*hdr.Kind", "type": "*constant", "value": "HDR"},
            {"tag": "Version", "path": "*hdr.Version", "type": "*constant", "value": "v1"},
            {"tag": "CGRID", "path": "*exp.CGRID", "type": "*variable", "value": "~*req.CGRID"},
            {"tag": "Usage", "path": "*exp.Usage", "type": "*variable", "value": "~*req.Usage"},
            {"tag": "Kind", "path": "*trl.Kind", "type": "*constant", "value": "TRL"},
            {"tag": "Count", "path": "*trl.Count", "type": "*variable", "value": "~*em.NumberOfEvents"},
            {"tag": "Data", "path": "*trl.Data", "type": "*composed", "value": "bytes=;~*em.TotalDataUsage"}]
    }]});
    assert_eq!(app.rpc("ConfigSv1.SetConfig", json!({"Config": {"ees": ees}})).await, (json!("OK"), Value::Null));
    let alice = app.alice.sid.clone();
    log_events(&app, vec![ended_session(&alice, "HS1", 1, 300), ended_session(&alice, "HS1", 2, 200)]).await;
    let (metrics, error) = app.rpc("APIerSv1.ExportCDRs", json!({"ExporterIDs": ["framed"], "Verbose": true})).await;
    assert_eq!(error, Value::Null);
    let file = std::fs::read_to_string(metrics["framed"]["FilePath"].as_str().unwrap()).unwrap();
    let lines: Vec<&str> = file.lines().collect();
    assert_eq!(lines.len(), 4, "{file}");
    assert_eq!(lines[0], "HDR,v1", "the header fields replace the column names");
    assert_eq!(lines[3], "TRL,2,bytes=500", "the trailer reads the export's figures");

    // A header cannot read a CDR, a trailer only the export's figures, JSON has no rows to frame.
    let head = app.log.head().await.unwrap();
    for (field, kind, says) in [
        (json!({"tag": "X", "path": "*hdr.X", "value": "~*req.CGRID"}), "*file_csv", "constants only"),
        (json!({"tag": "X", "path": "*trl.X", "value": "~*em.Password"}), "*file_csv", "unknown metric"),
        (json!({"tag": "X", "path": "*trl.X", "value": "x"}), "*file_json", "CSV exporters only"),
        (json!({"tag": "X", "path": "*body.X", "value": "x"}), "*file_csv", "unknown field path"),
    ] {
        let ees = json!({"exporters": [{"id": "bad", "type": kind, "export_path": dir, "fields": [field]}]});
        let (_, error) = app.rpc("ConfigSv1.SetConfig", json!({"Config": {"ees": ees}})).await;
        assert!(error.as_str().is_some_and(|e| e.contains(says)), "{error}");
    }
    assert_eq!(app.log.head().await.unwrap(), head, "a refused definition logs nothing");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn an_operator_exporter_chooses_among_every_tenants_cdrs() {
    let app = spawn_app().await;
    let dir = std::env::temp_dir().join(format!("simledger-rpc-operator-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let ees = json!({"exporters": [{"id": "all", "type": "*file_csv", "export_path": dir, "tenant": "*operator"}]});
    let (done, error) = app.rpc("ConfigSv1.SetConfig", json!({"Config": {"ees": ees}})).await;
    assert_eq!((done, error), (json!("OK"), Value::Null));
    let (alice, bob) = (app.alice.sid.clone(), app.bob.sid.clone());
    log_events(&app, vec![ended_session(&alice, "HS1", 1, 300), ended_session(&bob, "HS2", 2, 200)]).await;
    // A filtered export through the operator's exporter: both tenants' CDRs, filtered by account.
    let chosen = json!({"Tenant": "*operator", "ExporterIDs": ["all"], "Verbose": true, "Accounts": ["HS1", "HS2"]});
    let (picked, error) = app.rpc("APIerSv1.ExportCDRs", chosen).await;
    assert_eq!(error, Value::Null, "{picked}");
    assert_eq!(picked["all"]["NumberOfEvents"], 2, "{picked}");
    let one = json!({"Tenant": "*operator", "ExporterIDs": ["all"], "Verbose": true, "Accounts": ["HS2"]});
    let (picked, _) = app.rpc("APIerSv1.ExportCDRs", one).await;
    assert_eq!(picked["all"]["NumberOfEvents"], 1, "{picked}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn bad_calls_get_cgrates_errors_and_change_nothing() {
    let app = spawn_app().await;
    let head = app.log.head().await.unwrap();
    let cases = [
        ("APIerSv1.Nope", json!({}), "rpc: can't find method APIerSv1.Nope"),
        ("Nope.GetCDRs", json!({}), "rpc: can't find service Nope.GetCDRs"),
        ("apiersv1.GetCDRs", json!({}), "rpc: can't find service apiersv1.GetCDRs"),
        ("CDRsV1.ProcessExternalCDR", json!({"OriginID": "x"}), "MANDATORY_IE_MISSING: [Account]"),
        ("CDRsV1.ProcessExternalCDR", json!({"ToR": "*voice"}), "MANDATORY_IE_MISSING: [OriginID Account]"),
        ("CDRsV1.ProcessExternalCDR", json!({"OriginID": 7, "Account": "a"}), "SERVER_ERROR: invalid params: OriginID"),
        ("CDRsV1.ProcessExternalCDR", json!({"OriginID": "x", "Account": "a", "Usage": "-1s"}), "Usage"),
        ("CDRsV1.ProcessExternalCDR", json!({"OriginID": "x", "Account": "a", "Usage": true}), "Usage"),
        ("APIerSv1.GetCDRs", json!({"Limit": "ten"}), "SERVER_ERROR: invalid params: Limit"),
        ("APIerSv1.GetCDRs", json!({"Limit": -1}), "Limit must not be negative"),
        ("APIerSv1.ExportCDRs", json!({"Paginator": {"Limit": 5}}), "cannot filter by paginator"),
        ("APIerSv1.ExportCDRs", json!({"OrderIDStart": "ten"}), "invalid orderidstart"),
        ("APIerSv1.ExportCDRs", json!({"SetupTimeStart": "yesterday-ish"}), "invalid setuptimestart"),
        ("APIerSv1.ExportCDRs", json!({"Tenants": ["someone.else"]}), "only"),
        (
            "ConfigSv1.SetConfig",
            json!({"Config": {"ees": {"exporters": [
            {"id": "a", "type": "*file_csv", "export_path": "/tmp", "filters": ["*string:ToR"]}]}}}),
            "malformed filter",
        ),
        (
            "ConfigSv1.SetConfig",
            json!({"Config": {"ees": {"exporters": [
            {"id": "a", "type": "*file_csv", "export_path": "/tmp"},
            {"id": "b", "type": "*kafka_json_map", "export_path": "/tmp"}]}}}),
            "unsupported type",
        ),
        ("ConfigSv1.SetConfig", json!({"Config": {"stor_db": {}}}), "cannot be set"),
    ];
    for (method, params, says) in cases {
        let (result, error) = app.rpc(method, params.clone()).await;
        assert_eq!(result, Value::Null, "{method} {params}");
        assert!(error.as_str().is_some_and(|e| e.contains(says)), "{method} {params}: {error}");
    }
    assert_eq!(app.log.head().await.unwrap(), head, "nothing appended");
    let (config, _) = app.rpc("ConfigSv1.GetConfig", json!({"Section": "ees"})).await;
    assert_eq!(config["ees"]["exporters"], json!([]), "not even exporter a of the refused batch");
    // Not JSON at all: HTTP 400, still in the dialect's shape.
    let r = app.http.post(&app.jsonrpc).body("{not json").send().await.unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().starts_with("SERVER_ERROR: malformed request"));
}

#[tokio::test]
async fn the_main_listener_asks_credentials_and_keeps_customers_to_their_own_tenant() {
    let app = spawn_app().await;
    let url = app.url("/jsonrpc");
    let call =
        |params: Value| json!({"method": "CDRsV1.ProcessExternalCDR", "params": [params], "id": 7, "jsonrpc": "2.0"});
    let anonymous = app.http.post(&url).json(&call(voice_call("a", "1s"))).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(anonymous.json::<Value>().await.unwrap()["error"], "UNAUTHORIZED");

    let as_bob = |body: Value| app.http.post(&url).basic_auth(&app.bob.sid, Some(&app.bob.secret)).json(&body).send();
    let own: Value = as_bob(call(voice_call("b", "1s"))).await.unwrap().json().await.unwrap();
    assert_eq!((own["id"].as_i64(), own["result"].as_str()), (Some(7), Some("OK")));
    let mut other = voice_call("c", "1s");
    other["Tenant"] = json!(app.alice.sid);
    let refused: Value = as_bob(call(other)).await.unwrap().json().await.unwrap();
    assert_eq!(refused["error"], "UNAUTHORIZED");
    let bobs = app.get(&app.bob, "/v1/Billing/Cdrs").await.body;
    assert_eq!(bobs["cdrs"].as_array().unwrap().len(), 1);
    assert_eq!(app.get(&app.alice, "/v1/Billing/Cdrs").await.body["cdrs"], json!([]));

    // An operator names the tenant.
    let mut for_alice = voice_call("d", "1s");
    for_alice["Tenant"] = json!(app.alice.sid);
    let r: Value = app
        .http
        .post(&url)
        .basic_auth(&app.operator.sid, Some(&app.operator.secret))
        .json(&call(for_alice))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["result"], "OK");
    assert_eq!(app.get(&app.alice, "/v1/Billing/Cdrs").await.body["cdrs"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_web_page_cannot_drive_the_loopback_listener() {
    let app = spawn_app().await;
    let head = app.log.head().await.unwrap();
    let call = r#"{"method":"APIerSv1.SetBalance","params":[{"Account":"1001","BalanceType":"*monetary","Value":10,"Balance":{"ID":"b","Weight":10}}],"id":1}"#;
    // What a page can send without a preflight, and anything carrying a page's Origin.
    let attempts = [
        app.http.post(&app.jsonrpc).header("content-type", "text/plain").body(call),
        app.http.post(&app.jsonrpc).header("content-type", "multipart/form-data; boundary=x").body(call),
        app.http
            .post(&app.jsonrpc)
            .header("origin", "https://evil.example")
            .json(&serde_json::from_str::<serde_json::Value>(call).unwrap()),
        app.http
            .post(&app.jsonrpc)
            .header("origin", "null")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(call),
    ];
    for attempt in attempts {
        let r = attempt.send().await.unwrap();
        assert_eq!(r.status(), 403);
        let body: serde_json::Value = r.json().await.unwrap();
        assert!(body["error"].as_str().unwrap().starts_with("SERVER_ERROR"), "{body}");
    }
    assert_eq!(app.log.head().await.unwrap(), head, "nothing was appended");
    // A script's call (curl -d, or JSON) still works.
    let r = app
        .http
        .post(&app.jsonrpc)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(call)
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["result"], "OK", "{body}");
}

#[tokio::test]
async fn get_cdrs_answers_a_bounded_page() {
    let app = spawn_app().await;
    let (result, error) = app.rpc("APIerSv1.GetCDRs", json!({"Limit": 1_000_000})).await;
    assert!(result.is_null(), "{result}");
    assert!(error.as_str().unwrap().starts_with("SERVER_ERROR: Limit must be at most 10000"), "{error}");
    let (_, error) = app.rpc("APIerSv1.GetCDRs", json!({"Limit": 10_000})).await;
    assert!(error.is_null() || error == "NOT_FOUND", "{error}");
}

#[tokio::test]
async fn params_are_read_as_go_reads_them_mixed_case_keys_unknown_keys_and_nulls() {
    let app = spawn_app().await;
    // As CGrateS users write them: keys in any case, fields of older releases, nulls.
    let (result, error) = app
        .rpc(
            "ApierV1.SetActions",
            json!({"actionsId": "TOPUP", "Overwrite": null, "actions": [{"identifier": "*topup",
                "balanceType": "*monetary", "directions": "*out", "units": 10, "weight": 10, "ExpiryTime": null}]}),
        )
        .await;
    assert!(error.is_null(), "{error}");
    assert_eq!(result, "OK");
    let (_, error) =
        app.rpc("APIerSv1.ExecuteAction", json!({"tenant": null, "ACCOUNT": "1001", "ActionsID": "TOPUP"})).await;
    assert!(error.is_null(), "{error}");
    let (account, error) = app.rpc("APIerSv2.GetAccount", json!({"account": "1001", "Ignored": [1, 2]})).await;
    assert!(error.is_null(), "{error}");
    assert_eq!(account["BalanceMap"]["*monetary"][0]["Value"], json!(10), "{account}");
    // CDRsV2's name for the same call, with lower-case keys.
    let cdr = json!({"originID": "v2-call", "originHost": "pbx1", "tor": "*voice", "account": "1001",
                     "usage": "60s", "preRated": true, "cost": 0.5, "RunId": null, "Unknown": {"deep": 1}});
    let (result, error) = app.rpc("CDRsV2.ProcessExternalCDR", cdr).await;
    assert!(error.is_null(), "{error}");
    assert_eq!(result, "OK");
    let (cdrs, _) = app.rpc("APIerSv1.GetCDRs", json!({"originIDs": ["v2-call"]})).await;
    assert_eq!(cdrs.as_array().map(Vec::len), Some(1), "{cdrs}");
    assert_eq!(cdrs[0]["Cost"], json!(0.5));
    // A CGrateS filter key simledger does not filter on is ignored, as Go ignores it.
    let (cdrs, error) = app.rpc("APIerSv1.GetCDRs", json!({"OriginIDs": ["v2-call"], "MinUsage": "1s"})).await;
    assert!(error.is_null(), "{error}");
    assert_eq!(cdrs.as_array().map(Vec::len), Some(1), "{cdrs}");
    // Health checks.
    assert_eq!(app.rpc("CoreSv1.Ping", json!({})).await.0, "Pong");
    assert_eq!(app.rpc("CDRsV1.Ping", json!({})).await.0, "Pong");
    let (status, _) = app.rpc("CoreSv1.Status", json!({})).await;
    assert!(status["NodeID"].is_string() && status["RunningSince"].is_string(), "{status}");
    // Still strict where Go is: a wrong type, a missing mandatory field, an unknown method.
    // (First the billing fold settles: it appends the CDR's debit after the call answers.)
    let head = loop {
        let head = app.log.head().await.unwrap();
        assert!(app.billing.reached(head).await);
        if app.log.head().await.unwrap() == head {
            break head;
        }
    };
    for (method, params, says) in [
        ("CDRsV2.ProcessExternalCDR", json!({"originID": 7, "account": "1"}), "invalid params: OriginID"),
        ("CDRsV2.ProcessExternalCDR", json!({"ORIGINID": "x", "Account": null}), "MANDATORY_IE_MISSING: [Account]"),
        ("CoreSv1.Shutdown", json!({}), "rpc: can't find method CoreSv1.Shutdown"),
        ("Nope.Ping", json!({}), "rpc: can't find service Nope.Ping"),
    ] {
        let (result, error) = app.rpc(method, params.clone()).await;
        assert_eq!(result, Value::Null, "{method} {params}");
        assert!(error.as_str().is_some_and(|e| e.contains(says)), "{method} {params}: {error}");
    }
    assert_eq!(app.log.head().await.unwrap(), head, "nothing appended");
}

#[tokio::test]
async fn the_readmes_cgrates_session_runs_as_written() {
    let app = spawn_app().await;
    // The calls of README's "A session as CGrateS tutorials write it", verbatim.
    let session = [
        ("ApierV1.SetDestination", r#"{"Id":"DST_AU","Prefixes":["61"]}"#),
        (
            "ApierV1.SetActions",
            r#"{"ActionsId":"TOPUP_10","Actions":[{"Identifier":"*topup","BalanceType":"*monetary",
  "Units":"10","BalanceId":"main","Directions":"*out","Weight":10}]}"#,
        ),
        (
            "ApierV1.SetActionPlan",
            r#"{"Id":"MONTHLY","ActionPlan":[{"ActionsId":"TOPUP_10","Years":"*any","Months":"*any",
  "MonthDays":"1","WeekDays":"*any","Time":"00:00:00","Weight":10}]}"#,
        ),
        ("ApierV2.SetAccount", r#"{"Account":"1001","ActionPlanIds":["MONTHLY"]}"#),
        (
            "ApierV1.AddBalance",
            r#"{"Account":"1001","BalanceType":"*voice",
  "Balance":{"ID":"minutes","Value":"5m","DestinationIDs":"DST_AU","Weight":10}}"#,
        ),
        (
            "CDRsV2.ProcessExternalCDR",
            r#"{"OriginID":"call-1","OriginHost":"pbx","ToR":"*voice",
  "RequestType":"*prepaid","Account":"1001","Destination":"61412345678","Usage":"150s"}"#,
        ),
    ];
    for (method, params) in session {
        let params: Value = serde_json::from_str(params).unwrap();
        let (result, error) = app.rpc(method, params).await;
        assert!(error.is_null(), "{method}: {error}");
        assert_eq!(result, "OK", "{method}");
    }
    let (account, _) = app.rpc("ApierV2.GetAccount", json!({"Account":"1001"})).await;
    assert_eq!(account["BalanceMap"]["*voice"][0]["Value"], json!(150_000_000_000i64), "{account}");

    // The plan reads back as CGrateS's engine.ActionPlan, with the account bound to it.
    let (plans, error) = app.rpc("APIerSv1.GetActionPlan", json!({"ID": "MONTHLY"})).await;
    assert!(error.is_null(), "{error}");
    let plan = &plans[0];
    assert_eq!(plan["Id"], "MONTHLY");
    assert_eq!(plan["AccountIDs"], json!({ format!("{}:1001", app.alice.sid): true }));
    let timing = &plan["ActionTimings"][0];
    assert_eq!((timing["ActionsID"].as_str(), timing["Weight"].as_f64()), (Some("TOPUP_10"), Some(10.0)));
    assert_eq!(timing["Timing"]["Timing"]["StartTime"], "00:00:00");
    assert_eq!(timing["Timing"]["Timing"]["MonthDays"], json!([1]));
    assert!(timing["Uuid"].as_str().is_some_and(|u| u.len() == 36));
    let (all, _) = app.rpc("APIerSv1.GetActionPlan", json!({})).await;
    assert_eq!(all.as_array().map(Vec::len), Some(1), "every plan when no ID is given");
    let (none, error) = app.rpc("APIerSv1.GetActionPlan", json!({"ID": "NOPE"})).await;
    assert_eq!((none, error.as_str()), (Value::Null, Some("NOT_FOUND")));
    // Defined without Tenant, the plan is global as in CGrateS: Bob's tenant reads it too, with
    // none of its accounts bound to it.
    let bob = app
        .http
        .post(&app.jsonrpc)
        .json(
            &json!({"method": "APIerSv1.GetActionPlan", "params": [{"Tenant": app.bob.sid, "ID": "MONTHLY"}], "id": 1}),
        )
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(bob["error"], Value::Null, "{bob}");
    assert_eq!(bob["result"][0]["AccountIDs"], json!({}), "{bob}");
}
