//! CGrateS's worked scenarios through JSON-RPC against the running app: balances, the debit
//! order across calls, triggers with `*topup` and `*cdrlog`, the tenant's rates, bad input, and
//! replay.

mod common;

use common::{spawn_app, TestApp};
use serde_json::{json, Value};

async fn ok(app: &TestApp, method: &str, params: Value) {
    app.rpc_ok(method, params).await
}

/// A `*prepaid` call of `usage` from account 1001 to `destination`, as an external CDR.
async fn call(app: &TestApp, id: &str, destination: &str, usage: &str) {
    let cdr = json!({"OriginID": id, "OriginHost": "pbx", "ToR": "*voice", "RequestType": "*prepaid",
        "Account": "1001", "Destination": destination, "Usage": usage, "SetupTime": "2026-05-01T10:00:00Z"});
    ok(app, "CDRsV1.ProcessExternalCDR", cdr).await;
}

const SECOND: i64 = 1_000_000_000;

#[tokio::test]
async fn a_150_second_call_leaves_150_seconds_of_a_5_minute_voice_balance() {
    let app = spawn_app().await;
    ok(
        &app,
        "APIerSv1.SetBalance",
        json!({"Account": "1001", "BalanceType": "*voice", "Value": 300000000000i64,
        "Balance": {"ID": "voice5m", "Weight": 10}}),
    )
    .await;
    call(&app, "c1", "61412345678", "150s").await;
    app.billing_settled().await;
    assert_eq!(app.balances(None, "1001", "*voice").await, [("voice5m".to_owned(), 150000000000)]);
    let (account, _) = app.rpc("APIerSv2.GetAccount", json!({"Account": "1001"})).await;
    assert_eq!(account["ID"], format!("{}:1001", app.alice.sid));
    assert_eq!(account["BalanceMap"]["*voice"][0]["ExpirationDate"], "0001-01-01T00:00:00Z");
    assert_eq!(account["BalanceMap"]["*voice"][0]["Weight"], 10);
}

#[tokio::test]
async fn destination_balances_are_drained_by_precision_then_weight_across_calls() {
    let app = spawn_app().await;
    ok(&app, "APIerSv1.SetDestination", json!({"Id": "Dest_AU_Mobile", "Prefixes": ["614"]})).await;
    // Staged, then loaded, as a tariff plan.
    ok(&app, "APIerSv2.SetTPDestination", json!({"TPid": "TP1", "ID": "DST_AU", "Prefixes": ["61"]})).await;
    ok(&app, "APIerSv1.LoadTariffPlanFromStorDb", json!({"TPid": "TP1"})).await;
    for (id, destinations, weight) in [("mobile", "Dest_AU_Mobile", 10), ("au", "DST_AU", 20), ("any", "", 30)] {
        ok(
            &app,
            "APIerSv1.AddBalance",
            json!({"Account": "1001", "BalanceType": "*voice", "Value": 60 * SECOND,
            "Balance": {"ID": id, "DestinationIDs": destinations, "Weight": weight}}),
        )
        .await;
    }
    // To a mobile: the mobile balance (precision 3) first, whatever the weights.
    call(&app, "c1", "61412345678", "45s").await;
    app.billing_settled().await;
    assert_eq!(
        app.balances(None, "1001", "*voice").await,
        [("any".into(), 60 * SECOND), ("au".into(), 60 * SECOND), ("mobile".into(), 15 * SECOND)]
    );
    // 30 s more: the mobile balance's last 15 s, then the Australian one (precision 2).
    call(&app, "c2", "61412345678", "30s").await;
    app.billing_settled().await;
    assert_eq!(
        app.balances(None, "1001", "*voice").await,
        [("any".into(), 60 * SECOND), ("au".into(), 45 * SECOND), ("mobile".into(), 0)]
    );
    // A landline: Australian first (precision 2), then the heaviest catch-all.
    call(&app, "c3", "61298765432", "60s").await;
    app.billing_settled().await;
    assert_eq!(
        app.balances(None, "1001", "*voice").await,
        [("any".into(), 45 * SECOND), ("au".into(), 0), ("mobile".into(), 0)]
    );
}

#[tokio::test]
async fn a_min_balance_trigger_tops_up_and_cdrlogs_once_and_again_only_after_reset_triggers() {
    let app = spawn_app().await;
    let topup = |units: i64| json!({"Identifier": "*topup", "BalanceId": "data", "BalanceType": "*data", "Units": units, "Weight": 20});
    ok(&app, "APIerSv1.SetActions", json!({"ActionsId": "START", "Actions": [topup(1000)]})).await;
    ok(
        &app,
        "APIerSv1.SetActions",
        json!({"ActionsId": "REFILL",
        "Actions": [topup(500), {"Identifier": "*cdrlog", "Weight": 10}]}),
    )
    .await;
    ok(
        &app,
        "APIerSv1.SetActions",
        json!({"ActionsId": "RESET",
        "Actions": [{"Identifier": "*reset_triggers", "BalanceType": "*data", "Weight": 10}]}),
    )
    .await;
    ok(&app, "APIerSv1.SetActionTrigger", json!({"GroupID": "LOW", "UniqueID": "low-data", "ActionTrigger": {
        "ThresholdType": "*min_balance", "ThresholdValue": 100, "BalanceType": "*data", "ActionsID": "REFILL", "Weight": 10}}))
    .await;
    ok(&app, "APIerSv2.SetAccount", json!({"Account": "1001", "ActionTriggerIDs": ["LOW"]})).await;
    // The starting topup comes from an *asap plan, through the scheduler.
    ok(
        &app,
        "APIerSv1.SetActionPlan",
        json!({"Id": "START_PLAN", "ActionPlan": [{"ActionsId": "START", "Time": "*asap"}]}),
    )
    .await;
    ok(&app, "APIerSv2.SetAccount", json!({"Account": "1001", "ActionPlanIDs": ["START_PLAN"]})).await;
    // SetAccount answered after the *asap firing; the scheduler repeats none.
    assert_eq!(fire(&app, chrono::Utc::now(), 1).await, 0);
    assert_eq!(app.balances(None, "1001", "*data").await, [("data".into(), 1000)]);
    let data = |id: &str, bytes: i64| json!({"OriginID": id, "ToR": "*data", "RequestType": "*prepaid", "Account": "1001", "Usage": bytes.to_string()});
    ok(&app, "CDRsV1.ProcessExternalCDR", data("d1", 950)).await;
    app.billing_settled().await;
    assert_eq!(app.balances(None, "1001", "*data").await, [("data".into(), 550)], "50 ≤ 100: refilled");
    ok(&app, "CDRsV1.ProcessExternalCDR", data("d2", 500)).await;
    app.billing_settled().await;
    assert_eq!(app.balances(None, "1001", "*data").await, [("data".into(), 50)], "executed: not again");
    ok(&app, "APIerSv1.ExecuteAction", json!({"Account": "1001", "ActionsId": "RESET"})).await;
    assert_eq!(app.balances(None, "1001", "*data").await, [("data".into(), 550)], "reset, re-evaluated, refilled");
    // Each refill wrote one *cdrlog CDR (the START topup, without *cdrlog, wrote none).
    app.billing_settled().await;
    let (cdrs, _) = app.rpc("APIerSv1.GetCDRs", json!({"ToRs": ["*data"], "Accounts": ["1001"]})).await;
    let logged: Vec<&Value> = cdrs.as_array().unwrap().iter().filter(|c| c["Source"] == "*cdrlog").collect();
    assert_eq!(logged.len(), 2);
    assert_eq!((logged[0]["RunID"].as_str(), logged[0]["Cost"].as_i64()), (Some("*topup"), Some(500)));
    let (account, _) = app.rpc("APIerSv2.GetAccount", json!({"Account": "1001"})).await;
    assert_eq!(account["ActionTriggers"][0]["Executed"], true);
}

