//! Authentication and tenant isolation: another account's resources do not exist for you.

mod common;

use common::{assert_error, spawn_app, spawn_app_with_rate_limit, Answer};
use simledger_commands::Credential;

#[tokio::test]
async fn requests_without_valid_credentials_are_20003() {
    let app = spawn_app().await;
    let none = app.send(app.http.get(app.url("/v1/Sims"))).await;
    assert_error(&none, 401, 20003);
    let wrong = Credential { secret: "0".repeat(32), ..app.alice.clone() };
    assert_error(&app.get(&wrong, "/v1/Sims").await, 401, 20003);
    let r = app.http.get(app.url("/v1/Sims")).send().await.unwrap();
    assert!(r.headers().get("www-authenticate").is_some());
}

#[tokio::test]
async fn an_api_key_authenticates_as_its_account() {
    let app = spawn_app().await;
    let sid = app.sim(&app.alice, 1).await;
    let key = app.accounts.create_key(&app.alice.sid, "ci").await.unwrap();
    assert!(key.sid.starts_with("SK"));
    let r = app.get(&key, &format!("/v1/Sims/{sid}")).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["account_sid"], app.alice.sid.as_str());
}

#[tokio::test]
async fn tokens_are_stored_only_as_hashes() {
    let app = spawn_app().await;
    let stored: Vec<String> =
        sqlx::query_scalar("SELECT auth_token_sha256 FROM accounts").fetch_all(app.log.pool()).await.unwrap();
    assert!(!stored.contains(&app.alice.secret));
    assert!(stored.iter().all(|h| h.len() == 64));
}

#[tokio::test]
async fn another_accounts_resources_are_not_found_and_not_listed() {
    let app = spawn_app().await;
    let (nap, fleet) = app.fleet(&app.alice).await;
    let sim = app.sim(&app.alice, 1).await;
    let bob = &app.bob;
    let not_found = |a: Answer| assert_error(&a, 404, 20404);
    not_found(app.get(bob, &format!("/v1/Sims/{sim}")).await);
    not_found(app.get(bob, &format!("/v1/Fleets/{fleet}")).await);
    not_found(app.get(bob, &format!("/v1/NetworkAccessProfiles/{nap}")).await);
    not_found(app.get(bob, &format!("/v1/NetworkAccessProfiles/{nap}/Networks")).await);
    not_found(app.post(bob, &format!("/v1/Sims/{sim}"), &[("UniqueName", "mine")]).await);
    not_found(app.post(bob, &format!("/v1/Fleets/{fleet}"), &[("DataLimit", "1")]).await);
    not_found(app.post(bob, &format!("/v1/NetworkAccessProfiles/{nap}"), &[("UniqueName", "mine")]).await);
    for list in ["/v1/Sims", "/v1/Fleets", "/v1/NetworkAccessProfiles", "/v1/SmsCommands", "/v1/IpCommands"] {
        let key = app.get(bob, list).await.body["meta"]["key"].as_str().unwrap().to_owned();
        assert_eq!(app.get(bob, list).await.body[&key], serde_json::json!([]), "{list}");
    }
    // Nor by paging into them with a token that points at Alice's SIM.
    let paged = app.get(bob, &format!("/v1/Sims?PageToken=PA{}", "0".repeat(32))).await;
    assert_eq!(paged.body["sims"], serde_json::json!([]));
    // Alice's data is as it was.
    assert!(app.get(&app.alice, &format!("/v1/Sims/{sim}")).await.body["unique_name"].is_null());
    assert_eq!(app.get(&app.alice, &format!("/v1/Fleets/{fleet}")).await.body["data_limit"], 250);
}

#[tokio::test]
async fn commands_to_another_accounts_sim_are_refused() {
    let app = spawn_app().await;
    let sim = app.sim(&app.alice, 1).await;
    let head = app.log.head().await.unwrap();
    let sms = app.post(&app.bob, "/v1/SmsCommands", &[("Sim", &sim), ("Payload", "hi")]).await;
    assert_error(&sms, 400, 20001);
    let ip = app.post(&app.bob, "/v1/IpCommands", &[("Sim", &sim), ("Payload", "hi"), ("DevicePort", "4000")]).await;
    assert_error(&ip, 400, 20001);
    assert_eq!(app.log.head().await.unwrap(), head);
}

#[tokio::test]
async fn operator_endpoints_need_an_operator_account() {
    let app = spawn_app().await;
    let r = app.post(&app.alice, "/operator/Accounts", &[("FriendlyName", "x")]).await;
    assert_error(&r, 403, 20403);
    let created = app.post(&app.operator, "/operator/Accounts", &[("FriendlyName", "carol")]).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let carol = Credential {
        sid: created.body["sid"].as_str().unwrap().to_owned(),
        secret: created.body["auth_token"].as_str().unwrap().to_owned(),
        friendly_name: "carol".into(),
    };
    assert_eq!(app.get(&carol, "/v1/Sims").await.status, 200);
}

