//! Cross-tenant effects: what one tenant's billing actions or forged events can do to another
//! tenant's SIMs — nothing.

mod common;

use common::spawn_app;
use serde_json::json;
use simledger_eventlog::catalog::{SimStatus, SimStatusChanged};
use simledger_eventlog::{Event, ExpectedVersion, Metadata, NewEvent};

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
        sim_sid: sim.clone(),
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
