//! Event Streams through the real binary: Twilio's Python library drives the API and its
//! `RequestValidator` checks our signatures; the delivering process is killed with SIGKILL while
//! traffic flows; a Kinesis sink writes to moto's Kinesis (started by the test).

mod common;

#[path = "../api/tests/common/receiver.rs"]
mod receiver;

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{python_env, run_json, start_moto, start_up_with, Moto};
use receiver::Receiver;
use simledger_eventlog::{Event, EventLog, ExpectedVersion, Metadata, NewEvent};
use simledger_services::testing::{self, TestDatabase};

const ENDED: &str = "com.twilio.iot.supersim.connection.data-session.ended";

/// `count` data-session `ended` events of `account`, spread over a few SIMs, numbered from `from`.
fn sessions(account: &str, from: u32, count: u32) -> Vec<Event> {
    (from..from + count)
        .map(|n| {
            let Event::DataSessionEnded(mut c) = common::ended_session(account, n) else { unreachable!() };
            let id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, format!("{account}:{n}").as_bytes());
            c.event_sid = format!("EZ{}", id.simple());
            c.data_session_data_total = Some(i64::from(n));
            Event::DataSessionEnded(c)
        })
        .collect()
}

async fn append(log: &EventLog, events: &[Event]) {
    let batch = events
        .iter()
        .map(|e| NewEvent::new(uuid::Uuid::new_v4(), "session-e2e", e, &Metadata::from_source("pgw")).unwrap())
        .collect();
    log.append(batch, ExpectedVersion::Any).await.unwrap();
}

