//! ChargerS over CGrateS's JSON-RPC: a tenant's charger profiles fork each of its CDRs into one
//! run per matching profile, as CGrateS's tutorial sets them (`DEFAULT` → `*default`, `Raw` →
//! an unrated `*raw` run); exporters take every run once, across the switch to room for runs in
//! order IDs; profiles that cannot be applied are refused in CGrateS's words and change
//! nothing; one tenant's chargers never touch another's CDRs.

mod common;

use common::cdr_events::{ended_session, log_events};
use common::{spawn_app, TestApp};
use serde_json::{json, Value};

fn voice_call(origin_id: &str, account: &str) -> Value {
    json!({
        "OriginID": origin_id, "OriginHost": "pbx1", "ToR": "*voice", "RequestType": "*postpaid",
        "Account": account, "Destination": "61412345678", "SetupTime": "2026-05-01T10:00:00Z",
        "AnswerTime": "2026-05-01T10:00:05Z", "Usage": "150s"
    })
}

async fn voice_rate(app: &TestApp) {
    let rate = [("ToR", "*voice"), ("Prefix", "614"), ("PricePerUnit", "0.20"), ("UnitSize", "60000000000")];
    assert_eq!(app.post(&app.operator, "/operator/CdrRates", &rate).await.status, 200);
}

async fn tutorial_chargers(app: &TestApp) {
    app.rpc_ok(
        "APIerSv1.SetChargerProfile",
        json!({"Tenant": app.alice.sid, "ID": "DEFAULT", "RunID": "*default", "AttributeIDs": ["*none"], "Weight": 0,
               "APIOpts": {}}),
    )
    .await;
    // As CGrateS users write it: keys in any case, a v0.10 `Cache`, an inline attribute.
    app.rpc_ok(
        "ApierV1.SetChargerProfile",
        json!({"tenant": app.alice.sid, "Id": "Raw", "RunId": "*raw", "AttributeIds": ["*constant:*req.RequestType:*none"],
               "Weight": "0", "Cache": null, "FilterIDs": []}),
    )
    .await;
}

/// (RunID, Cost, OrderID) of the CDRs of `cgrid`, by order ID.
async fn runs(app: &TestApp, cgrid: &str) -> Vec<(String, f64, i64)> {
    let (cdrs, error) = app.rpc("APIerSv1.GetCDRs", json!({"CGRIDs": [cgrid], "OrderBy": "OrderID"})).await;
    if error == "NOT_FOUND" {
        return Vec::new();
    }
    assert_eq!(error, Value::Null);
    cdrs.as_array()
        .unwrap()
        .iter()
        .map(|c| (c["RunID"].as_str().unwrap().to_owned(), c["Cost"].as_f64().unwrap(), c["OrderID"].as_i64().unwrap()))
        .collect()
}

