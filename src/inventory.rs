//! `simledger inventory`: the operator puts SIM cards into inventory, for customers to
//! register with `POST /v1/Sims`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use simledger_api::operator::{import, parse_inventory_csv};
use simledger_commands::CommandId;

use crate::config::Config;
use crate::platform;

#[derive(Debug, Args)]
pub struct InventoryArgs {
    #[command(subcommand)]
    command: InventoryCommand,
}

#[derive(Debug, Subcommand)]
enum InventoryCommand {
    /// Add one SIM card; prints `{"sid": "HS…", "iccid": …, "imsis": […]}`.
    Add {
        #[arg(long)]
        iccid: String,
        /// The 10-digit code printed on the card.
        #[arg(long)]
        registration_code: String,
        /// An IMSI of the card; repeat for a multi-IMSI SIM.
        #[arg(long = "imsi", required = true)]
        imsis: Vec<String>,
    },
    /// Add every card of a CSV file with the header `iccid,registration_code,imsis` (IMSIs
    /// separated by `;`). Running it again adds nothing twice.
    Import { file: PathBuf },
}

pub async fn run(config: &Config, args: InventoryArgs) -> anyhow::Result<()> {
    let (commands, _registry) = platform::open_store(config).await?;
    let json = match args.command {
        InventoryCommand::Add { iccid, registration_code, imsis } => {
            let cmd = CommandId::named(&format!("inventory:{iccid}"));
            let sid = commands.provision_sim(cmd, &iccid, &registration_code, imsis.clone()).await?;
            serde_json::json!({"sid": sid, "iccid": iccid, "imsis": imsis})
        }
        InventoryCommand::Import { file } => {
            let data = std::fs::read(&file)?;
            let cards = parse_inventory_csv(&data).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let (imported, already_present) = import(&commands, &cards).await?;
            serde_json::json!({"imported": imported, "already_present": already_present})
        }
    };
    println!("{json}");
    Ok(())
}
