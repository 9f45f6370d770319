//! HSS: S6a Update-Location. Decides from the subscriber view whether an IMSI may attach to a
//! serving network, with the Twilio error code and Diameter result of a refusal.
//!
//! Codes: 83705 (SIM inactive) is Twilio's. The others in the 837xx range are simledger's own,
//! chosen beside it because Twilio documents no code for those cases.

use std::sync::Arc;

use simledger_eventlog::catalog::{ConnectionError, SimStatus};
use simledger_eventlog::networks;

use crate::protocol::{SubscriberProfile, UpdateLocationAnswer, UpdateLocationRequest};
use crate::views::{CoreViews, SubscriberView};

pub const DIAMETER_SUCCESS: u32 = 2001;
pub const DIAMETER_ERROR_USER_UNKNOWN: u32 = 5001;
pub const DIAMETER_AUTHORIZATION_REJECTED: u32 = 5003;
pub const DIAMETER_ERROR_ROAMING_NOT_ALLOWED: u32 = 5004;
/// Protocol errors (3xxx) and transient failures (4xxx, 5012): the HSS could not decide, so the
/// attach failed; it was not refused.
pub const DIAMETER_UNABLE_TO_DELIVER: u32 = 3002;
pub const DIAMETER_TOO_BUSY: u32 = 3004;
pub const DIAMETER_UNABLE_TO_COMPLY: u32 = 5012;

pub const CODE_UNKNOWN_SUBSCRIBER: i64 = 83701;
pub const CODE_NETWORK_NOT_ALLOWED: i64 = 83702;
pub const CODE_IMSI_NOT_ALLOWED: i64 = 83703;
pub const CODE_SIM_NOT_READY: i64 = 83704;
pub const CODE_SIM_INACTIVE: i64 = 83705;
/// The HSS could not decide (`attachment.failed`).
pub const CODE_HSS_UNABLE_TO_COMPLY: i64 = 83706;
pub const CODE_IMSI_NETWORK_NOT_ALLOWED: i64 = 83707;
/// The HSS did not answer in time (`attachment.failed`).
pub const CODE_HSS_NO_ANSWER: i64 = 83708;
/// The HSS had as many requests in hand as it takes and turned this one away
/// (`attachment.failed`).
pub const CODE_HSS_TOO_BUSY: i64 = 83709;

/// Whether an Update-Location result means the attach failed (the HSS could not decide) rather
/// than was accepted or refused.
pub fn is_failure(result_code: u32) -> bool {
    matches!(result_code, 3000..=4999 | DIAMETER_UNABLE_TO_COMPLY)
}

/// Requests the HSS holds at once (received, not yet answered); beyond them it answers
/// `DIAMETER_TOO_BUSY` at once rather than let a flood of attaches pile up without bound.
pub const MAX_IN_FLIGHT: usize = 4096;

/// The answer to a request the HSS has no room for.
pub fn too_busy() -> UpdateLocationAnswer {
    refuse(DIAMETER_TOO_BUSY, CODE_HSS_TOO_BUSY, "DIAMETER_TOO_BUSY", None)
}

fn refuse(result_code: u32, code: i64, message: &str, subscriber: Option<SubscriberProfile>) -> UpdateLocationAnswer {
    UpdateLocationAnswer { result_code, error: Some(ConnectionError { code, message: message.to_owned() }), subscriber }
}

