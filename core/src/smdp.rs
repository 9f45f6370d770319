//! SM-DP+: simledger's eSIM profile server, which devices' LPAs download reserved profiles from
//! (SGP.22 ES9+, over NATS request/reply like the other nodes).
//!
//! ```text
//! LPA ──es9.download (EID, matching ID)──► SM-DP+  downloading, downloaded ──► the package
//! LPA ──es9.notify (ICCID, result)───────► SM-DP+  installed | failed
//! ```
//!
//! Each step is an `esim_profile.*` event on the profile's stream, its id derived from the
//! profile, the step, the EID and the device's time, so a device that repeats a request logs
//! nothing twice. The decider in `policies` makes an installed profile a SIM of its account.
//! Refusals (an unknown matching ID, another EID, a profile already downloaded) log nothing:
//! whoever presents a wrong code must not be able to spoil someone else's profile.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use simledger_eventlog::catalog::{EsimProfileProgress, EsimStep};
use simledger_eventlog::{Event, Metadata};

use crate::protocol::{DownloadAnswer, DownloadRequest, Es9Refusal, InstallNotification, NotifyAnswer, ProfilePackage};
use crate::views::{CoreViews, EsimEntry, EsimStage, EsimView, SubscriberView};
use crate::{happening, CorePublisher};

const NODE: &str = "smdp";

fn refusal(subject_code: &str, reason_code: &str, message: &str) -> Es9Refusal {
    Es9Refusal { subject_code: subject_code.into(), reason_code: reason_code.into(), message: message.into() }
}

fn busy() -> Es9Refusal {
    refusal("8.1", "4.2", "the SM-DP+ is busy; try again")
}

fn too_busy_download() -> DownloadAnswer {
    DownloadAnswer { package: None, refusal: Some(busy()) }
}

fn too_busy_notify() -> NotifyAnswer {
    NotifyAnswer { acknowledged: false, refusal: Some(busy()) }
}

/// What a download request decides, with the profile it is about.
#[derive(Debug, Clone)]
pub enum Download {
    /// Hand the package over: `downloading`, then `downloaded`.
    Accept {
        entry: EsimEntry,
        package: ProfilePackage,
    },
    /// The profile cannot become a SIM (its ICCID or IMSI is already someone's): `failed`.
    Conflict {
        entry: EsimEntry,
    },
    Refuse(Es9Refusal),
}

/// The eUICC a profile went to: the log's, or a claim this node made that the log does not
/// show yet (so two devices racing for one profile cannot both get it).
fn holder<'a>(entry: &'a EsimEntry, claims: &'a HashMap<String, String>) -> Option<&'a str> {
    entry.eid.as_deref().or_else(|| claims.get(&entry.profile.esim_profile_sid).map(String::as_str))
}

fn valid_eid(eid: &str) -> bool {
    eid.len() == 32 && eid.bytes().all(|b| b.is_ascii_digit())
}

