//! `simledger bench billing`: debits through billing (`simledger-policies`) under the `bench ingest`
//! load.
//!
//! Runs in one invocation, each on its own database: devices as fast as they go without the
//! billing (the reference, first and last), with it, and with it plus a
//! `*min_balance` trigger on every account (evaluated after each debit); then the catch-up
//! runs (the projection's capacity over a log already written). Every simulated SIM has a billing account with a
//! data balance that does not run out; filler accounts bring the total to `--accounts`.
//! Figures: `debits` (balance.debited events the projection appended per second while the load
//! ran), `billing_overhead` = 1 − ingest with billing / without (core events only: the derived
//! `balance.debited` events are not ingest), the same with triggers, and how far the projection
//! was behind the log when the load stopped.

use std::time::{Duration, Instant};

use clap::Args;
use rust_decimal::Decimal;
use simledger_billing::{Account, ActionTrigger, Balance, BalanceFilter, BalanceType, ThresholdType};
use simledger_core::simulator::{FleetPlan, SimConfig, Simulator};

use super::report::{print, Figure};
use super::BenchDatabase;
use crate::config::Config;
use crate::platform::{self, Projections};

#[derive(Debug, Args)]
pub struct BillingArgs {
    /// SIMs in the simulated fleet (each one a concurrent device with a billing account).
    #[arg(long, default_value_t = 10_000)]
    sims: usize,
    /// Billing accounts in all (the SIMs' and idle ones).
    #[arg(long, default_value_t = 100_000)]
    accounts: usize,
    /// Wall seconds of measured traffic per run (0: skip the runs under load).
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Usage events preloaded into the log for the catch-up runs (0: skip them).
    #[arg(long, default_value_t = 200_000)]
    catchup_events: usize,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
}

struct Run {
    /// Core events ingested per second.
    ingest: f64,
    debits: f64,
    lag: i64,
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Reference,
    Billing,
    Triggers,
}

pub async fn run(config: &Config, args: BillingArgs) -> anyhow::Result<()> {
    let catchups = if args.catchup_events > 0 {
        Some((catch_up(config, &args, false).await?, catch_up(config, &args, true).await?))
    } else {
        None
    };
    let mut figures = vec![
        Figure::plain("sims", args.sims as f64, "devices"),
        Figure::plain("accounts", args.accounts as f64, "accounts"),
    ];
    if args.seconds > 0 {
        figures.extend(under_load(config, &args).await?);
    }
    if let Some((plain, triggers)) = catchups {
        figures.push(Figure::against(
            "debits_catch_up",
            plain.debits,
            "debits/s",
            "a subscriber that applies nothing, same log",
            plain.reference,
        ));
        figures.push(Figure::against(
            "debits_catch_up_with_triggers",
            triggers.debits,
            "debits/s",
            "a subscriber that applies nothing, same log",
            triggers.reference,
        ));
    }
    print(&figures, args.json);
    Ok(())
}

/// The runs under the ingest load and their figures. The reference runs first and last, and
/// counts as the mean of the two: a machine that slows down (or speeds up) during the benchmark
/// moves both, and `reference_drift` shows by how much.
async fn under_load(config: &Config, args: &BillingArgs) -> anyhow::Result<Vec<Figure>> {
    let (before, db0) = one_run(config, args, Mode::Reference).await?;
    db0.drop_database().await?;
    let (billing, db1) = one_run(config, args, Mode::Billing).await?;
    db1.drop_database().await?;
    let (triggers, db2) = one_run(config, args, Mode::Triggers).await?;
    db2.drop_database().await?;
    let (after, db3) = one_run(config, args, Mode::Reference).await?;
    db3.drop_database().await?;
    let reference = Run { ingest: (before.ingest + after.ingest) / 2.0, debits: 0.0, lag: 0 };
    let overhead = |run: &Run, name: &str| Figure {
        ratio: Some(1.0 - run.ingest / reference.ingest.max(1e-9)),
        ..Figure::against(name, run.ingest, "events/s", "1 - with/without", reference.ingest)
    };
    Ok(vec![
        Figure::against("debits", billing.debits, "debits/s", "core events ingested/s, same run", billing.ingest),
        Figure::against(
            "debits_with_triggers",
            triggers.debits,
            "debits/s",
            "core events ingested/s, same run",
            triggers.ingest,
        ),
        Figure::against("ingest_with_billing", billing.ingest, "events/s", "same load, no billing", reference.ingest),
        overhead(&billing, "billing_overhead"),
        overhead(&triggers, "billing_overhead_with_triggers"),
        Figure::plain("billing_lag_at_end", billing.lag as f64, "events"),
        Figure::plain("billing_lag_at_end_with_triggers", triggers.lag as f64, "events"),
        Figure::against("reference_drift", after.ingest, "events/s", "the first reference run", before.ingest),
    ])
}

