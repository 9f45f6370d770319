//! `/v1/UsageRecords` and `/v1/Sims/{Sid}/BillingPeriods`, from the usage and limits projections.

mod common;

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, DurationRound, TimeZone, Utc};
use common::{assert_error, spawn_app, TestApp};
use rand::{Rng, SeedableRng};
use simledger_eventlog::catalog::{ConnectionEvent, NetworkRef};
use simledger_eventlog::{Event, ExpectedVersion, Metadata, NewEvent};

const NETWORKS: [(&str, &str); 3] = [("234", "15"), ("234", "10"), ("311", "480")];

fn network(i: usize) -> NetworkRef {
    let (mcc, mnc) = NETWORKS[i];
    simledger_eventlog::networks::catalog().by_plmn(mcc, mnc).expect("in the catalogue").to_ref()
}

/// One data-session window of `bytes` on `network`, ending at `end`.
fn window(account: &str, sim: &str, network: NetworkRef, end: DateTime<Utc>, up: i64, down: i64) -> Event {
    Event::DataSessionUpdated(ConnectionEvent {
        sim_iccid: "1".into(),
        imsi: "1".into(),
        network,
        apn: None,
        data_session_start_time: None,
        ..simledger_test_support::window(account, sim, end, up, down)
    })
}

struct Traffic {
    sims: Vec<String>,
    /// (sim index, network index, window end, upload, download)
    windows: Vec<(usize, usize, DateTime<Utc>, i64, i64)>,
}

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap()
}

/// Random windows over three days for two of Alice's SIMs, appended to the log.
async fn traffic(app: &TestApp, seed: u64) -> Traffic {
    let sims = vec![app.sim(&app.alice, 1).await, app.sim(&app.alice, 2).await];
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut windows = Vec::new();
    let mut batch = Vec::new();
    for _ in 0..rng.random_range(20..80) {
        let (s, n) = (rng.random_range(0..2), rng.random_range(0..3));
        let end = start() + Duration::minutes(rng.random_range(0..3 * 24 * 60));
        let (up, down) = (rng.random_range(0..200_000), rng.random_range(0..2_000_000));
        windows.push((s, n, end, up, down));
        let e = window(&app.alice.sid, &sims[s], network(n), end, up, down);
        batch.push(NewEvent::new(uuid::Uuid::new_v4(), "session-PI1", &e, &Metadata::from_source("test")).unwrap());
    }
    let last = app.log.append(batch, ExpectedVersion::Any).await.unwrap().last().unwrap().position;
    assert!(app.usage.reached(last).await);
    Traffic { sims, windows }
}

fn period_start(end: DateTime<Utc>, granularity: &str) -> DateTime<Utc> {
    match granularity {
        "hour" => end.duration_trunc(Duration::hours(1)).unwrap(),
        "day" => end.duration_trunc(Duration::days(1)).unwrap(),
        _ => start(),
    }
}

#[tokio::test]
async fn usage_records_equal_the_sums_of_the_logs_windows_at_every_granularity_and_grouping() {
    for seed in [1, 2, 3] {
        let app = spawn_app().await;
        let t = traffic(&app, seed).await;
        let window = "StartTime=2026-05-01T00:00:00Z&EndTime=2026-05-04T00:00:00Z&PageSize=1000";
        for granularity in ["hour", "day", "all"] {
            for group in ["", "sim", "network", "isoCountry"] {
                // From the events themselves.
                let mut expected: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
                for (s, n, end, up, down) in &t.windows {
                    let key = match group {
                        "sim" => t.sims[*s].clone(),
                        "network" => network(*n).sid,
                        "isoCountry" => network(*n).iso_country,
                        _ => String::new(),
                    };
                    let period = period_start(*end, granularity).format("%Y-%m-%dT%H:%M:%SZ").to_string();
                    let sum = expected.entry((period, key)).or_default();
                    sum.0 += up;
                    sum.1 += down;
                }
                // From the API.
                let group_param = if group.is_empty() { String::new() } else { format!("&Group={group}") };
                let path = format!("/v1/UsageRecords?{window}&Granularity={granularity}{group_param}");
                let body = app.get(&app.alice, &path).await.body;
                let records = body["usage_records"].as_array().unwrap_or_else(|| panic!("{body}"));
                let mut got: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
                for r in records {
                    let key = match group {
                        "sim" => r["sim_sid"].as_str().unwrap().to_owned(),
                        "network" => r["network_sid"].as_str().unwrap().to_owned(),
                        "isoCountry" => r["iso_country"].as_str().unwrap().to_owned(),
                        _ => String::new(),
                    };
                    let (up, down) = (r["data_upload"].as_i64().unwrap(), r["data_download"].as_i64().unwrap());
                    assert_eq!(r["data_total"].as_i64().unwrap(), up + down);
                    got.insert((r["period"]["start_time"].as_str().unwrap().to_owned(), key), (up, down));
                }
                assert_eq!(got, expected, "seed {seed}, granularity {granularity}, group {group:?}");
                // Newest period first, as Twilio lists them.
                let starts: Vec<&str> = records.iter().map(|r| r["period"]["start_time"].as_str().unwrap()).collect();
                assert!(starts.windows(2).all(|w| w[0] >= w[1]), "{starts:?}");
            }
        }
    }
}

