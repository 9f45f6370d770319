//! A CGrateS tutorial session replayed verbatim on the loopback listener, the way CGrateS users
//! write their scripts: destinations, actions, action plans and triggers defined without a
//! tenant (global, as CGrateS's are) and accounts and CDRs under `"Tenant": "cgrates.org"`.
//! Mixed key case, string numbers, Go durations, `;` lists, `*any`, V1/V2 and `ApierV*`
//! aliases. Balances, CDRs and the export are checked to the unit.

mod common;

use common::{spawn_app, TestApp};
use serde_json::{json, Value};

const SECOND: i64 = 1_000_000_000;

/// Calls `method` with `params` written as a script writes them, and expects `"OK"`.
async fn ok(app: &TestApp, method: &str, params: &str) {
    let params: Value = serde_json::from_str(params).unwrap_or_else(|e| panic!("{method}: {e}"));
    app.rpc_ok(method, params).await
}

#[tokio::test]
async fn a_tutorial_session_with_global_destinations_and_the_cgrates_org_tenant_runs_as_on_cgrates() {
    let app = spawn_app().await;
    // Tariff plan: destinations staged in StorDB, then loaded. Neither call names a tenant.
    ok(&app, "APIerSv1.SetTPDestination", r#"{"TPid":"cgrates_tut","ID":"DST_NZ_MOBILE","Prefixes":["642"]}"#).await;
    ok(&app, "ApierV2.SetTPDestination", r#"{"TPid":"cgrates_tut","ID":"DST_AU_MOBILE","Prefixes":["614"]}"#).await;
    ok(&app, "APIerSv1.LoadTariffPlanFromStorDb", r#"{"TPid":"cgrates_tut","DryRun":false,"Validate":true}"#).await;

    // 1001: 30 minutes to NZ and AU mobiles, one hour anywhere. The older top-level
    // Categories/DestinationIDs are dropped by Go's decoder, so they restrict nothing.
    ok(&app, "APIerSv2.SetAccount", r#"{"Tenant":"cgrates.org","Account":"1001","ActionPlanIDs":[]}"#).await;
    ok(
        &app,
        "APIerSv1.SetBalance",
        r#"{"tenant":"cgrates.org","account":"1001","BalanceType":"*voice","Value":"30m",
            "Balance":{"ID":"nz_au_minutes","DestinationIDs":"DST_NZ_MOBILE;DST_AU_MOBILE","Weight":"20"}}"#,
    )
    .await;
    ok(
        &app,
        "ApierV1.SetBalance",
        r#"{"Tenant":"cgrates.org","Account":"1001","BalanceType":"*voice","Directions":"*out",
            "Categories":"*any","DestinationIDs":"DST_NZ_MOBILE","Value":3600000000000,
            "Balance":{"ID":"any_minutes","Weight":10}}"#,
    )
    .await;
    // A 2450 s call to an NZ mobile drains the destination-bound balance (1800 s) and spills
    // 650 s onto the next one.
    ok(
        &app,
        "CDRsV2.ProcessExternalCDR",
        r#"{"Tenant":"cgrates.org","OriginID":"tut-call-1","OriginHost":"192.168.56.203","Source":"tutorial",
            "ToR":"*voice","RequestType":"*prepaid","Category":"call","Account":"1001","Subject":"1001",
            "Destination":"6421234567","SetupTime":"2026-11-30T10:00:00Z","AnswerTime":"2026-11-30T10:00:05Z",
            "Usage":"2450s"}"#,
    )
    .await;
    assert_eq!(
        app.balances(Some("cgrates.org"), "1001", "*voice").await,
        [("any_minutes".into(), 2950 * SECOND), ("nz_au_minutes".into(), 0)]
    );

    // An SMS bundle: three messages leave 97.
    ok(
        &app,
        "APIerSv1.AddBalance",
        r#"{"Tenant":"cgrates.org","Account":"1001","BalanceType":"*sms","Value":"100",
            "Balance":{"ID":"sms_bundle","DestinationIDs":"*any","Weight":10}}"#,
    )
    .await;
    for n in 1..=3 {
        let cdr = format!(
            r#"{{"Tenant":"cgrates.org","OriginID":"tut-sms-{n}","OriginHost":"192.168.56.203","ToR":"*sms",
                "RequestType":"*prepaid","Account":"1001","Destination":"61412345678","Usage":1,
                "SetupTime":"2026-11-30T10:0{n}:00Z"}}"#
        );
        ok(&app, "CDRsV1.ProcessExternalCDR", &cdr).await;
    }
    assert_eq!(app.balances(Some("cgrates.org"), "1001", "*sms").await, [("sms_bundle".into(), 97)]);

    // 1002 signs up: an *asap bonus of 10, applied before SetAccount answers; then 1 a minute,
    // and a *min_balance trigger under 7.5 that gifts 5 SMS, once.
    ok(
        &app,
        "APIerSv2.SetActions",
        r#"{"ActionsId":"ACT_SIGNUP_BONUS","Overwrite":true,"Actions":[{"Identifier":"*topup",
            "BalanceType":"*monetary","Units":"10","BalanceId":"bonus","Weight":10}]}"#,
    )
    .await;
    ok(
        &app,
        "APIerSv1.SetActions",
        r#"{"ActionsId":"ACT_MINUTE_FEE","Actions":[{"Identifier":"*debit","BalanceType":"*monetary",
            "Units":1,"BalanceId":"bonus","Weight":10}]}"#,
    )
    .await;
    ok(
        &app,
        "APIerSv1.SetActions",
        r#"{"ActionsId":"ACT_LOW_GIFT","Actions":[{"Identifier":"*topup","BalanceType":"*sms","Units":"5",
            "BalanceId":"sms_gift","Weight":10}]}"#,
    )
    .await;
    ok(
        &app,
        "APIerSv2.SetActionPlan",
        r#"{"Id":"AP_SIGNUP","Overwrite":true,"ReloadScheduler":true,"ActionPlan":[
            {"ActionsId":"ACT_SIGNUP_BONUS","Years":"*any","Months":"*any","MonthDays":"*any","WeekDays":"*any",
             "Time":"*asap","Weight":20},
            {"ActionsId":"ACT_MINUTE_FEE","TimingID":"*every_minute","Weight":10}]}"#,
    )
    .await;
    ok(
        &app,
        "APIerSv1.SetActionTrigger",
        r#"{"GroupID":"TRG_LOW","ActionTrigger":{"ThresholdType":"*min_balance","ThresholdValue":7.5,
            "Balance":{"Type":"*monetary"},"ActionsID":"ACT_LOW_GIFT"}}"#,
    )
    .await;
    ok(
        &app,
        "APIerSv2.SetAccount",
        r#"{"Tenant":"cgrates.org","Account":"1002","ActionPlanIds":["AP_SIGNUP"],
            "ActionTriggerIds":["TRG_LOW"],"ReloadScheduler":true}"#,
    )
    .await;
    assert_eq!(
        app.balances(Some("cgrates.org"), "1002", "*monetary").await,
        [("bonus".into(), 10)],
        "the *asap bonus, at once"
    );
    let bound = chrono::Utc::now();
    // Three and a half minutes: three fees (10 → 7), crossing 7.5 once.
    let fired =
        simledger_policies::plan_scheduler::fire_due_plans(&app.log, bound + chrono::Duration::seconds(210), 100)
            .await
            .unwrap();
    assert_eq!(fired, 3, "the *asap firing is not repeated");
    app.billing_settled().await;
    assert_eq!(app.balances(Some("cgrates.org"), "1002", "*monetary").await, [("bonus".into(), 7)]);
    assert_eq!(app.balances(Some("cgrates.org"), "1002", "*sms").await, [("sms_gift".into(), 5)]);
    // Two minutes more: 5 left, and the trigger does not fire again.
    simledger_policies::plan_scheduler::fire_due_plans(&app.log, bound + chrono::Duration::seconds(330), 100)
        .await
        .unwrap();
    app.billing_settled().await;
    assert_eq!(app.balances(Some("cgrates.org"), "1002", "*monetary").await, [("bonus".into(), 5)]);
    assert_eq!(app.balances(Some("cgrates.org"), "1002", "*sms").await, [("sms_gift".into(), 5)], "fired once");

    // The CDRs, read and exported as a billing team's script does, with no tenant on GetCDRs.
    let (cdrs, error) = app.rpc("ApierV2.GetCDRs", json!({"Tenants": ["cgrates.org"], "Accounts": ["1001"]})).await;
    assert_eq!(error, Value::Null);
    let cdrs = cdrs.as_array().unwrap();
    assert_eq!(cdrs.len(), 4, "{cdrs:?}");
    let call = cdrs.iter().find(|c| c["OriginID"] == "tut-call-1").unwrap();
    // CGrateS's ExternalCDR: Usage as text, a Go duration for *voice.
    assert_eq!((call["Tenant"].as_str(), call["Usage"].as_str()), (Some("cgrates.org"), Some("40m50s")), "{call}");
    let dir = std::env::temp_dir().join(format!("simledger-tutorial-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let set = json!({"Tenant": "cgrates.org", "Config": {"ees": {"exporters": [{
        "id": "tutorial_csv", "type": "*file_csv", "export_path": dir, "flags": [], "attempts": 1,
        "fields": [
            {"tag": "OriginID", "path": "*exp.OriginID", "type": "*variable", "value": "~*req.OriginID"},
            {"tag": "ToR", "path": "*exp.ToR", "type": "*variable", "value": "~*req.ToR"},
            {"tag": "Seconds", "path": "*exp.Seconds", "type": "*variable", "value": "~*req.Usage{*duration_seconds}"}]}]}}});
    assert_eq!(app.rpc("ConfigSv1.SetConfig", set).await, (json!("OK"), Value::Null));
    let (report, error) = app
        .rpc("APIerSv1.ExportCDRs", json!({"Tenant": "cgrates.org", "ExporterIDs": ["tutorial_csv"], "Verbose": true}))
        .await;
    assert_eq!(error, Value::Null, "{report}");
    let file = std::fs::read_to_string(report["tutorial_csv"]["FilePath"].as_str().unwrap()).unwrap();
    let lines: Vec<&str> = file.lines().collect();
    assert_eq!(lines[0], "OriginID,ToR,Seconds");
    assert!(lines.contains(&"tut-call-1,*voice,2450"), "{file}");
    assert_eq!(lines.iter().filter(|l| l.contains(",*sms,")).count(), 3, "{file}");
    let (_, error) =
        app.rpc("APIerSv1.ExportCDRs", json!({"Tenant": "cgrates.org", "ExporterIDs": ["tutorial_csv"]})).await;
    assert_eq!(error, "NOT_FOUND", "nothing exported twice");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_tenants_own_destination_takes_precedence_over_a_global_one_and_customers_cannot_write_global_ones() {
    let app = spawn_app().await;
    ok(&app, "APIerSv1.SetDestination", r#"{"Id":"DST_HOME","Prefixes":["44"]}"#).await;
    // cgrates.org rates against the global DST_HOME; acme.example has its own.
    ok(&app, "APIerSv1.SetDestination", r#"{"Tenant":"acme.example","Id":"DST_HOME","Prefixes":["33"]}"#).await;
    for tenant in ["cgrates.org", "acme.example"] {
        let balance = format!(
            r#"{{"Tenant":"{tenant}","Account":"1001","BalanceType":"*voice","Value":"10m",
                "Balance":{{"ID":"home","DestinationIDs":"DST_HOME","Weight":10}}}}"#
        );
        ok(&app, "APIerSv1.SetBalance", &balance).await;
        let call = format!(
            r#"{{"Tenant":"{tenant}","OriginID":"uk-call","OriginHost":"pbx","ToR":"*voice","RequestType":"*prepaid",
                "Account":"1001","Destination":"447700900123","Usage":"60s"}}"#
        );
        ok(&app, "CDRsV1.ProcessExternalCDR", &call).await;
    }
    let left = |tenant: &'static str| {
        let app = &app;
        async move {
            let (a, _) = app.rpc("APIerSv2.GetAccount", json!({"Tenant": tenant, "Account": "1001"})).await;
            a["BalanceMap"]["*voice"][0]["Value"].as_i64().unwrap()
        }
    };
    assert_eq!(left("cgrates.org").await, 540 * SECOND, "the global DST_HOME (44) covers a UK call");
    assert_eq!(left("acme.example").await, 600 * SECOND, "acme's own DST_HOME (33) does not");

    // A customer's destination is its own, whatever it asks for: no global one is changed.
    let head = app.log.head().await.unwrap();
    let reply = app
        .send(app.http.post(app.url("/jsonrpc")).basic_auth(&app.alice.sid, Some(&app.alice.secret)).json(&json!({
            "method": "APIerSv1.SetDestination", "id": 1,
            "params": [{"Tenant": simledger_billing::GLOBAL_TENANT, "Id": "DST_HOME", "Prefixes": ["1"], "Overwrite": true}]
        })))
        .await;
    assert_eq!(reply.body["error"], "UNAUTHORIZED", "{:?}", reply.body);
    assert_eq!(app.log.head().await.unwrap(), head, "nothing logged");
    let global: Vec<String> = sqlx::query_scalar(
        "SELECT jsonb_array_elements_text(doc) FROM billing_catalog WHERE tenant = $1 AND id = 'DST_HOME'",
    )
    .bind(simledger_billing::GLOBAL_TENANT)
    .fetch_all(app.log.pool())
    .await
    .unwrap();
    assert_eq!(global, ["44"]);
    // Without Tenant, a customer's destination lands in its own tenant.
    let own = app
        .send(app.http.post(app.url("/jsonrpc")).basic_auth(&app.alice.sid, Some(&app.alice.secret)).json(&json!({
            "method": "APIerSv1.SetDestination", "id": 1, "params": [{"Id": "DST_HOME", "Prefixes": ["49"]}]
        })))
        .await;
    assert_eq!(own.body["result"], "OK", "{:?}", own.body);
    app.billing_settled().await;
    let tenants: Vec<String> =
        sqlx::query_scalar("SELECT tenant FROM billing_catalog WHERE id = 'DST_HOME' ORDER BY tenant COLLATE \"C\"")
            .fetch_all(app.log.pool())
            .await
            .unwrap();
    assert_eq!(tenants, [simledger_billing::GLOBAL_TENANT.to_owned(), app.alice.sid.clone(), "acme.example".into()]);
}

