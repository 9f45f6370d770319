//! Per-IMSI control end to end: the REST API appends `sim.imsi_updated`, the HSS applies it at
//! the IMSI's next attach, the refusal is a connection event in the log. And the abuse of it:
//! another account, bad input and the customer at the operator's door change nothing.

mod common;

use std::time::Duration;

use common::{assert_error, spawn_app, spawn_app_with_core, TestApp};
use simledger_core::protocol::AttachAnswer;
use simledger_eventlog::networks::network_sid;
use simledger_eventlog::Event;

const HOME: &str = "234150000000771";
const ROAMING: &str = "310260000000771";
const UK: (&str, &str) = ("234", "15");
const DE: (&str, &str) = ("262", "01");
const FR: (&str, &str) = ("208", "01");

fn net((mcc, mnc): (&str, &str)) -> String {
    network_sid(mcc, mnc)
}

/// A two-IMSI card from the operator, registered by alice and active in a fleet whose profile
/// allows UK, DE and FR. Returns the SIM's SID.
async fn roaming_sim(app: &TestApp) -> String {
    let card =
        [("Iccid", "8988307000000000771"), ("RegistrationCode", "1234567890"), ("Imsi", HOME), ("Imsi", ROAMING)];
    let r = app.post(&app.operator, "/operator/Inventory", &card).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let (uk, de, fr) = (net(UK), net(DE), net(FR));
    let nap = app
        .post(&app.alice, "/v1/NetworkAccessProfiles", &[("Networks", &uk), ("Networks", &de), ("Networks", &fr)])
        .await;
    assert_eq!(nap.status, 201, "{:?}", nap.body);
    let fleet =
        app.post(&app.alice, "/v1/Fleets", &[("NetworkAccessProfile", nap.body["sid"].as_str().unwrap())]).await;
    let fleet = fleet.body["sid"].as_str().unwrap().to_owned();
    let sim =
        app.post(&app.alice, "/v1/Sims", &[("Iccid", "8988307000000000771"), ("RegistrationCode", "1234567890")]).await;
    assert_eq!(sim.status, 201, "{:?}", sim.body);
    let sim = sim.body["sid"].as_str().unwrap().to_owned();
    let r = app.post(&app.alice, &format!("/v1/Sims/{sim}"), &[("Fleet", &fleet), ("Status", "active")]).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    sim
}

/// Waits (bounded) until an event matching `pred` is in the log.
async fn logged(app: &TestApp, pred: impl Fn(&Event) -> bool) {
    let mut sub = app.log.subscribe(0, 1000).await.unwrap();
    let found = tokio::time::timeout(Duration::from_secs(15), async {
        while !sub.next_batch().await.unwrap().iter().any(|e| pred(&e.event)) {}
    })
    .await;
    assert!(found.is_ok(), "the event reached the log in time");
}

fn refused_with(a: &AttachAnswer) -> Option<i64> {
    a.error.as_ref().map(|e| e.code)
}

#[tokio::test]
async fn a_roaming_imsi_kept_to_two_networks_attaches_only_there_and_the_home_imsi_is_unaffected() {
    let app = spawn_app_with_core().await;
    let sim = roaming_sim(&app).await;
    let base = format!("/v1/Sims/{sim}/Imsis");

    let listed = app.get(&app.alice, &base).await;
    assert_eq!(listed.status, 200, "{:?}", listed.body);
    let imsis: Vec<(&str, bool)> = listed.body["imsis"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["imsi"].as_str().unwrap(), i["allowed"] == true))
        .collect();
    assert_eq!(imsis, [(HOME, true), (ROAMING, true)]);
    assert_eq!(listed.body["meta"]["key"], "imsis");

    // When the roaming IMSI is kept to Germany and France.
    for network in [DE, FR] {
        let r = app.post(&app.alice, &format!("{base}/{ROAMING}/Networks"), &[("Network", &net(network))]).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        assert_eq!(r.body["sid"], net(network));
        assert_eq!(r.body["imsi"], ROAMING);
    }
    let roaming = app.get(&app.alice, &format!("{base}/{ROAMING}")).await.body;
    let mut expected = vec![net(DE), net(FR)];
    expected.sort();
    assert_eq!(roaming["networks"], serde_json::json!(expected));
    let networks = app.get(&app.alice, &format!("{base}/{ROAMING}/Networks")).await.body;
    assert_eq!(networks["networks"].as_array().unwrap().len(), 2);

    // Then it attaches there, is refused in the UK, and the home IMSI attaches in the UK.
    assert_eq!(refused_with(&app.attach(ROAMING, DE, 1).await), None);
    assert_eq!(refused_with(&app.attach(ROAMING, FR, 2).await), None);
    let uk = app.attach(ROAMING, UK, 3).await;
    assert_eq!(refused_with(&uk), Some(simledger_core::hss::CODE_IMSI_NETWORK_NOT_ALLOWED), "{uk:?}");
    assert_eq!(refused_with(&app.attach(HOME, UK, 4).await), None);

    // The refusal is a connection event (ingest brings it); the changes are events of the SIM's
    // stream.
    logged(&app, |e| {
        matches!(e, Event::AttachmentRejected(c) if c.imsi == ROAMING
            && c.error.as_ref().is_some_and(|x| x.code == simledger_core::hss::CODE_IMSI_NETWORK_NOT_ALLOWED))
    })
    .await;
    let log = app.log.read(0, 100_000).await.unwrap();
    let changes =
        log.iter().filter(|e| matches!(&e.event, Event::SimImsiUpdated(u) if u.imsi.as_str() == ROAMING)).count();
    assert_eq!(changes, 2);

    // When Germany is removed, the roaming IMSI is refused there at its next attach.
    let r = app.delete(&app.alice, &format!("{base}/{ROAMING}/Networks/{}", net(DE))).await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    assert_eq!(
        refused_with(&app.attach(ROAMING, DE, 5).await),
        Some(simledger_core::hss::CODE_IMSI_NETWORK_NOT_ALLOWED)
    );
    assert_eq!(refused_with(&app.attach(ROAMING, FR, 6).await), None);

    // When the home IMSI is disallowed, it is refused anywhere; allowed again, it attaches.
    let r = app.post(&app.alice, &format!("{base}/{HOME}"), &[("Allowed", "false")]).await;
    assert_eq!((r.status, &r.body["allowed"]), (200, &serde_json::json!(false)), "{:?}", r.body);
    assert_eq!(refused_with(&app.attach(HOME, UK, 7).await), Some(simledger_core::hss::CODE_IMSI_NOT_ALLOWED));
    app.post(&app.alice, &format!("{base}/{HOME}"), &[("Allowed", "true")]).await;
    assert_eq!(refused_with(&app.attach(HOME, UK, 8).await), None);
}

