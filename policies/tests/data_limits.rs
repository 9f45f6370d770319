//! The data-limit enforcer and the `limits` and `usage` read models over a log written
//! directly: decisions, their exactly-once guarantee across a crash, the read model following
//! them, and replays that append nothing.

use chrono::{DateTime, Duration, Utc};
use simledger_eventlog::catalog::*;
use simledger_eventlog::checkpoint::Subscriber;
use simledger_eventlog::networks::network_sid;
use simledger_eventlog::{Event, EventLog, ExpectedVersion, Metadata, NewEvent, RecordedEvent};
use simledger_policies::data_limits::{DataLimitEnforcer, NAME};
use simledger_projections::limits::Limits;
use simledger_services::testing::TestDatabase;
use uuid::Uuid;

const ACCOUNT: &str = "AC00000000000000000000000000000001";
const SIM: &str = "HS00000000000000000000000000000001";
const FLEET: &str = "HF00000000000000000000000000000001";

async fn append(log: &EventLog, stream: &str, event: Event) -> i64 {
    let e = NewEvent::new(Uuid::new_v4(), stream, &event, &Metadata::from_source("test")).unwrap();
    log.append(vec![e], ExpectedVersion::Any).await.unwrap()[0].position
}

/// A registered, active SIM in a fleet with a `limit_mb` limit; returns when it became active.
async fn active_sim(log: &EventLog, limit_mb: i64) -> DateTime<Utc> {
    let fleet = FleetCreated {
        fleet_sid: FLEET.parse().unwrap(),
        account_sid: ACCOUNT.into(),
        unique_name: None,
        data_enabled: true,
        data_limit_mb: limit_mb,
        data_metering: "payg".into(),
        network_access_profile_sid: "HA1".into(),
        sms_commands_enabled: true,
        sms_commands_url: None,
        sms_commands_method: None,
        ip_commands_url: None,
        ip_commands_method: None,
    };
    append(log, "fleet", Event::FleetCreated(fleet)).await;
    let registered = SimRegistered {
        sim_sid: SIM.parse().unwrap(),
        account_sid: ACCOUNT.into(),
        iccid: "8988307000000000001".into(),
        status: SimStatus::New,
        fleet_sid: Some(FLEET.parse().unwrap()),
        unique_name: None,
    };
    append(log, "sim", Event::SimRegistered(registered)).await;
    let active = SimStatusChanged {
        sim_sid: SIM.parse().unwrap(),
        account_sid: ACCOUNT.into(),
        from: SimStatus::New,
        to: SimStatus::Active,
        reason: None,
    };
    let p = append(log, "sim", Event::SimStatusChanged(active)).await;
    log.read(p - 1, 1).await.unwrap()[0].recorded_at
}

/// A data-session window of `bytes` ending at `end`, on Vodafone UK or Verizon.
fn window(end: DateTime<Utc>, bytes: i64, us: bool) -> Event {
    let (mcc, mnc, country) = if us { ("311", "480", "US") } else { ("234", "15", "GB") };
    let network = simledger_eventlog::networks::catalog().by_plmn(mcc, mnc).map(|n| n.to_ref()).unwrap_or(NetworkRef {
        mcc: mcc.into(),
        mnc: mnc.into(),
        friendly_name: "x".into(),
        iso_country: country.into(),
        sid: network_sid(mcc, mnc),
    });
    Event::DataSessionUpdated(ConnectionEvent {
        event_sid: "EZ1".into(),
        fleet_sid: Some(FLEET.into()),
        network,
        ..simledger_test_support::window(ACCOUNT, SIM, end, bytes - bytes / 2, bytes / 2)
    })
}

fn decisions(events: &[RecordedEvent]) -> Vec<(&'static str, String, i64)> {
    events
        .iter()
        .filter_map(|e| match &e.event {
            Event::SimDataLimitReached(d) => Some(("reached", d.reason.clone(), d.used_bytes)),
            Event::SimDataLimitCleared(d) => Some(("cleared", d.reason.clone(), d.used_bytes)),
            _ => None,
        })
        .collect()
}

/// Runs the enforcer and the `limits` read model until both have applied everything, the
/// enforcer's own decisions included.
async fn run_enforcer(log: &EventLog) {
    let enforcer = simledger_projections::spawn_subscriber(log.clone(), NAME, DataLimitEnforcer::new(log.clone()), 500);
    let read_model = simledger_projections::spawn(log.clone(), simledger_projections::limits::NAME, Limits);
    loop {
        let head = log.head().await.unwrap();
        assert!(enforcer.reached(head).await);
        assert!(read_model.reached(head).await);
        if log.head().await.unwrap() == head {
            break;
        }
    }
    enforcer.task.abort();
    read_model.task.abort();
}