#[tokio::test]
async fn a_recurrent_trigger_with_min_sleep_fires_at_most_once_per_min_sleep() {
    let app = spawn_app().await;
    // Each firing adds 1 to a monetary balance: its value counts the firings.
    ok(
        &app,
        "APIerSv1.SetActions",
        json!({"ActionsId": "COUNT", "Actions": [
        {"Identifier": "*topup", "BalanceId": "fired", "BalanceType": "*monetary", "Units": 1, "Weight": 10}]}),
    )
    .await;
    ok(
        &app,
        "APIerSv1.SetActionTrigger",
        json!({"GroupID": "LOW", "UniqueID": "low", "ActionTrigger": {
        "ThresholdType": "*min_balance", "ThresholdValue": 100000, "BalanceType": "*data", "ActionsID": "COUNT",
        "Recurrent": true, "MinSleep": "10m"}}),
    )
    .await;
    ok(
        &app,
        "APIerSv1.AddBalance",
        json!({"Account": "1001", "BalanceType": "*data", "Value": 100000,
        "Balance": {"ID": "data"}}),
    )
    .await;
    ok(&app, "APIerSv2.SetAccount", json!({"Account": "1001", "ActionTriggerIDs": ["LOW"]})).await;
    // A byte a minute for 25 minutes, sent as CGrateS events: below the threshold every time.
    for minute in 1..=25 {
        let event = json!({"Flags": ["*rals", "*store:true"], "ID": format!("ev{minute}"), "Event": {
            "OriginID": format!("m{minute}"), "ToR": "*data", "RequestType": "*prepaid", "Account": "1001",
            "Usage": 1, "AnswerTime": format!("2026-05-01T10:{minute:02}:00Z"), "iccid": "8988"}});
        ok(&app, "CDRsV1.ProcessEvent", event).await;
    }
    app.billing_settled().await;
    assert_eq!(app.balances(None, "1001", "*data").await, [("data".into(), 100000 - 25)]);
    assert_eq!(app.balances(None, "1001", "*monetary").await, [("fired".into(), 3)], "at minutes 1, 11 and 21");
    let (cdrs, _) = app.rpc("APIerSv1.GetCDRs", json!({"OriginIDs": ["m7"]})).await;
    assert_eq!(cdrs[0]["ExtraFields"]["iccid"], "8988", "unknown event keys are extra fields: {cdrs}");
    assert_eq!(cdrs[0]["Usage"], "1", "a number as Usage, as CGrateS events carry it");

    // CDRsV2 answers with the CDR as stored and rated, and the flags it was processed with.
    let event = json!({"Flags": ["*rals"], "Event": {"OriginID": "v2", "ToR": "*data", "RequestType": "*prepaid",
        "Account": "1001", "Usage": 2, "AnswerTime": "2026-05-01T11:00:00Z"}});
    let (processed, error) = app.rpc("CDRsV2.ProcessEvent", event).await;
    assert_eq!(error, Value::Null);
    let cdr = &processed[0]["Event"];
    assert_eq!(processed[0]["Flags"], json!(["*rals"]));
    assert_eq!((cdr["OriginID"].as_str(), cdr["Usage"].as_str()), (Some("v2"), Some("2")), "{processed}");
    assert_eq!(cdr["CGRID"].as_str().map(str::len), Some(64), "a SHA-256 in hex");
    assert!(cdr["OrderID"].as_i64().unwrap() > 0);
    assert_eq!(app.balances(None, "1001", "*data").await, [("data".into(), 100000 - 27)], "debited before the answer");
}

#[tokio::test]
async fn the_negative_policy_is_explicit_for_operator_debits() {
    let app = spawn_app().await;
    ok(
        &app,
        "APIerSv1.SetBalance",
        json!({"Account": "1001", "BalanceType": "*monetary", "Value": 1.5,
        "Balance": {"ID": "cash"}}),
    )
    .await;
    let debit = json!({"Account": "1001", "BalanceType": "*monetary", "Value": 2, "Balance": {"ID": "cash"}});
    let (_, error) = app.rpc("APIerSv1.DebitBalance", debit.clone()).await;
    assert_eq!(error, "INSUFFICIENT_CREDIT");
    ok(&app, "APIerSv2.SetAccount", json!({"Account": "1001", "ExtraOptions": {"AllowNegative": true}})).await;
    ok(&app, "APIerSv1.DebitBalance", debit).await;
    let (account, _) = app.rpc("APIerSv2.GetAccount", json!({"Account": "1001"})).await;
    assert_eq!(account["BalanceMap"]["*monetary"][0]["Value"], json!(-0.5));
    assert_eq!(account["AllowNegative"], true);
}

