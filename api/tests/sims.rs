//! `/v1/Sims` through HTTP against the real app.

mod common;

use common::{assert_error, spawn_app};

#[tokio::test]
async fn registering_a_sim_answers_201_with_every_field_and_links() {
    let app = spawn_app().await;
    let iccid = app.card(1).await;
    let r = app.post(&app.alice, "/v1/Sims", &[("Iccid", &iccid), ("RegistrationCode", "1234567890")]).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let sim = &r.body;
    let sid = sim["sid"].as_str().unwrap();
    assert!(sid.starts_with("HS") && sid.len() == 34);
    assert_eq!(sim["status"], "new");
    assert_eq!(sim["iccid"], iccid.as_str());
    assert_eq!(sim["account_sid"], app.alice.sid.as_str());
    assert!(sim["fleet_sid"].is_null() && sim["unique_name"].is_null());
    assert_eq!(sim["url"], format!("{}/v1/Sims/{sid}", app.base));
    assert_eq!(sim["links"]["billing_periods"], format!("{}/v1/Sims/{sid}/BillingPeriods", app.base));
    assert_eq!(sim["links"]["sim_ip_addresses"], format!("{}/v1/Sims/{sid}/IpAddresses", app.base));
    let date = sim["date_created"].as_str().unwrap();
    assert!(chrono::NaiveDateTime::parse_from_str(date, "%Y-%m-%dT%H:%M:%SZ").is_ok(), "{date}");
    // Read-your-writes: the GET right after sees it.
    let fetched = app.get(&app.alice, &format!("/v1/Sims/{sid}")).await;
    assert_eq!(fetched.body, r.body);
}

#[tokio::test]
async fn registering_without_a_parameter_is_83001() {
    let app = spawn_app().await;
    let iccid = app.card(1).await;
    assert_error(&app.post(&app.alice, "/v1/Sims", &[("Iccid", &iccid)]).await, 400, 83001);
    assert_error(&app.post(&app.alice, "/v1/Sims", &[("RegistrationCode", "1234567890")]).await, 400, 83001);
}

#[tokio::test]
async fn registering_with_a_wrong_code_or_unknown_iccid_is_83002() {
    let app = spawn_app().await;
    let iccid = app.card(1).await;
    let wrong = app.post(&app.alice, "/v1/Sims", &[("Iccid", &iccid), ("RegistrationCode", "0000000000")]).await;
    assert_error(&wrong, 400, 83002);
    let unknown =
        app.post(&app.alice, "/v1/Sims", &[("Iccid", "8988307000000099999"), ("RegistrationCode", "1234567890")]).await;
    assert_error(&unknown, 400, 83002);
}

#[tokio::test]
async fn registering_a_sim_twice_is_83003_and_another_account_gets_83002() {
    let app = spawn_app().await;
    let sid = app.sim(&app.alice, 1).await;
    let iccid = app.get(&app.alice, &format!("/v1/Sims/{sid}")).await.body["iccid"].as_str().unwrap().to_owned();
    let again = app.post(&app.alice, "/v1/Sims", &[("Iccid", &iccid), ("RegistrationCode", "1234567890")]).await;
    assert_error(&again, 400, 83003);
    assert!(again.body["message"].as_str().unwrap().contains(&sid));
    let bob = app.post(&app.bob, "/v1/Sims", &[("Iccid", &iccid), ("RegistrationCode", "1234567890")]).await;
    assert_error(&bob, 400, 83002);
}

#[tokio::test]
async fn a_sim_is_fetched_by_unique_name_and_unknown_ones_are_20404() {
    let app = spawn_app().await;
    let sid = app.sim(&app.alice, 1).await;
    let r = app.post(&app.alice, &format!("/v1/Sims/{sid}"), &[("UniqueName", "tracker-1")]).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["unique_name"], "tracker-1");
    assert_eq!(app.get(&app.alice, "/v1/Sims/tracker-1").await.body["sid"], sid.as_str());
    let missing = app.get(&app.alice, "/v1/Sims/HS00000000000000000000000000000000").await;
    assert_error(&missing, 404, 20404);
    assert_eq!(
        missing.body["message"],
        "The requested resource /v1/Sims/HS00000000000000000000000000000000 was not found"
    );
}

#[tokio::test]
async fn activating_follows_twilio_status_rules() {
    let app = spawn_app().await;
    let (_, fleet) = app.fleet(&app.alice).await;
    let sid = app.sim(&app.alice, 1).await;
    let path = format!("/v1/Sims/{sid}");
    // No fleet: 83007.
    assert_error(&app.post(&app.alice, &path, &[("Status", "active")]).await, 400, 83007);
    // Fleet given in the same request: allowed.
    let active = app.post(&app.alice, &path, &[("Status", "active"), ("Fleet", &fleet)]).await;
    assert_eq!(active.status, 200, "{:?}", active.body);
    assert_eq!(
        (active.body["status"].as_str(), active.body["fleet_sid"].as_str()),
        (Some("active"), Some(fleet.as_str()))
    );
    // active -> ready is not a transition Twilio allows: 83010.
    assert_error(&app.post(&app.alice, &path, &[("Status", "ready")]).await, 400, 83010);
    // Never back to new: refused as a parameter value.
    assert_error(&app.post(&app.alice, &path, &[("Status", "new")]).await, 400, 20001);
    let inactive = app.post(&app.alice, &path, &[("Status", "inactive")]).await;
    assert_eq!(inactive.body["status"], "inactive");
    assert_eq!(app.post(&app.alice, &path, &[("Status", "active")]).await.body["status"], "active");
}