async fn one_run(config: &Config, args: &BillingArgs, mode: Mode) -> anyhow::Result<(Run, BenchDatabase)> {
    let name = match mode {
        Mode::Reference => "billing_reference",
        Mode::Billing => "billing",
        Mode::Triggers => "billing_triggers",
    };
    let (db, pool) = BenchDatabase::create(config, name).await?;
    let mut bench_config = config.clone();
    bench_config.database_url = db.url.clone();
    bench_config.nats_prefix = Some(format!("bench{}", &uuid::Uuid::new_v4().simple().to_string()[..8]));
    let billing = mode != Mode::Reference;
    let p = platform::start_with(&bench_config, true, true, Projections { limits: false, billing }).await?;
    eprintln!("{name}: provisioning {} SIMs…", args.sims);
    let plan = FleetPlan::generate(7, args.sims);
    platform::provision(&p.commands, &plan, None).await?;
    if billing {
        eprintln!("{name}: loading {} billing accounts…", args.accounts);
        load_accounts(&pool, &plan.account_sid, args.accounts, mode == Mode::Triggers).await?;
    }
    let core = p.core.as_ref().expect("bench runs the core");
    anyhow::ensure!(core.views.caught_up(&p.log, Duration::from_secs(120)).await, "core views behind");
    let sim = Simulator::new(
        p.nats.clone(),
        p.names.clone(),
        SimConfig {
            scenario: Default::default(),
            seed: 7,
            start: SimConfig::default_start(),
            duration: None,
            speed: 0.0,
            rate: 0.0,
        },
    );
    let (runner, plan2) = (sim.clone(), plan.clone());
    tokio::spawn(async move { runner.run(&plan2).await });
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (t0, head0) = (Instant::now(), p.log.head().await?);
    eprintln!("{name}: measuring for {} s…", args.seconds);
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    let (t1, head1) = (Instant::now(), p.log.head().await?);
    let applied = p.billing.as_ref().map(|b| *b.progress.borrow()).unwrap_or(head1);
    sim.stop();
    let counts: (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE type <> 'balance.debited'), count(*) FILTER (WHERE type = 'balance.debited') \
         FROM events WHERE position > $1 AND position <= $2",
    )
    .bind(head0)
    .bind(head1)
    .fetch_one(&pool)
    .await?;
    platform::drain_ingest(&p, Duration::from_secs(300)).await?;
    drop(p);
    let secs = (t1 - t0).as_secs_f64();
    Ok((Run { ingest: counts.0 as f64 / secs, debits: counts.1 as f64 / secs, lag: head1 - applied }, db))
}

/// An account per SIM of the tenant (a data balance that does not run out, and with `triggers`
/// a `*min_balance` trigger), then idle ones up to `total`, written straight into the
/// projection's table as it would write them.
async fn load_accounts(pool: &sqlx::PgPool, tenant: &str, total: usize, triggers: bool) -> anyhow::Result<()> {
    let sims: Vec<String> = sqlx::query_scalar("SELECT sim_sid FROM registry_sims WHERE account_sid = $1")
        .bind(tenant)
        .fetch_all(pool)
        .await?;
    load_account_docs(pool, tenant, &sims, total, triggers).await
}

async fn load_account_docs(
    pool: &sqlx::PgPool,
    tenant: &str,
    sims: &[String],
    total: usize,
    triggers: bool,
) -> anyhow::Result<()> {
    let names: Vec<String> = sims.iter().cloned().chain((sims.len()..total).map(|i| format!("idle-{i:06}"))).collect();
    for chunk in names.chunks(5000) {
        let docs: Vec<serde_json::Value> = chunk
            .iter()
            .map(|id| {
                let mut a = Account::new(tenant, id);
                let mut b = Balance::new("bundle", format!("{id}:bundle"));
                b.value = Decimal::from(1_000_000_000_000i64);
                b.weight = Decimal::from(10);
                a.balances_mut(BalanceType::Data).push(b);
                if triggers {
                    a.action_triggers.push(ActionTrigger {
                        id: "LOW".into(),
                        unique_id: "low-data".into(),
                        threshold_type: ThresholdType::MinBalance,
                        threshold_value: Decimal::from(1_000_000),
                        recurrent: false,
                        min_sleep: 0,
                        expiration_date: None,
                        activation_date: None,
                        balance: BalanceFilter { kind: Some(BalanceType::Data), ..Default::default() },
                        weight: Decimal::from(10),
                        actions_id: "REFILL".into(),
                        executed: false,
                        last_execution_time: None,
                    });
                }
                serde_json::to_value(&a).expect("an account serializes")
            })
            .collect();
        sqlx::query(
            "INSERT INTO billing_accounts (tenant, account, doc) SELECT $1, a, d FROM unnest($2::text[], $3::jsonb[]) AS t(a, d)",
        )
        .bind(tenant)
        .bind(chunk)
        .bind(&docs)
        .execute(pool)
        .await?;
    }
    Ok(())
}

