mod common;

use simledger_eventlog::catalog::{NapCreated, SmsEvent};
use simledger_eventlog::{Event, EventLogError, ExpectedVersion, Metadata, NewEvent, MAX_PAYLOAD_BYTES};
use uuid::Uuid;

#[tokio::test]
async fn appending_an_existing_event_id_is_a_no_op_reporting_the_original_position() {
    let (_db, log) = common::fresh_log().await;
    let first = common::sms("sim-a", 1);
    log.append(vec![common::sms("sim-b", 0)], ExpectedVersion::Any).await.unwrap();
    let original = log.append(vec![first.clone()], ExpectedVersion::Any).await.unwrap();
    log.append(vec![common::sms("sim-b", 2)], ExpectedVersion::Any).await.unwrap();

    let again = log.append(vec![first], ExpectedVersion::Any).await.unwrap();

    assert_eq!(again[0].position, original[0].position);
    assert_eq!(again[0].position, 2);
    assert!(again[0].duplicate);
    assert_eq!(log.head().await.unwrap(), 3);
}

#[tokio::test]
async fn a_redelivered_batch_appends_only_the_events_not_yet_in_the_log() {
    let (_db, log) = common::fresh_log().await;
    let seen = common::sms("s", 1);
    log.append(vec![seen.clone()], ExpectedVersion::Any).await.unwrap();

    let out = log.append(vec![seen, common::sms("s", 2)], ExpectedVersion::Any).await.unwrap();

    assert_eq!((out[0].position, out[0].duplicate), (1, true));
    assert_eq!((out[1].position, out[1].duplicate, out[1].stream_version), (2, false, 2));
}

#[tokio::test]
async fn the_same_event_id_twice_in_concurrent_appends_is_stored_once() {
    let (_db, log) = common::fresh_log().await;
    let e = common::sms("s", 1);
    let (a, b) =
        tokio::join!(log.append(vec![e.clone()], ExpectedVersion::Any), log.append(vec![e], ExpectedVersion::Any));
    assert_eq!(a.unwrap()[0].position, b.unwrap()[0].position);
    assert_eq!(log.head().await.unwrap(), 1);
}

#[tokio::test]
async fn two_processes_appending_the_same_events_at_once_store_each_once() {
    // Two handles, each with its own appender and connections, as two processes have: one
    // often waits for the head lock while the other commits the very events it is about to
    // write, which its duplicate check must then see.
    let (db, a) = common::fresh_log().await;
    let b = simledger_eventlog::EventLog::new(db.pool().await);
    for round in 0..60u64 {
        let events: Vec<NewEvent> = (0..4).map(|n| common::sms(&format!("s{}", n % 2), round * 4 + n)).collect();
        let (x, y) =
            tokio::join!(a.append(events.clone(), ExpectedVersion::Any), b.append(events, ExpectedVersion::Any));
        let (x, y) = (x.unwrap(), y.unwrap());
        let positions = |r: &[simledger_eventlog::Appended]| r.iter().map(|e| e.position).collect::<Vec<_>>();
        assert_eq!(positions(&x), positions(&y), "both were told the one place each event has");
    }
    assert_eq!(a.head().await.unwrap(), 240, "each event once, positions gap-free");
    let distinct: i64 =
        sqlx::query_scalar("SELECT count(DISTINCT event_id) FROM events").fetch_one(a.pool()).await.unwrap();
    assert_eq!(distinct, 240);
}

#[tokio::test]
async fn a_stale_expected_version_is_a_conflict_and_appends_nothing() {
    let (_db, log) = common::fresh_log().await;
    log.append(vec![common::sms("fleet-1", 1)], ExpectedVersion::NoStream).await.unwrap();

    let again = log.append(vec![common::sms("fleet-1", 2)], ExpectedVersion::NoStream).await;
    let stale = log.append(vec![common::sms("fleet-1", 3)], ExpectedVersion::Exact(0)).await;
    let current = log.append(vec![common::sms("fleet-1", 4)], ExpectedVersion::Exact(1)).await.unwrap();

    assert!(matches!(again, Err(EventLogError::Conflict { actual: 1, .. })), "{again:?}");
    assert!(matches!(stale, Err(EventLogError::Conflict { actual: 1, .. })), "{stale:?}");
    assert_eq!((current[0].position, current[0].stream_version), (2, 2));
}

#[tokio::test]
async fn a_conflict_in_a_group_does_not_fail_the_other_appends_in_it() {
    let (_db, log) = common::fresh_log().await;
    log.append(vec![common::sms("fleet-1", 1)], ExpectedVersion::NoStream).await.unwrap();
    let mut calls = Vec::new();
    for i in 0..20 {
        let log = log.clone();
        calls.push(tokio::spawn(async move {
            let expected = if i == 7 { ExpectedVersion::NoStream } else { ExpectedVersion::Any };
            log.append(vec![common::sms("fleet-1", i)], expected).await
        }));
    }
    let mut conflicts = 0;
    for c in calls {
        if c.await.unwrap().is_err() {
            conflicts += 1;
        }
    }
    assert_eq!(conflicts, 1);
    assert_eq!(log.head().await.unwrap(), 20);
}

