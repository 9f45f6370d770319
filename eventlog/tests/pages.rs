//! Reading the log page by page with several pages in flight: every event once, in order, and
//! an end where the log ended, even while appends go on beside the read.

mod common;

use simledger_eventlog::{EventLog, ExpectedVersion};

async fn append_n(log: &EventLog, from: u64, n: u64) {
    let batch = (from..from + n).map(|i| common::sms(&format!("s-{}", i % 7), i)).collect();
    log.append(batch, ExpectedVersion::Any).await.unwrap();
}

async fn read_all(log: &EventLog, after: i64, page: i64) -> Vec<i64> {
    let mut positions = Vec::new();
    let mut pages = log.pages(after, page);
    while let Some(events) = pages.next().await.unwrap() {
        assert!(events.len() as i64 <= page, "a page holds at most {page} events");
        positions.extend(events.iter().map(|e| e.position));
    }
    positions
}

#[tokio::test]
async fn pages_deliver_every_event_once_in_order_from_any_position() {
    let (_db, log) = common::fresh_log().await;
    append_n(&log, 0, 1_234).await;

    assert_eq!(read_all(&log, 0, 100).await, (1..=1_234).collect::<Vec<_>>());
    assert_eq!(read_all(&log, 567, 100).await, (568..=1_234).collect::<Vec<_>>());
    // Pages that end exactly at the head, and a log read from its head.
    assert_eq!(read_all(&log, 34, 100).await, (35..=1_234).collect::<Vec<_>>());
    assert!(read_all(&log, 1_234, 100).await.is_empty());
    // A position before the log's start is its start: nothing delivered twice.
    assert_eq!(read_all(&log, -5, 100).await, (1..=1_234).collect::<Vec<_>>());
}

/// Pages read ahead may be read after appends the page before them did not see. Whatever the
/// interleaving, what is delivered is a gap-free run from the start that reaches at least the
/// head as it was when reading began.
#[tokio::test]
async fn pages_read_during_appends_never_skip_or_repeat() {
    let (_db, log) = common::fresh_log().await;
    append_n(&log, 0, 500).await;
    for round in 0..30 {
        let writer = tokio::spawn({
            let log = log.clone();
            async move {
                for i in 0..20 {
                    append_n(&log, 10_000 * (round + 1) + i * 7, 7).await;
                }
            }
        });
        let head = log.head().await.unwrap();
        let positions = read_all(&log, 0, 20).await;
        writer.await.unwrap();

        let last = *positions.last().expect("the log is not empty");
        assert!(last >= head, "round {round}: read to {last}, the head was {head} when reading began");
        assert_eq!(positions, (1..=last).collect::<Vec<_>>(), "round {round}: every event once, in order");
    }
}

/// A reader dropped with pages in flight leaves the pool usable: their connections are not
/// handed back with the rest of a COPY unread.
#[tokio::test]
async fn dropping_pages_in_flight_leaves_the_pool_working() {
    let (_db, log) = common::fresh_log().await;
    append_n(&log, 0, 3_000).await;
    for _ in 0..5 {
        let mut pages = log.pages(0, 50);
        let first = pages.next().await.unwrap().expect("a first page");
        assert_eq!(first.first().map(|e| e.position), Some(1));
        drop(pages);
        assert_eq!(log.head().await.unwrap(), 3_000);
        assert_eq!(read_all(&log, 2_900, 50).await, (2_901..=3_000).collect::<Vec<_>>());
    }
}