/// The SM-DP+'s rule for a download, from its views alone.
pub fn decide_download(
    esims: &EsimView,
    subscribers: &SubscriberView,
    claims: &HashMap<String, String>,
    req: &DownloadRequest,
) -> Download {
    if !valid_eid(&req.eid) {
        return Download::Refuse(refusal("8.1.1", "3.8", "an EID is 32 digits"));
    }
    let entry = match req.matching_id.as_deref().filter(|m| !m.is_empty()) {
        Some(m) => esims.by_matching_id(m).ok_or_else(|| refusal("8.2.6", "3.8", "matching ID refused")),
        None => {
            // Anyone may reserve for any EID: when two accounts did, neither profile goes to
            // the device without its matching ID (else one account could take another's device).
            let reserved = esims.reserved_for(&req.eid);
            let accounts: HashSet<&str> = reserved.iter().map(|e| e.profile.account_sid.as_str()).collect();
            if accounts.len() > 1 {
                Err(refusal(
                    "8.1.1",
                    "3.8",
                    "profiles of several accounts are reserved for this EID: a matching ID is needed",
                ))
            } else {
                reserved
                    .iter()
                    .find(|e| e.stage == EsimStage::Available || holder(e, claims) == Some(req.eid.as_str()))
                    .or(reserved.first())
                    .copied()
                    .ok_or_else(|| refusal("8.1.1", "3.9", "no profile is reserved for this EID"))
            }
        }
    };
    let entry = match entry {
        Ok(entry) => entry,
        Err(r) => return Download::Refuse(r),
    };
    let profile = &entry.profile;
    if profile.eid.as_deref().is_some_and(|bound| bound != req.eid) {
        return Download::Refuse(refusal("8.1.1", "3.8", "the profile is reserved for another EID"));
    }
    let again = holder(entry, claims) == Some(req.eid.as_str());
    let may = match entry.stage {
        EsimStage::Available => holder(entry, claims).is_none() || again,
        EsimStage::Downloading | EsimStage::Downloaded => again,
        EsimStage::Installed | EsimStage::Failed => false,
    };
    if !may {
        return Download::Refuse(refusal("8.2", "3.3", "the profile has already been downloaded"));
    }
    let imsis = profile.imsis();
    let sim_sid = profile.sim_sid();
    let taken = imsis.iter().any(|i| subscribers.imsis.get(i).is_some_and(|e| e.sim_sid != sim_sid))
        || subscribers.by_iccid.get(&profile.iccid).is_some_and(|sid| *sid != sim_sid);
    if taken {
        return Download::Conflict { entry: entry.clone() };
    }
    let package = ProfilePackage { iccid: profile.iccid.clone(), imsis };
    Download::Accept { entry: entry.clone(), package }
}

/// The SM-DP+'s rule for an installation report: the profile it names, if it went to that EID.
pub fn decide_notify<'a>(
    esims: &'a EsimView,
    claims: &HashMap<String, String>,
    req: &InstallNotification,
) -> Result<&'a EsimEntry, Es9Refusal> {
    let entry = esims
        .by_iccid
        .get(&req.iccid)
        .and_then(|sid| esims.profiles.get(sid))
        .ok_or_else(|| refusal("8.2.1", "3.9", "unknown ICCID"))?;
    if holder(entry, claims) != Some(req.eid.as_str()) {
        return Err(refusal("8.1.1", "3.8", "the profile was not downloaded to this EID"));
    }
    Ok(entry)
}

