//! Twilio Event Streams v1 through the API, with delivery running: sinks, the test/validate
//! handshake, subscriptions, tenancy, bad input, failing receivers, rewinds, types and schemas.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use common::cdr_events::ended_session;
use common::receiver::Receiver;
use common::{assert_error, spawn_app, spawn_app_public_only, TestApp};
use serde_json::Value;
use simledger_commands::Credential;
use simledger_eventlog::{Event, ExpectedVersion, Metadata, NewEvent};

const ENDED: &str = "com.twilio.iot.supersim.connection.data-session.ended";

/// A data session's `ended` event for `account`, numbered `n`, with an event SID of its own.
fn ended(account: &str, sim: &str, n: u32) -> Event {
    let Event::DataSessionEnded(mut c) = ended_session(account, sim, n, 1000 + i64::from(n)) else { unreachable!() };
    c.event_sid = format!(
        "EZ{:032x}",
        uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, format!("{account}{n}").as_bytes()).as_u128()
    );
    Event::DataSessionEnded(c)
}

/// Appends events as the core's ingest would; returns the last position.
async fn append(app: &TestApp, events: Vec<Event>) -> i64 {
    let batch = events
        .iter()
        .map(|e| NewEvent::new(uuid::Uuid::new_v4(), "session-test", e, &Metadata::from_source("pgw")).unwrap())
        .collect();
    app.log.append(batch, ExpectedVersion::Any).await.unwrap().last().unwrap().position
}

fn webhook_config(destination: &str, batch: bool) -> String {
    serde_json::json!({"destination": destination, "method": "POST", "batch_events": batch}).to_string()
}

/// A webhook sink of `who` to `receiver`, tested and validated (`active`), subscribed to
/// `types`. Returns (sink, subscription).
async fn active_sink(
    app: &TestApp,
    who: &Credential,
    receiver: &Receiver,
    batch: bool,
    types: &[&str],
) -> (String, String) {
    let config = webhook_config(&receiver.url("/hook"), batch);
    let sink = app
        .post(
            who,
            "/v1/Sinks",
            &[("Description", "fleet events"), ("SinkType", "webhook"), ("SinkConfiguration", &config)],
        )
        .await;
    assert_eq!(sink.status, 201, "{:?}", sink.body);
    assert_eq!(sink.body["status"], "initialized");
    let sid = sink.body["sid"].as_str().unwrap().to_owned();
    assert!(sid.starts_with("DG") && sid.len() == 34);
    let test = app.post(who, &format!("/v1/Sinks/{sid}/Test"), &[]).await;
    assert_eq!((test.status, test.body["result"].as_str()), (201, Some("submitted")));
    let test_id = receiver.test_id().await;
    let valid = app.post(who, &format!("/v1/Sinks/{sid}/Validate"), &[("TestId", &test_id)]).await;
    assert_eq!((valid.status, valid.body["result"].as_str()), (201, Some("valid")), "{:?}", valid.body);
    assert_eq!(app.get(who, &format!("/v1/Sinks/{sid}")).await.body["status"], "active");
    let types: Vec<String> = types.iter().map(|t| serde_json::json!({"type": t}).to_string()).collect();
    let mut form = vec![("Description", "all ended sessions"), ("SinkSid", sid.as_str())];
    form.extend(types.iter().map(|t| ("Types", t.as_str())));
    let sub = app.post(who, "/v1/Subscriptions", &form).await;
    assert_eq!(sub.status, 201, "{:?}", sub.body);
    (sid, sub.body["sid"].as_str().unwrap().to_owned())
}