#[tokio::test]
async fn the_tutorials_chargers_fork_every_cdr_and_exporters_take_each_run_once() {
    let app = spawn_app().await;
    voice_rate(&app).await;
    // A CSV exporter that has exported CDRs from before any charger profile existed.
    let dir = std::env::temp_dir().join(format!("simledger-chargers-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let ees = json!({"exporters": [{"id": "all", "type": "*file_csv", "export_path": dir, "synchronous": true,
        "fields": [{"tag": "CGRID", "path": "*exp.CGRID", "type": "*variable", "value": "~*req.CGRID"},
                   {"tag": "RunID", "path": "*exp.RunID", "type": "*variable", "value": "~*req.RunID"},
                   {"tag": "OrderID", "path": "*exp.OrderID", "type": "*variable", "value": "~*req.OrderID"}]}]});
    assert_eq!(app.rpc("ConfigSv1.SetConfig", json!({"Config": {"ees": ees}})).await, (json!("OK"), Value::Null));
    app.rpc_ok("CDRsV1.ProcessExternalCDR", voice_call("before", "1001")).await;
    let export = || async {
        let (m, error) = app.rpc("APIerSv1.ExportCDRs", json!({"ExporterIDs": ["all"], "Verbose": true})).await;
        assert_eq!(error, Value::Null);
        std::fs::read_to_string(m["all"]["FilePath"].as_str().unwrap()).unwrap()
    };
    let first = export().await;
    assert_eq!(first.lines().count(), 2, "{first}");

    tutorial_chargers(&app).await;
    let (profile, error) = app.rpc("APIerSv1.GetChargerProfile", json!({"ID": "Raw"})).await;
    assert_eq!(error, Value::Null);
    assert_eq!(profile["RunID"], "*raw");
    assert_eq!(profile["AttributeIDs"], json!(["*constant:*req.RequestType:*none"]));
    assert_eq!(profile["Weight"], json!(0));
    assert_eq!(profile["Tenant"], app.alice.sid.as_str());
    let (ids, _) = app.rpc("APIerSv1.GetChargerProfileIDs", json!({})).await;
    assert_eq!(ids, json!(["DEFAULT", "Raw"]));

    // An external CDR forks into both runs: the default one rated, the raw one not.
    let (processed, error) =
        app.rpc("CDRsV2.ProcessEvent", json!({"Flags": ["*chargers"], "Event": voice_call("after", "1001")})).await;
    assert_eq!(error, Value::Null);
    let run_ids: Vec<&str> =
        processed.as_array().unwrap().iter().map(|e| e["Event"]["RunID"].as_str().unwrap()).collect();
    assert_eq!(run_ids, ["*default", "*raw"], "one event per run, as CGrateS's CDRsV2 answers");
    let cgrid = simledger_projections::cdrs::cgrid("after", "pbx1");
    let after = runs(&app, &cgrid).await;
    assert_eq!(after.iter().map(|(r, c, _)| (r.as_str(), *c)).collect::<Vec<_>>(), [("*default", 0.5), ("*raw", -1.0)]);
    assert!(after[0].2 < after[1].2, "distinct order IDs, in run order");
    // So does a CDR of the embedded core.
    log_events(&app, vec![ended_session(&app.alice.sid, "HS1", 1, 300)]).await;
    let (data, _) = app.rpc("APIerSv1.GetCDRs", json!({"ToRs": ["*data"]})).await;
    assert_eq!(data.as_array().unwrap().len(), 2, "{data}");

    // The exporter takes every run after its cursor once: nothing from before again, nothing missed.
    let second = export().await;
    let mut rows: Vec<(String, String)> = second
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0].to_owned(), f[1].to_owned())
        })
        .collect();
    rows.sort();
    let data_cgrid = data[0]["CGRID"].as_str().unwrap().to_owned();
    let mut expected = vec![
        (cgrid.clone(), "*default".to_owned()),
        (cgrid.clone(), "*raw".to_owned()),
        (data_cgrid.clone(), "*default".to_owned()),
        (data_cgrid, "*raw".to_owned()),
    ];
    expected.sort();
    assert_eq!(rows, expected, "each run once: {second}");
    assert!(!second.contains(&simledger_projections::cdrs::cgrid("before", "pbx1")), "{second}");
    let (_, error) = app.rpc("APIerSv1.ExportCDRs", json!({"ExporterIDs": ["all"]})).await;
    assert_eq!(error, "NOT_FOUND", "nothing new");

    // Removing the Raw profile ends the raw runs.
    app.rpc_ok("APIerSv1.RemoveChargerProfile", json!({"ID": "Raw"})).await;
    assert_eq!(app.rpc("APIerSv1.GetChargerProfile", json!({"ID": "Raw"})).await.1, "NOT_FOUND");
    assert_eq!(app.rpc("APIerSv1.RemoveChargerProfile", json!({"ID": "Raw"})).await.1, "NOT_FOUND");
    app.rpc_ok("CDRsV1.ProcessExternalCDR", voice_call("later", "1001")).await;
    let later = runs(&app, &simledger_projections::cdrs::cgrid("later", "pbx1")).await;
    assert_eq!(later.iter().map(|(r, _, _)| r.as_str()).collect::<Vec<_>>(), ["*default"]);

    // A replay of the projection rebuilds the same CDRs, order IDs included, and appends nothing.
    let tables = ["cdrs", "cdr_chargers", "cdr_order_scheme"];
    let live = common::table_rows(&app, &tables).await;
    let head = app.log.head().await.unwrap();
    simledger_projections::replay(&app.log, simledger_projections::cdrs::Cdrs).await.unwrap();
    assert_eq!(common::table_rows(&app, &tables).await, live);
    assert_eq!(app.log.head().await.unwrap(), head, "a replay appends nothing");
}

