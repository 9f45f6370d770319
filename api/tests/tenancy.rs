//! Cross-tenant effects: what one tenant's billing actions or forged events can do to another
//! tenant's SIMs — nothing.

mod common;

use common::spawn_app;
use serde_json::json;
use simledger_eventlog::catalog::{SimStatus, SimStatusChanged};
use simledger_eventlog::{Event, ExpectedVersion, Metadata, NewEvent};
use sqlx::Connection;

#[tokio::test]
async fn tenant_a_cannot_suspend_tenant_b_sim() {
    let app = spawn_app().await;
    // Bob's SIM, active in his fleet.
    let sim = app.sim(&app.bob, 1).await;
    let (_, fleet) = app.fleet(&app.bob).await;
    let active = app.post(&app.bob, &format!("/v1/Sims/{sim}"), &[("Fleet", &fleet), ("Status", "active")]).await;
    assert_eq!(active.body["status"], "active", "{:?}", active.body);

    // Alice names a billing account after bob's SIM and runs *suspend_sim on it.
    let (_, error) = app
        .rpc(
            "APIerSv1.SetActions",
            json!({"ActionsId": "OFF", "Actions": [{"Identifier": "*suspend_sim", "Weight": 10}]}),
        )
        .await;
    assert!(error.is_null(), "{error}");
    let (_, error) = app.rpc("APIerSv1.ExecuteAction", json!({"Account": sim, "ActionsId": "OFF"})).await;
    assert!(error.is_null(), "{error}");
    assert!(app.billing.reached(app.log.head().await.unwrap()).await);
    let suspensions: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE type = 'sim.status_changed' AND data->>'sim_sid' = $1 \
         AND data->>'reason' = 'billing:*suspend_sim'",
    )
    .bind(&sim)
    .fetch_one(app.log.pool())
    .await
    .unwrap();
    assert_eq!(suspensions, 0, "no suspension of bob's SIM was decided");

    // A status change in alice's name that reaches the log anyway changes nothing either.
    let forged = Event::SimStatusChanged(SimStatusChanged {
        sim_sid: sim.parse().unwrap(),
        account_sid: app.alice.sid.clone(),
        from: SimStatus::Active,
        to: SimStatus::Inactive,
        reason: Some("forged".into()),
    });
    let e = NewEvent::new(uuid::Uuid::new_v4(), format!("sim-{sim}"), &forged, &Metadata::from_source("test")).unwrap();
    let at = app.log.append(vec![e], ExpectedVersion::Any).await.unwrap()[0].position;
    app.commands.visible(at).await.unwrap();
    assert_eq!(app.get(&app.bob, &format!("/v1/Sims/{sim}")).await.body["status"], "active");
    // Bob still changes his SIM (its version moved with the stream), and alice still bills.
    let renamed = app.post(&app.bob, &format!("/v1/Sims/{sim}"), &[("UniqueName", "bobs-tracker")]).await;
    assert_eq!(renamed.status, 200, "{:?}", renamed.body);
    let (account, error) = app.rpc("APIerSv2.GetAccount", json!({"Account": sim})).await;
    assert!(error.is_null() && account["ID"].as_str().is_some(), "{account} {error}");
}

/// A JSON-RPC call on the main listener as `who` (a customer acts on its own tenant).
async fn rpc_as(
    app: &common::TestApp,
    who: &simledger_commands::Credential,
    method: &str,
    params: serde_json::Value,
) -> serde_json::Value {
    let body = json!({"method": method, "params": [params], "id": 1});
    let r =
        app.http.post(app.url("/jsonrpc")).basic_auth(&who.sid, Some(&who.secret)).json(&body).send().await.unwrap();
    r.json().await.unwrap()
}

