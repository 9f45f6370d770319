//! What billing's actions decide for SIMs and fleets, as pure functions of billing's own view of
//! them (folded from the log in `registry.rs`). `effects.rs` looks the view up and turns each
//! verdict into an event; the rules themselves are here, tested given/when/then.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use simledger_eventlog::catalog::{ExternalCdr, SimStatus};
use simledger_ids::FleetSid;

/// `*suspend_sim` (`active` false) or `*resume_sim` (`active` true) on a SIM now in `from`: the
/// status to change it to, if any. Suspending takes any SIM that is not inactive to inactive (as
/// Twilio's API would); resuming brings back only a SIM that is inactive, so a SIM never
/// activated is not activated by a balance.
pub fn sim_status_change(active: bool, from: SimStatus) -> Option<SimStatus> {
    let to = if active { SimStatus::Active } else { SimStatus::Inactive };
    if from == to || (active && from != SimStatus::Inactive) {
        return None;
    }
    Some(to)
}

/// The fleet `*set_fleet_data_limit` acts on: the one the action names, else the account's own
/// when the billing account is named after a fleet, else the fleet of the account's SIM.
pub fn limit_target<'a>(
    named: Option<&'a FleetSid>,
    account_fleet: Option<&'a FleetSid>,
    sim_fleet: Option<&'a FleetSid>,
) -> Option<&'a FleetSid> {
    named.or(account_fleet).or(sim_fleet)
}

/// The limit to set on a fleet whose limit is `current`, if it changes.
pub fn limit_change(current: i64, wanted: i64) -> Option<i64> {
    (current != wanted).then_some(wanted)
}

/// A `*cdrlog` CDR with its template's fields applied over CGrateS's defaults. A value that
/// does not fit its field (a `Cost` read from a non-number) leaves the default, as CGrateS does;
/// fields its CDR lacks are extra fields. The template could not name the CDR's identity.
pub fn apply_cdrlog_fields(cdr: &mut ExternalCdr, fields: &BTreeMap<String, String>) {
    for (field, value) in fields {
        match field.as_str() {
            "ToR" => {
                if let Some(t) = simledger_billing::BalanceType::parse(value) {
                    cdr.tor = t;
                }
            }
            "RequestType" => cdr.request_type = value.clone(),
            "Account" => cdr.account = value.clone(),
            "Subject" => cdr.subject = value.clone(),
            "Category" => cdr.category = value.clone(),
            "Destination" => cdr.destination = value.clone(),
            "RunID" => cdr.run_id = value.clone(),
            "OriginHost" => cdr.origin_host = value.clone(),
            "Cost" => {
                if let (true, Ok(c)) = (simledger_billing::cdrlog::fits_cost(value), value.parse::<Decimal>()) {
                    cdr.cost = Some(c);
                }
            }
            "Usage" => {
                if let (true, Ok(u)) = (simledger_billing::cdrlog::fits_usage(value), value.parse::<i64>()) {
                    cdr.usage = u;
                }
            }
            other => {
                cdr.extra_fields.insert(other.to_owned(), value.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use SimStatus::*;

    #[test]
    fn given_an_active_sim_when_suspended_then_it_becomes_inactive() {
        assert_eq!(sim_status_change(false, Active), Some(Inactive));
    }

    #[test]
    fn given_a_ready_or_new_sim_when_suspended_then_it_becomes_inactive() {
        assert_eq!(sim_status_change(false, Ready), Some(Inactive));
        assert_eq!(sim_status_change(false, New), Some(Inactive));
    }

    #[test]
    fn given_an_inactive_sim_when_suspended_again_then_nothing_is_decided() {
        assert_eq!(sim_status_change(false, Inactive), None);
    }

    #[test]
    fn given_an_inactive_sim_when_resumed_then_it_becomes_active() {
        assert_eq!(sim_status_change(true, Inactive), Some(Active));
    }

    #[test]
    fn given_a_sim_never_activated_when_resumed_then_it_stays_as_it_is() {
        for from in [New, Ready, Scheduled, Active] {
            assert_eq!(sim_status_change(true, from), None, "{from:?}");
        }
    }

    fn fleet(n: u8) -> FleetSid {
        FleetSid::from_digits(&format!("{n:032x}")).unwrap()
    }

    #[test]
    fn given_a_named_fleet_then_the_action_acts_on_it_whatever_the_account() {
        let (named, own, sims) = (fleet(1), fleet(2), fleet(3));
        assert_eq!(limit_target(Some(&named), Some(&own), Some(&sims)), Some(&named));
    }

    #[test]
    fn given_no_named_fleet_then_the_account_fleet_comes_before_the_sim_fleet() {
        let (own, sims) = (fleet(2), fleet(3));
        assert_eq!(limit_target(None, Some(&own), Some(&sims)), Some(&own));
        assert_eq!(limit_target(None, None, Some(&sims)), Some(&sims));
        assert_eq!(limit_target(None, None, None), None);
    }

    #[test]
    fn given_the_same_limit_then_no_update_is_decided() {
        assert_eq!(limit_change(100, 100), None);
        assert_eq!(limit_change(100, 50), Some(50));
    }

    fn logged() -> ExternalCdr {
        let at = chrono::DateTime::UNIX_EPOCH;
        ExternalCdr {
            cgrid: "c".into(),
            run_id: "*topup".into(),
            origin_host: "billing".into(),
            source: "*cdrlog".into(),
            origin_id: "o".into(),
            tor: simledger_billing::BalanceType::Monetary,
            request_type: "*none".into(),
            tenant: "ACa".into(),
            category: "bonus".into(),
            account: "1001".into(),
            subject: "1001".into(),
            destination: String::new(),
            setup_time: at,
            answer_time: at,
            usage: 1,
            extra_fields: BTreeMap::new(),
            cost: Some(Decimal::from(10)),
        }
    }

    #[test]
    fn given_a_cdrlog_template_when_applied_then_its_fields_replace_the_defaults() {
        let mut cdr = logged();
        let fields = BTreeMap::from([
            ("Category".to_owned(), "activation".to_owned()),
            ("Destination".to_owned(), "bonus".to_owned()),
            ("Cost".to_owned(), "2.5".to_owned()),
            ("ToR".to_owned(), "*data".to_owned()),
            ("Plan".to_owned(), "gold".to_owned()),
        ]);
        apply_cdrlog_fields(&mut cdr, &fields);
        assert_eq!((cdr.category.as_str(), cdr.destination.as_str()), ("activation", "bonus"));
        assert_eq!((cdr.cost, cdr.tor), (Some("2.5".parse().unwrap()), simledger_billing::BalanceType::Data));
        assert_eq!(cdr.extra_fields["Plan"], "gold");
        assert_eq!((cdr.tenant.as_str(), cdr.cgrid.as_str()), ("ACa", "c"), "identity untouched");
    }

    #[test]
    fn given_a_value_that_does_not_fit_when_applied_then_the_default_stays() {
        let mut cdr = logged();
        let fields = BTreeMap::from([
            ("Cost".to_owned(), "1000000000000000000000".to_owned()),
            ("Usage".to_owned(), i64::MAX.to_string()),
        ]);
        apply_cdrlog_fields(&mut cdr, &fields);
        assert_eq!((cdr.cost, cdr.usage), (Some(Decimal::from(10)), 1));
    }
}
