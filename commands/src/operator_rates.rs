//! The operator's CDR rates (`POST /operator/CdrRates`) as events: the `cdrs` and `billing`
//! folds price usage by the rates in force at its place in the log, so a replay after a rate
//! changed prices each CDR and debit as the live run did.

use rust_decimal::Decimal;
use simledger_eventlog::catalog::OperatorRateSet;
use simledger_eventlog::{Event, ExpectedVersion};

use crate::{metadata, CommandError, CommandId, Commands, Result};

/// The stream every operator rate is appended to.
const STREAM: &str = "operator-cdr-rates";

/// The longest prefix a rate may have (E.164 numbers and MCC+MNC are far shorter).
pub const MAX_PREFIX_CHARS: usize = 32;

impl Commands {
    /// Sets the price of a ToR's usage for destinations (or visited networks) starting with
    /// `prefix`, per `unit_size` units; answers once CDRs and billing price by it.
    pub async fn set_operator_rate(
        &self,
        cmd: CommandId,
        tor: &str,
        prefix: &str,
        price_per_unit: Decimal,
        unit_size: i64,
    ) -> Result<()> {
        let tor = simledger_billing::BalanceType::parse_usage(tor).map_err(|m| CommandError::invalid("ToR", m))?;
        if prefix.chars().count() > MAX_PREFIX_CHARS || prefix.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(CommandError::invalid(
                "Prefix",
                format!("must be at most {MAX_PREFIX_CHARS} visible characters"),
            ));
        }
        if price_per_unit.is_sign_negative() {
            return Err(CommandError::invalid("PricePerUnit", "must not be negative"));
        }
        simledger_billing::bounds::within("PricePerUnit", price_per_unit, simledger_billing::bounds::MAX_PRICE)
            .map_err(|m| CommandError::invalid("PricePerUnit", m))?;
        if !(1..=10i64.pow(18)).contains(&unit_size) {
            return Err(CommandError::invalid("UnitSize", "must be 1 to 10^18"));
        }
        let position = match self.earlier_run(&cmd).await? {
            Some(done) => done.position,
            None => {
                let event = Event::OperatorRateSet(OperatorRateSet {
                    tor,
                    prefix: prefix.to_owned(),
                    price_per_unit: price_per_unit.normalize(),
                    unit_size,
                });
                self.commit(&cmd, STREAM.to_owned(), ExpectedVersion::Any, vec![event], metadata(&cmd, None)).await?
            }
        };
        self.cdrs_visible(position).await?;
        self.visible_in(&self.billing, position).await
    }
}