#[tokio::test]
async fn bad_billing_calls_get_cgrates_errors_and_change_nothing() {
    let app = spawn_app().await;
    ok(
        &app,
        "APIerSv1.SetBalance",
        json!({"Account": "1001", "BalanceType": "*data", "Value": 10, "Balance": {"ID": "d"}}),
    )
    .await;
    let head = app.log.head().await.unwrap();
    let cases = [
        (
            "APIerSv1.SetBalance",
            json!({"BalanceType": "*data", "Value": 1, "Balance": {"ID": "x"}}),
            "MANDATORY_IE_MISSING: [Account]",
        ),
        ("APIerSv1.SetBalance", json!({"Account": "1001", "Value": 1}), "MANDATORY_IE_MISSING: [BalanceType ID]"),
        ("APIerSv1.AddBalance", json!({"Account": "1001", "BalanceType": "*data", "Value": -5}), "non-negative"),
        ("APIerSv1.AddBalance", json!({"Account": "1001", "BalanceType": "*gold", "Value": 5}), "BalanceType"),
        (
            "APIerSv1.AddBalance",
            json!({"Account": "1001", "BalanceType": "*data", "Value": "lots"}),
            "invalid params: Value",
        ),
        (
            "APIerSv1.AddBalance",
            json!({"Account": 1001, "BalanceType": "*data", "Value": 1}),
            "invalid params: Account",
        ),
        (
            "APIerSv1.DebitBalance",
            json!({"Account": "1001", "BalanceType": "*data", "Value": 11, "Balance": {"ID": "d"}}),
            "INSUFFICIENT_CREDIT",
        ),
        ("APIerSv2.GetAccount", json!({"Account": "nobody"}), "NOT_FOUND"),
        (
            "APIerSv1.SetActions",
            json!({"ActionsId": "A", "Actions": [{"Identifier": "*topup"}]}),
            "MANDATORY_IE_MISSING: [Weight]",
        ),
        (
            "APIerSv1.SetActions",
            json!({"ActionsId": "A", "Actions": [{"Identifier": "*teleport", "Weight": 1}]}),
            "unsupported action",
        ),
        (
            "APIerSv1.SetActions",
            json!({"ActionsId": "A", "Actions": [{"Identifier": "*topup", "BalanceType": "*data", "Units": -1, "Weight": 1}]}),
            "non-negative",
        ),
        (
            "APIerSv1.SetActions",
            json!({"ActionsId": "A", "Actions": [{"Identifier": "*http_post", "ExtraParameters": "ftp://x", "Weight": 1}]}),
            "URL",
        ),
        (
            "APIerSv1.SetActions",
            json!({"ActionsId": "A", "Actions": [{"Identifier": "*set_fleet_data_limit", "ExtraParameters": "0", "Weight": 1}]}),
            "megabytes",
        ),
        (
            "APIerSv1.SetActions",
            json!({"ActionsId": "A", "Actions": [{"Identifier": "*export", "Weight": 1}]}),
            "exporter IDs",
        ),
        ("APIerSv1.ExecuteAction", json!({"Account": "1001", "ActionsId": "NONE"}), "NOT_FOUND"),
        (
            "CDRsV1.ProcessEvent",
            json!({"Flags": ["*store:false"], "Event": {"OriginID": "x", "Account": "1001", "Usage": "1s"}}),
            "not supported",
        ),
        ("CDRsV1.ProcessEvent", json!({"Event": {"OriginID": "x", "Usage": "1s"}}), "MANDATORY_IE_MISSING: [Account]"),
        ("CDRsV1.ProcessEvent", json!({"Event": {"OriginID": ["x"], "Account": "1001"}}), "must be a string"),
        (
            "APIerSv1.SetActionTrigger",
            json!({"GroupID": "G", "UniqueID": "u", "ActionTrigger": {"ThresholdType": "*min_balance"}}),
            "MANDATORY_IE_MISSING: [BalanceType ActionsID]",
        ),
        (
            "APIerSv1.SetActionTrigger",
            json!({"GroupID": "G", "UniqueID": "u", "ActionTrigger": {"ThresholdType": "*sometimes",
            "BalanceType": "*data", "ActionsID": "A"}}),
            "ThresholdType",
        ),
        (
            "APIerSv1.SetActionTrigger",
            json!({"GroupID": "G", "UniqueID": "u", "ActionTrigger": {"ThresholdType": "*min_balance",
            "BalanceType": "*data", "ActionsID": "A", "MinSleep": "soon"}}),
            "MinSleep",
        ),
        ("APIerSv2.SetAccount", json!({"Account": "1001", "ActionTriggerIDs": ["NOPE"]}), "NOT_FOUND"),
        ("APIerSv2.SetAccount", json!({"Account": "1001", "ActionPlanIDs": ["P"]}), "NOT_FOUND"),
        (
            "APIerSv1.SetActionPlan",
            json!({"Id": "P", "ActionPlan": [{"ActionsId": "NONE", "Time": "*asap"}]}),
            "NOT_FOUND",
        ),
        (
            "APIerSv1.SetActionPlan",
            json!({"Id": "P", "ActionPlan": [{"ActionsId": "A", "Time": "*fortnightly"}]}),
            "not a timing",
        ),
        ("APIerSv1.SetActionPlan", json!({"Id": "P"}), "MANDATORY_IE_MISSING: [ActionPlan]"),
        ("APIerSv1.SetDestination", json!({"Id": "D", "Prefixes": []}), "MANDATORY_IE_MISSING: [Prefixes]"),
        ("APIerSv1.SetDestination", json!({"Id": "D", "Prefixes": ["6 1"]}), "prefix"),
        ("APIerSv1.SetDestination", json!({"Id": "D", "Prefixes": ["1".repeat(33)]}), "prefix"),
        ("APIerSv2.SetTPDestination", json!({"TPid": "T", "ID": "D", "Prefixes": vec!["44"; 1001]}), "at most 1000"),
        ("APIerSv1.LoadTariffPlanFromStorDb", json!({"TPid": "NONE"}), "NOT_FOUND"),
    ];
    for (method, params, says) in cases {
        let (result, error) = app.rpc(method, params.clone()).await;
        assert_eq!(result, Value::Null, "{method} {params}");
        assert!(error.as_str().is_some_and(|e| e.contains(says)), "{method} {params}: {error}");
    }
    assert_eq!(app.log.head().await.unwrap(), head, "nothing appended");
    assert_eq!(app.balances(None, "1001", "*data").await, [("d".into(), 10)]);
}

