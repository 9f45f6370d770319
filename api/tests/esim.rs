//! eSIM profiles end to end: reserved through the REST API, downloaded and installed by a
//! simulated device's LPA from the SM-DP+ node, each step a callback; the installed profile is
//! a SIM of the account that is activated and attaches like any other. And the abuse of it: a
//! wrong matching ID, another EID, a second device, a repeated request and a malformed one
//! change nothing, and another tenant's profile is untouched.

mod common;

use std::time::Duration;

use chrono::Utc;
use common::receiver::Receiver;
use common::{assert_error, spawn_app_with_core, TestApp};
use simledger_core::lpa::{ActivationCode, Lpa, LpaError};
use simledger_core::protocol::{subjects, InstallResult};
use simledger_eventlog::Event;

const EID: &str = "89049032000001000000012345678901";
const OTHER_EID: &str = "89049032000001000000012345678902";

async fn lpa(app: &TestApp, eid: &str) -> Lpa {
    let (core, names) = app.core.as_ref().expect("the core runs");
    assert!(core.views.caught_up(&app.log, Duration::from_secs(10)).await, "the SM-DP+ sees the profiles");
    Lpa::new(app.nats.clone(), names.clone(), eid)
}

/// Reserves a profile for `who`; returns its SID and activation code.
async fn reserve(
    app: &TestApp,
    who: &simledger_commands::Credential,
    form: &[(&str, &str)],
) -> (String, ActivationCode) {
    let r = app.post(who, "/v1/ESimProfiles", form).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let code = r.body["activation_code"].as_str().unwrap().parse().expect("an SGP.22 activation code");
    (r.body["sid"].as_str().unwrap().to_owned(), code)
}

/// The profile's events in the log, by type.
async fn steps(app: &TestApp, sid: &str) -> Vec<&'static str> {
    let events = app.log.read_stream(&format!("esim-{sid}"), 0).await.unwrap();
    events.iter().map(|e| e.event.event_type()).collect()
}

