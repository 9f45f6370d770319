//! The shared tail: live subscriptions take new events from one read of them, and one behind
//! its window reads the table until it reaches it, with no gap and no repeat either way.

mod common;

use std::time::Duration;

use simledger_eventlog::{EventLog, ExpectedVersion, Subscription};

async fn append_n(log: &EventLog, from: u64, n: u64) {
    let batch = (from..from + n).map(|i| common::sms(&format!("s-{}", i % 13), i)).collect();
    log.append(batch, ExpectedVersion::Any).await.unwrap();
}

/// Every position the subscription delivers until it has `upto`.
async fn collect(sub: &mut Subscription, upto: i64) -> Vec<i64> {
    let mut positions = Vec::new();
    while positions.last().copied().unwrap_or(sub.position()) < upto {
        let batch = tokio::time::timeout(Duration::from_secs(20), sub.next_batch())
            .await
            .expect("the subscription delivers in time")
            .unwrap();
        positions.extend(batch.iter().map(|e| e.position));
    }
    positions
}

#[tokio::test]
async fn live_subscriptions_take_every_event_from_one_shared_read() {
    let (_db, log) = common::fresh_log().await;
    let mut subs = Vec::new();
    for _ in 0..8 {
        subs.push(log.subscribe(0, 1000).await.unwrap());
    }
    let readers: Vec<_> = subs
        .into_iter()
        .map(|mut sub| {
            tokio::spawn(async move {
                let positions = collect(&mut sub, 500).await;
                (positions, sub.table_reads())
            })
        })
        .collect();
    for round in 0..50 {
        append_n(&log, round * 10, 10).await;
    }
    for reader in readers {
        let (positions, table_reads) = reader.await.unwrap();
        assert_eq!(positions, (1..=500).collect::<Vec<_>>(), "every event once, in order");
        assert_eq!(table_reads, 0, "a live subscription reads nothing from the table itself");
    }
}

#[tokio::test]
async fn a_subscription_behind_the_window_reads_the_table_then_joins_the_tail() {
    let (_db, log) = common::fresh_log().await;
    // The tail starts with the first subscription, at the head: everything after it is kept,
    // up to its window.
    let mut live = log.subscribe(0, 5000).await.unwrap();
    let total = 17_000u64;
    for from in (0..total).step_by(1000) {
        append_n(&log, from, 1000).await;
    }
    assert_eq!(collect(&mut live, total as i64).await, (1..=total as i64).collect::<Vec<_>>());

    // The first 616 events have left the window (it keeps 16,384): a subscription from 0
    // reads those from the table, then the rest from the tail, then follows live.
    let mut late = log.subscribe(0, 2000).await.unwrap();
    let mut positions = collect(&mut late, total as i64).await;
    let reads_to_catch_up = late.table_reads();
    assert!(reads_to_catch_up >= 1, "behind the window, it read the table");
    append_n(&log, total, 5).await;
    positions.extend(collect(&mut late, total as i64 + 5).await);
    assert_eq!(positions, (1..=total as i64 + 5).collect::<Vec<_>>(), "no gap and no repeat at either hand-over");
    assert_eq!(late.table_reads(), reads_to_catch_up, "once in the window, it reads only the tail");
}

#[tokio::test]
async fn a_tail_left_by_every_subscription_stops_and_the_next_one_starts_it_from_the_head() {
    let (_db, log) = common::fresh_log().await;
    let mut first = log.subscribe(0, 100).await.unwrap();
    append_n(&log, 0, 5).await;
    assert_eq!(collect(&mut first, 5).await, (1..=5).collect::<Vec<_>>());
    drop(first);
    // Appended while no subscription holds the tail: the next one finds them all the same.
    append_n(&log, 5, 5).await;
    let mut next = log.subscribe(5, 100).await.unwrap();
    append_n(&log, 10, 3).await;
    assert_eq!(collect(&mut next, 13).await, (6..=13).collect::<Vec<_>>());
    append_n(&log, 13, 2).await;
    assert_eq!(collect(&mut next, 15).await, vec![14, 15]);
}