#[tokio::test]
async fn an_http_post_action_posts_the_account_as_get_account_shows_it_signed() {
    let app = spawn_app().await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let receiver = axum::Router::new().route(
        "/balance",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let tx = tx.clone();
            async move {
                let header = |n: &str| headers[n].to_str().unwrap().to_owned();
                tx.send((header("x-simledger-timestamp"), header("x-simledger-signature"), body)).unwrap();
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/balance", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, receiver).await.unwrap() });

    let actions = json!({"ActionsId": "NOTIFY", "Actions": [
        {"Identifier": "*topup", "BalanceType": "*monetary", "BalanceId": "main", "Units": 10, "Weight": 20},
        {"Identifier": "*http_post", "ExtraParameters": url, "Weight": 10}]});
    ok(&app, "APIerSv1.SetActions", actions).await;
    ok(&app, "APIerSv1.ExecuteAction", json!({"Account": "1001", "ActionsId": "NOTIFY"})).await;
    let (timestamp, signature, body) =
        tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv()).await.unwrap().unwrap();
    // Signed with the tenant's own auth token, over the URL and the body.
    let key = app.alice.secret.as_bytes();
    assert_eq!(signature, simledger_exporters::outbound_calls::http_post_signature(key, &timestamp, &url, &body));
    assert_ne!(signature, simledger_exporters::outbound_calls::http_post_signature(b"k", &timestamp, &url, &body));
    let posted: Value = serde_json::from_slice(&body).unwrap();
    let (shown, _) = app.rpc("APIerSv2.GetAccount", json!({"Account": "1001"})).await;
    assert_eq!(posted, shown, "the account as GetAccount shows it");
    assert_eq!(posted["BalanceMap"]["*monetary"][0]["Value"], json!(10), "{posted}");
}

/// The files in `dir` whose names start with `prefix`, waited for until there are `n`.
async fn files(dir: &std::path::Path, prefix: &str, n: usize) -> Vec<std::path::PathBuf> {
    for _ in 0..400 {
        let mut found: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
            .collect();
        if found.len() >= n {
            found.sort();
            return found;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("fewer than {n} files {prefix}* in {}", dir.display());
}

#[tokio::test]
async fn an_export_action_writes_the_account_through_each_exporter_it_names() {
    let app = spawn_app().await;
    let dir = std::env::temp_dir().join(format!("simledger-account-export-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let ees = json!({"exporters": [
        {"id": "acc_csv", "type": "*file_csv", "export_path": dir, "opts": {"csvFieldSeparator": ";"}},
        {"id": "acc_json", "type": "*file_json", "export_path": dir}]});
    ok(&app, "ConfigSv1.SetConfig", json!({"Config": {"ees": ees}})).await;
    let actions = json!({"ActionsId": "EXPORT", "Actions": [
        {"Identifier": "*topup", "BalanceType": "*monetary", "BalanceId": "main", "Units": "0.10000000000000000001",
         "Weight": 20},
        {"Identifier": "*export", "ExtraParameters": "acc_csv;acc_json;no_such_exporter", "Weight": 10}]});
    ok(&app, "APIerSv1.SetActions", actions).await;
    ok(&app, "APIerSv1.ExecuteAction", json!({"Account": "1001", "ActionsId": "EXPORT"})).await;

    let [csv] = files(&dir, "account_acc_csv_", 1).await.try_into().unwrap();
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut rows = csv::ReaderBuilder::new().delimiter(b';').from_reader(text.as_bytes());
    let header: Vec<String> = rows.headers().unwrap().iter().map(str::to_owned).collect();
    assert_eq!(header, simledger_exporters::account_exports::COLUMNS);
    let records: Vec<csv::StringRecord> = rows.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), 1, "{text}");
    let tenant = app.alice.sid.clone();
    assert_eq!(&records[0][0], tenant.as_str());
    assert_eq!(&records[0][1], format!("{tenant}:1001").as_str());
    assert_eq!(&records[0][2], "AccountUpdate");
    assert!(records[0][7].contains("0.10000000000000000001"), "every digit of the amount: {text}");

    let [json_file] = files(&dir, "account_acc_json_", 1).await.try_into().unwrap();
    let exported: Value = serde_json::from_str(&std::fs::read_to_string(&json_file).unwrap()).unwrap();
    let (shown, _) = app.rpc("APIerSv2.GetAccount", json!({"Account": "1001"})).await;
    assert_eq!(exported["Tenant"], json!(tenant));
    assert_eq!(exported["Event"]["Account"], shown["ID"]);
    assert_eq!(exported["Event"]["EventType"], "AccountUpdate");
    assert_eq!(exported["Event"]["BalanceMap"], shown["BalanceMap"], "the account as GetAccount shows it");
    // The exporter the tenant does not have is skipped; the others wrote one document each.
    // Checked once the export subscriber has passed every event, not after a pause.
    let head = app.log.head().await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let done: Option<i64> = sqlx::query_scalar("SELECT position FROM checkpoints WHERE name = $1 AND shard = 0")
            .bind(simledger_exporters::account_exports::NAME)
            .fetch_optional(app.log.pool())
            .await
            .unwrap();
        if done.is_some_and(|p| p >= head) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the export subscriber reaches the head");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2, "one document per named exporter, nothing else");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn replaying_the_billing_projection_gives_identical_balances() {
    let app = spawn_app().await;
    ok(&app, "APIerSv1.SetDestination", json!({"Id": "DST_AU", "Prefixes": ["61"]})).await;
    ok(
        &app,
        "APIerSv1.SetActions",
        json!({"ActionsId": "REFILL", "Actions": [
        {"Identifier": "*topup", "BalanceId": "v", "BalanceType": "*voice", "Units": 60 * SECOND, "Weight": 10},
        {"Identifier": "*cdrlog", "Weight": 0}]}),
    )
    .await;
    ok(
        &app,
        "APIerSv1.SetActionTrigger",
        json!({"GroupID": "LOW", "UniqueID": "low", "ActionTrigger": {
        "ThresholdType": "*min_balance", "ThresholdValue": 10 * SECOND, "BalanceType": "*voice", "ActionsID": "REFILL",
        "Recurrent": true}}),
    )
    .await;
    ok(
        &app,
        "APIerSv2.SetAccount",
        json!({"Account": "1001", "ActionTriggerIDs": ["LOW"], "ExtraOptions": {"AllowNegative": true}}),
    )
    .await;
    ok(
        &app,
        "APIerSv1.AddBalance",
        json!({"Account": "1001", "BalanceType": "*voice", "Value": 100 * SECOND,
        "Balance": {"ID": "v", "DestinationIDs": "DST_AU", "Weight": 10}}),
    )
    .await;
    for n in 0..20 {
        call(&app, &format!("c{n}"), "61412345678", &format!("{}s", 7 + n)).await;
    }
    app.billing_settled().await;
    let docs = || async {
        let rows: Vec<(String, String, Value)> =
            sqlx::query_as("SELECT tenant, account, doc FROM billing_accounts ORDER BY 1, 2")
                .fetch_all(app.log.pool())
                .await
                .unwrap();
        rows
    };
    let before = docs().await;
    let head = app.log.head().await.unwrap();
    let replay = simledger_policies::billing::Billing::replaying(app.log.clone());
    let replayed = simledger_projections::replay(&app.log, replay.clone()).await.unwrap();
    assert_eq!(replayed, head);
    assert_eq!(replay.divergent(), 0, "every trigger and action decided as it was live");
    assert_eq!(docs().await, before, "the same balances, triggers and counters");
    assert_eq!(app.log.head().await.unwrap(), head, "and no derived event twice");
}