#[tokio::test]
async fn a_customer_cannot_write_an_export_outside_its_root() {
    let app = spawn_app().await;
    let outside = std::env::temp_dir().join(format!("simledger-outside-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&outside).unwrap();
    let bobs = app.export_root.join(&app.bob.sid);
    for path in [outside.to_str().unwrap(), "/etc", "../x", "a/../../b", bobs.to_str().unwrap()] {
        let r = app.post(&app.alice, "/v1/Billing/Exporters", &[("Id", "steal"), ("ExportPath", path)]).await;
        common::assert_error(&r, 400, 20001);
        assert!(!r.body["message"].as_str().unwrap().contains("os error"), "{:?}", r.body);
        let reply = rpc_as(
            &app,
            &app.alice,
            "ConfigSv1.SetConfig",
            json!({"Config": {"ees": {"exporters": [
            {"id": "steal", "type": "*file_csv", "export_path": path}]}}}),
        )
        .await;
        assert!(reply["error"].as_str().is_some_and(|e| e.contains("export folder")), "{reply}");
    }
    // S3: only where the operator granted it (nothing, here).
    let r = app
        .post(
            &app.alice,
            "/v1/Billing/Exporters",
            &[("Id", "s3"), ("Type", "*s3_csv"), ("ExportPath", "s3://any-bucket/x")],
        )
        .await;
    common::assert_error(&r, 400, 20001);
    assert!(std::fs::read_dir(&outside).unwrap().next().is_none(), "nothing written outside");
    let listed = app.get(&app.alice, "/v1/Billing/Exporters").await;
    assert_eq!(listed.body["exporters"], json!([]), "nothing stored");
    // A relative folder lands inside the account's own export folder.
    let ok = app.post(&app.alice, "/v1/Billing/Exporters", &[("Id", "daily"), ("ExportPath", "daily")]).await;
    assert_eq!(ok.status, 201, "{:?}", ok.body);
    assert!(app.export_root.join(&app.alice.sid).join("daily").is_dir());
    // Another tenant keeps working.
    let bob = app.post(&app.bob, "/v1/Billing/Exporters", &[("Id", "daily"), ("ExportPath", "daily")]).await;
    assert_eq!(bob.status, 201, "{:?}", bob.body);
    std::fs::remove_dir_all(&outside).unwrap();
}

#[tokio::test]
async fn a_customer_cannot_rewrite_an_exporter_the_operator_declared() {
    let app = spawn_app().await;
    let dir = std::env::temp_dir().join(format!("simledger-declared-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut declared = simledger_exporters::cdr_export::Exporter::new(
        "billing",
        simledger_exporters::cdr_export::ExporterKind::FileCsv,
        dir.to_str().unwrap(),
    );
    declared.declared = true;
    simledger_exporters::cdr_export::upsert(&app.log, &app.alice.sid, &declared).await.unwrap();
    let reply = rpc_as(
        &app,
        &app.alice,
        "ConfigSv1.SetConfig",
        json!({"Config": {"ees": {"exporters": [
        {"id": "billing", "type": "*file_csv", "export_path": "mine"}]}}}),
    )
    .await;
    assert!(reply["error"].as_str().is_some_and(|e| e.contains("operator")), "{reply}");
    let path: String = sqlx::query_scalar("SELECT export_path FROM cdr_exporters WHERE exporter_id = 'billing'")
        .fetch_one(app.log.pool())
        .await
        .unwrap();
    assert_eq!(path, dir.to_str().unwrap(), "the operator's exporter is unchanged");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Posts an external CDR to `/v1/Billing/Cdrs` as `who`.
async fn post_cdr(
    app: &common::TestApp,
    who: &simledger_commands::Credential,
    cdr: &serde_json::Value,
) -> common::Answer {
    app.send(app.http.post(app.url("/v1/Billing/Cdrs")).basic_auth(&who.sid, Some(&who.secret)).json(cdr)).await
}

#[tokio::test]
async fn a_tenants_cgrid_does_not_block_another_tenants_cdr() {
    let app = spawn_app().await;
    let cdr = json!({"CGRID": "shared-cgrid", "OriginID": "call-1", "OriginHost": "pbx", "Account": "1001",
                     "Usage": 60, "PreRated": true, "Cost": 0.1});
    assert_eq!(post_cdr(&app, &app.alice, &cdr).await.status, 201);
    // The same CGRID in bob's tenant is bob's own CDR, and his answer says nothing of alice's.
    let bobs = post_cdr(&app, &app.bob, &cdr).await;
    assert_eq!(bobs.status, 201, "{:?}", bobs.body);
    assert_eq!(bobs.body["Tenant"], app.bob.sid);
    let listed = app.get(&app.bob, "/v1/Billing/Cdrs").await.body;
    assert_eq!(listed["cdrs"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["cdrs"][0]["CGRID"], "shared-cgrid");
    // Within a tenant, the same CGRID and RunID is a duplicate; another RunID is another CDR.
    common::assert_error(&post_cdr(&app, &app.alice, &cdr).await, 409, 20409);
    let mut rerun = cdr.clone();
    rerun["RunID"] = json!("retail");
    assert_eq!(post_cdr(&app, &app.alice, &rerun).await.status, 201);
    assert_eq!(app.get(&app.alice, "/v1/Billing/Cdrs").await.body["cdrs"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_customer_cannot_preempt_the_cores_cdr() {
    let app = spawn_app().await;
    let sim = app.sim(&app.alice, 1).await;
    let before: i64 = sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(app.log.pool()).await.unwrap();
    // The core's origin hosts and sources are not the customer's to use.
    for (host, source) in [("pgw", ""), (" SMSC ", ""), ("pbx", "simledger-core"), ("pbx", "*cdrlog")] {
        let cdr = json!({"OriginID": "PI1", "OriginHost": host, "Source": source, "Account": sim, "Usage": 1});
        common::assert_error(&post_cdr(&app, &app.alice, &cdr).await, 400, 20001);
    }
    let after: i64 = sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(app.log.pool()).await.unwrap();
    assert_eq!(before, after, "nothing appended");
    // A CDR named with the CGRID the core will give a data session that has not ended yet...
    let session = format!("PI{:032}", 7);
    let cgrid = simledger_projections::cdrs::cgrid(&session, "pgw");
    let forged = json!({"CGRID": cgrid, "OriginID": "x", "OriginHost": "pbx", "Account": sim, "ToR": "*data",
                        "Usage": 1, "PreRated": true, "Cost": 0});
    assert_eq!(post_cdr(&app, &app.alice, &forged).await.status, 201);
    // ...does not stop the core's own CDR for that session when it ends.
    common::cdr_events::log_events(&app, vec![common::cdr_events::ended_session(&app.alice.sid, &sim, 7, 5_000_000)])
        .await;
    let core: Vec<(String, i64)> =
        sqlx::query_as("SELECT source, usage FROM cdrs WHERE tenant = $1 AND cgrid = $2 ORDER BY order_id")
            .bind(&app.alice.sid)
            .bind(&cgrid)
            .fetch_all(app.log.pool())
            .await
            .unwrap();
    assert_eq!(core, vec![("external".to_owned(), 1), ("simledger-core".to_owned(), 5_000_000)]);
}

#[tokio::test]
async fn an_overflowing_rate_does_not_stop_the_cdrs_projection() {
    let app = spawn_app().await;
    let alice_sim = app.sim(&app.alice, 1).await;
    let bob_sim = app.sim(&app.bob, 2).await;
    let events_before: i64 = sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(app.log.pool()).await.unwrap();
    // Past the bounds at every door: the operator's rate, the tenant's rate, a CDR's usage and
    // cost, an action's units.
    let huge = "79228162514264337593543950335";
    let op = [("ToR", "*data"), ("Prefix", ""), ("PricePerUnit", huge), ("UnitSize", "1")];
    common::assert_error(&app.post(&app.operator, "/operator/CdrRates", &op).await, 400, 20001);
    let rate = json!({"ID": "R", "ToR": "*data", "DestinationID": "*any", "Rate": huge, "RateUnit": "0.000000001"});
    let r = app
        .send(
            app.http.post(app.url("/v1/Billing/Rates")).basic_auth(&app.alice.sid, Some(&app.alice.secret)).json(&rate),
        )
        .await;
    common::assert_error(&r, 400, 20001);
    let cdr = json!({"OriginID": "c", "Account": "1", "Usage": i64::MAX, "PreRated": true, "Cost": huge});
    common::assert_error(&post_cdr(&app, &app.alice, &cdr).await, 400, 20001);
    let topup = json!({"Account": "1", "BalanceType": "*monetary", "Value": huge});
    let reply = rpc_as(&app, &app.alice, "APIerSv1.AddBalance", topup).await;
    assert!(reply["error"].as_str().is_some_and(|e| e.contains("out of range")), "{reply}");
    let events_after: i64 = sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(app.log.pool()).await.unwrap();
    assert_eq!(events_before, events_after, "nothing appended");

    // A rate that got into the log anyway (an older release took it) prices a session at more
    // than a decimal holds: the CDR is kept as not rated, and both shared projections go on.
    let forged = Event::BillingRateSet(simledger_eventlog::catalog::BillingRateSet {
        tenant: app.alice.sid.clone(),
        rate: simledger_billing::RateDef {
            id: "R".into(),
            tor: simledger_billing::BalanceType::Data,
            destination_id: "*any".into(),
            rate: huge.parse().unwrap(),
            rate_unit: "0.000000001".parse().unwrap(),
            rate_increment: "0.000000001".parse().unwrap(),
            rounding_decimals: 4,
        },
    });
    let e = NewEvent::new(uuid::Uuid::new_v4(), "billing-x", &forged, &Metadata::from_source("test")).unwrap();
    app.log.append(vec![e], ExpectedVersion::Any).await.unwrap();
    common::cdr_events::log_events(
        &app,
        vec![
            common::cdr_events::ended_session(&app.alice.sid, &alice_sim, 1, i64::MAX),
            common::cdr_events::ended_session(&app.bob.sid, &bob_sim, 2, 2_000_000),
        ],
    )
    .await;
    assert!(app.billing.reached(app.log.head().await.unwrap()).await);
    let alices: (String, Option<String>) = sqlx::query_as("SELECT cost::text, extra_info FROM cdrs WHERE tenant = $1")
        .bind(&app.alice.sid)
        .fetch_one(app.log.pool())
        .await
        .unwrap();
    assert_eq!(alices.0, "-1");
    assert!(alices.1.as_deref().is_some_and(|i| i.contains("out of range")), "{alices:?}");
    let bobs = app.get(&app.bob, "/v1/Billing/Cdrs").await.body;
    assert_eq!(bobs["cdrs"].as_array().unwrap().len(), 1, "{bobs}");
    let restarts: i64 =
        sqlx::query_scalar("SELECT count(*) FROM dead_letters").fetch_one(app.log.pool()).await.unwrap();
    assert_eq!(restarts, 0, "priced as not rated, not skipped");
    // Bob still sets his own, sane rate.
    let sane = json!({"ID": "R", "ToR": "*data", "DestinationID": "*any", "Rate": "0.5"});
    let r = app
        .send(app.http.post(app.url("/v1/Billing/Rates")).basic_auth(&app.bob.sid, Some(&app.bob.secret)).json(&sane))
        .await;
    assert!(r.status < 300, "{:?}", r.body);
}

#[tokio::test]
async fn a_nul_in_a_billing_body_does_not_fail_another_tenants_fleet_update() {
    let app = spawn_app().await;
    let (_, bobs_fleet) = app.fleet(&app.bob).await;
    let events_before: i64 = sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(app.log.pool()).await.unwrap();
    let nul_bodies = [
        r#"{"method":"APIerSv2.SetAccount","params":[{"Account":"a\u0000b"}],"id":1}"#.to_owned(),
        r#"{"method":"ConfigSv1.SetConfig","params":[{"Config":{"ees":{"exporters":[{"id":"x\u0000","type":"*file_csv","export_path":"x"}]}}}],"id":2}"#.to_owned(),
        "{\"method\":\"APIerSv1.SetActions\",\"params\":[{\"ActionsId\":\"raw\0\"}],\"id\":3}".to_owned(),
    ];
    // Alice's poisoned calls and bob's fleet update, all at once.
    let alice = futures_util::future::join_all(nul_bodies.iter().map(|body| {
        app.http
            .post(app.url("/jsonrpc"))
            .basic_auth(&app.alice.sid, Some(&app.alice.secret))
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
    }));
    let bobs_path = format!("/v1/Fleets/{bobs_fleet}");
    let bob = app.post(&app.bob, &bobs_path, &[("UniqueName", "bobs-fleet")]);
    let (alice, bob) = tokio::join!(alice, bob);
    assert_eq!(bob.status, 200, "{:?}", bob.body);
    assert_eq!(bob.body["unique_name"], "bobs-fleet");
    for r in alice {
        let r = r.unwrap();
        assert_eq!(r.status(), 400);
        let body: serde_json::Value = r.json().await.unwrap();
        assert!(body["error"].as_str().is_some_and(|e| e.contains("NUL")), "{body}");
    }
    // The same through REST, as JSON and as a form.
    let r = app
        .send(
            app.http
                .post(app.url("/v1/Billing/Cdrs"))
                .basic_auth(&app.alice.sid, Some(&app.alice.secret))
                .header("content-type", "application/json")
                .body(r#"{"OriginID":"x\u0000","Account":"1"}"#),
        )
        .await;
    common::assert_error(&r, 400, 20001);
    common::assert_error(&app.post(&app.alice, "/v1/Fleets", &[("UniqueName", "a\0b")]).await, 400, 20001);
    let events_after: i64 = sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(app.log.pool()).await.unwrap();
    assert_eq!(events_after, events_before + 1, "bob's update alone");
    let exporters: i64 =
        sqlx::query_scalar("SELECT count(*) FROM cdr_exporters").fetch_one(app.log.pool()).await.unwrap();
    assert_eq!(exporters, 0);
}

#[tokio::test]
async fn twenty_slow_csv_downloads_do_not_starve_the_api() {
    let app = spawn_app().await;
    // Tens of megabytes of CSV each: far more than the socket and stream buffers hold.
    simledger_projections::cdrs::bulk_load(app.log.pool(), &app.alice.sid, 50_000).await.unwrap();
    let mut stalled = Vec::new();
    for _ in 0..20 {
        let r = app
            .http
            .get(app.url("/v1/Billing/Cdrs.csv"))
            .basic_auth(&app.alice.sid, Some(&app.alice.secret))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        stalled.push(r); // headers read, body left unread: a client that never reads on
    }
    // Every other request still finds a database connection, more than a pool's worth of them.
    let sim = app.sim(&app.bob, 1).await;
    for _ in 0..40 {
        let r = app.get(&app.bob, &format!("/v1/Sims/{sim}")).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
    }
    assert_eq!(app.get(&app.alice, "/v1/Billing/Cdrs?PageSize=1").await.status, 200);
    // And a stalled download, read at last, is whole.
    let body = stalled.pop().unwrap().text().await.unwrap();
    assert_eq!(body.lines().count(), 50_001, "a header and every CDR once");
}

#[tokio::test]
async fn a_second_run_of_a_running_exporter_is_refused_with_409() {
    let app = spawn_app().await;
    let created = app.post(&app.alice, "/v1/Billing/Exporters", &[("Id", "daily"), ("ExportPath", "daily")]).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let bobs = app.post(&app.bob, "/v1/Billing/Exporters", &[("Id", "daily"), ("ExportPath", "daily")]).await;
    assert_eq!(bobs.status, 201, "{:?}", bobs.body);
    // A run of alice's exporter under way (its lock held, as a run holds it).
    let mut running = sqlx::PgConnection::connect_with(&app.log.pool().connect_options()).await.unwrap();
    let held: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtextextended($1, 0))")
        .bind(format!("cdr_export/{}/daily", app.alice.sid))
        .fetch_one(&mut running)
        .await
        .unwrap();
    assert!(held);
    let runs =
        futures_util::future::join_all((0..10).map(|_| app.post(&app.alice, "/v1/Billing/Exporters/daily/Runs", &[])))
            .await;
    for r in &runs {
        common::assert_error(r, 409, 20409);
    }
    // Bob's exporter of the same name runs meanwhile.
    assert_eq!(app.post(&app.bob, "/v1/Billing/Exporters/daily/Runs", &[]).await.status, 201);
    // The run ends (its connection closes): alice's runs go again.
    running.close().await.unwrap();
    let r = app.post(&app.alice, "/v1/Billing/Exporters/daily/Runs", &[]).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
}

#[tokio::test]
async fn tenant_a_cannot_set_tenant_b_fleet_data_limit() {
    let app = spawn_app().await;
    let (_, bobs_fleet) = app.fleet(&app.bob).await;
    let before = app.get(&app.bob, &format!("/v1/Fleets/{bobs_fleet}")).await.body["data_limit"].clone();
    // Alice names bob's fleet in her action, and names a billing account after it too.
    let limit = json!({"ActionsId": "SQUEEZE", "Actions": [
        {"Identifier": "*set_fleet_data_limit", "ExtraParameters": format!("{bobs_fleet}:1"), "Weight": 10}]});
    let plain = json!({"ActionsId": "SQUEEZE2", "Actions": [
        {"Identifier": "*set_fleet_data_limit", "ExtraParameters": "1", "Weight": 10}]});
    for (actions, account) in [(&limit, "1001"), (&plain, bobs_fleet.as_str())] {
        let reply = rpc_as(&app, &app.alice, "APIerSv1.SetActions", actions.clone()).await;
        assert!(reply["error"].is_null(), "{reply}");
        let id = actions["ActionsId"].as_str().unwrap();
        let reply =
            rpc_as(&app, &app.alice, "APIerSv1.ExecuteAction", json!({"Account": account, "ActionsId": id})).await;
        assert!(reply["error"].is_null(), "{reply}");
    }
    assert!(app.billing.reached(app.log.head().await.unwrap()).await);
    let changes: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE type = 'fleet.updated' AND data->>'fleet_sid' = $1 AND data ? 'data_limit_mb' \
         AND data->>'data_limit_mb' IS NOT NULL",
    )
    .bind(&bobs_fleet)
    .fetch_one(app.log.pool())
    .await
    .unwrap();
    assert_eq!(changes, 0, "no change of bob's fleet was decided");
    assert_eq!(app.get(&app.bob, &format!("/v1/Fleets/{bobs_fleet}")).await.body["data_limit"], before);
    // Bob still changes his own fleet.
    let own = app.post(&app.bob, &format!("/v1/Fleets/{bobs_fleet}"), &[("DataLimit", "500")]).await;
    assert_eq!((own.status, own.body["data_limit"].as_i64()), (200, Some(500)), "{:?}", own.body);
}

#[tokio::test]
async fn a_tariff_plan_staged_by_one_tenant_is_neither_seen_nor_loaded_by_another() {
    let app = spawn_app().await;
    let staged =
        rpc_as(&app, &app.bob, "APIerSv2.SetTPDestination", json!({"TPid": "TP1", "ID": "D", "Prefixes": ["44"]}))
            .await;
    assert_eq!(staged["result"], "OK", "{staged}");
    // Alice names bob's plan: hers holds nothing, and nothing of bob's becomes hers.
    let head = app.log.head().await.unwrap();
    let load = rpc_as(&app, &app.alice, "APIerSv1.LoadTariffPlanFromStorDb", json!({"TPid": "TP1"})).await;
    assert_eq!(load["error"], "NOT_FOUND", "{load}");
    assert_eq!(app.log.head().await.unwrap(), head, "a refused load appends nothing");
    // A hostile prefix is refused at staging, before anything is logged.
    let bad =
        rpc_as(&app, &app.alice, "APIerSv2.SetTPDestination", json!({"TPid": "TP1", "ID": "D", "Prefixes": ["4'4"]}))
            .await;
    assert!(bad["error"].as_str().is_some_and(|e| e.contains("prefix")), "{bad}");
    assert_eq!(app.log.head().await.unwrap(), head);
    // Bob's plan still loads, into bob's destinations only.
    let load = rpc_as(&app, &app.bob, "APIerSv1.LoadTariffPlanFromStorDb", json!({"TPid": "TP1"})).await;
    assert_eq!(load["result"], "OK", "{load}");
    let tenants: Vec<String> =
        sqlx::query_scalar("SELECT tenant FROM billing_catalog WHERE kind = 'destination' AND id = 'D'")
            .fetch_all(app.log.pool())
            .await
            .unwrap();
    assert_eq!(tenants, vec![app.bob.sid.to_string()]);
}

#[tokio::test]
async fn a_customer_cannot_define_or_see_an_exporter_over_every_tenant() {
    let app = spawn_app().await;
    let head = app.log.head().await.unwrap();
    let reply = rpc_as(
        &app,
        &app.alice,
        "ConfigSv1.SetConfig",
        json!({"Config": {"ees": {"exporters": [
        {"id": "all", "type": "*file_csv", "export_path": "all", "tenant": "*operator"}]}}}),
    )
    .await;
    assert_eq!(reply["error"], "UNAUTHORIZED", "{reply}");
    let reply = rpc_as(&app, &app.alice, "ConfigSv1.GetConfig", json!({"Section": "ees", "Tenant": "*operator"})).await;
    assert_eq!(reply["error"], "UNAUTHORIZED", "{reply}");
    assert_eq!(app.log.head().await.unwrap(), head, "nothing logged");
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM cdr_exporters").fetch_one(app.log.pool()).await.unwrap();
    assert_eq!(count, 0);
}

#[tokio::test]
async fn a_customers_online_exporter_cannot_reach_private_addresses_or_command_nats() {
    let app = common::spawn_app_public_only().await;
    let head = app.log.head().await.unwrap();
    // Loopback and cloud-metadata URLs, through the REST API and JSON-RPC.
    for url in ["http://127.0.0.1:4222/cdrs", "http://169.254.169.254/latest/meta-data"] {
        let r = app
            .post(
                &app.alice,
                "/v1/Billing/Exporters",
                &[("Id", "live"), ("Type", "*http_json_map"), ("ExportPath", url)],
            )
            .await;
        common::assert_error(&r, 400, 20001);
    }
    let bad = [
        json!({"id": "live", "type": "*http_post", "export_path": "http://10.0.0.5/cdrs"}),
        json!({"id": "bus", "type": "*nats_json_map", "export_path": "nats://127.0.0.1:4222",
               "opts": {"natsSubject": "cdrs"}}),
        // A JetStream API subject would command the server; a wildcard is no subject.
        json!({"id": "bus", "type": "*nats_json_map", "export_path": "nats://nats.example.com",
               "opts": {"natsSubject": "$JS.API.STREAM.DELETE.CORE"}}),
        json!({"id": "bus", "type": "*nats_json_map", "export_path": "nats://nats.example.com/cdrs.>"}),
        json!({"id": "live", "type": "*http_json_map", "export_path": "https://example.com/cdrs",
               "schedule": "*hourly"}),
    ];
    for exporter in bad {
        let reply =
            rpc_as(&app, &app.alice, "ConfigSv1.SetConfig", json!({"Config": {"ees": {"exporters": [exporter]}}}))
                .await;
        assert!(reply["error"].as_str().is_some_and(|e| e.starts_with("SERVER_ERROR")), "{reply}");
    }
    assert_eq!(app.log.head().await.unwrap(), head, "nothing logged");
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM cdr_exporters").fetch_one(app.log.pool()).await.unwrap();
    assert_eq!(count, 0, "nothing stored");
    // A public destination is taken, and another tenant keeps working.
    let ok = rpc_as(
        &app,
        &app.bob,
        "ConfigSv1.SetConfig",
        json!({"Config": {"ees": {"exporters": [{"id": "bus", "type": "*nats_json_map",
            "export_path": "nats://nats.example.com:4222", "opts": {"natsSubject": "bob.cdrs"}}]}}}),
    )
    .await;
    assert_eq!(ok["result"], "OK", "{ok}");
    let listed = app.get(&app.bob, "/v1/Billing/Exporters").await;
    assert_eq!(
        listed.body["exporters"][0]["export_path"], "nats://nats.example.com:4222/bob.cdrs",
        "{:?}",
        listed.body
    );
}

#[tokio::test]
async fn a_customer_removes_only_its_own_exporters_and_fifty_is_the_most_it_keeps() {
    let app = spawn_app().await;
    let online = |id: String| {
        let app = &app;
        async move {
            let form = [("Id", id.as_str()), ("Type", "*http_json_map"), ("ExportPath", "https://example.com/cdrs")];
            app.post(&app.alice, "/v1/Billing/Exporters", &form).await
        }
    };
    for n in 0..simledger_exporters::cdr_export::MAX_EXPORTERS_PER_TENANT {
        assert_eq!(online(format!("e{n}")).await.status, 201);
    }
    let head = app.log.head().await.unwrap();
    let refused = online("one-more".into()).await;
    common::assert_error(&refused, 400, 20001);
    assert!(refused.body["message"].as_str().is_some_and(|m| m.contains("at most 50")), "{:?}", refused.body);
    // Bob cannot remove Alice's; an unknown ID is 404; the operator's stays; nothing logged.
    common::assert_error(&app.delete(&app.bob, "/v1/Billing/Exporters/e0").await, 404, 20404);
    common::assert_error(&app.delete(&app.alice, "/v1/Billing/Exporters/nope").await, 404, 20404);
    let declared = simledger_exporters::cdr_export::Exporter {
        declared: true,
        ..simledger_exporters::cdr_export::Exporter::new(
            "operators",
            simledger_exporters::cdr_export::ExporterKind::HttpJsonMap,
            "https://example.com/operator",
        )
    };
    simledger_exporters::cdr_export::upsert(&app.log, &app.bob.sid, &declared).await.unwrap();
    let head = head + 1;
    common::assert_error(&app.delete(&app.bob, "/v1/Billing/Exporters/operators").await, 400, 20001);
    assert_eq!(app.log.head().await.unwrap(), head, "nothing logged");
    assert_eq!(app.get(&app.alice, "/v1/Billing/Exporters").await.body["exporters"].as_array().unwrap().len(), 50);
    assert_eq!(app.get(&app.bob, "/v1/Billing/Exporters").await.body["exporters"][0]["id"], "operators");

    // Alice removes one of hers: room for another.
    let removed = app.delete(&app.alice, "/v1/Billing/Exporters/e0").await;
    assert_eq!(removed.status, 204, "{:?}", removed.body);
    assert_eq!(online("one-more".into()).await.status, 201);
    let ids: Vec<String> = app.get(&app.alice, "/v1/Billing/Exporters").await.body["exporters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(!ids.contains(&"e0".to_owned()) && ids.contains(&"one-more".to_owned()) && ids.len() == 50, "{ids:?}");

    // A whole `ees` section past the cap is refused before any of it is stored; the operator's
    // exporter in Bob's tenant does not count against him.
    let section = |count: usize| {
        let exporters: Vec<serde_json::Value> = (0..count)
            .map(|n| json!({"id": format!("b{n}"), "type": "*http_json_map", "export_path": "https://example.com/b"}))
            .collect();
        json!({"Config": {"ees": {"exporters": exporters}}})
    };
    let head = app.log.head().await.unwrap();
    let over = rpc_as(&app, &app.bob, "ConfigSv1.SetConfig", section(51)).await;
    assert!(over["error"].as_str().is_some_and(|e| e.contains("at most 50")), "{over}");
    assert_eq!(app.log.head().await.unwrap(), head, "nothing logged");
    let within = rpc_as(&app, &app.bob, "ConfigSv1.SetConfig", section(50)).await;
    assert_eq!(within["result"], "OK", "{within}");
    assert_eq!(app.get(&app.bob, "/v1/Billing/Exporters").await.body["exporters"].as_array().unwrap().len(), 51);
}

#[tokio::test]
async fn a_customer_whose_token_cannot_sign_cannot_define_an_http_exporter() {
    let app = spawn_app().await;
    sqlx::query("UPDATE accounts SET auth_token_nonce = NULL WHERE account_sid = $1")
        .bind(&app.alice.sid)
        .execute(app.log.pool())
        .await
        .unwrap();
    let head = app.log.head().await.unwrap();
    let form = [("Id", "live"), ("Type", "*http_json_map"), ("ExportPath", "https://example.com/cdrs")];
    let refused = app.post(&app.alice, "/v1/Billing/Exporters", &form).await;
    common::assert_error(&refused, 400, 20001);
    assert!(refused.body["message"].as_str().is_some_and(|m| m.contains("auth token")), "{:?}", refused.body);
    let section = json!({"Config": {"ees": {"exporters": [
        {"id": "live", "type": "*http_post", "export_path": "https://example.com/cdrs"}]}}});
    let reply = rpc_as(&app, &app.alice, "ConfigSv1.SetConfig", section.clone()).await;
    assert!(reply["error"].as_str().is_some_and(|e| e.contains("auth token")), "{reply}");
    assert_eq!(app.log.head().await.unwrap(), head, "nothing logged");
    // Bob's token is this deployment's: his exporter is taken.
    assert_eq!(rpc_as(&app, &app.bob, "ConfigSv1.SetConfig", section).await["result"], "OK");
}
