//! `simledger device`: act as a device against a running platform's core, for trying out what
//! needs a device on the other end (an eSIM download, say) without hardware.

use clap::{Args, Subcommand, ValueEnum};
use simledger_core::lpa::{ActivationCode, Lpa};
use simledger_core::protocol::InstallResult;
use simledger_core::CoreNames;

use crate::config::Config;

#[derive(Debug, Args)]
pub struct DeviceArgs {
    #[command(subcommand)]
    command: DeviceCommand,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Outcome {
    Installed,
    InsufficientMemory,
    Interrupted,
    DataMismatch,
}

impl Outcome {
    fn result(self) -> InstallResult {
        match self {
            Self::Installed => InstallResult::Installed,
            Self::InsufficientMemory => InstallResult::InstallFailedDueToInsufficientMemoryForProfile,
            Self::Interrupted => InstallResult::InstallFailedDueToInterruption,
            Self::DataMismatch => InstallResult::InstallFailedDueToDataMismatch,
        }
    }
}

#[derive(Debug, Subcommand)]
enum DeviceCommand {
    /// Download an eSIM profile with a device's LPA and install it; prints the profile's ICCID
    /// and IMSIs. The profile's `CallbackUrl` hears each step.
    EsimInstall {
        /// The profile's `activation_code` (`LPA:1$…$…`); leave out for a profile reserved for
        /// `--eid` without a matching ID.
        #[arg(long)]
        activation_code: Option<String>,
        /// The device's 32-digit EID.
        #[arg(long, default_value = "89049032000001000000000000000001")]
        eid: String,
        /// What the eUICC reports: `installed`, or a reason installing failed.
        #[arg(long, value_enum, default_value_t = Outcome::Installed)]
        outcome: Outcome,
    },
}

pub async fn run(config: &Config, args: DeviceArgs) -> anyhow::Result<()> {
    let nats = simledger_services::nats::connect(&config.nats_url).await?;
    let names = CoreNames::new(config.nats_prefix()?);
    match args.command {
        DeviceCommand::EsimInstall { activation_code, eid, outcome } => {
            let code: Option<ActivationCode> = activation_code.map(|c| c.parse()).transpose()?;
            let lpa = Lpa::new(nats, names, eid);
            let package = lpa.download_and_install(code.as_ref(), outcome.result(), chrono::Utc::now()).await?;
            println!("{}", serde_json::json!({ "iccid": package.iccid, "imsis": package.imsis }));
        }
    }
    Ok(())
}
