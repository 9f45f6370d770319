//! `simledger export`: runs a CDR exporter once and prints what it exported (JSON).

use clap::Args;

use crate::config::Config;

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The account (tenant) the exporter belongs to.
    #[arg(long)]
    account: String,
    /// The exporter's ID.
    #[arg(long)]
    exporter: String,
}

pub async fn run(config: &Config, args: ExportArgs) -> anyhow::Result<()> {
    let pool = simledger_services::postgres::prepare(&config.database_url, &config.data_dir(), 2).await?;
    let shard = simledger_eventlog::EventLog::new(pool.clone()).shard();
    let report = simledger_exporters::cdr_export::run(&pool, shard, &args.account, &args.exporter).await?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
