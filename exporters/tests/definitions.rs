//! Exporter definitions are events: each is logged as `cdr_exporter.defined` and folded into
//! `cdr_exporters` without ever moving a cursor; a definition whose command crashed after the
//! append is applied by the subscriber; folding the log again from the start changes nothing.

use std::time::Duration;

use simledger_eventlog::catalog::{CdrExporterDefined, ExporterDefinitionMode};
use simledger_eventlog::{Event, EventLog, ExpectedVersion, Metadata, NewEvent};
use simledger_exporters::cdr_export::{self, Exporter, ExporterDefinitions, ExporterKind, DEFINITIONS};
use simledger_services::testing::TestDatabase;
use tokio::sync::watch;
use uuid::Uuid;

const TENANT: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

/// An S3 exporter to `s3://bucket/<folder>`: its definition is checked without touching disk.
fn exporter(id: &str, folder: &str) -> Exporter {
    Exporter::new(id, ExporterKind::S3Csv, s3(folder))
}

fn s3(folder: &str) -> String {
    format!("s3://bucket/{folder}")
}

async fn defined_events(log: &EventLog) -> Vec<(i64, CdrExporterDefined)> {
    let mut out = Vec::new();
    for e in log.read(0, 10_000).await.unwrap() {
        if let Event::CdrExporterDefined(d) = e.event {
            out.push((e.position, d));
        }
    }
    out
}

async fn paths_and_cursors(log: &EventLog) -> Vec<(String, String, i64, bool)> {
    sqlx::query_as(
        "SELECT exporter_id, export_path, last_exported_order_id, declared FROM cdr_exporters ORDER BY exporter_id",
    )
    .fetch_all(log.pool())
    .await
    .unwrap()
}

/// Runs the definitions subscriber until it has read the log's head.
async fn fold_to_head(log: &EventLog) {
    let head = log.head().await.unwrap();
    let (progress, mut seen) = watch::channel(0);
    let run =
        tokio::spawn(simledger_eventlog::checkpoint::run_checkpointed(log.clone(), ExporterDefinitions, 64, progress));
    tokio::time::timeout(Duration::from_secs(20), seen.wait_for(|p| *p >= head)).await.unwrap().unwrap();
    run.abort();
}

#[tokio::test]
async fn every_definition_is_logged_and_a_redefinition_keeps_the_cursor() {
    let db = TestDatabase::new().await;
    let log = EventLog::new(db.pool().await);
    cdr_export::create(&log, TENANT, &exporter("daily", "a")).await.unwrap();
    sqlx::query("UPDATE cdr_exporters SET last_exported_order_id = 41").execute(log.pool()).await.unwrap();
    cdr_export::upsert(&log, TENANT, &exporter("daily", "b")).await.unwrap();
    let again = cdr_export::create(&log, TENANT, &exporter("daily", "c")).await.unwrap_err();
    assert!(again.to_string().contains("already exists"), "{again}");
    let logged = defined_events(&log).await;
    assert_eq!(logged.len(), 2, "a refused create logs nothing");
    assert_eq!(
        (logged[0].1.mode, logged[1].1.mode),
        (ExporterDefinitionMode::Create, ExporterDefinitionMode::Redefine)
    );
    assert_eq!(paths_and_cursors(&log).await, [("daily".into(), s3("b"), 41, false)]);
    // The same definition declared again (a restart with the same configuration) logs nothing.
    let head = log.head().await.unwrap();
    cdr_export::upsert(&log, TENANT, &exporter("daily", "b")).await.unwrap();
    assert_eq!(log.head().await.unwrap(), head);
    // Folding the whole log again, from 0, leaves definitions and cursors as they are.
    fold_to_head(&log).await;
    assert_eq!(paths_and_cursors(&log).await, [("daily".into(), s3("b"), 41, false)]);
}

