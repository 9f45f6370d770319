//! `simledger bench core-startup`: how long a core node takes from start to ready (its views
//! caught up with the log), replaying the log from position 0 against starting from the latest
//! snapshot, at two log lengths.
//!
//! The log holds `--sims` SIMs and data-session windows (what a live log is mostly made of).
//! Both snapshots trail the head by the same `--tail` events, as a live one does. Figures:
//! `startup_from_zero` at the full length against the same at half of it (the ratio shows
//! start-up growing with the log), `startup_with_snapshot` at each length against the replay
//! at that length, and `snapshot_growth`, the snapshot start at the full length over the one at
//! half: about 1 when start-up does not depend on the log's length.

use std::time::{Duration, Instant};

use chrono::{Duration as Span, TimeZone, Utc};
use clap::Args;
use simledger_core::CoreViews;
use simledger_eventlog::catalog::{ConnectionEvent, SimProvisioned, SimRegistered, SimSid, SimStatus};
use simledger_eventlog::{Event, EventLog, ExpectedVersion, Metadata, NewEvent};

use super::report::{print, Figure};
use super::BenchDatabase;
use crate::config::Config;

#[derive(Debug, Args)]
pub struct CoreStartupArgs {
    /// Events in the log at the full length.
    #[arg(long, default_value_t = 1_000_000)]
    events: usize,
    /// SIMs provisioned (the views' size, which a snapshot start does depend on).
    #[arg(long, default_value_t = 10_000)]
    sims: usize,
    /// Events between a snapshot and the head when a node starts.
    #[arg(long, default_value_t = 50_000)]
    tail: usize,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
}

const ACCOUNT: &str = "AC00000000000000000000000000000001";
const BATCH: usize = 5_000;

fn sim(n: usize) -> SimSid {
    SimSid::numbered(n as u128 + 1)
}

/// Appends `count` windows spread over the SIMs, numbered from `first`.
async fn append_windows(log: &EventLog, sims: usize, first: usize, count: usize) -> anyhow::Result<()> {
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().expect("valid date");
    let uk = simledger_eventlog::networks::catalog().by_plmn("234", "15").expect("in the catalogue").to_ref();
    let meta = Metadata::from_source("bench");
    let mut i = first;
    while i < first + count {
        let n = BATCH.min(first + count - i);
        let batch = (i..i + n)
            .map(|k| {
                let at = start + Span::seconds(k as i64);
                let window = ConnectionEvent {
                    account_sid: ACCOUNT.into(),
                    sim_sid: sim(k % sims).to_string(),
                    data_session_sid: Some(format!("PI{:032x}", k % sims)),
                    data_session_update_end_time: Some(at),
                    data_total: Some(120_000),
                    ..ConnectionEvent::on_network(simledger_core::events::SESSION_UPDATED, at, uk.clone())
                };
                let id = uuid::Uuid::from_u128(0xb0 << 120 | k as u128);
                NewEvent::new(id, format!("session-{}", k % sims), &Event::DataSessionUpdated(window), &meta)
            })
            .collect::<Result<Vec<_>, _>>()?;
        log.append(batch, ExpectedVersion::Any).await?;
        i += n;
    }
    Ok(())
}

async fn provision(log: &EventLog, sims: usize) -> anyhow::Result<()> {
    let meta = Metadata::from_source("bench");
    for first in (0..sims).step_by(BATCH / 2) {
        let chunk = first..(first + BATCH / 2).min(sims);
        let mut batch = Vec::with_capacity(chunk.len() * 2);
        for n in chunk {
            let iccid = format!("8988307{n:012}");
            let provisioned = Event::SimProvisioned(SimProvisioned {
                sim_sid: sim(n),
                iccid: iccid.clone(),
                registration_code_hash: "bench".into(),
                imsis: vec![format!("23415{n:010}")],
            });
            let registered = Event::SimRegistered(SimRegistered {
                sim_sid: sim(n),
                account_sid: ACCOUNT.into(),
                iccid,
                status: SimStatus::Active,
                fleet_sid: None,
                unique_name: None,
            });
            for (k, e) in [provisioned, registered].iter().enumerate() {
                let id = uuid::Uuid::from_u128(0xa0 << 120 | (n as u128) << 1 | k as u128);
                batch.push(NewEvent::new(id, format!("sim-{}", sim(n)), e, &meta)?);
            }
        }
        log.append(batch, ExpectedVersion::Any).await?;
    }
    Ok(())
}

/// Starts the views and waits until they have caught up with the head; returns the time taken.
async fn start_to_ready(log: &EventLog) -> anyhow::Result<(Duration, std::sync::Arc<CoreViews>)> {
    let started = Instant::now();
    let views = CoreViews::follow(log.clone());
    anyhow::ensure!(views.caught_up(log, Duration::from_secs(3600)).await, "the views did not catch up");
    Ok((started.elapsed(), views))
}

async fn drop_snapshots(log: &EventLog) -> anyhow::Result<()> {
    sqlx::query("DELETE FROM core_view_snapshots").execute(log.pool()).await?;
    Ok(())
}

/// Takes a snapshot at the head as it is now (through views that follow from the last one).
async fn snapshot_at_head(log: &EventLog) -> anyhow::Result<()> {
    let (_, views) = start_to_ready(log).await?;
    views.snapshot_now(log).await?;
    views.stop();
    Ok(())
}

pub async fn run(config: &Config, args: CoreStartupArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.events >= 4 * args.tail, "--events must be at least four times --tail");
    let (db, pool) = BenchDatabase::create(config, "core_startup").await?;
    let log = EventLog::new(pool);
    let half = args.events / 2;
    provision(&log, args.sims).await?;
    let windows = |upto: usize| upto.saturating_sub(2 * args.sims);

    // Half the length: the snapshot trails the head by `tail`.
    append_windows(&log, args.sims, 0, windows(half - args.tail)).await?;
    snapshot_at_head(&log).await?;
    append_windows(&log, args.sims, windows(half - args.tail), args.tail).await?;
    let (snapshot_half, v) = start_to_ready(&log).await?;
    v.stop();
    drop_snapshots(&log).await?;
    let (zero_half, v) = start_to_ready(&log).await?;
    v.stop();

    // The full length, the same way.
    append_windows(&log, args.sims, windows(half), windows(args.events - args.tail) - windows(half)).await?;
    snapshot_at_head(&log).await?;
    append_windows(&log, args.sims, windows(args.events - args.tail), args.tail).await?;
    let (snapshot_full, v) = start_to_ready(&log).await?;
    v.stop();
    drop_snapshots(&log).await?;
    let (zero_full, v) = start_to_ready(&log).await?;
    v.stop();
    let head = log.head().await?;
    db.drop_database().await?;

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let figures = vec![
        Figure::plain("events", head as f64, "events"),
        Figure::plain("sims", args.sims as f64, "SIMs"),
        Figure::plain("tail", args.tail as f64, "events"),
        Figure::plain("startup_from_zero_half", ms(zero_half), "ms"),
        Figure::against("startup_from_zero", ms(zero_full), "ms", "startup_from_zero_half", ms(zero_half)),
        Figure::against("startup_with_snapshot_half", ms(snapshot_half), "ms", "startup_from_zero_half", ms(zero_half)),
        Figure::against("startup_with_snapshot", ms(snapshot_full), "ms", "startup_from_zero", ms(zero_full)),
        Figure::against("snapshot_growth", ms(snapshot_full), "ms", "startup_with_snapshot_half", ms(snapshot_half)),
    ];
    print(&figures, args.json);
    Ok(())
}
