//! `simledger bench billing`: debits through the `billing` projection under the `bench ingest`
//! load.
//!
//! Three runs in one invocation, each on its own database: devices as fast as they go without
//! the billing projection (the reference), with it, and with it plus a `*min_balance` trigger on
//! every account (evaluated after each debit). Every simulated SIM has a billing account with a
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
    /// Wall seconds of measured traffic per run.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
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
    let (reference, db0) = one_run(config, &args, Mode::Reference).await?;
    let (billing, db1) = one_run(config, &args, Mode::Billing).await?;
    let (triggers, db2) = one_run(config, &args, Mode::Triggers).await?;
    for db in [db0, db1, db2] {
        db.drop_database().await?;
    }
    let overhead = |run: &Run, name: &str| Figure {
        ratio: Some(1.0 - run.ingest / reference.ingest.max(1e-9)),
        ..Figure::against(name, run.ingest, "events/s", "1 - with/without", reference.ingest)
    };
    let figures = vec![
        Figure::plain("sims", args.sims as f64, "devices"),
        Figure::plain("accounts", args.accounts as f64, "accounts"),
        Figure::against("debits", billing.debits, "debits/s", "core events ingested/s, same run", billing.ingest),
        Figure::against(
            "debits_with_triggers",
            triggers.debits,
            "debits/s",
            "core events ingested/s, same run",
            triggers.ingest,
        ),
        Figure::against(
            "ingest_with_billing",
            billing.ingest,
            "events/s",
            "same load, no billing projection",
            reference.ingest,
        ),
        overhead(&billing, "billing_overhead"),
        overhead(&triggers, "billing_overhead_with_triggers"),
        Figure::plain("billing_lag_at_end", billing.lag as f64, "events"),
        Figure::plain("billing_lag_at_end_with_triggers", triggers.lag as f64, "events"),
    ];
    print(&figures, args.json);
    Ok(())
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
        SimConfig { seed: 7, start: SimConfig::default_start(), duration: None, speed: 0.0, rate: 0.0 },
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