fn event_sids(events: &[Event]) -> BTreeSet<String> {
    events
        .iter()
        .map(|e| match e {
            Event::DataSessionEnded(c) => c.event_sid.clone(),
            _ => unreachable!(),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn twilios_python_library_drives_event_streams_and_its_validator_accepts_our_signatures() {
    let bin = python_env();
    let db = TestDatabase::new().await;
    let platform = start_up_with(&db.url, &["--sim-sims", "0", "--allow-private-destinations"]);
    let account = run_json(&db.url, &["account", "create", "--name", "events"]);
    let other = run_json(&db.url, &["account", "create", "--name", "other"]);
    let (sid, token) = (account["sid"].as_str().unwrap(), account["auth_token"].as_str().unwrap());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/twilio_event_streams.py");
    let mut child = Command::new(bin.join("python"))
        .arg(script)
        .args([&platform.base, sid, token, "400"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = lines.next().and_then(Result::ok).unwrap_or_default();
    if !ready.starts_with("READY ") {
        let mut err = String::new();
        std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
        panic!("the script did not subscribe: {ready}\n{err}");
    }
    let log = EventLog::new(db.pool().await);
    // The subscribed account's sessions and another account's, interleaved.
    let (mine, theirs) = (sessions(sid, 0, 400), sessions(other["sid"].as_str().unwrap(), 0, 200));
    for (a, b) in mine.chunks(100).zip(theirs.chunks(50)) {
        append(&log, &[a, b].concat()).await;
    }
    let summary = lines.next().and_then(Result::ok).unwrap_or_default();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "the script failed: {summary}\n{}", String::from_utf8_lossy(&out.stderr));
    let summary: serde_json::Value = serde_json::from_str(&summary).unwrap();
    assert_eq!(summary["valid_signatures"], summary["requests"], "every request passes RequestValidator: {summary}");
    assert_eq!(summary["forged_accepted"], 0, "{summary}");
    assert_eq!(summary["unique"], 400, "{summary}");
    assert_eq!(summary["accounts"], serde_json::json!([sid]), "only the subscriber's account's events");
    assert!(summary["largest_body"].as_u64().unwrap() <= 64 * 1024, "{summary}");
}

/// A child process killed (SIGKILL) when dropped, so a failing test leaves none behind.
struct Killed(std::process::Child);

impl Killed {
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Killed {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `up` with the sinks role alone, as a process of its own.
fn sinks_process(database_url: &str) -> Killed {
    Killed(
        common::simledger()
            .args(["up", "--roles", "sinks", "--jsonrpc-listen", "off", "--allow-private-destinations"])
            .args(["--sink-max-backoff-ms", "200"])
            .env("DATABASE_URL", database_url)
            .env("NATS_URL", testing::nats_url())
            .env("SIMLEDGER_NATS_PREFIX", testing::unique_nats_prefix())
            .env("SIMLEDGER_DATA_DIR", testing::data_dir().0)
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    )
}

/// Creates, tests, validates and subscribes a batched webhook sink through the API.
async fn subscribed_webhook(base: &str, sid: &str, token: &str, receiver: &Receiver, types: &[&str]) -> String {
    let http = reqwest::Client::new();
    let post = |path: String, form: Vec<(&'static str, String)>| {
        let request = http.post(format!("{base}{path}")).basic_auth(sid, Some(token)).form(&form);
        async move {
            let r = request.send().await.unwrap();
            let status = r.status().as_u16();
            let body: serde_json::Value = r.json().await.unwrap();
            assert!((200..300).contains(&status), "{path}: {status} {body}");
            body
        }
    };
    let config = serde_json::json!({"destination": receiver.url("/events"), "method": "POST", "batch_events": true});
    let sink = post(
        "/v1/Sinks".into(),
        vec![("Description", "e2e".into()), ("SinkType", "webhook".into()), ("SinkConfiguration", config.to_string())],
    )
    .await;
    let sink = sink["sid"].as_str().unwrap().to_owned();
    post(format!("/v1/Sinks/{sink}/Test"), vec![]).await;
    let test_id = receiver.test_id().await;
    post(format!("/v1/Sinks/{sink}/Validate"), vec![("TestId", test_id)]).await;
    let mut form = vec![("Description", "e2e".to_owned()), ("SinkSid", sink.clone())];
    form.extend(types.iter().map(|t| ("Types", serde_json::json!({ "type": t }).to_string())));
    post("/v1/Subscriptions".into(), form).await;
    sink
}

#[tokio::test(flavor = "multi_thread")]
async fn the_delivering_process_killed_three_times_loses_no_event() {
    let db = TestDatabase::new().await;
    let platform = start_up_with(&db.url, &["--sim-sims", "0", "--roles", "api", "--allow-private-destinations"]);
    let account = run_json(&db.url, &["account", "create", "--name", "crash"]);
    let (sid, token) = (account["sid"].as_str().unwrap(), account["auth_token"].as_str().unwrap());
    let receiver = Receiver::start().await;
    let mut delivering = sinks_process(&db.url);
    subscribed_webhook(&platform.base, sid, token, &receiver, &[ENDED]).await;

    let log = EventLog::new(db.pool().await);
    let all = sessions(sid, 0, 6000);
    let traffic = {
        let (log, all) = (log.clone(), all.clone());
        tokio::spawn(async move {
            for chunk in all.chunks(100) {
                append(&log, chunk).await;
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
        })
    };
    // Three kills, each once delivery has made progress since the last start.
    for kill in 0..3 {
        let before = receiver.events().len();
        receiver.wait_for("progress before a kill", Duration::from_secs(60), |e| e.len() >= before + 300).await;
        delivering.kill();
        eprintln!("kill {kill} after {} events received", receiver.events().len());
        delivering = sinks_process(&db.url);
    }
    traffic.await.unwrap();
    let expected = event_sids(&all);
    receiver
        .wait_for("every event", Duration::from_secs(120), |events| {
            let got: BTreeSet<String> =
                events.iter().filter(|e| e["type"] == ENDED).map(|e| e["id"].as_str().unwrap().to_owned()).collect();
            expected.is_subset(&got)
        })
        .await;
    delivering.kill();
    let ended: Vec<String> =
        receiver.events().iter().filter(|e| e["type"] == ENDED).map(|e| e["id"].as_str().unwrap().to_owned()).collect();
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for id in &ended {
        *counts.entry(id).or_default() += 1;
    }
    let duplicates = ended.len() - counts.len();
    eprintln!(
        "{} events delivered for {} in the log: {duplicates} duplicates after 3 kills",
        ended.len(),
        expected.len()
    );
    assert_eq!(counts.len(), expected.len(), "nothing outside the subscription");
    // A kill repeats at most two requests: the one in flight and the one whose cursor write
    // had not committed, each of at most 64 kB of events.
    let smallest = receiver.events().iter().map(|e| e.to_string().len()).min().unwrap();
    let bound = 3 * 2 * (64 * 1024 / smallest);
    assert!(duplicates <= bound, "{duplicates} duplicates, more than {bound}");
}

/// Runs boto3 against moto: `create STREAM` or `read STREAM` (prints the records as JSON lines).
fn kinesis(moto: &Moto, args: &[&str]) -> Vec<serde_json::Value> {
    let script = r#"
import json, sys, boto3
endpoint, action, stream = sys.argv[1:4]
k = boto3.client("kinesis", endpoint_url=endpoint, region_name="us-east-1",
                 aws_access_key_id="testing", aws_secret_access_key="testing")
if action == "create":
    k.create_stream(StreamName=stream, ShardCount=2)
    k.get_waiter("stream_exists").wait(StreamName=stream)
else:
    for shard in k.list_shards(StreamName=stream)["Shards"]:
        it = k.get_shard_iterator(StreamName=stream, ShardId=shard["ShardId"],
                                  ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while it:
            out = k.get_records(ShardIterator=it, Limit=10000)
            for r in out["Records"]:
                print(json.dumps({"shard": shard["ShardId"], "key": r["PartitionKey"],
                                  "data": json.loads(r["Data"])}))
            it = out.get("NextShardIterator") if out["Records"] else None
"#;
    let out = Command::new(python_env().join("python"))
        .arg("-c")
        .arg(script)
        .arg(&moto.endpoint)
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "boto3: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kinesis_sink_puts_each_event_with_its_sim_as_partition_key() {
    let moto = start_moto().await;
    kinesis(&moto, &["create", "fleet-events"]);
    let db = TestDatabase::new().await;
    let mut child = Killed(
        common::simledger()
            .args(["up", "--listen", "127.0.0.1:0", "--jsonrpc-listen", "off", "--sim-sims", "0", "--log", "info"])
            .env("DATABASE_URL", &db.url)
            .env("NATS_URL", testing::nats_url())
            .env("SIMLEDGER_NATS_PREFIX", testing::unique_nats_prefix())
            .env("SIMLEDGER_DATA_DIR", testing::data_dir().0)
            .env("AWS_ENDPOINT_URL", &moto.endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let base = common::wait_for_listen_line(&mut child.0);
    let account = run_json(&db.url, &["account", "create", "--name", "kinesis"]);
    let (sid, token) =
        (account["sid"].as_str().unwrap().to_owned(), account["auth_token"].as_str().unwrap().to_owned());
    let http = reqwest::Client::new();
    let post = |path: String, form: Vec<(&'static str, String)>| {
        let request = http.post(format!("{base}{path}")).basic_auth(&sid, Some(&token)).form(&form);
        async move {
            let r = request.send().await.unwrap();
            (r.status().as_u16(), r.json::<serde_json::Value>().await.unwrap())
        }
    };
    let config = serde_json::json!({
        "arn": "arn:aws:kinesis:us-east-1:123456789012:stream/fleet-events",
        "role_arn": "arn:aws:iam::123456789012:role/simledger-writer",
        "external_id": "tenant-42",
    });
    let (status, sink) = post(
        "/v1/Sinks".into(),
        vec![
            ("Description", "kinesis".into()),
            ("SinkType", "kinesis".into()),
            ("SinkConfiguration", config.to_string()),
        ],
    )
    .await;
    assert_eq!(status, 201, "{sink}");
    let sink = sink["sid"].as_str().unwrap().to_owned();
    assert_eq!(post(format!("/v1/Sinks/{sink}/Test"), vec![]).await.0, 201);
    // The test record carries its data as a JSON string, as Twilio's Kinesis test does.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let test_id = loop {
        let records = kinesis(&moto, &["read", "fleet-events"]);
        if let Some(r) = records.iter().find(|r| r["data"]["type"] == "com.twilio.eventstreams.test-event") {
            let data: serde_json::Value = serde_json::from_str(r["data"]["data"].as_str().unwrap()).unwrap();
            break data["test_id"].as_str().unwrap().to_owned();
        }
        assert!(std::time::Instant::now() < deadline, "the test record reaches Kinesis");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(post(format!("/v1/Sinks/{sink}/Validate"), vec![("TestId", test_id)]).await.0, 201);
    let types = serde_json::json!({ "type": ENDED }).to_string();
    let (status, body) = post(
        "/v1/Subscriptions".into(),
        vec![("Description", "k".into()), ("SinkSid", sink.clone()), ("Types", types)],
    )
    .await;
    assert_eq!(status, 201, "{body}");

    let log = EventLog::new(db.pool().await);
    let events = sessions(&sid, 0, 1200);
    for chunk in events.chunks(300) {
        append(&log, chunk).await;
    }
    let expected = event_sids(&events);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let records = loop {
        let records: Vec<serde_json::Value> =
            kinesis(&moto, &["read", "fleet-events"]).into_iter().filter(|r| r["data"]["type"] == ENDED).collect();
        let got: BTreeSet<String> = records.iter().map(|r| r["data"]["id"].as_str().unwrap().to_owned()).collect();
        if expected.is_subset(&got) {
            break records;
        }
        assert!(std::time::Instant::now() < deadline, "{} of {} records reached Kinesis", got.len(), expected.len());
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(records.iter().all(|r| r["key"] == r["data"]["data"]["sim_sid"]), "the SIM is the partition key");
    // One SIM's events keep log order within its shard.
    let mut last: HashMap<String, i64> = HashMap::new();
    for r in &records {
        let sim = r["key"].as_str().unwrap().to_owned();
        let n = r["data"]["data"]["data_session_data_total"].as_i64().unwrap();
        assert!(last.insert(sim, n).is_none_or(|before| before < n), "a SIM's records out of order");
    }
    child.kill();
}