/// The HSS's decision, from its view alone.
pub fn update_location(view: &SubscriberView, req: &UpdateLocationRequest) -> UpdateLocationAnswer {
    let unknown = || refuse(DIAMETER_ERROR_USER_UNKNOWN, CODE_UNKNOWN_SUBSCRIBER, "DIAMETER_ERROR_USER_UNKNOWN", None);
    let Some(imsi) = view.imsis.get(&req.imsi) else {
        return unknown();
    };
    let sim_sid = &imsi.sim_sid;
    let Some(sim) = view.sims.get(sim_sid.as_str()) else {
        return unknown();
    };
    // A card in inventory that no account has registered belongs to nobody yet.
    let Some(account_sid) = sim.account_sid.clone() else {
        return unknown();
    };
    let profile = SubscriberProfile {
        sim_sid: sim_sid.to_string(),
        sim_iccid: sim.iccid.clone(),
        sim_unique_name: sim.unique_name.clone(),
        fleet_sid: sim.fleet_sid.as_ref().map(|f| f.to_string()),
        breakout_region: view.breakout_of(sim_sid.as_str()),
        account_sid,
    };
    match sim.status {
        SimStatus::Ready | SimStatus::Active => {}
        SimStatus::Inactive => {
            return refuse(
                DIAMETER_AUTHORIZATION_REJECTED,
                CODE_SIM_INACTIVE,
                "DIAMETER_AUTHORIZATION_REJECTED: SIM is inactive",
                Some(profile),
            )
        }
        SimStatus::New | SimStatus::Scheduled => {
            return refuse(
                DIAMETER_AUTHORIZATION_REJECTED,
                CODE_SIM_NOT_READY,
                "DIAMETER_AUTHORIZATION_REJECTED: SIM is not ready",
                Some(profile),
            )
        }
    }
    if !imsi.allowed {
        return refuse(
            DIAMETER_AUTHORIZATION_REJECTED,
            CODE_IMSI_NOT_ALLOWED,
            "DIAMETER_AUTHORIZATION_REJECTED: IMSI not allowed",
            Some(profile),
        );
    }
    let network_sid = networks::catalog().by_plmn(&req.mcc, &req.mnc).map(|n| n.sid.as_str());
    let allowed = match (sim.fleet_sid.as_ref().and_then(|f| view.fleets.get(f)), network_sid) {
        (Some(fleet), Some(network)) => view.naps.get(&fleet.nap_sid).is_some_and(|nets| nets.contains(network)),
        _ => false,
    };
    if !allowed {
        return refuse(
            DIAMETER_ERROR_ROAMING_NOT_ALLOWED,
            CODE_NETWORK_NOT_ALLOWED,
            "DIAMETER_ERROR_ROAMING_NOT_ALLOWED",
            Some(profile),
        );
    }
    // An IMSI kept to networks of its own attaches only on those, within the profile.
    if !imsi.networks.is_empty() && !network_sid.is_some_and(|n| imsi.networks.contains(n)) {
        return refuse(
            DIAMETER_ERROR_ROAMING_NOT_ALLOWED,
            CODE_IMSI_NETWORK_NOT_ALLOWED,
            "DIAMETER_ERROR_ROAMING_NOT_ALLOWED: network not allowed for this IMSI",
            Some(profile),
        );
    }
    UpdateLocationAnswer { result_code: DIAMETER_SUCCESS, error: None, subscriber: Some(profile) }
}

