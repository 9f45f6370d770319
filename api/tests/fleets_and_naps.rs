//! `/v1/Fleets`, `/v1/NetworkAccessProfiles` (+ `Networks`) and `/v1/Networks`.

mod common;

use common::{assert_error, spawn_app, vodafone_uk};

#[tokio::test]
async fn a_fleet_is_created_with_twilio_defaults() {
    let app = spawn_app().await;
    let nap = app.post(&app.alice, "/v1/NetworkAccessProfiles", &[("UniqueName", "uk")]).await;
    assert_eq!(nap.status, 201);
    let r = app.post(&app.alice, "/v1/Fleets", &[("NetworkAccessProfile", "uk"), ("UniqueName", "trackers")]).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let f = &r.body;
    assert!(f["sid"].as_str().unwrap().starts_with("HF"));
    assert_eq!(f["network_access_profile_sid"], nap.body["sid"]);
    assert_eq!(f["data_enabled"], true);
    assert_eq!(f["data_limit"], 250);
    assert_eq!(f["data_metering"], "payg");
    assert_eq!(f["sms_commands_enabled"], true);
    assert_eq!(f["sms_commands_method"], "POST");
    assert!(f["sms_commands_url"].is_null() && f["ip_commands_url"].is_null());
    assert_eq!(f["url"], format!("{}/v1/Fleets/{}", app.base, f["sid"].as_str().unwrap()));
    assert_eq!(app.get(&app.alice, "/v1/Fleets/trackers").await.body, r.body);
}

#[tokio::test]
async fn a_fleet_needs_a_known_nap_and_a_limit_in_bounds() {
    let app = spawn_app().await;
    let (nap, _) = app.fleet(&app.alice).await;
    let head = app.log.head().await.unwrap();
    assert_error(&app.post(&app.alice, "/v1/Fleets", &[("UniqueName", "x")]).await, 400, 20001);
    for limit in ["0", "2000001", "lots"] {
        let r = app.post(&app.alice, "/v1/Fleets", &[("NetworkAccessProfile", &nap), ("DataLimit", limit)]).await;
        assert_error(&r, 400, 20001);
    }
    let bad_url = [("NetworkAccessProfile", nap.as_str()), ("SmsCommandsUrl", "ftp://x")];
    assert_error(&app.post(&app.alice, "/v1/Fleets", &bad_url).await, 400, 20001);
    let unknown_nap = [("NetworkAccessProfile", "HA00000000000000000000000000000000")];
    assert_error(&app.post(&app.alice, "/v1/Fleets", &unknown_nap).await, 400, 20001);
    assert_eq!(app.log.head().await.unwrap(), head);
}

#[tokio::test]
async fn a_fleet_update_changes_the_data_limit_and_keeps_the_rest() {
    let app = spawn_app().await;
    let (_, fleet) = app.fleet(&app.alice).await;
    let path = format!("/v1/Fleets/{fleet}");
    let r = app.post(&app.alice, &path, &[("DataLimit", "1000"), ("SmsCommandsUrl", "https://example.com/mo")]).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["data_limit"], 1000);
    assert_eq!(r.body["sms_commands_url"], "https://example.com/mo");
    assert_eq!(r.body["data_enabled"], true);
    assert_error(&app.post(&app.alice, &path, &[("DataLimit", "0")]).await, 400, 20001);
    assert_error(&app.post(&app.alice, "/v1/Fleets/nope", &[("DataLimit", "5")]).await, 404, 20404);
}

#[tokio::test]
async fn a_unique_name_taken_in_the_account_is_a_conflict() {
    let app = spawn_app().await;
    app.post(&app.alice, "/v1/NetworkAccessProfiles", &[("UniqueName", "uk")]).await;
    assert_error(&app.post(&app.alice, "/v1/NetworkAccessProfiles", &[("UniqueName", "uk")]).await, 409, 20409);
    // Another account may use the same name.
    assert_eq!(app.post(&app.bob, "/v1/NetworkAccessProfiles", &[("UniqueName", "uk")]).await.status, 201);
}