#[tokio::test]
async fn concurrent_appends_share_transactions() {
    let (_db, log) = common::fresh_log().await;
    let calls: Vec<_> = (0..400)
        .map(|i| {
            let log = log.clone();
            tokio::spawn(async move { log.append(vec![common::sms("s", i)], ExpectedVersion::Any).await })
        })
        .collect();
    for c in calls {
        c.await.unwrap().unwrap();
    }
    // Rows written by one transaction share its xmin.
    let transactions: i64 =
        sqlx::query_scalar("SELECT count(DISTINCT xmin::text) FROM events").fetch_one(log.pool()).await.unwrap();
    assert!(transactions < 400 / 4, "400 appends took {transactions} transactions");
}

#[tokio::test]
async fn an_expected_version_over_several_streams_is_refused() {
    let (_db, log) = common::fresh_log().await;
    let out = log.append(vec![common::sms("a", 1), common::sms("b", 2)], ExpectedVersion::NoStream).await;
    assert!(matches!(out, Err(EventLogError::InvalidBatch(_))), "{out:?}");
    assert_eq!(log.head().await.unwrap(), 0);
}

#[test]
fn a_payload_over_one_mebibyte_is_refused() {
    let event = Event::NapCreated(NapCreated {
        nap_sid: "HA1".into(),
        account_sid: "AC1".into(),
        unique_name: Some("x".repeat(MAX_PAYLOAD_BYTES)),
        networks: vec![],
    });
    let out = NewEvent::new(Uuid::new_v4(), "nap-1", &event, &Metadata::default());
    assert!(matches!(out, Err(EventLogError::PayloadTooLarge { .. })), "{out:?}");
}

#[test]
fn a_nul_character_is_refused_before_it_can_fail_a_group_commit() {
    let e = SmsEvent {
        sms_command_sid: "HC1".into(),
        account_sid: "AC1".into(),
        sim_sid: "HS00000000000000000000000000000001".into(),
        sim_iccid: "1".into(),
        imsi: "1".into(),
        direction: "from_sim".into(),
        status: "submitted".into(),
        payload: "a\0b".into(),
        timestamp: chrono::Utc::now(),
        network: None,
        error: None,
    };
    let out = NewEvent::new(Uuid::new_v4(), "s", &Event::SmsMoSubmitted(e), &Metadata::default());
    assert!(matches!(out, Err(EventLogError::InvalidEvent(_))), "{out:?}");
}

#[tokio::test]
async fn reading_an_unknown_event_type_names_its_position() {
    let (_db, log) = common::fresh_log().await;
    log.append(vec![common::sms("s", 1)], ExpectedVersion::Any).await.unwrap();
    // A row written by a newer release (or by hand) that this build does not know.
    sqlx::query(
        "INSERT INTO events (shard, position, event_id, stream, stream_version, type, data, metadata, recorded_at) \
         VALUES (0, 2, gen_random_uuid(), 's', 2, 'sim.teleported', '{}', '{}', now())",
    )
    .execute(log.pool())
    .await
    .unwrap();

    let err = log.read(0, 10).await.unwrap_err();

    assert!(
        matches!(&err, EventLogError::UnknownEventType { position: 2, event_type } if event_type == "sim.teleported")
    );
    assert_eq!(err.to_string(), "event at position 2 has unknown type \"sim.teleported\"");
}