fn ids(events: &[Value], of_type: &str) -> Vec<String> {
    events.iter().filter(|e| e["type"] == of_type).map(|e| e["id"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn a_webhook_sink_receives_its_accounts_subscribed_events_signed_and_batched() {
    let app = spawn_app().await;
    let (to_alice, to_bob) = (Receiver::start().await, Receiver::start().await);
    active_sink(&app, &app.alice, &to_alice, true, &[ENDED]).await;
    active_sink(&app, &app.bob, &to_bob, false, &[ENDED]).await;

    // Interleaved: both accounts' ended sessions, and a type neither subscribed to.
    let mut events = Vec::new();
    for n in 0..300 {
        events.push(ended(&app.alice.sid, &format!("HS{:032}", n % 7), n));
        if n % 3 == 0 {
            events.push(ended(&app.bob.sid, &format!("HS{:032}", 100 + n % 5), n));
        }
        events.push(common::cdr_events::sms(&app.alice.sid, "HS00000000000000000000000000000001", n));
    }
    append(&app, events).await;

    to_alice.wait_for("alice's 300 sessions", Duration::from_secs(30), |e| ids(e, ENDED).len() >= 300).await;
    to_bob.wait_for("bob's 100 sessions", Duration::from_secs(30), |e| ids(e, ENDED).len() >= 100).await;

    let alice_events = to_alice.events();
    let delivered: Vec<&Value> = alice_events.iter().filter(|e| e["type"] == ENDED).collect();
    assert_eq!(delivered.len(), 300, "each event once when nothing failed");
    assert!(
        delivered.iter().all(|e| e["data"]["account_sid"] == app.alice.sid.as_str()),
        "no event of bob's at alice's sink"
    );
    assert!(alice_events.iter().all(|e| e["type"] == ENDED || e["type"] == "com.twilio.eventstreams.test-event"));
    // The envelope Twilio sends.
    let first = delivered[0];
    assert_eq!(first["specversion"], "1.0");
    assert_eq!(first["datacontenttype"], "application/json");
    assert_eq!(first["dataschema"], "https://events-schemas.twilio.com/SuperSim.ConnectionEvent/2");
    assert_eq!(first["id"], first["data"]["event_sid"]);
    assert_eq!(first["source"], format!("/v1/SuperSim/ConnectionEvents/{}", first["id"].as_str().unwrap()));
    assert!(first["time"].as_str().unwrap().ends_with(".000Z"));
    // Each SIM's events in log order (their numbers only grow).
    let mut last_by_sim: HashMap<String, i64> = HashMap::new();
    for e in &delivered {
        let sim = e["data"]["sim_sid"].as_str().unwrap().to_owned();
        let n = e["data"]["data_session_data_total"].as_i64().unwrap();
        assert!(last_by_sim.insert(sim, n).is_none_or(|before| before < n), "a SIM's events out of order");
    }
    // Batched bodies of at most 64 kB, each signed over its URL with bodySHA256.
    let requests = to_alice.requests();
    assert!(requests.len() < 300, "batch_events packs several events per request");
    for r in &requests {
        assert!(r.body.len() <= 64 * 1024);
        let body_hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&r.body));
        assert!(r.url.ends_with(&format!("bodySHA256={body_hash}")), "{}", r.url);
        let expected = simledger_exporters::event_streams::webhook::twilio_signature(&app.alice.secret, &r.url);
        assert_eq!(r.signature.as_deref(), Some(expected.as_str()));
    }
    // Unbatched: one event per request.
    assert!(to_bob.requests().iter().all(|r| r.events().len() == 1));
    assert!(to_bob
        .events()
        .iter()
        .filter(|e| e["type"] == ENDED)
        .all(|e| e["data"]["account_sid"] == app.bob.sid.as_str()));
}

#[tokio::test]
async fn a_receiver_that_fails_for_a_while_gets_everything_and_delays_no_other_sink() {
    let app = spawn_app().await;
    let (to_alice, to_bob) = (Receiver::start().await, Receiver::start().await);
    let (alice_sink, _) = active_sink(&app, &app.alice, &to_alice, true, &[ENDED]).await;
    active_sink(&app, &app.bob, &to_bob, true, &[ENDED]).await;
    to_alice.answer(503);
    let events: Vec<Event> = (0..200)
        .flat_map(|n| {
            [
                ended(&app.alice.sid, "HS00000000000000000000000000000001", n),
                ended(&app.bob.sid, "HS00000000000000000000000000000002", n),
            ]
        })
        .collect();
    append(&app, events).await;
    // Bob's sink keeps its pace while alice's receiver refuses.
    to_bob.wait_for("bob's 200 sessions", Duration::from_secs(30), |e| ids(e, ENDED).len() >= 200).await;
    assert!(ids(&to_alice.events(), ENDED).is_empty());
    // Alice's sink shows `failed` once its deliveries kept failing (1 s in these tests).
    app.eventually(&app.alice, &format!("/v1/Sinks/{alice_sink}"), |s| s["status"] == "failed").await;
    let delivery = app.get(&app.alice, &format!("/v1/Sinks/{alice_sink}/Delivery")).await;
    assert!(delivery.body["failures"].as_i64().unwrap() > 0 && delivery.body["failed"] == true, "{:?}", delivery.body);
    // The receiver recovers: everything arrives, and the sink is active again.
    to_alice.answer(200);
    to_alice.wait_for("alice's 200 sessions", Duration::from_secs(30), |e| ids(e, ENDED).len() >= 200).await;
    let unique: BTreeSet<String> = ids(&to_alice.events(), ENDED).into_iter().collect();
    assert_eq!(unique.len(), 200);
    app.eventually(&app.alice, &format!("/v1/Sinks/{alice_sink}"), |s| s["status"] == "active").await;
}

#[tokio::test]
async fn a_rewound_sink_delivers_its_history_again() {
    let app = spawn_app().await;
    let to_alice = Receiver::start().await;
    let (sink, _) = active_sink(&app, &app.alice, &to_alice, true, &[ENDED]).await;
    let from = app.log.head().await.unwrap();
    append(&app, (0..50).map(|n| ended(&app.alice.sid, "HS00000000000000000000000000000001", n)).collect()).await;
    to_alice.wait_for("50 sessions", Duration::from_secs(20), |e| ids(e, ENDED).len() >= 50).await;
    let moved = app.post(&app.alice, &format!("/v1/Sinks/{sink}/Delivery"), &[("Position", &from.to_string())]).await;
    assert_eq!(moved.status, 200, "{:?}", moved.body);
    to_alice.wait_for("50 sessions twice", Duration::from_secs(20), |e| ids(e, ENDED).len() >= 100).await;
    let all = ids(&to_alice.events(), ENDED);
    assert_eq!(all[..50], all[50..100], "the history again, in the same order");
    // Beyond the head, or neither or both of Position and Time: refused, nothing moved.
    let head = app.log.head().await.unwrap();
    for form in [
        vec![("Position", (head + 1000).to_string())],
        vec![],
        vec![("Position", "1".to_owned()), ("Time", "2026-01-01T00:00:00Z".to_owned())],
    ] {
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_error(&app.post(&app.alice, &format!("/v1/Sinks/{sink}/Delivery"), &form).await, 400, 20001);
    }
    // Bob cannot rewind alice's sink.
    let bobs = app.post(&app.bob, &format!("/v1/Sinks/{sink}/Delivery"), &[("Position", "0")]).await;
    assert_error(&bobs, 404, 20404);
}

#[tokio::test]
async fn another_accounts_sinks_and_subscriptions_are_not_found() {
    let app = spawn_app().await;
    let to_alice = Receiver::start().await;
    let (sink, sub) = active_sink(&app, &app.alice, &to_alice, true, &[ENDED]).await;
    let head = app.log.head().await.unwrap();
    let bob = &app.bob;
    for path in [
        format!("/v1/Sinks/{sink}"),
        format!("/v1/Sinks/{sink}/Delivery"),
        format!("/v1/Subscriptions/{sub}"),
        format!("/v1/Subscriptions/{sub}/SubscribedEvents"),
        format!("/v1/Subscriptions/{sub}/SubscribedEvents/{ENDED}"),
    ] {
        assert_error(&app.get(bob, &path).await, 404, 20404);
    }
    assert_error(&app.post(bob, &format!("/v1/Sinks/{sink}"), &[("Description", "mine now")]).await, 404, 20404);
    assert_error(&app.post(bob, &format!("/v1/Sinks/{sink}/Test"), &[]).await, 404, 20404);
    assert_error(&app.post(bob, &format!("/v1/Sinks/{sink}/Validate"), &[("TestId", "x")]).await, 404, 20404);
    assert_error(&app.delete(bob, &format!("/v1/Sinks/{sink}")).await, 404, 20404);
    assert_error(&app.delete(bob, &format!("/v1/Subscriptions/{sub}")).await, 404, 20404);
    let types = serde_json::json!({"type": ENDED}).to_string();
    let steal =
        app.post(bob, "/v1/Subscriptions", &[("Description", "x"), ("SinkSid", &sink), ("Types", &types)]).await;
    assert_error(&steal, 400, 20001);
    assert_eq!(app.get(bob, "/v1/Sinks").await.body["sinks"], serde_json::json!([]));
    assert_eq!(app.get(bob, "/v1/Subscriptions").await.body["subscriptions"], serde_json::json!([]));
    assert_eq!(app.log.head().await.unwrap(), head, "nothing was appended");
    // Alice still has hers, unchanged.
    let mine = app.get(&app.alice, &format!("/v1/Sinks/{sink}")).await;
    assert_eq!(
        (mine.body["description"].as_str(), mine.body["status"].as_str()),
        (Some("fleet events"), Some("active"))
    );
}

#[tokio::test]
async fn bad_sink_and_subscription_input_is_refused_and_stores_nothing() {
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    let (sink, sub) = active_sink(&app, &app.alice, &receiver, true, &[ENDED]).await;
    let unsubscribed = app
        .post(
            &app.alice,
            "/v1/Sinks",
            &[
                ("Description", "spare"),
                ("SinkType", "webhook"),
                ("SinkConfiguration", &webhook_config(&receiver.url("/b"), false)),
            ],
        )
        .await;
    let spare = unsubscribed.body["sid"].as_str().unwrap().to_owned();
    let head = app.log.head().await.unwrap();
    let ok_config = webhook_config(&receiver.url("/c"), true);
    let kinesis =
        |arn: &str, role: &str| serde_json::json!({"arn": arn, "role_arn": role, "external_id": "x"}).to_string();
    let bad_sinks: Vec<Vec<(&str, String)>> = vec![
        vec![("Description", "x".into()), ("SinkType", "webhook".into()), ("SinkConfiguration", "{not json".into())],
        vec![("Description", "x".into()), ("SinkType", "webhook".into()), ("SinkConfiguration", "[]".into())],
        vec![
            ("Description", "x".into()),
            ("SinkType", "webhook".into()),
            ("SinkConfiguration", r#"{"destination":"ftp://example.com/"}"#.into()),
        ],
        vec![
            ("Description", "x".into()),
            ("SinkType", "webhook".into()),
            ("SinkConfiguration", r#"{"destination":"https://example.com/","extra":1}"#.into()),
        ],
        vec![
            ("Description", "x".into()),
            ("SinkType", "segment".into()),
            ("SinkConfiguration", r#"{"write_key":"k"}"#.into()),
        ],
        vec![("Description", "x".into()), ("SinkType", "email".into()), ("SinkConfiguration", "{}".into())],
        vec![
            ("Description", "x".into()),
            ("SinkType", "kinesis".into()),
            (
                "SinkConfiguration",
                kinesis("arn:aws:kinesis:us-east-1:123:stream/s", "arn:aws:iam::123456789012:role/r"),
            ),
        ],
        vec![
            ("Description", "x".into()),
            ("SinkType", "kinesis".into()),
            (
                "SinkConfiguration",
                kinesis("arn:aws:kinesis:evil.com/x:123456789012:stream/s", "arn:aws:iam::123456789012:role/r"),
            ),
        ],
        vec![
            ("Description", "x".into()),
            ("SinkType", "kinesis".into()),
            ("SinkConfiguration", kinesis("arn:aws:kinesis:us-east-1:123456789012:stream/s", "not-a-role")),
        ],
        vec![("Description", "x".into()), ("SinkType", "webhook".into())],
        vec![("SinkType", "webhook".into()), ("SinkConfiguration", ok_config.clone())],
        vec![("Description", "   ".into()), ("SinkType", "webhook".into()), ("SinkConfiguration", ok_config.clone())],
        vec![
            ("Description", "x".repeat(2000)),
            ("SinkType", "webhook".into()),
            ("SinkConfiguration", ok_config.clone()),
        ],
        vec![
            ("Description", "x".into()),
            ("SinkType", "webhook".into()),
            ("SinkConfiguration", ok_config.clone()),
            ("Secret", "1".into()),
        ],
        vec![("Description", "nul\0".into()), ("SinkType", "webhook".into()), ("SinkConfiguration", ok_config.clone())],
    ];
    for form in &bad_sinks {
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = app.post(&app.alice, "/v1/Sinks", &form).await;
        assert_error(&r, 400, 20001);
    }
    let typed = |t: &str| t.to_owned();
    let bad_subscriptions: Vec<Vec<(&str, String)>> = vec![
        // An unknown type; an unknown schema version; a types value that is not an object.
        vec![
            ("Description", "x".into()),
            ("SinkSid", spare.clone()),
            ("Types", typed(r#"{"type":"com.twilio.voice.call"}"#)),
        ],
        vec![
            ("Description", "x".into()),
            ("SinkSid", spare.clone()),
            ("Types", format!(r#"{{"type":"{ENDED}","schema_version":9}}"#)),
        ],
        vec![("Description", "x".into()), ("SinkSid", spare.clone()), ("Types", typed(r#"["a"]"#))],
        vec![("Description", "x".into()), ("SinkSid", spare.clone())],
        // A sink never validated; a sink that does not exist.
        vec![("Description", "x".into()), ("SinkSid", spare.clone()), ("Types", format!(r#"{{"type":"{ENDED}"}}"#))],
        vec![
            ("Description", "x".into()),
            ("SinkSid", "DG00000000000000000000000000000000".into()),
            ("Types", format!(r#"{{"type":"{ENDED}"}}"#)),
        ],
    ];
    for form in &bad_subscriptions {
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_error(&app.post(&app.alice, "/v1/Subscriptions", &form).await, 400, 20001);
    }
    // A second subscription on a sink in use; deleting a sink in use.
    let again = app
        .post(
            &app.alice,
            "/v1/Subscriptions",
            &[("Description", "x"), ("SinkSid", &sink), ("Types", &format!(r#"{{"type":"{ENDED}"}}"#))],
        )
        .await;
    assert_error(&again, 409, 20409);
    assert_error(&app.delete(&app.alice, &format!("/v1/Sinks/{sink}")).await, 409, 20409);
    // Validate without or with a wrong TestId; a subscribed event twice; an unknown one.
    assert_error(&app.post(&app.alice, &format!("/v1/Sinks/{spare}/Validate"), &[]).await, 400, 20001);
    assert_error(
        &app.post(&app.alice, &format!("/v1/Sinks/{spare}/Validate"), &[("TestId", "guess")]).await,
        400,
        20001,
    );
    let path = format!("/v1/Subscriptions/{sub}/SubscribedEvents");
    assert_error(&app.post(&app.alice, &path, &[("Type", ENDED)]).await, 409, 20409);
    assert_error(&app.post(&app.alice, &path, &[("Type", "com.example.nothing")]).await, 400, 20001);
    assert_error(&app.post(&app.alice, &path, &[("Type", ENDED), ("SchemaVersion", "x")]).await, 400, 20001);
    assert_error(&app.delete(&app.alice, &format!("{path}/com.example.nothing")).await, 404, 20404);

    assert_eq!(app.log.head().await.unwrap(), head, "no bad request appended anything");
    let sinks = app.get(&app.alice, "/v1/Sinks").await;
    assert_eq!(sinks.body["sinks"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn an_account_cannot_create_sinks_without_end() {
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    let config = webhook_config(&receiver.url("/many"), true);
    let form = [("Description", "one of many"), ("SinkType", "webhook"), ("SinkConfiguration", config.as_str())];
    for n in 0..simledger_commands::MAX_SINKS_PER_ACCOUNT {
        assert_eq!(app.post(&app.alice, "/v1/Sinks", &form).await.status, 201, "sink {n}");
    }
    let head = app.log.head().await.unwrap();
    assert_error(&app.post(&app.alice, "/v1/Sinks", &form).await, 400, 20001);
    assert_eq!(app.log.head().await.unwrap(), head);
    assert_eq!(app.post(&app.bob, "/v1/Sinks", &form).await.status, 201, "another account is not limited by it");
}

#[tokio::test]
async fn a_private_destination_is_refused_without_the_operators_switch() {
    let app = spawn_app_public_only().await;
    let head = app.log.head().await.unwrap();
    for destination in [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://[::ffff:192.168.0.1]/hook",
    ] {
        let config = webhook_config(destination, true);
        let r = app
            .post(
                &app.alice,
                "/v1/Sinks",
                &[("Description", "x"), ("SinkType", "webhook"), ("SinkConfiguration", &config)],
            )
            .await;
        assert_error(&r, 400, 20001);
        assert!(!r.body["message"].as_str().unwrap().contains("os error"), "no OS error text: {:?}", r.body);
    }
    assert_eq!(app.log.head().await.unwrap(), head);
    // Another tenant keeps working meanwhile.
    assert_eq!(app.get(&app.bob, "/v1/Sinks").await.status, 200);
}

#[tokio::test]
async fn subscribed_events_can_be_added_changed_and_removed() {
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    let (_, sub) = active_sink(&app, &app.alice, &receiver, true, &[ENDED]).await;
    let path = format!("/v1/Subscriptions/{sub}/SubscribedEvents");
    let listed = app.get(&app.alice, &path).await;
    assert_eq!(listed.body["meta"]["key"], "types");
    assert_eq!(listed.body["types"][0]["schema_version"], 2);
    let added = app.post(&app.alice, &path, &[("Type", "com.simledger.sms.mo.delivered")]).await;
    assert_eq!(added.status, 201, "{:?}", added.body);
    let changed = app.post(&app.alice, &format!("{path}/{ENDED}"), &[("SchemaVersion", "1")]).await;
    assert_eq!((changed.status, changed.body["schema_version"].as_i64()), (200, Some(1)));
    // Version 1 has no cumulative counts; the SMS type arrives in its own schema.
    append(
        &app,
        vec![
            ended(&app.alice.sid, "HS00000000000000000000000000000001", 1),
            common::cdr_events::sms(&app.alice.sid, "HS00000000000000000000000000000001", 1),
        ],
    )
    .await;
    receiver.wait_for("both", Duration::from_secs(20), |e| e.len() >= 3).await;
    let events = receiver.events();
    let session = events.iter().find(|e| e["type"] == ENDED).unwrap();
    assert_eq!(session["dataschema"], "https://events-schemas.twilio.com/SuperSim.ConnectionEvent/1");
    assert!(session["data"].get("data_session_data_total").is_none());
    let sms = events.iter().find(|e| e["type"] == "com.simledger.sms.mo.delivered").unwrap();
    assert_eq!(sms["dataschema"], "urn:simledger:schema:Simledger.SmsEvent:1");
    let removed = app.delete(&app.alice, &format!("{path}/com.simledger.sms.mo.delivered")).await;
    assert_eq!(removed.status, 204);
    assert_eq!(app.get(&app.alice, &path).await.body["types"].as_array().unwrap().len(), 1);
}

/// The JSON Schema keywords the served schemas use: type, properties, required,
/// additionalProperties, enum, anyOf. Returns what does not conform.
fn violations(schema: &Value, value: &Value, at: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(any) = schema.get("anyOf").and_then(Value::as_array) {
        if !any.iter().any(|s| violations(s, value, at).is_empty()) {
            out.push(format!("{at}: matches no alternative"));
        }
        return out;
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array) {
        if !options.contains(value) {
            out.push(format!("{at}: {value} not in enum"));
        }
    }
    let kinds: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let kind_ok = kinds.is_empty()
        || kinds.iter().any(|k| match *k {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            "null" => value.is_null(),
            _ => false,
        });
    if !kind_ok {
        out.push(format!("{at}: {value} is not {kinds:?}"));
        return out;
    }
    if let (Some(props), Some(obj)) = (schema.get("properties").and_then(Value::as_object), value.as_object()) {
        for req in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
            if !obj.contains_key(req.as_str().unwrap()) {
                out.push(format!("{at}: missing {req}"));
            }
        }
        for (k, v) in obj {
            match props.get(k) {
                Some(s) => out.extend(violations(s, v, &format!("{at}.{k}"))),
                None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    out.push(format!("{at}: unexpected {k}"))
                }
                None => {}
            }
        }
    }
    out
}

#[tokio::test]
async fn types_and_schemas_are_served_and_delivered_data_conforms_to_them() {
    let app = spawn_app().await;
    let types = app.get(&app.alice, "/v1/Types?PageSize=5").await;
    assert_eq!(types.status, 200);
    assert_eq!(types.body["types"].as_array().unwrap().len(), 5);
    let next = types.body["meta"]["next_page_url"].as_str().unwrap().to_owned();
    let page2 = app.get(&app.alice, &next).await;
    assert_eq!(page2.status, 200, "{:?}", page2.body);
    assert_ne!(page2.body["types"][0]["type"], types.body["types"][0]["type"]);
    let connection = app.get(&app.alice, "/v1/Types?SchemaId=SuperSim.ConnectionEvent").await;
    assert_eq!(connection.body["types"].as_array().unwrap().len(), 7);
    let one = app.get(&app.alice, &format!("/v1/Types/{ENDED}")).await;
    assert_eq!(
        (one.body["schema_id"].as_str(), one.body["status"].as_str()),
        (Some("SuperSim.ConnectionEvent"), Some("available"))
    );
    let schema = app.get(&app.alice, "/v1/Schemas/SuperSim.ConnectionEvent").await;
    assert_eq!(schema.body["latest_version"], 2, "Twilio's latest; simledger's 3 is listed under Versions");
    let versions = app.get(&app.alice, "/v1/Schemas/SuperSim.ConnectionEvent/Versions").await;
    assert_eq!(versions.body["meta"]["key"], "schema_versions");
    assert_eq!(versions.body["schema_versions"].as_array().unwrap().len(), 3);
    for missing in [
        "/v1/Types/com.example.nothing",
        "/v1/Schemas/Nope",
        "/v1/Schemas/SuperSim.ConnectionEvent/Versions/9",
        "/v1/Schemas/SuperSim.ConnectionEvent/Versions/x",
    ] {
        assert_error(&app.get(&app.alice, missing).await, 404, 20404);
    }
    assert_error(&app.get(&app.alice, "/v1/Types?Unknown=1").await, 400, 20001);

    // What a sink delivers conforms to the schema it names.
    let receiver = Receiver::start().await;
    active_sink(&app, &app.alice, &receiver, true, &[ENDED, "com.simledger.sms.mo.delivered"]).await;
    // A session of a regional PGW: a subscription that named no version gets Twilio's version 2,
    // without the region.
    let Event::DataSessionEnded(mut regional) = ended(&app.alice.sid, "HS00000000000000000000000000000001", 1) else {
        unreachable!()
    };
    regional.breakout_region = Some(simledger_eventlog::catalog::BreakoutRegion::EuWest);
    regional.pgw = Some("pgw-eu-west".into());
    append(
        &app,
        vec![
            Event::DataSessionEnded(regional),
            common::cdr_events::sms(&app.alice.sid, "HS00000000000000000000000000000001", 1),
        ],
    )
    .await;
    receiver.wait_for("two events", Duration::from_secs(20), |e| e.len() >= 3).await;
    for e in receiver.events() {
        let uri = e["dataschema"].as_str().unwrap();
        let (id, version) = match uri.strip_prefix("https://events-schemas.twilio.com/") {
            Some(rest) => rest.split_once('/').unwrap(),
            None => uri.strip_prefix("urn:simledger:schema:").unwrap().split_once(':').unwrap(),
        };
        let doc = app.get(&app.alice, &format!("/v1/Schemas/{id}/Versions/{version}/Raw")).await;
        assert_eq!(doc.status, 200, "{uri}");
        let problems = violations(&doc.body, &e["data"], "data");
        assert!(problems.is_empty(), "{} does not conform to {uri}: {problems:?}", e["type"]);
        if e["type"] == ENDED {
            assert_eq!(uri, "https://events-schemas.twilio.com/SuperSim.ConnectionEvent/2");
            assert!(e["data"].get("breakout_region").is_none(), "{e}");
        }
    }
}

#[tokio::test]
async fn replaying_the_event_streams_projection_rebuilds_the_same_tables() {
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    let (sink, sub) = active_sink(&app, &app.alice, &receiver, true, &[ENDED]).await;
    app.post(&app.alice, &format!("/v1/Sinks/{sink}"), &[("Description", "renamed")]).await;
    app.post(
        &app.alice,
        &format!("/v1/Subscriptions/{sub}/SubscribedEvents"),
        &[("Type", "com.simledger.sms.mt.failed")],
    )
    .await;
    let spare = app
        .post(
            &app.bob,
            "/v1/Sinks",
            &[
                ("Description", "b"),
                ("SinkType", "webhook"),
                ("SinkConfiguration", &webhook_config(&receiver.url("/b"), false)),
            ],
        )
        .await;
    app.delete(&app.bob, &format!("/v1/Sinks/{}", spare.body["sid"].as_str().unwrap())).await;
    let tables = ["es_sinks", "es_subscriptions", "es_subscribed_events"];
    let live = common::table_rows(&app, &tables).await;
    let head = app.log.head().await.unwrap();
    simledger_projections::replay(&app.log, simledger_projections::event_streams::EventStreams).await.unwrap();
    assert_eq!(common::table_rows(&app, &tables).await, live);
    assert_eq!(app.log.head().await.unwrap(), head, "a replay appends nothing");
}
