mod common;

use std::time::Duration;

use simledger_eventlog::checkpoint::{self, ApplyError, Subscriber};
use simledger_eventlog::{EventLog, ExpectedVersion, RecordedEvent};
use sqlx::PgConnection;
use tokio::sync::watch;

/// Records every position it applies in a table whose primary key refuses a repeat.
#[derive(Clone)]
struct Recorder;

impl Subscriber for Recorder {
    fn name(&self) -> &str {
        "recorder"
    }

    async fn apply(&mut self, tx: &mut PgConnection, events: &[RecordedEvent]) -> Result<(), ApplyError> {
        let positions: Vec<i64> = events.iter().map(|e| e.position).collect();
        sqlx::query("INSERT INTO applied (position) SELECT unnest($1::bigint[])").bind(&positions).execute(tx).await?;
        Ok(())
    }
}

async fn wait_until(progress: &mut watch::Receiver<i64>, position: i64) {
    tokio::time::timeout(Duration::from_secs(20), progress.wait_for(|p| *p >= position))
        .await
        .expect("subscriber reached the position in time")
        .unwrap();
}

async fn append_n(log: &EventLog, n: u64) {
    let batch = (0..n).map(|i| common::sms(&format!("s-{}", i % 13), i)).collect();
    log.append(batch, ExpectedVersion::Any).await.unwrap();
}

