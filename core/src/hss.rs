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

pub const CODE_UNKNOWN_SUBSCRIBER: i64 = 83701;
pub const CODE_NETWORK_NOT_ALLOWED: i64 = 83702;
pub const CODE_IMSI_NOT_ALLOWED: i64 = 83703;
pub const CODE_SIM_NOT_READY: i64 = 83704;
pub const CODE_SIM_INACTIVE: i64 = 83705;

fn refuse(result_code: u32, code: i64, message: &str, subscriber: Option<SubscriberProfile>) -> UpdateLocationAnswer {
    UpdateLocationAnswer { result_code, error: Some(ConnectionError { code, message: message.to_owned() }), subscriber }
}

/// The HSS's decision, from its view alone.
pub fn update_location(view: &SubscriberView, req: &UpdateLocationRequest) -> UpdateLocationAnswer {
    let unknown = || refuse(DIAMETER_ERROR_USER_UNKNOWN, CODE_UNKNOWN_SUBSCRIBER, "DIAMETER_ERROR_USER_UNKNOWN", None);
    let Some((sim_sid, imsi_allowed)) = view.imsis.get(&req.imsi) else {
        return unknown();
    };
    let Some(sim) = view.sims.get(sim_sid) else {
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
    if !imsi_allowed {
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
    UpdateLocationAnswer { result_code: DIAMETER_SUCCESS, error: None, subscriber: Some(profile) }
}

pub async fn run(client: async_nats::Client, requests: async_nats::Subscriber, views: Arc<CoreViews>) {
    crate::serve::serve(client, requests, "hss", move |req: UpdateLocationRequest| {
        let views = views.clone();
        async move {
            let answer = update_location(&views.subscribers.read().expect("view lock"), &req);
            metrics::counter!("simledger_hss_answers_total", "result" => answer.result_code.to_string()).increment(1);
            answer
        }
    })
    .await
}