#[tokio::test]
async fn moving_to_an_unknown_fleet_is_83006_and_changes_nothing() {
    let app = spawn_app().await;
    let sid = app.sim(&app.alice, 1).await;
    let head = app.log.head().await.unwrap();
    let r = app.post(&app.alice, &format!("/v1/Sims/{sid}"), &[("Fleet", "no-such-fleet"), ("UniqueName", "x")]).await;
    assert_error(&r, 400, 83006);
    assert_eq!(app.log.head().await.unwrap(), head);
    assert!(app.get(&app.alice, &format!("/v1/Sims/{sid}")).await.body["unique_name"].is_null());
}

#[tokio::test]
async fn bad_parameters_are_20001_and_change_nothing() {
    let app = spawn_app().await;
    let sid = app.sim(&app.alice, 1).await;
    let path = format!("/v1/Sims/{sid}");
    let head = app.log.head().await.unwrap();
    let unknown = app.post(&app.alice, &path, &[("UniqueName", "a"), ("Colour", "red")]).await;
    assert_error(&unknown, 400, 20001);
    assert_eq!(unknown.body["message"], "Unknown parameter Colour");
    assert_error(&app.post(&app.alice, &path, &[("Status", "sleeping")]).await, 400, 20001);
    assert_error(&app.post(&app.alice, &path, &[("CallbackMethod", "PUT")]).await, 400, 20001);
    assert_error(&app.get(&app.alice, "/v1/Sims?Status=sleeping").await, 400, 20001);
    assert_error(&app.get(&app.alice, "/v1/Sims?Colour=red").await, 400, 20001);
    assert_eq!(app.log.head().await.unwrap(), head);
}