/// How fast the projection works through a log that already holds the usage: its capacity,
/// not bounded by what a load can produce. The reference is a subscriber that applies nothing,
/// over the same log in the same run (the cost of reading the log and committing checkpoints).
struct CatchUp {
    reference: f64,
    debits: f64,
}

async fn catch_up(config: &Config, args: &BillingArgs, triggers: bool) -> anyhow::Result<CatchUp> {
    use simledger_eventlog::{Event, EventLog, ExpectedVersion, Metadata, NewEvent};
    let name = if triggers { "billing_catchup_triggers" } else { "billing_catchup" };
    let (db, pool) = BenchDatabase::create(config, name).await?;
    let tenant = "AC00000000000000000000000000000b11";
    let sims: Vec<String> = (0..args.sims).map(|i| format!("HS{i:032x}")).collect();
    load_account_docs(&pool, tenant, &sims, args.accounts, triggers).await?;
    let log = EventLog::new(pool.clone());
    eprintln!("{name}: preloading {} data-session windows…", args.catchup_events);
    let network = simledger_eventlog::networks::catalog().by_plmn("234", "15").expect("a known network").to_ref();
    let meta = Metadata::from_source("bench");
    let start = SimConfig::default_start();
    for chunk in (0..args.catchup_events).collect::<Vec<_>>().chunks(5000) {
        let batch = chunk
            .iter()
            .map(|&n| {
                let sim = &sims[n % sims.len()];
                let at = start + chrono::Duration::seconds(n as i64);
                let window = Event::DataSessionUpdated(usage_window(tenant, sim, &network, at, n));
                NewEvent::new(uuid::Uuid::new_v4(), format!("sim-{sim}"), &window, &meta)
            })
            .collect::<Result<Vec<_>, _>>()?;
        log.append(batch, ExpectedVersion::Any).await?;
    }
    let head = log.head().await?;

    let reference = drain(&log, head, ReadOnly).await?;
    let billing = drain(&log, head, simledger_policies::billing::Billing::new(log.clone())).await?;
    let debited: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE type = 'balance.debited'").fetch_one(&pool).await?;
    anyhow::ensure!(
        debited as usize == args.catchup_events,
        "{debited} debits for {} usage windows",
        args.catchup_events
    );
    drop(log);
    pool.close().await;
    db.drop_database().await?;
    let events = args.catchup_events as f64;
    Ok(CatchUp { reference: events / reference.as_secs_f64(), debits: events / billing.as_secs_f64() })
}

/// The time `projection` takes from position 0 to `head`.
async fn drain<P: simledger_projections::Projection + Clone + Send>(
    log: &simledger_eventlog::EventLog,
    head: i64,
    projection: P,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let handle = simledger_projections::spawn(log.clone(), "bench", projection);
    anyhow::ensure!(
        tokio::time::timeout(Duration::from_secs(1800), handle.reached(head)).await.unwrap_or(false),
        "the projection did not reach the head"
    );
    let took = started.elapsed();
    handle.task.abort();
    Ok(took)
}

/// A projection that reads every event and applies none: the floor of any projection's cost.
#[derive(Clone)]
struct ReadOnly;

impl simledger_projections::Subscriber for ReadOnly {
    fn name(&self) -> &str {
        "bench_read_only"
    }

    async fn apply(
        &mut self,
        _tx: &mut sqlx::PgConnection,
        events: &[simledger_eventlog::RecordedEvent],
    ) -> Result<(), simledger_projections::ApplyError> {
        std::hint::black_box(events.len());
        Ok(())
    }
}

impl simledger_projections::Projection for ReadOnly {
    const TABLES: &'static [&'static str] = &[];
}

/// One 1 KB data-session window of `sim`, as the PGW reports it.
pub(crate) fn usage_window(
    tenant: &str,
    sim: &str,
    network: &simledger_eventlog::catalog::NetworkRef,
    at: chrono::DateTime<chrono::Utc>,
    n: usize,
) -> simledger_eventlog::catalog::ConnectionEvent {
    simledger_eventlog::catalog::ConnectionEvent {
        event_sid: format!("EZ{n:032x}"),
        account_sid: tenant.into(),
        sim_sid: sim.into(),
        sim_iccid: "8988307000000000001".into(),
        imsi: "234150000000001".into(),
        rat_type: "4G LTE".into(),
        apn: Some("super".into()),
        data_session_sid: Some(format!("PI{:032x}", n % 1000)),
        data_session_start_time: Some(at),
        data_session_update_start_time: Some(at - chrono::Duration::seconds(60)),
        data_session_update_end_time: Some(at),
        data_download: Some(512),
        data_upload: Some(512),
        data_total: Some(1024),
        ..simledger_eventlog::catalog::ConnectionEvent::on_network(
            "com.twilio.iot.supersim.connection.data-session.updated",
            at,
            network.clone(),
        )
    }
}
