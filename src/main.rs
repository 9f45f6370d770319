//! `simledger`: the one binary. Every subcommand has `--help`.

mod account;
mod bench;
mod config;
mod config_file;
mod device;
mod export;
mod inventory;
mod pgw;
mod platform;
mod replay;
mod simulate;
mod telemetry;
mod up;

use clap::{Parser, Subcommand};

// glibc's malloc spent a third of `bench ingest`'s CPU in malloc/free/consolidate under the
// request/reply churn; mimalloc handles many small, short-lived allocations across threads
// far better.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use config::Config;

#[derive(Debug, Parser)]
#[command(
    name = "simledger",
    version,
    about = "Event-sourced subscriber management and CDR billing for IoT SIM fleets"
)]
struct Cli {
    #[command(flatten)]
    config: Config,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the platform: API, core nodes, ingest, projections, exporters, sinks.
    Up(up::UpArgs),
    /// Run one region's PGW in its own process (beside `up --pgw-remote REGION`).
    Pgw(pgw::PgwArgs),
    /// Provision a simulated fleet and drive its devices through the embedded core.
    Simulate(simulate::SimulateArgs),
    /// Create the database if missing and apply every migration, then exit.
    Migrate,
    /// Rebuild a projection's tables from event-log position 0.
    Replay(replay::ReplayArgs),
    /// Accounts and API keys (operator).
    Account(account::AccountArgs),
    /// SIM card inventory that customers register with `POST /v1/Sims` (operator).
    Inventory(inventory::InventoryArgs),
    /// Act as a device against a running platform (`device esim-install`).
    Device(device::DeviceArgs),
    /// Run a CDR exporter once: every CDR after its cursor, into one file.
    Export(export::ExportArgs),
    /// Benchmarks: programs that print figures, each against a reference measured in the same run.
    Bench(bench::BenchArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let json_out = matches!(
        cli.command,
        Command::Account(_) | Command::Inventory(_) | Command::Bench(_) | Command::Export(_) | Command::Device(_)
    );
    telemetry::init(&cli.config.log_filter, json_out);
    match cli.command {
        Command::Up(args) => up::run(&cli.config, args).await,
        Command::Migrate => {
            simledger_services::postgres::prepare(&cli.config.database_url, &cli.config.data_dir(), 2).await?;
            tracing::info!("database is migrated");
            Ok(())
        }
        Command::Simulate(args) => simulate::run(&cli.config, args).await,
        Command::Pgw(args) => pgw::run(&cli.config, args).await,
        Command::Replay(args) => replay::run(&cli.config, args).await,
        Command::Bench(args) => bench::run(&cli.config, args).await,
        Command::Account(args) => account::run(&cli.config, args).await,
        Command::Export(args) => export::run(&cli.config, args).await,
        Command::Inventory(args) => inventory::run(&cli.config, args).await,
        Command::Device(args) => device::run(&cli.config, args).await,
    }
}
