//! Billing's `*export` written by the tenant's exporters: one document per event and exporter,
//! the same document again (not a second one) when a crash makes the exporter redo a batch, and
//! nothing skipped while an exporter cannot write.

use std::path::{Path, PathBuf};
use std::time::Duration;

use simledger_eventlog::catalog::BillingExportRequested;
use simledger_eventlog::{Event, EventLog, ExpectedVersion, Metadata, NewEvent};
use simledger_exporters::account_exports;
use simledger_exporters::cdr_export::{self, Exporter};
use simledger_services::testing::TestDatabase;
use uuid::Uuid;

const TENANT: &str = "cgrates.org";

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("simledger-account-exports-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn exporter(log: &EventLog, id: &str, kind: &str, dir: &Path) {
    cdr_export::create(log, TENANT, &Exporter::new(id, kind.parse().unwrap(), dir.to_str().unwrap())).await.unwrap();
}

async fn request_export(log: &EventLog, exporters: &[&str]) {
    let export = BillingExportRequested {
        tenant: TENANT.into(),
        account: "1001".into(),
        exporter_ids: exporters.iter().map(|s| s.to_string()).collect(),
        account_view:
            r#"{"ID":"cgrates.org:1001","BalanceMap":{"*monetary":[{"ID":"main","Value":0.10000000000000000001}]},
            "UnitCounters":{},"ActionTriggers":[],"AllowNegative":false,"Disabled":false,
            "UpdateTime":"2026-05-01T10:00:00Z"}"#
                .into(),
    };
    let e = NewEvent::new(
        Uuid::new_v4(),
        "billing-test",
        &Event::BillingExportRequested(export),
        &Metadata::from_source("test"),
    )
    .unwrap();
    log.append(vec![e], ExpectedVersion::Any).await.unwrap();
}

async fn checkpoint(log: &EventLog) -> i64 {
    let mut conn = log.pool().acquire().await.unwrap();
    simledger_eventlog::checkpoint::load(&mut conn, account_exports::NAME, log.shard()).await.unwrap()
}

async fn wait_for_checkpoint(log: &EventLog, at: i64) {
    for _ in 0..400 {
        if checkpoint(log).await >= at {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the account exporter's checkpoint did not reach {at}");
}

/// The documents in `dir` with their contents, by name (temporary files included, so a
/// leftover one fails the comparison).
fn documents(dir: &Path) -> Vec<(String, String)> {
    let mut found: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read_to_string(e.path()).unwrap()))
        .collect();
    found.sort();
    found
}

#[tokio::test]
async fn each_named_exporter_writes_one_document_in_its_format() {
    let db = TestDatabase::new().await;
    let log = EventLog::new(db.pool().await);
    let dir = temp_dir();
    exporter(&log, "csv", "*file_csv", &dir).await;
    exporter(&log, "json", "*file_json", &dir).await;
    request_export(&log, &["csv", "json", "missing"]).await;
    let head = log.head().await.unwrap();
    let task = account_exports::spawn(log.clone());
    wait_for_checkpoint(&log, head).await;
    task.abort();

    let docs = documents(&dir);
    let names: Vec<&str> = docs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, [format!("account_csv_{head:020}.csv"), format!("account_json_{head:020}.json")]);
    let csv = &docs[0].1;
    assert!(csv.starts_with(&account_exports::COLUMNS.join(",")), "{csv}");
    assert!(
        csv.contains("cgrates.org,cgrates.org:1001,AccountUpdate,AccountS,false,false,2026-05-01T10:00:00Z"),
        "{csv}"
    );
    assert!(csv.contains("0.10000000000000000001"), "amounts keep every digit: {csv}");
    let json = &docs[1].1;
    assert!(json.contains(r#""Value":0.10000000000000000001"#), "{json}");
    let doc: serde_json::Value = serde_json::from_str(json).unwrap();
    assert_eq!(doc["Tenant"], TENANT);
    assert_eq!(doc["Event"]["Account"], "cgrates.org:1001");
    assert_eq!(doc["Event"]["EventType"], "AccountUpdate");
    assert_eq!(doc["APIOpts"]["*eventType"], "AccountUpdate");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_batch_redone_after_a_lost_checkpoint_rewrites_the_same_documents() {
    let db = TestDatabase::new().await;
    let log = EventLog::new(db.pool().await);
    let dir = temp_dir();
    exporter(&log, "csv", "*file_csv", &dir).await;
    request_export(&log, &["csv"]).await;
    request_export(&log, &["csv"]).await;
    let head = log.head().await.unwrap();
    let first = account_exports::spawn(log.clone());
    wait_for_checkpoint(&log, head).await;
    first.abort();
    let _ = first.await;
    let before = documents(&dir);
    assert_eq!(before.len(), 2, "one document per event");

    // A crash after the documents were written and before the checkpoint committed: the next
    // exporter starts from the old checkpoint and writes the batch again.
    sqlx::query("UPDATE checkpoints SET position = 0 WHERE name = $1")
        .bind(account_exports::NAME)
        .execute(log.pool())
        .await
        .unwrap();
    let second = account_exports::spawn(log.clone());
    wait_for_checkpoint(&log, head).await;
    second.abort();
    assert_eq!(documents(&dir), before, "the same documents, byte for byte, and no others");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn an_exporter_that_cannot_write_holds_its_exports_until_it_can() {
    let db = TestDatabase::new().await;
    let log = EventLog::new(db.pool().await);
    let dir = temp_dir();
    exporter(&log, "csv", "*file_csv", &dir).await;
    std::fs::remove_dir_all(&dir).unwrap();
    request_export(&log, &["csv"]).await;
    let head = log.head().await.unwrap();
    let task = account_exports::spawn(log.clone());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(checkpoint(&log).await < head, "the failed write did not move the checkpoint");

    std::fs::create_dir_all(&dir).unwrap();
    wait_for_checkpoint(&log, head).await;
    task.abort();
    let docs = documents(&dir);
    assert_eq!(docs.len(), 1, "written once the folder is back: {docs:?}");
    assert_eq!(docs[0].0, format!("account_csv_{head:020}.csv"));
    std::fs::remove_dir_all(&dir).unwrap();
}