/// The event of a step; `installed` names the SIM the profile becomes and its IMSIs.
pub fn step(entry: &EsimEntry, eid: &str, at: DateTime<Utc>, outcome: &Step) -> Event {
    let p = &entry.profile;
    let mut progress = EsimProfileProgress {
        esim_profile_sid: p.esim_profile_sid.clone(),
        account_sid: p.account_sid.clone(),
        iccid: p.iccid.clone(),
        eid: eid.to_owned(),
        sim_sid: None,
        imsis: Vec::new(),
        error_code: None,
        error_message: None,
        timestamp: at,
    };
    match outcome {
        Step::Downloading => Event::EsimProfileDownloading(progress),
        Step::Downloaded => Event::EsimProfileDownloaded(progress),
        Step::Installed => {
            progress.sim_sid = Some(p.sim_sid());
            progress.imsis = p.imsis();
            Event::EsimProfileInstalled(progress)
        }
        Step::Failed { code, message } => {
            progress.error_code = Some(code.clone());
            progress.error_message = Some(message.clone());
            Event::EsimProfileFailed(progress)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Downloading,
    Downloaded,
    Installed,
    Failed { code: String, message: String },
}

impl Step {
    /// The step's name in its event id.
    fn name(&self) -> &'static str {
        let step = match self {
            Self::Downloading => EsimStep::Downloading,
            Self::Downloaded => EsimStep::Downloaded,
            Self::Installed => EsimStep::Installed,
            Self::Failed { .. } => EsimStep::Failed,
        };
        step.as_str()
    }
}

/// What this node did that the log may not show yet.
#[derive(Default)]
struct Memory {
    /// The EID each profile went to.
    claims: HashMap<String, String>,
    /// Profiles whose download steps this node published.
    downloaded: HashSet<String>,
    /// Profiles whose last step (installed or failed) this node published.
    finished: HashSet<String>,
}

/// Requests the SM-DP+ holds at once; beyond them it refuses at once (a flood of devices
/// cannot pile up tasks, or hold the views' locks, without bound).
pub const MAX_IN_FLIGHT: usize = 1024;

/// The node: decides from the core's views and publishes each step, once: a device repeating
/// a request gets the same answer and logs nothing more.
#[derive(Clone)]
pub struct SmdpPlus {
    pub publisher: CorePublisher,
    pub views: Arc<CoreViews>,
    memory: Arc<Mutex<Memory>>,
}

impl SmdpPlus {
    pub fn new(publisher: CorePublisher, views: Arc<CoreViews>) -> Self {
        Self { publisher, views, memory: Arc::default() }
    }

    /// Publishes `steps` of the profile's download to `eid`, each with an id derived from the
    /// profile, the step, the EID and the device's time.
    async fn publish(&self, entry: &EsimEntry, eid: &str, at: DateTime<Utc>, steps: &[Step]) {
        let sid = &entry.profile.esim_profile_sid;
        for s in steps {
            let id = happening::event_id(&format!("esim:{sid}:{}:{eid}", s.name()), at);
            let meta = Metadata::from_source(NODE).with_account(entry.profile.account_sid.clone());
            self.publisher.publish(NODE, format!("esim-{sid}"), id, &step(entry, eid, at, s), meta).await;
        }
    }

    pub async fn download(&self, req: DownloadRequest) -> DownloadAnswer {
        // The decision and the claim are one step, so two devices cannot both take a profile.
        let (decision, publish) = {
            let esims = self.views.esims.read().expect("view lock");
            let subscribers = self.views.subscribers.read().expect("view lock");
            let mut memory = self.memory.lock().expect("memory lock");
            let decision = decide_download(&esims, &subscribers, &memory.claims, &req);
            let publish = match &decision {
                Download::Accept { entry, .. } => {
                    let sid = &entry.profile.esim_profile_sid;
                    memory.claims.insert(sid.clone(), req.eid.clone());
                    entry.stage == EsimStage::Available && memory.downloaded.insert(sid.clone())
                }
                // No claim: a profile that cannot become a SIM goes to no device.
                Download::Conflict { entry } => memory.finished.insert(entry.profile.esim_profile_sid.clone()),
                Download::Refuse(_) => false,
            };
            (decision, publish)
        };
        metrics::counter!("simledger_smdp_downloads_total", "result" => match &decision {
            Download::Accept { .. } => "accepted", Download::Conflict { .. } => "conflict", Download::Refuse(_) => "refused",
        })
        .increment(1);
        match decision {
            Download::Accept { entry, package } => {
                if publish {
                    self.publish(&entry, &req.eid, req.at, &[Step::Downloading, Step::Downloaded]).await;
                }
                DownloadAnswer { package: Some(package), refusal: None }
            }
            Download::Conflict { entry } => {
                let message = "the profile's ICCID or IMSI already belongs to a SIM".to_owned();
                if publish {
                    let failed = Step::Failed { code: "8.2.1-3.3".into(), message: message.clone() };
                    self.publish(&entry, &req.eid, req.at, &[failed]).await;
                }
                DownloadAnswer { package: None, refusal: Some(refusal("8.2.1", "3.3", &message)) }
            }
            Download::Refuse(r) => DownloadAnswer { package: None, refusal: Some(r) },
        }
    }

    pub async fn notify(&self, req: InstallNotification) -> NotifyAnswer {
        let decided = {
            let esims = self.views.esims.read().expect("view lock");
            let mut memory = self.memory.lock().expect("memory lock");
            // A report after the profile's last step is a device repeating itself: the log
            // holds (or this node already published) the step.
            decide_notify(&esims, &memory.claims, &req).cloned().map(|entry| {
                let last = matches!(entry.stage, EsimStage::Installed | EsimStage::Failed);
                let publish = !last && memory.finished.insert(entry.profile.esim_profile_sid.clone());
                (entry, publish)
            })
        };
        let (entry, publish) = match decided {
            Ok(decided) => decided,
            Err(r) => return NotifyAnswer { acknowledged: false, refusal: Some(r) },
        };
        if publish {
            let outcome = match req.result.error() {
                None => Step::Installed,
                Some((code, message)) => Step::Failed { code: code.to_string(), message: message.into() },
            };
            self.publish(&entry, &req.eid, req.at, &[outcome]).await;
        }
        NotifyAnswer { acknowledged: true, refusal: None }
    }

    pub async fn run(
        self,
        client: async_nats::Client,
        downloads: async_nats::Subscriber,
        notes: async_nats::Subscriber,
    ) {
        let (a, b) = (self.clone(), self);
        tokio::join!(
            crate::serve::serve_bounded(
                client.clone(),
                downloads,
                NODE,
                MAX_IN_FLIGHT,
                too_busy_download,
                move |req: DownloadRequest| {
                    let node = a.clone();
                    async move { node.download(req).await }
                }
            ),
            crate::serve::serve_bounded(
                client,
                notes,
                NODE,
                MAX_IN_FLIGHT,
                too_busy_notify,
                move |req: InstallNotification| {
                    let node = b.clone();
                    async move { node.notify(req).await }
                }
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    //! The SM-DP+'s rules, given the log's events and a device's request, without NATS.

    use simledger_eventlog::catalog::*;

    use super::*;
    use crate::protocol::InstallResult;

    const ACCOUNT: &str = "AC00000000000000000000000000000001";
    const EID_A: &str = "89049032000000000000000000000001";
    const EID_B: &str = "89049032000000000000000000000002";
    const PROFILE: &str = "HP00000000000000000000000000000001";

    fn created(eid: Option<&str>, matching_id: Option<&str>) -> EsimProfileCreated {
        EsimProfileCreated {
            esim_profile_sid: PROFILE.into(),
            account_sid: ACCOUNT.into(),
            iccid: "8988307000000123456".into(),
            eid: eid.map(str::to_owned),
            status: "available".into(),
            smdp_plus_address: SMDP_PLUS_ADDRESS.into(),
            matching_id: matching_id.map(str::to_owned),
            activation_code: format!("LPA:1${SMDP_PLUS_ADDRESS}${}", matching_id.unwrap_or("")),
            callback_url: None,
            callback_method: None,
        }
    }

    fn given(profile: EsimProfileCreated, more: &[Event]) -> EsimView {
        let mut view = EsimView::default();
        view.apply(&Event::EsimProfileCreated(profile));
        for e in more {
            view.apply(e);
        }
        view
    }

    fn download(view: &EsimView, claims: &HashMap<String, String>, eid: &str, matching_id: Option<&str>) -> Download {
        let req = DownloadRequest { eid: eid.into(), matching_id: matching_id.map(str::to_owned), at: Utc::now() };
        decide_download(view, &SubscriberView::default(), claims, &req)
    }

    fn refused(d: Download) -> String {
        match d {
            Download::Refuse(r) => r.subject_code,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    fn progressed(view: &EsimView, eid: &str, s: Step) -> Event {
        step(&view.profiles[PROFILE], eid, Utc::now(), &s)
    }

    #[test]
    fn given_an_available_profile_when_its_matching_id_is_presented_then_the_package_is_handed_over() {
        let view = given(created(None, Some("MATCH1")), &[]);
        let Download::Accept { entry, package } = download(&view, &HashMap::new(), EID_A, Some("MATCH1")) else {
            panic!("accepted")
        };
        assert_eq!(entry.profile.esim_profile_sid, PROFILE);
        assert_eq!(package.iccid, "8988307000000123456");
        assert_eq!(package.imsis, ["901700000123456"]);
    }

    #[test]
    fn given_a_wrong_matching_id_or_a_bad_eid_then_the_download_is_refused() {
        let view = given(created(None, Some("MATCH1")), &[]);
        assert_eq!(refused(download(&view, &HashMap::new(), EID_A, Some("MATCH2"))), "8.2.6");
        assert_eq!(refused(download(&view, &HashMap::new(), "1234", Some("MATCH1"))), "8.1.1");
        assert_eq!(refused(download(&view, &HashMap::new(), EID_A, None)), "8.1.1", "no profile for this EID");
    }

    #[test]
    fn given_a_profile_reserved_for_an_eid_then_only_that_eid_gets_it_even_with_the_code() {
        let view = given(created(Some(EID_A), Some("MATCH1")), &[]);
        assert_eq!(refused(download(&view, &HashMap::new(), EID_B, Some("MATCH1"))), "8.1.1");
        assert!(matches!(download(&view, &HashMap::new(), EID_A, Some("MATCH1")), Download::Accept { .. }));
        let bound_only = given(created(Some(EID_A), None), &[]);
        assert!(matches!(download(&bound_only, &HashMap::new(), EID_A, None), Download::Accept { .. }));
    }

    #[test]
    fn given_a_profile_downloaded_to_one_eid_then_another_is_refused_and_the_same_one_may_repeat() {
        let view = given(created(None, Some("MATCH1")), &[]);
        let claims = HashMap::from([(PROFILE.to_owned(), EID_A.to_owned())]);
        assert_eq!(refused(download(&view, &claims, EID_B, Some("MATCH1"))), "8.2", "claimed, not yet logged");
        assert!(matches!(download(&view, &claims, EID_A, Some("MATCH1")), Download::Accept { .. }));
        let logged = given(created(None, Some("MATCH1")), &[progressed(&view, EID_A, Step::Downloaded)]);
        assert_eq!(refused(download(&logged, &HashMap::new(), EID_B, Some("MATCH1"))), "8.2");
    }

    #[test]
    fn given_an_installed_or_failed_profile_then_no_one_downloads_it_again() {
        let view = given(created(None, Some("MATCH1")), &[]);
        for last in [Step::Installed, Step::Failed { code: "10".into(), message: "memory".into() }] {
            let done = given(created(None, Some("MATCH1")), &[progressed(&view, EID_A, last)]);
            assert_eq!(refused(download(&done, &HashMap::new(), EID_A, Some("MATCH1"))), "8.2");
        }
    }

    #[test]
    fn given_a_profile_whose_imsi_is_already_a_sims_then_it_fails_rather_than_take_the_imsi() {
        let view = given(created(None, Some("MATCH1")), &[]);
        let mut subscribers = SubscriberView::default();
        subscribers.apply(&Event::SimProvisioned(SimProvisioned {
            sim_sid: SimSid::numbered(9),
            iccid: "8988307000000999999".into(),
            registration_code_hash: "h".into(),
            imsis: vec!["901700000123456".into()],
        }));
        let req = DownloadRequest { eid: EID_A.into(), matching_id: Some("MATCH1".into()), at: Utc::now() };
        assert!(matches!(decide_download(&view, &subscribers, &HashMap::new(), &req), Download::Conflict { .. }));
    }

    #[test]
    fn given_a_downloaded_profile_then_only_its_eid_reports_the_installation() {
        let view = given(created(None, Some("MATCH1")), &[]);
        let view = given(created(None, Some("MATCH1")), &[progressed(&view, EID_A, Step::Downloaded)]);
        let note = |eid: &str, iccid: &str| InstallNotification {
            eid: eid.into(),
            iccid: iccid.into(),
            result: InstallResult::Installed,
            at: Utc::now(),
        };
        assert!(decide_notify(&view, &HashMap::new(), &note(EID_A, "8988307000000123456")).is_ok());
        let other = decide_notify(&view, &HashMap::new(), &note(EID_B, "8988307000000123456"));
        assert_eq!(other.unwrap_err().subject_code, "8.1.1");
        let unknown = decide_notify(&view, &HashMap::new(), &note(EID_A, "8988307000000000000"));
        assert_eq!(unknown.unwrap_err().subject_code, "8.2.1");
    }

    #[test]
    fn the_installed_step_names_the_sim_and_imsis_the_profile_becomes() {
        let view = given(created(None, Some("MATCH1")), &[]);
        let Event::EsimProfileInstalled(p) = progressed(&view, EID_A, Step::Installed) else { panic!("installed") };
        assert_eq!(p.sim_sid, Some(view.profiles[PROFILE].profile.sim_sid()));
        assert_eq!(p.imsis, ["901700000123456"]);
        assert_eq!(p.eid, EID_A);
    }
}