#[tokio::test]
async fn global_actions_and_plans_serve_every_tenant_under_its_own_and_customers_change_only_their_own() {
    let app = spawn_app().await;
    let customer = |method: &'static str, params: Value| {
        let app = &app;
        async move {
            let request = json!({"method": method, "id": 1, "params": [params]});
            let auth = app.http.post(app.url("/jsonrpc")).basic_auth(&app.alice.sid, Some(&app.alice.secret));
            app.send(auth.json(&request)).await.body
        }
    };
    let gift = |units: &str| {
        format!(
            r#"{{"ActionsId":"ACT_GIFT","Overwrite":true,"Actions":[{{"Identifier":"*topup","BalanceType":"*sms",
                "Units":"{units}","BalanceId":"gift","Weight":10}}]}}"#
        )
    };
    // The operator's, without Tenant: global. acme.example has an ACT_GIFT of its own.
    ok(&app, "APIerSv1.SetActions", &gift("5")).await;
    ok(&app, "APIerSv1.SetActions", &gift("50").replacen('{', r#"{"Tenant":"acme.example","#, 1)).await;
    ok(&app, "APIerSv1.SetActionPlan", r#"{"Id":"AP_GIFT","ActionPlan":[{"ActionsId":"ACT_GIFT","Time":"*asap"}]}"#)
        .await;
    for tenant in ["cgrates.org", "acme.example"] {
        ok(
            &app,
            "APIerSv2.SetAccount",
            &format!(r#"{{"Tenant":"{tenant}","Account":"1001","ActionPlanIDs":["AP_GIFT"]}}"#),
        )
        .await;
    }
    app.billing_settled().await;
    assert_eq!(app.balances(Some("cgrates.org"), "1001", "*sms").await, [("gift".into(), 5)], "the global actions");
    assert_eq!(app.balances(Some("acme.example"), "1001", "*sms").await, [("gift".into(), 50)], "acme's own");
    let (plans, error) = app.rpc("APIerSv1.GetActionPlan", json!({"ID": "AP_GIFT"})).await;
    assert_eq!(error, Value::Null);
    let bound: Vec<&String> = plans[0]["AccountIDs"].as_object().unwrap().keys().collect();
    assert_eq!(bound, ["acme.example:1001", "cgrates.org:1001"]);

    // A customer reads the global actions, but removes or overwrites only its own.
    let read = customer("APIerSv1.GetActions", json!("ACT_GIFT")).await;
    assert_eq!(read["result"][0]["Units"], "5", "{read}");
    let head = app.log.head().await.unwrap();
    let removed = customer("APIerSv1.RemoveActions", json!({"ActionIDs": ["ACT_GIFT"]})).await;
    assert_eq!(removed["error"], "NOT_FOUND", "{removed}");
    let global = customer("APIerSv1.SetActions", serde_json::from_str::<Value>(&gift("500")).unwrap()).await;
    let mut global_params: Value = serde_json::from_str(&gift("500")).unwrap();
    global_params["Tenant"] = simledger_billing::GLOBAL_TENANT.into();
    let forbidden = customer("APIerSv1.SetActions", global_params).await;
    assert_eq!(forbidden["error"], "UNAUTHORIZED", "{forbidden}");
    assert_eq!(global["result"], "OK", "its own ACT_GIFT: {global}");
    assert_eq!(app.log.head().await.unwrap(), head + 1, "only the customer's own definition logged");
    let (operator_view, _) = app.rpc("APIerSv1.GetActions", json!("ACT_GIFT")).await;
    assert_eq!(operator_view[0]["Units"], "5", "the global one is unchanged");
    let (acme_view, _) =
        app.rpc("APIerSv1.GetActions", json!({"ActionsId": "ACT_GIFT", "Tenant": "acme.example"})).await;
    assert_eq!(acme_view[0]["Units"], "50", "the operator reads a tenant's own by naming it");
    let prying = customer("APIerSv1.GetActions", json!({"ActionsId": "ACT_GIFT", "Tenant": "acme.example"})).await;
    assert_eq!(prying["error"], "UNAUTHORIZED", "{prying}");
    let own = customer("APIerSv1.GetActions", json!("ACT_GIFT")).await;
    assert_eq!(own["result"][0]["Units"], "500", "{own}");

    // Removing the global plan unbinds every tenant's account from it.
    ok(&app, "APIerSv1.RemoveActionPlan", r#"{"ID":"AP_GIFT"}"#).await;
    app.billing_settled().await;
    let bindings: i64 = sqlx::query_scalar("SELECT count(*) FROM billing_plan_bindings WHERE plan_id = 'AP_GIFT'")
        .fetch_one(app.log.pool())
        .await
        .unwrap();
    assert_eq!(bindings, 0);
}

#[tokio::test]
async fn balance_timings_and_shared_groups_work_as_cgrates_tariff_plans_set_them() {
    let app = spawn_app().await;
    // A timing and a shared group staged with the tariff plan and loaded with it (global, as
    // the operator's are), and a timing set directly.
    ok(
        &app,
        "APIerSv1.SetTPTiming",
        r#"{"TPid":"cgrates_tut","ID":"EVENING","Years":"*any","Months":"*any","MonthDays":"*any",
            "WeekDays":"*any","Time":"19:00:00"}"#,
    )
    .await;
    ok(
        &app,
        "APIerSv1.SetTPSharedGroups",
        r#"{"TPid":"cgrates_tut","ID":"SHARED_A","SharedGroups":[{"Account":"*any","Strategy":"*highest",
            "RatingSubject":""}]}"#,
    )
    .await;
    // The stock tariff plans' ASAP timing (for action plans) is staged too.
    ok(
        &app,
        "APIerSv1.SetTPTiming",
        r#"{"TPid":"cgrates_tut","ID":"ASAP","Years":"*any","Months":"*any","MonthDays":"*any",
            "WeekDays":"*any","Time":"*asap"}"#,
    )
    .await;
    ok(&app, "APIerSv1.LoadTariffPlanFromStorDb", r#"{"TPid":"cgrates_tut","DryRun":false}"#).await;
    ok(
        &app,
        "APIerSv1.SetTiming",
        r#"{"ID":"MORNING","Years":[],"WeekDays":"*any","StartTime":"06:00:00","EndTime":"11:59:59"}"#,
    )
    .await;
    let (timing, error) = app.rpc("APIerSv1.GetTiming", json!({"ID": "EVENING"})).await;
    assert_eq!(error, Value::Null, "{error}");
    assert_eq!((timing["StartTime"].as_str(), timing["EndTime"].as_str()), (Some("19:00:00"), Some("")), "{timing}");

    // Evening minutes (weight 20) and anytime minutes (weight 10).
    ok(
        &app,
        "APIerSv1.SetBalance",
        r#"{"Tenant":"cgrates.org","Account":"1001","BalanceType":"*voice","Value":"10m",
            "Balance":{"ID":"evening_minutes","TimingIDs":"EVENING","Weight":20}}"#,
    )
    .await;
    ok(
        &app,
        "APIerSv1.SetBalance",
        r#"{"Tenant":"cgrates.org","Account":"1001","BalanceType":"*voice","Value":"10m",
            "Balance":{"ID":"anytime_minutes","Weight":10}}"#,
    )
    .await;
    let call = |id: &str, at: &str, usage: &str| {
        format!(
            r#"{{"Tenant":"cgrates.org","OriginID":"{id}","OriginHost":"pbx","ToR":"*voice","RequestType":"*prepaid",
                "Account":"1001","Destination":"6421234567","SetupTime":"{at}","AnswerTime":"{at}","Usage":"{usage}"}}"#
        )
    };
    // 10:00 is outside EVENING: the anytime minutes pay, the heavier evening ones wait.
    ok(&app, "CDRsV2.ProcessExternalCDR", &call("day-call", "2026-11-30T10:00:00Z", "60s")).await;
    assert_eq!(
        app.balances(Some("cgrates.org"), "1001", "*voice").await,
        [("anytime_minutes".into(), 540 * SECOND), ("evening_minutes".into(), 600 * SECOND)]
    );
    // 20:00 is inside it.
    ok(&app, "CDRsV2.ProcessExternalCDR", &call("evening-call", "2026-11-30T20:00:00Z", "120s")).await;
    assert_eq!(
        app.balances(Some("cgrates.org"), "1001", "*voice").await,
        [("anytime_minutes".into(), 540 * SECOND), ("evening_minutes".into(), 480 * SECOND)]
    );
    let (account, _) = app.rpc("APIerSv2.GetAccount", json!({"Tenant": "cgrates.org", "Account": "1001"})).await;
    let evening =
        account["BalanceMap"]["*voice"].as_array().unwrap().iter().find(|b| b["ID"] == "evening_minutes").unwrap();
    assert_eq!(evening["TimingIDs"], json!({"EVENING": true}));
    assert_eq!(evening["Timings"][0]["StartTime"], "19:00:00", "{evening}");

    // The tutorial's shared balance: 1001 holds 10 SMS in SHARED_A, 1007 an empty balance in it,
    // set by actions as the tutorial's TOPUP_RST_SHARED / SHARED_A_0 are.
    ok(
        &app,
        "APIerSv1.SetActions",
        r#"{"ActionsId":"TOPUP_RST_SHARED_10","Actions":[{"Identifier":"*topup_reset","BalanceType":"*sms",
            "BalanceId":"shared_sms","Units":"10","SharedGroups":"SHARED_A","DestinationIds":"*any","Weight":10}]}"#,
    )
    .await;
    ok(
        &app,
        "APIerSv1.SetActions",
        r#"{"ActionsId":"SHARED_A_0","Actions":[{"Identifier":"*topup_reset","BalanceType":"*sms",
            "BalanceId":"shared_sms","Units":0,"SharedGroups":"SHARED_A","Weight":10}]}"#,
    )
    .await;
    ok(
        &app,
        "APIerSv1.ExecuteAction",
        r#"{"Tenant":"cgrates.org","Account":"1001","ActionsId":"TOPUP_RST_SHARED_10"}"#,
    )
    .await;
    ok(&app, "APIerSv1.ExecuteAction", r#"{"Tenant":"cgrates.org","Account":"1007","ActionsId":"SHARED_A_0"}"#).await;
    let sms = |tenant: &str, account: &str, n: u32| {
        format!(
            r#"{{"Tenant":"{tenant}","OriginID":"sms-{account}-{n}","OriginHost":"192.168.56.203","ToR":"*sms",
                "RequestType":"*prepaid","Account":"{account}","Destination":"61412345678","Usage":1,
                "SetupTime":"2026-11-30T10:0{n}:00Z"}}"#
        )
    };
    for n in 1..=3 {
        ok(&app, "CDRsV1.ProcessExternalCDR", &sms("cgrates.org", "1007", n)).await;
    }
    assert_eq!(
        app.balances(Some("cgrates.org"), "1001", "*sms").await,
        [("shared_sms".into(), 7)],
        "1007's SMS drew on it"
    );
    assert_eq!(app.balances(Some("cgrates.org"), "1007", "*sms").await, [("shared_sms".into(), 0)]);
    let (group, _) = app.rpc("APIerSv1.GetSharedGroup", json!("SHARED_A")).await;
    assert_eq!(group["AccountParameters"]["*any"]["Strategy"], "*highest", "{group}");
    assert_eq!(group["MemberIds"], json!({"cgrates.org:1001": true, "cgrates.org:1007": true}));

    // Another tenant's member of a group of the same name shares nothing with cgrates.org.
    ok(&app, "APIerSv1.ExecuteAction", r#"{"Tenant":"acme.example","Account":"1007","ActionsId":"SHARED_A_0"}"#).await;
    ok(&app, "CDRsV1.ProcessExternalCDR", &sms("acme.example", "1007", 4)).await;
    assert_eq!(app.balances(Some("cgrates.org"), "1001", "*sms").await, [("shared_sms".into(), 7)]);
    // A customer reading the global group sees its own tenant's members only.
    let reply = app
        .send(app.http.post(app.url("/jsonrpc")).basic_auth(&app.alice.sid, Some(&app.alice.secret)).json(&json!({
            "method": "APIerSv1.GetSharedGroup", "id": 1, "params": ["SHARED_A"]
        })))
        .await;
    assert_eq!(reply.body["result"]["MemberIds"], json!({}), "{:?}", reply.body);
    // A member whose balance leaves the group is no longer one.
    ok(
        &app,
        "APIerSv1.RemoveBalances",
        r#"{"Tenant":"acme.example","Account":"1007","BalanceType":"*sms","Balance":{"ID":"shared_sms"}}"#,
    )
    .await;
    let (group, _) = app.rpc("APIerSv1.GetSharedGroup", json!("SHARED_A")).await;
    assert_eq!(group["MemberIds"], json!({"cgrates.org:1001": true, "cgrates.org:1007": true}));
    let acme_members: i64 =
        sqlx::query_scalar("SELECT count(*) FROM billing_shared_group_members WHERE tenant = 'acme.example'")
            .fetch_one(app.log.pool())
            .await
            .unwrap();
    assert_eq!(acme_members, 0);

    // A replay of billing rebuilds the same balances, definitions, staging and members, and
    // appends nothing.
    let tables = ["billing_accounts", "billing_catalog", "billing_tp_staged", "billing_shared_group_members"];
    let head = common::assert_billing_replay_rebuilds(&app, &tables).await;

    // Refused in CGrateS's words, nothing logged.
    for (method, params, error) in [
        (
            "APIerSv1.SetBalance",
            json!({"Tenant": "cgrates.org", "Account": "1001", "BalanceType": "*voice", "Value": 1,
                   "Balance": {"ID": "x", "TimingIDs": "NO_SUCH_TIMING"}}),
            "NOT_FOUND",
        ),
        (
            "APIerSv1.SetTPTiming",
            json!({"TPid": "t", "ID": "T", "Months": "*any", "MonthDays": "*any", "WeekDays": "*any", "Time": "08:00:00"}),
            "MANDATORY_IE_MISSING: [Years]",
        ),
        (
            "APIerSv1.SetTPTiming",
            json!({"TPid": "t", "ID": "T", "Years": "*any", "Months": "13", "MonthDays": "*any", "WeekDays": "*any",
                   "Time": "08:00:00"}),
            "SERVER_ERROR: Months: 13 is not within 1..12",
        ),
        (
            "APIerSv1.SetTiming",
            json!({"ID": "T", "StartTime": "*asap"}),
            "SERVER_ERROR: StartTime \"*asap\" is not a time of day (HH:MM:SS)",
        ),
        (
            "APIerSv1.SetTPSharedGroups",
            json!({"TPid": "t", "ID": "G", "SharedGroups": [{"Account": "*any", "Strategy": "*everyone"}]}),
            "SERVER_ERROR: Strategy \"*everyone\" is not one of *lowest, *highest, *random, *mine_lowest, *mine_highest, *mine_random",
        ),
        ("APIerSv1.GetTiming", json!({"ID": "NO_SUCH_TIMING"}), "NOT_FOUND"),
        (
            "APIerSv1.SetBalance",
            json!({"Tenant": "cgrates.org", "Account": "1001", "BalanceType": "*sms", "Value": 1,
                   "Balance": {"ID": "x", "SharedGroups": (0..17).map(|n| format!("G{n}")).collect::<Vec<_>>()}}),
            "SERVER_ERROR: SharedGroups names at most 16",
        ),
        (
            "APIerSv1.SetTPTiming",
            json!({"TPid": "t".repeat(300), "ID": "T", "Years": "*any", "Months": "*any", "MonthDays": "*any",
                   "WeekDays": "*any", "Time": "08:00:00"}),
            "SERVER_ERROR: Invalid parameter TPid: must be 1 to 256 bytes",
        ),
        ("APIerSv1.GetSharedGroup", json!("NO_SUCH_GROUP"), "NOT_FOUND"),
    ] {
        let (_, err) = app.rpc(method, params).await;
        assert_eq!(err, json!(error), "{method}");
    }
    assert_eq!(app.log.head().await.unwrap(), head, "nothing logged");
}

