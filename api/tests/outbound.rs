//! Every URL the platform calls for a customer is held to the operator's destination policy:
//! without `--allow-private-destinations`, callbacks, fleet command URLs and `*http_post`
//! pointing at loopback, private or link-local (metadata) addresses are refused with nothing
//! stored, and another tenant keeps working.

mod common;

use common::{assert_error, spawn_app_public_only};
use serde_json::json;

const INTERNAL: &[&str] = &[
    "http://127.0.0.1:9000/cb",
    "http://localhost/cb",
    "http://169.254.169.254/latest/meta-data/iam",
    "http://10.0.0.7/cb",
    "http://[::1]/cb",
];

#[tokio::test]
async fn a_callback_to_loopback_is_refused() {
    let app = spawn_app_public_only().await;
    let sim = app.sim(&app.alice, 1).await;
    let head = app.log.head().await.unwrap();
    for url in INTERNAL {
        let r =
            app.post(&app.alice, "/v1/SmsCommands", &[("Sim", &sim), ("Payload", "hi"), ("CallbackUrl", url)]).await;
        assert_error(&r, 400, 20001);
        let r = app.post(&app.alice, &format!("/v1/Sims/{sim}"), &[("CallbackUrl", url)]).await;
        assert_error(&r, 400, 20001);
    }
    assert_eq!(app.log.head().await.unwrap(), head, "no refused command was logged");
    // A public URL is taken.
    let ok = app
        .post(
            &app.alice,
            "/v1/SmsCommands",
            &[("Sim", &sim), ("Payload", "hi"), ("CallbackUrl", "https://93.184.215.14/cb")],
        )
        .await;
    assert_eq!(ok.status, 201, "{:?}", ok.body);
}

#[tokio::test]
async fn a_fleet_command_url_to_the_metadata_service_is_refused() {
    let app = spawn_app_public_only().await;
    let (nap, fleet) = app.fleet(&app.alice).await;
    let head = app.log.head().await.unwrap();
    for url in INTERNAL {
        let created =
            app.post(&app.alice, "/v1/Fleets", &[("NetworkAccessProfile", &nap), ("SmsCommandsUrl", url)]).await;
        assert_error(&created, 400, 20001);
        let updated = app.post(&app.alice, &format!("/v1/Fleets/{fleet}"), &[("IpCommandsUrl", url)]).await;
        assert_error(&updated, 400, 20001);
    }
    assert_eq!(app.log.head().await.unwrap(), head);
    assert_eq!(app.get(&app.bob, "/v1/Fleets").await.status, 200, "another tenant keeps working");
}

#[tokio::test]
async fn an_http_post_action_to_an_internal_address_is_refused() {
    let app = spawn_app_public_only().await;
    let head = app.log.head().await.unwrap();
    for url in INTERNAL {
        let (result, error) = app
            .rpc(
                "APIerSv1.SetActions",
                json!({"ActionsId": "HOOK", "Actions": [{"Identifier": "*http_post", "ExtraParameters": url, "Weight": 10}]}),
            )
            .await;
        assert!(result.is_null(), "{result}");
        assert!(error.as_str().is_some_and(|e| e.contains("*http_post")), "{error}");
    }
    assert_eq!(app.log.head().await.unwrap(), head);
}
