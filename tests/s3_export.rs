//! `*s3_csv` CDR exports against a local S3 stand-in (moto, started by the test), with the
//! export process killed mid-run: the union of the objects holds every CDR exactly once.

mod common;

use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{start_moto, Moto};
use futures_util::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::ObjectStore;
use rand::{Rng, SeedableRng};
use simledger_eventlog::{EventLog, ExpectedVersion, Metadata, NewEvent};
use simledger_services::testing::{self, TestDatabase};

const ACCOUNT: &str = "AC00000000000000000000000000000053";

fn store(s3: &Moto, bucket: &str) -> impl ObjectStore {
    AmazonS3Builder::new()
        .with_endpoint(&s3.endpoint)
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_access_key_id("test")
        .with_secret_access_key("test")
        .with_bucket_name(bucket)
        .build()
        .unwrap()
}

fn export(s3: &Moto, db: &TestDatabase, exporter: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_simledger"));
    c.args(["export", "--account", ACCOUNT, "--exporter", exporter])
        .env("DATABASE_URL", &db.url)
        .env("SIMLEDGER_DATA_DIR", testing::data_dir().0)
        .env("RUST_LOG", "error")
        .env("AWS_ENDPOINT", &s3.endpoint)
        .env("AWS_ALLOW_HTTP", "true")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

/// An exporter the operator declared: it writes with the process's own credentials.
fn exporter(id: &str, path: &str) -> simledger_exporters::cdr_export::Exporter {
    let mut e =
        simledger_exporters::cdr_export::Exporter::new(id, simledger_exporters::cdr_export::ExporterKind::S3Csv, path);
    e.declared = true;
    e
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_exports_killed_mid_upload_still_hold_every_cdr_exactly_once() {
    let s3 = start_moto().await;
    let created = reqwest::Client::new().put(format!("{}/cdrs", s3.endpoint)).send().await.unwrap();
    assert!(created.status().is_success(), "bucket created: {}", created.status());
    let db = TestDatabase::new().await;
    let log = EventLog::new(db.pool().await);
    let cdrs = simledger_projections::spawn(log.clone(), "cdrs", simledger_projections::cdrs::Cdrs);
    simledger_exporters::cdr_export::create(&log, ACCOUNT, &exporter("s3", "s3://cdrs/exports")).await.unwrap();

    let seed: u64 = rand::rng().random();
    eprintln!("kill point seed {seed}");
    let mut delays = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut n = 0u32;
    for _ in 0..4 {
        let batch: Vec<_> = (0..20_000)
            .map(|_| {
                n += 1;
                NewEvent::new(
                    uuid::Uuid::new_v4(),
                    "s",
                    &common::ended_session(ACCOUNT, n),
                    &Metadata::from_source("test"),
                )
                .unwrap()
            })
            .collect();
        let last = log.append(batch, ExpectedVersion::Any).await.unwrap().last().unwrap().position;
        assert!(cdrs.reached(last).await);
        let mut child = export(&s3, &db, "s3").spawn().unwrap();
        tokio::time::sleep(Duration::from_millis(delays.random_range(0..600))).await;
        child.kill().unwrap(); // SIGKILL, perhaps mid-upload
        child.wait().unwrap();
    }
    assert!(export(&s3, &db, "s3").status().unwrap().success(), "a last run completes");

    let store = store(&s3, "cdrs");
    let mut objects = store.list(Some(&"exports".into()));
    let mut exported = Vec::new();
    while let Some(meta) = objects.next().await {
        let bytes = store.get(&meta.unwrap().location).await.unwrap().bytes().await.unwrap();
        let mut reader = csv::Reader::from_reader(bytes.as_ref());
        exported.extend(reader.records().map(|r| r.unwrap()[0].to_owned()));
    }
    let total = exported.len();
    let exported: HashSet<String> = exported.into_iter().collect();
    let all: HashSet<String> =
        sqlx::query_scalar("SELECT cgrid FROM cdrs").fetch_all(log.pool()).await.unwrap().into_iter().collect();
    assert_eq!(all.len(), 80_000);
    assert_eq!(total, exported.len(), "no CDR in two objects");
    let (missing, extra) = (all.difference(&exported).count(), exported.difference(&all).count());
    assert_eq!((missing, extra), (0, 0), "every CDR in some object: {missing} missing, {extra} unknown");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_s3_export_to_a_missing_bucket_fails_and_moves_nothing() {
    let s3 = start_moto().await;
    let db = TestDatabase::new().await;
    let log = EventLog::new(db.pool().await);
    let cdrs = simledger_projections::spawn(log.clone(), "cdrs", simledger_projections::cdrs::Cdrs);
    let bad = exporter("nowhere", "s3://no-such-bucket");
    simledger_exporters::cdr_export::create(&log, ACCOUNT, &bad).await.unwrap();
    let e =
        NewEvent::new(uuid::Uuid::new_v4(), "s", &common::ended_session(ACCOUNT, 1), &Metadata::from_source("test"))
            .unwrap();
    let p = log.append(vec![e], ExpectedVersion::Any).await.unwrap()[0].position;
    assert!(cdrs.reached(p).await);
    assert!(!export(&s3, &db, "nowhere").status().unwrap().success(), "the run fails");
    let cursor: i64 =
        sqlx::query_scalar("SELECT last_exported_order_id FROM cdr_exporters WHERE exporter_id = 'nowhere'")
            .fetch_one(log.pool())
            .await
            .unwrap();
    assert_eq!(cursor, 0, "the cursor did not move");
    let malformed = exporter("bad", "bucket-without-scheme");
    assert!(simledger_exporters::cdr_export::create(&log, ACCOUNT, &malformed).await.is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tenants_exporter_writes_with_the_credentials_of_its_grant_and_nowhere_else() {
    use simledger_exporters::cdr_export::{self, grants::ExportGrants, ExportError};
    let s3 = start_moto().await;
    for bucket in ["granted", "other"] {
        let created = reqwest::Client::new().put(format!("{}/{bucket}", s3.endpoint)).send().await.unwrap();
        assert!(created.status().is_success());
    }
    let db = TestDatabase::new().await;
    let log = EventLog::new(db.pool().await);
    let cdrs = simledger_projections::spawn(log.clone(), "cdrs", simledger_projections::cdrs::Cdrs);
    let (alice, bob) = ("AC000000000000000000000000000000a1", "AC000000000000000000000000000000b0");
    // The operator's named set for alice: moto. This process has no AWS_* of its own, so a
    // write made with "whatever the process has" would reach no S3 at all.
    let name = format!("t{}", uuid::Uuid::new_v4().simple());
    for (field, value) in [
        ("ACCESS_KEY_ID", "alice-key"),
        ("SECRET_ACCESS_KEY", "alice-secret"),
        ("ENDPOINT", s3.endpoint.as_str()),
        ("ALLOW_HTTP", "true"),
    ] {
        std::env::set_var(format!("SIMLEDGER_S3_{}_{field}", name.to_ascii_uppercase()), value);
    }
    assert!(std::env::var("AWS_ENDPOINT").is_err(), "the test process has no S3 of its own");
    let grants =
        ExportGrants::new(std::env::temp_dir()).allow_s3_grant(&format!("{alice}=s3://granted/alice@{name}")).unwrap();
    // A grant naming credentials the operator never set is refused at start-up.
    assert!(ExportGrants::new(std::env::temp_dir()).allow_s3_grant(&format!("{bob}=s3://other@nosuchset")).is_err());
    assert!(ExportGrants::new(std::env::temp_dir()).allow_s3_grant(&format!("{bob}=s3://other")).is_err());

    let events: Vec<NewEvent> = [alice, bob]
        .iter()
        .enumerate()
        .map(|(n, account)| {
            let e = common::ended_session(account, n as u32 + 1);
            NewEvent::new(uuid::Uuid::new_v4(), "s", &e, &Metadata::from_source("test")).unwrap()
        })
        .collect();
    let last = log.append(events, ExpectedVersion::Any).await.unwrap().last().unwrap().position;
    assert!(cdrs.reached(last).await);
    // Alice's own exporter, confined by her grant, writes through her credentials.
    let mut mine = cdr_export::Exporter::new("mine", cdr_export::ExporterKind::S3Csv, "s3://granted/alice/daily");
    grants.confine(alice, &mut mine).unwrap();
    cdr_export::create(&log, alice, &mine).await.unwrap();
    let report = cdr_export::run(log.pool(), log.shard(), alice, "mine").await.unwrap();
    assert_eq!(report.events, 1);
    let granted = store(&s3, "granted");
    let written: Vec<_> = granted.list(Some(&"alice/daily".into())).collect::<Vec<_>>().await;
    assert_eq!(written.len(), 1, "{written:?}");
    // Bob has no grant: an exporter of his that reached the table anyway (an older release,
    // a hand edit) writes nothing, with no credentials to write with.
    let theirs = cdr_export::Exporter::new("theirs", cdr_export::ExporterKind::S3Csv, "s3://other/bob");
    cdr_export::create(&log, bob, &theirs).await.unwrap();
    let refused = cdr_export::run(log.pool(), log.shard(), bob, "theirs").await;
    assert!(matches!(refused, Err(ExportError::Invalid(ref m)) if m.contains("granted")), "{refused:?}");
    // Nor does alice's grant reach another bucket.
    let stray = cdr_export::Exporter::new("stray", cdr_export::ExporterKind::S3Csv, "s3://other/alice");
    cdr_export::create(&log, alice, &stray).await.unwrap();
    assert!(cdr_export::run(log.pool(), log.shard(), alice, "stray").await.is_err());
    assert!(store(&s3, "other").list(None).collect::<Vec<_>>().await.is_empty(), "nothing in the other bucket");
}