#[tokio::test]
async fn usage_is_filtered_priced_per_country_and_private_to_its_account() {
    let app = spawn_app().await;
    let t = traffic(&app, 9).await;
    let rate = app.post(&app.operator, "/operator/Rates", &[("IsoCountry", "gb"), ("PricePerMb", "0.10")]).await;
    assert_eq!(rate.status, 200, "{:?}", rate.body);
    assert_eq!(rate.body, serde_json::json!({"iso_country": "GB", "price_per_mb": "0.1", "currency": "USD"}));
    let window = "StartTime=2026-05-01T00:00:00Z&EndTime=2026-05-04T00:00:00Z";
    let gb = app.get(&app.alice, &format!("/v1/UsageRecords?{window}&IsoCountry=GB")).await.body;
    let record = &gb["usage_records"][0];
    let gb_bytes: i64 = t.windows.iter().filter(|w| w.1 < 2).map(|w| w.3 + w.4).sum();
    assert_eq!(record["data_total"].as_i64().unwrap(), gb_bytes);
    assert_eq!(record["iso_country"], "GB");
    assert!(record["sim_sid"].is_null() && record["fleet_sid"].is_null() && record["network_sid"].is_null());
    let billed: rust_decimal::Decimal = record["data_total_billed"].as_str().unwrap().parse().unwrap();
    let expected = (rust_decimal::Decimal::from(gb_bytes) / rust_decimal::Decimal::from(1_000_000)
        * rust_decimal::Decimal::new(10, 2))
    .round_dp(4);
    assert_eq!(billed, expected);
    assert_eq!(record["billed_unit"], "USD");
    assert_eq!(record["period"]["start_time"], "2026-05-01T00:00:00Z");
    assert_eq!(record["period"]["end_time"], "2026-05-04T00:00:00Z");
    // Unpriced country: billed "0" with no unit.
    let us = app.get(&app.alice, &format!("/v1/UsageRecords?{window}&IsoCountry=US")).await.body;
    if let Some(r) = us["usage_records"].get(0) {
        assert_eq!((r["data_total_billed"].as_str(), r["billed_unit"].as_null()), (Some("0"), Some(())));
    }
    let sim = app.get(&app.alice, &format!("/v1/UsageRecords?{window}&Sim={}", t.sims[0])).await.body;
    assert_eq!(sim["usage_records"][0]["sim_sid"], t.sims[0].as_str());
    let bobs = app.get(&app.bob, &format!("/v1/UsageRecords?{window}")).await.body;
    assert_eq!(bobs["usage_records"], serde_json::json!([]));
    assert_eq!(bobs["meta"]["key"], "usage_records");
}

#[tokio::test]
async fn usage_record_parameters_are_checked() {
    let app = spawn_app().await;
    for q in [
        "Granularity=week",
        "Group=planet",
        "StartTime=yesterday",
        "StartTime=2026-05-02T00:00:00Z&EndTime=2026-05-01T00:00:00Z",
    ] {
        assert_error(&app.get(&app.alice, &format!("/v1/UsageRecords?{q}")).await, 400, 20001);
    }
    assert_error(
        &app.post(&app.operator, "/operator/Rates", &[("IsoCountry", "GB"), ("PricePerMb", "cheap")]).await,
        400,
        20001,
    );
    assert_error(
        &app.post(&app.operator, "/operator/Rates", &[("IsoCountry", "GB"), ("PricePerMb", "-1")]).await,
        400,
        20001,
    );
    assert_error(
        &app.post(&app.alice, "/operator/Rates", &[("IsoCountry", "GB"), ("PricePerMb", "1")]).await,
        403,
        20403,
    );
}

#[tokio::test]
async fn billing_periods_start_when_a_sim_is_ready_then_monthly_from_activation() {
    let app = spawn_app().await;
    let (_, fleet) = app.fleet(&app.alice).await;
    let sim = app.sim(&app.alice, 1).await;
    let path = format!("/v1/Sims/{sim}/BillingPeriods");
    assert_eq!(app.get(&app.alice, &path).await.body["billing_periods"], serde_json::json!([]));
    app.post(&app.alice, &format!("/v1/Sims/{sim}"), &[("Fleet", &fleet), ("Status", "ready")]).await;
    let ready =
        app.eventually(&app.alice, &path, |b| b["billing_periods"].as_array().is_some_and(|p| p.len() == 1)).await;
    assert_eq!(ready["billing_periods"][0]["period_type"], "ready");
    app.post(&app.alice, &format!("/v1/Sims/{sim}"), &[("Status", "active")]).await;
    let both =
        app.eventually(&app.alice, &path, |b| b["billing_periods"].as_array().is_some_and(|p| p.len() == 2)).await;
    let periods = both["billing_periods"].as_array().unwrap();
    assert_eq!(periods[1]["period_type"], "active");
    assert_eq!(periods[0]["end_time"], periods[1]["start_time"], "the ready period ends at activation");
    let p = &periods[1];
    assert!(p["sid"].as_str().unwrap().starts_with("HB"));
    assert_eq!((p["sim_sid"].as_str(), p["account_sid"].as_str()), (Some(sim.as_str()), Some(app.alice.sid.as_str())));
    let start = DateTime::parse_from_rfc3339(p["start_time"].as_str().unwrap()).unwrap();
    let end = DateTime::parse_from_rfc3339(p["end_time"].as_str().unwrap()).unwrap();
    assert!((28..=31).contains(&(end - start).num_days()), "a monthly period: {p}");
}
