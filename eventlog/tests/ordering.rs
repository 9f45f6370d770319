//! Position order is commit order, gap-free, under concurrent appenders.
//!
//! How we know this test has teeth:
//! - `tailing_reader_catches_a_naive_bigserial_log` below runs the same tailing check against a
//!   plain `bigserial` table where a later transaction commits before an earlier one, and the
//!   check reports the skipped row.
//! - We also patched the appender by hand to take positions from a sequence (`nextval`, the
//!   `bigserial` mechanism) without the head-row lock, with a random sub-2 ms pause before COPY
//!   and per-appender stream names (so only position allocation differed). This test then failed
//!   within seven seconds: "after position 43 the reader saw 57".

mod common;

use std::collections::HashSet;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use simledger_eventlog::{EventLog, ExpectedVersion, Position};
use simledger_services::testing::TestDatabase;

/// Follows positions as a reader would and reports the first hole or repeat it sees.
#[derive(Default)]
struct TailCheck {
    last: Position,
    seen: u64,
}

impl TailCheck {
    fn see(&mut self, position: Position) -> Result<(), String> {
        if position != self.last + 1 {
            return Err(format!("after position {} the reader saw {}", self.last, position));
        }
        self.last = position;
        self.seen += 1;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_concurrent_appenders_are_read_gap_free_in_commit_order() {
    const APPENDERS: usize = 8;
    const TOTAL: usize = 20_000;
    let db = TestDatabase::new().await;
    let reader_log = EventLog::new(db.pool().await);
    let mut subscription = reader_log.subscribe(0, 700).await.unwrap();

    let reader = tokio::spawn(async move {
        let mut check = TailCheck::default();
        while (check.seen as usize) < TOTAL {
            for e in subscription.next_batch().await.unwrap() {
                check.see(e.position)?;
            }
        }
        Ok::<_, String>(check)
    });

    let mut writers = Vec::new();
    for w in 0..APPENDERS {
        // Each appender is its own EventLog with its own pool: separate connections contending
        // exactly like separate processes.
        let log = EventLog::new(simledger_services::postgres::connect(&db.url, 2).await.unwrap());
        writers.push(tokio::spawn(async move {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(w as u64);
            let mut left = TOTAL / APPENDERS;
            let mut ids = Vec::new();
            while left > 0 {
                let n = rng.random_range(1..=7).min(left);
                let batch: Vec<_> =
                    (0..n).map(|i| common::sms(&format!("sim-{}", rng.random_range(0..50)), i as u64)).collect();
                ids.extend(batch.iter().map(|e| e.event_id));
                log.append(batch, ExpectedVersion::Any).await.unwrap();
                left -= n;
            }
            ids
        }));
    }
    let mut appended = HashSet::new();
    for w in writers {
        appended.extend(w.await.unwrap());
    }
    let check = tokio::time::timeout(Duration::from_secs(60), reader).await.unwrap().unwrap().unwrap();

    assert_eq!(appended.len(), TOTAL);
    assert_eq!(check.seen as usize, TOTAL);
    assert_eq!(reader_log.head().await.unwrap(), TOTAL as i64);
    let stored: Vec<uuid::Uuid> =
        sqlx::query_scalar("SELECT event_id FROM events").fetch_all(reader_log.pool()).await.unwrap();
    assert_eq!(stored.into_iter().collect::<HashSet<_>>(), appended);
    // Stream versions are gap-free too.
    let bad_streams: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT stream FROM events GROUP BY stream HAVING max(stream_version) <> count(*)) s",
    )
    .fetch_one(reader_log.pool())
    .await
    .unwrap();
    assert_eq!(bad_streams, 0);
}

/// The checker above against the bug it exists to catch: with `bigserial`, transaction A takes
/// id 1, transaction B takes id 2 and commits first; a reader tailing `id > cursor` moves past 2
/// and never sees 1.
#[tokio::test]
async fn tailing_reader_catches_a_naive_bigserial_log() {
    let db = TestDatabase::new().await;
    let pool = db.pool().await;
    sqlx::query("CREATE TABLE naive_log (id bigserial PRIMARY KEY, body text)").execute(&pool).await.unwrap();

    let mut a = pool.begin().await.unwrap();
    sqlx::query("INSERT INTO naive_log (body) VALUES ('a')").execute(&mut *a).await.unwrap();
    let mut b = pool.begin().await.unwrap();
    sqlx::query("INSERT INTO naive_log (body) VALUES ('b')").execute(&mut *b).await.unwrap();
    b.commit().await.unwrap();

    let mut check = TailCheck::default();
    let mut outcome = Ok(());
    let read = |after: i64| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT id FROM naive_log WHERE id > $1 ORDER BY id")
                .bind(after)
                .fetch_all(&pool)
                .await
                .unwrap()
        }
    };
    for id in read(check.last).await {
        outcome = outcome.and(check.see(id));
    }
    a.commit().await.unwrap();
    for id in read(check.last).await {
        outcome = outcome.and(check.see(id));
    }
    assert_eq!(outcome, Err("after position 0 the reader saw 2".to_owned()));
}