#[tokio::test]
async fn json_bodies_are_accepted_like_forms() {
    let app = spawn_app().await;
    let sid = app.sim(&app.alice, 1).await;
    let r = app
        .send(
            app.http
                .post(app.url(&format!("/v1/Sims/{sid}")))
                .basic_auth(&app.alice.sid, Some(&app.alice.secret))
                .json(&serde_json::json!({"UniqueName": "via-json"})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["unique_name"], "via-json");
}

#[tokio::test]
async fn oversized_and_unsupported_bodies_are_refused() {
    let app = spawn_app().await;
    let sid = app.sim(&app.alice, 1).await;
    let big = "x".repeat(100_000);
    let r = app.post(&app.alice, &format!("/v1/Sims/{sid}"), &[("UniqueName", &big)]).await;
    assert_error(&r, 413, 20001);
    let xml = app
        .send(
            app.http
                .post(app.url(&format!("/v1/Sims/{sid}")))
                .basic_auth(&app.alice.sid, Some(&app.alice.secret))
                .header("content-type", "application/xml")
                .body("<UniqueName>x</UniqueName>"),
        )
        .await;
    assert_error(&xml, 415, 20001);
}

#[tokio::test]
async fn sims_are_listed_with_filters() {
    let app = spawn_app().await;
    let (_, fleet) = app.fleet(&app.alice).await;
    let a = app.sim(&app.alice, 1).await;
    let b = app.sim(&app.alice, 2).await;
    app.post(&app.alice, &format!("/v1/Sims/{b}"), &[("Fleet", &fleet), ("Status", "ready")]).await;
    let all = app.get(&app.alice, "/v1/Sims").await;
    assert_eq!(all.body["sims"].as_array().unwrap().len(), 2);
    assert_eq!(all.body["meta"]["key"], "sims");
    let ready = app.get(&app.alice, "/v1/Sims?Status=ready").await.body;
    assert_eq!(ready["sims"].as_array().unwrap().len(), 1);
    assert_eq!(ready["sims"][0]["sid"], b.as_str());
    let in_fleet = app.get(&app.alice, &format!("/v1/Sims?Fleet={fleet}")).await.body;
    assert_eq!(in_fleet["sims"][0]["sid"], b.as_str());
    let iccid = app.get(&app.alice, &format!("/v1/Sims/{a}")).await.body["iccid"].as_str().unwrap().to_owned();
    let by_iccid = app.get(&app.alice, &format!("/v1/Sims?Iccid={iccid}")).await.body;
    assert_eq!(by_iccid["sims"].as_array().unwrap().len(), 1);
    assert_eq!(by_iccid["sims"][0]["sid"], a.as_str());
    assert_eq!(app.get(&app.alice, "/v1/Sims?Fleet=nope").await.body["sims"], serde_json::json!([]));
}

#[tokio::test]
async fn sub_resources_answer_for_own_sims_only() {
    let app = spawn_app().await;
    let sid = app.sim(&app.alice, 1).await;
    let periods = app.get(&app.alice, &format!("/v1/Sims/{sid}/BillingPeriods")).await;
    assert_eq!(periods.status, 200);
    assert_eq!(periods.body["meta"]["key"], "billing_periods");
    let ips = app.get(&app.alice, &format!("/v1/Sims/{sid}/IpAddresses")).await;
    assert_eq!(ips.body["meta"]["key"], "ip_addresses");
    assert_error(&app.get(&app.bob, &format!("/v1/Sims/{sid}/BillingPeriods")).await, 404, 20404);
    assert_error(&app.get(&app.bob, &format!("/v1/Sims/{sid}/IpAddresses")).await, 404, 20404);
}

#[tokio::test]
async fn an_idempotency_key_makes_a_retry_change_nothing() {
    let app = spawn_app().await;
    let sid = app.sim(&app.alice, 1).await;
    let send = || {
        app.send(
            app.http
                .post(app.url(&format!("/v1/Sims/{sid}")))
                .basic_auth(&app.alice.sid, Some(&app.alice.secret))
                .header("Idempotency-Key", "rename-1")
                .form(&[("UniqueName", "once")]),
        )
    };
    let first = send().await;
    let head = app.log.head().await.unwrap();
    let second = send().await;
    assert_eq!((first.status, second.status), (200, 200));
    assert_eq!(app.log.head().await.unwrap(), head);
}

#[tokio::test]
async fn a_nul_character_in_a_parameter_or_path_is_a_400_not_a_500() {
    let app = spawn_app().await;
    assert_error(&app.get(&app.alice, "/v1/SmsCommands?Sim=j%00x").await, 400, 20001);
    assert_error(&app.get(&app.alice, "/v1/Sims/HS%00").await, 400, 20001);
    assert_error(&app.post(&app.alice, "/v1/NetworkAccessProfiles", &[("UniqueName", "a\0b")]).await, 400, 20001);
}

#[tokio::test]
async fn thirty_two_concurrent_updates_of_one_sim_and_one_fleet_all_succeed_last_write_wins() {
    let app = spawn_app().await;
    let (_, fleet) = app.fleet(&app.alice).await;
    let sim = app.sim(&app.alice, 1).await;
    let sim_path = format!("/v1/Sims/{sim}");
    let fleet_path = format!("/v1/Fleets/{fleet}");
    let names: Vec<[(&str, String); 1]> = (0..32).map(|n| [("UniqueName", format!("device-{n}"))]).collect();
    let limits: Vec<[(&str, String); 1]> = (0..32).map(|n| [("DataLimit", (100 + n).to_string())]).collect();
    let form = |p: &[(&'static str, String); 1]| [(p[0].0, p[0].1.clone())];
    let (sims, fleets) = tokio::join!(
        futures_util::future::join_all(names.iter().map(|n| {
            let (app, path, n) = (&app, &sim_path, form(n));
            async move { app.post(&app.alice, path, &[(n[0].0, n[0].1.as_str())]).await }
        })),
        futures_util::future::join_all(limits.iter().map(|l| {
            let (app, path, l) = (&app, &fleet_path, form(l));
            async move { app.post(&app.alice, path, &[(l[0].0, l[0].1.as_str())]).await }
        })),
    );
    for r in sims.iter().chain(&fleets) {
        assert_eq!(r.status, 200, "a concurrent update is not a conflict for the client: {:?}", r.body);
    }
    // Every update was decided and recorded; the last one written is what the resource shows.
    let history = app.log.read_stream(&format!("sim-{sim}"), 0).await.unwrap();
    let renames: Vec<String> = history
        .iter()
        .filter_map(|e| match &e.event {
            simledger_eventlog::Event::SimUpdated(u) => u.unique_name.clone().flatten(),
            _ => None,
        })
        .collect();
    assert_eq!(renames.len(), 32, "each of the 32 updates is in the log once");
    let shown = app.get(&app.alice, &sim_path).await.body;
    assert_eq!(shown["unique_name"].as_str(), renames.last().map(String::as_str));
    let fleet_history = app.log.read_stream(&format!("fleet-{fleet}"), 0).await.unwrap();
    assert_eq!(fleet_history.len(), 33, "created, then 32 updates");
    let limit = app.get(&app.alice, &fleet_path).await.body["data_limit"].clone();
    let last = match &fleet_history.last().unwrap().event {
        simledger_eventlog::Event::FleetUpdated(f) => f.data_limit_mb,
        other => panic!("{other:?}"),
    };
    assert_eq!(Some(limit.as_i64().unwrap()), last);
}