#[tokio::test]
async fn plans_fire_asap_once_then_each_period_and_a_rerun_scheduler_repeats_nothing() {
    let app = spawn_app().await;
    ok(
        &app,
        "APIerSv1.SetActions",
        json!({"ActionsId": "TOPUP", "Actions": [
        {"Identifier": "*topup", "BalanceId": "data", "BalanceType": "*data", "Units": 1000, "Weight": 10}]}),
    )
    .await;
    ok(
        &app,
        "APIerSv1.SetActionPlan",
        json!({"Id": "PLAN", "ActionPlan": [
        {"ActionsId": "TOPUP", "Time": "*asap", "Weight": 20},
        {"ActionsId": "TOPUP", "TimingID": "*every_minute", "Weight": 10}]}),
    )
    .await;
    ok(&app, "APIerSv2.SetAccount", json!({"Account": "1001", "ActionPlanIDs": ["PLAN"]})).await;
    let bound = chrono::Utc::now();
    // The *asap firing came with SetAccount; 3.5 minutes on, three minutes' worth.
    assert_eq!(fire(&app, bound, 210).await, 3);
    assert_eq!(app.balances(None, "1001", "*data").await, [("data".into(), 4000)]);
    // The same moment again (a restarted scheduler, or a second one): nothing new.
    let head = app.log.head().await.unwrap();
    fire(&app, bound, 210).await;
    assert_eq!(app.log.head().await.unwrap(), head, "no firing appended twice");
    assert_eq!(app.balances(None, "1001", "*data").await, [("data".into(), 4000)]);
    // Two more minutes: two more firings, none skipped.
    assert_eq!(fire(&app, bound, 330).await, 2);
    assert_eq!(app.balances(None, "1001", "*data").await, [("data".into(), 6000)]);
}

/// Runs the plan scheduler once as if `seconds` after `from`, and waits for billing to apply it.
async fn fire(app: &TestApp, from: chrono::DateTime<chrono::Utc>, seconds: i64) -> usize {
    let now = from + chrono::Duration::seconds(seconds);
    let n = simledger_policies::plan_scheduler::fire_due_plans(&app.log, now, 100).await.unwrap();
    app.billing_settled().await;
    n
}

#[tokio::test]
async fn the_rest_mirror_takes_the_same_objects_and_answers_twilio_errors() {
    let app = spawn_app().await;
    let post = |path: &'static str, body: Value| {
        app.send(app.http.post(app.url(path)).basic_auth(&app.alice.sid, Some(&app.alice.secret)).json(&body))
    };
    let set = post("/v1/Billing/Accounts", json!({"Account": "1001", "ExtraOptions": {"Disabled": false}})).await;
    assert_eq!((set.status, set.body["AllowNegative"].as_bool()), (200, Some(false)), "{:?}", set.body);
    let add = post(
        "/v1/Billing/Balances",
        json!({"Action": "add", "Account": "1001", "BalanceType": "*data",
        "Value": 100, "Balance": {"ID": "d", "Weight": 5}}),
    )
    .await;
    assert_eq!(add.status, 200, "{:?}", add.body);
    assert_eq!(add.body["BalanceMap"]["*data"][0]["Value"], 100);
    let fetched = app.get(&app.alice, "/v1/Billing/Accounts/1001").await;
    assert_eq!(fetched.body["BalanceMap"], add.body["BalanceMap"]);
    common::assert_error(&app.get(&app.bob, "/v1/Billing/Accounts/1001").await, 404, 20404);

    assert_eq!(post("/v1/Billing/Destinations", json!({"Id": "UK", "Prefixes": ["44"]})).await.status, 201);
    common::assert_error(&post("/v1/Billing/Destinations", json!({"Id": "UK", "Prefixes": ["44"]})).await, 409, 20409);
    let listed = app.get(&app.alice, "/v1/Billing/Destinations").await.body;
    assert_eq!(listed["destinations"], json!([{"Id": "UK", "Prefixes": ["44"]}]));
    assert_eq!(app.get(&app.bob, "/v1/Billing/Destinations").await.body["destinations"], json!([]));

    let head = app.log.head().await.unwrap();
    for (path, body, says) in [
        ("/v1/Billing/Balances", json!({"Action": "steal", "Account": "1001"}), "Action"),
        (
            "/v1/Billing/Balances",
            json!({"Action": "debit", "Account": "1001", "BalanceType": "*data", "Value": 101,
            "Balance": {"ID": "d"}}),
            "INSUFFICIENT_CREDIT",
        ),
        ("/v1/Billing/Accounts", json!({"ExtraOptions": {}}), "Account"),
        (
            "/v1/Billing/Actions",
            json!({"ActionsId": "A", "Actions": [{"Identifier": "*teleport", "Weight": 1}]}),
            "unsupported",
        ),
        ("/v1/Billing/ActionPlans", json!({"Id": "P", "ActionPlan": [{"ActionsId": "NONE"}]}), "not found"),
        ("/v1/Billing/ActionTriggers", json!([1, 2]), "JSON object"),
        ("/v1/Billing/Rates", json!({"ToR": "*voice"}), "ID DestinationID Rate"),
        ("/v1/Billing/Rates", json!({"ID": "R", "ToR": "*fax", "DestinationID": "*any", "Rate": 1}), "ToR"),
        ("/v1/Billing/Rates", json!({"ID": "R", "ToR": "*sms", "DestinationID": "*any", "Rate": -1}), "Rate"),
        (
            "/v1/Billing/Rates",
            json!({"ID": "R", "ToR": "*sms", "DestinationID": "*any", "Rate": 1, "RateIncrement": 0}),
            "RateIncrement",
        ),
        (
            "/v1/Billing/Rates",
            json!({"ID": "R", "ToR": "*voice", "DestinationID": "*any", "Rate": 1, "RateUnit": "soon"}),
            "Go duration",
        ),
        (
            "/v1/Billing/Rates",
            json!({"ID": "R", "ToR": "*sms", "DestinationID": "*any", "Rate": 1, "RoundingDecimals": 11}),
            "RoundingDecimals",
        ),
        ("/v1/Billing/Rates", json!({"ID": "R", "ToR": "*sms", "DestinationID": "MARS", "Rate": 1}), "not found"),
    ] {
        let r = post(path, body.clone()).await;
        assert!(r.status == 400 || r.status == 404, "{path} {body}: {:?}", r.body);
        assert!(r.body["message"].as_str().unwrap().contains(says), "{path} {body}: {:?}", r.body);
    }
    assert_eq!(app.log.head().await.unwrap(), head, "nothing appended");
}