#[tokio::test]
async fn a_plan_redefined_or_shadowed_by_a_tenants_own_keeps_unchanged_timings_and_starts_changed_ones() {
    let app = spawn_app().await;
    ok(
        &app,
        "APIerSv1.SetActions",
        r#"{"ActionsId":"ACT_ONE","Actions":[{"Identifier":"*topup","BalanceType":"*sms","Units":1,
            "BalanceId":"n","Weight":10}]}"#,
    )
    .await;
    ok(
        &app,
        "APIerSv1.SetActionPlan",
        r#"{"Id":"AP","ActionPlan":[{"ActionsId":"ACT_ONE","Time":"*asap","Weight":10}]}"#,
    )
    .await;
    for tenant in ["cgrates.org", "acme.example"] {
        ok(&app, "APIerSv2.SetAccount", &format!(r#"{{"Tenant":"{tenant}","Account":"1001","ActionPlanIds":["AP"]}}"#))
            .await;
        assert_eq!(app.balances(Some(tenant), "1001", "*sms").await, [("n".into(), 1)], "{tenant}: the *asap topup");
    }
    let n = |tenant: &'static str| {
        let app = &app;
        async move { app.balances(Some(tenant), "1001", "*sms").await[0].1 }
    };
    let fire = |at: chrono::DateTime<chrono::Utc>| {
        let app = &app;
        async move {
            let fired = simledger_policies::plan_scheduler::fire_due_plans(&app.log, at, 100).await.unwrap();
            app.billing_settled().await;
            fired
        }
    };
    // acme shadows AP with its own: the same *asap timing first, then an hourly one.
    ok(
        &app,
        "APIerSv1.SetActionPlan",
        r#"{"Tenant":"acme.example","Id":"AP","ActionPlan":[{"ActionsId":"ACT_ONE","Time":"*asap","Weight":10},
            {"ActionsId":"ACT_ONE","Time":"*hourly","Weight":10}]}"#,
    )
    .await;
    let changed = chrono::Utc::now();
    assert_eq!(fire(changed).await, 0, "the unchanged *asap timing does not run again");
    assert_eq!(fire(changed + chrono::Duration::minutes(61)).await, 1, "acme's hourly timing runs from the change");
    assert_eq!((n("cgrates.org").await, n("acme.example").await), (1, 2));

    // The global AP redefined with a changed timing: cgrates.org's binding starts it afresh;
    // acme follows its own plan and is untouched.
    ok(
        &app,
        "APIerSv1.SetActionPlan",
        r#"{"Id":"AP","Overwrite":true,"ActionPlan":[{"ActionsId":"ACT_ONE","Time":"*asap","Weight":20}]}"#,
    )
    .await;
    assert_eq!(fire(chrono::Utc::now()).await, 1, "cgrates.org's changed *asap timing runs once");
    assert_eq!(fire(chrono::Utc::now() + chrono::Duration::minutes(61)).await, 0, "nothing else is due");
    assert_eq!((n("cgrates.org").await, n("acme.example").await), (2, 2));
    let bindings: Vec<(String, i32)> = sqlx::query_as(
        "SELECT tenant, timing_index FROM billing_plan_bindings WHERE plan_id = 'AP' ORDER BY tenant COLLATE \"C\", timing_index",
    )
    .fetch_all(app.log.pool())
    .await
    .unwrap();
    assert_eq!(bindings, [("acme.example".to_string(), 0), ("acme.example".into(), 1), ("cgrates.org".into(), 0)]);
}