#[tokio::test]
async fn filters_pick_runs_and_a_cdr_no_profile_matches_is_refused_and_not_logged() {
    let app = spawn_app().await;
    voice_rate(&app).await;
    app.rpc_ok(
        "APIerSv1.SetChargerProfile",
        json!({"ID": "RESELLER", "RunID": "reseller1", "Weight": 10,
               "FilterIDs": ["*string:~*req.Account:1002", "*prefix:~*req.Destination:614"]}),
    )
    .await;
    app.rpc_ok(
        "APIerSv1.SetChargerProfile",
        json!({"ID": "RETAIL", "RunID": "*default", "FilterIDs": ["*notstring:~*req.Account:1003"]}),
    )
    .await;
    app.rpc_ok("CDRsV1.ProcessExternalCDR", voice_call("r1", "1002")).await;
    let reseller = runs(&app, &simledger_projections::cdrs::cgrid("r1", "pbx1")).await;
    assert_eq!(
        reseller.iter().map(|(r, _, _)| r.as_str()).collect::<Vec<_>>(),
        ["reseller1", "*default"],
        "heavier first"
    );
    app.rpc_ok("CDRsV1.ProcessExternalCDR", voice_call("r2", "1001")).await;
    let retail = runs(&app, &simledger_projections::cdrs::cgrid("r2", "pbx1")).await;
    assert_eq!(retail.iter().map(|(r, _, _)| r.as_str()).collect::<Vec<_>>(), ["*default"]);

    let head = app.log.head().await.unwrap();
    let (_, error) = app.rpc("CDRsV1.ProcessExternalCDR", voice_call("r3", "1003")).await;
    assert_eq!(error, "PARTIALLY_EXECUTED", "no profile matches: CGrateS stores nothing");
    assert_eq!(app.log.head().await.unwrap(), head, "nothing logged");
    assert!(runs(&app, &simledger_projections::cdrs::cgrid("r3", "pbx1")).await.is_empty());
    // The same CDR again, under another RunID: its runs exist, so it is refused and not billed twice.
    let mut again = voice_call("r1", "1002");
    again["RunID"] = json!("other");
    assert_eq!(app.rpc("CDRsV1.ProcessExternalCDR", again).await.1, "ERR_EXISTS");
    assert_eq!(app.log.head().await.unwrap(), head, "nothing logged");
    // Two profiles cannot share a RunID.
    let (_, error) = app.rpc("APIerSv1.SetChargerProfile", json!({"ID": "SECOND", "RunID": "reseller1"})).await;
    assert!(error.as_str().unwrap().starts_with("SERVER_ERROR: RunID reseller1 is already"), "{error}");

    // The platform's own CDR of an account no profile matches keeps its run all the same.
    // (A data CDR's account is its SIM; this one is "1003", which RETAIL's filter excludes.)
    log_events(&app, vec![ended_session(&app.alice.sid, "1003", 7, 300)]).await;
    let (data, error) = app.rpc("APIerSv1.GetCDRs", json!({"ToRs": ["*data"]})).await;
    assert_eq!(error, Value::Null, "the core's CDR is stored");
    assert_eq!(data.as_array().unwrap().iter().map(|c| c["RunID"].as_str().unwrap()).collect::<Vec<_>>(), ["*default"]);
}

#[tokio::test]
async fn profiles_that_cannot_be_applied_are_refused_and_other_tenants_are_untouched() {
    let app = spawn_app().await;
    let head = app.log.head().await.unwrap();
    for (params, error) in [
        (json!({"RunID": "r"}), "MANDATORY_IE_MISSING: [ID]"),
        (
            json!({"ID": "P", "RunID": "r", "FilterIDs": ["FLTR_ACNT_1001"]}),
            "SERVER_ERROR: broken reference to filter: FLTR_ACNT_1001 for item with ID: ",
        ),
        (json!({"ID": "P", "RunID": "r", "AttributeIDs": ["ATTR_1001"]}), "SERVER_ERROR: attribute ATTR_1001"),
        (json!({"ID": "P", "RunID": "r", "FilterIDs": ["*regex:~*req.Account:.*"]}), "SERVER_ERROR: broken reference"),
        (json!({"ID": "P"}), "SERVER_ERROR: RunID"),
        (json!({"ID": "P", "RunID": "r", "Weight": "heavy"}), "SERVER_ERROR: invalid params"),
        (
            json!({"ID": "P", "RunID": "r", "ActivationInterval": {"ActivationTime": "soon"}}),
            "SERVER_ERROR: ActivationInterval",
        ),
        (json!({"ID": "x".repeat(300), "RunID": "r"}), "SERVER_ERROR: ID"),
    ] {
        let (result, got) = app.rpc("APIerSv1.SetChargerProfile", params.clone()).await;
        assert!(result.is_null(), "{params}");
        assert!(got.as_str().is_some_and(|g| g.starts_with(error)), "{params}: {got}");
    }
    assert_eq!(app.log.head().await.unwrap(), head, "nothing logged");

    // A tenant keeps at most 16 profiles.
    for n in 0..16 {
        app.rpc_ok("APIerSv1.SetChargerProfile", json!({"ID": format!("P{n:02}"), "RunID": format!("run{n}")})).await;
    }
    let (_, error) = app.rpc("APIerSv1.SetChargerProfile", json!({"ID": "P16", "RunID": "run16"})).await;
    assert!(error.as_str().unwrap().contains("at most 16"), "{error}");
    app.rpc_ok("APIerSv1.SetChargerProfile", json!({"ID": "P00", "RunID": "replaced"})).await;

    // Bob reaches none of Alice's profiles, and his CDRs keep their one run.
    let bob = |method: &'static str, params: Value| {
        let body = json!({"method": method, "params": [params], "id": 1});
        let request = app.http.post(app.url("/jsonrpc")).basic_auth(&app.bob.sid, Some(&app.bob.secret)).json(&body);
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let alices = bob("APIerSv1.GetChargerProfile", json!({"Tenant": app.alice.sid, "ID": "P00"})).await;
    assert!(alices["result"].is_null() && !alices["error"].is_null(), "{alices}");
    assert_eq!(bob("APIerSv1.GetChargerProfileIDs", json!({})).await["error"], "NOT_FOUND");
    let removed = bob("APIerSv1.RemoveChargerProfile", json!({"Tenant": app.alice.sid, "ID": "P00"})).await;
    assert!(!removed["error"].is_null(), "{removed}");
    let processed = bob("CDRsV1.ProcessExternalCDR", voice_call("bobs", "2001")).await;
    assert_eq!(processed["result"], "OK", "{processed}");
    let bobs = bob("APIerSv1.GetCDRs", json!({})).await;
    assert_eq!(bobs["result"].as_array().map(Vec::len), Some(1), "{bobs}");
    assert_eq!(bobs["result"][0]["RunID"], "*default");
    let (ids, _) = app.rpc("APIerSv1.GetChargerProfileIDs", json!({"Limit": 2, "Offset": 1})).await;
    assert_eq!(ids, json!(["P01", "P02"]));
}