/// `(used_bytes, blocked)` per period, oldest first, as the read model and as the enforcer
/// hold them: the two must agree.
async fn periods(log: &EventLog) -> Vec<(i64, bool)> {
    let read = |table: &'static str| {
        let pool = log.pool().clone();
        async move {
            sqlx::query_as::<_, (i64, bool)>(&format!("SELECT used_bytes, blocked FROM {table} ORDER BY period_start"))
                .fetch_all(&pool)
                .await
                .unwrap()
        }
    };
    let (model, enforcer) = (read("limits_periods").await, read("limit_enforcer_periods").await);
    assert_eq!(model, enforcer, "the read model follows the enforcer's decisions");
    model
}

#[tokio::test]
async fn crossing_the_limit_blocks_once_and_raising_it_or_a_new_month_clears() {
    let db = TestDatabase::new().await;
    let log = EventLog::new(db.pool().await);
    let activated = active_sim(&log, 1).await;
    let t = activated + Duration::minutes(10);
    append(&log, "session", window(t, 600_000, false)).await;
    append(&log, "session", window(t + Duration::minutes(6), 600_000, false)).await;
    // Bytes already in flight when the block came are counted too.
    append(&log, "session", window(t + Duration::minutes(12), 50_000, false)).await;
    run_enforcer(&log).await;
    let events = log.read(0, 1000).await.unwrap();
    assert_eq!(decisions(&events), [("reached", "data_limit".to_owned(), 1_200_000)]);
    let Some(Event::SimDataLimitReached(d)) =
        events.iter().map(|e| &e.event).find(|e| matches!(e, Event::SimDataLimitReached(_)))
    else {
        unreachable!()
    };
    assert_eq!(d.limit_bytes, 1_000_000);
    assert!(d.billing_period_sid.starts_with("HB"));
    assert!(d.period_end.unwrap() > t);

    let raised = FleetUpdated { data_limit_mb: Some(5), ..FleetUpdated::new(FLEET.parse().unwrap(), ACCOUNT.into()) };
    append(&log, "fleet", Event::FleetUpdated(raised)).await;
    let lowered = FleetUpdated { data_limit_mb: Some(1), ..FleetUpdated::new(FLEET.parse().unwrap(), ACCOUNT.into()) };
    append(&log, "fleet", Event::FleetUpdated(lowered)).await;
    // Next month: a window in the new period clears the old period's block.
    append(&log, "session", window(activated + Duration::days(32), 1000, false)).await;
    run_enforcer(&log).await;
    let got = decisions(&log.read(0, 1000).await.unwrap());
    let kinds: Vec<(&str, &str)> = got.iter().map(|(k, r, _)| (*k, r.as_str())).collect();
    assert_eq!(
        kinds,
        [
            ("reached", "data_limit"),
            ("cleared", "limit_changed"),
            ("reached", "data_limit"),
            ("cleared", "new_billing_period")
        ]
    );
    assert_eq!(got[0].2, 1_200_000);
    assert_eq!(periods(&log).await, [(1_250_000, false), (1000, false)], "in-flight bytes are counted");
}

#[tokio::test]
async fn disabling_data_blocks_and_re_enabling_clears() {
    let db = TestDatabase::new().await;
    let log = EventLog::new(db.pool().await);
    let activated = active_sim(&log, 100).await;
    append(&log, "session", window(activated + Duration::minutes(10), 1000, false)).await;
    let off = FleetUpdated { data_enabled: Some(false), ..FleetUpdated::new(FLEET.parse().unwrap(), ACCOUNT.into()) };
    append(&log, "fleet", Event::FleetUpdated(off)).await;
    let on = FleetUpdated { data_enabled: Some(true), ..FleetUpdated::new(FLEET.parse().unwrap(), ACCOUNT.into()) };
    append(&log, "fleet", Event::FleetUpdated(on)).await;
    run_enforcer(&log).await;
    let got = decisions(&log.read(0, 1000).await.unwrap());
    let kinds: Vec<(&str, &str)> = got.iter().map(|(k, r, _)| (*k, r.as_str())).collect();
    assert_eq!(kinds, [("reached", "data_disabled"), ("cleared", "data_enabled")]);
    assert_eq!(periods(&log).await, [(1000, false)]);
}