#[tokio::test]
async fn another_account_bad_input_and_a_customer_at_the_operators_door_change_nothing() {
    let app = spawn_app().await;
    let sim = app.sim(&app.alice, 1).await;
    let imsi = "234150000000001";
    let base = format!("/v1/Sims/{sim}/Imsis");
    let head = app.log.head().await.unwrap();

    // Bob cannot see or touch alice's SIM: it is not found, as any SID of another account.
    assert_error(&app.get(&app.bob, &base).await, 404, 20404);
    assert_error(&app.get(&app.bob, &format!("{base}/{imsi}")).await, 404, 20404);
    assert_error(&app.post(&app.bob, &format!("{base}/{imsi}"), &[("Allowed", "false")]).await, 404, 20404);
    let add = [("Network", common::vodafone_uk())];
    let add: Vec<(&str, &str)> = add.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_error(&app.post(&app.bob, &format!("{base}/{imsi}/Networks"), &add).await, 404, 20404);
    // Nor can a customer use the operator's endpoints, for any SIM.
    assert_error(&app.get(&app.alice, &format!("/operator/Sims/{sim}/Imsis")).await, 403, 20403);
    assert_error(
        &app.post(&app.bob, &format!("/operator/Sims/{sim}/Imsis/{imsi}"), &[("Allowed", "false")]).await,
        403,
        20403,
    );

    // Bad input, each a Twilio error, none a change.
    assert_error(&app.post(&app.alice, &format!("{base}/{imsi}"), &[]).await, 400, 20001);
    assert_error(&app.post(&app.alice, &format!("{base}/{imsi}"), &[("Allowed", "maybe")]).await, 400, 20001);
    assert_error(
        &app.post(&app.alice, &format!("{base}/{imsi}"), &[("Allowed", "true"), ("Nope", "1")]).await,
        400,
        20001,
    );
    assert_error(
        &app.post(&app.alice, &format!("{base}/{imsi}/Networks"), &[("Network", "HWnot-a-network")]).await,
        400,
        20001,
    );
    let huge = "9".repeat(5000);
    assert_error(&app.post(&app.alice, &format!("{base}/{huge}"), &[("Allowed", "false")]).await, 404, 20404);
    assert_error(&app.get(&app.alice, &format!("{base}/310260000000001")).await, 404, 20404);
    assert_error(
        &app.delete(&app.alice, &format!("{base}/{imsi}/Networks/{}", common::vodafone_uk())).await,
        404,
        20404,
    );
    assert_eq!(app.log.head().await.unwrap(), head, "nothing was appended");

    // Alice, and the operator on a card in inventory, still work.
    let r = app.post(&app.alice, &format!("{base}/{imsi}"), &[("Allowed", "false")]).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let card = app.card(2).await;
    let inventory: String = sqlx::query_scalar("SELECT sim_sid FROM registry_sims WHERE iccid = $1")
        .bind(&card)
        .fetch_one(app.log.pool())
        .await
        .unwrap();
    let r = app
        .post(&app.operator, &format!("/operator/Sims/{inventory}/Imsis/234150000000002"), &[("Allowed", "false")])
        .await;
    assert_eq!((r.status, &r.body["allowed"]), (200, &serde_json::json!(false)), "{:?}", r.body);
    let listed = app.get(&app.operator, &format!("/operator/Sims/{inventory}/Imsis")).await;
    assert_eq!(listed.body["imsis"][0]["allowed"], false, "{:?}", listed.body);
    // The operator's change of alice's SIM is hers to see.
    let r = app.post(&app.operator, &format!("/operator/Sims/{sim}/Imsis/{imsi}"), &[("Allowed", "true")]).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(app.get(&app.alice, &format!("{base}/{imsi}")).await.body["allowed"], true);
}

#[tokio::test]
async fn concurrent_changes_of_one_imsi_all_land() {
    let app = spawn_app().await;
    let sim = app.sim(&app.alice, 1).await;
    let imsi = "234150000000001";
    let path = format!("/v1/Sims/{sim}/Imsis/{imsi}/Networks");
    let networks: Vec<String> =
        simledger_eventlog::networks::catalog().all().iter().take(16).map(|n| n.sid.clone()).collect();
    let answers = futures_util::future::join_all(networks.iter().map(|n| {
        let (app, path) = (&app, &path);
        async move { app.post(&app.alice, path, &[("Network", n.as_str())]).await }
    }))
    .await;
    for a in &answers {
        assert_eq!(a.status, 201, "{:?}", a.body);
    }
    let held = app.get(&app.alice, &format!("/v1/Sims/{sim}/Imsis/{imsi}")).await.body;
    assert_eq!(held["networks"].as_array().unwrap().len(), 16, "every concurrent add landed: {held:?}");
}
