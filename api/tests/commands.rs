//! `/v1/SmsCommands` (delivered through the real SMSC) and `/v1/IpCommands`.

mod common;

use common::{assert_error, spawn_app, spawn_app_with_core};

#[tokio::test]
async fn an_sms_command_is_queued_then_delivered_by_the_smsc() {
    let app = spawn_app_with_core().await;
    let (_, fleet) = app.fleet(&app.alice).await;
    let sim = app.sim(&app.alice, 1).await;
    app.post(&app.alice, &format!("/v1/Sims/{sim}"), &[("Fleet", &fleet), ("Status", "active")]).await;
    let r = app.post(&app.alice, "/v1/SmsCommands", &[("Sim", &sim), ("Payload", "reboot")]).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let sid = r.body["sid"].as_str().unwrap().to_owned();
    assert!(sid.starts_with("HC"));
    // Queued when created; the SMSC may already have taken it by the time the answer is built.
    assert!(["queued", "sent", "delivered"].contains(&r.body["status"].as_str().unwrap()), "{:?}", r.body);
    assert_eq!(r.body["direction"], "to_sim");
    assert_eq!(r.body["payload"], "reboot");
    assert_eq!(r.body["sim_sid"], sim.as_str());
    let delivered = app.eventually(&app.alice, &format!("/v1/SmsCommands/{sid}"), |b| b["status"] == "delivered").await;
    assert_eq!(delivered["sid"], sid.as_str());
    let listed = app.get(&app.alice, &format!("/v1/SmsCommands?Sim={sim}&Status=delivered")).await.body;
    assert_eq!(listed["sms_commands"][0]["sid"], sid.as_str());
}

#[tokio::test]
async fn an_sms_to_a_sim_that_cannot_attach_fails() {
    let app = spawn_app_with_core().await;
    let sim = app.sim(&app.alice, 1).await;
    let r = app.post(&app.alice, "/v1/SmsCommands", &[("Sim", &sim), ("Payload", "hello")]).await;
    let sid = r.body["sid"].as_str().unwrap().to_owned();
    app.eventually(&app.alice, &format!("/v1/SmsCommands/{sid}"), |b| b["status"] == "failed").await;
}

#[tokio::test]
async fn sms_command_parameters_are_checked() {
    let app = spawn_app().await;
    let sim = app.sim(&app.alice, 1).await;
    let head = app.log.head().await.unwrap();
    assert_error(&app.post(&app.alice, "/v1/SmsCommands", &[("Payload", "x")]).await, 400, 20001);
    assert_error(&app.post(&app.alice, "/v1/SmsCommands", &[("Sim", &sim)]).await, 400, 20001);
    let long = "x".repeat(161);
    assert_error(&app.post(&app.alice, "/v1/SmsCommands", &[("Sim", &sim), ("Payload", &long)]).await, 400, 20001);
    let bad_cb = [("Sim", sim.as_str()), ("Payload", "x"), ("CallbackUrl", "nope")];
    assert_error(&app.post(&app.alice, "/v1/SmsCommands", &bad_cb).await, 400, 20001);
    assert_error(&app.get(&app.alice, "/v1/SmsCommands?Direction=sideways").await, 400, 20001);
    assert_error(&app.get(&app.alice, "/v1/SmsCommands/HC00000000000000000000000000000000").await, 404, 20404);
    assert_eq!(app.log.head().await.unwrap(), head);
}

#[tokio::test]
async fn an_ip_command_is_queued_with_its_fields() {
    let app = spawn_app().await;
    let sim = app.sim(&app.alice, 1).await;
    let r = app
        .post(
            &app.alice,
            "/v1/IpCommands",
            &[("Sim", &sim), ("Payload", "aGVsbG8="), ("DevicePort", "4000"), ("PayloadType", "binary")],
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let c = &r.body;
    assert!(c["sid"].as_str().unwrap().starts_with("HG"));
    assert_eq!((c["status"].as_str(), c["direction"].as_str()), (Some("queued"), Some("to_sim")));
    assert_eq!(c["device_port"], 4000);
    assert_eq!(c["payload_type"], "binary");
    assert!(c["device_ip"].is_null());
    assert_eq!(c["sim_iccid"], app.get(&app.alice, &format!("/v1/Sims/{sim}")).await.body["iccid"]);
    let listed = app.get(&app.alice, &format!("/v1/IpCommands?SimIccid={}", c["sim_iccid"].as_str().unwrap())).await;
    assert_eq!(listed.body["ip_commands"][0]["sid"], c["sid"]);
    for bad in [
        vec![("Sim", sim.as_str()), ("Payload", "x")],
        vec![("Sim", sim.as_str()), ("Payload", "x"), ("DevicePort", "70000")],
        vec![("Sim", sim.as_str()), ("Payload", "not base64!"), ("DevicePort", "1"), ("PayloadType", "binary")],
    ] {
        assert_error(&app.post(&app.alice, "/v1/IpCommands", &bad).await, 400, 20001);
    }
}

#[tokio::test]
async fn settings_updates_list_is_empty_but_checks_its_filters() {
    let app = spawn_app().await;
    let r = app.get(&app.alice, "/v1/SettingsUpdates?Status=scheduled").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["settings_updates"], serde_json::json!([]));
    assert_error(&app.get(&app.alice, "/v1/SettingsUpdates?Status=done").await, 400, 20001);
}