#[tokio::test]
async fn a_definition_logged_but_never_applied_is_applied_by_the_subscriber() {
    let db = TestDatabase::new().await;
    let log = EventLog::new(db.pool().await);
    cdr_export::create(&log, TENANT, &exporter("kept", "k")).await.unwrap();
    // What a command leaves when it is killed between the append and the apply.
    let lost = CdrExporterDefined {
        tenant: TENANT.into(),
        exporter_id: "late".into(),
        kind: "*file_json".into(),
        export_path: s3("l"),
        filters: vec!["*string:~*req.ToR:*data".into()],
        fields: serde_json::json!([]),
        field_separator: ",".into(),
        header: true,
        schedule: Some("*hourly".into()),
        declared: false,
        mode: ExporterDefinitionMode::Create,
        nats_jetstream: false,
        attempts: 3,
    };
    let e = NewEvent::new(
        Uuid::now_v7(),
        "cdr-exporter-test",
        &Event::CdrExporterDefined(lost),
        &Metadata::from_source("test"),
    )
    .unwrap();
    log.append(vec![e], ExpectedVersion::Any).await.unwrap();
    assert!(cdr_export::get(log.pool(), TENANT, "late").await.is_err());
    fold_to_head(&log).await;
    let late = cdr_export::get(log.pool(), TENANT, "late").await.unwrap();
    assert_eq!((late.kind, late.filters.len(), late.schedule.as_deref()), (ExporterKind::FileJson, 1, Some("*hourly")));
    assert_eq!(cdr_export::get(log.pool(), TENANT, "kept").await.unwrap().export_path, s3("k"));
    let checkpoint = {
        let mut c = log.pool().acquire().await.unwrap();
        simledger_eventlog::checkpoint::load(&mut c, DEFINITIONS, log.shard()).await.unwrap()
    };
    assert_eq!(checkpoint, log.head().await.unwrap());
}

#[tokio::test]
async fn an_older_definition_applied_late_and_a_customer_redefinition_of_a_declared_one_change_nothing() {
    let db = TestDatabase::new().await;
    let log = EventLog::new(db.pool().await);
    let mut declared = exporter("billing", "operator/path");
    declared.declared = true;
    cdr_export::upsert(&log, TENANT, &declared).await.unwrap();
    // A customer's redefinition is refused before it is logged…
    let refused = cdr_export::upsert_own(&log, TENANT, &exporter("billing", "mine")).await.unwrap_err();
    assert!(refused.to_string().contains("operator"), "{refused}");
    // …and, logged anyway (it raced the declaration), the fold refuses it too.
    let mut own = defined_events(&log).await.remove(0).1;
    own.export_path = s3("stolen");
    own.declared = false;
    own.mode = ExporterDefinitionMode::RedefineOwn;
    let e = NewEvent::new(
        Uuid::now_v7(),
        "cdr-exporter-test",
        &Event::CdrExporterDefined(own),
        &Metadata::from_source("test"),
    )
    .unwrap();
    log.append(vec![e], ExpectedVersion::Any).await.unwrap();
    fold_to_head(&log).await;
    assert_eq!(paths_and_cursors(&log).await, [("billing".into(), s3("operator/path"), 0, true)]);
    // The first definition again, at its old position: older than the one in force, so ignored.
    let (first_at, first) = defined_events(&log).await.remove(0);
    let mut conn = log.pool().acquire().await.unwrap();
    let mut stale = first.clone();
    stale.export_path = s3("stale");
    assert_eq!(cdr_export::apply_definition(&mut conn, &stale, first_at).await.unwrap(), 0);
    assert_eq!(paths_and_cursors(&log).await[0].1, s3("operator/path"));
}

#[tokio::test]
async fn a_removal_is_folded_once_and_spares_a_later_exporter_of_the_id_and_the_operators() {
    let db = TestDatabase::new().await;
    let log = EventLog::new(db.pool().await);
    cdr_export::create(&log, TENANT, &exporter("gone", "a")).await.unwrap();
    cdr_export::create(&log, TENANT, &exporter("again", "a")).await.unwrap();
    cdr_export::remove(&log, TENANT, "gone").await.unwrap();
    cdr_export::remove(&log, TENANT, "again").await.unwrap();
    // Created again after its removal: it starts afresh, and the removal does not reach it.
    cdr_export::create(&log, TENANT, &exporter("again", "b")).await.unwrap();
    sqlx::query("UPDATE cdr_exporters SET last_exported_order_id = 7 WHERE exporter_id = 'again'")
        .execute(log.pool())
        .await
        .unwrap();
    let declared = Exporter { declared: true, ..exporter("operators", "c") };
    cdr_export::upsert(&log, TENANT, &declared).await.unwrap();
    let head = log.head().await.unwrap();
    let refused = cdr_export::remove(&log, TENANT, "operators").await.unwrap_err();
    assert!(refused.to_string().contains("the operator's"), "{refused}");
    let missing = cdr_export::remove(&log, TENANT, "gone").await.unwrap_err();
    assert!(matches!(missing, cdr_export::ExportError::NotFound(_)), "{missing}");
    assert_eq!(log.head().await.unwrap(), head, "refusals log nothing");
    let expected = [("again".into(), s3("b"), 7, false), ("operators".into(), s3("c"), 0, true)];
    assert_eq!(paths_and_cursors(&log).await, expected);
    // Folding the whole log again, from 0, ends where the commands left it.
    fold_to_head(&log).await;
    assert_eq!(paths_and_cursors(&log).await, expected);
}
