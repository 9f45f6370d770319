//! Signals of stolen or hacked devices end to end: attaches through the core, the
//! device-signals decider raising `sim.signal_raised`, billing running the action group the
//! fleet bound (`*suspend_sim`, or `*http_post` and `*set_fleet_data_limit`) and the HSS refusing
//! a suspended SIM from then on. And the abuse of it:
//! another account's fleet, bad thresholds, and a fleet with no actions bound change nothing.

mod common;

use chrono::{Duration, Utc};
use common::{assert_error, spawn_app_with_core, TestApp};
use serde_json::json;
use simledger_eventlog::catalog::DeviceSignal;
use simledger_eventlog::Event;

const UK: (&str, &str) = ("234", "15");
const PHONE: &str = "356938035643809";
const THIEFS_PHONE: &str = "490154203237518";

/// Waits (bounded) until the log holds `n` connection events of `kind` for `sim`.
async fn logged(app: &TestApp, kind: &str, sim: &str, n: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let events = app.log.read(0, 100_000).await.unwrap();
        let seen = events.iter().filter(|e| e.event.event_type() == kind && e.event.sim_sid() == Some(sim)).count();
        if seen >= n {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{n} {kind} for {sim} never logged; saw {seen}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The signals raised for `sim`, once the decider has seen the whole log.
async fn signals(app: &TestApp, sim: &str) -> Vec<DeviceSignal> {
    assert!(app.device_signals.reached(app.log.head().await.unwrap()).await);
    let events = app.log.read(0, 100_000).await.unwrap();
    events
        .iter()
        .filter_map(|e| match &e.event {
            Event::SimSignalRaised(s) if s.sim_sid.as_str() == sim => Some(s.signal),
            _ => None,
        })
        .collect()
}

/// An active SIM (card `n`) of `who` in `fleet`; returns its SID and IMSI.
async fn active_sim(app: &TestApp, who: &simledger_commands::Credential, fleet: &str, n: u32) -> (String, String) {
    let sim = app.sim(who, n).await;
    let r = app.post(who, &format!("/v1/Sims/{sim}"), &[("Fleet", fleet), ("Status", "active")]).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    (sim, format!("2341500000{n:05}"))
}

#[tokio::test]
async fn a_sim_moved_to_another_device_is_suspended_by_the_fleets_actions_and_the_normal_fleet_is_untouched() {
    let app = spawn_app_with_core().await;
    app.rpc_ok(
        "APIerSv1.SetActions",
        json!({"ActionsId": "STOLEN", "Actions": [{"Identifier": "*suspend_sim", "Weight": 10}]}),
    )
    .await;
    let (_, fleet) = app.fleet(&app.alice).await;
    let policy = app.post(&app.alice, &format!("/v1/Fleets/{fleet}/DeviceSignals"), &[("ActionsId", "STOLEN")]).await;
    assert_eq!(policy.status, 200, "{:?}", policy.body);
    assert_eq!(policy.body["actions_id"], "STOLEN");
    assert_eq!(policy.body["usage_spike_factor"], 10);
    let (stolen, stolen_imsi) = active_sim(&app, &app.alice, &fleet, 1).await;
    let (normal, normal_imsi) = active_sim(&app, &app.alice, &fleet, 2).await;
    let t0 = Utc::now();

    // Both attach from their devices, again and again: nothing to say.
    for (i, minutes) in [0, 30, 60].into_iter().enumerate() {
        let at = t0 + Duration::minutes(minutes);
        assert!(app.attach_from(&stolen_imsi, PHONE, UK, at, i as u64).await.accepted);
        assert!(app.attach_from(&normal_imsi, PHONE, UK, at, 10 + i as u64).await.accepted);
    }
    // The card is moved to another device.
    let swap = app.attach_from(&stolen_imsi, THIEFS_PHONE, UK, t0 + Duration::minutes(90), 3).await;
    assert!(swap.accepted, "the attach itself is accepted; the decision follows it");
    let suspended = app.eventually(&app.alice, &format!("/v1/Sims/{stolen}"), |b| b["status"] == "inactive").await;
    assert_eq!(suspended["status"], "inactive");
    let again = app.attach_from(&stolen_imsi, THIEFS_PHONE, UK, t0 + Duration::minutes(91), 4).await;
    assert!(!again.accepted, "the HSS refuses the suspended SIM");

    logged(&app, simledger_core::events::ATTACHMENT_ACCEPTED, &normal, 3).await;
    assert_eq!(signals(&app, &stolen).await, [DeviceSignal::ImeiChanged]);
    assert_eq!(signals(&app, &normal).await, [], "nothing fires for the normal SIM");
    assert_eq!(app.get(&app.alice, &format!("/v1/Sims/{normal}")).await.body["status"], "active");
    let reason: Option<String> = sqlx::query_scalar(
        "SELECT data->>'reason' FROM events WHERE type = 'sim.status_changed' AND data->>'sim_sid' = $1 \
         AND data->>'to' = 'inactive'",
    )
    .bind(&stolen)
    .fetch_optional(app.log.pool())
    .await
    .unwrap();
    assert_eq!(reason.as_deref(), Some("billing:*suspend_sim"));
}

#[tokio::test]
async fn a_signal_can_post_to_the_customer_and_lower_the_fleets_limit_instead() {
    let app = spawn_app_with_core().await;
    let hook = common::receiver::Receiver::start().await;
    app.rpc_ok(
        "APIerSv1.SetActions",
        json!({"ActionsId": "ALERT", "Actions": [
            {"Identifier": "*http_post", "ExtraParameters": hook.url("/stolen"), "Weight": 20},
            {"Identifier": "*set_fleet_data_limit", "ExtraParameters": "1", "Weight": 10}]}),
    )
    .await;
    let (_, fleet) = app.fleet(&app.alice).await;
    let r = app.post(&app.alice, &format!("/v1/Fleets/{fleet}/DeviceSignals"), &[("ActionsId", "ALERT")]).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let (sim, imsi) = active_sim(&app, &app.alice, &fleet, 1).await;
    let t0 = Utc::now();
    assert!(app.attach_from(&imsi, PHONE, UK, t0, 1).await.accepted);
    assert!(app.attach_from(&imsi, THIEFS_PHONE, UK, t0 + Duration::minutes(5), 2).await.accepted);

    let limited = app.eventually(&app.alice, &format!("/v1/Fleets/{fleet}"), |b| b["data_limit"] == 1).await;
    assert_eq!(limited["data_limit"], 1);
    hook.wait_for_requests(1, std::time::Duration::from_secs(15)).await;
    let posted: serde_json::Value = serde_json::from_slice(&hook.requests()[0].body).unwrap();
    assert_eq!(posted["ID"].as_str().unwrap().rsplit(':').next(), Some(sim.as_str()), "{posted}");
    assert_eq!(app.get(&app.alice, &format!("/v1/Sims/{sim}")).await.body["status"], "active", "not suspended");
}

#[tokio::test]
async fn impossible_travel_and_an_attach_storm_are_raised_and_a_fleet_without_actions_only_signals() {
    let app = spawn_app_with_core().await;
    let us = simledger_eventlog::networks::network_sid("310", "260");
    let networks = [("Networks", common::vodafone_uk()), ("Networks", us)];
    let form: Vec<(&str, &str)> = networks.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let nap = app.post(&app.alice, "/v1/NetworkAccessProfiles", &form).await;
    assert_eq!(nap.status, 201, "{:?}", nap.body);
    let fleet =
        app.post(&app.alice, "/v1/Fleets", &[("NetworkAccessProfile", nap.body["sid"].as_str().unwrap())]).await;
    let fleet = fleet.body["sid"].as_str().unwrap().to_owned();
    let r = app.post(&app.alice, &format!("/v1/Fleets/{fleet}/DeviceSignals"), &[("AttachStormRejections", "3")]).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let (sim, imsi) = active_sim(&app, &app.alice, &fleet, 1).await;
    let t0 = Utc::now();
    // London, then New York half an hour later.
    assert!(app.attach_from(&imsi, PHONE, UK, t0, 1).await.accepted);
    assert!(app.attach_from(&imsi, PHONE, ("310", "260"), t0 + Duration::minutes(30), 2).await.accepted);
    // Then refused again and again on a German network the profile does not allow.
    for i in 0..3 {
        let refused = app.attach_from(&imsi, PHONE, ("262", "01"), t0 + Duration::minutes(40 + i), 3 + i as u64).await;
        assert!(!refused.accepted);
    }
    logged(&app, simledger_core::events::ATTACHMENT_REJECTED, &sim, 3).await;
    assert_eq!(signals(&app, &sim).await, [DeviceSignal::ImpossibleTravel, DeviceSignal::AttachStorm]);
    assert_eq!(app.get(&app.alice, &format!("/v1/Sims/{sim}")).await.body["status"], "active", "no actions bound");

    // Signals are an Event Streams type customers can subscribe to.
    let types = app.get(&app.alice, "/v1/Types?PageSize=100").await.body;
    let names: Vec<&str> = types["types"].as_array().unwrap().iter().filter_map(|t| t["type"].as_str()).collect();
    assert!(names.contains(&"com.simledger.sim.signal_raised"), "{names:?}");
}

#[tokio::test]
async fn another_accounts_fleet_and_bad_thresholds_are_refused_and_change_nothing() {
    let app = spawn_app_with_core().await;
    let (_, fleet) = app.fleet(&app.alice).await;
    let path = format!("/v1/Fleets/{fleet}/DeviceSignals");
    let set = app.post(&app.alice, &path, &[("ActionsId", "STOLEN"), ("UsageSpikeFactor", "5")]).await;
    assert_eq!(set.status, 200, "{:?}", set.body);

    assert_error(&app.post(&app.bob, &path, &[("ActionsId", "MINE")]).await, 404, 20404);
    assert_error(&app.get(&app.bob, &path).await, 404, 20404);
    for bad in [
        ("UsageSpikeFactor", "1"),
        ("UsageSpikeFactor", "1001"),
        ("AttachStormRejections", "0"),
        ("AttachStormRejections", "99999999999999999999"),
        ("ActionsId", "has spaces in it"),
        ("Unknown", "x"),
    ] {
        let r = app.post(&app.alice, &path, &[bad]).await;
        assert_eq!(r.status, 400, "{bad:?}: {:?}", r.body);
    }
    let now = app.get(&app.alice, &path).await.body;
    assert_eq!((now["actions_id"].as_str(), now["usage_spike_factor"].as_i64()), (Some("STOLEN"), Some(5)));
    assert_eq!(now["attach_storm_rejections"], 20, "the default, untouched");
    // `*none` unbinds, as CGrateS writes "no IDs".
    let unbound = app.post(&app.alice, &path, &[("ActionsId", "*none")]).await;
    assert!(unbound.body["actions_id"].is_null(), "{:?}", unbound.body);
    // Bob's own fleet keeps working.
    let (_, bobs) = app.fleet(&app.bob).await;
    let r = app.post(&app.bob, &format!("/v1/Fleets/{bobs}/DeviceSignals"), &[("UsageSpikeFactor", "20")]).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}
