//! `/v1/Fleets/{Sid}/Breakout` and usage by breakout region: a fleet names the region its data
//! sessions break out in; another account cannot touch it, a bad region changes nothing, and
//! `GET /v1/UsageRecords` groups and filters by the region the data broke out in.

mod common;

use chrono::{TimeZone, Utc};
use common::{assert_error, spawn_app, spawn_app_with_core};
use simledger_eventlog::catalog::{BreakoutRegion, ConnectionEvent};
use simledger_eventlog::{Event, ExpectedVersion, Metadata, NewEvent};

#[tokio::test]
async fn a_fleet_sets_its_region_and_no_one_else_can() {
    let app = spawn_app_with_core().await;
    let (_, fleet) = app.fleet(&app.alice).await;
    let path = format!("/v1/Fleets/{fleet}/Breakout");
    let initial = app.get(&app.alice, &path).await;
    assert_eq!(initial.status, 200, "{:?}", initial.body);
    assert!(initial.body["region"].is_null());
    assert_eq!(initial.body["effective_region"], "us-east");
    assert_eq!(initial.body["regions"], serde_json::json!(["us-east", "eu-west", "ap-southeast"]));

    let set = app.post(&app.alice, &path, &[("Region", "eu-west")]).await;
    assert_eq!(set.status, 200, "{:?}", set.body);
    assert_eq!(
        (set.body["region"].as_str(), set.body["effective_region"].as_str()),
        (Some("eu-west"), Some("eu-west"))
    );
    assert_eq!(set.body["url"], app.url(&path));

    // Another account's fleet is not there for Bob; bad regions and parameters are refused. None
    // of it logs anything.
    let head = app.log.head().await.unwrap();
    assert_error(&app.post(&app.bob, &path, &[("Region", "us-east")]).await, 404, 20404);
    assert_error(&app.get(&app.bob, &path).await, 404, 20404);
    for bad in [
        vec![("Region", "mars")],
        vec![("Region", "EU-WEST")],
        vec![("Region", "")],
        vec![("Region", "eu-west\u{0}")],
        vec![],
        vec![("Region", "eu-west"), ("Unknown", "x")],
    ] {
        assert_error(&app.post(&app.alice, &path, &bad).await, 400, 20001);
    }
    assert_eq!(app.log.head().await.unwrap(), head, "nothing was logged");
    assert_eq!(app.get(&app.alice, &path).await.body["region"], "eu-west", "unchanged");

    // Bob's own fleet keeps working, and `*none` returns Alice's to the default.
    let (_, bobs) = app.fleet(&app.bob).await;
    let r = app.post(&app.bob, &format!("/v1/Fleets/{bobs}/Breakout"), &[("Region", "ap-southeast")]).await;
    assert_eq!(r.body["region"], "ap-southeast", "{:?}", r.body);
    let reset = app.post(&app.alice, &path, &[("Region", "*none")]).await;
    assert!(reset.body["region"].is_null(), "{:?}", reset.body);
    assert_eq!(reset.body["effective_region"], "us-east");

    // The core follows the setting: Bob's SIM's next session breaks out in Singapore.
    let sim = app.sim(&app.bob, 7).await;
    let iccid = app.get(&app.bob, &format!("/v1/Sims/{sim}")).await.body["iccid"].as_str().unwrap().to_owned();
    let moved = app.post(&app.bob, &format!("/v1/Sims/{sim}"), &[("Fleet", &bobs), ("Status", "active")]).await;
    assert_eq!(moved.status, 200, "{:?}", moved.body);
    let imsi = format!("2341500000{:05}", 7);
    let attach = app.attach(&imsi, ("234", "15"), 1).await;
    let context = attach.context.unwrap_or_else(|| panic!("{iccid} attached: {:?}", attach.error));
    assert_eq!(context.subscriber.breakout_region, Some(BreakoutRegion::ApSoutheast));
}

fn window(account: &str, sim: &str, hour: u32, region: Option<BreakoutRegion>, bytes: i64) -> NewEvent {
    let end = Utc.with_ymd_and_hms(2026, 5, 1, hour, 30, 0).unwrap();
    let e = Event::DataSessionUpdated(ConnectionEvent {
        breakout_region: region,
        pgw: region.map(|r| format!("pgw-{r}")),
        ..simledger_test_support::window(account, sim, end, 0, bytes)
    });
    NewEvent::new(uuid::Uuid::new_v4(), "session-PI1", &e, &Metadata::from_source("test")).unwrap()
}

#[tokio::test]
async fn usage_is_grouped_and_filtered_by_breakout_region() {
    let app = spawn_app().await;
    let sim = app.sim(&app.alice, 1).await;
    let bobs = app.sim(&app.bob, 2).await;
    let batch = vec![
        window(&app.alice.sid, &sim, 1, Some(BreakoutRegion::EuWest), 1000),
        window(&app.alice.sid, &sim, 2, Some(BreakoutRegion::EuWest), 500),
        window(&app.alice.sid, &sim, 3, Some(BreakoutRegion::UsEast), 70),
        // Logged before regions: no region.
        window(&app.alice.sid, &sim, 4, None, 3),
        window(&app.bob.sid, &bobs, 1, Some(BreakoutRegion::EuWest), 99_999),
    ];
    let last = app.log.append(batch, ExpectedVersion::Any).await.unwrap().last().unwrap().position;
    assert!(app.usage.reached(last).await);

    let window = "StartTime=2026-05-01T00:00:00Z&EndTime=2026-05-02T00:00:00Z";
    let grouped = app.get(&app.alice, &format!("/v1/UsageRecords?{window}&Group=breakoutRegion")).await;
    assert_eq!(grouped.status, 200, "{:?}", grouped.body);
    let mut by_region: Vec<(Option<String>, i64)> = grouped.body["usage_records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["breakout_region"].as_str().map(str::to_owned), r["data_total"].as_i64().unwrap()))
        .collect();
    by_region.sort();
    assert_eq!(by_region, [(None, 3), (Some("eu-west".into()), 1500), (Some("us-east".into()), 70)], "Bob's not in it");

    let eu = app.get(&app.alice, &format!("/v1/UsageRecords?{window}&BreakoutRegion=eu-west")).await;
    let records = eu.body["usage_records"].as_array().unwrap();
    assert_eq!(records.len(), 1, "{:?}", eu.body);
    assert_eq!(
        (records[0]["data_total"].as_i64(), records[0]["breakout_region"].as_str()),
        (Some(1500), Some("eu-west"))
    );
    // Without a region asked for, a record reads as Twilio's.
    let plain = app.get(&app.alice, &format!("/v1/UsageRecords?{window}")).await;
    assert!(plain.body["usage_records"][0].get("breakout_region").is_none(), "{:?}", plain.body);
    assert_eq!(plain.body["usage_records"][0]["data_total"], 1573);

    assert_error(&app.get(&app.alice, &format!("/v1/UsageRecords?{window}&BreakoutRegion=mars")).await, 400, 20001);
    assert_error(&app.get(&app.alice, &format!("/v1/UsageRecords?{window}&Group=region")).await, 400, 20001);
}