#[tokio::test]
async fn a_tenant_rate_prices_what_balances_leave_by_the_longest_destination_match() {
    let app = spawn_app().await;
    ok(&app, "APIerSv1.SetDestination", json!({"Id": "Dest_AU", "Prefixes": ["61"]})).await;
    ok(&app, "APIerSv1.SetDestination", json!({"Id": "Dest_AU_Mobile", "Prefixes": ["614"]})).await;
    let post = |body: Value| {
        app.send(
            app.http.post(app.url("/v1/Billing/Rates")).basic_auth(&app.alice.sid, Some(&app.alice.secret)).json(&body),
        )
    };
    for (id, destination, rate, increment) in [
        ("RT_AU", "Dest_AU", "0.20", "1s"),
        ("RT_AU_MOBILE", "Dest_AU_Mobile", "0.30", "1s"),
        ("RT_ANY", "*any", "0.50", "60s"),
    ] {
        let r = post(json!({"ID": id, "ToR": "*voice", "DestinationID": destination, "Rate": rate,
            "RateUnit": "60s", "RateIncrement": increment}))
        .await;
        assert_eq!(r.status, 201, "{id}: {:?}", r.body);
    }
    common::assert_error(
        &post(json!({"ID": "RT_ANY", "ToR": "*voice", "DestinationID": "*any", "Rate": 9})).await,
        409,
        20409,
    );
    ok(
        &app,
        "APIerSv1.SetBalance",
        json!({"Account": "1001", "BalanceType": "*monetary", "Value": 10, "Balance": {"ID": "money"}}),
    )
    .await;

    call(&app, "mobile", "61412345678", "61s").await; // 61 s at 0.30/min by the second: 0.3050
    call(&app, "fixed", "61298765432", "61s").await; // 0.20/min: 0.2033
    call(&app, "abroad", "4420", "61s").await; // 0.50/min by the minute, two started: 1.00
    app.billing_settled().await;
    let (account, _) = app.rpc("APIerSv2.GetAccount", json!({"Account": "1001"})).await;
    assert_eq!(account["BalanceMap"]["*monetary"][0]["Value"], json!(8.4917), "10 - 1.5083: {account}");
    // The CDRs are rated by the same rates.
    let cdrs = app.get(&app.alice, "/v1/Billing/Cdrs").await.body;
    let costs: Vec<(&str, &str)> = cdrs["cdrs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["OriginID"].as_str().unwrap(), c["Cost"].as_str().unwrap()))
        .collect();
    assert_eq!(costs, [("mobile", "0.305"), ("fixed", "0.2033"), ("abroad", "1")]);

    let listed = app.get(&app.alice, "/v1/Billing/Rates").await.body;
    let ids: Vec<&str> = listed["rates"].as_array().unwrap().iter().map(|r| r["ID"].as_str().unwrap()).collect();
    assert_eq!(ids, ["RT_ANY", "RT_AU", "RT_AU_MOBILE"]);
    assert_eq!(listed["rates"][0]["RateIncrement"], "60000000000", "units as numbers of nanoseconds");
    assert_eq!(app.get(&app.bob, "/v1/Billing/Rates").await.body["rates"], json!([]));
}

#[tokio::test]
async fn balances_set_as_cgrates_tutorials_set_them_are_debited_as_on_cgrates() {
    let app = spawn_app().await;
    ok(&app, "APIerSv1.SetDestination", json!({"Id": "DST_AU", "Prefixes": ["61"]})).await;
    // The value inside the balance, as a Go duration; lists as `;` strings or arrays; `*any`
    // destinations; Directions and a top-level Categories of older tutorials, ignored as Go does.
    ok(
        &app,
        "ApierV1.AddBalance",
        json!({"account": "1001", "balanceType": "*voice", "Directions": "*out",
               "Categories": "*any",
               "balance": {"id": "anywhere", "Value": "5m", "DestinationIDs": "*any", "Weight": "10",
                           "Categories": ["call", "*default"], "SharedGroups": null}}),
    )
    .await;
    ok(
        &app,
        "APIerSv1.SetBalance",
        json!({"Account": "1001", "BalanceType": "*voice", "Value": "60s",
               "Balance": {"ID": "australia", "DestinationIDs": ["DST_AU"], "Weight": 20}}),
    )
    .await;
    ok(
        &app,
        "APIerSv1.AddBalance",
        json!({"Account": "1001", "BalanceType": "*monetary", "Value": "10.5", "Balance": {"ID": "main"}}),
    )
    .await;
    assert_eq!(
        app.balances(None, "1001", "*voice").await,
        [("anywhere".to_owned(), 300 * SECOND), ("australia".to_owned(), 60 * SECOND)]
    );
    // 90 s to Australia: its own 60 s first (heavier), then 30 s of the anywhere balance; a
    // call elsewhere draws on the anywhere balance alone.
    call(&app, "au", "61412345678", "90s").await;
    call(&app, "nz", "6421000000", "20s").await;
    app.billing_settled().await;
    assert_eq!(
        app.balances(None, "1001", "*voice").await,
        [("anywhere".to_owned(), 250 * SECOND), ("australia".to_owned(), 0)]
    );
    let (account, _) = app.rpc("APIerSv2.GetAccount", json!({"Account": "1001"})).await;
    assert_eq!(account["BalanceMap"]["*monetary"][0]["Value"], json!(10.5));
    // Still refused: a value that is neither a number nor a duration.
    let (_, error) =
        app.rpc("APIerSv1.AddBalance", json!({"Account": "1001", "BalanceType": "*voice", "Value": "lots"})).await;
    assert!(error.as_str().is_some_and(|e| e.contains("Value")), "{error}");
}

#[tokio::test]
async fn a_debit_is_seen_right_after_the_call_and_accounts_and_actions_read_back_as_cgrates_lists_them() {
    let app = spawn_app().await;
    ok(
        &app,
        "APIerSv1.SetBalance",
        json!({"Account": "1001", "BalanceType": "*voice", "Value": "5m", "Balance": {"ID": "voice5m"}}),
    )
    .await;
    // No waiting: the CDR's answer comes once its debit is applied, as CGrateS's does.
    call(&app, "c1", "61412345678", "150s").await;
    assert_eq!(app.balances(None, "1001", "*voice").await, [("voice5m".to_owned(), 150 * SECOND)]);
    for n in ["1002", "1003"] {
        ok(&app, "APIerSv2.SetAccount", json!({"Account": n})).await;
    }
    let (all, error) = app.rpc("APIerSv1.GetAccounts", json!({})).await;
    assert!(error.is_null(), "{error}");
    let ids: Vec<&str> = all.as_array().unwrap().iter().map(|a| a["ID"].as_str().unwrap()).collect();
    let tenant = &app.alice.sid;
    assert_eq!(ids, [format!("{tenant}:1001"), format!("{tenant}:1002"), format!("{tenant}:1003")]);
    let (page, _) = app.rpc("APIerSv1.GetAccounts", json!({"Offset": 1, "Limit": 1})).await;
    assert_eq!(page[0]["ID"], format!("{tenant}:1002"));
    let (named, _) = app.rpc("APIerSv1.GetAccounts", json!({"AccountIDs": ["1003", "nobody"]})).await;
    assert_eq!(named.as_array().map(Vec::len), Some(1));
    let (_, error) = app.rpc("APIerSv1.GetAccounts", json!({"Limit": 10_001})).await;
    assert!(error.as_str().is_some_and(|e| e.contains("at most")), "{error}");
    // GetActions takes the bare ID, as CGrateS does.
    ok(
        &app,
        "APIerSv1.SetActions",
        json!({"ActionsId": "TOPUP", "Actions": [{"Identifier": "*topup", "BalanceType": "*monetary",
               "BalanceId": "main", "Units": 10, "DestinationIds": "DST_A;!DST_B", "Weight": 20}]}),
    )
    .await;
    let (actions, error) = app.rpc("APIerSv1.GetActions", json!("TOPUP")).await;
    assert!(error.is_null(), "{error}");
    assert_eq!(actions[0]["Identifier"], "*topup");
    assert_eq!((actions[0]["BalanceId"].as_str(), actions[0]["Units"].as_str()), (Some("main"), Some("10")));
    assert_eq!(actions[0]["DestinationIds"], "DST_A;!DST_B");
    let (_, error) = app.rpc("APIerSv1.GetActions", json!("NOPE")).await;
    assert_eq!(error, "NOT_FOUND");
}

#[tokio::test]
async fn what_is_removed_is_gone_and_removing_what_is_not_there_is_not_found() {
    let app = spawn_app().await;
    let pool = app.log.pool();
    ok(&app, "APIerSv1.SetActions", json!({"ActionsId": "A", "Actions": [{"Identifier": "*log", "Weight": 1}]})).await;
    ok(&app, "APIerSv1.SetActionPlan", json!({"Id": "P", "ActionPlan": [{"ActionsId": "A", "Time": "*monthly"}]}))
        .await;
    for unique in ["u1", "u2"] {
        ok(
            &app,
            "APIerSv1.SetActionTrigger",
            json!({"GroupID": "G", "UniqueID": unique, "ActionTrigger": {
            "ThresholdType": "*min_balance", "ThresholdValue": 1, "BalanceType": "*monetary", "ActionsID": "A"}}),
        )
        .await;
    }
    ok(&app, "APIerSv2.SetAccount", json!({"Account": "1001", "ActionPlanIDs": ["P"], "ActionTriggerIDs": ["G"]}))
        .await;
    for id in ["main", "bonus"] {
        ok(
            &app,
            "APIerSv1.AddBalance",
            json!({"Account": "1001", "BalanceType": "*monetary", "Value": 5,
            "Balance": {"ID": id}}),
        )
        .await;
    }
    let bindings = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM billing_plan_bindings WHERE plan_id = 'P'")
            .fetch_one(pool)
            .await
            .unwrap()
    };
    assert_eq!(bindings().await, 1);

    ok(
        &app,
        "APIerSv1.RemoveBalances",
        json!({"Account": "1001", "BalanceType": "*monetary",
        "Balance": {"ID": "bonus"}}),
    )
    .await;
    assert_eq!(app.balances(None, "1001", "*monetary").await, [("main".to_owned(), 5)]);
    ok(&app, "APIerSv1.RemoveActionTrigger", json!({"GroupID": "G", "UniqueID": "u1"})).await;
    let group: serde_json::Value =
        sqlx::query_scalar("SELECT doc FROM billing_catalog WHERE kind = 'triggers' AND id = 'G'")
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(group.as_array().map(|g| g.len()), Some(1), "{group}");
    ok(&app, "APIerSv1.RemoveActionTrigger", json!({"GroupID": "G"})).await;
    ok(&app, "APIerSv1.RemoveActionPlan", json!({"ID": "P"})).await;
    assert_eq!(bindings().await, 0, "no account stays bound to a removed plan");
    ok(&app, "APIerSv1.RemoveActions", json!({"ActionIDs": ["A"]})).await;
    assert_eq!(app.rpc("APIerSv1.GetActions", json!("A")).await.1, "NOT_FOUND");
    ok(&app, "APIerSv1.RemoveAccount", json!({"Account": "1001"})).await;
    assert_eq!(app.rpc("APIerSv2.GetAccount", json!({"Account": "1001"})).await.1, "NOT_FOUND");
    let left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM billing_catalog WHERE kind IN ('actions', 'plan', 'triggers')")
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(left, 0);

    // Removing again, or what never was: NOT_FOUND, nothing appended.
    let head = app.log.head().await.unwrap();
    for (method, params) in [
        ("APIerSv1.RemoveAccount", json!({"Account": "1001"})),
        ("APIerSv1.RemoveActions", json!({"ActionIDs": ["A"]})),
        ("APIerSv1.RemoveActionPlan", json!({"ID": "P"})),
        ("APIerSv1.RemoveActionTrigger", json!({"GroupID": "G"})),
    ] {
        assert_eq!(app.rpc(method, params).await.1, "NOT_FOUND", "{method}");
    }
    let (_, error) = app.rpc("APIerSv1.RemoveActions", json!({})).await;
    assert!(error.as_str().is_some_and(|e| e.contains("MANDATORY_IE_MISSING")), "{error}");
    assert_eq!(app.log.head().await.unwrap(), head);
    // The account can be made again, empty.
    ok(&app, "APIerSv2.SetAccount", json!({"Account": "1001"})).await;
    assert!(app.balances(None, "1001", "*monetary").await.is_empty());
}