pub async fn run(
    client: async_nats::Client,
    requests: async_nats::Subscriber,
    views: Arc<CoreViews>,
    max_in_flight: usize,
) {
    crate::serve::serve_bounded(client, requests, "hss", max_in_flight, too_busy, move |req: UpdateLocationRequest| {
        let views = views.clone();
        async move {
            let answer = update_location(&views.subscribers.read().expect("view lock"), &req);
            metrics::counter!("simledger_hss_answers_total", "result" => answer.result_code.to_string()).increment(1);
            answer
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    //! The HSS's rule, given the log's events and an Update-Location, without NATS or a database.

    use simledger_eventlog::catalog::*;
    use simledger_eventlog::networks::network_sid;
    use simledger_eventlog::Event;

    use super::*;

    const ACCOUNT: &str = "AC00000000000000000000000000000001";
    const HOME: &str = "234150000000001";
    const ROAMING: &str = "310260000000001";
    const UK: (&str, &str) = ("234", "15");
    const DE: (&str, &str) = ("262", "01");
    const FR: (&str, &str) = ("208", "01");

    fn sim() -> SimSid {
        SimSid::numbered(1)
    }

    /// A SIM with a home and a roaming IMSI, active in a fleet whose profile allows UK, DE, FR.
    fn given(more: &[Event]) -> SubscriberView {
        let fleet = FleetSid::numbered(1);
        let nap = "HA00000000000000000000000000000001".to_owned();
        let mut view = SubscriberView::default();
        let events = [
            Event::NapCreated(NapCreated {
                nap_sid: nap.clone(),
                account_sid: ACCOUNT.into(),
                unique_name: None,
                networks: [UK, DE, FR].iter().map(|(mcc, mnc)| network_sid(mcc, mnc)).collect(),
            }),
            Event::FleetCreated(FleetCreated {
                fleet_sid: fleet.clone(),
                account_sid: ACCOUNT.into(),
                unique_name: None,
                data_enabled: true,
                data_limit_mb: 1000,
                data_metering: "payg".into(),
                network_access_profile_sid: nap,
                sms_commands_enabled: false,
                sms_commands_url: None,
                sms_commands_method: None,
                ip_commands_url: None,
                ip_commands_method: None,
            }),
            Event::SimProvisioned(SimProvisioned {
                sim_sid: sim(),
                iccid: "8988307000000000001".into(),
                registration_code_hash: "h".into(),
                imsis: vec![HOME.into(), ROAMING.into()],
            }),
            Event::SimRegistered(SimRegistered {
                sim_sid: sim(),
                account_sid: ACCOUNT.into(),
                iccid: "8988307000000000001".into(),
                status: SimStatus::Active,
                fleet_sid: Some(fleet),
                unique_name: None,
            }),
        ];
        for e in events.iter().chain(more) {
            view.apply(e);
        }
        view
    }

    fn imsi_update(account: Option<&str>, imsi: &str, allowed: bool, networks: &[(&str, &str)]) -> Event {
        Event::SimImsiUpdated(SimImsiUpdated {
            sim_sid: sim(),
            account_sid: account.map(str::to_owned),
            imsi: imsi.parse().unwrap(),
            allowed,
            networks: networks.iter().map(|(mcc, mnc)| network_sid(mcc, mnc)).collect(),
        })
    }

    fn attach(view: &SubscriberView, imsi: &str, (mcc, mnc): (&str, &str)) -> Option<i64> {
        let req = UpdateLocationRequest { imsi: imsi.into(), mcc: mcc.into(), mnc: mnc.into() };
        update_location(view, &req).error.map(|e| e.code)
    }

    #[test]
    fn the_networks_are_in_the_catalogue() {
        for (mcc, mnc) in [UK, DE, FR] {
            assert!(networks::catalog().by_plmn(mcc, mnc).is_some(), "{mcc}-{mnc}");
        }
    }

    #[test]
    fn given_no_imsi_control_then_both_imsis_attach_wherever_the_profile_allows() {
        let view = given(&[]);
        for network in [UK, DE, FR] {
            assert_eq!(attach(&view, HOME, network), None);
            assert_eq!(attach(&view, ROAMING, network), None);
        }
    }

    #[test]
    fn given_a_roaming_imsi_kept_to_two_networks_then_it_attaches_there_only_and_the_home_imsi_anywhere() {
        let view = given(&[imsi_update(Some(ACCOUNT), ROAMING, true, &[DE, FR])]);
        assert_eq!(attach(&view, ROAMING, DE), None);
        assert_eq!(attach(&view, ROAMING, FR), None);
        assert_eq!(attach(&view, ROAMING, UK), Some(CODE_IMSI_NETWORK_NOT_ALLOWED));
        assert_eq!(attach(&view, HOME, UK), None, "the home IMSI is unaffected");
    }

    #[test]
    fn given_an_imsi_network_outside_the_profile_then_the_profile_still_refuses_it() {
        let us = ("310", "260");
        let view = given(&[imsi_update(Some(ACCOUNT), ROAMING, true, &[us])]);
        assert_eq!(attach(&view, ROAMING, us), Some(CODE_NETWORK_NOT_ALLOWED));
    }

    #[test]
    fn given_a_disallowed_imsi_then_it_is_refused_and_allowing_it_again_lets_it_in() {
        let view = given(&[imsi_update(Some(ACCOUNT), ROAMING, false, &[])]);
        assert_eq!(attach(&view, ROAMING, UK), Some(CODE_IMSI_NOT_ALLOWED));
        let view =
            given(&[imsi_update(Some(ACCOUNT), ROAMING, false, &[]), imsi_update(Some(ACCOUNT), ROAMING, true, &[])]);
        assert_eq!(attach(&view, ROAMING, UK), None);
    }

    #[test]
    fn given_a_change_in_another_accounts_name_then_nothing_changes() {
        let other = "AC00000000000000000000000000000002";
        let view = given(&[imsi_update(Some(other), ROAMING, false, &[]), imsi_update(None, HOME, false, &[])]);
        assert_eq!(attach(&view, ROAMING, UK), None);
        assert_eq!(attach(&view, HOME, UK), None);
    }
}
