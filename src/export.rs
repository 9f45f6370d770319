//! `simledger export`: runs a CDR exporter once and prints what it exported (JSON).

use clap::Args;

use crate::config::Config;

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The account (tenant) the exporter belongs to; without it, one of the operator's
    /// exporters (declared in the configuration file), which export every tenant's CDRs.
    #[arg(long)]
    account: Option<String>,
    /// The exporter's ID.
    #[arg(long)]
    exporter: String,
}

pub async fn run(config: &Config, args: ExportArgs) -> anyhow::Result<()> {
    let pool = simledger_services::postgres::prepare(&config.database_url, &config.data_dir(), 2).await?;
    let shard = simledger_eventlog::EventLog::new(pool.clone()).shard();
    let tenant = args.account.as_deref().unwrap_or(simledger_exporters::cdr_export::OPERATOR);
    let report = simledger_exporters::cdr_export::run(&pool, shard, tenant, &args.exporter).await?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