#[tokio::test]
async fn a_crash_after_appending_a_decision_but_before_committing_appends_it_only_once() {
    let db = TestDatabase::new().await;
    let log = EventLog::new(db.pool().await);
    let activated = active_sim(&log, 1).await;
    append(&log, "session", window(activated + Duration::minutes(10), 1_500_000, false)).await;
    let batch = log.read(0, 1000).await.unwrap();
    // The batch is applied and its decision appended, then the transaction dies uncommitted.
    let mut tx = log.pool().begin().await.unwrap();
    DataLimitEnforcer::new(log.clone()).apply(&mut tx, &batch).await.unwrap();
    drop(tx);
    assert_eq!(decisions(&log.read(0, 1000).await.unwrap()).len(), 1);
    // The restarted projection applies the batch again and takes the same decision.
    run_enforcer(&log).await;
    assert_eq!(decisions(&log.read(0, 1000).await.unwrap()).len(), 1);
}

#[tokio::test]
async fn replaying_the_limits_and_usage_read_models_rebuilds_identical_tables_and_appends_nothing() {
    let db = TestDatabase::new().await;
    let log = EventLog::new(db.pool().await);
    let activated = active_sim(&log, 1).await;
    for i in 0..20 {
        append(&log, "session", window(activated + Duration::minutes(10 + 6 * i), 90_000, i % 3 == 0)).await;
    }
    run_enforcer(&log).await;
    let usage = simledger_projections::spawn(log.clone(), "usage", simledger_projections::usage::Usage);
    assert!(usage.reached(log.head().await.unwrap()).await);
    usage.task.abort();
    let snapshot = |table: &'static str| {
        let pool = log.pool().clone();
        async move {
            sqlx::query_scalar::<_, String>(&format!(
                "SELECT coalesce(string_agg(t::text, '|' ORDER BY t::text), '') FROM {table} t"
            ))
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    let before = (snapshot("limits_periods").await, snapshot("limits_sims").await, snapshot("usage_hourly").await);
    let head = log.head().await.unwrap();
    simledger_projections::replay(&log, Limits).await.unwrap();
    simledger_projections::replay(&log, simledger_projections::usage::Usage).await.unwrap();
    let after = (snapshot("limits_periods").await, snapshot("limits_sims").await, snapshot("usage_hourly").await);
    assert_eq!(before, after);
    assert_eq!(log.head().await.unwrap(), head, "a read model's replay appends nothing");
    assert!(!before.2.is_empty());
    assert!(before.0.ends_with(",t)"), "the SIM is blocked in the read model: {}", before.0);
}

#[tokio::test]
async fn the_read_model_takes_blocks_from_the_log_and_decides_none_itself() {
    let db = TestDatabase::new().await;
    let log = EventLog::new(db.pool().await);
    let activated = active_sim(&log, 1).await;
    // Far over the limit, but no enforcer runs: the read model counts and blocks nothing.
    let t = activated + Duration::minutes(10);
    append(&log, "session", window(t, 5_000_000, false)).await;
    let read_model = simledger_projections::spawn(log.clone(), simledger_projections::limits::NAME, Limits);
    let head = log.head().await.unwrap();
    assert!(read_model.reached(head).await);
    let blocked = || async {
        sqlx::query_as::<_, (i64, bool)>("SELECT used_bytes, blocked FROM limits_periods")
            .fetch_all(log.pool())
            .await
            .unwrap()
    };
    assert_eq!(blocked().await, [(5_000_000, false)]);
    assert_eq!(log.head().await.unwrap(), head, "a read model appends nothing");
    // A decision in the log (whoever took it) is what blocks the period.
    let period_end = activated.checked_add_months(chrono::Months::new(1)).unwrap();
    let decision = DataLimitDecision {
        sim_sid: SIM.parse().unwrap(),
        account_sid: ACCOUNT.into(),
        fleet_sid: Some(FLEET.parse().unwrap()),
        billing_period_sid: "HB0".into(),
        used_bytes: 5_000_000,
        limit_bytes: 1_000_000,
        reason: "data_limit".into(),
        period_end: Some(period_end),
    };
    let at = append(&log, "limits", Event::SimDataLimitReached(decision)).await;
    assert!(read_model.reached(at).await);
    assert_eq!(blocked().await, [(5_000_000, true)]);
    read_model.task.abort();
}