#[tokio::test]
async fn a_subscription_hands_over_from_catch_up_to_live_without_gap_or_repeat() {
    let (_db, log) = common::fresh_log().await;
    append_n(&log, 250).await;
    let mut sub = log.subscribe(0, 100).await.unwrap();
    let mut positions = Vec::new();
    while positions.len() < 250 {
        positions.extend(sub.next_batch().await.unwrap().iter().map(|e| e.position));
    }
    // Caught up: the next batch can only come from an append made after this point.
    let live = tokio::spawn(async move { sub.next_batch().await.unwrap() });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!live.is_finished(), "the subscription returned without a new event");
    append_n(&log, 3).await;
    let more = tokio::time::timeout(Duration::from_secs(10), live).await.unwrap().unwrap();
    positions.extend(more.iter().map(|e| e.position));

    assert_eq!(positions, (1..=253).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_restarted_subscriber_resumes_from_its_checkpoint_and_applies_each_event_once() {
    let (_db, log) = common::fresh_log().await;
    sqlx::query("CREATE TABLE applied (position bigint PRIMARY KEY)").execute(log.pool()).await.unwrap();
    append_n(&log, 500).await;

    let (tx, mut progress) = watch::channel(0);
    let first = tokio::spawn(checkpoint::run_checkpointed(log.clone(), Recorder, 64, tx));
    wait_until(&mut progress, 500).await;
    append_n(&log, 100).await;
    // Killed mid-stream: whatever batch was in flight is rolled back with its checkpoint.
    first.abort();
    let _ = first.await;
    append_n(&log, 400).await;

    let (tx, mut progress) = watch::channel(0);
    let second = tokio::spawn(checkpoint::run_checkpointed(log.clone(), Recorder, 64, tx));
    wait_until(&mut progress, 1000).await;
    second.abort();

    let (count, max): (i64, Option<i64>) =
        sqlx::query_as("SELECT count(*), max(position) FROM applied").fetch_one(log.pool()).await.unwrap();
    assert_eq!((count, max), (1000, Some(1000)));
    let mut conn = log.pool().acquire().await.unwrap();
    assert_eq!(checkpoint::load(&mut conn, "recorder", 0).await.unwrap(), 1000);
}

#[tokio::test]
async fn two_workers_of_one_subscriber_never_both_apply_a_batch() {
    let (_db, log) = common::fresh_log().await;
    sqlx::query("CREATE TABLE applied (position bigint PRIMARY KEY)").execute(log.pool()).await.unwrap();
    let (tx_a, mut progress_a) = watch::channel(0);
    let (tx_b, _progress_b) = watch::channel(0);
    let a = tokio::spawn(checkpoint::run_checkpointed(log.clone(), Recorder, 50, tx_a));
    let b = tokio::spawn(checkpoint::run_checkpointed(log.clone(), Recorder, 50, tx_b));
    for _ in 0..10 {
        append_n(&log, 30).await;
    }
    // One of them may stop with a conflict (or a duplicate key); every event is applied once.
    let _ = tokio::time::timeout(Duration::from_secs(5), progress_a.wait_for(|p| *p >= 300)).await;
    a.abort();
    b.abort();
    let mut conn = log.pool().acquire().await.unwrap();
    let at = checkpoint::load(&mut conn, "recorder", 0).await.unwrap();
    let (count, max): (i64, Option<i64>) =
        sqlx::query_as("SELECT count(*), max(position) FROM applied").fetch_one(log.pool()).await.unwrap();
    assert_eq!(count, at);
    assert_eq!(max.unwrap_or(0), at);
}

#[tokio::test]
async fn a_hole_in_positions_stops_a_subscription_instead_of_stalling_it() {
    let (_db, log) = common::fresh_log().await;
    append_n(&log, 1).await;
    // Position 3 written by hand, 2 missing, head moved past it: what the append path never does.
    sqlx::query(
        "INSERT INTO events (shard, position, event_id, stream, stream_version, type, data, metadata, recorded_at) \
         SELECT 0, 3, gen_random_uuid(), 'x', 1, type, data, metadata, now() FROM events WHERE position = 1",
    )
    .execute(log.pool())
    .await
    .unwrap();
    sqlx::query("UPDATE log_shards SET head = 3").execute(log.pool()).await.unwrap();
    // Read past the hole in one page, and up to it then on from it: both fail, neither skips.
    let mut sub = log.subscribe(0, 10).await.unwrap();
    let across = tokio::time::timeout(Duration::from_secs(5), sub.next_batch()).await.expect("fails, not waits");
    let mut sub = log.subscribe(0, 1).await.unwrap();
    assert_eq!(sub.next_batch().await.unwrap().len(), 1);
    let after = tokio::time::timeout(Duration::from_secs(5), sub.next_batch()).await.expect("fails, not waits");

    for err in [across, after] {
        assert!(matches!(err, Err(simledger_eventlog::EventLogError::Gap { after: 1, next: 3 })), "{err:?}");
    }
}

/// Fails at chosen positions: a panic at 7, a database data error at 20; the first time only,
/// an error of a kind the runner does not know at 30 (a peer that timed out, say) and a
/// connection reset at 40.
#[derive(Clone)]
struct Breaker {
    flaked: std::sync::Arc<std::sync::atomic::AtomicBool>,
    reset: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Subscriber for Breaker {
    fn name(&self) -> &str {
        "breaker"
    }

    async fn apply(&mut self, tx: &mut PgConnection, events: &[RecordedEvent]) -> Result<(), ApplyError> {
        for e in events {
            sqlx::query("INSERT INTO applied (position) VALUES ($1)").bind(e.position).execute(&mut *tx).await?;
            match e.position {
                7 => panic!("cannot fold event 7"),
                20 => {
                    sqlx::query("SELECT 1 / 0").execute(&mut *tx).await?;
                }
                30 if !self.flaked.swap(true, std::sync::atomic::Ordering::SeqCst) => {
                    return Err(ApplyError::other("NATS", "request timed out: no responders"));
                }
                40 if !self.reset.swap(true, std::sync::atomic::Ordering::SeqCst) => {
                    let reset = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
                    return Err(ApplyError::other("a peer", reset));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

#[tokio::test]
async fn an_event_a_subscriber_cannot_apply_is_dead_lettered_and_the_rest_applied() {
    let (_db, log) = common::fresh_log().await;
    sqlx::query("CREATE TABLE applied (position bigint PRIMARY KEY)").execute(log.pool()).await.unwrap();
    append_n(&log, 50).await;
    let breaker = Breaker { flaked: Default::default(), reset: Default::default() };
    let (tx, mut progress) = watch::channel(0);
    // As the projection runner does: a failure that may pass ends the run, which restarts.
    let runner = tokio::spawn({
        let log = log.clone();
        let breaker = breaker.clone();
        async move {
            let mut restarts = 0;
            while let Err(e) = checkpoint::run_checkpointed(log.clone(), breaker.clone(), 16, tx.clone()).await {
                let e = simledger_eventlog::error::cause_chain(&e);
                assert!(e.contains("reset") || e.contains("no responders"), "only a passing failure ends a run: {e}");
                restarts += 1;
            }
            restarts
        }
    });
    wait_until(&mut progress, 50).await;
    append_n(&log, 5).await;
    wait_until(&mut progress, 55).await;
    runner.abort();

    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT position FROM applied ORDER BY position").fetch_all(log.pool()).await.unwrap();
    let expected: Vec<i64> = (1..=55).filter(|p| ![7, 20].contains(p)).collect();
    assert_eq!(applied, expected, "every other event applied once, the passing failures retried");
    let dead = simledger_eventlog::dead_letter::list(log.pool(), Some("breaker"), 10).await.unwrap();
    let got: Vec<(i64, bool)> = dead
        .iter()
        .map(|d| (d.position, d.reason.contains("cannot fold event 7") || d.reason.contains("division by zero")))
        .collect();
    assert_eq!(got, vec![(7, true), (20, true)], "{dead:?}");
    assert!(breaker.flaked.load(std::sync::atomic::Ordering::SeqCst));
    assert!(breaker.reset.load(std::sync::atomic::Ordering::SeqCst));
}

#[tokio::test]
async fn a_page_of_any_size_reads_exactly_the_events_after_its_position() {
    let db = simledger_services::testing::TestDatabase::new().await;
    let log = EventLog::new(db.pool().await);
    append_n(&log, 7).await;
    for after in 0..8 {
        for limit in 1..9 {
            let copy: Vec<i64> = log.read(after, limit).await.unwrap().iter().map(|e| e.position).collect();
            let select: Vec<i64> = log.read_few(after, limit).await.unwrap().iter().map(|e| e.position).collect();
            let expected: Vec<i64> = (after + 1..=7.min(after + limit)).collect();
            assert_eq!(copy, expected, "COPY page after {after}, limit {limit}");
            assert_eq!(select, expected, "SELECT page after {after}, limit {limit}");
        }
    }
}