#[tokio::test]
async fn each_rated_run_debits_its_own_account_and_an_unrated_run_debits_none() {
    let app = spawn_app().await;
    let tenant = app.alice.sid.clone();
    tutorial_chargers(&app).await;
    // A wholesale run, billed to the supplier's account.
    app.rpc_ok(
        "APIerSv1.SetChargerProfile",
        json!({"Tenant": tenant, "ID": "WHOLESALE", "RunID": "*wholesale",
               "AttributeIDs": ["*constant:*req.Account:supplier"], "Weight": 10}),
    )
    .await;
    for account in ["1001", "supplier"] {
        app.rpc_ok(
            "APIerSv1.SetBalance",
            json!({"Tenant": tenant, "Account": account, "BalanceType": "*voice", "Value": "10m",
                   "Balance": {"ID": "minutes", "Weight": 10}}),
        )
        .await;
    }
    app.rpc_ok(
        "CDRsV1.ProcessExternalCDR",
        json!({"Tenant": tenant, "OriginID": "run-debits", "OriginHost": "pbx1",
        "ToR": "*voice", "RequestType": "*prepaid", "Account": "1001", "Destination": "61412345678",
        "SetupTime": "2026-05-01T10:00:00Z", "AnswerTime": "2026-05-01T10:00:05Z", "Usage": "150s"}),
    )
    .await;
    const SECOND: i64 = 1_000_000_000;
    // The *default run debits 1001 and the *wholesale run the supplier; *raw is *none.
    assert_eq!(app.balances(Some(&tenant), "1001", "*voice").await, [("minutes".into(), 450 * SECOND)]);
    assert_eq!(app.balances(Some(&tenant), "supplier", "*voice").await, [("minutes".into(), 450 * SECOND)]);
    let debits: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT data->>'account', data->>'run_id' FROM events WHERE type = 'balance.debited' ORDER BY 1",
    )
    .fetch_all(app.log.pool())
    .await
    .unwrap();
    assert_eq!(debits, [("1001".into(), None), ("supplier".into(), Some("*wholesale".into()))]);

    // A replay of billing debits each run again under the same ids: the same balances,
    // nothing appended.
    let head = common::assert_billing_replay_rebuilds(&app, &["billing_accounts", "billing_chargers"]).await;

    // A deployment upgraded after this CDR was billed folds it as it was folded then (one
    // debit, on its own fields), in a replay too: the upgrade point keeps the rules apart.
    sqlx::query(
        "INSERT INTO billing_upgrade_points (name, shard, until_position) VALUES ('charger_runs', $1, $2) \
         ON CONFLICT (name, shard) DO UPDATE SET until_position = $2",
    )
    .bind(app.log.shard())
    .bind(head)
    .execute(app.log.pool())
    .await
    .unwrap();
    let replaying = simledger_policies::billing::Billing::replaying(app.log.clone());
    simledger_projections::replay(&app.log, replaying.clone()).await.unwrap();
    assert_eq!(app.balances(Some(&tenant), "1001", "*voice").await, [("minutes".into(), 450 * SECOND)]);
    assert_eq!(app.balances(Some(&tenant), "supplier", "*voice").await, [("minutes".into(), 600 * SECOND)]);
    assert_eq!(app.log.head().await.unwrap(), head, "nothing appended");
}