#[tokio::test]
async fn plans_and_triggers_are_taken_in_every_form_cgrates_scripts_write_them() {
    let app = spawn_app().await;
    let pool = app.log.pool();
    ok(&app, "APIerSv1.SetActions", json!({"ActionsId": "A", "Actions": [{"Identifier": "*log", "Weight": 1}]})).await;
    // *any, `;` strings and arrays, Years honoured.
    ok(
        &app,
        "APIerSv1.SetActionPlan",
        json!({"Id": "NEW_YEAR", "ActionPlan": [{"ActionsId": "A", "Years": "2031;2032", "Months": [1],
               "MonthDays": "1", "WeekDays": "*any", "Time": "00:00:00", "Weight": 10}]}),
    )
    .await;
    let plan: serde_json::Value =
        sqlx::query_scalar("SELECT doc FROM billing_catalog WHERE kind = 'plan' AND id = 'NEW_YEAR'")
            .fetch_one(pool)
            .await
            .unwrap();
    let at = &plan["Timings"][0]["Timing"]["At"];
    assert_eq!((at["years"].clone(), at["months"].clone()), (json!([2031, 2032]), json!([1])), "{plan}");
    assert_eq!(at["week_days"], json!([]), "*any: every week day");
    let (_, error) = app
        .rpc(
            "APIerSv1.SetActionPlan",
            json!({"Id": "BAD", "ActionPlan": [{"ActionsId": "A", "Months": "13", "Time": "00:00:00"}]}),
        )
        .await;
    assert!(error.as_str().is_some_and(|e| e.contains("month 13")), "{error}");
    // A trigger without UniqueID, keys in any case, the balance as an object, an unknown key.
    ok(
        &app,
        "APIerSv1.SetActionTrigger",
        json!({"GroupID": "G", "ActionTrigger": {
        "thresholdType": "*min_balance", "ThresholdValue": "5", "ActionsID": "A", "Directions": "*out",
        "Balance": {"ID": "main", "Type": "*monetary", "Categories": ["call", "sms"]}}}),
    )
    .await;
    ok(
        &app,
        "APIerSv1.SetActionTrigger",
        json!({"GroupID": "G", "ActionTrigger": {
        "ThresholdType": "*max_balance", "ThresholdValue": 50, "BalanceType": "*monetary", "ActionsID": "A"}}),
    )
    .await;
    let group = || async {
        sqlx::query_scalar::<_, serde_json::Value>(
            "SELECT doc FROM billing_catalog WHERE kind = 'triggers' AND id = 'G'",
        )
        .fetch_one(pool)
        .await
        .unwrap()
    };
    let two = group().await;
    assert_eq!(two.as_array().map(Vec::len), Some(2), "two generated UniqueIDs: {two}");
    assert_ne!(two[0]["UniqueID"], two[1]["UniqueID"]);
    assert!(two.to_string().contains("main"), "the Balance object's ID: {two}");
    // Overwrite: the group is the new trigger alone.
    ok(
        &app,
        "APIerSv1.SetActionTrigger",
        json!({"GroupID": "G", "UniqueID": "only", "Overwrite": true,
        "ActionTrigger": {"ThresholdType": "*min_balance", "BalanceType": "*monetary", "ActionsID": "A"}}),
    )
    .await;
    let one = group().await;
    assert_eq!(one.as_array().map(Vec::len), Some(1), "{one}");
    assert_eq!(one[0]["UniqueID"], "only");
    // Read back as CGrateS shows triggers.
    let (triggers, error) = app.rpc("APIerSv1.GetActionTriggers", json!({"GroupIDs": ["G"]})).await;
    assert!(error.is_null(), "{error}");
    assert_eq!((triggers[0]["ID"].as_str(), triggers[0]["UniqueID"].as_str()), (Some("G"), Some("only")));
    assert_eq!(triggers[0]["ThresholdType"], "*min_balance");
    assert_eq!(app.rpc("APIerSv1.GetActionTriggers", json!({"GroupIDs": ["NONE"]})).await.1, "NOT_FOUND");
}

