//! `simledger account`: the operator creates accounts and API keys. Each secret is printed once
//! and stored only as a hash.

use clap::{Args, Subcommand};
use simledger_commands::Role;

use crate::config::Config;

#[derive(Debug, Args)]
pub struct AccountArgs {
    #[command(subcommand)]
    command: AccountCommand,
}

#[derive(Debug, Subcommand)]
enum AccountCommand {
    /// Create an account; prints `{"sid": "AC…", "auth_token": "…"}`.
    Create {
        /// A friendly name for the account.
        #[arg(long, default_value = "account")]
        name: String,
        /// An operator account, which may also call /operator (inventory, accounts).
        #[arg(long)]
        operator: bool,
    },
    /// Create an API key for an account; prints `{"sid": "SK…", "secret": "…"}`.
    Key {
        /// The account's SID.
        #[arg(long)]
        account: String,
        #[arg(long, default_value = "key")]
        name: String,
    },
}

pub async fn run(config: &Config, args: AccountArgs) -> anyhow::Result<()> {
    let pool = simledger_services::postgres::prepare(&config.database_url, &config.data_dir(), 2).await?;
    let accounts = config.accounts(pool)?;
    let json = match args.command {
        AccountCommand::Create { name, operator } => {
            let role = if operator { Role::Operator } else { Role::Customer };
            let c = accounts.create(&name, role).await?;
            serde_json::json!({"sid": c.sid, "auth_token": c.secret})
        }
        AccountCommand::Key { account, name } => {
            let c = accounts.create_key(&account, &name).await?;
            serde_json::json!({"sid": c.sid, "secret": c.secret, "account_sid": account})
        }
    };
    println!("{json}");
    Ok(())
}