/// A customer's webhook endpoint: every request's path and form parameters.
/// What a callback receiver heard: the hook, the form parameters and the `X-Twilio-Signature`.
type Heard = (String, Vec<(String, String)>, String);

async fn capture() -> (String, tokio::sync::mpsc::UnboundedReceiver<Heard>) {
    use axum::extract::{Form, Path};
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/{hook}",
        axum::routing::post(
            move |Path(hook): Path<String>,
                  headers: axum::http::HeaderMap,
                  Form(params): Form<Vec<(String, String)>>| {
                let tx = tx.clone();
                async move {
                    let signature =
                        headers.get("x-twilio-signature").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
                    let _ = tx.send((hook, params, signature));
                    "ok"
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, rx)
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> &'a str {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or_default()
}

#[tokio::test]
async fn an_sms_commands_callback_hears_sent_then_delivered_and_an_mo_sms_reaches_the_fleets_url() {
    let app = spawn_app_with_core().await;
    let (hooks, mut heard) = capture().await;
    let (_, fleet) = app.fleet(&app.alice).await;
    let mo_url = format!("{hooks}/mo");
    app.post(&app.alice, &format!("/v1/Fleets/{fleet}"), &[("SmsCommandsUrl", &mo_url)]).await;
    let sim = app.sim(&app.alice, 1).await;
    app.post(&app.alice, &format!("/v1/Sims/{sim}"), &[("Fleet", &fleet), ("Status", "active")]).await;
    let status_url = format!("{hooks}/status");
    let r = app
        .post(&app.alice, "/v1/SmsCommands", &[("Sim", &sim), ("Payload", "ping"), ("CallbackUrl", &status_url)])
        .await;
    let sid = r.body["sid"].as_str().unwrap().to_owned();
    let mut statuses = Vec::new();
    while statuses.len() < 2 {
        let (hook, params, signature) =
            tokio::time::timeout(std::time::Duration::from_secs(15), heard.recv()).await.unwrap().unwrap();
        assert_eq!(hook, "status");
        // Signed as Twilio signs callbacks: under alice's auth token, over URL and parameters.
        let expected =
            simledger_exporters::outbound_calls::twilio_form_signature(&app.alice.secret, &status_url, &params);
        assert_eq!(signature, expected);
        assert_eq!(param(&params, "SmsCommandSid"), sid);
        assert_eq!(param(&params, "SimSid"), sim);
        statuses.push(param(&params, "Status").to_owned());
    }
    assert_eq!(statuses, ["sent", "delivered"]);

    // The device answers: an MO SMS through the SMSC is posted to the fleet's URL.
    let (_, names) = app.core.as_ref().unwrap();
    let imsi = "234150000000001"; // card 1's IMSI (see common::TestApp::card)
    let submit = simledger_core::protocol::SmsSubmit {
        direction: "from_sim".into(),
        imsi: imsi.into(),
        payload: "pong".into(),
        at: chrono::Utc::now(),
        seq: 1,
        sms_command_sid: None,
    };
    let subject = names.request(simledger_core::protocol::subjects::SMSC_SUBMIT);
    app.nats.request(subject, serde_json::to_vec(&submit).unwrap().into()).await.unwrap();
    let (hook, params, signature) =
        tokio::time::timeout(std::time::Duration::from_secs(15), heard.recv()).await.unwrap().unwrap();
    assert_eq!(hook, "mo");
    assert_eq!(
        signature,
        simledger_exporters::outbound_calls::twilio_form_signature(&app.alice.secret, &mo_url, &params)
    );
    assert_eq!((param(&params, "Payload"), param(&params, "Status")), ("pong", "received"));
    assert_eq!(param(&params, "Direction"), "from_sim");
    let listed =
        app.eventually(&app.alice, "/v1/SmsCommands?Direction=from_sim", |b| b["sms_commands"][0].is_object()).await;
    assert_eq!(listed["sms_commands"][0]["payload"], "pong");
}

#[tokio::test]
async fn an_esim_profile_is_reserved_with_an_activation_code() {
    let app = spawn_app().await;
    let r = app.post(&app.alice, "/v1/ESimProfiles", &[]).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let p = &r.body;
    let sid = p["sid"].as_str().unwrap();
    assert!(sid.starts_with("HP"));
    assert_eq!(p["status"], "available");
    assert!(p["eid"].is_null() && p["sim_sid"].is_null() && p["error_code"].is_null());
    let matching = p["matching_id"].as_str().expect("generated without an Eid");
    let smdp = p["smdp_plus_address"].as_str().unwrap();
    let host = smdp.strip_prefix("https://").expect("the SM-DP+ address is an https URI");
    assert_eq!(p["activation_code"], format!("LPA:1${host}${matching}"));
    assert_eq!(p["iccid"].as_str().unwrap().len(), 19);
    assert_eq!(app.get(&app.alice, &format!("/v1/ESimProfiles/{sid}")).await.body, r.body);

    let eid = "89049032000001000000012345678901";
    let bound = app.post(&app.alice, "/v1/ESimProfiles", &[("Eid", eid)]).await.body;
    assert_eq!(bound["eid"], eid);
    assert!(bound["matching_id"].is_null());
    let listed = app.get(&app.alice, &format!("/v1/ESimProfiles?Eid={eid}")).await.body;
    assert_eq!(listed["esim_profiles"].as_array().unwrap().len(), 1);
    assert_eq!(listed["meta"]["key"], "esim_profiles");
    assert_error(&app.post(&app.alice, "/v1/ESimProfiles", &[("Eid", "123")]).await, 400, 20001);
    assert_error(&app.get(&app.bob, &format!("/v1/ESimProfiles/{sid}")).await, 404, 20404);
    assert_error(&app.get(&app.alice, "/v1/ESimProfiles?Status=lost").await, 400, 20001);
}

/// The next callback heard, on the status hook.
async fn next_status(heard: &mut tokio::sync::mpsc::UnboundedReceiver<Heard>) -> Vec<(String, String)> {
    let (hook, params, _) =
        tokio::time::timeout(std::time::Duration::from_secs(15), heard.recv()).await.unwrap().unwrap();
    assert_eq!(hook, "status");
    params
}

#[tokio::test]
async fn an_ip_command_reaches_the_device_of_an_open_session_and_the_device_answers_to_the_fleets_url() {
    let app = spawn_app_with_core().await;
    let (hooks, mut heard) = capture().await;
    let (_, fleet) = app.fleet(&app.alice).await;
    let sim = app.sim(&app.alice, 1).await;
    app.post(&app.alice, &format!("/v1/Sims/{sim}"), &[("Fleet", &fleet), ("Status", "active")]).await;
    let status_url = format!("{hooks}/status");
    let send = |payload: &'static str| {
        let (app, sim, url) = (&app, sim.clone(), status_url.clone());
        async move {
            let form = [("Sim", sim.as_str()), ("Payload", payload), ("DevicePort", "4000"), ("CallbackUrl", &url)];
            let r = app.post(&app.alice, "/v1/IpCommands", &form).await;
            assert_eq!(r.status, 201, "{:?}", r.body);
            r.body["sid"].as_str().unwrap().to_owned()
        }
    };

    // No data session yet: the PGW has nowhere to send it.
    let lost = send("before").await;
    let failed = app.eventually(&app.alice, &format!("/v1/IpCommands/{lost}"), |b| b["status"] == "failed").await;
    assert!(failed["device_ip"].is_null());
    let params = next_status(&mut heard).await;
    assert_eq!((param(&params, "IpCommandSid"), param(&params, "Status")), (lost.as_str(), "failed"));
    assert_eq!(param(&params, "ErrorCode"), simledger_core::pgw::CODE_NO_DATA_SESSION.to_string());

    // The device attaches and opens a session: the datagram goes to its session address.
    let attached = app.attach("234150000000001", ("234", "15"), 1).await;
    let context = attached.context.expect("attached");
    let (_, names) = app.core.as_ref().unwrap();
    let create =
        simledger_core::protocol::CreateSessionRequest { context, apn: "super".into(), at: chrono::Utc::now(), seq: 2 };
    let subject = names.request(simledger_core::protocol::subjects::S11_CREATE_SESSION);
    let reply = app.nats.request(subject, serde_json::to_vec(&create).unwrap().into()).await.unwrap();
    let session: simledger_core::protocol::CreateSessionAnswer = serde_json::from_slice(&reply.payload).unwrap();
    let ip = session.ip_address.expect("a session address");
    let sid = send("hello").await;
    let received = app.eventually(&app.alice, &format!("/v1/IpCommands/{sid}"), |b| b["status"] == "received").await;
    assert_eq!(received["device_ip"], ip.as_str());
    let statuses: Vec<(String, String)> = [next_status(&mut heard).await, next_status(&mut heard).await]
        .iter()
        .map(|p| (param(p, "Status").to_owned(), param(p, "DeviceIp").to_owned()))
        .collect();
    assert_eq!(statuses, [("sent".to_owned(), ip.clone()), ("received".to_owned(), ip.clone())]);
    // The failed one stays failed; bob sees neither.
    let listed = app.get(&app.alice, "/v1/IpCommands?Status=failed").await.body;
    assert_eq!(listed["ip_commands"].as_array().unwrap().len(), 1);
    assert_eq!(app.get(&app.bob, &format!("/v1/IpCommands/{sid}")).await.status, 404);

    // The device answers from its session: posted to the fleet's IpCommandsUrl, listed from_sim.
    let mo_url = format!("{hooks}/mo");
    app.post(&app.alice, &format!("/v1/Fleets/{fleet}"), &[("IpCommandsUrl", &mo_url)]).await;
    let uplink = |imsi: &str, payload: &str, seq: u64| simledger_core::protocol::Uplink {
        imsi: imsi.into(),
        device_port: 5000,
        payload_type: "text".into(),
        payload: payload.into(),
        at: chrono::Utc::now(),
        seq,
    };
    let send_up = |u: simledger_core::protocol::Uplink| {
        let subject = names.request(simledger_core::protocol::subjects::SGI_UPLINK);
        let nats = app.nats.clone();
        async move {
            let reply = nats.request(subject, serde_json::to_vec(&u).unwrap().into()).await.unwrap();
            serde_json::from_slice::<simledger_core::protocol::UplinkAnswer>(&reply.payload).unwrap()
        }
    };
    // What the platform cannot take is dropped at the PGW, logging nothing: a NUL, too many
    // bytes, a device with no session.
    let head = app.log.head().await.unwrap();
    for bad in [
        uplink("234150000000001", "a\0b", 3),
        uplink("234150000000001", &"x".repeat(1301), 4),
        uplink("234150000000099", "hi", 5),
    ] {
        let answer = send_up(bad).await;
        assert_eq!(answer.error.map(|e| e.code), Some(simledger_core::pgw::CODE_UPLINK_DROPPED));
    }
    let answer = send_up(uplink("234150000000001", "pong", 6)).await;
    let mo_sid = answer.ip_command_sid.expect("taken");
    let (hook, params, signature) =
        tokio::time::timeout(std::time::Duration::from_secs(15), heard.recv()).await.unwrap().unwrap();
    assert_eq!(hook, "mo");
    assert_eq!(
        signature,
        simledger_exporters::outbound_calls::twilio_form_signature(&app.alice.secret, &mo_url, &params)
    );
    assert_eq!((param(&params, "IpCommandSid"), param(&params, "Payload")), (mo_sid.as_str(), "pong"));
    assert_eq!((param(&params, "Direction"), param(&params, "DeviceIp")), ("from_sim", ip.as_str()));
    let listed =
        app.eventually(&app.alice, "/v1/IpCommands?Direction=from_sim", |b| b["ip_commands"][0].is_object()).await;
    assert_eq!(listed["ip_commands"][0]["status"], "received");
    let from_sim: usize = app
        .log
        .read(head, 10_000)
        .await
        .unwrap()
        .iter()
        .filter(|e| matches!(e.event, simledger_eventlog::Event::IpCommandFromSim(_)))
        .count();
    assert_eq!(from_sim, 1, "only the datagram the platform took is logged");
}