#[tokio::test]
async fn a_database_failure_is_a_500_and_a_server_error_that_tell_nothing_of_the_database() {
    let app = spawn_app().await;
    let set = app
        .send(
            app.http
                .post(app.url("/v1/Billing/Accounts"))
                .basic_auth(&app.alice.sid, Some(&app.alice.secret))
                .json(&json!({"Account": "1001"})),
        )
        .await;
    assert_eq!(set.status, 200, "{:?}", set.body);
    // The table the accounts are read from goes away (as a failing database would answer).
    sqlx::query("ALTER TABLE billing_accounts RENAME TO billing_accounts_away").execute(app.log.pool()).await.unwrap();
    let fetched = app.get(&app.alice, "/v1/Billing/Accounts/1001").await;
    common::assert_error(&fetched, 500, 20500);
    let text = fetched.body.to_string();
    assert!(!text.contains("billing_accounts") && !text.contains("relation"), "no database text: {text}");
    let (result, error) = app.rpc("APIerSv2.GetAccount", json!({"Tenant": app.alice.sid, "Account": "1001"})).await;
    assert_eq!((result, error.as_str()), (Value::Null, Some("SERVER_ERROR: internal error")));
    // Back: the same requests answer again; nothing was changed by the failures.
    sqlx::query("ALTER TABLE billing_accounts_away RENAME TO billing_accounts").execute(app.log.pool()).await.unwrap();
    let fetched = app.get(&app.alice, "/v1/Billing/Accounts/1001").await;
    assert_eq!(fetched.status, 200, "{:?}", fetched.body);
    assert!(fetched.body["ID"].as_str().unwrap().ends_with(":1001"), "{:?}", fetched.body);
}

#[tokio::test]
async fn a_cdrlog_template_shapes_the_cdr_as_cgrates_tutorials_write_it() {
    let app = spawn_app().await;
    // ExtraParameters as an object (as tutorials write it) and as its JSON text.
    for (id, extra) in [
        ("SIGNUP", json!({"Category": "^activation", "Destination": "~BalanceID", "Plan": "gold"})),
        ("AS_TEXT", json!(r#"{"Category":"renewal","Cost":"~BalanceValue"}"#)),
    ] {
        ok(
            &app,
            "APIerSv1.SetActions",
            json!({"ActionsId": id, "Actions": [
            {"Identifier": "*topup", "BalanceId": "bonus", "BalanceType": "*monetary", "Units": "5", "Weight": 20},
            {"Identifier": "*cdrlog", "ExtraParameters": extra, "Weight": 10}]}),
        )
        .await;
    }
    ok(&app, "APIerSv1.ExecuteAction", json!({"Account": "1001", "ActionsId": "SIGNUP"})).await;
    ok(&app, "APIerSv1.ExecuteAction", json!({"Account": "1001", "ActionsId": "AS_TEXT"})).await;
    app.billing_settled().await;
    let (cdrs, _) = app.rpc("APIerSv1.GetCDRs", json!({"Accounts": ["1001"]})).await;
    let logged: Vec<&Value> = cdrs.as_array().unwrap().iter().filter(|c| c["Source"] == "*cdrlog").collect();
    assert_eq!(logged.len(), 2, "{cdrs}");
    let signup = logged.iter().find(|c| c["Category"] == "activation").expect("the signup CDR");
    assert_eq!((signup["Destination"].as_str(), signup["ToR"].as_str()), (Some("bonus"), Some("*monetary")));
    assert_eq!(signup["ExtraFields"]["Plan"], "gold");
    assert_eq!(signup["Cost"].as_f64(), Some(5.0), "the action's value, by default");
    let renewal = logged.iter().find(|c| c["Category"] == "renewal").expect("the renewal CDR");
    assert_eq!(renewal["Cost"].as_f64(), Some(10.0), "~BalanceValue: the balance after the topup");

    // A template that names the CDR's tenant, or that Go would not read, is refused whole.
    let head = app.log.head().await.unwrap();
    for (extra, says) in [(json!({"Tenant": "cgrates.org"}), "set by the platform"), (json!({"Cost": 1}), "strings")] {
        let (result, error) = app
            .rpc(
                "APIerSv1.SetActions",
                json!({"ActionsId": "BAD", "Actions": [{"Identifier": "*cdrlog", "ExtraParameters": extra, "Weight": 1}]}),
            )
            .await;
        assert_eq!(result, Value::Null);
        assert!(error.as_str().is_some_and(|e| e.contains(says)), "{error}");
    }
    assert_eq!(app.log.head().await.unwrap(), head, "nothing appended");
}