#[tokio::test]
async fn the_operator_adds_and_imports_inventory_that_customers_register() {
    let app = spawn_app().await;
    let one = app
        .post(
            &app.operator,
            "/operator/Inventory",
            &[
                ("Iccid", "8988307000000000001"),
                ("RegistrationCode", "1111111111"),
                ("Imsi", "234150000000001"),
                ("Imsi", "310410000000001"),
            ],
        )
        .await;
    assert_eq!(one.status, 201, "{:?}", one.body);
    assert_eq!(one.body["imsis"].as_array().unwrap().len(), 2);
    let csv = "iccid,registration_code,imsis\n8988307000000000002,2222222222,234150000000002\n8988307000000000003,3333333333,234150000000003;310410000000003\n";
    let import = || {
        app.send(
            app.http
                .post(app.url("/operator/Inventory/Import"))
                .basic_auth(&app.operator.sid, Some(&app.operator.secret))
                .header("content-type", "text/csv")
                .body(csv),
        )
    };
    let first = import().await;
    assert_eq!(first.body, serde_json::json!({"imported": 2, "already_present": 0}));
    assert_eq!(import().await.body, serde_json::json!({"imported": 0, "already_present": 2}));
    let reg =
        app.post(&app.alice, "/v1/Sims", &[("Iccid", "8988307000000000003"), ("RegistrationCode", "3333333333")]).await;
    assert_eq!(reg.status, 201, "{:?}", reg.body);
    let bad = app
        .post(&app.operator, "/operator/Inventory", &[("Iccid", "12"), ("RegistrationCode", "1"), ("Imsi", "x")])
        .await;
    assert_error(&bad, 400, 20001);
}

#[tokio::test]
async fn an_account_over_its_request_rate_gets_20429_with_retry_after_and_others_do_not() {
    let app = spawn_app_with_rate_limit(3).await;
    for _ in 0..3 {
        assert_eq!(app.get(&app.alice, "/v1/Sims").await.status, 200);
    }
    let r = app.http.get(app.url("/v1/Sims")).basic_auth(&app.alice.sid, Some(&app.alice.secret)).send().await.unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_some());
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!((body["code"].as_u64(), body["status"].as_u64()), (Some(20429), Some(429)));
    assert_eq!(app.get(&app.bob, "/v1/Sims").await.status, 200, "each account has its own budget");
}

#[tokio::test]
async fn a_thousand_bad_logins_are_throttled() {
    let app = spawn_app().await;
    // Alice's own client has just used her credentials; bob has not called yet.
    assert_eq!(app.get(&app.alice, "/v1/Sims").await.status, 200);
    // The attacker comes from another loopback address.
    let attacker =
        reqwest::Client::builder().local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap()).build().unwrap();
    let (mut refused, mut throttled) = (0, 0);
    for n in 0..1000 {
        let r = attacker
            .get(app.url("/v1/Sims"))
            .basic_auth(&app.alice.sid, Some(format!("guess{n}")))
            .send()
            .await
            .unwrap();
        match r.status().as_u16() {
            401 => refused += 1,
            429 => {
                throttled += 1;
                let wait: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
                assert!((1..=60).contains(&wait), "Retry-After {wait}");
                let body: serde_json::Value = r.json().await.unwrap();
                assert_eq!(body["code"], 20429);
            }
            other => panic!("a bad login answered {other}"),
        }
    }
    assert!(refused <= 10, "{refused} guesses were checked against the database");
    assert_eq!(refused + throttled, 1000);
    // The attacker's address is throttled for other accounts too…
    let other = attacker.get(app.url("/v1/Sims")).basic_auth(&app.bob.sid, Some("x")).send().await.unwrap();
    assert_eq!(other.status(), 429);
    // …while alice's busy client and another tenant keep working.
    assert_eq!(app.get(&app.alice, "/v1/Sims").await.status, 200);
    assert_eq!(app.get(&app.bob, "/v1/Sims").await.status, 200);
}

#[tokio::test]
async fn a_revoked_api_key_stops_working_at_once() {
    let app = spawn_app().await;
    let key = |r: &Answer| Credential {
        sid: r.body["sid"].as_str().unwrap().to_owned(),
        secret: r.body["secret"].as_str().unwrap().to_owned(),
        friendly_name: "key".into(),
    };
    let stolen = key(&app.post(&app.operator, &format!("/operator/Accounts/{}/Keys", app.alice.sid), &[]).await);
    let kept = key(&app.post(&app.operator, &format!("/operator/Accounts/{}/Keys", app.alice.sid), &[]).await);
    assert_eq!(app.get(&stolen, "/v1/Sims").await.status, 200, "the key works (and is cached)");
    // Only an operator revokes, and only a key of the account named.
    let path = format!("/operator/Accounts/{}/Keys/{}", app.alice.sid, stolen.sid);
    assert_error(&app.delete(&app.alice, &path).await, 403, 20403);
    let wrong_account = format!("/operator/Accounts/{}/Keys/{}", app.bob.sid, stolen.sid);
    assert_error(&app.delete(&app.operator, &wrong_account).await, 404, 20404);
    assert_eq!(app.get(&stolen, "/v1/Sims").await.status, 200);
    assert_eq!(app.delete(&app.operator, &path).await.status, 204);
    assert_error(&app.get(&stolen, "/v1/Sims").await, 401, 20003);
    assert_error(&app.delete(&app.operator, &path).await, 404, 20404);
    // The account's other key and its auth token keep working.
    assert_eq!(app.get(&kept, "/v1/Sims").await.status, 200);
    assert_eq!(app.get(&app.alice, "/v1/Sims").await.status, 200);
}