#[tokio::test]
async fn the_log_refuses_updates_and_deletes() {
    let (_db, log) = common::fresh_log().await;
    log.append(vec![common::sms("s", 1)], ExpectedVersion::Any).await.unwrap();
    assert!(sqlx::query("UPDATE events SET type = 'x'").execute(log.pool()).await.is_err());
    assert!(sqlx::query("DELETE FROM events").execute(log.pool()).await.is_err());
    assert_eq!(log.read(0, 10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn events_read_back_equal_what_was_appended() {
    let (_db, log) = common::fresh_log().await;
    let e = common::sms("sim-x", 42);
    log.append(vec![e.clone()], ExpectedVersion::Any).await.unwrap();
    let read = log.read(0, 10).await.unwrap();
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].event_id, e.event_id);
    assert_eq!(read[0].stream, "sim-x");
    assert_eq!(read[0].event.to_json().unwrap(), e.data_json());
    assert_eq!(read[0].metadata.source.as_deref(), Some("test"));
    assert_eq!(log.read_stream("sim-x", 0).await.unwrap(), read);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_the_database_refuses_fails_alone_and_its_group_still_commits() {
    let (db, log) = common::fresh_log().await;
    // Fault injection: the database refuses any event of the stream "poison", as it would an
    // unstorable value that got past the checks.
    let pool = db.pool().await;
    sqlx::query(
        "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN IF NEW.stream = 'poison' THEN RAISE EXCEPTION 'unstorable' USING ERRCODE = '22023'; END IF; \
         RETURN NEW; END; $$",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("CREATE TRIGGER refuse_poison BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION refuse_poison()")
        .execute(&pool)
        .await
        .unwrap();
    // Fifty callers at once, one of them poisoned: they share group commits.
    let appends = (0..50u64).map(|n| {
        let log = log.clone();
        async move {
            let stream = if n == 25 { "poison".to_owned() } else { format!("s-{n}") };
            (n, log.append(vec![common::sms(&stream, n)], ExpectedVersion::Any).await)
        }
    });
    let outcomes = futures_util::future::join_all(appends).await;
    for (n, outcome) in &outcomes {
        if *n == 25 {
            // The database's own refusal, not a "retry later".
            assert!(matches!(outcome, Err(e @ EventLogError::Database(_)) if !e.is_transient()), "{outcome:?}");
        } else {
            assert!(outcome.is_ok(), "caller {n} failed with the poisoned one: {outcome:?}");
        }
    }
    assert_eq!(log.head().await.unwrap(), 49, "every other event committed, gap-free");
}

#[tokio::test]
async fn a_known_stream_commits_in_one_statement_until_another_process_writes_to_it() {
    // `a` learns the stream's version by writing to it; its next small appends take the
    // one-statement path. `b`, another process, then writes to the same stream: `a`'s cached
    // version is stale, and its next append must be versioned and placed from the table.
    let (db, a) = common::fresh_log().await;
    let b = simledger_eventlog::EventLog::new(db.pool().await);
    // Two full commits: the first learns the stream, the second finds no one else wrote.
    for n in 1..=2 {
        let expected = if n == 1 { ExpectedVersion::NoStream } else { ExpectedVersion::Exact(1) };
        let out = a.append(vec![common::sms("fleet-9", n)], expected).await.unwrap();
        assert_eq!((out[0].position, out[0].stream_version), (n as i64, n as i32));
    }
    let before = simledger_eventlog::profile().one_statement_groups;
    let third_event = common::sms("fleet-9", 3);
    let third = a.append(vec![third_event.clone()], ExpectedVersion::Exact(2)).await.unwrap();
    assert_eq!((third[0].position, third[0].stream_version), (3, 3));
    assert!(simledger_eventlog::profile().one_statement_groups > before, "a known stream: one statement");

    let other = b.append(vec![common::sms("fleet-9", 4)], ExpectedVersion::Exact(3)).await.unwrap();
    assert_eq!((other[0].position, other[0].stream_version), (4, 4));
    let stale = a.append(vec![common::sms("fleet-9", 5)], ExpectedVersion::Exact(3)).await;
    assert!(matches!(stale, Err(EventLogError::Conflict { actual: 4, .. })), "{stale:?}");
    let current = a.append(vec![common::sms("fleet-9", 6)], ExpectedVersion::Exact(4)).await.unwrap();
    assert_eq!((current[0].position, current[0].stream_version), (5, 5));
    // A redelivery of an event written in one statement is still a duplicate at its place.
    let again = a.append(vec![third_event], ExpectedVersion::Any).await.unwrap();
    assert_eq!((again[0].position, again[0].duplicate), (3, true));
    assert_eq!(a.head().await.unwrap(), 5, "gap-free");
}

#[tokio::test]
async fn an_append_waiting_for_the_head_behind_another_process_goes_after_it() {
    // Another process holds the head, has inserted an event and moved the head, and commits
    // only once `a`'s one-statement append is waiting for the lock: that append must find the
    // head moved, write nothing, and go through the full path after the other's event.
    let (db, a) = common::fresh_log().await;
    for n in 1..=2 {
        a.append(vec![common::sms("fleet-7", n)], ExpectedVersion::Any).await.unwrap();
    }
    let pool = db.pool().await;
    let mut other = pool.begin().await.unwrap();
    let head: i64 = sqlx::query_scalar("SELECT head FROM log_shards WHERE shard = $1 FOR UPDATE")
        .bind(a.shard())
        .fetch_one(&mut *other)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO events (shard, position, event_id, stream, stream_version, type, data, metadata, recorded_at) \
         SELECT shard, $2, $3, 'elsewhere', 1, type, data, metadata, now() FROM events WHERE position = 1",
    )
    .bind(a.shard())
    .bind(head + 1)
    .bind(Uuid::new_v4())
    .execute(&mut *other)
    .await
    .unwrap();
    sqlx::query("UPDATE log_shards SET head = $2 WHERE shard = $1")
        .bind(a.shard())
        .bind(head + 1)
        .execute(&mut *other)
        .await
        .unwrap();
    let waiting = tokio::spawn({
        let a = a.clone();
        async move { a.append(vec![common::sms("fleet-7", 3)], ExpectedVersion::Exact(2)).await }
    });
    // Wait until the append is blocked on the head's lock.
    loop {
        let blocked: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        if blocked > 0 {
            break;
        }
        tokio::task::yield_now().await;
    }
    other.commit().await.unwrap();
    let placed = waiting.await.unwrap().unwrap();
    assert_eq!((placed[0].position, placed[0].stream_version), (head + 2, 3));
    assert_eq!(a.head().await.unwrap(), head + 2, "gap-free");
    let positions: Vec<i64> =
        sqlx::query_scalar("SELECT position FROM events ORDER BY position").fetch_all(&pool).await.unwrap();
    assert_eq!(positions, (1..=head + 2).collect::<Vec<_>>());
}