fn refused_on(result: Result<simledger_core::protocol::ProfilePackage, LpaError>) -> String {
    match result {
        Err(LpaError::Refused(r)) => r.subject_code,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_reserved_profile_is_downloaded_installed_and_becomes_a_sim_that_attaches() {
    let app = spawn_app_with_core().await;
    let hooks = Receiver::start().await;
    let (sid, code) = reserve(&app, &app.alice, &[("CallbackUrl", &hooks.url("/esim"))]).await;
    let (bobs, _) = reserve(&app, &app.bob, &[]).await;

    let package = lpa(&app, EID).await.download_and_install(Some(&code), InstallResult::Installed, Utc::now()).await;
    let package = package.expect("downloaded and installed");
    let installed =
        app.eventually(&app.alice, &format!("/v1/ESimProfiles/{sid}"), |b| b["status"] == "installed").await;
    assert_eq!(installed["eid"], EID);
    assert_eq!(installed["iccid"], package.iccid.as_str());
    let sim_sid = installed["sim_sid"].as_str().expect("the SIM it became").to_owned();

    // Each step called back, signed, once.
    hooks.wait_for_requests(3, Duration::from_secs(15)).await;
    let forms = hooks.forms();
    let mut statuses: Vec<&str> = forms
        .iter()
        .map(|f| {
            assert!(f.contains(&("Sid".to_owned(), sid.clone())), "{f:?}");
            f.iter().find(|(k, _)| k == "Status").map(|(_, v)| v.as_str()).unwrap()
        })
        .collect();
    statuses.sort_unstable();
    assert_eq!(statuses, ["downloaded", "downloading", "installed"]);
    assert!(hooks.requests().iter().all(|r| r.signature.is_some()), "signed as Twilio signs");
    let last = forms.iter().find(|f| f.contains(&("Status".to_owned(), "installed".to_owned()))).unwrap();
    assert!(last.contains(&("SimSid".to_owned(), sim_sid.clone())));

    // The SIM is alice's, `new`; she activates it in a fleet and it attaches with the profile's IMSI.
    let sim = app.eventually(&app.alice, &format!("/v1/Sims/{sim_sid}"), |b| b["status"] == "new").await;
    assert_eq!(sim["iccid"], package.iccid.as_str());
    let (_, fleet) = app.fleet(&app.alice).await;
    let r = app.post(&app.alice, &format!("/v1/Sims/{sim_sid}"), &[("Fleet", &fleet), ("Status", "active")]).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let attached = app.attach(&package.imsis[0], ("234", "15"), 1).await;
    assert!(attached.accepted, "{:?}", attached.error);
    assert_eq!(attached.context.unwrap().subscriber.sim_sid, sim_sid);

    // A second device presenting the same code gets nothing; no one can register the SIM by code.
    let again =
        lpa(&app, OTHER_EID).await.download_and_install(Some(&code), InstallResult::Installed, Utc::now()).await;
    assert_eq!(refused_on(again), "8.2");
    let by_code =
        app.post(&app.bob, "/v1/Sims", &[("Iccid", &package.iccid), ("RegistrationCode", "0000000000")]).await;
    assert_error(&by_code, 400, 83002);

    // Bob sees none of it and his profile is as he left it.
    assert_eq!(app.get(&app.bob, &format!("/v1/Sims/{sim_sid}")).await.status, 404);
    assert_eq!(app.get(&app.bob, &format!("/v1/ESimProfiles/{sid}")).await.status, 404);
    assert_eq!(app.get(&app.bob, &format!("/v1/ESimProfiles/{bobs}")).await.body["status"], "available");
    assert_eq!(
        steps(&app, &sid).await,
        ["esim_profile.created", "esim_profile.downloading", "esim_profile.downloaded", "esim_profile.installed"]
    );
    let sim_events = app.log.read_stream(&format!("sim-{sim_sid}"), 0).await.unwrap();
    let made: Vec<&str> = sim_events.iter().take(2).map(|e| e.event.event_type()).collect();
    assert_eq!(made, ["sim.provisioned", "sim.registered"], "made once");
    assert_eq!(sim_events.iter().filter(|e| matches!(e.event, Event::SimProvisioned(_))).count(), 1);
}

#[tokio::test]
async fn an_installation_the_device_reports_failed_leaves_the_profile_failed_and_makes_no_sim() {
    let app = spawn_app_with_core().await;
    let (sid, code) = reserve(&app, &app.alice, &[]).await;
    let device = lpa(&app, EID).await;
    let result = InstallResult::InstallFailedDueToInsufficientMemoryForProfile;
    device.download_and_install(Some(&code), result, Utc::now()).await.expect("reported");
    let failed = app.eventually(&app.alice, &format!("/v1/ESimProfiles/{sid}"), |b| b["status"] == "failed").await;
    assert_eq!(failed["error_code"], "10");
    assert_eq!(failed["error_message"], "installFailedDueToInsufficientMemoryForProfile");
    assert!(failed["sim_sid"].is_null());
    // The device cannot try again on the same reservation: the customer reserves another.
    let again = lpa(&app, EID).await.download_and_install(Some(&code), InstallResult::Installed, Utc::now()).await;
    assert_eq!(refused_on(again), "8.2");
    assert!(app.esim_installer.reached(app.log.head().await.unwrap()).await);
    let sims = app.get(&app.alice, "/v1/Sims").await;
    assert_eq!(sims.body["sims"].as_array().unwrap().len(), 0, "no SIM was made");
}

#[tokio::test]
async fn wrong_codes_other_eids_repeats_and_malformed_requests_change_nothing() {
    let app = spawn_app_with_core().await;
    let (bound, bound_code) = reserve(&app, &app.alice, &[("Eid", EID), ("GenerateMatchingId", "true")]).await;
    let stranger = lpa(&app, OTHER_EID).await;
    let at = Utc::now();

    // Another eUICC, with the code or without; a made-up matching ID; another SM-DP+.
    let with_code = stranger.download_and_install(Some(&bound_code), InstallResult::Installed, at).await;
    assert_eq!(refused_on(with_code), "8.1.1");
    assert_eq!(refused_on(stranger.download_and_install(None, InstallResult::Installed, at).await), "8.1.1");
    let made_up: ActivationCode = "LPA:1$rsp.simledger.local$NOTAMATCHINGID0000000".parse().unwrap();
    assert_eq!(refused_on(stranger.download_and_install(Some(&made_up), InstallResult::Installed, at).await), "8.2.6");
    let elsewhere: ActivationCode = "LPA:1$smdp.example.com$X".parse().unwrap();
    let elsewhere = stranger.download_and_install(Some(&elsewhere), InstallResult::Installed, at).await;
    assert!(matches!(elsewhere, Err(LpaError::UnknownSmdp(_))), "{elsewhere:?}");

    // Malformed ES9+ requests are answered with an error and the node keeps serving.
    let (_, names) = app.core.as_ref().unwrap();
    for body in [&b"not json"[..], br#"{"eid":"1","at":"2026-01-01T00:00:00Z","extra":1}"#, br#"{}"#] {
        let reply = app.nats.request(names.request(subjects::ES9_DOWNLOAD), body.to_vec().into()).await.unwrap();
        let answer: serde_json::Value = serde_json::from_slice(&reply.payload).unwrap();
        assert!(answer["error"].is_string(), "{answer}");
    }
    let forged =
        serde_json::json!({ "eid": OTHER_EID, "iccid": "8988307000000000000", "result": "installed", "at": at });
    let reply = app.nats.request(names.request(subjects::ES9_NOTIFY), forged.to_string().into()).await.unwrap();
    let answer: serde_json::Value = serde_json::from_slice(&reply.payload).unwrap();
    assert_eq!(answer["acknowledged"], false);

    // The eUICC it is reserved for gets it; a repeated request logs nothing twice.
    let owner = lpa(&app, EID).await;
    let first = owner.download_and_install(Some(&bound_code), InstallResult::Installed, at).await.expect("installed");
    // The device repeats itself before the log shows the installation: the same steps, logged once.
    owner.download_and_install(Some(&bound_code), InstallResult::Installed, at).await.expect("the same answer again");
    app.eventually(&app.alice, &format!("/v1/ESimProfiles/{bound}"), |b| b["status"] == "installed").await;
    let repeat = lpa(&app, EID).await.download_and_install(Some(&bound_code), InstallResult::Installed, at).await;
    assert_eq!(refused_on(repeat), "8.2", "an installed profile is not downloaded again");
    app.eventually(&app.alice, "/v1/Sims", |b| b["sims"].as_array().is_some_and(|s| s.len() == 1)).await;
    assert_eq!(
        steps(&app, &bound).await,
        ["esim_profile.created", "esim_profile.downloading", "esim_profile.downloaded", "esim_profile.installed"],
        "refusals logged nothing"
    );
    let sims = app.get(&app.alice, "/v1/Sims").await.body;
    assert_eq!(sims["sims"][0]["iccid"], first.iccid.as_str());
    assert_eq!(app.get(&app.bob, "/v1/Sims").await.body["sims"].as_array().unwrap().len(), 0);

    // A profile reserved for an EID alone is found by that EID, with no code at all.
    let (eid_only, _) = reserve(&app, &app.alice, &[("Eid", EID)]).await;
    lpa(&app, EID).await.download_and_install(None, InstallResult::Installed, at).await.expect("installed");
    app.eventually(&app.alice, &format!("/v1/ESimProfiles/{eid_only}"), |b| b["status"] == "installed").await;

    // When two accounts reserve for one EID, neither gets the device without a matching ID.
    let contested = "89049032000001000000012345678903";
    reserve(&app, &app.bob, &[("Eid", contested)]).await;
    let (alices, _) = reserve(&app, &app.alice, &[("Eid", contested)]).await;
    let r = lpa(&app, contested).await.download_and_install(None, InstallResult::Installed, at).await;
    assert_eq!(refused_on(r), "8.1.1");
    assert_eq!(app.get(&app.alice, &format!("/v1/ESimProfiles/{alices}")).await.body["status"], "available");
}

#[tokio::test]
async fn an_account_keeps_a_bounded_number_of_profiles_waiting_and_others_are_unaffected() {
    let app = spawn_app_with_core().await;
    // As if alice had reserved the most profiles an account may keep waiting for a device.
    let max = simledger_commands::MAX_AVAILABLE_ESIM_PROFILES;
    sqlx::query(
        "INSERT INTO device_esim_profiles (esim_profile_sid, account_sid, iccid, status, smdp_plus_address, \
         activation_code, date_created, date_updated) \
         SELECT 'HP' || lpad(to_hex(n), 32, '0'), $1, '89883079' || lpad(n::text, 11, '0'), 'available', \
         'rsp.simledger.local', '', now(), now() FROM generate_series(1, $2) n",
    )
    .bind(&app.alice.sid)
    .bind(max)
    .execute(app.log.pool())
    .await
    .unwrap();
    let before = app.log.head().await.unwrap();
    assert_error(&app.post(&app.alice, "/v1/ESimProfiles", &[]).await, 409, 20409);
    assert_eq!(app.log.head().await.unwrap(), before, "nothing logged");
    let bobs = app.post(&app.bob, "/v1/ESimProfiles", &[]).await;
    assert_eq!(bobs.status, 201, "another account still reserves: {:?}", bobs.body);
}
