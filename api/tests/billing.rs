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