#[tokio::test]
async fn fleets_are_listed_by_nap() {
    let app = spawn_app().await;
    let (nap, fleet) = app.fleet(&app.alice).await;
    app.fleet(&app.alice).await;
    assert_eq!(app.get(&app.alice, "/v1/Fleets").await.body["fleets"].as_array().unwrap().len(), 2);
    let by_nap = app.get(&app.alice, &format!("/v1/Fleets?NetworkAccessProfile={nap}")).await.body;
    assert_eq!(by_nap["fleets"].as_array().unwrap().len(), 1);
    assert_eq!(by_nap["fleets"][0]["sid"], fleet.as_str());
    assert_eq!(by_nap["meta"]["key"], "fleets");
}

#[tokio::test]
async fn a_nap_is_created_with_repeated_networks_and_renamed() {
    let app = spawn_app().await;
    let o2 = simledger_eventlog::networks::network_sid("234", "10");
    let r = app.post(&app.alice, "/v1/NetworkAccessProfiles", &[("Networks", &vodafone_uk()), ("Networks", &o2)]).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let sid = r.body["sid"].as_str().unwrap();
    assert!(sid.starts_with("HA"));
    assert!(r.body["unique_name"].is_null());
    assert_eq!(r.body["links"]["networks"], format!("{}/v1/NetworkAccessProfiles/{sid}/Networks", app.base));
    let networks = app.get(&app.alice, &format!("/v1/NetworkAccessProfiles/{sid}/Networks")).await.body;
    assert_eq!(networks["networks"].as_array().unwrap().len(), 2);
    assert_eq!(networks["meta"]["key"], "networks");
    let renamed = app.post(&app.alice, &format!("/v1/NetworkAccessProfiles/{sid}"), &[("UniqueName", "europe")]).await;
    assert_eq!(renamed.body["unique_name"], "europe");
    assert_eq!(app.get(&app.alice, "/v1/NetworkAccessProfiles/europe").await.body["sid"], sid);
    let list = app.get(&app.alice, "/v1/NetworkAccessProfiles").await.body;
    assert_eq!(list["meta"]["key"], "network_access_profiles");
    assert_eq!(list["network_access_profiles"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn nap_networks_are_added_fetched_and_removed() {
    let app = spawn_app().await;
    let nap = app.post(&app.alice, "/v1/NetworkAccessProfiles", &[]).await.body["sid"].as_str().unwrap().to_owned();
    let path = format!("/v1/NetworkAccessProfiles/{nap}/Networks");
    let uk = vodafone_uk();
    let added = app.post(&app.alice, &path, &[("Network", &uk)]).await;
    assert_eq!(added.status, 201, "{:?}", added.body);
    assert_eq!(added.body["sid"], uk.as_str());
    assert_eq!(added.body["network_access_profile_sid"], nap.as_str());
    assert_eq!(added.body["iso_country"], "GB");
    assert_eq!(added.body["identifiers"], serde_json::json!([{"mcc": "234", "mnc": "15"}]));
    assert_eq!(added.body["url"], format!("{}{path}/{uk}", app.base));
    assert_eq!(app.get(&app.alice, &format!("{path}/{uk}")).await.body, added.body);
    assert_eq!(app.delete(&app.alice, &format!("{path}/{uk}")).await.status, 204);
    assert_error(&app.get(&app.alice, &format!("{path}/{uk}")).await, 404, 20404);
    assert_error(&app.delete(&app.alice, &format!("{path}/{uk}")).await, 404, 20404);
    assert_error(&app.post(&app.alice, &path, &[]).await, 400, 20001);
    assert_error(&app.post(&app.alice, &path, &[("Network", "HW00000000000000000000000000000000")]).await, 400, 20001);
}

#[tokio::test]
async fn the_network_catalogue_filters_by_country_and_plmn() {
    let app = spawn_app().await;
    let gb = app.get(&app.alice, "/v1/Networks?IsoCountry=GB&PageSize=1000").await.body;
    let networks = gb["networks"].as_array().unwrap();
    assert!(networks.len() > 5);
    assert!(networks.iter().all(|n| n["iso_country"] == "GB"));
    let vodafone = app.get(&app.alice, "/v1/Networks?Mcc=234&Mnc=15").await.body;
    assert_eq!(vodafone["networks"].as_array().unwrap().len(), 1);
    let sid = vodafone["networks"][0]["sid"].as_str().unwrap();
    assert_eq!(sid, vodafone_uk());
    let fetched = app.get(&app.alice, &format!("/v1/Networks/{sid}")).await;
    assert_eq!(fetched.body, vodafone["networks"][0]);
    assert_error(&app.get(&app.alice, "/v1/Networks/HW00000000000000000000000000000000").await, 404, 20404);
}
